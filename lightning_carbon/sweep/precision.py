"""The precision sweep: the same model, data and seed under each precision, repeated.

Example::

    from lightning_carbon.demo import SegmentationModule, demo_datamodule

    result = precision_sweep(lambda: SegmentationModule(filters=8), demo_datamodule,
                             repeats=2, output_dir="sweeps/precision")
    print(result.to_markdown())          # also in sweeps/precision/precision_sweep.{csv,json,md}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.checks import check_int
from lightning_carbon.sweep.results import PrecisionSweepResult, precision_rows
from lightning_carbon.sweep.runner import (
    WARMUP_LIMITS,
    Runner,
    check_precisions,
    resolve_accelerator,
)
from lightning_carbon.sweep.tables import precision_csv, write_tables

if TYPE_CHECKING:
    import pytorch_lightning as pl

DEFAULT_COOLDOWN_S = 10.0


def precision_sweep(
    model_factory: Callable[[], pl.LightningModule],
    datamodule_factory: Callable[[], pl.LightningDataModule],
    precisions: Sequence[str] | None = None,
    repeats: int = 2,
    max_epochs: int = 1,
    warmup: bool = True,
    cooldown_s: float = DEFAULT_COOLDOWN_S,
    seed: int = 0,
    accelerator: str = "auto",
    output_dir: str | Path = "sweeps/precision",
    callback_kwargs: Mapping[str, Any] | None = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PrecisionSweepResult:
    """Train the same model, data and seed under each precision; compare energy and quality.

    Each run builds a fresh model, datamodule and Trainer (one device) with a
    :class:`~lightning_carbon.CarbonCallback` (``callback_kwargs`` go to it), after seeding
    everything with ``seed``. Repeat 0 runs the precisions in the given order, repeat 1 in
    reverse, and so on (ABBA), so neither side always runs on a warmer device; ``cooldown_s``
    seconds pass between runs. With ``warmup`` each precision first runs once, briefly and
    unrecorded. ``precisions`` defaults to all :func:`supported_precisions`. ``progress``, if
    given, gets a line as each run starts and ends and before each cool-down. Savings compare
    medians; runs far off their precision's median are flagged, and so is a saving smaller
    than the spread of the repeats (see :class:`~lightning_carbon.sweep.PrecisionRow`).
    Writes ``precision_sweep.csv``, ``.json`` and ``.md`` and each run's ``carbon/`` records
    (under ``runs/``) into ``output_dir``.

    Example::

        result = precision_sweep(lambda: SegmentationModule(filters=8), demo_datamodule,
                                 repeats=2, callback_kwargs={"country": "DNK"})
        result.row("bf16-mixed").energy_saving    # e.g. 0.31: 31 % less energy than 32-true
    """
    device = resolve_accelerator(accelerator)
    chosen = check_precisions(precisions, device)
    check_int("repeats", repeats, 1)
    check_int("max_epochs", max_epochs, 1)
    check_int("seed", seed, 0)
    if (
        isinstance(cooldown_s, bool)
        or not isinstance(cooldown_s, (int, float))
        or not (0 <= cooldown_s < math.inf)
    ):
        raise ValueError(f"cooldown_s must be a finite number >= 0, got {cooldown_s!r}")
    runner = Runner(
        model_factory,
        datamodule_factory,
        device,
        seed,
        Path(output_dir),
        runs=len(chosen) * (repeats + (1 if warmup else 0)),
        cooldown_s=cooldown_s,
        callback_kwargs=callback_kwargs,
        trainer_kwargs=trainer_kwargs,
        progress=progress,
    )
    warmup_runs = [runner.run(p, None, "warmup", WARMUP_LIMITS) for p in chosen] if warmup else []
    runs = [
        runner.run(p, repeat, f"r{repeat}", {"max_epochs": max_epochs})
        for repeat in range(repeats)
        for p in (chosen if repeat % 2 == 0 else chosen[::-1])
    ]
    settings = {
        "precisions": list(chosen),
        "repeats": repeats,
        "max_epochs": max_epochs,
        "warmup": warmup,
        "cooldown_s": cooldown_s,
        "seed": seed,
    }
    result = PrecisionSweepResult(device, precision_rows(chosen, runs), runs, warmup_runs, settings)
    result.files.update(
        write_tables(
            Path(output_dir),
            "precision_sweep",
            precision_csv(result.rows),
            result.to_dict(),
            result.to_markdown(),
        )
    )
    return result

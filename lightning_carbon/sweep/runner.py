"""Running one metered fit at a time: seed, build, train under CarbonCallback, read its records.

Each run's figures come from the ``carbon/summary.json`` its callback wrote (the records are
the contract, not the callback's internals). Lightning and torch are imported on first use.

Example::

    runner = Runner(model_factory, datamodule_factory, "cpu", seed=0,
                    output_dir=Path("sweeps/x"), runs=2, cooldown_s=5.0, progress=print)
    first = runner.run("32-true", 0, "r0", {"max_epochs": 1})
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.sweep.results import METRIC, SweepRun

if TYPE_CHECKING:
    import pytorch_lightning as pl

CPU_PRECISIONS = ("32-true", "bf16-mixed")
CUDA_PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
"""``bf16-mixed`` only where ``torch.cuda.is_bf16_supported()``."""
WARMUP_LIMITS = {"max_epochs": 1, "limit_train_batches": 5, "limit_val_batches": 2}
"""A warm-up run is short: it only has to load kernels, fill caches and raise the clocks."""

_SWEEP_OWNS = ("accelerator", "devices", "precision", "max_epochs", "callbacks")
_QUIET_TRAINER = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


class Runner:
    """Seeds, builds, trains and meters one run at a time; sleeps ``cooldown_s`` in between.

    ``runs`` is how many runs the sweep will make (for the progress lines); ``progress``, if
    given, gets one line as each run starts, ends, and before each cool-down.
    """

    def __init__(
        self,
        model_factory: Callable[..., pl.LightningModule],
        datamodule_factory: Callable[[], pl.LightningDataModule],
        accelerator: str,
        seed: int,
        output_dir: Path,
        *,
        runs: int,
        cooldown_s: float = 0.0,
        callback_kwargs: Mapping[str, Any] | None = None,
        trainer_kwargs: Mapping[str, Any] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.callback_kwargs = dict(callback_kwargs or {})
        self.trainer_kwargs = dict(trainer_kwargs or {})
        if "output_dir" in self.callback_kwargs:
            raise ValueError("callback_kwargs must not set output_dir: the sweep sets it per run")
        owned = sorted(set(_SWEEP_OWNS) & set(self.trainer_kwargs))
        if owned:
            raise ValueError(f"trainer_kwargs must not set {owned}: the sweep sets them")
        self.model_factory, self.datamodule_factory = model_factory, datamodule_factory
        self.accelerator, self.seed, self.cooldown_s = accelerator, seed, cooldown_s
        self.progress = progress or (lambda line: None)
        self.runs_dir = output_dir / "runs"
        self.planned = runs
        self.last_parameters = 0
        self._count = 0

    def run(
        self,
        precision: str,
        repeat: int | None,
        tag: str,
        limits: Mapping[str, Any],
        *model_args: Any,
    ) -> SweepRun:
        """Train once under ``precision`` with ``limits`` (Trainer arguments); the run's record."""
        import pytorch_lightning as pl
        from pytorch_lightning.callbacks import LambdaCallback
        from pytorch_lightning.utilities.data import extract_batch_size

        from lightning_carbon import CarbonCallback

        if self._count and self.cooldown_s > 0:
            self.progress(
                f"cooling down {self.cooldown_s:g} s before run {self._count + 1}/{self.planned}"
            )
            time.sleep(self.cooldown_s)
        self._count += 1
        directory = self.runs_dir / f"{self._count:02d}-{precision}-{tag}"
        what = "warm-up" if repeat is None else f"repeat {repeat}"
        self.progress(f"run {self._count}/{self.planned}: {precision}, {what} ({directory.name})")
        pl.seed_everything(self.seed, workers=True, verbose=False)
        model = self.model_factory(*model_args)
        datamodule = self.datamodule_factory()
        self.last_parameters = sum(p.numel() for p in model.parameters())
        samples = [0]

        def count(trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            samples[0] += extract_batch_size(batch)

        trainer = pl.Trainer(
            **{
                **_QUIET_TRAINER,
                "default_root_dir": directory,
                **self.trainer_kwargs,
                **limits,
                "accelerator": self.accelerator,
                "devices": 1,
                "precision": precision,
                "callbacks": [
                    CarbonCallback(output_dir=directory, **self.callback_kwargs),
                    LambdaCallback(on_train_batch_end=count),
                ],
            }
        )
        trainer.fit(model, datamodule=datamodule)
        dice = trainer.callback_metrics.get(METRIC)
        run = _from_records(
            directory, precision, repeat, samples[0], None if dice is None else float(dice)
        )
        self.progress(
            f"run {self._count}/{self.planned} done: {run.energy_kWh * 1000:.3g} Wh, "
            f"{run.gco2e:.3g} gCO2e, {run.time_s:.3g} s, {METRIC} "
            f"{'-' if run.val_dice is None else format(run.val_dice, '.3f')}"
        )
        return run


def _from_records(
    directory: Path, precision: str, repeat: int | None, samples: int, dice: float | None
) -> SweepRun:
    """The run as its ``carbon/summary.json`` tells it (training only, not inference)."""
    path = directory / "carbon" / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RuntimeError(
            f"the {precision} run in {directory} left no readable summary ({error}); "
            "see the lightning-carbon warnings above"
        ) from None
    training = summary.get("training") or summary
    if not summary.get("epochs"):
        raise RuntimeError(
            f"the {precision} run in {directory} metered no training epoch "
            "(see the lightning-carbon warnings above)"
        )
    return SweepRun(
        precision=precision,
        repeat=-1 if repeat is None else repeat,
        energy_kWh=float(training["energy_kWh"]),
        gco2e=float(training["gco2e"]),
        time_s=float(training.get("duration_s", summary["duration_s"])),
        samples=samples,
        val_dice=dice,
        provenance=summary.get("provenance"),
        directory=str(directory),
        intensity=summary.get("intensity") or {},
    )


def supported_precisions(accelerator: str = "auto") -> tuple[str, ...]:
    """The precisions a sweep can run on ``accelerator`` (``auto``, ``cpu``, ``cuda``/``gpu``).

    Example::

        >>> supported_precisions("cpu")
        ('32-true', 'bf16-mixed')
    """
    import torch

    if resolve_accelerator(accelerator) == "cpu":
        return CPU_PRECISIONS
    return CUDA_PRECISIONS if torch.cuda.is_bf16_supported() else CUDA_PRECISIONS[:2]


def resolve_accelerator(accelerator: str) -> str:
    """``cpu`` or ``cuda`` for ``auto``, ``cpu``, ``cuda`` or ``gpu``; ``ValueError`` else."""
    import torch

    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            raise ValueError(f"accelerator {accelerator!r} asked for, but torch sees no CUDA GPU")
        return "cuda"
    if accelerator == "cpu":
        return "cpu"
    raise ValueError(f"accelerator must be 'auto', 'cpu', 'cuda' or 'gpu', got {accelerator!r}")


def check_precisions(precisions: Sequence[str] | None, accelerator: str) -> tuple[str, ...]:
    """The precisions to sweep (all supported by default); ``ValueError`` names a bad one."""
    supported = supported_precisions(accelerator)
    if precisions is None:
        return supported
    chosen = tuple(precisions)
    if not chosen:
        raise ValueError(f"precisions is empty; {accelerator} can run {', '.join(supported)}")
    for precision in chosen:
        if precision not in supported:
            raise ValueError(
                f"precision {precision!r} cannot be swept on {accelerator}; "
                f"it can run {', '.join(supported)}"
            )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"precisions has repeats: {list(chosen)!r}")
    return chosen


def require(module: str, extra: str) -> None:
    """``ModuleNotFoundError`` naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(
            f"this needs {module}: pip install 'lightning-carbon[{extra}]'", name=module
        )

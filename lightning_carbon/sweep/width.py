"""The width sweep: the demo U-Net at several widths F, its Pareto front and a pick.

Example::

    result = width_sweep((4, 8, 16), output_dir="sweeps/width")
    print(result.pick.filters)           # sweeps/width/width_sweep.png: Dice against gCO2e
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.checks import check_int
from lightning_carbon.selection import check_selection, pareto_front, select_model
from lightning_carbon.sweep.results import (
    BASELINE,
    METRIC,
    WidthRow,
    WidthSweepResult,
    common_intensity,
)
from lightning_carbon.sweep.runner import (
    WARMUP_LIMITS,
    Runner,
    check_precisions,
    require,
    resolve_accelerator,
)
from lightning_carbon.sweep.tables import write_tables

if TYPE_CHECKING:
    import pytorch_lightning as pl


def width_sweep(
    filters: Sequence[int] = (4, 8, 16),
    *,
    model_factory: Callable[[int], pl.LightningModule] | None = None,
    datamodule_factory: Callable[[], pl.LightningDataModule] | None = None,
    precision: str = BASELINE,
    max_epochs: int = 1,
    warmup: bool = True,
    seed: int = 0,
    accelerator: str = "auto",
    tolerance: float = 0.01,
    budget_gco2e: float | None = None,
    output_dir: str | Path = "sweeps/width",
    plot: bool = True,
    callback_kwargs: Mapping[str, Any] | None = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> WidthSweepResult:
    """Train the demo U-Net at each width F; tabulate Dice and gCO2e; pick one.

    ``model_factory(F)`` defaults to the demo ``SegmentationModule(filters=F)`` and
    ``datamodule_factory()`` to ``demo_datamodule()``. Every width gets the same seed and data.
    With ``warmup`` the first width first runs once, briefly and unrecorded. The pick is
    :func:`~lightning_carbon.selection.select_model` with ``tolerance`` and ``budget_gco2e``.
    ``progress``, if given, gets a line as each run starts and ends. Writes
    ``width_sweep.csv``, ``.json``, ``.md`` and (``plot``) ``width_sweep.png`` into ``output_dir``.

    Example::

        result = width_sweep((4, 8, 16), callback_kwargs={"country": "DNK"})
        print(result.to_markdown())           # table, Pareto front, the pick and why
    """
    widths = _check_widths(filters)
    device = resolve_accelerator(accelerator)
    (precision,) = check_precisions([precision], device)
    check_int("max_epochs", max_epochs, 1)
    check_int("seed", seed, 0)
    check_selection(tolerance, budget_gco2e)
    if plot:
        require("matplotlib", "plots")
    if model_factory is None or datamodule_factory is None:
        require("monai", "demo")
        from lightning_carbon.demo import SegmentationModule, demo_datamodule

        model_factory = model_factory or (lambda width: SegmentationModule(filters=width))
        datamodule_factory = datamodule_factory or demo_datamodule
    runner = Runner(
        model_factory,
        datamodule_factory,
        device,
        seed,
        Path(output_dir),
        runs=len(widths) + (1 if warmup else 0),
        callback_kwargs=callback_kwargs,
        trainer_kwargs=trainer_kwargs,
        progress=progress,
    )
    if warmup:
        runner.run(precision, None, f"warmup-F{widths[0]}", WARMUP_LIMITS, widths[0])
    rows, runs = [], []
    for width in widths:
        run = runner.run(precision, 0, f"F{width}", {"max_epochs": max_epochs}, width)
        if run.val_dice is None:
            raise ValueError(f"the model of width F={width} logged no {METRIC!r} to compare by")
        runs.append(run)
        rows.append(
            WidthRow(
                width,
                runner.last_parameters,
                run.val_dice,
                run.energy_kWh,
                run.gco2e,
                run.time_s,
                run.samples_per_s,
            )
        )
    pick = select_model(rows, METRIC, tolerance, budget_gco2e)
    result = WidthSweepResult(
        rows,
        pareto_front(rows, METRIC),
        pick,
        tolerance,
        budget_gco2e,
        precision,
        intensity=common_intensity(runs),
    )
    table = [{**asdict(row), "pareto": row in result.front, "pick": row is pick} for row in rows]
    result.files.update(
        write_tables(Path(output_dir), "width_sweep", table, result.to_dict(), result.to_markdown())
    )
    if plot:
        result.files["png"] = result.plot(Path(output_dir) / "width_sweep.png")
    return result


def _check_widths(filters: Sequence[int]) -> list[int]:
    widths = list(filters)
    if not widths:
        raise ValueError("filters is empty: give at least one width F")
    for width in widths:
        check_int("each width F", width, 1)
    if len(set(widths)) != len(widths):
        raise ValueError(f"filters has repeated widths: {widths!r}")
    return widths

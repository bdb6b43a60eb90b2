"""Sweeps of one workload under CarbonCallback: numeric precision, and network width.

:func:`precision_sweep` trains the same model, data and seed under each precision the
accelerator can run, repeated with the order alternated, and tabulates energy, emissions, time,
throughput and Dice with their spread and the saving against ``32-true``.
:func:`width_sweep` trains the demo U-Net at several widths F and picks the cheapest one whose
Dice is within a tolerance of the best (:mod:`lightning_carbon.selection`).

Lightning, the demo workload and matplotlib are imported on first use, so importing this module
(the CLI does, to register ``sweep``) costs nothing.

Example::

    from lightning_carbon.demo import SegmentationModule, demo_datamodule
    from lightning_carbon.sweep import precision_sweep, width_sweep

    result = precision_sweep(lambda: SegmentationModule(filters=8), demo_datamodule,
                             repeats=2, output_dir="sweeps/precision")
    print(result.to_markdown())          # also in sweeps/precision/precision_sweep.{csv,json,md}
    widths = width_sweep((4, 8, 16), output_dir="sweeps/width")
    print(widths.pick.filters)           # sweeps/width/width_sweep.png: Dice against gCO2e
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.selection import check_selection, pareto_front, select_model

if TYPE_CHECKING:
    import pytorch_lightning as pl

BASELINE = "32-true"
"""The precision that savings are measured against."""
CPU_PRECISIONS = ("32-true", "bf16-mixed")
CUDA_PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
"""``bf16-mixed`` only where ``torch.cuda.is_bf16_supported()``."""
METRIC = "val_dice"
"""The quality metric read from ``trainer.callback_metrics`` after each run."""
DEFAULT_COOLDOWN_S = 10.0

_WARMUP_LIMITS = {"max_epochs": 1, "limit_train_batches": 5, "limit_val_batches": 2}
"""A warm-up run is short: it only has to load kernels, fill caches and raise the clocks."""
_SWEEP_OWNS = ("accelerator", "devices", "precision", "max_epochs", "callbacks")
_QUIET_TRAINER = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


# -- what one run measured -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepRun:
    """One metered training run: energy in kWh, emissions in gCO2e, metered time in s.

    ``samples`` counts training samples; ``val_dice`` is ``None`` when the model logs none.
    ``provenance`` is the weakest of the energy's sources (``estimated`` on a CPU-only box).
    """

    precision: str
    repeat: int
    energy_kWh: float
    gco2e: float
    time_s: float
    samples: int
    val_dice: float | None
    provenance: str | None
    directory: str

    @property
    def samples_per_s(self) -> float:
        """Training samples per second of metered fit time (validation included)."""
        return self.samples / self.time_s if self.time_s > 0 else 0.0


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (``None`` for one value), minimum and maximum.

    Example::

        >>> Spread.of([1.0, 2.0, 3.0])
        Spread(mean=2.0, std=1.0, min=1.0, max=3.0)
    """

    mean: float
    std: float | None
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, min(values), max(values))


# -- precision sweep -----------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionRow:
    """One precision over its repeats. A saving is ``1 - mean / mean of 32-true`` (of energy,
    of gCO2e): 0.3 means 30 % less, negative means more; ``None`` for the baseline itself or
    when ``32-true`` was not swept."""

    precision: str
    runs: int
    energy_kWh: Spread
    gco2e: Spread
    time_s: Spread
    samples_per_s: Spread
    val_dice: Spread | None
    energy_saving: float | None
    gco2e_saving: float | None


@dataclass(frozen=True)
class PrecisionSweepResult:
    """What :func:`precision_sweep` found, and where it wrote it (``files``: csv, json, md)."""

    accelerator: str
    rows: list[PrecisionRow]
    runs: list[SweepRun]
    warmup_runs: list[SweepRun]
    settings: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def row(self, precision: str) -> PrecisionRow:
        """The row of one precision."""
        for row in self.rows:
            if row.precision == precision:
                return row
        raise KeyError(f"{precision!r} was not swept; swept: {[r.precision for r in self.rows]}")

    @property
    def sweep_gco2e(self) -> float:
        """Everything the sweep emitted, warm-up runs included, gCO2e."""
        return sum(run.gco2e for run in self.runs + self.warmup_runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "lightning-carbon/precision-sweep/1",
            "accelerator": self.accelerator,
            "baseline": BASELINE,
            "settings": self.settings,
            "provenance": _weakest(self.runs),
            "sweep_gco2e": self.sweep_gco2e,
            "rows": [asdict(row) for row in self.rows],
            "runs": [_run_dict(run) for run in self.runs],
            "warmup_runs": [_run_dict(run) for run in self.warmup_runs],
        }

    def to_markdown(self) -> str:
        """The table, mean ± standard deviation over the repeats, and what it rests on."""
        table = _markdown_table(
            [
                "Precision",
                "Runs",
                "Energy (Wh)",
                "gCO2e",
                "Time (s)",
                "Samples/s",
                "Dice",
                f"Energy saving vs {BASELINE}",
                f"gCO2e saving vs {BASELINE}",
            ],
            [
                [
                    row.precision,
                    row.runs,
                    _pm(row.energy_kWh, 1000.0),
                    _pm(row.gco2e),
                    _pm(row.time_s),
                    _pm(row.samples_per_s),
                    _pm(row.val_dice, spec=".3f"),
                    _saving(row, row.energy_saving),
                    _saving(row, row.gco2e_saving),
                ]
                for row in self.rows
            ],
        )
        repeats = self.settings["repeats"]
        how = (
            f"Mean ± standard deviation over {repeats} repeats, order alternated between them"
            if repeats > 1
            else "One run per precision"
        )
        warmup = "after a warm-up run per precision" if self.warmup_runs else "no warm-up"
        return (
            f"{table}\n\n{how}, on {self.accelerator}, {warmup}; energy "
            f"{_weakest(self.runs)}. The whole sweep emitted {self.sweep_gco2e:.3g} gCO2e."
        )


def supported_precisions(accelerator: str = "auto") -> tuple[str, ...]:
    """The precisions a sweep can run on ``accelerator`` (``auto``, ``cpu``, ``cuda``/``gpu``).

    Example::

        >>> supported_precisions("cpu")
        ('32-true', 'bf16-mixed')
    """
    import torch

    if _resolve_accelerator(accelerator) == "cpu":
        return CPU_PRECISIONS
    return CUDA_PRECISIONS if torch.cuda.is_bf16_supported() else CUDA_PRECISIONS[:2]


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
    given, is called with one line per finished run. Writes ``precision_sweep.csv``, ``.json``
    and ``.md`` and each run's ``carbon/`` records (under ``runs/``) into ``output_dir``.

    Example::

        result = precision_sweep(lambda: SegmentationModule(filters=8), demo_datamodule,
                                 repeats=2, callback_kwargs={"country": "DNK"})
        result.row("bf16-mixed").energy_saving    # e.g. 0.31: 31 % less energy than 32-true
    """
    device = _resolve_accelerator(accelerator)
    chosen = _check_precisions(precisions, device)
    _check_int("repeats", repeats, 1)
    _check_int("max_epochs", max_epochs, 1)
    _check_int("seed", seed, 0)
    if (
        isinstance(cooldown_s, bool)
        or not isinstance(cooldown_s, (int, float))
        or not (0 <= cooldown_s < math.inf)
    ):
        raise ValueError(f"cooldown_s must be a finite number >= 0, got {cooldown_s!r}")
    runner = _Runner(
        model_factory,
        datamodule_factory,
        device,
        seed,
        Path(output_dir),
        callback_kwargs,
        trainer_kwargs,
        cooldown_s,
        progress,
    )
    warmup_runs = [runner.run(p, None, "warmup", _WARMUP_LIMITS) for p in chosen] if warmup else []
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
    result = PrecisionSweepResult(
        device, _precision_rows(chosen, runs), runs, warmup_runs, settings
    )
    result.files.update(
        _write_tables(
            Path(output_dir),
            "precision_sweep",
            _precision_csv(result.rows),
            result.to_dict(),
            result.to_markdown(),
        )
    )
    return result


def _precision_rows(precisions: Sequence[str], runs: Sequence[SweepRun]) -> list[PrecisionRow]:
    rows = [_precision_row(p, [run for run in runs if run.precision == p]) for p in precisions]
    base = next((row for row in rows if row.precision == BASELINE), None)
    return [
        row
        if base is None or row is base
        else replace(
            row,
            energy_saving=_fraction_saved(row.energy_kWh.mean, base.energy_kWh.mean),
            gco2e_saving=_fraction_saved(row.gco2e.mean, base.gco2e.mean),
        )
        for row in rows
    ]


def _precision_row(precision: str, runs: Sequence[SweepRun]) -> PrecisionRow:
    dice = [run.val_dice for run in runs if run.val_dice is not None]
    return PrecisionRow(
        precision=precision,
        runs=len(runs),
        energy_kWh=Spread.of([run.energy_kWh for run in runs]),
        gco2e=Spread.of([run.gco2e for run in runs]),
        time_s=Spread.of([run.time_s for run in runs]),
        samples_per_s=Spread.of([run.samples_per_s for run in runs]),
        val_dice=Spread.of(dice) if len(dice) == len(runs) else None,
        energy_saving=None,
        gco2e_saving=None,
    )


def _fraction_saved(value: float, baseline: float) -> float | None:
    return 1.0 - value / baseline if baseline > 0 else None


def _precision_csv(rows: Sequence[PrecisionRow]) -> list[dict[str, Any]]:
    table = []
    for row in rows:
        line: dict[str, Any] = {"precision": row.precision, "runs": row.runs}
        for name in ("energy_kWh", "gco2e", "time_s", "samples_per_s", "val_dice"):
            spread = getattr(row, name)
            for stat in ("mean", "std", "min", "max"):
                line[f"{name}_{stat}"] = getattr(spread, stat) if spread else None
        line.update(energy_saving=row.energy_saving, gco2e_saving=row.gco2e_saving)
        table.append(line)
    return table


# -- width sweep ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WidthRow:
    """One width F of the U-Net: its parameters, Dice, energy (kWh), gCO2e and time (s)."""

    filters: int
    parameters: int
    val_dice: float
    energy_kWh: float
    gco2e: float
    time_s: float
    samples_per_s: float


@dataclass(frozen=True)
class WidthSweepResult:
    """The widths, their Pareto front (Dice against gCO2e) and the pick of
    :func:`~lightning_carbon.selection.select_model` with ``tolerance`` and ``budget_gco2e``."""

    rows: list[WidthRow]
    front: list[WidthRow]
    pick: WidthRow
    tolerance: float
    budget_gco2e: float | None
    precision: str
    files: dict[str, Path] = field(default_factory=dict)

    def pick_sentence(self) -> str:
        """Why the pick was picked, in one sentence."""
        best = max(self.rows, key=lambda row: row.val_dice)
        budget = (
            f", within the budget of {self.budget_gco2e:.3g} gCO2e" if self.budget_gco2e else ""
        )
        return (
            f"Pick: F={self.pick.filters} (Dice {self.pick.val_dice:.3f}, "
            f"{self.pick.gco2e:.3g} gCO2e), the cheapest within {self.tolerance:g} Dice of the "
            f"best{budget}; the best overall is F={best.filters} (Dice {best.val_dice:.3f}, "
            f"{best.gco2e:.3g} gCO2e)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "lightning-carbon/width-sweep/1",
            "metric": METRIC,
            "precision": self.precision,
            "tolerance": self.tolerance,
            "budget_gco2e": self.budget_gco2e,
            "rows": [asdict(row) for row in self.rows],
            "pareto_front": [row.filters for row in self.front],
            "pick": self.pick.filters,
        }

    def to_markdown(self) -> str:
        table = _markdown_table(
            ["F", "Parameters", "Dice", "Energy (Wh)", "gCO2e", "Time (s)", "Pareto", "Pick"],
            [
                [
                    row.filters,
                    row.parameters,
                    _number(row.val_dice, ".3f"),
                    _number(row.energy_kWh * 1000.0),
                    _number(row.gco2e),
                    _number(row.time_s),
                    "yes" if row in self.front else "",
                    "yes" if row is self.pick else "",
                ]
                for row in self.rows
            ],
        )
        front = ", ".join(f"F={row.filters}" for row in self.front)
        return f"{table}\n\nPareto front (cheapest first): {front}.\n{self.pick_sentence()}"

    def plot(self, path: str | Path) -> Path:
        """A PNG of Dice against gCO2e: every width, the front joined, the pick ringed."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7.0, 4.5), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.scatter(
            [r.gco2e for r in self.rows],
            [r.val_dice for r in self.rows],
            color="#8c8c8c",
            label="U-Net of width F",
            zorder=2,
        )
        axes.plot(
            [r.gco2e for r in self.front],
            [r.val_dice for r in self.front],
            "-o",
            color="#4c72b0",
            label="Pareto front",
            zorder=3,
        )
        axes.scatter(
            [self.pick.gco2e],
            [self.pick.val_dice],
            s=220,
            facecolors="none",
            edgecolors="#c44e52",
            linewidths=2,
            zorder=4,
            label=f"pick: F={self.pick.filters} (within {self.tolerance:g} Dice)",
        )
        for row in self.rows:
            text = f"F={row.filters}" + (" (pick)" if row is self.pick else "")
            axes.annotate(
                text,
                (row.gco2e, row.val_dice),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize="small",
            )
        axes.margins(x=0.15, y=0.1)  # room for the labels
        axes.set_xlabel("emissions of training (gCO2e)")
        axes.set_ylabel("validation Dice")
        axes.set_title(f"Dice against carbon, {self.precision}")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize="small")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, format="png")
        return target


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
    ``progress``, if given, is called with one line per finished run. Writes
    ``width_sweep.csv``, ``.json``, ``.md`` and (``plot``) ``width_sweep.png`` into ``output_dir``.

    Example::

        result = width_sweep((4, 8, 16), callback_kwargs={"country": "DNK"})
        print(result.to_markdown())           # table, Pareto front, the pick and why
    """
    widths = _check_widths(filters)
    device = _resolve_accelerator(accelerator)
    (precision,) = _check_precisions([precision], device)
    _check_int("max_epochs", max_epochs, 1)
    _check_int("seed", seed, 0)
    check_selection(tolerance, budget_gco2e)
    if plot:
        _require("matplotlib", "plots")
    if model_factory is None or datamodule_factory is None:
        _require("monai", "demo")
        from lightning_carbon.demo import SegmentationModule, demo_datamodule

        model_factory = model_factory or (lambda width: SegmentationModule(filters=width))
        datamodule_factory = datamodule_factory or demo_datamodule
    runner = _Runner(
        model_factory,
        datamodule_factory,
        device,
        seed,
        Path(output_dir),
        callback_kwargs,
        trainer_kwargs,
        0.0,
        progress,
    )
    if warmup:
        runner.run(precision, None, f"warmup-F{widths[0]}", _WARMUP_LIMITS, widths[0])
    rows = []
    for width in widths:
        run = runner.run(precision, 0, f"F{width}", {"max_epochs": max_epochs}, width)
        if run.val_dice is None:
            raise ValueError(f"the model of width F={width} logged no {METRIC!r} to compare by")
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
        rows, pareto_front(rows, METRIC), pick, tolerance, budget_gco2e, precision
    )
    table = [{**asdict(row), "pareto": row in result.front, "pick": row is pick} for row in rows]
    result.files.update(
        _write_tables(
            Path(output_dir), "width_sweep", table, result.to_dict(), result.to_markdown()
        )
    )
    if plot:
        result.files["png"] = result.plot(Path(output_dir) / "width_sweep.png")
    return result


def _check_widths(filters: Sequence[int]) -> list[int]:
    widths = list(filters)
    if not widths:
        raise ValueError("filters is empty: give at least one width F")
    for width in widths:
        _check_int("each width F", width, 1)
    if len(set(widths)) != len(widths):
        raise ValueError(f"filters has repeated widths: {widths!r}")
    return widths


# -- running one metered fit ---------------------------------------------------------------


class _Runner:
    """Seeds, builds, trains and meters one run at a time; sleeps ``cooldown_s`` in between."""

    def __init__(
        self,
        model_factory: Callable[..., pl.LightningModule],
        datamodule_factory: Callable[[], pl.LightningDataModule],
        accelerator: str,
        seed: int,
        output_dir: Path,
        callback_kwargs: Mapping[str, Any] | None,
        trainer_kwargs: Mapping[str, Any] | None,
        cooldown_s: float,
        progress: Callable[[str], None] | None,
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
        self.progress = progress
        self.runs_dir = output_dir / "runs"
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
        import pytorch_lightning as pl
        from pytorch_lightning.callbacks import LambdaCallback
        from pytorch_lightning.utilities.data import extract_batch_size

        from lightning_carbon import CarbonCallback

        if self._count and self.cooldown_s > 0:
            time.sleep(self.cooldown_s)
        self._count += 1
        directory = self.runs_dir / f"{self._count:02d}-{precision}-{tag}"
        pl.seed_everything(self.seed, workers=True, verbose=False)
        model = self.model_factory(*model_args)
        datamodule = self.datamodule_factory()
        self.last_parameters = sum(p.numel() for p in model.parameters())
        samples = [0]

        def count(trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            samples[0] += extract_batch_size(batch)

        meter = CarbonCallback(output_dir=directory, **self.callback_kwargs)
        trainer = pl.Trainer(
            **{
                **_QUIET_TRAINER,
                "default_root_dir": directory,
                **self.trainer_kwargs,
                **limits,
                "accelerator": self.accelerator,
                "devices": 1,
                "precision": precision,
                "callbacks": [meter, LambdaCallback(on_train_batch_end=count)],
            }
        )
        trainer.fit(model, datamodule=datamodule)
        summary = meter.run.summary
        total = summary["training"] if summary else None
        if not total or not summary["epochs"]:
            raise RuntimeError(
                f"the {precision} run in {directory} metered no training epoch "
                "(see the lightning-carbon warnings above)"
            )
        dice = trainer.callback_metrics.get(METRIC)
        run = SweepRun(
            precision=precision,
            repeat=-1 if repeat is None else repeat,
            energy_kWh=total["energy_kWh"],
            gco2e=total["gco2e"],
            time_s=total["duration_s"],
            samples=samples[0],
            val_dice=None if dice is None else float(dice),
            provenance=summary["provenance"],
            directory=str(directory),
        )
        if self.progress is not None:
            self.progress(
                f"run {self._count} ({directory.name}): {run.energy_kWh * 1000:.3g} Wh, "
                f"{run.gco2e:.3g} gCO2e, {run.time_s:.3g} s, {METRIC} {_number(run.val_dice)}"
            )
        return run


def _resolve_accelerator(accelerator: str) -> str:
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


def _check_precisions(precisions: Sequence[str] | None, accelerator: str) -> tuple[str, ...]:
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


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(
            f"this needs {module}: pip install 'lightning-carbon[{extra}]'", name=module
        )


def _weakest(runs: Sequence[SweepRun]) -> str | None:
    from lightning_carbon.reading import least_direct

    return least_direct({run.provenance for run in runs if run.provenance})


def _run_dict(run: SweepRun) -> dict[str, Any]:
    return {**asdict(run), "samples_per_s": run.samples_per_s}


# -- tables and files ----------------------------------------------------------------------


def _number(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _pm(spread: Spread | None, scale: float = 1.0, spec: str = ".3g") -> str:
    if spread is None:
        return "-"
    mean = _number(spread.mean * scale, spec)
    return mean if spread.std is None else f"{mean} ± {_number(spread.std * scale, '.2g')}"


def _saving(row: PrecisionRow, saving: float | None) -> str:
    if row.precision == BASELINE:
        return "baseline"
    return "-" if saving is None else f"{saving:+.1%}".replace("%", " %")


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _write_tables(
    directory: Path,
    stem: str,
    table: Sequence[Mapping[str, Any]],
    document: Mapping[str, Any],
    markdown: str,
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{stem}.{kind}" for kind in ("csv", "json", "md")}
    with open(paths["csv"], "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    paths["json"].write_text(json.dumps(document, indent=2) + "\n")
    paths["md"].write_text(markdown + "\n")
    return paths


# -- command line --------------------------------------------------------------------------


def _demo_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    callback = {
        "country": args.country,
        "carbon_intensity": args.carbon_intensity,
        "pue": args.pue,
        "cpu_tdp_w": args.cpu_tdp_w,
    }
    return {
        "max_epochs": args.epochs,
        "seed": args.seed,
        "accelerator": args.accelerator,
        "output_dir": args.out,
        "progress": _progress,
        "callback_kwargs": {k: v for k, v in callback.items() if v is not None},
    }


def _demo_data(args: argparse.Namespace) -> Callable[[], pl.LightningDataModule]:
    _require("monai", "demo")
    from lightning_carbon.demo import demo_datamodule

    return lambda: demo_datamodule(
        n_images=args.images, size=args.size, batch_size=args.batch_size, seed=args.seed
    )


def _precision_command(args: argparse.Namespace) -> int:
    data = _demo_data(args)
    from lightning_carbon.demo import SegmentationModule

    with _lightning_quiet():
        result = precision_sweep(
            lambda: SegmentationModule(filters=args.filters),
            data,
            precisions=args.precisions,
            repeats=args.repeats,
            warmup=not args.no_warmup,
            cooldown_s=args.cooldown_s,
            **_demo_kwargs(args),
        )
    print(result.to_markdown())
    print(f"\nWritten: {', '.join(str(p) for p in result.files.values())}")
    return 0


def _width_command(args: argparse.Namespace) -> int:
    data = _demo_data(args)
    with _lightning_quiet():
        result = width_sweep(
            args.filters,
            datamodule_factory=data,
            precision=args.precision,
            warmup=not args.no_warmup,
            tolerance=args.tolerance,
            budget_gco2e=args.budget_gco2e,
            **_demo_kwargs(args),
        )
    print(result.to_markdown())
    print(f"\nWritten: {', '.join(str(p) for p in result.files.values())}")
    return 0


@contextlib.contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Lightning's and the callback's per-run info lines off; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _progress(line: str) -> None:
    print(f"lightning-carbon sweep: {line}", file=sys.stderr, flush=True)


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 4,8,16, got {text!r}") from None


def _str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_workload_options(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default: 1)")
    parser.add_argument(
        "--images", type=int, default=64, help="synthetic nuclei images (default: 64)"
    )
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size (default: 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default: 0)")
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up run")
    parser.add_argument("--country", default=None, help="where the machine runs (ISO code)")
    parser.add_argument(
        "--carbon-intensity",
        type=float,
        default=None,
        help="grid intensity in gCO2e/kWh (overrides --country)",
    )
    parser.add_argument("--pue", default=None, help="data-centre PUE, a number or a survey")
    parser.add_argument("--cpu-tdp-w", type=float, default=None, help="override the CPU TDP (W)")
    parser.add_argument("--out", default=out, help=f"output folder (default: {out})")


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep precision`` and ``sweep width`` (the demo workload)."""
    sweep = subparsers.add_parser("sweep", help="precision or width sweeps of the demo U-Net")
    sweep.set_defaults(func=lambda args: sweep.print_help() or 2)
    kinds = sweep.add_subparsers(dest="sweep", metavar="KIND")

    precision = kinds.add_parser(
        "precision", help="energy, gCO2e, time and Dice of each precision, with savings"
    )
    precision.add_argument("--filters", type=int, default=8, help="U-Net width F (default: 8)")
    precision.add_argument("--repeats", type=int, default=2, help="runs per precision (default: 2)")
    precision.add_argument(
        "--precisions",
        type=_str_list,
        default=None,
        help="comma-separated, e.g. 32-true,bf16-mixed (default: all)",
    )
    precision.add_argument(
        "--cooldown-s",
        type=float,
        default=DEFAULT_COOLDOWN_S,
        help=f"pause between runs in s (default: {DEFAULT_COOLDOWN_S:g})",
    )
    _add_workload_options(precision, "sweeps/precision")
    precision.set_defaults(func=_precision_command)

    width = kinds.add_parser(
        "width", help="Dice against gCO2e for U-Net widths F, the Pareto front and a pick"
    )
    width.add_argument(
        "--filters",
        type=_int_list,
        default=[4, 8, 16],
        help="comma-separated widths F (default: 4,8,16)",
    )
    width.add_argument("--precision", default=BASELINE, help=f"default: {BASELINE}")
    width.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="Dice below the best still acceptable (default: 0.01)",
    )
    width.add_argument(
        "--budget-gco2e",
        type=float,
        default=None,
        help="pick only widths whose training emitted at most this",
    )
    _add_workload_options(width, "sweeps/width")
    width.set_defaults(func=_width_command)

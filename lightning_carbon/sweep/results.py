"""What a sweep measured: one run, one precision over its repeats, one width, and the results.

Pure data and arithmetic: :func:`precision_rows` turns runs into rows (spread, median, saving
against ``32-true``, outliers, whether the spread swamps the difference), so it can be checked
on scripted runs without training anything.

Example::

    >>> runs = [SweepRun("32-true", r, e, e * 100, 1.0, 8, None, "estimated", f"r{r}")
    ...         for r, e in enumerate([2e-5, 2.1e-5])]
    >>> runs += [SweepRun("bf16-mixed", r, e, e * 100, 1.0, 8, None, "estimated", f"m{r}")
    ...          for r, e in enumerate([1e-5, 1.1e-5])]
    >>> row = precision_rows(["32-true", "bf16-mixed"], runs)[1]
    >>> round(row.energy_saving, 3), row.inconclusive, row.outliers
    (0.488, False, ())
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lightning_carbon.spread import Spread

BASELINE = "32-true"
"""The precision that savings are measured against."""
METRIC = "val_dice"
"""The quality metric read from ``trainer.callback_metrics`` after each run."""
OUTLIER_RATIO = 2.0
"""A run whose energy or time is more than this many times the median of the other runs of
its precision, or less than its inverse, is flagged as an outlier."""


@dataclass(frozen=True)
class SweepRun:
    """One metered training run: energy in kWh, emissions in gCO2e, metered time in s.

    ``samples`` counts training samples; ``val_dice`` is ``None`` when the model logs none.
    ``provenance`` is the weakest of the energy's sources (``estimated`` on a CPU-only box);
    ``intensity`` is the grid intensity the run's emissions used (the ``summary.json`` dict).
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
    intensity: dict[str, Any] = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        """Training samples per second of metered fit time (validation included)."""
        return self.samples / self.time_s if self.time_s > 0 else 0.0

    @property
    def name(self) -> str:
        """The run's folder name, e.g. ``03-bf16-mixed-r1``."""
        return Path(self.directory).name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the throughput."""
        return {**asdict(self), "samples_per_s": self.samples_per_s}


@dataclass(frozen=True)
class PrecisionRow:
    """One precision over its repeats.

    A saving is ``1 - median / median of 32-true`` (of energy, of gCO2e): 0.3 means 30 % less,
    negative means more (a cost); ``None`` for the baseline itself or when ``32-true`` was not
    swept. ``inconclusive`` is True where the spread of the two precisions' energies (their
    standard deviations combined) is larger than the difference of their medians, ``None``
    where it cannot be judged (the baseline, one run each). ``outliers`` names runs flagged
    by :data:`OUTLIER_RATIO`.
    """

    precision: str
    runs: int
    energy_kWh: Spread
    gco2e: Spread
    time_s: Spread
    samples_per_s: Spread
    val_dice: Spread | None
    energy_saving: float | None
    gco2e_saving: float | None
    inconclusive: bool | None = None
    outliers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrecisionSweepResult:
    """What :func:`~lightning_carbon.sweep.precision_sweep` found, and where it wrote it
    (``files``: csv, json, md)."""

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

    @property
    def intensity(self) -> dict[str, Any]:
        """The grid intensity the runs' emissions used (see :func:`common_intensity`)."""
        return common_intensity(self.runs)

    def to_dict(self) -> dict[str, Any]:
        """The ``precision_sweep.json`` content."""
        from lightning_carbon.reading import least_direct

        return {
            "schema": "lightning-carbon/precision-sweep/2",
            "accelerator": self.accelerator,
            "baseline": BASELINE,
            "settings": self.settings,
            "intensity": self.intensity,
            "provenance": least_direct({r.provenance for r in self.runs if r.provenance}),
            "sweep_gco2e": self.sweep_gco2e,
            "rows": [asdict(row) for row in self.rows],
            "runs": [run.to_dict() for run in self.runs],
            "warmup_runs": [run.to_dict() for run in self.warmup_runs],
        }

    def to_markdown(self) -> str:
        """The table (mean ± standard deviation and median over the repeats), its flags, and
        what it rests on."""
        from lightning_carbon.sweep.tables import precision_markdown

        return precision_markdown(self)


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
    intensity: dict[str, Any] = field(default_factory=dict)
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
        """The ``width_sweep.json`` content."""
        return {
            "schema": "lightning-carbon/width-sweep/2",
            "metric": METRIC,
            "precision": self.precision,
            "intensity": self.intensity,
            "tolerance": self.tolerance,
            "budget_gco2e": self.budget_gco2e,
            "rows": [asdict(row) for row in self.rows],
            "pareto_front": [row.filters for row in self.front],
            "pick": self.pick.filters,
        }

    def to_markdown(self) -> str:
        """The table, the Pareto front and the pick with its reason."""
        from lightning_carbon.sweep.tables import width_markdown

        return width_markdown(self)

    def plot(self, path: str | Path) -> Path:
        """A PNG of Dice against gCO2e (and energy): every width, the front, the pick ringed."""
        from lightning_carbon import plots

        label = {id(row): f"F={row.filters}" for row in self.rows}
        figure = plots.tradeoff_figure(
            [
                plots.TradeoffPoint(label[id(r)], r.gco2e, r.val_dice, r.energy_kWh)
                for r in self.rows
            ],
            METRIC,
            front=[label[id(r)] for r in self.front],
            pick=label[id(self.pick)],
            title=f"Dice against carbon, {self.precision}",
        )
        (png,) = plots.save(figure, Path(path).with_suffix(""), ("png",))
        return png


def precision_rows(precisions: Sequence[str], runs: Sequence[SweepRun]) -> list[PrecisionRow]:
    """One row per precision (in the order given) from its runs, with savings, flags."""
    rows = [_precision_row(p, [run for run in runs if run.precision == p]) for p in precisions]
    base = next((row for row in rows if row.precision == BASELINE), None)
    if base is None:
        return rows
    return [
        row
        if row is base
        else replace(
            row,
            energy_saving=_fraction_saved(row.energy_kWh.median, base.energy_kWh.median),
            gco2e_saving=_fraction_saved(row.gco2e.median, base.gco2e.median),
            inconclusive=_inconclusive(row.energy_kWh, base.energy_kWh),
        )
        for row in rows
    ]


def outliers(runs: Sequence[SweepRun]) -> tuple[str, ...]:
    """Runs (of one precision) whose energy or time is off by more than :data:`OUTLIER_RATIO`,
    in words with their figures: each run off the median of all, with three runs or more; with
    two, the pair when they differ that much (which one is off cannot be told).

    Example::

        >>> runs = [SweepRun("bf16-mixed", r, 1.0, 1.0, t, 8, None, None, f"run{r}")
        ...         for r, t in enumerate([10.3, 0.7, 0.8])]
        >>> outliers(runs)
        ("run0: time 10.3 s is 12.9x the median (0.8 s) of the precision's 3 runs",)
    """
    if len(runs) == 2:
        first, second = runs
        differ = []
        for what, unit, value_of in _MEASURES:
            a, b = value_of(first), value_of(second)
            ratio = _ratio(max(a, b), min(a, b))
            if ratio > OUTLIER_RATIO:
                differ.append(f"{ratio:.3g}x in {what} ({a:.3g} and {b:.3g} {unit})")
        if not differ:
            return ()
        return (
            f"{first.name} and {second.name} differ {' and '.join(differ)}: one of them is "
            "off, and more repeats would tell which",
        )
    if len(runs) < 2:
        return ()
    medians = {what: statistics.median(map(value_of, runs)) for what, _, value_of in _MEASURES}
    flagged = []
    for run in runs:
        off = []
        for what, unit, value_of in _MEASURES:
            value, median = value_of(run), medians[what]
            ratio = _ratio(value, median)
            if not 1 / OUTLIER_RATIO <= ratio <= OUTLIER_RATIO:
                off.append(
                    f"{what} {value:.3g} {unit} is {ratio:.3g}x the median ({median:.3g} {unit})"
                )
        if off:
            flagged.append(f"{run.name}: {', '.join(off)} of the precision's {len(runs)} runs")
    return tuple(flagged)


_MEASURES: tuple[tuple[str, str, Callable[[SweepRun], float]], ...] = (
    ("energy", "Wh", lambda run: run.energy_kWh * 1000),
    ("time", "s", lambda run: run.time_s),
)
"""What an outlier is judged by: name, unit, and the run's value in that unit."""


def _ratio(value: float, reference: float) -> float:
    if reference > 0:
        return value / reference
    return 1.0 if value == reference else math.inf


def common_intensity(runs: Sequence[SweepRun]) -> dict[str, Any]:
    """The intensity every run used; where they differ (a live grid), the effective one:
    gCO2e over kWh of all the runs (PUE included)."""
    grids = {(r.intensity.get("code"), r.intensity.get("gco2_per_kWh")) for r in runs}
    if len(grids) == 1 and runs[0].intensity:
        return dict(runs[0].intensity)
    energy_kWh = sum(r.energy_kWh for r in runs)
    return {
        "gco2_per_kWh": sum(r.gco2e for r in runs) / energy_kWh if energy_kWh > 0 else 0.0,
        "region": "several grid intensities (live data)",
        "source": "effective: the runs' gCO2e over their metered kWh, PUE included",
    }


def _precision_row(precision: str, runs: Sequence[SweepRun]) -> PrecisionRow:
    dice = [run.val_dice for run in runs if run.val_dice is not None]
    return PrecisionRow(
        precision=precision,
        runs=len(runs),
        energy_kWh=Spread.of([run.energy_kWh for run in runs]),
        gco2e=Spread.of([run.gco2e for run in runs]),
        time_s=Spread.of([run.time_s for run in runs]),
        samples_per_s=Spread.of([run.samples_per_s for run in runs]),
        val_dice=Spread.of(dice) if dice and len(dice) == len(runs) else None,
        energy_saving=None,
        gco2e_saving=None,
        outliers=outliers(runs),
    )


def _inconclusive(row: Spread, base: Spread) -> bool | None:
    if row.std is None or base.std is None:
        return None
    return math.hypot(row.std, base.std) > abs(row.median - base.median)


def _fraction_saved(value: float, baseline: float) -> float | None:
    return 1.0 - value / baseline if baseline > 0 else None

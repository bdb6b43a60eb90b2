"""The study's Table 3 from your own runs: per training fold, mean +- std over the folds.

Selvan et al. (MICCAI 2022) trained nnU-Net in 5-fold cross-validation and told the cost of
one fold as km by car, mean +- std over the folds, per region. This module does the same with
any runs' ``summary.json`` files (nnU-Net folds, Lightning or MONAI runs alike):

- runs are grouped by configuration: an nnU-Net fold's ``run_name``
  (``Dataset001_X/nnUNetTrainer__nnUNetPlans__2d/fold_0``) without its ``fold_N``; any other run
  is a group of its own;
- a fold's figure is its **measured** training (the fit, set-up to teardown), or, when the run
  stopped before its configured length (``--forecast-after-epochs``), its **forecast** for the
  full run, and the table says which;
- each region prices the fold's IT energy x PUE at that grid's yearly intensity; "as run" is
  the fold's own gCO2e (live intensity included), as in the study's real-time column;
- std is the sample standard deviation (n - 1) over the folds; a group of one run has none.

Example::

    >>> def fold(name, kWh):
    ...     return {"run_name": name, "precision": "32-true", "pue": {"value": 1.0},
    ...             "training": {"energy_kWh": kWh, "gco2e": kWh * 100.0, "epochs": {"count": 2}},
    ...             "forecast": None}
    >>> rows = study_table([fold("D/T__P__2d/fold_0", 1.0), fold("D/T__P__2d/fold_1", 3.0)],
    ...                    regions=["WORLD"])
    >>> row = rows[0]
    >>> row.group, row.folds, row.energy_kWh.mean, row.energy_kWh.std, row.as_run_gco2e.mean
    ('D/T__P__2d', 2, 2.0, 1.4142135623730951, 200.0)
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightning_carbon.footprint import car_km
from lightning_carbon.records import RunRecords
from lightning_carbon.regions import what_if
from lightning_carbon.units import format_amount, format_energy

DEFAULT_REGIONS = ("DNK", "EST", "EU27", "WORLD")
"""The study's regions with a yearly average (its real-time Danish column is "as run")."""

_FOLD = re.compile(r"/fold_[^/]+$")
MEASURED, FORECAST = "measured", "forecast"


@dataclass(frozen=True)
class MeanStd:
    """A mean over ``n`` runs and its sample standard deviation (``None`` for one run)."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanStd:
        """Example::

        >>> MeanStd.of([1.0, 2.0, 3.0])
        MeanStd(mean=2.0, std=1.0, n=3)
        """
        if not values:
            raise ValueError("a mean needs at least one value, got none")
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, len(values))

    def text(self) -> str:
        """``mean +- std`` with three significant digits (the mean alone for one run)."""
        if self.std is None:
            return format_amount(self.mean)
        return f"{format_amount(self.mean)} +- {format_amount(self.std)}"


@dataclass(frozen=True)
class FoldFigures:
    """One run's training, as the table counts it."""

    group: str
    source: str
    basis: str
    epochs: int
    forecast_epochs: int | None
    energy_kWh: float
    pue: float
    gco2e_as_run: float
    precision: str
    intensity: dict[str, Any] | None


@dataclass(frozen=True)
class RegionFigures:
    """A group's gCO2e and km by car per fold in one region."""

    region: str
    gco2_per_kWh: float
    source: str
    year: int | None
    gco2e: MeanStd
    km: MeanStd


@dataclass(frozen=True)
class StudyRow:
    """One configuration: its folds' energy, emissions and km by car, mean +- std."""

    group: str
    folds: int
    basis: str
    precision: str
    energy_kWh: MeanStd
    as_run_gco2e: MeanStd
    as_run_km: MeanStd
    regions: tuple[RegionFigures, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``summary.json``, given the file, its ``carbon/`` folder or the run's folder."""
    given = Path(path)
    for candidate in (given, given / "summary.json", RunRecords(given).summary_path):
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no summary.json at or under {str(path)!r}")


def group_of(summary: dict[str, Any], source: str = "") -> str:
    """The configuration a run belongs to: its name (or folder) without a trailing ``fold_N``.

    Example::

        >>> group_of({"run_name": "Dataset001_X/nnUNetTrainer__nnUNetPlans__2d/fold_3"})
        'Dataset001_X/nnUNetTrainer__nnUNetPlans__2d'
        >>> group_of({"run_name": "lightning_logs/version_0"})
        'lightning_logs/version_0'
    """
    name = summary.get("run_name") or Path(source).as_posix()
    return _FOLD.sub("", name) or name


def fold_figures(summary: dict[str, Any], source: str = "") -> FoldFigures:
    """What one run counts for in the table: its measured fit, or its forecast full run."""
    training = summary.get("training")
    if not isinstance(training, dict):
        raise ValueError(f"run {source or summary.get('run_name')!r} has no training to count")
    pue = float((summary.get("pue") or {}).get("value", 1.0))
    epochs = int((training.get("epochs") or {}).get("count", summary.get("epochs", 0)))
    forecast = summary.get("forecast") or {}
    short = forecast.get("run_batches") is not None and forecast.get(
        "run_batches", 0
    ) < forecast.get("total_batches", 0)
    if short:
        batches_per_epoch = forecast["run_batches"] / epochs if epochs else 0
        forecast_epochs = (
            round(forecast["total_batches"] / batches_per_epoch) if batches_per_epoch else None
        )
        energy_kWh, gco2e = float(forecast["energy_kWh"]), float(forecast["gco2e"])
    else:
        forecast_epochs = None
        energy_kWh, gco2e = float(training["energy_kWh"]), float(training["gco2e"])
    return FoldFigures(
        group=group_of(summary, source),
        source=source,
        basis=FORECAST if short else MEASURED,
        epochs=epochs,
        forecast_epochs=forecast_epochs,
        energy_kWh=energy_kWh,
        pue=pue,
        gco2e_as_run=gco2e,
        precision=str(summary.get("precision", "unknown")),
        intensity=summary.get("intensity"),
    )


def study_table(
    summaries: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]],
    regions: Sequence[str] = DEFAULT_REGIONS,
) -> list[StudyRow]:
    """One row per configuration, in the order first seen; ``summaries`` are summary dicts
    or ``(source, summary)`` pairs."""
    groups: dict[str, list[FoldFigures]] = {}
    for item in summaries:
        source, summary = item if isinstance(item, tuple) else ("", item)
        figures = fold_figures(summary, source)
        groups.setdefault(figures.group, []).append(figures)
    return [_row(group, folds, regions) for group, folds in groups.items()]


def _row(group: str, folds: list[FoldFigures], regions: Sequence[str]) -> StudyRow:
    per_region: list[RegionFigures] = []
    for name in regions:
        emissions = [what_if(f.energy_kWh, f.pue, [name])[0] for f in folds]
        intensity = emissions[0].intensity
        gco2e = [e.gco2e for e in emissions]
        per_region.append(
            RegionFigures(
                region=name,
                gco2_per_kWh=intensity.gco2_per_kWh,
                source=intensity.source,
                year=intensity.year,
                gco2e=MeanStd.of(gco2e),
                km=MeanStd.of([car_km(g).value for g in gco2e]),
            )
        )
    as_run = [f.gco2e_as_run for f in folds]
    return StudyRow(
        group=group,
        folds=len(folds),
        basis=_basis(folds),
        precision=", ".join(sorted({f.precision for f in folds})),
        energy_kWh=MeanStd.of([f.energy_kWh for f in folds]),
        as_run_gco2e=MeanStd.of(as_run),
        as_run_km=MeanStd.of([car_km(g).value for g in as_run]),
        regions=tuple(per_region),
        sources=tuple(f.source for f in folds),
    )


def _basis(folds: list[FoldFigures]) -> str:
    words = []
    for basis in (FORECAST, MEASURED):
        chosen = [f for f in folds if f.basis == basis]
        if not chosen:
            continue
        if basis == MEASURED:
            words.append(f"measured ({_span(f.epochs for f in chosen)} epochs)")
        else:
            full = _span(f.forecast_epochs or 0 for f in chosen)
            ran = _span(f.epochs for f in chosen)
            words.append(f"forecast of {full} epochs from {ran}")
    return "; ".join(words)


def _span(values: Iterable[int]) -> str:
    distinct = sorted(set(values))
    return str(distinct[0]) if len(distinct) == 1 else f"{distinct[0]}-{distinct[-1]}"


def table_markdown(rows: Sequence[StudyRow]) -> str:
    """The table in Markdown: km by car per fold, mean +- std, per region; then its sources."""
    if not rows:
        return "No runs.\n"
    regions = [r.region for r in rows[0].regions]
    header = ["configuration", "folds", "figure", "precision", "energy per fold", "as run"]
    header += regions
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = [
            row.group,
            str(row.folds),
            row.basis,
            row.precision,
            _energy_text(row.energy_kWh),
            f"{row.as_run_km.text()} km ({row.as_run_gco2e.text()} gCO2e)",
        ]
        cells += [f"{region.km.text()} km" for region in row.regions]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    car = car_km(1.0)
    notes = [
        "",
        "km by car per training fold, mean +- sample std over the folds; figure: what each fold "
        "used (measured) or its forecast full run. Energy is IT energy; each region prices it "
        "x PUE at its grid's intensity; 'as run' is what the runs themselves emitted.",
        f"Car: {car.what}, {1 / car.value:.4g} gCO2e/km ({car.source}).",
    ]
    notes += [
        f"{r.region}: {r.gco2_per_kWh:.4g} gCO2e/kWh"
        + (f" ({r.year})" if r.year else "")
        + f", source: {r.source}."
        for r in rows[0].regions
    ]
    return "\n".join(lines + notes) + "\n"


def _energy_text(energy: MeanStd) -> str:
    if energy.std is None:
        return format_energy(energy.mean)
    return f"{format_energy(energy.mean)} +- {format_energy(energy.std)}"

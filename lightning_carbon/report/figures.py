"""The report's figures: which ones, their file names and captions.

Per run with epoch records: energy per epoch and cumulative emissions, named after the run's
label (``f8-energy.png``). Across runs: energy per run by component (``runs-energy``) and,
where runs logged the metric, the metric against gCO2e and energy with the Pareto front
(``runs-val-dice``). Then the what-if (``regions``). Each in every format asked.

Example::

    figures = write_figures(runs, emissions, Path("carbon-report"), metric="val_dice",
                            formats=("png", "pdf"), dpi=300, warn=print)
    [(f.caption, [p.name for p in f.paths]) for f in figures]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.report.labels import slug
from lightning_carbon.report.runs import RunReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: its caption and the files written (one per format)."""

    caption: str
    paths: list[Path]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"caption": self.caption, "paths": [str(p) for p in self.paths]}


def write_figures(
    runs: Sequence[RunReport],
    emissions: Sequence[Any],
    out_dir: Path,
    *,
    metric: str,
    formats: Sequence[str],
    dpi: float,
    warn: Callable[[str], None],
) -> list[ReportFigure]:
    """Draw and save every figure; none (after one warning) without matplotlib."""
    try:
        import matplotlib  # noqa: F401  (the plots extra)
    except ImportError:
        warn("no figures: matplotlib is not installed (pip install 'lightning-carbon[plots]')")
        return []
    from lightning_carbon import plots

    drawn: list[tuple[str, str, Figure]] = []
    taken = {"runs"}  # a run labelled "runs" would write over runs-energy
    for run in runs:
        if any(r.get("stage") == "train" for r in run.epochs):
            name = slug(run.label, taken)
            drawn.append(
                (
                    f"{name}-energy",
                    f"Energy per epoch: {run.label}",
                    plots.energy_figure(run.epochs, title=run.label),
                )
            )
            drawn.append(
                (
                    f"{name}-carbon",
                    f"Cumulative emissions: {run.label}",
                    plots.carbon_figure(run.epochs, title=run.label),
                )
            )
    bars = [
        plots.RunEnergy(
            run.label,
            run.summary.get("energy_kWh_by_component", {}),
            run.summary.get("provenance_by_component", {}),
        )
        for run in runs
        if run.summary.get("energy_kWh_by_component")
    ]
    if bars:
        drawn.append(("runs-energy", "Energy per run", plots.runs_energy_figure(bars)))
    points = _tradeoff_points(runs, metric)
    if points:
        front = _front(points)
        drawn.append(
            (
                f"runs-{slug(metric, set())}",
                f"{metric} against emissions and energy, Pareto front joined",
                plots.tradeoff_figure(points, metric, front=front),
            )
        )
    drawn.append(("regions", "The same energy on other grids", plots.region_figure(emissions)))
    return [
        ReportFigure(caption, plots.save(figure, out_dir / name, formats, dpi))
        for name, caption, figure in drawn
    ]


def _tradeoff_points(runs: Sequence[RunReport], metric: str) -> list[Any]:
    from lightning_carbon.plots import TradeoffPoint

    return [
        TradeoffPoint(run.label, run.summary["gco2e"], value, run.summary["energy_kWh"])
        for run in runs
        if (value := run.metric(metric)) is not None
    ]


def _front(points: Sequence[Any]) -> list[str]:
    from lightning_carbon.selection import pareto_front

    if len(points) < 2:
        return []
    rows = [{"label": p.label, "metric": p.metric, "gco2e": p.gco2e} for p in points]
    return [row["label"] for row in pareto_front(rows, metric="metric")]

"""PNG plots of a run: energy per epoch, cumulative emissions with the forecast, regions.

matplotlib is imported inside each function (the ``plots`` extra), and only its Agg canvas is
used: no pyplot, no global backend switch, safe off the main thread. Every figure is
:data:`FIGSIZE_IN` at :data:`DPI`, so every PNG is :data:`PIXELS` wide and high.

Example::

    from lightning_carbon.records import RunRecords
    records = RunRecords("lightning_logs/version_0").read_epochs()
    energy_plot(records, "energy.png")      # stacked GPU/CPU/DRAM, estimated hatched
    carbon_plot(records, "carbon.png")      # cumulative gCO2e, forecast dashed
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.sensors.base import COMPONENTS
from lightning_carbon.units import J_PER_KWH

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lightning_carbon.regions import RegionEmission

FIGSIZE_IN = (8.0, 4.5)
DPI = 100
PIXELS = (800, 450)
"""Width and height of every PNG, px (``FIGSIZE_IN`` x ``DPI``)."""

_COMPONENT_COLORS = {"gpu": "#4c72b0", "cpu": "#dd8452", "dram": "#55a868"}
_OTHER_COLOR = "#8c8c8c"
_HATCHES = {"measured": "", "polled": "..", "estimated": "//"}
_OWN_COLOR, _REGION_COLOR = "#c44e52", "#4c72b0"
_ENERGY_UNITS = ((1e3, "MWh"), (1.0, "kWh"), (1e-3, "Wh"))
_MASS_UNITS = ((1e6, "tCO2e"), (1e3, "kgCO2e"), (1.0, "gCO2e"))


def energy_plot(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Energy of each training epoch, stacked by component, hatched by provenance.

    ``records`` are ``epochs.jsonl`` records (other stages than ``train`` are left out).
    Bars of ``estimated`` energy are hatched ``//``, ``polled`` ``..``; the legend says so.
    """
    from matplotlib.patches import Patch

    train = _train(records)
    by_component = [_kWh_by_component(r) for r in train]
    provenance = [r["reading"].get("provenance_by_component", {}) for r in train]
    present = {c for kWh in by_component for c in kWh}
    components = [c for c in COMPONENTS if c in present] + sorted(present - set(COMPONENTS))
    scale, unit = _unit(max(sum(kWh.values()) for kWh in by_component), _ENERGY_UNITS)
    figure, axes = _figure()
    x = [int(r["epoch"]) for r in train]
    bottoms = [0.0] * len(train)
    seen: set[str] = set()
    for component in components:
        color = _COMPONENT_COLORS.get(component, _OTHER_COLOR)
        for i, kWh in enumerate(by_component):
            value = kWh.get(component, 0.0) / scale
            kind = provenance[i].get(component) or "estimated"
            seen.add(kind)
            axes.bar(
                x[i],
                value,
                bottom=bottoms[i],
                color=color,
                edgecolor="black",
                linewidth=0.5,
                hatch=_HATCHES.get(kind, ""),
            )
            bottoms[i] += value
    handles = [
        Patch(color=_COMPONENT_COLORS.get(c, _OTHER_COLOR), label=c.upper()) for c in components
    ]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch=_HATCHES.get(k, ""), label=k)
        for k in _HATCHES
        if k in seen
    ]
    _legend_outside(axes, handles)
    axes.set_xticks(x)
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"energy ({unit})")
    axes.set_title(title or "Energy per epoch")
    return _save(figure, path)


def carbon_plot(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Cumulative gCO2e after each training epoch, with the forecast total as a dashed line."""
    train = _train(records)
    x = [int(r["epoch"]) for r in train]
    total = [float(r["total_gCO2e"]) for r in train]
    forecast = [
        (int(r["epoch"]), float(r["forecast"]["gco2e"])) for r in train if r.get("forecast")
    ]
    scale, unit = _unit(max(total + [g for _, g in forecast]), _MASS_UNITS)
    figure, axes = _figure()
    axes.plot(
        x, [g / scale for g in total], marker="o", color=_REGION_COLOR, label="emitted so far"
    )
    if forecast:
        axes.plot(
            [xi for xi, _ in forecast],
            [g / scale for _, g in forecast],
            marker="s",
            linestyle="--",
            color=_OWN_COLOR,
            label="forecast:\nwhole run",
        )
    axes.set_ylim(bottom=0)
    axes.set_xticks(x)
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"emissions ({unit})")
    axes.set_title(title or "Cumulative emissions")
    _legend_outside(axes, axes.get_legend_handles_labels()[0])
    return _save(figure, path)


def region_plot(emissions: Sequence[RegionEmission], path: str | os.PathLike[str]) -> Path:
    """The same energy's gCO2e in each region, the run's own grid highlighted.

    Deprecated cloud rows are hatched ``xx``. Each bar is labelled with its intensity and year.
    """
    from matplotlib.patches import Patch

    if not emissions:
        raise ValueError("no regions to plot")
    scale, unit = _unit(max(e.gco2e for e in emissions), _MASS_UNITS)
    figure, axes = _figure()
    y = list(range(len(emissions)))[::-1]
    for yi, e in zip(y, emissions, strict=True):
        axes.barh(
            yi,
            e.gco2e / scale,
            color=_OWN_COLOR if e.own else _REGION_COLOR,
            edgecolor="black",
            linewidth=0.5,
            hatch="xx" if e.deprecated else "",
        )
        year = e.intensity.year if e.intensity.year is not None else "year unknown"
        axes.annotate(
            f" {e.intensity.gco2_per_kWh:.4g} g/kWh, {year}",
            (e.gco2e / scale, yi),
            va="center",
            fontsize="small",
        )
    axes.set_yticks(y, [e.name for e in emissions])
    axes.set_xlim(0, max(e.gco2e for e in emissions) / scale * 1.35 or 1.0)
    axes.set_xlabel(f"emissions at PUE {emissions[0].pue:.3g} ({unit})")
    axes.set_title("The same energy on other grids")
    handles = [Patch(color=_OWN_COLOR, label="the run's own grid")]
    if any(e.deprecated for e in emissions):
        handles.append(
            Patch(facecolor="white", edgecolor="black", hatch="xx", label="deprecated data")
        )
    axes.legend(handles=handles, loc="lower right", fontsize="small")
    return _save(figure, path)


def _legend_outside(axes: Axes, handles: list[Any]) -> None:
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def _train(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    train = [r for r in records if r.get("stage", "train") == "train"]
    if not train:
        raise ValueError("no training epoch records to plot")
    return train


def _kWh_by_component(record: Mapping[str, Any]) -> dict[str, float]:
    joules = record["reading"].get("energy_J_by_component", {})
    return {component: float(j) / J_PER_KWH for component, j in joules.items()}


def _unit(largest: float, ladder: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    """The biggest unit of ``ladder`` that ``largest`` reaches (the smallest one otherwise)."""
    return next(((s, u) for s, u in ladder if abs(largest) >= s), ladder[-1])


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=DPI, format="png")
    return target

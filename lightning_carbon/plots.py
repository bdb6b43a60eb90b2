"""Figures for papers: one column wide, print resolution, PNG, PDF or SVG.

Each ``*_figure`` function draws one figure :data:`COLUMN_WIDTH_IN` wide (a journal column)
with fonts sized for it; :func:`save` writes it in each format asked, at ``dpi`` (print:
:data:`DPI`). matplotlib is imported inside the functions (the ``plots`` extra), and only its
Agg canvas is used: no pyplot, no global backend switch, safe off the main thread.

Example::

    from lightning_carbon.records import RunRecords
    records = RunRecords("lightning_logs/version_0").read_epochs()
    save(energy_figure(records), "out/energy", formats=("png", "pdf"))   # out/energy.png, .pdf
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lightning_carbon.sensors.base import COMPONENTS
from lightning_carbon.units import J_PER_KWH

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lightning_carbon.regions import RegionEmission

COLUMN_WIDTH_IN = 3.5
"""Width of every figure, inches: one column of a two-column paper."""
DPI = 300
"""Resolution of raster output (PNG) by default, dots per inch: print quality."""
FORMATS = ("png", "pdf", "svg")
"""The formats :func:`save` writes."""

_STYLE = {
    "font.size": 7.0,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.0,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 4.0,
    "hatch.linewidth": 0.5,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}
"""rc settings under which every figure is drawn: text readable at one column width."""

_COMPONENT_COLORS = {"gpu": "#4c72b0", "cpu": "#dd8452", "dram": "#55a868"}
_OTHER_COLOR = "#8c8c8c"
_HATCHES = {"measured": "", "polled": "..", "estimated": "////"}
_BASIS_HATCHES = {"lifecycle": "", "direct": "////", "unknown": "...."}
_OWN_COLOR, _REGION_COLOR, _POINT_COLOR = "#c44e52", "#4c72b0", "#8c8c8c"
_ENERGY_UNITS = ((1e3, "MWh"), (1.0, "kWh"), (1e-3, "Wh"))
_MASS_UNITS = ((1e6, "tCO2e"), (1e3, "kgCO2e"), (1.0, "gCO2e"))

_Drawn = TypeVar("_Drawn")


@dataclass(frozen=True)
class RunEnergy:
    """One run's energy by component (kWh) and each component's provenance, for a bar."""

    label: str
    kWh_by_component: Mapping[str, float]
    provenance_by_component: Mapping[str, str | None]


@dataclass(frozen=True)
class TradeoffPoint:
    """One model or run: its quality ``metric`` against its gCO2e (and energy, kWh)."""

    label: str
    gco2e: float
    metric: float
    energy_kWh: float | None = None


def _styled(draw: Callable[..., _Drawn]) -> Callable[..., _Drawn]:
    """Run ``draw`` under :data:`_STYLE` (text sizes are fixed when the artists are made)."""

    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> _Drawn:
        with _style():
            return draw(*args, **kwargs)

    return styled


@_styled
def energy_figure(records: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Energy of each training epoch, stacked by component, hatched by provenance.

    ``records`` are valid ``epochs.jsonl`` records (stages other than ``train`` are left out).
    Bars of ``estimated`` energy are hatched ``////``, ``polled`` ``..``; the legend says so.
    """
    train = _train(records)
    bars = [
        RunEnergy(
            str(r["epoch"]),
            _kWh_by_component(r),
            r["reading"].get("provenance_by_component", {}),
        )
        for r in train
    ]
    figure, axes = _figure(2.3)
    _stacked_bars(figure, axes, bars, horizontal=False)
    axes.set_xlabel("epoch")
    axes.set_title(title or "Energy per epoch")
    return figure


@_styled
def runs_energy_figure(runs: Sequence[RunEnergy], title: str = "") -> Figure:
    """Energy of each run, one horizontal bar per run (top to bottom as given), stacked by
    component and hatched by provenance."""
    if not runs:
        raise ValueError("no runs to plot")
    figure, axes = _figure(1.2 + 0.22 * len(runs))
    _stacked_bars(figure, axes, runs, horizontal=True)
    axes.set_title(title or "Energy per run")
    return figure


@_styled
def carbon_figure(records: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Cumulative gCO2e after each training epoch, with the forecast total as a dashed line."""
    train = _train(records)
    x = [int(r["epoch"]) for r in train]
    total = [float(r["total_gCO2e"]) for r in train]
    forecast = [
        (int(r["epoch"]), float(r["forecast"]["gco2e"])) for r in train if r.get("forecast")
    ]
    scale, unit = _unit(max(total + [g for _, g in forecast]), _MASS_UNITS)
    figure, axes = _figure(2.3)
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
            label="forecast of the whole run",
        )
    axes.set_ylim(bottom=0)
    axes.set_xticks(x)
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"emissions ({unit})")
    axes.set_title(title or "Cumulative emissions")
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return figure


@_styled
def region_figure(emissions: Sequence[RegionEmission]) -> Figure:
    """The same energy's gCO2e in each region, lowest at the top, the runs' own grid in its
    own colour; the basis of each intensity is hatched (lifecycle plain, direct ``////``,
    unknown ``....``) and deprecated cloud rows are marked ``(deprecated)``.

    Example::

        from lightning_carbon.regions import what_if
        save(region_figure(what_if(2.0, 1.2, ["DNK", "EST", "WORLD"])), "regions")
    """
    from matplotlib.patches import Patch

    if not emissions:
        raise ValueError("no regions to plot")
    ordered = sorted(emissions, key=lambda e: e.gco2e)
    scale, unit = _unit(max(e.gco2e for e in ordered), _MASS_UNITS)
    figure, axes = _figure(1.0 + 0.2 * len(ordered))
    y = list(range(len(ordered)))[::-1]
    for yi, e in zip(y, ordered, strict=True):
        axes.barh(
            yi,
            e.gco2e / scale,
            color=_OWN_COLOR if e.own else _REGION_COLOR,
            edgecolor="black",
            linewidth=0.4,
            hatch=_BASIS_HATCHES[_basis(e)],
        )
        axes.annotate(
            f" {e.intensity.gco2_per_kWh:.0f} g/kWh",
            (e.gco2e / scale, yi),
            va="center",
            fontsize=5.5,
        )
    axes.set_yticks(y, [e.name + (" (deprecated)" if e.deprecated else "") for e in ordered])
    axes.set_xlim(0, max(e.gco2e for e in ordered) / scale * 1.3 or 1.0)
    axes.set_xlabel(f"emissions at PUE {ordered[0].pue:.3g} ({unit})")
    bases = [b for b in _BASIS_HATCHES if any(_basis(e) == b for e in ordered)]
    handles = [Patch(color=_OWN_COLOR, label="own grid (as run)")]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch=_BASIS_HATCHES[b], label=f"{b} basis")
        for b in bases
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return figure


@_styled
def tradeoff_figure(
    points: Sequence[TradeoffPoint],
    metric: str,
    front: Sequence[str] = (),
    pick: str | None = None,
    title: str = "",
) -> Figure:
    """``metric`` against gCO2e for each point, labelled; the points named in ``front`` joined
    (cheapest first), the ``pick`` ringed. With every point's energy known, a second panel
    shows ``metric`` against energy."""
    if not points:
        raise ValueError("no points to plot")
    with_energy = all(p.energy_kWh is not None for p in points)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(
        figsize=(COLUMN_WIDTH_IN, 4.2 if with_energy else 2.4), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(figure)
    panels = figure.subplots(2 if with_energy else 1, 1, squeeze=False)[:, 0]
    mass_scale, mass_unit = _unit(max(p.gco2e for p in points), _MASS_UNITS)
    axes_x = [(panels[0], lambda p: p.gco2e / mass_scale, f"emissions ({mass_unit})")]
    if with_energy:
        energy_scale, energy_unit = _unit(max(p.energy_kWh for p in points), _ENERGY_UNITS)
        axes_x.append((panels[1], lambda p: p.energy_kWh / energy_scale, f"energy ({energy_unit})"))
    by_label = {p.label: p for p in points}
    for axes, x, xlabel in axes_x:
        axes.scatter([x(p) for p in points], [p.metric for p in points], color=_POINT_COLOR)
        on_front = [by_label[name] for name in front]
        if on_front:
            axes.plot(
                [x(p) for p in on_front],
                [p.metric for p in on_front],
                "-o",
                color=_REGION_COLOR,
                label="Pareto front",
            )
        if pick is not None:
            chosen = by_label[pick]
            axes.scatter(
                [x(chosen)],
                [chosen.metric],
                s=90,
                facecolors="none",
                edgecolors=_OWN_COLOR,
                linewidths=1.2,
                label=f"pick: {pick}",
            )
        for p in points:
            axes.annotate(
                p.label, (x(p), p.metric), textcoords="offset points", xytext=(3, 3), fontsize=5.5
            )
        axes.margins(x=0.2, y=0.15)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3, linewidth=0.4)
    panels[0].set_title(title or f"{metric} against emissions")
    if front or pick is not None:
        figure.legend(
            *panels[0].get_legend_handles_labels(),
            loc="outside lower center",
            ncols=2,
            frameon=False,
        )
    return figure


def save(
    figure: Figure,
    stem: str | os.PathLike[str],
    formats: Sequence[str] = ("png",),
    dpi: float = DPI,
) -> list[Path]:
    """Write ``figure`` as ``stem.<format>`` for each of ``formats`` (see :data:`FORMATS`).

    Raises ``ValueError`` quoting a format that is not one of :data:`FORMATS`, or a ``dpi``
    that is not a positive number, before anything is written.
    """
    check_formats(formats)
    check_dpi(dpi)
    base = Path(stem)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with _style():
        for kind in formats:
            path = base.with_name(f"{base.name}.{kind}")
            figure.savefig(path, dpi=dpi, format=kind)
            paths.append(path)
    return paths


def check_dpi(dpi: float) -> float:
    """``dpi`` if it is a number in (0, 10000); ``ValueError`` quoting it otherwise.

    Example::

        >>> check_dpi(300)
        300
    """
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi < 10_000:
        raise ValueError(f"dpi must be a number in (0, 10000), got {dpi!r}")
    return dpi


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` as a tuple; ``ValueError`` for none, a repeat, or one not in :data:`FORMATS`.

    Example::

        >>> check_formats(["png", "pdf"])
        ('png', 'pdf')
    """
    chosen = tuple(formats)
    unknown = [f for f in chosen if f not in FORMATS]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise ValueError(
            f"formats must be one or more of {', '.join(FORMATS)} without repeats, "
            f"got {list(chosen)!r}"
        )
    return chosen


def _stacked_bars(
    figure: Figure, axes: Axes, bars: Sequence[RunEnergy], *, horizontal: bool
) -> None:
    """Bars stacked by component (GPU first), hatched by provenance, with one legend."""
    from matplotlib.patches import Patch

    present = {c for bar in bars for c in bar.kWh_by_component}
    components = [c for c in COMPONENTS if c in present] + sorted(present - set(COMPONENTS))
    largest = max((sum(bar.kWh_by_component.values()) for bar in bars), default=0.0)
    scale, unit = _unit(largest, _ENERGY_UNITS)
    positions = list(range(len(bars)))[::-1] if horizontal else list(range(len(bars)))
    starts = [0.0] * len(bars)
    seen: set[str] = set()
    draw = axes.barh if horizontal else axes.bar
    for component in components:
        for i, bar in enumerate(bars):
            value = bar.kWh_by_component.get(component, 0.0) / scale
            kind = bar.provenance_by_component.get(component) or "estimated"
            seen.add(kind)
            offset = {"left": starts[i]} if horizontal else {"bottom": starts[i]}
            draw(
                positions[i],
                value,
                color=_COMPONENT_COLORS.get(component, _OTHER_COLOR),
                edgecolor="black",
                linewidth=0.4,
                hatch=_HATCHES.get(kind, ""),
                **offset,
            )
            starts[i] += value
    labels = [bar.label for bar in bars]
    if horizontal:
        axes.set_yticks(positions, labels)
        axes.set_xlabel(f"energy ({unit})")
    else:
        axes.set_xticks(positions, labels)
        axes.set_ylabel(f"energy ({unit})")
    handles = [
        Patch(color=_COMPONENT_COLORS.get(c, _OTHER_COLOR), label=c.upper()) for c in components
    ]
    handles += [
        Patch(facecolor="white", edgecolor="black", hatch=_HATCHES.get(k, ""), label=k)
        for k in _HATCHES
        if k in seen
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=5, frameon=False)


@contextlib.contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _basis(emission: RegionEmission) -> str:
    basis = emission.intensity.basis
    return basis if basis in _BASIS_HATCHES else "unknown"


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


def _figure(height_in: float) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(COLUMN_WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()

"""The report's text: statement, runs table, what-if with footnoted sources, Table 3, notes.

Every function returns Markdown that also reads well printed in a terminal.

Example::

    print(runs_table(runs, metric="val_dice"))
    print(regions_table(total, emissions))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_carbon.report.figures import ReportFigure
from lightning_carbon.report.groups import RunGroup
from lightning_carbon.report.runs import RunReport
from lightning_carbon.statement import carbon_statement
from lightning_carbon.units import format_energy, format_mass


def statement(total: dict[str, Any]) -> str:
    """The carbon statement of all the runs together."""
    what = "This run" if total["runs"] == 1 else f"These {total['runs']} runs"
    return carbon_statement(total, what=what)


def runs_table(runs: Sequence[RunReport], metric: str) -> str:
    """One line per run; a column for ``metric`` where any run has it."""
    values = [run.metric(metric) for run in runs]
    with_metric = any(v is not None for v in values)
    headers = ["run", "precision", "epochs", "energy", "emissions"]
    headers += [metric] if with_metric else []
    headers += ["provenance", "intensity", "status"]
    rows = []
    for run, value in zip(runs, values, strict=True):
        row = run.row()
        status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
        cells = [
            row["run"],
            row["precision"] or "-",
            row["epochs"],
            format_energy(row["energy_kWh"]),
            format_mass(row["gco2e"]),
        ]
        cells += [_number(value, ".4g")] if with_metric else []
        cells += [row["provenance"] or "unmetered", _intensity_text(row["intensity"]), status]
        rows.append(cells)
    return "## Runs\n\n" + _table(headers, rows, right=(2, 3, 4, 5) if with_metric else (2, 3, 4))


def regions_table(total: dict[str, Any], emissions: Sequence[Any]) -> str:
    """The what-if, lowest emissions first; sources and notes once each, as numbered notes."""
    who = "this run" if total["runs"] == 1 else "these runs"
    notes: dict[str, int] = {}

    def mark(text: str | None) -> str:
        if not text:
            return ""
        return f"[{notes.setdefault(text, len(notes) + 1)}]"

    rows = []
    for e in sorted(emissions, key=lambda e: e.gco2e):
        name = f"**{e.name}** (own grid of {who})" if e.own else e.name
        rows.append(
            [
                f"{name}: {e.intensity.region}",
                format_mass(e.gco2e),
                f"{e.intensity.gco2_per_kWh:.4g}",
                e.intensity.year or "unknown",
                e.intensity.basis,
                " ".join(filter(None, (mark(e.intensity.source), mark(e.note)))),
            ]
        )
    intro = (
        f"{format_energy(total['energy_kWh'])} at PUE {total['pue']['value']:.3g} "
        f"({format_energy(total['facility_energy_kWh'])} from the grid) would have emitted, "
        "lowest first:\n\n"
    )
    table = _table(
        ["region", "emissions", "gCO2e/kWh", "year", "basis", "sources and notes"],
        rows,
        right=(1, 2),
    )
    footnotes = "\n".join(f"[{n}] {text}" for text, n in notes.items())
    return f"## The same energy on other grids\n\n{intro}{table}\n{footnotes}\n"


def groups_tables(groups: Sequence[RunGroup], regions: Sequence[str], group_by: str | None) -> str:
    """Runs (or groups of runs) by region, in gCO2e and in km by car, mean ± std over runs."""
    by = f" grouped by {group_by}" if group_by else ""
    headers = ["runs" + by, "n", "as run", *regions]
    sections = [f"## Runs by region{by}\n"]
    for title, part, spec in (
        ("Emissions, gCO2e", "gco2e", ".3g"),
        ("Kilometres by an average new EU car (EEA 2024: 106.8 gCO2e/km)", "car_km", ".3g"),
    ):
        rows = [
            [
                group.name,
                len(group.labels),
                getattr(group.as_run, part).text(spec=spec),
                *(getattr(group.regions[r], part).text(spec=spec) for r in regions),
            ]
            for group in groups
        ]
        right = tuple(range(1, len(headers)))
        sections.append(f"{title}, mean ± standard deviation over the runs of each row:\n")
        sections.append(_table(headers, rows, right=right))
    sections.append(
        "Each run's IT energy at its own PUE, priced at each region's intensity (sources in "
        'the table above); "as run" is what the runs emitted where they ran.'
    )
    return "\n".join(sections) + "\n"


def figures_section(figures: Sequence[ReportFigure]) -> str:
    """Each figure shown (its PNG, else its first file) with the other formats linked."""
    if not figures:
        return ""
    blocks = []
    for figure in figures:
        shown = next((p for p in figure.paths if p.suffix == ".png"), figure.paths[0])
        others = [p for p in figure.paths if p != shown]
        links = f"\n\nAlso: {', '.join(f'[{p.name}]({p.name})' for p in others)}" if others else ""
        blocks.append(f"![{figure.caption}]({shown.name}){links}")
    return "## Figures\n\n" + "\n\n".join(blocks) + "\n"


def problems_section(title: str, messages: Sequence[str]) -> str:
    """A bulleted list (inputs not reported, warnings); empty without messages."""
    if not messages:
        return ""
    return f"## {title}\n\n" + "\n".join(f"- {_cell(m)}" for m in messages) + "\n"


def _intensity_text(intensity: dict[str, Any]) -> str:
    if not intensity:
        return "unknown"
    year = f", {intensity['year']}" if intensity.get("year") else ""
    return f"{intensity['gco2_per_kWh']:.4g} gCO2e/kWh, {intensity.get('region', 'unknown')}{year}"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int]) -> str:
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"

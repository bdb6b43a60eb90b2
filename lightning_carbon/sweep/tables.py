"""The sweeps' tables: Markdown to read, CSV and JSON to keep, written side by side.

Example::

    paths = write_tables(Path("sweeps/precision"), "precision_sweep",
                         precision_csv(result.rows), result.to_dict(), result.to_markdown())
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.sweep.results import BASELINE

if TYPE_CHECKING:
    from lightning_carbon.sweep.results import (
        PrecisionRow,
        PrecisionSweepResult,
        WidthSweepResult,
    )


def precision_markdown(result: PrecisionSweepResult) -> str:
    """The precision table, its flags (outliers, inconclusive comparisons) and its basis."""
    grid = _intensity_words(result.intensity)
    table = markdown_table(
        [
            "Precision",
            "Runs",
            "Energy (Wh)",
            "Median (Wh)",
            f"gCO2e at {grid}",
            "Time (s)",
            "Samples/s",
            "Dice",
            f"Energy vs {BASELINE} (median)",
        ],
        [
            [
                row.precision,
                row.runs,
                row.energy_kWh.text(1000.0),
                _number(row.energy_kWh.median * 1000.0),
                row.gco2e.text(),
                row.time_s.text(),
                row.samples_per_s.text(),
                row.val_dice.text(spec=".3f") if row.val_dice else "-",
                saving_words(row),
            ]
            for row in result.rows
        ],
    )
    repeats = result.settings["repeats"]
    how = (
        f"Mean ± standard deviation over {repeats} repeats, order alternated between them"
        if repeats > 1
        else "One run per precision"
    )
    warmup = "after a warm-up run per precision" if result.warmup_runs else "no warm-up"
    from lightning_carbon.reading import least_direct

    provenance = least_direct({r.provenance for r in result.runs if r.provenance})
    lines = [
        table,
        "",
        f"{how}, on {result.accelerator}, {warmup}; savings compare medians. Energy "
        f"{provenance}; emissions at {grid} ({result.intensity.get('source', 'unknown')}). "
        f"The whole sweep emitted {result.sweep_gco2e:.3g} gCO2e.",
    ]
    lines += _flags(result.rows)
    return "\n".join(lines)


def saving_words(row: PrecisionRow) -> str:
    """``'44.2 % less'``, ``'20.0 % more (a cost)'``, ``'baseline'`` or ``'-'``.

    Example::

        >>> from types import SimpleNamespace
        >>> saving_words(SimpleNamespace(precision="bf16-mixed", energy_saving=-0.25))
        '25.0 % more (a cost)'
    """
    if row.precision == BASELINE:
        return "baseline"
    if row.energy_saving is None:
        return "-"
    if row.energy_saving >= 0:
        return f"{row.energy_saving:.1%} less".replace("%", " %")
    return f"{-row.energy_saving:.1%} more (a cost)".replace("%", " %")


def width_markdown(result: WidthSweepResult) -> str:
    """The width table, the Pareto front and the pick."""
    table = markdown_table(
        [
            "F",
            "Parameters",
            "Dice",
            "Energy (Wh)",
            f"gCO2e at {_intensity_words(result.intensity)}",
            "Time (s)",
            "Pareto",
            "Pick",
        ],
        [
            [
                row.filters,
                row.parameters,
                _number(row.val_dice, ".3f"),
                _number(row.energy_kWh * 1000.0),
                _number(row.gco2e),
                _number(row.time_s),
                "yes" if row in result.front else "",
                "yes" if row is result.pick else "",
            ]
            for row in result.rows
        ],
    )
    front = ", ".join(f"F={row.filters}" for row in result.front)
    return f"{table}\n\nPareto front (cheapest first): {front}.\n{result.pick_sentence()}"


def precision_csv(rows: Sequence[PrecisionRow]) -> list[dict[str, Any]]:
    """One CSV line per precision: each spread's statistics in its own columns."""
    table = []
    for row in rows:
        line: dict[str, Any] = {"precision": row.precision, "runs": row.runs}
        for name in ("energy_kWh", "gco2e", "time_s", "samples_per_s", "val_dice"):
            spread = getattr(row, name)
            for stat in ("mean", "std", "median", "min", "max"):
                line[f"{name}_{stat}"] = getattr(spread, stat) if spread else None
        line.update(
            energy_saving=row.energy_saving,
            gco2e_saving=row.gco2e_saving,
            inconclusive=row.inconclusive,
            outliers="; ".join(row.outliers),
        )
        table.append(line)
    return table


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_tables(
    directory: Path,
    stem: str,
    table: Sequence[Mapping[str, Any]],
    document: Mapping[str, Any],
    markdown: str,
) -> dict[str, Path]:
    """``stem.csv`` (``table``), ``stem.json`` (``document``) and ``stem.md`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{stem}.{kind}" for kind in ("csv", "json", "md")}
    with open(paths["csv"], "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    paths["json"].write_text(json.dumps(document, indent=2) + "\n")
    paths["md"].write_text(markdown + "\n")
    return paths


def _flags(rows: Sequence[PrecisionRow]) -> list[str]:
    base = next((row for row in rows if row.precision == BASELINE), None)
    lines = []
    for row in rows:
        lines += [f"- **Outlier** ({row.precision}): {flag}." for flag in row.outliers]
        if row.inconclusive and base is not None:
            spread = (row.energy_kWh.std**2 + base.energy_kWh.std**2) ** 0.5 * 1000
            difference = abs(row.energy_kWh.median - base.energy_kWh.median) * 1000
            lines.append(
                f"- **Inconclusive** ({row.precision} against {BASELINE}): the spread of the "
                f"repeats ({spread:.3g} Wh) is larger than the difference of the medians "
                f"({difference:.3g} Wh); more repeats would tell."
            )
    return ["", *lines] if lines else []


def _intensity_words(intensity: Mapping[str, Any]) -> str:
    value = intensity.get("gco2_per_kWh")
    where = intensity.get("code") or intensity.get("region") or "unknown grid"
    return f"{value:.4g} g/kWh ({where})" if value is not None else "an unknown intensity"


def _number(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)

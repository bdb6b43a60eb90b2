"""Build the report: read the runs, sum them, price them elsewhere, write ``report.md``.

Example::

    report = build_report(["runs/f8", "runs/f16"], "carbon-report", regions=["DNK", "EST"],
                          metric="val_dice", group_by="precision", formats=("png", "pdf"))
    report.markdown_path, report.errors, report.exit_code
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_carbon.report import tables
from lightning_carbon.report.combine import combined_summary
from lightning_carbon.report.figures import ReportFigure, write_figures
from lightning_carbon.report.groups import RunGroup, check_group_by, region_groups
from lightning_carbon.report.guidelines import Finding, cut_footprint, guidelines_markdown
from lightning_carbon.report.labels import label_runs
from lightning_carbon.report.runs import RunReport, UnusableRun, load_run

REPORT_SCHEMA = "lightning-carbon/report/2"
DEFAULT_OUT = "carbon-report"
DEFAULT_METRIC = "val_dice"
SWEEP_SCHEMA_PREFIX = "lightning-carbon/precision-sweep/"
SWEEP_FILE = "precision_sweep.json"

Notify = Callable[[str], None]


@dataclass
class Report:
    """Everything the report says, where its files went, and what could not be read.

    ``errors`` name each input left out (a run folder, a sweep file); ``warnings`` each file
    or record skipped inside an input that was still reported.
    """

    runs: list[RunReport]
    total: dict[str, Any]
    regions: list[Any]
    groups: list[RunGroup]
    findings: list[Finding]
    metric: str
    group_by: str | None
    warnings: list[str]
    errors: list[str]
    markdown_path: Path
    figures: list[ReportFigure]
    sections: list[str]
    """The statement and the tables, as both the markdown and :meth:`text` show them."""

    @property
    def exit_code(self) -> int:
        """0 when every input was read, 1 when some were left out."""
        return 1 if self.errors else 0

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output."""
        return {
            "schema": REPORT_SCHEMA,
            "total": self.total,
            "metric": self.metric,
            "runs": [run.row(self.metric) for run in self.runs],
            "regions": [e.to_dict() for e in self.regions],
            "groups": [g.to_dict() for g in self.groups],
            "how_to_cut": [f.to_dict() for f in self.findings],
            "warnings": self.warnings,
            "errors": self.errors,
            "report": str(self.markdown_path),
            "figures": [f.to_dict() for f in self.figures],
        }

    def text(self) -> str:
        """What the command prints: statement, tables and the closing guidelines."""
        return "\n".join(
            [
                *self.sections,
                guidelines_markdown(self.findings),
                f"Report written to {self.markdown_path}",
            ]
        )


def build_report(
    run_dirs: Iterable[str | Path],
    out: str | Path = DEFAULT_OUT,
    regions: Sequence[str] | None = None,
    warn: Notify | None = None,
    *,
    error: Notify | None = None,
    labels: Sequence[str] | None = None,
    metric: str = DEFAULT_METRIC,
    group_by: str | None = None,
    formats: Sequence[str] = ("png",),
    dpi: float = 300,
    sweep: str | Path | None = None,
) -> Report:
    """Read the runs and write ``report.md`` and its figures into ``out``.

    Arguments are checked before any file is read: an unknown region, a bad ``group_by``
    pattern, format or ``dpi`` raise ``ValueError``. An input that cannot be used is named
    through ``error`` and left out (see :attr:`Report.exit_code`); a file skipped inside an
    input goes through ``warn``. With no usable run at all, :class:`UnusableRun` is raised
    naming every input and why, and nothing is written.
    """
    from lightning_carbon.plots import check_dpi, check_formats
    from lightning_carbon.regions import DEFAULT_REGIONS, resolve_region, what_if

    region_names = list(DEFAULT_REGIONS if regions is None else regions)
    for name in region_names:
        resolve_region(name)
    check_group_by(group_by)
    formats = check_formats(formats)
    check_dpi(dpi)
    warnings: list[str] = []
    errors: list[str] = []
    _warn = _collect(warnings, warn)
    _error = _collect(errors, error)

    runs = []
    inputs = [str(path) for path in run_dirs]
    for path in inputs:
        try:
            runs.append(load_run(path, _warn))
        except UnusableRun as problem:
            _error(f"left out {problem}")
    if not runs:
        raise UnusableRun(
            f"no valid run records in {', '.join(inputs)} (each needs carbon/summary.json or "
            f"carbon/epochs.jsonl): " + "; ".join(errors)
        )
    label_runs(runs, labels)
    sweep_result = _load_sweep(Path(sweep), _error) if sweep is not None else None
    total = combined_summary(runs)
    emissions = what_if(
        total["energy_kWh"], total["pue"]["value"], region_names, total["intensity"]
    )
    groups = region_groups(runs, region_names, group_by)
    findings = cut_footprint(runs, total, emissions, sweep_result)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(
        runs, emissions, out_dir, metric=metric, formats=formats, dpi=dpi, warn=_warn
    )
    sections = [
        tables.statement(total),
        tables.runs_table(runs, metric),
        tables.regions_table(total, emissions),
        tables.groups_tables(groups, region_names, group_by),
    ]
    markdown = "\n".join(
        [
            "# Carbon report\n",
            *sections,
            tables.figures_section(figures),
            guidelines_markdown(findings),
            tables.problems_section("Inputs left out", errors),
            tables.problems_section("Warnings", warnings),
        ]
    )
    markdown_path = out_dir / "report.md"
    markdown_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    return Report(
        runs,
        total,
        emissions,
        groups,
        findings,
        metric,
        group_by,
        warnings,
        errors,
        markdown_path,
        figures,
        sections,
    )


def _collect(kept: list[str], notify: Notify | None) -> Notify:
    def collect(message: str) -> None:
        kept.append(message)
        if notify is not None:
            notify(message)

    return collect


def _load_sweep(path: Path, error: Notify) -> dict[str, Any] | None:
    """The content of a ``precision_sweep.json`` (``path`` or ``path/precision_sweep.json``)."""
    file = path / SWEEP_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        error(f"left out sweep {file}: not readable JSON ({problem})")
        return None
    schema = data.get("schema", "") if isinstance(data, dict) else ""
    if not str(schema).startswith(SWEEP_SCHEMA_PREFIX) or not isinstance(data.get("rows"), list):
        error(f"left out sweep {file}: not a precision sweep result (schema {schema!r})")
        return None
    return data

"""``lightning-carbon report``: one carbon statement, table and plots for one run or many.

Reads the records a :class:`~lightning_carbon.callback.CarbonCallback` left in each run's
``carbon/`` folder (``summary.json``, else the totals rebuilt from ``epochs.jsonl``), sums the
runs, prices the same energy on other grids, and writes ``report.md`` with PNG plots.
A malformed file is named in a warning and skipped; the report never crashes on one.

Example::

    $ lightning-carbon report lightning_logs/version_0 lightning_logs/version_1 \\
          --regions DNK,gcp:europe-north1,US-CA --out carbon-report
    $ lightning-carbon report lightning_logs/version_0 --json > report.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

from lightning_carbon.footprint import equivalents
from lightning_carbon.reading import EnergyReading, least_direct
from lightning_carbon.records import RunRecords
from lightning_carbon.sensors.base import COMPONENTS
from lightning_carbon.statement import carbon_statement
from lightning_carbon.units import J_PER_KWH, format_energy, format_mass

REPORT_SCHEMA = "lightning-carbon/report/1"
DEFAULT_OUT = "carbon-report"

Warn = Callable[[str], None]

_INTENSITY_DEFAULTS = {
    "region": "unknown",
    "code": "",
    "year": None,
    "source": "unknown",
    "basis": "unknown",
}


@dataclass
class RunReport:
    """One run's records as the report uses them.

    ``summary`` follows the ``summary.json`` schema; it is rebuilt from the epoch records when
    the run has no valid summary (``totals_from == "epochs.jsonl"``, and marked partial).
    """

    label: str
    directory: Path
    summary: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)
    totals_from: str = "summary.json"

    @property
    def partial(self) -> bool:
        """Whether the figures cover only part of the run."""
        return bool(self.summary.get("partial"))

    def row(self) -> dict[str, Any]:
        """The run's line of the report, JSON-ready."""
        s = self.summary
        return {
            "run": self.label,
            "path": str(self.directory),
            "status": "partial" if self.partial else "complete",
            "reason": s.get("reason"),
            "totals_from": self.totals_from,
            "epochs": s.get("epochs", sum(r.get("stage") == "train" for r in self.epochs)),
            "duration_s": s.get("duration_s", 0.0),
            "energy_kWh": s["energy_kWh"],
            "facility_energy_kWh": s.get("facility_energy_kWh", s["energy_kWh"]),
            "gco2e": s["gco2e"],
            "provenance": s.get("provenance"),
            "intensity": s.get("intensity", {}),
        }


# -- reading runs ---------------------------------------------------------------------------


def load_run(path: str | Path, warn: Warn) -> RunReport | None:
    """Read one run; ``None`` (after a warning naming the file) when nothing usable is there.

    ``path`` is a run directory holding ``carbon/``, or the ``carbon`` directory itself.

    Example::

        >>> import tempfile
        >>> print(load_run(tempfile.mkdtemp(), warn=print))  # doctest: +ELLIPSIS
        skipped ...: no carbon/summary.json or carbon/epochs.jsonl
        None
    """
    label = str(path).rstrip("/\\") or str(path)
    given = Path(path)
    if not given.is_dir():
        warn(f"skipped {given}: no such directory")
        return None
    records = _records_of(given)
    if records is None:
        warn(f"skipped {given}: no carbon/summary.json or carbon/epochs.jsonl")
        return None
    epochs = _read_epochs(records, warn)
    summary = _read_summary(records.summary_path, warn)
    if summary is not None:
        return RunReport(label, records.directory, summary, epochs)
    if not epochs:
        warn(f"skipped {given}: no valid summary.json and no valid epoch records")
        return None
    return RunReport(
        label,
        records.directory,
        _rebuild_summary(epochs, records.epochs_path),
        epochs,
        totals_from="epochs.jsonl",
    )


def _records_of(path: Path) -> RunRecords | None:
    """The records of ``path/carbon``, or of ``path`` itself when it is a ``carbon`` folder."""
    candidates = [RunRecords(path.parent)] if path.name == "carbon" else []
    for records in [*candidates, RunRecords(path)]:
        if records.summary_path.is_file() or records.epochs_path.is_file():
            return records
    return None


def _read_summary(path: Path, warn: Warn) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        warn(f"skipped {path}: not readable JSON ({error})")
        return None
    problem = _summary_problem(data)
    if problem:
        warn(f"skipped {path}: {problem}")
        return None
    return data


def _summary_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a summary, or ``None``."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key in ("energy_kWh", "gco2e"):
        if not _is_number(data.get(key)):
            return f"{key!r} is missing or not a number ({data.get(key)!r})"
    for key in ("facility_energy_kWh", "duration_s", "epochs"):
        if key in data and not _is_number(data[key]):
            return f"{key!r} is not a number ({data[key]!r})"
    by_component = data.get("energy_kWh_by_component", {})
    if not isinstance(by_component, dict) or not all(map(_is_number, by_component.values())):
        return f"'energy_kWh_by_component' is not a mapping of numbers ({by_component!r})"
    for key, number in (("intensity", "gco2_per_kWh"), ("pue", "value")):
        part = data.get(key, {})
        if part and not (isinstance(part, dict) and _is_number(part.get(number))):
            return f"{key!r} has no numeric {number!r} ({part!r})"
    if data.get("facility_energy_kWh", data["energy_kWh"]) < data["energy_kWh"]:
        return f"'facility_energy_kWh' is below 'energy_kWh' ({data['facility_energy_kWh']!r})"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_epochs(records: RunRecords, warn: Warn) -> list[dict[str, Any]]:
    """The valid epoch records; torn lines and malformed records are named and skipped."""
    path = records.epochs_path
    if not path.is_file():
        return []
    try:
        lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        parsed = records.read_epochs()
    except (OSError, UnicodeDecodeError) as error:
        warn(f"skipped {path}: not readable ({error})")
        return []
    if len(parsed) < lines:
        warn(f"skipped {lines - len(parsed)} torn line(s) of {path}")
    valid = []
    for index, record in enumerate(parsed, start=1):
        problem = _record_problem(record)
        if problem:
            warn(f"skipped record {index} of {path}: {problem}")
        else:
            valid.append(record)
    return valid


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    needed = ("energy_kWh", "facility_energy_kWh", "gco2e", "pue")
    if record.get("stage") == "train":
        needed += ("epoch", "total_gCO2e")
    for key in needed:
        if not _is_number(record.get(key)):
            return f"{key!r} is missing or not a number ({record.get(key)!r})"
    if record["pue"] < 1.0:
        return f"'pue' is below 1 ({record['pue']!r})"
    intensity = record.get("intensity")
    if not isinstance(intensity, dict) or not _is_number(intensity.get("gco2_per_kWh")):
        return f"'intensity' has no numeric 'gco2_per_kWh' ({intensity!r})"
    forecast = record.get("forecast")
    if forecast is not None and not (
        isinstance(forecast, dict) and _is_number(forecast.get("gco2e"))
    ):
        return f"'forecast' has no numeric 'gco2e' ({forecast!r})"
    try:
        EnergyReading.from_dict(record["reading"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return f"'reading' is malformed ({type(error).__name__}: {error})"
    return None


def _rebuild_summary(epochs: list[dict[str, Any]], source: Path) -> dict[str, Any]:
    """Summary fields from the epoch records alone, in the order ``RunTotals`` adds them."""
    train = [r for r in epochs if r.get("stage") == "train"]
    readings = [EnergyReading.from_dict(r["reading"]) for r in train]
    fit = reduce(EnergyReading.plus, readings, EnergyReading("fit", 0.0, {}, {}, {}))
    train_gco2e = sum(r["gco2e"] for r in train)
    inference: dict[str, dict[str, Any]] = {}
    for r in epochs:
        if r.get("stage") == "train":
            continue
        stage = inference.setdefault(
            str(r.get("stage")), {"energy_kWh": 0.0, "gco2e": 0.0, "runs": 0}
        )
        stage["energy_kWh"] += r["energy_kWh"]
        stage["gco2e"] += r["gco2e"]
        stage["runs"] += 1
    energy_kWh = fit.energy_kWh + sum(v["energy_kWh"] for v in inference.values())
    gco2e = train_gco2e + sum(v["gco2e"] for v in inference.values())
    facility_kWh = sum(r["facility_energy_kWh"] for r in epochs)
    by_component = {c: j / J_PER_KWH for c, j in fit.energy_J_by_component.items()}
    return {
        "partial": True,
        "reason": f"no valid summary.json; totals rebuilt from {len(epochs)} records of {source}",
        "epochs": len(train),
        "duration_s": fit.duration_s,
        "energy_kWh": energy_kWh,
        "facility_energy_kWh": facility_kWh,
        "gco2e": gco2e,
        "training": {
            "energy_kWh": fit.energy_kWh,
            "gco2e": train_gco2e,
            "energy_kWh_by_component": by_component,
        },
        "inference": inference,
        "energy_kWh_by_component": by_component,
        "provenance_by_component": fit.provenance_by_component,
        "provenance": fit.provenance,
        "intensity": _common_or_effective([r["intensity"] for r in epochs], gco2e, facility_kWh),
        "pue": _common_pue(
            [{"value": r["pue"], "source": "as recorded in epochs.jsonl"} for r in epochs],
            energy_kWh,
            facility_kWh,
        ),
        "equivalents": [asdict(e) for e in equivalents(gco2e)],
        "notes": list(fit.notes),
    }


# -- combining runs -------------------------------------------------------------------------


def _common_or_effective(
    intensities: list[dict[str, Any]], gco2e: float, facility_kWh: float
) -> dict[str, Any]:
    """The one intensity all share, else the effective one (gCO2e / facility kWh)."""
    filled = [{**_INTENSITY_DEFAULTS, **i} for i in intensities if i]
    grids = {(i["code"], i["gco2_per_kWh"]) for i in filled}
    if len(grids) == 1 and len(filled) == len(intensities):
        return filled[-1]
    bases = {i["basis"] for i in filled}
    names = ", ".join(dict.fromkeys(str(i["code"] or i["region"]) for i in filled))
    return {
        "gco2_per_kWh": gco2e / facility_kWh if facility_kWh > 0 else 0.0,
        "region": f"a mix of grids ({names})" if filled else "unknown",
        "code": "MIX",
        "year": None,
        "source": "effective: emissions over facility energy of the records",
        "basis": bases.pop() if len(bases) == 1 else "mixed",
        "time": None,
        "is_live": False,
    }


def _common_pue(
    pues: list[dict[str, Any]], energy_kWh: float, facility_kWh: float
) -> dict[str, Any]:
    """The one PUE all share, else the effective one (facility kWh / IT kWh)."""
    if pues and all(pues) and len({p["value"] for p in pues}) == 1:
        return pues[-1]
    return {
        "value": facility_kWh / energy_kWh if energy_kWh > 0 else 1.0,
        "source": "effective: facility energy over IT energy of the runs",
    }


def combined_summary(runs: Sequence[RunReport]) -> dict[str, Any]:
    """The runs summed into one summary dict (the schema :func:`carbon_statement` reads).

    Example::

        >>> a = RunReport("a", Path("a"), {"energy_kWh": 1.0, "gco2e": 100.0, "epochs": 2})
        >>> b = RunReport("b", Path("b"), {"energy_kWh": 0.5, "gco2e": 50.0, "epochs": 1})
        >>> s = combined_summary([a, b])
        >>> s["energy_kWh"], s["gco2e"], s["epochs"], s["runs"]
        (1.5, 150.0, 3, 2)
    """
    summaries = [run.summary for run in runs]
    energy_kWh = sum(s["energy_kWh"] for s in summaries)
    gco2e = sum(s["gco2e"] for s in summaries)
    facility_kWh = sum(s.get("facility_energy_kWh", s["energy_kWh"]) for s in summaries)
    by_component: dict[str, float] = {}
    provenances: dict[str, list[str | None]] = {}
    for s in summaries:
        for component, kWh in s.get("energy_kWh_by_component", {}).items():
            by_component[component] = by_component.get(component, 0.0) + kWh
            provenances.setdefault(component, []).append(
                s.get("provenance_by_component", {}).get(component)
            )
    order = [c for c in COMPONENTS if c in by_component] + sorted(
        c for c in by_component if c not in COMPONENTS
    )
    partial = [run for run in runs if run.partial]
    return {
        "runs": len(summaries),
        "partial": bool(partial),
        "reason": "; ".join(f"{r.label}: {r.summary.get('reason') or 'partial'}" for r in partial)
        or None,
        "epochs": sum(int(s.get("epochs", 0)) for s in summaries),
        "duration_s": sum(s.get("duration_s", 0.0) for s in summaries),
        "energy_kWh": energy_kWh,
        "facility_energy_kWh": facility_kWh,
        "gco2e": gco2e,
        "energy_kWh_by_component": {c: by_component[c] for c in order},
        "provenance_by_component": {c: least_direct(provenances[c]) for c in order},
        "provenance": least_direct({s.get("provenance") for s in summaries} - {None}),
        "intensity": _common_or_effective(
            [s.get("intensity", {}) for s in summaries], gco2e, facility_kWh
        ),
        "pue": _common_pue([s.get("pue", {}) for s in summaries], energy_kWh, facility_kWh),
        "equivalents": [asdict(e) for e in equivalents(gco2e)],
        "notes": list(dict.fromkeys(n for s in summaries for n in s.get("notes", []))),
    }


# -- writing the report ---------------------------------------------------------------------


@dataclass
class Report:
    """Everything the report says, and where its files went."""

    runs: list[RunReport]
    total: dict[str, Any]
    regions: list[Any]
    warnings: list[str]
    markdown_path: Path
    plots: list[Path]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output."""
        return {
            "schema": REPORT_SCHEMA,
            "total": self.total,
            "runs": [run.row() for run in self.runs],
            "regions": [e.to_dict() for e in self.regions],
            "warnings": self.warnings,
            "report": str(self.markdown_path),
            "plots": [str(p) for p in self.plots],
        }


def build_report(
    run_dirs: Iterable[str | Path],
    out: str | Path = DEFAULT_OUT,
    regions: Sequence[str] | None = None,
    warn: Warn | None = None,
) -> Report | None:
    """Read the runs, write ``report.md`` and its plots into ``out``; ``None`` if no run is valid.

    Each warning (a file skipped, plots unavailable) goes to ``warn`` as it happens and is
    kept in :attr:`Report.warnings`. An unknown region raises ``ValueError`` before any file
    is read.
    """
    from lightning_carbon.regions import resolve_region, what_if

    for name in regions or ():
        resolve_region(name)
    warnings: list[str] = []

    def _warn(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    runs = [run for run in (load_run(path, _warn) for path in run_dirs) if run is not None]
    if not runs:
        return None
    total = combined_summary(runs)
    emissions = what_if(total["energy_kWh"], total["pue"]["value"], regions, total["intensity"])
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _write_plots(runs, emissions, out_dir, _warn)
    markdown = "\n".join(
        [
            "# Carbon report\n",
            _statement(total),
            _runs_table(runs),
            _regions_table(total, emissions),
            _plots_section(plots),
            _warnings_section(warnings),
        ]
    )
    markdown_path = out_dir / "report.md"
    markdown_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    return Report(runs, total, emissions, warnings, markdown_path, [p for _, p in plots])


def _statement(total: dict[str, Any]) -> str:
    what = "This run" if total["runs"] == 1 else f"These {total['runs']} runs"
    return carbon_statement(total, what=what)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _intensity_text(intensity: dict[str, Any]) -> str:
    if not intensity:
        return "unknown"
    year = f", {intensity['year']}" if intensity.get("year") else ""
    return f"{intensity['gco2_per_kWh']:.4g} gCO2e/kWh, {intensity.get('region', 'unknown')}{year}"


def _runs_table(runs: Sequence[RunReport]) -> str:
    lines = [
        "## Runs\n",
        "| run | epochs | energy | emissions | provenance | intensity | status |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for run in runs:
        row = run.row()
        status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    row["run"],
                    row["epochs"],
                    format_energy(row["energy_kWh"]),
                    format_mass(row["gco2e"]),
                    row["provenance"] or "unmetered",
                    _intensity_text(row["intensity"]),
                    status,
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _regions_table(total: dict[str, Any], emissions: Sequence[Any]) -> str:
    who = "this run" if total["runs"] == 1 else "these runs"
    lines = [
        "## The same energy on other grids\n",
        f"{format_energy(total['energy_kWh'])} at PUE {total['pue']['value']:.3g} "
        f"({format_energy(total['facility_energy_kWh'])} from the grid) would have emitted:\n",
        "| region | emissions | intensity (gCO2e/kWh) | year | basis | source | note |",
        "|---|---:|---:|---|---|---|---|",
    ]
    for e in emissions:
        name = f"**{e.name}** ({who})" if e.own else e.name
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"{name}: {e.intensity.region}",
                    format_mass(e.gco2e),
                    f"{e.intensity.gco2_per_kWh:.4g}",
                    e.intensity.year or "unknown",
                    e.intensity.basis,
                    e.intensity.source,
                    e.note or "",
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _slug(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower() or "run"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _write_plots(
    runs: Sequence[RunReport], emissions: Sequence[Any], out_dir: Path, warn: Warn
) -> list[tuple[str, Path]]:
    """``(caption, path)`` of each PNG written; none (after one warning) without matplotlib."""
    try:
        import matplotlib  # noqa: F401  (the plots extra)
    except ImportError:
        warn("no plots: matplotlib is not installed (pip install 'lightning-carbon[plots]')")
        return []
    from lightning_carbon import plots

    written = []
    taken: set[str] = set()
    for run in runs:
        if not any(r.get("stage") == "train" for r in run.epochs):
            continue
        slug = _slug(run.label, taken)
        written.append(
            (
                f"Energy per epoch: {run.label}",
                plots.energy_plot(
                    run.epochs,
                    out_dir / f"{slug}-energy.png",
                    title=f"Energy per epoch: {run.label}",
                ),
            )
        )
        written.append(
            (
                f"Cumulative emissions: {run.label}",
                plots.carbon_plot(
                    run.epochs,
                    out_dir / f"{slug}-carbon.png",
                    title=f"Cumulative emissions: {run.label}",
                ),
            )
        )
    written.append(
        ("The same energy on other grids", plots.region_plot(emissions, out_dir / "regions.png"))
    )
    return written


def _plots_section(plots: Sequence[tuple[str, Path]]) -> str:
    if not plots:
        return ""
    images = (f"![{caption}]({path.name})" for caption, path in plots)
    return "## Plots\n\n" + "\n\n".join(images) + "\n"


def _warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return "## Warnings\n\n" + "\n".join(f"- {_cell(w)}" for w in warnings) + "\n"


# -- command line ---------------------------------------------------------------------------


def _regions_arg(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no region names in {text!r}")
    return names


def _report(args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"lightning-carbon report: warning: {message}", file=sys.stderr)

    report = build_report(args.run_dirs, args.out, args.regions, warn)
    if report is None:
        print(
            "lightning-carbon report: error: no valid run records in "
            f"{', '.join(map(str, args.run_dirs))} (each needs carbon/summary.json or "
            "carbon/epochs.jsonl)",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(
            "\n".join(
                [
                    _statement(report.total),
                    _runs_table(report.runs),
                    _regions_table(report.total, report.regions),
                    f"Report written to {report.markdown_path}",
                ]
            )
        )
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report``."""
    parser = subparsers.add_parser(
        "report", help="one carbon statement, table and plots for one or many runs"
    )
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="a run directory holding carbon/, or that carbon/ directory",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"where report.md and the plots go (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--regions",
        type=_regions_arg,
        default=None,
        help="comma-separated regions for the what-if table (default: DNK,EST,EU27,USA,WORLD)",
    )
    parser.set_defaults(func=_report)

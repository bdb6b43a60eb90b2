"""One run's records as the report reads them: its summary, its epoch records, its metric.

A run folder holds ``carbon/`` (``summary.json``, ``epochs.jsonl``) and, from Lightning's CSV
logger, ``metrics.csv`` and ``hparams.yaml``. Without a valid summary the totals are rebuilt
from the epoch records (and marked partial). Fields the records may or may not carry (a
``run_name``, ``metrics``, a whole-run total) are read with defaults, never required.

Example::

    run = load_run("lightning_logs/version_0", warn=print)
    run.summary["gco2e"], run.metric("val_dice"), run.fields()["precision"]
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.choice import IntensityChoice
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.records import RunRecords
from lightning_carbon.report.combine import common_or_effective_intensity, common_or_effective_pue
from lightning_carbon.report.validate import is_number, record_problem, summary_problem
from lightning_carbon.run_totals import STATE_VERSION, RunTotals

Warn = Callable[[str], None]

METRICS_CSV = "metrics.csv"
HPARAMS_YAML = "hparams.yaml"
OUTSIDE_EPOCHS = "outside_epochs"
FIT_STAGES = ("train", OUTSIDE_EPOCHS)
"""Records of the fit: its epochs, and (records of summary schema 2) the rest of the fit."""


class UnusableRun(RuntimeError):
    """A run folder with nothing the report can use; the message names it and says why."""


@dataclass
class RunReport:
    """One run's records as the report uses them.

    ``directory`` is the run folder (the one holding ``carbon/``). ``summary`` follows the
    ``summary.json`` schema; it is rebuilt from the epoch records when the run has no valid
    summary (``totals_from == "epochs.jsonl"``, and marked partial). ``label`` names the run in
    tables, plots and file names (see :mod:`lightning_carbon.report.labels`).
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

    @property
    def pue(self) -> float:
        """The PUE the run's emissions used (1.0 when the summary has none)."""
        return float((self.summary.get("pue") or {}).get("value", 1.0))

    def metric(self, name: str) -> float | None:
        """The run's value of ``name``: from the summary's ``metrics``, else the last value
        logged in ``metrics.csv`` next to ``carbon/``; ``None`` where neither has it."""
        metrics = self.summary.get("metrics")
        if isinstance(metrics, dict) and is_number(metrics.get(name)):
            return float(metrics[name])
        return self._logged_metrics.get(name)

    def fields(self) -> dict[str, Any]:
        """Values to label or group the run by: its folder ``name``, the hyperparameters in
        ``hparams.yaml``, the summary's plain fields (``precision``, ``epochs``...) and its
        ``labels``, later ones winning."""
        summary = {k: v for k, v in self.summary.items() if _plain(v)}
        labels = self.summary.get("labels")
        return {
            "name": self.directory.name,
            **self._hparams,
            **summary,
            **({k: v for k, v in labels.items() if _plain(v)} if isinstance(labels, dict) else {}),
        }

    def row(self, metric: str | None = None) -> dict[str, Any]:
        """The run's line of the report, JSON-ready (with ``metric``'s value when named)."""
        s = self.summary
        row = {
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
            "precision": s.get("precision"),
            "provenance": s.get("provenance"),
            "intensity": s.get("intensity", {}),
        }
        if metric:
            row[metric] = self.metric(metric)
        return row

    @functools.cached_property
    def _logged_metrics(self) -> dict[str, float]:
        """The last numeric value of each column of ``metrics.csv`` (empty without one)."""
        path = self.directory / METRICS_CSV
        last: dict[str, float] = {}
        try:
            with path.open(newline="", encoding="utf-8") as stream:
                for line in csv.DictReader(stream):
                    last.update((k, float(v)) for k, v in line.items() if k and _float_text(v))
        except (OSError, UnicodeDecodeError, csv.Error):
            return {}
        return last

    @functools.cached_property
    def _hparams(self) -> dict[str, Any]:
        path = self.directory / HPARAMS_YAML
        if not path.is_file():
            return {}
        import yaml  # PyYAML comes with Lightning; only needed where hparams.yaml exists

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return {}
        return {k: v for k, v in data.items() if _plain(v)} if isinstance(data, dict) else {}


def load_run(path: str | Path, warn: Warn) -> RunReport:
    """Read one run; raise :class:`UnusableRun` (naming the folder) when nothing usable is there.

    ``path`` is a run folder holding ``carbon/``, or the ``carbon`` folder itself. A malformed
    summary or epoch record is named through ``warn`` and left out; the run is then rebuilt
    from what remains.

    Example::

        >>> import tempfile
        >>> load_run(tempfile.mkdtemp(), warn=print)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lightning_carbon.report.runs.UnusableRun: ...: no carbon/summary.json or carbon/epochs.jsonl
    """
    given = Path(path)
    if not given.is_dir():
        raise UnusableRun(f"{given}: no such directory")
    records = _records_of(given)
    if records is None:
        raise UnusableRun(f"{given}: no carbon/summary.json or carbon/epochs.jsonl")
    run_dir = records.directory.parent
    epochs = _read_epochs(records, warn)
    summary = _read_summary(records.summary_path, warn)
    if summary is not None:
        return RunReport(run_dir.name, run_dir, summary, epochs)
    if not epochs:
        raise UnusableRun(f"{given}: no valid summary.json and no valid epoch records")
    rebuilt = rebuild_summary(epochs, records.epochs_path)
    return RunReport(run_dir.name, run_dir, rebuilt, epochs, totals_from="epochs.jsonl")


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
    problem = summary_problem(data)
    if problem:
        warn(f"skipped {path}: {problem}")
        return None
    return data


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
        problem = record_problem(record)
        if problem:
            warn(f"skipped record {index} of {path}: {problem}")
        else:
            valid.append(record)
    return valid


def rebuild_summary(epochs: list[dict[str, Any]], source: Path) -> dict[str, Any]:
    """Summary fields from valid epoch records alone, by the run's own bookkeeping: the fit is
    the training epochs and the records of energy outside them; other stages are inference.
    Intensity and PUE are those the records share, or their effective means."""
    stages: dict[str, dict[str, Any]] = {}
    for record in epochs:
        stage = str(record.get("stage"))
        if stage not in FIT_STAGES:
            before = stages.get(stage, {"runs": 0, "partial": False})
            stages[stage] = {
                "runs": before["runs"] + 1,
                "partial": before["partial"] or bool(record.get("partial")),
                "reason": None,
            }
    totals = RunTotals(resolve_pue(None))
    totals.load_state_dict({"version": STATE_VERSION, "records": epochs, "stages": stages})
    intensity = CarbonIntensity(**epochs[-1]["intensity"])
    summary = totals.summary(
        intensity=IntensityChoice(intensity, None),
        precision="unknown",
        sensors=[],
        world_size=1,
        num_nodes=1,
    )
    summary.pop("started_utc")
    summary.pop("ended_utc")
    return {
        **summary,
        "partial": True,
        "reason": f"no valid summary.json; totals rebuilt from {len(epochs)} records of {source}",
        "intensity": common_or_effective_intensity(
            [r["intensity"] for r in epochs], summary["gco2e"], summary["facility_energy_kWh"]
        ),
        "pue": common_or_effective_pue(
            [{"value": r["pue"], "source": "as recorded in epochs.jsonl"} for r in epochs],
            summary["energy_kWh"],
            summary["facility_energy_kWh"],
        ),
    }


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _float_text(text: str | None) -> bool:
    try:
        return text is not None and is_number(float(text))
    except ValueError:
        return False

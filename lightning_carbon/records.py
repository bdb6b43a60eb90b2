"""Records that nothing can lose: one JSON line per epoch, a versioned summary, the statement.

Layout under an output directory::

    carbon/epochs.jsonl    one record per finished epoch (or test/predict run), flushed at once
    carbon/summary.json    totals, provenance, intensity, PUE, hardware (schema below)
    carbon/statement.md    the carbon statement in words

Example::

    >>> import tempfile
    >>> records = RunRecords(tempfile.mkdtemp())
    >>> records.append_epoch({"stage": "train", "epoch": 0, "energy_kWh": 0.5})
    >>> [r["epoch"] for r in records.read_epochs()]
    [0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

EPOCH_SCHEMA = "lightning-carbon/epoch/2"
SUMMARY_SCHEMA = "lightning-carbon/summary/2"


class RunRecords:
    """Writes and reads the files of one run under ``<output_dir>/carbon``."""

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.directory = Path(output_dir) / "carbon"

    @property
    def epochs_path(self) -> Path:
        """``epochs.jsonl``."""
        return self.directory / "epochs.jsonl"

    @property
    def summary_path(self) -> Path:
        """``summary.json``."""
        return self.directory / "summary.json"

    @property
    def statement_path(self) -> Path:
        """``statement.md``."""
        return self.directory / "statement.md"

    def append_epoch(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line and flush it to disk before returning."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.epochs_path.open("a", encoding="utf-8") as stream:
            stream.write(_epoch_line(record))
            stream.flush()
            os.fsync(stream.fileno())

    def rewrite_epochs(self, records: list[dict[str, Any]]) -> None:
        """Replace ``epochs.jsonl`` atomically by ``records`` (a resume from any checkpoint)."""
        self._write_atomically(self.epochs_path, "".join(map(_epoch_line, records)))

    def read_epochs(self) -> list[dict[str, Any]]:
        """All epoch records; a torn last line (a crash mid-write) is skipped."""
        if not self.epochs_path.exists():
            return []
        records = []
        for line in self.epochs_path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically (a reader never sees half a file)."""
        self._write_atomically(
            self.summary_path,
            json.dumps({"schema": SUMMARY_SCHEMA, **summary}, indent=2, sort_keys=True),
        )

    def write_statement(self, text: str) -> None:
        """Write ``statement.md`` atomically."""
        self._write_atomically(self.statement_path, text)

    def _write_atomically(self, path: Path, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(
            text if not text or text.endswith("\n") else text + "\n", encoding="utf-8"
        )
        os.replace(partial, path)


def _epoch_line(record: dict[str, Any]) -> str:
    """One line of ``epochs.jsonl``: the record with its schema, keys sorted."""
    return json.dumps({"schema": EPOCH_SCHEMA, **record}, sort_keys=True) + "\n"

"""The reference tables shipped with the package (see ``SOURCES.md`` next to them).

Example::

    >>> rows = read_csv_rows("pue.csv")
    >>> rows[0]["year"], sorted(rows[0])[:2]
    ('2007', ['avg_pue', 'source'])
"""

from __future__ import annotations

import csv
import io
from importlib import resources


def read_csv_rows(name: str) -> list[dict[str, str]]:
    """The rows of the package CSV ``name`` as dicts keyed by the header; a fresh list each call.

    Raises ``FileNotFoundError`` for a name the package does not ship.
    """
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))

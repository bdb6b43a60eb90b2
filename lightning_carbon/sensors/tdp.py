"""CPU thermal design power (TDP) by model name, from the shipped ``data/cpu_tdp.csv``.

Only a name with a model number can match: an exact match of normalised names, or the
longest table row with a model number whose words all appear, in order, in the CPU's name.
A family name alone ("AMD EPYC", what many VMs report) says nothing about one chip's power,
so it gets no TDP: the estimate then uses per-CPU coefficients by microarchitecture
(:mod:`lightning_carbon.sensors.architecture`). Matches are cached per name, and only the
rows that contain one of the name's model numbers are normalised, so a look-up costs about
2 ms cold.

Example::

    >>> match_cpu_tdp("AMD EPYC 7232P 8-Core Processor").tdp_W
    120.0
    >>> match_cpu_tdp("AMD EPYC") is None
    True
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from dataclasses import dataclass
from typing import Literal

from lightning_carbon.data import read_csv_rows

MatchQuality = Literal["exact", "partial", "override"]

_NOISE = re.compile(
    r"\((?:r|tm|c)\)"  # trademark signs
    r"|@\s*[\d.]+\s*[gm]hz"  # nominal frequency
    r"|\b(?:\d+|dual|quad|six|eight)-core\b"
    r"|\b(?:with|w/)\s+radeon\b.*$"  # integrated graphics
    r"|\bcpu\b|\bprocessor\b",
    re.IGNORECASE,
)
_MIN_MODEL_CHARS = 3
"""A model number has at least 3 characters ("e8400", "6248r"); "2" in "Core 2" is not one."""


@dataclass(frozen=True)
class TdpMatch:
    """The TDP chosen for a CPU model and how it was found.

    ``quality`` is ``"exact"`` (normalised names equal), ``"partial"`` (a table row's name is
    contained in the CPU's) or ``"override"`` (given by the user); ``row_name`` is the
    matched table row (``None`` for an override).
    """

    cpu_name: str
    row_name: str | None
    tdp_W: float
    quality: MatchQuality
    detail: str


def normalise_cpu_name(name: str) -> str:
    """A CPU model name without trademarks, frequency, core count and filler words, lowercase.

    Example::

        >>> normalise_cpu_name("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz")
        'intel xeon gold 6248r'
    """
    return " ".join(_NOISE.sub(" ", name).split()).casefold()


def model_numbers(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The words of a normalised name that look like model numbers (a digit, 3+ characters).

    Example::

        >>> model_numbers(("intel", "core", "2", "duo", "e8400"))
        ('e8400',)
    """
    return tuple(t for t in tokens if len(t) >= _MIN_MODEL_CHARS and any(c.isdigit() for c in t))


def match_cpu_tdp(cpu_name: str) -> TdpMatch | None:
    """The TDP in W of the CPU model ``cpu_name`` from the shipped table.

    Returns ``None`` when the name has no model number in the table.

    Example::

        >>> match_cpu_tdp("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz").detail
        "exact match with table row 'Intel Xeon Gold 6248R'"
    """
    return _match_in_table(cpu_name)


def check_tdp(value: float) -> float:
    """``value`` as a float if it is a finite number of W > 0; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"cpu_tdp_w must be a number of W > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cpu_tdp_w must be a finite number of W > 0, got {value!r}")
    return float(value)


@functools.cache
def _match_in_table(cpu_name: str) -> TdpMatch | None:
    tokens = tuple(normalise_cpu_name(cpu_name).split())
    numbers_in_name = model_numbers(tokens)
    if not numbers_in_name:
        return None
    candidates = [
        (name, tuple(normalise_cpu_name(name).split()), tdp_W)
        for name, lowered, tdp_W in _table()
        if any(number in lowered for number in numbers_in_name)
    ]
    for name, row_tokens, tdp_W in candidates:
        if row_tokens == tokens:
            return TdpMatch(cpu_name, name, tdp_W, "exact", f"exact match with table row {name!r}")
    best: tuple[str, tuple[str, ...], float] | None = None
    for row in candidates:
        longer = best is None or len(row[1]) > len(best[1])
        if longer and model_numbers(row[1]) and words_in_order(row[1], tokens):
            best = row
    if best is None:
        return None
    return TdpMatch(
        cpu_name, best[0], best[2], "partial", f"partial match with table row {best[0]!r}"
    )


def words_in_order(needles: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    """Whether every word of ``needles`` occurs in ``haystack``, in the same order.

    Example::

        >>> words_in_order(("gold", "6142"), ("intel", "xeon", "gold", "6142"))
        True
    """
    remaining = iter(haystack)
    return all(needle in remaining for needle in needles)


@functools.cache
def _table() -> tuple[tuple[str, str, float], ...]:
    """``(name, name in lower case, TDP in W)`` per row; rows without a positive TDP (a few
    typos) are skipped."""
    rows = []
    for row in read_csv_rows("cpu_tdp.csv"):
        name, tdp = row["Name"], row["TDP"]
        try:
            tdp_W = float(tdp)
        except ValueError:
            continue
        if tdp_W > 0 and name.strip():
            rows.append((name, name.casefold(), tdp_W))
    return tuple(rows)

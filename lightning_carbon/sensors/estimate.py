"""Estimated CPU and DRAM energy, for when no hardware counter can be read.

CPU: ``energy_J = TDP_W x busy_s / n_logical_cpus``, where ``busy_s`` is the system-wide
busy CPU time since :meth:`CpuTdpSensor.start` (``psutil.cpu_times()``: every field except
``idle`` and ``iowait``, with ``guest``/``guest_nice`` not counted twice, as they are already
in ``user``/``nice`` on Linux). So the power is the TDP times the system CPU utilisation.
The TDP comes from ``data/cpu_tdp.csv`` by CPU model name (see :func:`match_cpu_tdp`) or from
the user. It counts every process on the machine (in a container: usually the whole host).

DRAM: ``power_W = installed GB x 0.3725 W/GB`` (:data:`DRAM_W_PER_GB`), constant while metered.

Both sensors have provenance ``"estimated"`` and say so in their description.

Example::

    >>> match_cpu_tdp("AMD EPYC 7232P 8-Core Processor").tdp_W
    120.0
    >>> match_cpu_tdp("AMD EPYC").quality
    'family'
"""

from __future__ import annotations

import functools
import math
import numbers
import platform
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from lightning_carbon.data import read_csv_rows
from lightning_carbon.sensors.base import Sensor, SensorUnavailable

DRAM_W_PER_GB = 0.3725
DRAM_W_PER_GB_SOURCE = (
    "0.3725 W per GB of memory, as used by the Green Algorithms calculator, citing Karyakin & "
    "Salem, 'An analysis of memory power consumption in database systems', DaMoN 2017"
)
BYTES_PER_GB = 2**30
"""Memory is sold in binary gigabytes: a "64 GB" machine has 64 x 2**30 bytes."""

MatchQuality = Literal["exact", "partial", "family", "none", "override"]

_NOISE = re.compile(
    r"\((?:r|tm|c)\)"  # trademark signs
    r"|@\s*[\d.]+\s*[gm]hz"  # nominal frequency
    r"|\b(?:\d+|dual|quad|six|eight)-core\b"
    r"|\b(?:with|w/)\s+radeon\b.*$"  # integrated graphics
    r"|\bcpu\b|\bprocessor\b",
    re.IGNORECASE,
)
_MIN_FAMILY_TOKENS = 2
"""A family is at least vendor + line ("AMD EPYC"): "AMD" alone says nothing about power."""


@dataclass(frozen=True)
class TdpMatch:
    """The TDP chosen for a CPU model and how it was found.

    ``quality`` is ``"exact"`` (normalised names equal), ``"partial"`` (a table row's name is
    contained in the CPU's), ``"family"`` (median of the rows of a family such as "AMD EPYC"),
    ``"none"`` (median of the whole table) or ``"override"`` (given by the user).
    ``row_name`` is the matched table row (``None`` for medians and overrides).
    """

    cpu_name: str
    row_name: str | None
    tdp_W: float
    quality: MatchQuality
    detail: str


@dataclass(frozen=True)
class _Row:
    name: str
    tokens: tuple[str, ...]  # normalised
    tdp_W: float


def normalise_cpu_name(name: str) -> str:
    """A CPU model name without trademarks, frequency, core count and filler words, lowercase.

    Example::

        >>> normalise_cpu_name("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz")
        'intel xeon gold 6248r'
    """
    return _clean(name).casefold()


def read_cpu_name(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU model name: ``model name`` in ``/proc/cpuinfo``, else ``platform.processor()``.

    Returns ``""`` when neither says anything.
    """
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor().strip()


def installed_memory_GB() -> float:
    """Installed memory in (binary) GB, from ``psutil.virtual_memory().total``."""
    return psutil.virtual_memory().total / BYTES_PER_GB


def match_cpu_tdp(cpu_name: str, *, override_W: float | None = None) -> TdpMatch:
    """The TDP in W of the CPU model ``cpu_name`` from the shipped table, or ``override_W``.

    Tries, in order: an exact match of normalised names; the longest table row whose name's
    words all appear, in order, in the CPU's name (rows with a model number only); the median
    of the rows starting with the CPU's family (the longest leading words, at least two, that
    start some row: a virtual machine reporting "AMD EPYC"); the median of the whole table.

    Example::

        >>> match_cpu_tdp("AMD EPYC").detail
        "family match: median of 148 rows starting with 'AMD EPYC'"
        >>> match_cpu_tdp("anything", override_W=95).quality
        'override'
    """
    if override_W is not None:
        return TdpMatch(cpu_name, None, _check_tdp(override_W), "override", "user-given TDP")
    return _match_in_table(cpu_name)


@functools.cache
def _match_in_table(cpu_name: str) -> TdpMatch:
    """:func:`match_cpu_tdp` without override; cached, as each meter set-up asks again."""
    rows = _tdp_table()
    cleaned = _clean(cpu_name).split()
    tokens = tuple(token.casefold() for token in cleaned)
    exact = next((row for row in rows if row.tokens == tokens), None) if tokens else None
    if exact is not None:
        return TdpMatch(
            cpu_name, exact.name, exact.tdp_W, "exact", f"exact match with table row {exact.name!r}"
        )
    partial = _longest_contained_row(rows, tokens)
    if partial is not None:
        return TdpMatch(
            cpu_name,
            partial.name,
            partial.tdp_W,
            "partial",
            f"partial match with table row {partial.name!r}",
        )
    for length in range(len(tokens), _MIN_FAMILY_TOKENS - 1, -1):
        family = [row.tdp_W for row in rows if row.tokens[:length] == tokens[:length]]
        if family:
            return TdpMatch(
                cpu_name,
                None,
                statistics.median(family),
                "family",
                f"family match: median of {len(family)} rows starting with "
                f"{' '.join(cleaned[:length])!r}",
            )
    return TdpMatch(
        cpu_name,
        None,
        statistics.median(row.tdp_W for row in rows),
        "none",
        f"no match in the TDP table: median of all {len(rows)} rows",
    )


class CpuTdpSensor(Sensor):
    """CPU energy estimated as TDP x system-wide CPU utilisation (see the module docstring).

    Args:
        cpu_tdp_w: the CPU's TDP in W, replacing the table look-up.
        cpu_name: the CPU model name; ``None`` reads it with :func:`read_cpu_name`.
        cpu_times: returns system-wide CPU times in seconds as a named tuple
            (default ``psutil.cpu_times``).
        n_cpus: logical CPUs counted by ``cpu_times``; ``None`` asks psutil.

    Example::

        sensor = CpuTdpSensor()
        sensor.start(); ...; sensor.energy_J()
        print(sensor.description)   # cpu: TDP estimate 120 W x utilisation, AMD EPYC 7232P ...
    """

    component = "cpu"
    device = "cpu"
    provenance = "estimated"

    def __init__(
        self,
        *,
        cpu_tdp_w: float | None = None,
        cpu_name: str | None = None,
        cpu_times: Callable[[], Any] = psutil.cpu_times,
        n_cpus: int | None = None,
    ) -> None:
        name = read_cpu_name() if cpu_name is None else cpu_name
        self.match = match_cpu_tdp(name, override_W=cpu_tdp_w)
        count = psutil.cpu_count(logical=True) if n_cpus is None else n_cpus
        if count is None:
            raise SensorUnavailable("cpu: the number of logical CPUs is unknown")
        if count < 1:
            raise ValueError(f"n_cpus must be >= 1, got {n_cpus!r}")
        self._n_cpus = count
        self._cpu_times = cpu_times
        self.description = (
            f"cpu: TDP estimate {self.match.tdp_W:g} W x utilisation, "
            f"{name or 'unknown CPU'}, {self.match.detail} (estimated)"
        )
        self._lock = threading.Lock()
        self._zero_busy_s: float | None = None
        self._last_J = 0.0

    def start(self) -> None:
        """Take the zero point of the busy CPU time."""
        with self._lock:
            self._zero_busy_s = self._busy_s()
            self._last_J = 0.0

    def energy_J(self) -> float:
        """Estimated joules since :meth:`start`; never decreases."""
        with self._lock:
            if self._zero_busy_s is None:
                raise RuntimeError("cpu: call start() before energy_J()")
            busy_s = self._busy_s() - self._zero_busy_s
            # the kernel's counters can step back a little: keep the total monotonic
            self._last_J = max(self._last_J, self.match.tdp_W * busy_s / self._n_cpus)
            return self._last_J

    def _busy_s(self) -> float:
        try:
            times = self._cpu_times()._asdict()
        except (OSError, psutil.Error) as error:
            raise SensorUnavailable(f"cpu: cannot read CPU times ({error})") from error
        not_busy = ("idle", "iowait", "guest", "guest_nice")
        return sum(seconds for field, seconds in times.items() if field not in not_busy)


class DramSensor(Sensor):
    """DRAM energy estimated as installed GB x :data:`DRAM_W_PER_GB` x elapsed time.

    Args:
        memory_GB: installed memory in GB; ``None`` asks psutil (:func:`installed_memory_GB`).
        clock: monotonic clock in seconds.

    Example::

        >>> sensor = DramSensor(memory_GB=64)
        >>> sensor.power_W
        23.84
    """

    component = "dram"
    device = "dram"
    provenance = "estimated"

    def __init__(
        self, *, memory_GB: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        size_GB = installed_memory_GB() if memory_GB is None else memory_GB
        if not math.isfinite(size_GB) or size_GB <= 0:
            raise ValueError(f"memory_GB must be a finite number > 0, got {memory_GB!r}")
        self.power_W = size_GB * DRAM_W_PER_GB
        self.description = (
            f"dram: estimate {size_GB:.3g} GB x {DRAM_W_PER_GB} W/GB = {self.power_W:.3g} W "
            "(estimated)"
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._start_s: float | None = None

    def start(self) -> None:
        """Take the zero point of the clock."""
        with self._lock:
            self._start_s = self._clock()

    def energy_J(self) -> float:
        """Estimated joules since :meth:`start`."""
        with self._lock:
            if self._start_s is None:
                raise RuntimeError("dram: call start() before energy_J()")
            return self.power_W * (self._clock() - self._start_s)


def _clean(name: str) -> str:
    return " ".join(_NOISE.sub(" ", name).split())


def _check_tdp(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"cpu_tdp_w must be a number of W > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cpu_tdp_w must be a finite number of W > 0, got {value!r}")
    return float(value)


def _longest_contained_row(rows: tuple[_Row, ...], tokens: tuple[str, ...]) -> _Row | None:
    """The longest row with a model number whose words all occur in ``tokens``, in order."""
    best: _Row | None = None
    for row in rows:
        if best is not None and len(row.tokens) <= len(best.tokens):
            continue
        if any(ch.isdigit() for ch in "".join(row.tokens)) and _in_order(row.tokens, tokens):
            best = row
    return best


def _in_order(needles: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    remaining = iter(haystack)
    return all(needle in remaining for needle in needles)


@functools.cache
def _tdp_table() -> tuple[_Row, ...]:
    """The TDP table, normalised; rows without a positive number (a few typos) are skipped."""
    rows = []
    for row in read_csv_rows("cpu_tdp.csv"):
        try:
            tdp_W = float(row["TDP"])
        except ValueError:
            continue
        tokens = tuple(normalise_cpu_name(row["Name"]).split())
        if tdp_W > 0 and tokens:
            rows.append(_Row(row["Name"], tokens, tdp_W))
    return tuple(rows)

"""CPU packages and DRAM through the RAPL energy counters of the Linux powercap sysfs tree.

Intel CPUs, and AMD Zen CPUs (same kernel driver, same names), expose one zone per package
under ``/sys/class/powercap``::

    intel-rapl:0/                  name "package-0" (or "package-0-die-1")
    intel-rapl:0/intel-rapl:0:0/   name "core", "uncore" or "dram"
    intel-rapl:1/                  name "package-1", or "psys" (the whole platform)

each with ``energy_uj`` (a counter in microjoules) and ``max_energy_range_uj`` (where it wraps).
Counted: every package zone and its ``dram`` subzone, one sensor each. Not counted, because
they would count energy twice: ``core`` and ``uncore`` (inside the package), ``psys`` (the
whole platform, packages included) and ``intel-rapl-mmio:*`` (a second interface to the
same package counter).

Since Linux 5.10 ``energy_uj`` is readable by root only, and containers often hide the tree:
then :func:`discover_rapl` returns no sensors and says why in ``reason``.

Example::

    found = discover_rapl()
    found.components    # {'cpu', 'dram'}: what RAPL meters here; estimate the rest
    found.reason        # None, or e.g. 'permission denied reading .../energy_uj, ...'
    for choice in found.choices:
        print(choice.line)   # cpu:package-0: RAPL package counter (measured)
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lightning_carbon.sensors.base import Sensor, SensorChoice, SensorUnavailable

DEFAULT_ROOT = "/sys/class/powercap"
POLL_INTERVAL_S = 1.0
"""At most 1 s between counter reads: a wrap takes over a minute even at 1 kW."""
MAX_ZONE_POWER_W = 1000.0
"""No package or DRAM zone draws more: a faster apparent rise is a reset, not a wrap."""

_PACKAGE_ZONE = re.compile(r"intel-rapl:(\d+)")
_PACKAGE_NAME = re.compile(r"package-\d+(?:-die-\d+)?")
_DOMAIN_BY_COMPONENT = {"cpu": "package", "dram": "dram"}


class RaplSensor(Sensor):
    """Energy of one RAPL zone (a package or its DRAM), wrap-corrected.

    The meter's poller calls :meth:`poll` every :data:`POLL_INTERVAL_S`; each read adds the
    energy since the previous read, in integer microjoules, to the total. :meth:`energy_J`
    reads too, so window edges are exact. When the counter is lower than at the previous
    read, ``E_max = MAX_ZONE_POWER_W x elapsed time`` decides what happened:

    - a **wrap** if the energy it implies, ``max_range - last + now``, is at most ``E_max``:
      that is counted (the kernel's modulus is one energy unit, tens of uJ, above
      ``max_energy_range_uj``; that unit per wrap is not counted);
    - else a **reset** (the counter restarted from 0: driver reload, resume) if ``now`` is at
      most ``E_max``: ``now`` is counted;
    - else neither explains it: nothing is counted and reading resumes from ``now``.

    A wrap right after a reset near the top of the range is taken for a wrap (the error is
    at most ``E_max``). Several wraps between two reads cannot be seen: windows are exact
    as long as the counter is read at least once per wrap.

    Args:
        zone_dir: the zone's sysfs directory.
        component: ``"cpu"`` (package zone) or ``"dram"``.
        package: the package's zone name; the device is ``"<component>:<package>"``.
        clock: monotonic clock in seconds.

    Raises :class:`SensorUnavailable` when the zone cannot be read.

    Example::

        sensor = RaplSensor("/sys/class/powercap/intel-rapl:0", component="cpu",
                            package="package-0")
        sensor.start(); ...; sensor.energy_J()
    """

    provenance = "measured"
    poll_interval_s = POLL_INTERVAL_S
    node_wide = True

    def __init__(
        self,
        zone_dir: str | os.PathLike[str],
        *,
        component: str,
        package: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if component not in _DOMAIN_BY_COMPONENT:
            raise ValueError(f"component must be 'cpu' or 'dram', got {component!r}")
        self.component = component
        self.device = f"{component}:{package}"
        self.description = (
            f"{self.device}: RAPL {_DOMAIN_BY_COMPONENT[component]} counter (measured)"
        )
        zone = Path(zone_dir)
        self._counter_path = zone / "energy_uj"
        range_path = zone / "max_energy_range_uj"
        self.max_range_uJ = _read_int(range_path)
        if self.max_range_uJ <= 0:
            raise SensorUnavailable(f"{range_path} holds {self.max_range_uJ}, not a range > 0")
        _read_int(self._counter_path)  # fail at discovery, not in the middle of a run
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, int] | None = None  # (time_s, counter_uJ) of the last read
        self._total_uJ = 0

    def start(self) -> None:
        """Take the zero point."""
        with self._lock:
            self._last = (self._clock(), _read_int(self._counter_path))
            self._total_uJ = 0

    def poll(self) -> None:
        """Read the counter and add the energy since the last read."""
        with self._lock:
            self._advance()

    def energy_J(self) -> float:
        """Joules since :meth:`start`, including a fresh read."""
        with self._lock:
            self._advance()
            return self._total_uJ / 1e6

    def _advance(self) -> None:
        if self._last is None:
            raise RuntimeError(f"{self.device}: call start() before reading")
        counter_uJ = _read_int(self._counter_path)
        now_s = self._clock()
        last_s, last_uJ = self._last
        self._total_uJ += _energy_since_uJ(
            last_uJ, counter_uJ, self.max_range_uJ, MAX_ZONE_POWER_W * (now_s - last_s) * 1e6
        )
        self._last = (now_s, counter_uJ)


@dataclass(frozen=True)
class RaplDiscovery:
    """What RAPL can meter on this machine.

    ``components`` holds ``"cpu"`` and/or ``"dram"`` when every zone of that kind was
    readable; the caller estimates the others. ``reason`` says why a zone (or the whole
    tree) could not be used, ``None`` when nothing went wrong. ``choices`` has one line per
    sensor; when RAPL is unavailable it is empty, so the caller's fallback line can quote
    ``reason``.
    """

    sensors: list[Sensor] = field(default_factory=list)
    choices: list[SensorChoice] = field(default_factory=list)
    components: frozenset[str] = frozenset()
    reason: str | None = None


def discover_rapl(
    root: str | os.PathLike[str] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> RaplDiscovery:
    """Sensors for the readable package and DRAM zones under the powercap tree ``root``.

    ``root=None`` means :data:`DEFAULT_ROOT`, which may be absent (not Linux, or hidden in a
    container): then RAPL is unavailable. A ``root`` given explicitly must be a directory.
    A component whose zones are not all readable is left out (with ``reason``), so it is
    estimated as a whole rather than measured on some sockets only.

    Raises:
        ValueError: ``root`` was given and is not an existing directory.

    Example::

        found = discover_rapl("/host/sys/class/powercap")    # a bind-mounted host tree
        if "dram" not in found.components:
            print(f"dram: estimated ({found.reason or 'no RAPL dram zone'})")
    """
    tree = Path(DEFAULT_ROOT if root is None else root)
    if not tree.is_dir():
        if root is not None:
            raise ValueError(f"powercap root {os.fspath(root)!r} is not an existing directory")
        return RaplDiscovery(
            reason=f"no powercap tree at {tree}: not Linux, or hidden in a container"
        )
    sensors: list[Sensor] = []
    failures: dict[str, str] = {}  # component -> first reason
    try:
        for zone_dir, component, package in _counted_zones(tree):
            try:
                sensors.append(
                    RaplSensor(zone_dir, component=component, package=package, clock=clock)
                )
            except SensorUnavailable as error:
                failures.setdefault(component, str(error))
    except SensorUnavailable as error:  # the tree itself cannot be listed or named
        return RaplDiscovery(reason=str(error))
    if not sensors and not failures:
        return RaplDiscovery(reason=f"no RAPL package zone in {tree}")
    kept = [sensor for sensor in sensors if sensor.component not in failures]
    return RaplDiscovery(
        sensors=kept,
        choices=[SensorChoice(s.component, s.device, s.provenance, s.description) for s in kept],
        components=frozenset(sensor.component for sensor in kept),
        reason="; ".join(failures.values()) or None,
    )


def _counted_zones(tree: Path) -> Iterator[tuple[Path, str, str]]:
    """``(zone_dir, component, package name)`` of each package zone and its dram subzone."""
    for index, zone_dir in _numbered(tree, _PACKAGE_ZONE):
        package = _read_text(zone_dir / "name")
        if not _PACKAGE_NAME.fullmatch(package):  # psys, or a zone this module does not know
            continue
        yield zone_dir, "cpu", package
        for _, sub_dir in _numbered(zone_dir, re.compile(rf"intel-rapl:{index}:(\d+)")):
            if _read_text(sub_dir / "name") == "dram":
                yield sub_dir, "dram", package


def _numbered(parent: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """Entries of ``parent`` whose whole name matches ``pattern``, by its number group."""
    try:
        names = [entry.name for entry in parent.iterdir()]
    except OSError as error:
        raise SensorUnavailable(_unreadable(parent, error)) from error
    found = [(int(m.group(1)), parent / m.group()) for m in map(pattern.fullmatch, names) if m]
    return sorted(found)


def _energy_since_uJ(last_uJ: int, now_uJ: int, max_range_uJ: int, ceiling_uJ: float) -> int:
    """Energy between two counter reads (the rule in :class:`RaplSensor`'s docstring)."""
    if now_uJ >= last_uJ:
        return now_uJ - last_uJ
    wrapped_uJ = max_range_uJ - last_uJ + now_uJ
    if wrapped_uJ <= ceiling_uJ:
        return wrapped_uJ
    if now_uJ <= ceiling_uJ:
        return now_uJ
    return 0


def _read_int(path: Path) -> int:
    text = _read_text(path)
    try:
        return int(text)
    except ValueError:
        raise SensorUnavailable(f"{path} holds {text!r}, not an integer") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as error:
        raise SensorUnavailable(_unreadable(path, error)) from error


def _unreadable(path: Path, error: OSError) -> str:
    if isinstance(error, PermissionError):
        note = ", root-only since Linux 5.10" if path.name == "energy_uj" else ""
        return f"permission denied reading {path}{note}"
    return f"cannot read {path}: {error.strerror or error}"

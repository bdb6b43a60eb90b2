"""The one protocol every energy source follows.

A sensor reports the **cumulative energy in joules** its device used since the sensor was
started, with where the number comes from (its provenance). The meter subtracts two readings
to get a window's energy; sensors never reset.

Example::

    >>> class Constant(Sensor):
    ...     component, device, provenance = "cpu", "cpu", "estimated"
    ...     def energy_J(self) -> float:
    ...         return 42.0
    >>> Constant().energy_J()
    42.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Provenance = Literal["measured", "polled", "estimated"]
Component = Literal["gpu", "cpu", "dram"]

PROVENANCES: tuple[str, ...] = ("measured", "polled", "estimated")
COMPONENTS: tuple[str, ...] = ("gpu", "cpu", "dram")


class SensorUnavailable(RuntimeError):
    """The source cannot be read (absent, unsupported, permission denied); ``str()`` says why."""


class Sensor:
    """Base class of all energy sources.

    Subclasses set ``component`` (``"gpu"``, ``"cpu"`` or ``"dram"``), ``device`` (a label
    unique among the sensors of a meter, e.g. ``"gpu:0"`` or ``"cpu:package-0"``),
    ``provenance`` and ``description`` (one readable line for the user), and implement
    :meth:`energy_J`. Sensors that must be sampled set ``poll_interval_s`` and implement
    :meth:`poll`; the meter's single background thread calls it.

    ``node_wide`` sensors (RAPL, the CPU and DRAM estimates) read energy shared by every
    process on the machine; the meter attributes it to the job by CPU time. ``shared`` says
    why a device's energy is not this machine's or job's alone (a RAPL counter seen in a VM),
    ``None`` when nothing is known against it; :meth:`device_pids` lists the processes using
    the device, where the hardware tells (NVML).
    """

    component: str
    device: str
    provenance: str
    description: str = ""
    poll_interval_s: float | None = None
    node_wide: bool = False
    shared: str | None = None

    def start(self) -> None:
        """Take the zero point. Called once by the meter before the first reading."""

    def energy_J(self) -> float:
        """Cumulative energy in joules since :meth:`start`; raises :class:`SensorUnavailable`."""
        raise NotImplementedError

    def poll(self) -> None:
        """Sample the device (only for sensors with ``poll_interval_s``)."""

    def close(self) -> None:
        """Release handles; the sensor is not read again."""

    def device_pids(self) -> set[int] | None:
        """PIDs of the processes using the device now; ``None`` when unknown."""
        return None


@dataclass(frozen=True)
class SensorChoice:
    """What discovery decided for one device, as data and as one readable line.

    ``provenance`` is ``None`` when nothing could be metered for the device. ``model`` is the
    estimate's formula, coefficients and source (JSON-ready; ``None`` for counters);
    ``shared`` says why the device's energy is not the job's alone (``None``: nothing known).

    Example::

        >>> SensorChoice("cpu", "cpu", "estimated", "cpu: TDP estimate 65 W (estimated)").line
        'cpu: TDP estimate 65 W (estimated)'
    """

    component: str
    device: str
    provenance: str | None
    line: str
    model: dict[str, Any] | None = None
    shared: str | None = None

"""Estimated CPU and DRAM energy, for when no hardware counter can be read.

CPU: the linear model chosen by what the machine is (:mod:`~lightning_carbon.sensors.cpu_power`)
over the CPUs this process may use (:mod:`~lightning_carbon.sensors.scope`)::

    energy_J = n x min x seconds + (max - min) x busy CPU seconds

where the busy CPU seconds of a step are at most ``n x`` its seconds (a counter cannot make
the CPUs busier than full). A window with only steal time has no busy time: it gets the idle
floor ``n x min x seconds`` and nothing more.

DRAM: ``power_W = GB x 0.392 W/GB`` (Cloud Carbon Footprint's memory coefficient), constant
while metered, over the scope's memory (a cgroup's limit, or the CPU share of the machine's).

Both sensors are ``node_wide`` (the whole scope's energy, shared by every process on it): the
meter attributes them to the job by its share of the busy CPU time.

Example::

    >>> sensor = DramSensor(memory_GB=64)
    >>> round(sensor.power_W, 3)
    25.088
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from lightning_carbon.sensors.base import Sensor
from lightning_carbon.sensors.cpu_power import CpuPowerModel, choose_cpu_model
from lightning_carbon.sensors.machine import THIS_MACHINE, Machine, read_cpuinfo
from lightning_carbon.sensors.scope import CpuScope, cpu_scope

DRAM_W_PER_GB = 0.392
DRAM_W_PER_GB_SOURCE = (
    "Cloud Carbon Footprint's memory coefficient, 0.392 W per GB: the mean of Crucial's rule "
    "of thumb (3 W per 8 GB of DDR3 or DDR4, 0.375 W/GB) and Micron's DDR4 power note "
    "TN-40-07 (about 0.408 W/GB)"
)


class CpuEstimateSensor(Sensor):
    """CPU energy from a :class:`CpuPowerModel` and the busy time of its scope.

    Args:
        model: the power model; ``None`` chooses one for the machine (:func:`choose_cpu_model`).
        scope: the CPUs counted; ``None`` reads them from ``machine`` (:func:`cpu_scope`).
        cpu_tdp_w: a TDP per socket in W, replacing the model choice (``model=None`` only).
        machine: where the CPU, cgroup and ``/proc`` state and the clock are read.

    ``power_model`` is the model; ``model`` the same as data (name, formula, coefficients,
    source, basis, caveats); ``busy_s`` the busy CPU seconds counted since :meth:`start`.

    Example::

        sensor = CpuEstimateSensor()
        sensor.model["formula"]  # 'W = 2 vCPUs x (min + u x (max - min)); ...'
        sensor.start(); ...; sensor.energy_J()
    """

    component = "cpu"
    device = "cpu"
    provenance = "estimated"
    node_wide = True

    def __init__(
        self,
        model: CpuPowerModel | None = None,
        *,
        scope: CpuScope | None = None,
        cpu_tdp_w: float | None = None,
        machine: Machine = THIS_MACHINE,
    ) -> None:
        if scope is None or model is None:
            cpu = read_cpuinfo(machine)
            scope = cpu_scope(cpu, machine) if scope is None else scope
            model = (
                choose_cpu_model(cpu, scope, tdp_override_W=cpu_tdp_w) if model is None else model
            )
        self.power_model = model
        self.model = model.as_dict()
        self.scope = scope
        self.description = f"cpu: {model.summary()} (estimated)"
        self._clock = scope.machine.clock
        self._lock = threading.Lock()
        self._start_s: float | None = None
        self._last: tuple[float, float] = (0.0, 0.0)  # (time_s, busy counter) of the last read
        self.busy_s = 0.0
        self._last_J = 0.0

    def start(self) -> None:
        """Take the zero point of the clock and of the busy CPU time."""
        with self._lock:
            busy = self.scope.busy_s()
            self._start_s = self._clock()
            self._last = (self._start_s, busy)
            self.busy_s = 0.0
            self._last_J = 0.0

    def energy_J(self) -> float:
        """Estimated joules since :meth:`start`; never decreases."""
        with self._lock:
            if self._start_s is None:
                raise RuntimeError("cpu: call start() before energy_J()")
            busy = self.scope.busy_s()
            now_s = self._clock()
            last_s, last_busy = self._last
            model = self.power_model
            step = min(max(busy - last_busy, 0.0), model.n_cpus * max(now_s - last_s, 0.0))
            self.busy_s += step
            self._last = (now_s, max(busy, last_busy))
            joules = model.idle_W * (now_s - self._start_s) + self.busy_s * (
                model.max_W_per_cpu - model.min_W_per_cpu
            )
            self._last_J = max(self._last_J, joules)
            return self._last_J


class DramSensor(Sensor):
    """DRAM energy estimated as GB x :data:`DRAM_W_PER_GB` x elapsed time.

    Args:
        memory_GB: the memory in GB; ``None`` takes the scope's (:meth:`CpuScope.memory_GB`).
        scope: the CPUs whose memory counts; ``None`` reads them from this machine.
        clock: monotonic clock in seconds.
        caveats: notes to carry in :attr:`model`.

    Example::

        >>> DramSensor(memory_GB=64).model["formula"]
        'W = 64 GB x 0.392 W/GB'
    """

    component = "dram"
    device = "dram"
    provenance = "estimated"
    node_wide = True

    def __init__(
        self,
        *,
        memory_GB: float | None = None,
        scope: CpuScope | None = None,
        clock: Callable[[], float] = time.monotonic,
        caveats: tuple[str, ...] = (),
    ) -> None:
        if memory_GB is None:
            scope = cpu_scope(read_cpuinfo(THIS_MACHINE)) if scope is None else scope
            size_GB, basis = scope.memory_GB()
        else:
            size_GB, basis = memory_GB, "memory given"
        if not math.isfinite(size_GB) or size_GB <= 0:
            raise ValueError(f"memory_GB must be a finite number > 0, got {memory_GB!r}")
        self.power_W = size_GB * DRAM_W_PER_GB
        self.model: dict[str, Any] = {
            "name": "dram-per-GB",
            "formula": f"W = {size_GB:.3g} GB x {DRAM_W_PER_GB} W/GB",
            "coefficients": {"memory_GB": size_GB, "W_per_GB": DRAM_W_PER_GB},
            "source": DRAM_W_PER_GB_SOURCE,
            "basis": basis,
            "caveats": list(caveats),
        }
        caution = "".join(f"; caution: {c}" for c in caveats)
        self.description = (
            f"dram: estimate {size_GB:.3g} GB ({basis}) x {DRAM_W_PER_GB} W/GB = "
            f"{self.power_W:.3g} W [Cloud Carbon Footprint memory coefficient]{caution} "
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

"""EnergyMeter: owns the sensors and at most one thread; measures named windows.

Knows nothing about Lightning, so it serves any PyTorch loop (an nnU-Net trainer, a script).

Example::

    >>> with EnergyMeter() as meter:          # discovers sensors, meters the block
    ...     _ = sum(range(10_000))
    >>> meter.result.energy_J >= 0
    True

Named windows may nest or overlap::

    meter = EnergyMeter().start()
    meter.begin("epoch"); meter.begin("validation")
    val = meter.end("validation"); epoch = meter.end("epoch")
    meter.close()

Node-wide energy (RAPL, CPU and DRAM estimates) is attributed to the job by its share of the
busy CPU time (``attribution="process"``, see :mod:`lightning_carbon.sensors.attribution`);
each reading keeps the machine's figure beside it. Under DDP, give the meter of local rank 0
the PIDs of the job's other ranks on the node: ``meter.add_job_pids(pids)``.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType

from lightning_carbon.reading import EnergyReading
from lightning_carbon.sensors.attribution import (
    Attribution,
    Method,
    attribution_record,
    check_method,
    window_share,
)
from lightning_carbon.sensors.base import Sensor, SensorChoice
from lightning_carbon.sensors.machine import THIS_MACHINE, Machine, read_cpuinfo
from lightning_carbon.sensors.poller import Poller
from lightning_carbon.sensors.scope import CpuScope, cpu_scope

SHORT_WINDOW_S = 1.0
"""GPU energy counters update every 10-100 ms: windows shorter than this are flagged."""
SHARING_CHECK_S = 10.0
"""How often, at most, window ends ask the devices which processes use them."""


@dataclass(frozen=True)
class _Snapshot:
    monotonic_s: float
    utc: str
    energy_J_by_device: dict[str, float]
    cpu_times: tuple[float, float] | None = None  # (job CPU s, node busy CPU s)


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _cuda_synchronize() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class EnergyMeter:
    """Meters energy of named windows from a set of sensors.

    Args:
        sensors: the sensors to read; ``None`` discovers the best ones on this machine
            (see :func:`lightning_carbon.sensors.discover`).
        gpu_indices: CUDA device indices (this process's numbering) to meter when discovering;
            ``None`` meters all visible GPUs.
        node_level: meter CPU and DRAM (node-wide sources); under DDP only local rank 0 should.
        cpu_tdp_w: override of the CPU's TDP in W for the estimate.
        powercap_root: root of the powercap sysfs tree (for tests or unusual mounts).
        clock: monotonic clock in seconds (injectable for tests).
        synchronize: called before reading GPU counters so queued kernels are counted;
            defaults to ``torch.cuda.synchronize`` when a GPU sensor is present.
        attribution: ``"process"`` (default): node-wide energy times the job's share of the
            busy CPU time; ``"machine"``: the whole machine's; or an :class:`Attribution`
            (scripted CPU times, other root PIDs).
        machine: where CPU, cgroup and ``/proc`` state is read when discovering (for tests).
    """

    def __init__(
        self,
        sensors: Sequence[Sensor] | None = None,
        *,
        gpu_indices: Sequence[int] | None = None,
        node_level: bool = True,
        cpu_tdp_w: float | None = None,
        powercap_root: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        synchronize: Callable[[], None] | None = None,
        attribution: Method | Attribution = "process",
        machine: Machine = THIS_MACHINE,
    ) -> None:
        self._given_sensors = list(sensors) if sensors is not None else None
        self._discover_kwargs = dict(
            gpu_indices=gpu_indices,
            node_level=node_level,
            cpu_tdp_w=cpu_tdp_w,
            powercap_root=powercap_root,
            machine=machine,
        )
        self._machine = machine
        if isinstance(attribution, Attribution):
            self._attribution = attribution
        else:
            self._attribution = Attribution(check_method(attribution))
        self._clock = clock
        self._synchronize = synchronize
        self._lock = threading.RLock()
        self._sensors: list[Sensor] = []
        self._choices: list[SensorChoice] = []
        self._component_by_device: dict[str, str] = {}
        self._provenance_by_device: dict[str, str] = {}
        self._node_wide: set[str] = set()
        self._shared: dict[str, str] = {}
        self._next_sharing_check_s = float("-inf")
        self._last_J: dict[str, float] = {}
        self._dropped: dict[str, str] = {}
        self._open: dict[str, _Snapshot] = {}
        self._poller: Poller | None = None
        self._started = False
        self._closed = False
        self.result: EnergyReading | None = None
        """The reading of the ``with`` block, set when it exits."""

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> EnergyMeter:
        """Discover (if needed) and zero the sensors, start the poller. Idempotent."""
        with self._lock:
            if self._started:
                return self
            if self._closed:
                raise RuntimeError("this EnergyMeter is closed; create a new one")
            if self._given_sensors is None:
                from lightning_carbon.sensors.discovery import discover

                found = discover(**self._discover_kwargs)
                self._sensors, self._choices = list(found.sensors), list(found.choices)
                if found.scope is not None and self._attribution.node_busy_s is None:
                    self._attribution.node_busy_s = found.scope.busy_s
            else:
                self._sensors = self._given_sensors
                self._choices = [
                    SensorChoice(s.component, s.device, s.provenance, s.description or s.device)
                    for s in self._sensors
                ]
            self._check_unique_devices()
            for sensor in list(self._sensors):
                self._call_or_drop(sensor, sensor.start)
            for sensor in self._sensors:
                self._component_by_device[sensor.device] = sensor.component
                self._provenance_by_device[sensor.device] = sensor.provenance
                self._last_J[sensor.device] = 0.0
                if sensor.node_wide:
                    self._node_wide.add(sensor.device)
            if self._splits() and self._attribution.node_busy_s is None:
                self._attribution.node_busy_s = self._default_scope().busy_s
            self._check_sharing()
            if self._synchronize is None and any(s.component == "gpu" for s in self._sensors):
                self._synchronize = _cuda_synchronize
            self._poller = Poller(self._sensors, on_failure=self._drop, clock=self._clock)
            self._poller.start()
            self._started = True
            return self

    def close(self) -> None:
        """Stop the poller and release the sensors. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._poller is not None:  # joined outside the lock: a failing poll may need it
            self._poller.close()
        with self._lock:
            for sensor in list(self._sensors):
                self._call_or_drop(sensor, sensor.close)
            self._open.clear()

    def __enter__(self) -> EnergyMeter:
        self.start()
        self.begin("with")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.result = self.end("with")
        finally:
            self.close()

    # -- what is metered --------------------------------------------------------------------

    @property
    def sensors(self) -> list[Sensor]:
        """The sensors still being read (failed ones are dropped)."""
        return list(self._sensors)

    @property
    def choices(self) -> list[SensorChoice]:
        """Discovery's decision per device, as data."""
        return list(self._choices)

    @property
    def dropped(self) -> dict[str, str]:
        """The devices that stopped reporting, with why; their energy counts until then."""
        return dict(self._dropped)

    def describe(self) -> str:
        """One readable line per device: what is metered and how."""
        return "\n".join(choice.line for choice in self._choices)

    @property
    def attribution(self) -> Attribution:
        """How node-wide energy is split, with the job's root PIDs."""
        return self._attribution

    def add_job_pids(self, pids: Sequence[int]) -> None:
        """Count the process trees of ``pids`` as this job's (under DDP: the other ranks on
        this node, given to the meter of local rank 0); each process is counted once."""
        with self._lock:
            self._attribution.add_root_pids(pids)

    # -- windows ----------------------------------------------------------------------------

    def begin(self, name: str) -> None:
        """Open the window ``name``; raises ``ValueError`` if it is already open."""
        with self._lock:
            self._require_running()
            if name in self._open:
                raise ValueError(f"window {name!r} is already open")
            self._open[name] = self._snapshot()

    def end(self, name: str) -> EnergyReading:
        """Close the window ``name`` and return its reading; ``ValueError`` if it is not open."""
        with self._lock:
            self._require_running()
            if name not in self._open:
                raise ValueError(f"window {name!r} is not open (open: {sorted(self._open)})")
            begin = self._open.pop(name)
            end = self._snapshot()
            if end.monotonic_s >= self._next_sharing_check_s:
                self._check_sharing()
            return self._reading(name, begin, end)

    def peek(self, name: str) -> EnergyReading:
        """The reading of the open window ``name`` up to now; the window stays open."""
        with self._lock:
            self._require_running()
            if name not in self._open:
                raise ValueError(f"window {name!r} is not open (open: {sorted(self._open)})")
            return self._reading(name, self._open[name], self._snapshot())

    def is_open(self, name: str) -> bool:
        """Whether the window ``name`` is open."""
        return name in self._open

    # -- internals --------------------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._started:
            self.start()
        if self._closed:
            raise RuntimeError("this EnergyMeter is closed")

    def _check_unique_devices(self) -> None:
        devices = [s.device for s in self._sensors]
        duplicates = sorted({d for d in devices if devices.count(d) > 1})
        if duplicates:
            raise ValueError(f"two sensors share the device label(s) {duplicates}")

    def _snapshot(self) -> _Snapshot:
        if self._synchronize is not None and self._sensors:
            self._synchronize_or_stop()
        for sensor in list(self._sensors):
            reading = self._call_or_drop(sensor, sensor.energy_J)
            if reading is not None:
                self._last_J[sensor.device] = max(float(reading), self._last_J[sensor.device])
        cpu_times = self._cpu_times() if self._splits() else None
        return _Snapshot(self._clock(), _utc_now(), dict(self._last_J), cpu_times)

    def _splits(self) -> bool:
        return self._attribution.method == "process" and bool(self._node_wide)

    def _cpu_times(self) -> tuple[float, float] | None:
        try:
            return self._attribution.cpu_times()
        except Exception as error:  # metering must never kill the training
            self._attribution.method = "machine"
            warnings.warn(
                f"lightning-carbon: cannot read CPU times to split the machine's energy "
                f"({error}); the whole machine's energy is reported from now on",
                RuntimeWarning,
                stacklevel=4,
            )
            return None

    def _default_scope(self) -> CpuScope:
        return cpu_scope(read_cpuinfo(self._machine), self._machine)

    def _check_sharing(self) -> None:
        """Label devices other processes use too; warn once per device."""
        self._next_sharing_check_s = self._clock() + SHARING_CHECK_S
        for sensor in list(self._sensors):
            reason = sensor.shared
            if reason is None:
                try:
                    pids = sensor.device_pids()
                except Exception:  # who uses the device is a label, never worth a failure
                    pids = None
                reason = None if pids is None else self._attribution.others_on_device(pids)
            if reason is None or sensor.device in self._shared:
                continue
            self._shared[sensor.device] = reason
            warnings.warn(
                f"lightning-carbon: {sensor.device} is shared: {reason}; "
                "its readings are labelled shared",
                RuntimeWarning,
                stacklevel=3,
            )

    def _reading(self, name: str, begin: _Snapshot, end: _Snapshot) -> EnergyReading:
        duration_s = max(end.monotonic_s - begin.monotonic_s, 0.0)
        machine = {
            d: max(end.energy_J_by_device[d] - begin.energy_J_by_device.get(d, 0.0), 0.0)
            for d in end.energy_J_by_device
            if d in begin.energy_J_by_device
        }
        energy, attribution = self._attributed(machine, begin, end)
        notes = [
            f"{device} stopped reporting ({why}); its energy counts only until then"
            for device, why in self._dropped.items()
            if device in energy
        ]
        notes += [f"{d} is shared: {why}" for d, why in self._shared.items() if d in energy]
        if duration_s < SHORT_WINDOW_S and any(
            self._component_by_device[d] == "gpu" for d in energy
        ):
            notes.append(
                f"window of {duration_s:.3f} s is shorter than {SHORT_WINDOW_S:g} s: "
                "GPU energy counters update every 10-100 ms, so treat it as approximate"
            )
        return EnergyReading(
            name=name,
            duration_s=duration_s,
            energy_J_by_device=energy,
            component_by_device={d: self._component_by_device[d] for d in energy},
            provenance_by_device={d: self._provenance_by_device[d] for d in energy},
            start_utc=begin.utc,
            end_utc=end.utc,
            notes=tuple(notes),
            machine_energy_J_by_device=machine,
            attribution=attribution,
        )

    def _attributed(
        self, machine: dict[str, float], begin: _Snapshot, end: _Snapshot
    ) -> tuple[dict[str, float], dict]:
        """The job's energy per device and the attribution record of a window."""
        split = sorted(d for d in machine if d in self._node_wide)
        shared = {d: why for d, why in self._shared.items() if d in machine}
        if begin.cpu_times is None or end.cpu_times is None:
            method = "machine" if split else self._attribution.method
            return dict(machine), attribution_record(method, split, shared_devices=shared)
        job_cpu_s = max(end.cpu_times[0] - begin.cpu_times[0], 0.0)
        node_busy_cpu_s = max(end.cpu_times[1] - begin.cpu_times[1], 0.0)
        share = window_share(job_cpu_s, node_busy_cpu_s)
        energy = {d: j * share if d in self._node_wide else j for d, j in machine.items()}
        record = attribution_record(
            "process",
            split,
            share=share,
            job_cpu_s=job_cpu_s,
            node_busy_cpu_s=node_busy_cpu_s,
            root_pids=self._attribution.root_pids,
            shared_devices=shared,
        )
        return energy, record

    def _call_or_drop(self, sensor: Sensor, method: Callable[[], float | None]) -> float | None:
        try:
            return method()
        except Exception as error:  # metering must never kill the training
            self._drop(sensor, error)
            return None

    def _drop(self, sensor: Sensor, error: BaseException) -> None:
        with self._lock:
            if sensor not in self._sensors:
                return
            self._sensors.remove(sensor)
            self._dropped[sensor.device] = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"lightning-carbon: sensor {sensor.device} failed ({error}); "
            "it is no longer read, the other sensors keep going",
            RuntimeWarning,
            stacklevel=2,
        )

    def _synchronize_or_stop(self) -> None:
        try:
            self._synchronize()
        except Exception as error:
            self._synchronize = None
            warnings.warn(
                f"lightning-carbon: device synchronize failed ({error}); "
                "windows are read without it from now on",
                RuntimeWarning,
                stacklevel=3,
            )

"""What one metered window used: joules per device, with components and provenance.

``energy_J_by_device`` is this job's energy: for node-wide devices (RAPL, CPU and DRAM
estimates) the machine's energy times the job's share of the busy CPU time, when the meter
attributes by process. ``machine_energy_J_by_device`` is the whole machine's, equal to the
job's for devices that are not split (GPUs) or when attributing to the machine;
``attribution`` says how the split was made.

Example::

    >>> r = EnergyReading("epoch", 10.0, {"gpu:0": 3000.0, "cpu": 600.0},
    ...                   {"gpu:0": "gpu", "cpu": "cpu"},
    ...                   {"gpu:0": "measured", "cpu": "estimated"})
    >>> r.energy_J, r.mean_power_W, r.energy_J_by_component["gpu"], r.provenance
    (3600.0, 360.0, 3000.0, 'estimated')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lightning_carbon.sensors.attribution import attribution_record, window_share
from lightning_carbon.sensors.base import COMPONENTS, PROVENANCES
from lightning_carbon.units import J_PER_KWH


def least_direct(provenances: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The weakest provenance among several: ``estimated`` beats ``polled`` beats ``measured``.

    Example::

        >>> least_direct(["measured", "polled"])
        'polled'
    """
    ranked = [p for p in reversed(PROVENANCES) if p in provenances]
    return ranked[0] if ranked else None


@dataclass(frozen=True)
class EnergyReading:
    """Energy of one window. All energies in joules; ``duration_s`` in seconds.

    ``notes`` carry caveats for the user (a window too short for the GPU counter, a sensor
    dropped mid-window, a shared device). ``machine_energy_J_by_device`` defaults to the
    job's figure for every device not given; ``attribution`` is JSON-ready (method, devices
    split, the CPU-time share, job and node CPU seconds, a one-line description, and
    ``shared_devices`` when some are).
    """

    name: str
    duration_s: float
    energy_J_by_device: dict[str, float]
    component_by_device: dict[str, str]
    provenance_by_device: dict[str, str]
    start_utc: str = ""
    end_utc: str = ""
    notes: tuple[str, ...] = field(default=())
    machine_energy_J_by_device: dict[str, float] = field(default_factory=dict)
    attribution: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        machine = {
            d: self.machine_energy_J_by_device.get(d, j) for d, j in self.energy_J_by_device.items()
        }
        object.__setattr__(self, "machine_energy_J_by_device", machine)

    @property
    def energy_J(self) -> float:
        """Total energy of all devices (this job's share of node-wide ones), J."""
        return sum(self.energy_J_by_device.values())

    @property
    def energy_kWh(self) -> float:
        """Total energy of all devices, kWh."""
        return self.energy_J / J_PER_KWH

    @property
    def machine_energy_J(self) -> float:
        """Total energy of all devices, node-wide ones for the whole machine, J."""
        return sum(self.machine_energy_J_by_device.values())

    @property
    def machine_energy_kWh(self) -> float:
        """:attr:`machine_energy_J` in kWh."""
        return self.machine_energy_J / J_PER_KWH

    @property
    def machine_energy_J_by_component(self) -> dict[str, float]:
        """The machine's energy summed per component, J."""
        return _by_component(self.machine_energy_J_by_device, self.component_by_device)

    @property
    def mean_power_W(self) -> float:
        """Total energy over the duration, W (0 for an empty window)."""
        return self.energy_J / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def energy_J_by_component(self) -> dict[str, float]:
        """Energy summed per component (``gpu``, ``cpu``, ``dram``), J, only those present."""
        return _by_component(self.energy_J_by_device, self.component_by_device)

    @property
    def power_W_by_component(self) -> dict[str, float]:
        """Mean power per component over the window, W."""
        if self.duration_s <= 0:
            return {c: 0.0 for c in self.energy_J_by_component}
        return {c: j / self.duration_s for c, j in self.energy_J_by_component.items()}

    @property
    def provenance_by_component(self) -> dict[str, str]:
        """The weakest provenance of each component's devices."""
        return {
            c: least_direct(
                [
                    p
                    for d, p in self.provenance_by_device.items()
                    if self.component_by_device[d] == c
                ]
            )
            for c in self.energy_J_by_component
        }

    @property
    def provenance(self) -> str | None:
        """The weakest provenance of the whole reading (``None`` when no device was metered)."""
        return least_direct(set(self.provenance_by_device.values()))

    def plus(self, other: EnergyReading) -> EnergyReading:
        """This reading and ``other`` added device by device (durations add too); the
        attribution's CPU seconds add, its share becomes the attributed over the machine's
        energy of the devices split.

        Example::

            >>> a = EnergyReading("e", 1.0, {"cpu": 2.0}, {"cpu": "cpu"}, {"cpu": "estimated"})
            >>> a.plus(a).energy_J_by_device
            {'cpu': 4.0}
        """
        energy = _added(self.energy_J_by_device, other.energy_J_by_device)
        machine = _added(self.machine_energy_J_by_device, other.machine_energy_J_by_device)
        return replace(
            self,
            duration_s=self.duration_s + other.duration_s,
            energy_J_by_device=energy,
            machine_energy_J_by_device=machine,
            attribution=_added_attribution(self.attribution, other.attribution, energy, machine),
            component_by_device={**self.component_by_device, **other.component_by_device},
            provenance_by_device={
                d: least_direct(
                    [
                        m[d]
                        for m in (self.provenance_by_device, other.provenance_by_device)
                        if d in m
                    ]
                )
                for d in energy
            },
            start_utc=self.start_utc or other.start_utc,
            end_utc=other.end_utc or self.end_utc,
            notes=tuple(dict.fromkeys(self.notes + other.notes)),
        )

    def minus(self, other: EnergyReading) -> EnergyReading:
        """What this reading used beyond ``other`` (a part of it), device by device, never < 0.

        Example::

            >>> cpu, est = {"cpu": "cpu"}, {"cpu": "estimated"}
            >>> whole = EnergyReading("run", 10.0, {"cpu": 50.0}, cpu, est)
            >>> part = EnergyReading("epoch", 4.0, {"cpu": 20.0}, cpu, est)
            >>> rest = whole.minus(part)
            >>> rest.duration_s, rest.energy_J_by_device
            (6.0, {'cpu': 30.0})
        """
        machine = _added(self.machine_energy_J_by_device, other.machine_energy_J_by_device, -1.0)
        energy = _added(self.energy_J_by_device, other.energy_J_by_device, sign=-1.0)
        attribution = _added_attribution(
            self.attribution, other.attribution, energy, machine, sign=-1.0
        )
        both = self.attribution and other.attribution
        if both and attribution.get("method") == "process" and attribution.get("node_busy_cpu_s"):
            # shares do not subtract: the rest is split by its own share of the busy CPU time
            share = window_share(attribution["job_cpu_s"], attribution["node_busy_cpu_s"])
            split = set(attribution["devices"])
            energy = {d: machine[d] * share if d in split else j for d, j in energy.items()}
            attribution = attribution_record(
                "process",
                attribution["devices"],
                share=share,
                job_cpu_s=attribution["job_cpu_s"],
                node_busy_cpu_s=attribution["node_busy_cpu_s"],
                root_pids=attribution["root_pids"],
                shared_devices=attribution.get("shared_devices"),
            )
        return replace(
            self,
            duration_s=max(self.duration_s - other.duration_s, 0.0),
            energy_J_by_device=energy,
            machine_energy_J_by_device=machine,
            attribution=attribution,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with totals per component and per device.

        Example::

            >>> EnergyReading("w", 2.0, {}, {}, {}).to_dict()["energy_kWh"]
            0.0
        """
        return {
            "name": self.name,
            "start_utc": self.start_utc,
            "end_utc": self.end_utc,
            "duration_s": self.duration_s,
            "energy_J": self.energy_J,
            "energy_kWh": self.energy_kWh,
            "mean_power_W": self.mean_power_W,
            "provenance": self.provenance,
            "energy_J_by_component": self.energy_J_by_component,
            "machine_energy_J": self.machine_energy_J,
            "machine_energy_kWh": self.machine_energy_kWh,
            "machine_energy_J_by_component": self.machine_energy_J_by_component,
            "provenance_by_component": self.provenance_by_component,
            "devices": {
                d: {
                    "component": self.component_by_device[d],
                    "provenance": self.provenance_by_device[d],
                    "energy_J": j,
                    "machine_energy_J": self.machine_energy_J_by_device[d],
                }
                for d, j in self.energy_J_by_device.items()
            },
            "attribution": dict(self.attribution),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyReading:
        """Inverse of :meth:`to_dict`; a dict written before attribution existed loads with
        the machine's energy equal to the job's."""
        devices = data.get("devices", {})
        return cls(
            name=data["name"],
            duration_s=float(data["duration_s"]),
            energy_J_by_device={d: float(v["energy_J"]) for d, v in devices.items()},
            component_by_device={d: v["component"] for d, v in devices.items()},
            provenance_by_device={d: v["provenance"] for d, v in devices.items()},
            start_utc=data.get("start_utc", ""),
            end_utc=data.get("end_utc", ""),
            notes=tuple(data.get("notes", ())),
            machine_energy_J_by_device={
                d: float(v["machine_energy_J"])
                for d, v in devices.items()
                if "machine_energy_J" in v
            },
            attribution=dict(data.get("attribution", {})),
        )


def _by_component(
    energy: dict[str, float], component_by_device: dict[str, str]
) -> dict[str, float]:
    by_component: dict[str, float] = {}
    for device, joules in energy.items():
        component = component_by_device[device]
        by_component[component] = by_component.get(component, 0.0) + joules
    return {c: by_component[c] for c in COMPONENTS if c in by_component}


def _added(
    first: dict[str, float], second: dict[str, float], sign: float = 1.0
) -> dict[str, float]:
    """``first + second`` device by device; with ``sign=-1`` ``first - second`` over the
    devices of ``first``, never below 0."""
    if sign < 0:
        return {d: max(j - second.get(d, 0.0), 0.0) for d, j in first.items()}
    total = dict(first)
    for device, joules in second.items():
        total[device] = total.get(device, 0.0) + joules
    return total


def _added_attribution(
    first: dict[str, Any],
    second: dict[str, Any],
    energy: dict[str, float],
    machine: dict[str, float],
    sign: float = 1.0,
) -> dict[str, Any]:
    """Two readings' attributions as one (see :meth:`EnergyReading.plus`); with ``sign=-1``
    the first's less the second's (:meth:`EnergyReading.minus`)."""
    if not first or not second:
        return dict(first if sign < 0 else (first or second))
    devices = list(dict.fromkeys(first["devices"] + second["devices"]))
    shared = {**first.get("shared_devices", {}), **second.get("shared_devices", {})}
    if first["method"] != "process":
        return attribution_record(first["method"], devices, shared_devices=shared)
    job_cpu_s = max(first.get("job_cpu_s", 0.0) + sign * second.get("job_cpu_s", 0.0), 0.0)
    node_busy_cpu_s = max(
        first.get("node_busy_cpu_s", 0.0) + sign * second.get("node_busy_cpu_s", 0.0), 0.0
    )
    machine_J = sum(machine.get(d, 0.0) for d in devices)
    share = (
        sum(energy.get(d, 0.0) for d in devices) / machine_J
        if machine_J > 0
        else window_share(job_cpu_s, node_busy_cpu_s)
    )
    return attribution_record(
        "process",
        devices,
        share=share,
        job_cpu_s=job_cpu_s,
        node_busy_cpu_s=node_busy_cpu_s,
        root_pids=list(dict.fromkeys(first.get("root_pids", []) + second.get("root_pids", []))),
        shared_devices=shared,
    )

"""What one metered window used: joules per device, with components and provenance.

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
    dropped mid-window).
    """

    name: str
    duration_s: float
    energy_J_by_device: dict[str, float]
    component_by_device: dict[str, str]
    provenance_by_device: dict[str, str]
    start_utc: str = ""
    end_utc: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def energy_J(self) -> float:
        """Total energy of all devices, J."""
        return sum(self.energy_J_by_device.values())

    @property
    def energy_kWh(self) -> float:
        """Total energy of all devices, kWh."""
        return self.energy_J / J_PER_KWH

    @property
    def mean_power_W(self) -> float:
        """Total energy over the duration, W (0 for an empty window)."""
        return self.energy_J / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def energy_J_by_component(self) -> dict[str, float]:
        """Energy summed per component (``gpu``, ``cpu``, ``dram``), J, only those present."""
        by_component: dict[str, float] = {}
        for device, joules in self.energy_J_by_device.items():
            component = self.component_by_device[device]
            by_component[component] = by_component.get(component, 0.0) + joules
        return {c: by_component[c] for c in COMPONENTS if c in by_component}

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
        """This reading and ``other`` added device by device (durations add too).

        Example::

            >>> a = EnergyReading("e", 1.0, {"cpu": 2.0}, {"cpu": "cpu"}, {"cpu": "estimated"})
            >>> a.plus(a).energy_J_by_device
            {'cpu': 4.0}
        """
        energy = dict(self.energy_J_by_device)
        for device, joules in other.energy_J_by_device.items():
            energy[device] = energy.get(device, 0.0) + joules
        return replace(
            self,
            duration_s=self.duration_s + other.duration_s,
            energy_J_by_device=energy,
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
        energy = {
            d: max(j - other.energy_J_by_device.get(d, 0.0), 0.0)
            for d, j in self.energy_J_by_device.items()
        }
        return replace(
            self,
            duration_s=max(self.duration_s - other.duration_s, 0.0),
            energy_J_by_device=energy,
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
            "provenance_by_component": self.provenance_by_component,
            "devices": {
                d: {
                    "component": self.component_by_device[d],
                    "provenance": self.provenance_by_device[d],
                    "energy_J": j,
                }
                for d, j in self.energy_J_by_device.items()
            },
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyReading:
        """Inverse of :meth:`to_dict`."""
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
        )

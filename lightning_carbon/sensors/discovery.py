"""Discovery: the best available energy source per component, and why, in one line each.

Order of preference: hardware counters (NVML energy, RAPL), then polled power (NVML), then
estimates (CPU TDP x utilisation, DRAM W/GB). GPUs are never estimated: a GPU that cannot be
read is reported unavailable.

Example::

    >>> found = discover(gpu_indices=[], powercap_root=None)
    >>> sorted({choice.component for choice in found.choices} & {"cpu", "dram"})
    ['cpu', 'dram']
    >>> for sensor in found.sensors: sensor.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lightning_carbon.sensors.base import Sensor, SensorChoice


@dataclass(frozen=True)
class Discovery:
    """The sensors to read and the decision for each device."""

    sensors: list[Sensor] = field(default_factory=list)
    choices: list[SensorChoice] = field(default_factory=list)

    def lines(self) -> str:
        """One readable line per device."""
        return "\n".join(choice.line for choice in self.choices)


def discover(
    gpu_indices: Sequence[int] | None = None,
    *,
    node_level: bool = True,
    cpu_tdp_w: float | None = None,
    powercap_root: str | None = None,
    nvml: object | None = None,
) -> Discovery:
    """Find the sensors for this process.

    Args:
        gpu_indices: CUDA indices (this process's numbering) to meter; ``None`` = all visible,
            ``[]`` = none.
        node_level: also meter CPU and DRAM (node-wide); under DDP only local rank 0 does.
        cpu_tdp_w: TDP override (W) for the CPU estimate.
        powercap_root: powercap sysfs root; ``None`` = the system's, which may be absent.
        nvml: an NVML module (for tests); ``None`` imports ``pynvml`` when GPUs are wanted.
    """
    sensors: list[Sensor] = []
    choices: list[SensorChoice] = []
    if gpu_indices is None or len(gpu_indices) > 0:
        from lightning_carbon.sensors.nvml import discover_nvml

        gpu_sensors, gpu_choices = discover_nvml(
            None if gpu_indices is None else list(gpu_indices), nvml=nvml
        )
        sensors += gpu_sensors
        choices += gpu_choices
    if node_level:
        node_sensors, node_choices = _node_sensors(cpu_tdp_w, powercap_root)
        sensors += node_sensors
        choices += node_choices
    return Discovery(sensors, choices)


def _node_sensors(
    cpu_tdp_w: float | None, powercap_root: str | None
) -> tuple[list[Sensor], list[SensorChoice]]:
    from lightning_carbon.sensors.estimate import CpuTdpSensor, DramSensor
    from lightning_carbon.sensors.rapl import discover_rapl

    rapl = discover_rapl(powercap_root)
    sensors: list[Sensor] = list(rapl.sensors)
    choices: list[SensorChoice] = list(rapl.choices)
    estimates = []
    if "cpu" not in rapl.components:
        estimates.append((CpuTdpSensor(cpu_tdp_w=cpu_tdp_w), "package"))
    if "dram" not in rapl.components:
        estimates.append((DramSensor(), "dram"))
    for sensor, domain in estimates:
        why = f"RAPL unreadable ({rapl.reason})" if rapl.reason else f"no RAPL {domain} counter"
        how = sensor.description.split(": ", 1)[-1]
        sensors.append(sensor)
        choices.append(
            SensorChoice(
                sensor.component, sensor.device, "estimated", f"{sensor.device}: {why} -> {how}"
            )
        )
    return sensors, choices

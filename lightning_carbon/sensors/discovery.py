"""Discovery: the best available energy source per component, and why, in one line each.

Order of preference: hardware counters (NVML energy, RAPL), then polled power (NVML), then
estimates (the CPU model chosen by what the machine is, DRAM W/GB). GPUs are never estimated
as a whole: a GPU that cannot be read is reported unavailable. A RAPL counter seen inside a
VM is the host's, and the line says so.

Example::

    >>> found = discover(gpu_indices=[], powercap_root=None)
    >>> sorted({choice.component for choice in found.choices} & {"cpu", "dram"})
    ['cpu', 'dram']
    >>> for sensor in found.sensors: sensor.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from lightning_carbon.sensors.base import Sensor, SensorChoice
from lightning_carbon.sensors.machine import THIS_MACHINE, Machine
from lightning_carbon.sensors.scope import CpuScope

VM_RAPL = (
    "seen inside a VM (hypervisor CPU flag): this RAPL counter is the host's, "
    "shared with every VM on it"
)
CCF_MEMORY_CAVEAT = (
    "the CPU coefficients are whole-server SPECpower figures that include some memory; CCF "
    "adds memory only beyond the benchmarked servers' GB per chip, here all of it is added"
)


@dataclass(frozen=True)
class Discovery:
    """The sensors to read, the decision for each device, and the CPUs that node-wide
    sensors cover (``scope``, ``None`` without node-level sensors), which attribution splits
    by CPU time."""

    sensors: list[Sensor] = field(default_factory=list)
    choices: list[SensorChoice] = field(default_factory=list)
    scope: CpuScope | None = None

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
    machine: Machine = THIS_MACHINE,
) -> Discovery:
    """Find the sensors for this process.

    Args:
        gpu_indices: CUDA indices (this process's numbering) to meter; ``None`` = all visible,
            ``[]`` = none.
        node_level: also meter CPU and DRAM (node-wide); under DDP only local rank 0 does.
        cpu_tdp_w: TDP override (W per socket) for the CPU estimate.
        powercap_root: powercap sysfs root; ``None`` = the system's, which may be absent.
        nvml: an NVML module (for tests); ``None`` imports ``pynvml`` when GPUs are wanted.
        machine: where CPU, cgroup and ``/proc`` state is read (for tests).
    """
    sensors: list[Sensor] = []
    choices: list[SensorChoice] = []
    scope = None
    if gpu_indices is None or len(gpu_indices) > 0:
        from lightning_carbon.sensors.nvml import discover_nvml

        gpu_sensors, gpu_choices = discover_nvml(
            None if gpu_indices is None else list(gpu_indices), nvml=nvml
        )
        sensors += gpu_sensors
        choices += gpu_choices
    if node_level:
        node_sensors, node_choices, scope = _node_sensors(cpu_tdp_w, powercap_root, machine)
        sensors += node_sensors
        choices += node_choices
    return Discovery(sensors, choices, scope)


def _node_sensors(
    cpu_tdp_w: float | None, powercap_root: str | None, machine: Machine
) -> tuple[list[Sensor], list[SensorChoice], CpuScope]:
    from lightning_carbon.sensors.cpu_power import choose_cpu_model
    from lightning_carbon.sensors.estimate import CpuEstimateSensor, DramSensor
    from lightning_carbon.sensors.machine import read_cpuinfo
    from lightning_carbon.sensors.rapl import discover_rapl
    from lightning_carbon.sensors.scope import cpu_scope, whole_machine_scope

    cpu = read_cpuinfo(machine)
    rapl = discover_rapl(powercap_root, clock=machine.clock)
    sensors: list[Sensor] = list(rapl.sensors)
    choices: list[SensorChoice] = []
    shared = VM_RAPL if cpu.hypervisor else None
    for sensor, choice in zip(rapl.sensors, rapl.choices, strict=True):
        sensor.shared = shared
        line = choice.line + (f" [{shared}]" if shared else "")
        choices.append(replace(choice, line=line, shared=shared))
    measured_cpu = "cpu" in rapl.components
    scope = whole_machine_scope(cpu, machine) if measured_cpu else cpu_scope(cpu, machine)
    estimates: list[tuple[CpuEstimateSensor | DramSensor, str]] = []
    ccf_cpu = False
    if not measured_cpu:
        model = choose_cpu_model(cpu, scope, tdp_override_W=cpu_tdp_w)
        ccf_cpu = model.name in ("vm-per-vcpu", "per-thread", "fallback")
        estimates.append((CpuEstimateSensor(model, scope=scope), "package"))
    if "dram" not in rapl.components:
        caveats = (CCF_MEMORY_CAVEAT,) if ccf_cpu else ()
        dram = DramSensor(scope=scope, clock=machine.clock, caveats=caveats)
        estimates.append((dram, "dram"))
    for sensor, domain in estimates:
        why = f"RAPL unreadable ({rapl.reason})" if rapl.reason else f"no RAPL {domain} counter"
        how = sensor.description.split(": ", 1)[-1]
        sensors.append(sensor)
        choices.append(
            SensorChoice(
                sensor.component,
                sensor.device,
                "estimated",
                f"{sensor.device}: {why} -> {how}",
                sensor.model,
            )
        )
    return sensors, choices, scope

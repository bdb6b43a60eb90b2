"""The part of the machine whose CPU and DRAM energy the estimates count.

Not the host's CPUs but the ones this process may use: its CPU affinity (``sched_getaffinity``,
which a cpuset narrows), intersected with the cgroup's ``cpuset``, and at most the cgroup's CPU
quota. With a quota, the busy time is the group's own CPU usage (other containers on the same
CPUs are not ours); otherwise it is the busy time of the allowed CPUs' ``/proc/stat`` lines.
Memory follows: the cgroup's memory limit, else the machine's memory times the share of its
CPUs in the scope.

Example::

    scope = cpu_scope(read_cpuinfo())
    scope.n_cpus, scope.detail      # (4.0, "cgroup v2 cpu.max '400000 100000': 4 of 128 CPUs")
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.cgroup import CgroupLimits, read_cgroup
from lightning_carbon.sensors.cputime import busy_cpu_s
from lightning_carbon.sensors.machine import THIS_MACHINE, CpuInfo, Machine

BYTES_PER_GB = 2**30
"""Memory is sold in binary gigabytes: a "64 GB" machine has 64 x 2**30 bytes."""


@dataclass(frozen=True)
class CpuScope:
    """CPUs counted by the node-level sensors.

    ``n_cpus``: how many (a quota may make it fractional); ``machine_cpus``: the logical CPUs
    of the (virtual) machine; ``cpus``: their ids, ``None`` for every CPU; ``cgroup``: the
    process's cgroup limits; ``busy_from_cgroup``: busy time is the group's usage;
    ``detail``: one phrase for the user.
    """

    n_cpus: float
    machine_cpus: int
    cpus: frozenset[int] | None
    detail: str
    machine: Machine = THIS_MACHINE
    cgroup: CgroupLimits | None = None
    busy_from_cgroup: bool = False

    @property
    def limited(self) -> bool:
        """Whether the scope is less than the whole machine."""
        return self.n_cpus < self.machine_cpus

    def busy_s(self) -> float:
        """Busy CPU seconds of the scope, from a fixed origin (boot or the group's creation)."""
        if self.busy_from_cgroup and self.cgroup is not None:
            return self.cgroup.usage_s()
        return busy_cpu_s(self.cpus, self.machine)

    def memory_GB(self) -> tuple[float, str]:
        """The scope's memory in (binary) GB and how it was found."""
        total_GB = self.machine.memory_total_bytes() / BYTES_PER_GB
        limit = None if self.cgroup is None else self.cgroup.memory_limit_bytes
        if limit is not None and limit / BYTES_PER_GB < total_GB:
            return limit / BYTES_PER_GB, f"cgroup memory limit of {limit / BYTES_PER_GB:.3g} GB"
        if self.limited:
            share_GB = total_GB * self.n_cpus / self.machine_cpus
            return share_GB, (
                f"{self.n_cpus:g} of {self.machine_cpus} CPUs' share of the machine's "
                f"{total_GB:.3g} GB"
            )
        return total_GB, f"{total_GB:.3g} GB installed"


def cpu_scope(cpu: CpuInfo, machine: Machine = THIS_MACHINE) -> CpuScope:
    """The CPUs this process may use (see the module docstring)."""
    limits = read_cgroup(machine)
    allowed = frozenset(machine.affinity())
    if limits is not None and limits.cpuset:
        allowed &= limits.cpuset
    machine_cpus = max(cpu.logical_cpus, len(allowed))
    cpus = None if len(allowed) >= machine_cpus else allowed
    quota = None if limits is None else limits.cpu_quota
    if limits is not None and quota is not None and quota < len(allowed):
        readable = _usage_readable(limits)
        where = "its usage" if readable else "usage unreadable: the allowed CPUs' busy time"
        return CpuScope(
            quota,
            machine_cpus,
            cpus,
            f"{limits.cpu_quota_detail}: {quota:g} of {machine_cpus} CPUs ({where})",
            machine,
            limits,
            busy_from_cgroup=readable,
        )
    if cpus is None:
        detail = f"all {machine_cpus} CPUs"
    else:
        detail = f"the {len(allowed)} of {machine_cpus} CPUs this process may run on"
    return CpuScope(len(allowed), machine_cpus, cpus, detail, machine, limits)


def whole_machine_scope(cpu: CpuInfo, machine: Machine = THIS_MACHINE) -> CpuScope:
    """Every CPU of the machine (what a RAPL counter covers), memory as installed."""
    return CpuScope(
        cpu.logical_cpus, cpu.logical_cpus, None, f"all {cpu.logical_cpus} CPUs", machine
    )


def _usage_readable(limits: CgroupLimits) -> bool:
    try:
        limits.usage_s()
    except (SensorUnavailable, ValueError):
        return False
    return True

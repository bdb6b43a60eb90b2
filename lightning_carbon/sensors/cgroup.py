"""This process's cgroup (its container): CPU and memory limits, and the group's CPU usage.

cgroup v2 (one unified tree): ``cpu.max`` (``"400000 100000"``: a quota of 400 ms per 100 ms
period, i.e. 4 CPUs; ``"max 100000"``: no limit), ``cpuset.cpus.effective`` (``"0-3,8"``),
``memory.max`` and ``cpu.stat`` (``usage_usec``). cgroup v1 (one tree per controller):
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1``: no limit),
``cpuset.effective_cpus``, ``memory.limit_in_bytes`` and ``cpuacct.usage`` (ns).

The group is read from ``/proc/self/cgroup``; a limit on any ancestor applies too, so the
tightest one on the way up to the mount root counts. When the listed path does not exist under
the mount (a container that mounts its own group as the root), the mount root is the group.

Example::

    >>> parse_cpu_list("0-3,8")
    frozenset({0, 1, 2, 3, 8})
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.machine import THIS_MACHINE, Machine

_NS_PER_S = 1e9
_US_PER_S = 1e6


@dataclass(frozen=True)
class CgroupLimits:
    """What the cgroup allows this process and where its CPU usage is read.

    ``cpu_quota`` is in CPUs (``None``: no quota) and ``cpu_quota_detail`` quotes the file
    that set it; ``cpuset`` holds the CPU ids allowed (``None``: not restricted or unknown);
    ``memory_limit_bytes`` is ``None`` without a limit.
    """

    version: int
    cpu_quota: float | None = None
    cpu_quota_detail: str | None = None
    cpuset: frozenset[int] | None = None
    memory_limit_bytes: int | None = None
    usage_path: str | None = None

    def usage_s(self) -> float:
        """CPU seconds used by every process of the group since it was created.

        Raises :class:`SensorUnavailable` when the usage file cannot be read.
        """
        if self.usage_path is None:
            raise SensorUnavailable(f"cgroup v{self.version}: no CPU usage file found")
        text = _read(self.usage_path)
        if text is None:
            raise SensorUnavailable(f"cannot read the cgroup CPU usage {self.usage_path}")
        if self.version == 1:
            return int(text) / _NS_PER_S
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / _US_PER_S
        raise SensorUnavailable(f"no usage_usec line in {self.usage_path}")


def read_cgroup(machine: Machine = THIS_MACHINE) -> CgroupLimits | None:
    """The limits of this process's cgroup, or ``None`` where there are no cgroups."""
    text = _read(machine.proc("self", "cgroup"))
    if text is None:
        return None
    paths: dict[str, str] = {}  # controller ("" for v2) -> path
    mounts: dict[str, str] = {}  # controller -> mount directory name under cgroup_root
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
            mounts[controller] = controllers
    if "cpu" in paths:
        return _read_v1(machine.cgroup_root, paths, mounts)
    if "" in paths:
        return _read_v2(machine.cgroup_root, paths[""])
    return None


def parse_cpu_list(text: str) -> frozenset[int]:
    """CPU ids from a kernel CPU list such as ``"0-3,8,10-11"``."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return frozenset(cpus)


def _read_v2(root: str, path: str) -> CgroupLimits:
    chain = _chain(root, path)
    quota = None
    detail = None
    for directory in chain:
        text = _read(os.path.join(directory, "cpu.max"))
        if text is None:
            continue
        limit, _, period = text.partition(" ")
        if limit != "max" and period:
            cpus = int(limit) / int(period)
            if quota is None or cpus < quota:
                quota, detail = cpus, f"cgroup v2 cpu.max {text!r}"
    return CgroupLimits(
        version=2,
        cpu_quota=quota,
        cpu_quota_detail=detail,
        cpuset=_first_cpu_list(chain, "cpuset.cpus.effective"),
        memory_limit_bytes=_tightest(chain, "memory.max"),
        usage_path=_first_existing(chain[:1], "cpu.stat"),
    )


def _read_v1(root: str, paths: dict[str, str], mounts: dict[str, str]) -> CgroupLimits:
    def chain(controller: str) -> list[str]:
        if controller not in paths:
            return []
        return _chain(os.path.join(root, mounts[controller]), paths[controller])

    quota = None
    detail = None
    for directory in chain("cpu"):
        limit = _read(os.path.join(directory, "cpu.cfs_quota_us"))
        period = _read(os.path.join(directory, "cpu.cfs_period_us"))
        if limit is None or period is None or int(limit) < 0:
            continue
        cpus = int(limit) / int(period)
        if quota is None or cpus < quota:
            quota = cpus
            detail = f"cgroup v1 cpu.cfs_quota_us {limit} / cpu.cfs_period_us {period}"
    cpuset_chain = chain("cpuset")
    return CgroupLimits(
        version=1,
        cpu_quota=quota,
        cpu_quota_detail=detail,
        cpuset=_first_cpu_list(cpuset_chain, "cpuset.effective_cpus")
        or _first_cpu_list(cpuset_chain, "cpuset.cpus"),
        memory_limit_bytes=_tightest(chain("memory"), "memory.limit_in_bytes"),
        usage_path=_first_existing(chain("cpuacct")[:1], "cpuacct.usage"),
    )


def _chain(mount: str, path: str) -> list[str]:
    """The group's directory and its ancestors up to the mount root, leaf first."""
    leaf = os.path.normpath(os.path.join(mount, path.lstrip("/")))
    if not os.path.isdir(leaf) or not leaf.startswith(os.path.normpath(mount)):
        return [mount]
    chain = [leaf]
    while os.path.normpath(chain[-1]) != os.path.normpath(mount):
        chain.append(os.path.dirname(chain[-1]))
    return chain


def _first_cpu_list(chain: list[str], name: str) -> frozenset[int] | None:
    for directory in chain:
        text = _read(os.path.join(directory, name))
        if text:
            return parse_cpu_list(text)
    return None


def _tightest(chain: list[str], name: str) -> int | None:
    limits = []
    for directory in chain:
        text = _read(os.path.join(directory, name))
        if text is not None and text.isdigit():
            limits.append(int(text))
    return min(limits, default=None)


def _first_existing(chain: list[str], name: str) -> str | None:
    for directory in chain:
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except (OSError, ValueError):
        return None

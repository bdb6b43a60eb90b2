"""Attribution: the part of a machine-wide energy figure that belongs to this job.

RAPL counters and the CPU and DRAM estimates are **node-wide**: they cover every process on
the machine (or in the container's CPUs). With ``method="process"`` (the default) a window's
node-wide energy is multiplied by this job's share of the busy CPU time of those CPUs over
the window::

    share = job CPU seconds / busy CPU seconds       (at most 1; 0 when nothing was busy)

The job's CPU seconds are those of its process trees (:class:`ProcessTreeTime`: the process,
its live children such as DataLoader workers, and its reaped children). A job alone on a
machine gets nearly all of the energy (the rest is other processes' work); N equal jobs get
1/N each; the shares of all processes sum to the machine's energy, as Scaphandre and Kepler
split host power. When the CPUs were not busy at all in a window, its energy (the idle floor)
is attributed to no process. Under DDP, the meter of local rank 0 adds the PIDs of the job's
other ranks on the node (:meth:`Attribution.add_root_pids`), so the node's energy is shared by
all of the job's processes there, counted once. With ``method="machine"`` the whole machine's
energy is reported.

GPUs are metered per device and not split; a GPU on which NVML lists other processes'
PIDs is labelled shared (:meth:`Attribution.others_on_device`).

Example::

    >>> record = attribution_record("process", ["cpu"], share=0.425, job_cpu_s=1.7,
    ...                             node_busy_cpu_s=4.0)
    >>> record["description"].split(" (")[0]
    "cpu: 42.5 % of the machine's energy, this job's share of its busy CPU time"
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Literal

from lightning_carbon.sensors.cputime import ProcessTreeTime

Method = Literal["process", "machine"]
METHODS: tuple[str, ...] = ("process", "machine")


def check_method(method: object) -> str:
    """``method`` if it is ``"process"`` or ``"machine"``; ``ValueError`` quoting it otherwise."""
    if method not in METHODS:
        raise ValueError(f"attribution must be 'process' or 'machine', got {method!r}")
    return str(method)


class Attribution:
    """How node-wide energy is split, and the CPU times it is split by.

    Args:
        method: ``"process"`` or ``"machine"`` (see the module docstring).
        tree: the job's process trees; ``None`` follows this process.
        node_busy_s: busy CPU seconds of the node's counted CPUs (from a fixed origin);
            the meter sets it from the CPU scope of its sensors when ``None``.

    Example::

        attribution = Attribution("process")
        attribution.add_root_pids(pids_of_the_other_ranks_on_this_node)
    """

    def __init__(
        self,
        method: Method = "process",
        *,
        tree: ProcessTreeTime | None = None,
        node_busy_s: Callable[[], float] | None = None,
    ) -> None:
        self.method = check_method(method)
        self.tree = tree if tree is not None else ProcessTreeTime([os.getpid()])
        self.node_busy_s = node_busy_s

    @property
    def root_pids(self) -> list[int]:
        """The PIDs whose process trees make up the job."""
        return self.tree.roots

    def add_root_pids(self, pids: Iterable[int]) -> None:
        """Count the process trees of ``pids`` as this job's too (each process once)."""
        self.tree.add_roots(int(pid) for pid in pids)

    def cpu_times(self) -> tuple[float, float]:
        """``(job CPU seconds, node busy CPU seconds)`` now, each from a fixed origin."""
        if self.node_busy_s is None:
            raise RuntimeError("Attribution.node_busy_s is not set")
        return self.tree.cpu_s(), self.node_busy_s()

    def others_on_device(self, device_pids: Collection[int]) -> str | None:
        """Why a device whose users are ``device_pids`` is shared, or ``None`` if it is not.

        PIDs from another PID namespace (a container) match none of the job's: then more
        than one process on the device counts as shared.
        """
        listed = set(device_pids)
        ours = self.tree.pids()
        if listed & ours:
            others = sorted(listed - ours)
            if not others:
                return None
            shown = ", ".join(map(str, others[:5])) + (", ..." if len(others) > 5 else "")
            return f"also used by {len(others)} other process(es) (PIDs {shown})"
        if len(listed) > 1:
            return (
                f"{len(listed)} processes on it, none with this job's PIDs (another PID "
                "namespace, e.g. a container): treated as shared"
            )
        return None


def window_share(job_cpu_s: float, node_busy_cpu_s: float) -> float:
    """The job's share of a window's busy CPU time, between 0 and 1.

    Example::

        >>> window_share(1.7, 4.0), window_share(2.0, 1.9), window_share(0.0, 0.0)
        (0.425, 1.0, 0.0)
    """
    if node_busy_cpu_s <= 0:
        return 0.0
    return min(max(job_cpu_s / node_busy_cpu_s, 0.0), 1.0)


def attribution_record(
    method: str,
    devices: Sequence[str],
    *,
    share: float | None = None,
    job_cpu_s: float | None = None,
    node_busy_cpu_s: float | None = None,
    root_pids: Sequence[int] = (),
    shared_devices: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON-ready description of how a reading's node-wide energy was split."""
    record: dict[str, Any] = {"method": method, "devices": list(devices)}
    names = ", ".join(devices)
    if not devices:
        record["description"] = "no machine-wide device: nothing split (GPUs are per device)"
    elif method == "machine":
        record["description"] = f"{names}: the whole machine's energy, not split"
    else:
        record.update(
            share=share,
            job_cpu_s=job_cpu_s,
            node_busy_cpu_s=node_busy_cpu_s,
            root_pids=list(root_pids),
        )
        if not node_busy_cpu_s:
            record["description"] = (
                f"{names}: none of the machine's energy: its CPUs were not busy in this "
                "window, so its idle energy is attributed to no process"
            )
        else:
            record["description"] = (
                f"{names}: {100 * (share or 0.0):.3g} % of the machine's energy, this job's "
                f"share of its busy CPU time ({job_cpu_s:.3g} of {node_busy_cpu_s:.3g} CPU s: "
                "the job's processes, live and exited children included)"
            )
    if shared_devices:
        record["shared_devices"] = dict(shared_devices)
    return record

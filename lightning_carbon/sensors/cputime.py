"""CPU time: how busy a set of CPUs was, and how much CPU a job's processes used.

**Busy CPU time** comes from the per-CPU lines of ``/proc/stat`` (in ``USER_HZ`` ticks):
``user + nice + system + irq + softirq``. Not counted: ``idle`` and ``iowait`` (nothing ran),
``steal`` (the hypervisor ran another VM: not this machine's work) and ``guest``/``guest_nice``
(already inside ``user``/``nice``). Without ``/proc/stat`` (not Linux), psutil's per-CPU times.

**A job's CPU time** is the sum over its root processes and all their live descendants of
``utime + stime + cutime + cstime`` from ``/proc/<pid>/stat``: a process's own time plus that
of the children it has reaped. When a DataLoader worker exits and is reaped, its time moves
from its own line into its parent's ``cutime``/``cstime``, so the sum stays continuous and
exited workers keep counting. Children are listed from ``/proc/<pid>/task/<tid>/children``
(no scan of the whole process table); without them, psutil.

Example::

    >>> busy_ticks("cpu0 100 5 20 900 7 1 2 30 4 0")
    128
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

import psutil

from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.machine import THIS_MACHINE, Machine, OpenFiles

_BUSY_FIELDS = (0, 1, 2, 5, 6)  # user nice system irq softirq, after the "cpuN" label
_STAT_UTIME = 11  # fields of /proc/<pid>/stat after "pid (comm) ": utime stime cutime cstime
_STAT_PPID = 1


def busy_ticks(line: str | bytes) -> int:
    """Busy ticks of one ``/proc/stat`` CPU line (see the module docstring)."""
    fields = line.split()[1:]
    return sum(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields))


def busy_cpu_s(cpus: Collection[int] | None, machine: Machine = THIS_MACHINE) -> float:
    """Busy CPU seconds since boot of the CPUs ``cpus`` (``None``: every CPU).

    Raises :class:`SensorUnavailable` when no CPU times can be read.
    """
    try:
        text = machine.files.read(machine.proc("stat"))
    except OSError:
        return _psutil_busy_s(cpus)
    if cpus is None:
        return busy_ticks(text[: text.index(b"\n")]) / machine.ticks_per_s
    lines = [line for line in text.splitlines() if line.startswith(b"cpu")]
    wanted = {f"cpu{cpu}".encode() for cpu in cpus}
    ticks = sum(busy_ticks(line) for line in lines[1:] if line.split(maxsplit=1)[0] in wanted)
    return ticks / machine.ticks_per_s


def _psutil_busy_s(cpus: Collection[int] | None) -> float:
    try:
        per_cpu = psutil.cpu_times(percpu=True)
    except (OSError, psutil.Error) as error:
        raise SensorUnavailable(f"cannot read CPU times ({error})") from error
    not_busy = ("idle", "iowait", "steal", "guest", "guest_nice")
    chosen = per_cpu if cpus is None else [t for i, t in enumerate(per_cpu) if i in cpus]
    return sum(
        seconds
        for times in chosen
        for name, seconds in times._asdict().items()
        if name not in not_busy
    )


class ProcessTreeTime:
    """CPU seconds used by the process trees under some root PIDs (see the module docstring).

    A process that disappears between two readings was either reaped by a process of the
    trees (its time is now in that parent's ``cutime``) or by someone else (a root that
    exited, a worker re-parented to init): then its last reading is kept. Readings never
    decrease.

    Example::

        tree = ProcessTreeTime([os.getpid()])
        before = tree.cpu_s(); ...; used = tree.cpu_s() - before
    """

    def __init__(self, roots: Iterable[int], machine: Machine = THIS_MACHINE) -> None:
        self._roots: list[int] = list(dict.fromkeys(roots))
        self._machine = machine
        self._files = OpenFiles()
        self._use_proc = os.path.exists(machine.proc("stat"))  # Linux: read /proc directly
        self._last: dict[int, tuple[float, int]] = {}  # pid -> (cpu_s, ppid) at the last read
        self._gone_s = 0.0
        self._total_s = 0.0
        self._read_paths: set[str] = set()

    @property
    def roots(self) -> list[int]:
        """The root PIDs, in the order they were added."""
        return list(self._roots)

    def add_roots(self, pids: Iterable[int]) -> None:
        """Count the trees under ``pids`` too (a PID already counted is counted once)."""
        for pid in pids:
            if pid not in self._roots:
                self._roots.append(pid)

    def cpu_s(self) -> float:
        """CPU seconds of every process of the trees, live or reaped."""
        now = self._read_proc() if self._use_proc else self._read_psutil()
        for pid, (cpu_s, ppid) in self._last.items():
            if pid not in now and ppid not in now:
                self._gone_s += cpu_s  # reaped outside the trees: keep what it had used
        self._last = now
        self._total_s = max(self._total_s, self._gone_s + sum(c for c, _ in now.values()))
        return self._total_s

    def pids(self) -> set[int]:
        """The live PIDs of the trees at the last :meth:`cpu_s` (the roots before any)."""
        return set(self._last) or set(self._roots)

    def _read_proc(self) -> dict[int, tuple[float, int]]:
        found: dict[int, tuple[float, int]] = {}
        pending = list(self._roots)
        while pending:  # parents before children: a child reaped meanwhile is in cutime
            pid = pending.pop(0)
            if pid in found:
                continue
            stat = self._proc_stat(pid)
            if stat is None:
                continue
            found[pid] = stat
            pending.extend(self._proc_children(pid))
        self._files.keep_only(self._read_paths)
        self._read_paths = set()
        return found

    def _read(self, path: str) -> bytes:
        self._read_paths.add(path)
        return self._files.read(path)

    def _proc_stat(self, pid: int) -> tuple[float, int] | None:
        try:
            raw = self._read(self._machine.proc(pid, "stat"))
        except OSError:
            return None
        fields = raw[raw.rindex(b")") + 2 :].split()
        ticks = sum(int(f) for f in fields[_STAT_UTIME : _STAT_UTIME + 4])
        return ticks / self._machine.ticks_per_s, int(fields[_STAT_PPID])

    def _proc_children(self, pid: int) -> list[int]:
        tasks = self._machine.proc(pid, "task")
        try:
            tids = os.listdir(tasks)
        except OSError:
            return []
        children: list[int] = []
        for tid in tids:
            try:
                children.extend(map(int, self._read(os.path.join(tasks, tid, "children")).split()))
            except OSError:
                continue
        return children

    def _read_psutil(self) -> dict[int, tuple[float, int]]:
        found: dict[int, tuple[float, int]] = {}
        for root in self._roots:
            try:
                tree = [psutil.Process(root)]
                tree += tree[0].children(recursive=True)
            except psutil.Error:
                continue
            for process in tree:
                try:
                    times = process.cpu_times()
                    ppid = process.ppid()
                except psutil.Error:
                    continue
                found[process.pid] = (
                    times.user + times.system + times.children_user + times.children_system,
                    ppid,
                )
        return found

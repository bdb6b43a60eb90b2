"""Where this machine's state is read from, and what its CPU is.

Every file and function the estimates read is a field of :class:`Machine`, so a test can
script a whole machine (``/proc/cpuinfo``, ``/proc/stat``, cgroup files, the process table,
the CPU affinity, the installed memory) in a temporary folder. :data:`THIS_MACHINE` reads the
real one.

Example::

    >>> cpu = parse_cpuinfo("processor : 0\\nvendor_id : AuthenticAMD\\ncpu family : 25\\n"
    ...                     "model : 1\\nmodel name : AMD EPYC\\nflags : fpu hypervisor\\n")
    >>> cpu.describe(), cpu.hypervisor, cpu.sockets, cpu.logical_cpus
    ('AMD EPYC (AuthenticAMD family 25 model 1)', True, 1, 1)
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

import psutil


class OpenFiles:
    """Files kept open and re-read from the start with ``pread``: one system call per read
    instead of open, read and close (a ``/proc`` file regenerates its content when read at
    offset 0, as ``top`` relies on). Thread-safe; the files close with :meth:`close` or when
    the object is collected.

    Example::

        files = OpenFiles()
        first = files.read("/proc/stat"); later = files.read("/proc/stat")   # fresh content
        files.close()
    """

    _CHUNK = 1 << 16

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def read(self, path: str) -> bytes:
        """The whole content of ``path`` now; raises ``OSError`` as ``open`` does."""
        with self._lock:
            fd = self._fds.get(path)
            if fd is not None:
                try:
                    return self._read_all(fd)
                except OSError:  # the process behind a /proc/<pid> file is gone
                    self._close(path)
            fd = os.open(path, os.O_RDONLY)
            try:
                content = self._read_all(fd)
            except OSError:
                os.close(fd)
                raise
            self._fds[path] = fd
            return content

    def keep_only(self, paths: Collection[str]) -> None:
        """Close every file but ``paths`` (those of processes no longer followed)."""
        with self._lock:
            for path in [p for p in self._fds if p not in paths]:
                self._close(path)

    def close(self) -> None:
        """Close every file."""
        self.keep_only(())

    def __del__(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read_all(self, fd: int) -> bytes:
        chunks = [os.pread(fd, self._CHUNK, 0)]
        while len(chunks[-1]) == self._CHUNK:
            chunks.append(os.pread(fd, self._CHUNK, self._CHUNK * len(chunks)))
        return b"".join(chunks)

    def _close(self, path: str) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fds.pop(path))


def _affinity() -> Collection[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return range(os.cpu_count() or 1)


def _memory_total_bytes() -> int:
    return psutil.virtual_memory().total


def _ticks_per_s() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):  # not POSIX: psutil gives seconds anyway
        return 100


@dataclass(frozen=True)
class Machine:
    """The sources of machine state, each replaceable.

    Attributes:
        cpuinfo_path: ``/proc/cpuinfo``.
        proc_root: the proc file system: ``stat`` (per-CPU times), ``self/cgroup``,
            ``<pid>/stat`` and ``<pid>/task/<tid>/children`` (process trees).
        cgroup_root: where the cgroup controllers are mounted.
        affinity: the CPU ids this process may run on (``os.sched_getaffinity(0)``).
        memory_total_bytes: installed memory in bytes (``psutil.virtual_memory().total``).
        ticks_per_s: the unit of ``/proc`` CPU times (``USER_HZ``, usually 100).
        clock: monotonic clock in seconds.
        files: the files read at every window edge, kept open.
    """

    cpuinfo_path: str = "/proc/cpuinfo"
    proc_root: str = "/proc"
    cgroup_root: str = "/sys/fs/cgroup"
    affinity: Callable[[], Collection[int]] = field(default=_affinity)
    memory_total_bytes: Callable[[], int] = field(default=_memory_total_bytes)
    ticks_per_s: float = field(default_factory=_ticks_per_s)
    clock: Callable[[], float] = field(default=time.monotonic)
    files: OpenFiles = field(default_factory=OpenFiles, compare=False, repr=False)

    def proc(self, *parts: str | int) -> str:
        """A path under :attr:`proc_root`, e.g. ``machine.proc(1234, "stat")``."""
        return os.path.join(self.proc_root, *map(str, parts))


THIS_MACHINE = Machine()


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the CPU (the first processor's fields).

    ``family``/``model``/``stepping`` are x86 numbers (``None`` elsewhere); ``arm_part`` is
    an ARM core's ``CPU part`` with ``arm_implementer``. ``sockets`` counts distinct
    ``physical id`` values (1 when none is given); ``logical_cpus`` the ``processor`` entries.
    """

    model_name: str
    vendor: str = ""
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    flags: frozenset[str] = frozenset()
    sockets: int = 1
    logical_cpus: int = 1
    arm_implementer: int | None = None
    arm_part: int | None = None

    @property
    def hypervisor(self) -> bool:
        """Whether the CPU runs under a hypervisor (the x86 ``hypervisor`` flag): a VM."""
        return "hypervisor" in self.flags

    def describe(self) -> str:
        """The name with the identifiers that place it, e.g. ``AMD EPYC (AuthenticAMD
        family 25 model 1)``."""
        ids = []
        if self.family is not None:
            ids.append(f"{self.vendor or 'vendor?'} family {self.family} model {self.model}")
        if self.arm_part is not None:
            ids.append(f"ARM implementer {self.arm_implementer:#x} part {self.arm_part:#x}")
        name = self.model_name or "unnamed CPU"
        return f"{name} ({', '.join(ids)})" if ids else name


def parse_cpuinfo(text: str) -> CpuInfo:
    """A :class:`CpuInfo` from the text of ``/proc/cpuinfo`` (x86 or ARM)."""
    first: dict[str, str] = {}
    physical_ids: set[str] = set()
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "physical id":
            physical_ids.add(value)
        elif key not in first:
            first[key] = value
    flags = first.get("flags") or first.get("Features") or ""
    return CpuInfo(
        model_name=first.get("model name", ""),
        vendor=first.get("vendor_id", ""),
        family=_int(first.get("cpu family")),
        model=_int(first.get("model")),
        stepping=_int(first.get("stepping")),
        flags=frozenset(flags.split()),
        sockets=max(len(physical_ids), 1),
        logical_cpus=max(processors, 1),
        arm_implementer=_int(first.get("CPU implementer")),
        arm_part=_int(first.get("CPU part")),
    )


def read_cpuinfo(machine: Machine = THIS_MACHINE) -> CpuInfo:
    """The :class:`CpuInfo` of ``machine``; without a readable ``cpuinfo``, what the
    platform says (the name from ``platform.processor()``, ``os.cpu_count()`` CPUs)."""
    try:
        with open(machine.cpuinfo_path, encoding="utf-8", errors="replace") as cpuinfo:
            found = parse_cpuinfo(cpuinfo.read())
    except OSError:
        found = CpuInfo("", logical_cpus=os.cpu_count() or 1)
    if not found.model_name:
        return replace(found, model_name=platform.processor().strip())
    return found


def read_cpu_name(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU model name: ``model name`` in ``cpuinfo_path``, else ``platform.processor()``.

    Returns ``""`` when neither says anything.
    """
    return read_cpuinfo(Machine(cpuinfo_path=cpuinfo_path)).model_name


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)  # ARM: hex
    except ValueError:
        return None

"""A scripted machine in a folder: ``/proc/cpuinfo``, ``/proc/stat``, cgroup files, processes.

:class:`FakeMachine` writes the files the estimates read and hands out a
:class:`~lightning_carbon.sensors.machine.Machine` pointing at them, with a fake clock that
:meth:`FakeMachine.run` moves together with the per-CPU tick counters, so a test knows the
exact busy, idle and steal seconds of every interval. Ticks are 100 per second.

Example::

    vm = FakeMachine(tmp_path, name="AMD EPYC", family=25, model=1, cpus=2)
    vm.run(10.0, busy=1.0)            # 10 s with both vCPUs fully busy
    vm.set_cgroup_v2(cpu_max="400000 100000")
    vm.add_process(500, ppid=1, utime_s=3.0)
"""

from __future__ import annotations

from pathlib import Path

from lightning_carbon.sensors.machine import Machine
from tests.fakes import FakeClock

TICKS_PER_S = 100
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest")


class FakeMachine:
    """See the module docstring. ``hypervisor``: the VM flag; ``sockets``: distinct
    ``physical id`` values; ``affinity``: the CPUs this process may use (default: all)."""

    def __init__(
        self,
        root: Path,
        *,
        name: str = "AMD EPYC",
        vendor: str = "AuthenticAMD",
        family: int = 25,
        model: int = 1,
        stepping: int = 1,
        hypervisor: bool = True,
        cpus: int = 2,
        sockets: int = 1,
        memory_GB: float = 16.0,
        affinity: set[int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.clock = FakeClock(1000.0)
        self.cpus = cpus
        self.memory_GB = memory_GB
        self.affinity = set(range(cpus)) if affinity is None else set(affinity)
        self.ticks = {cpu: dict.fromkeys(_FIELDS, 0) for cpu in range(cpus)}
        for directory in ("proc/self", "cgroup"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        flags = "fpu sse2 avx2" + (" hypervisor" if hypervisor else "")
        blocks = [
            f"processor\t: {cpu}\nvendor_id\t: {vendor}\ncpu family\t: {family}\n"
            f"model\t\t: {model}\nmodel name\t: {name}\nstepping\t: {stepping}\n"
            f"physical id\t: {cpu * sockets // cpus}\nflags\t\t: {flags}\n"
            for cpu in range(cpus)
        ]
        (self.root / "cpuinfo").write_text("\n".join(blocks))
        (self.root / "proc/self/cgroup").write_text("0::/\n")
        self._write_stat()

    def machine(self) -> Machine:
        """The :class:`Machine` reading this folder."""
        return Machine(
            cpuinfo_path=str(self.root / "cpuinfo"),
            proc_root=str(self.root / "proc"),
            cgroup_root=str(self.root / "cgroup"),
            affinity=lambda: set(self.affinity),
            memory_total_bytes=lambda: int(self.memory_GB * 2**30),
            ticks_per_s=TICKS_PER_S,
            clock=self.clock,
        )

    # -- time passes -------------------------------------------------------------------------

    def run(
        self,
        seconds: float,
        *,
        busy: float = 0.0,
        steal: float = 0.0,
        cpus: set[int] | None = None,
    ) -> None:
        """``seconds`` pass; on ``cpus`` (default all) a share ``busy`` is user time and a
        share ``steal`` stolen, the rest idle; other CPUs idle."""
        for cpu, ticks in self.ticks.items():
            on = cpus is None or cpu in cpus
            user = round(seconds * TICKS_PER_S * busy) if on else 0
            stolen = round(seconds * TICKS_PER_S * steal) if on else 0
            ticks["user"] += user
            ticks["steal"] += stolen
            ticks["idle"] += round(seconds * TICKS_PER_S) - user - stolen
        self.clock.advance(seconds)
        self._write_stat()

    # -- cgroups -----------------------------------------------------------------------------

    def set_cgroup_v2(
        self,
        *,
        cpu_max: str = "max 100000",
        cpuset: str | None = None,
        memory_max: str = "max",
        usage_s: float = 0.0,
        path: str = "/",
    ) -> None:
        """This process in a cgroup v2 group at ``path`` with these files."""
        group = self.root / "cgroup" / path.lstrip("/")
        group.mkdir(parents=True, exist_ok=True)
        (self.root / "proc/self/cgroup").write_text(f"0::{path}\n")
        (group / "cpu.max").write_text(f"{cpu_max}\n")
        (group / "memory.max").write_text(f"{memory_max}\n")
        if cpuset is not None:
            (group / "cpuset.cpus.effective").write_text(f"{cpuset}\n")
        self.set_cgroup_usage(usage_s, path=path)

    def set_cgroup_usage(self, usage_s: float, *, path: str = "/") -> None:
        """The v2 group's CPU usage (``cpu.stat`` ``usage_usec``)."""
        group = self.root / "cgroup" / path.lstrip("/")
        usage_us = round(usage_s * 1e6)
        (group / "cpu.stat").write_text(f"usage_usec {usage_us}\nuser_usec {usage_us}\n")

    def set_cgroup_v1(
        self, *, quota_us: int = -1, period_us: int = 100000, usage_s: float = 0.0
    ) -> None:
        """This process in the v1 ``cpu,cpuacct`` root group with this quota and usage."""
        group = self.root / "cgroup" / "cpu,cpuacct"
        group.mkdir(parents=True, exist_ok=True)
        (self.root / "proc/self/cgroup").write_text(
            "4:memory:/\n3:cpu,cpuacct:/docker/abc\n2:cpuset:/\n0::/\n"
        )
        (group / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
        (group / "cpu.cfs_period_us").write_text(f"{period_us}\n")
        (group / "cpuacct.usage").write_text(f"{round(usage_s * 1e9)}\n")

    # -- processes ---------------------------------------------------------------------------

    def add_process(
        self,
        pid: int,
        *,
        ppid: int = 1,
        utime_s: float = 0.0,
        stime_s: float = 0.0,
        cutime_s: float = 0.0,
        cstime_s: float = 0.0,
    ) -> None:
        """Write ``/proc/<pid>/stat`` and list the process among its parent's children."""
        directory = self.root / "proc" / str(pid)
        (directory / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
        ticks = [round(s * TICKS_PER_S) for s in (utime_s, stime_s, cutime_s, cstime_s)]
        fields = ["S", str(ppid), "0", "0", "0", "-1", "0", "0", "0", "0", "0"]
        fields += [str(t) for t in ticks] + ["20", "0", "1", "0"]
        (directory / "stat").write_text(f"{pid} (python (worker)) {' '.join(fields)}\n")
        children = self.root / "proc" / str(ppid) / "task" / str(ppid) / "children"
        if children.parent.is_dir():
            listed = children.read_text().split() if children.exists() else []
            if str(pid) not in listed:
                children.write_text(" ".join([*listed, str(pid)]) + " ")
        if not (directory / "task" / str(pid) / "children").exists():
            (directory / "task" / str(pid) / "children").write_text("")

    def process_times(self, pid: int) -> list[float]:
        """``[utime, stime, cutime, cstime]`` of ``pid`` in seconds."""
        fields = (self.root / "proc" / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return [int(t) / TICKS_PER_S for t in fields[11:15]]

    def reap(self, pid: int) -> None:
        """``pid`` exits and its parent reaps it: its time moves into the parent's cutime."""
        utime, stime, cutime, cstime = self.process_times(pid)
        stat = (self.root / "proc" / str(pid) / "stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        for path in sorted((self.root / "proc" / str(pid)).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (self.root / "proc" / str(pid)).rmdir()
        children = self.root / "proc" / str(ppid) / "task" / str(ppid) / "children"
        children.write_text(" ".join(c for c in children.read_text().split() if c != str(pid)))
        p_utime, p_stime, p_cutime, p_cstime = self.process_times(ppid)
        self.set_times(ppid, p_utime, p_stime, p_cutime + utime + cutime, p_cstime + stime + cstime)

    def set_times(self, pid: int, utime_s: float, stime_s=0.0, cutime_s=0.0, cstime_s=0.0):
        """Rewrite the CPU times of a process, keeping its parent."""
        stat = (self.root / "proc" / str(pid) / "stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        self.add_process(
            pid,
            ppid=ppid,
            utime_s=utime_s,
            stime_s=stime_s,
            cutime_s=cutime_s,
            cstime_s=cstime_s,
        )

    def _write_stat(self) -> None:
        def line(label: str, ticks: dict[str, int]) -> str:
            return f"{label} " + " ".join(str(ticks[f]) for f in _FIELDS) + " 0\n"

        total = {f: sum(t[f] for t in self.ticks.values()) for f in _FIELDS}
        text = line("cpu", total) + "".join(line(f"cpu{c}", t) for c, t in self.ticks.items())
        (self.root / "proc" / "stat").write_text(text + "intr 0\nctxt 0\n")

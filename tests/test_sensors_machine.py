"""The machine's state as the sensors read it: /proc/cpuinfo, /proc/stat, process trees, and
psutil where /proc is missing (scripted), with exact seconds."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

from lightning_carbon.sensors import cputime
from lightning_carbon.sensors import machine as machine_module
from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.cputime import ProcessTreeTime, busy_cpu_s, busy_ticks
from lightning_carbon.sensors.machine import (
    Machine,
    OpenFiles,
    parse_cpuinfo,
    read_cpu_name,
    read_cpuinfo,
)
from tests.fake_machine import FakeMachine

# --- cpuinfo ----------------------------------------------------------------------------------


def test_cpuinfo_without_names_or_flags_reads_empty_and_arm_features_are_flags():
    arm = parse_cpuinfo("processor : 0\nFeatures : fp asimd\nCPU part : 0xd0c\nmodel name : A: B\n")
    assert (arm.flags, arm.arm_part, arm.model_name) == (frozenset({"fp", "asimd"}), 0xD0C, "A: B")
    bare = parse_cpuinfo("processor : 0\n")
    assert (bare.model_name, bare.vendor, bare.flags) == ("", "", frozenset())


def test_an_unreadable_cpuinfo_falls_back_to_the_platform(tmp_path):
    found = read_cpuinfo(Machine(cpuinfo_path=str(tmp_path / "none")))
    assert found.logical_cpus == (os.cpu_count() or 1)
    assert read_cpu_name() == read_cpu_name("/proc/cpuinfo")


def test_a_cpuinfo_that_is_not_utf8_is_read_with_replacements(tmp_path):
    (tmp_path / "cpuinfo").write_bytes(b"processor : 0\nmodel name : Caf\xe9 CPU\n")
    assert read_cpu_name(str(tmp_path / "cpuinfo")) == "Caf\ufffd CPU"


def test_this_machines_affinity_and_clock_ticks(monkeypatch):
    assert machine_module._affinity() == os.sched_getaffinity(0)
    assert machine_module._ticks_per_s() == os.sysconf("SC_CLK_TCK")
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert list(machine_module._affinity()) == [0]
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert list(machine_module._affinity()) == [0, 1, 2]

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert machine_module._ticks_per_s() == 100


# --- busy CPU time ----------------------------------------------------------------------------


def test_busy_ticks_of_a_short_line_count_what_is_there():
    assert busy_ticks("cpu 1 2 3 4 5") == 6  # user nice system; idle and iowait are not busy


def test_busy_seconds_of_every_cpu_or_of_some(tmp_path):
    node = FakeMachine(tmp_path, cpus=2)
    node.run(10.0, busy=0.5)
    machine = node.machine()
    assert busy_cpu_s(None, machine) == pytest.approx(10.0)
    assert busy_cpu_s({0}, machine) == pytest.approx(5.0)
    assert busy_cpu_s({1}, machine) == pytest.approx(5.0)


Times = namedtuple(
    "Times", "user nice system idle iowait irq softirq steal guest guest_nice", defaults=[0.0] * 10
)


def _no_proc(tmp_path: Path) -> Machine:
    return Machine(proc_root=str(tmp_path / "no-proc"))


def test_without_proc_stat_psutil_counts_the_busy_fields(tmp_path, monkeypatch):
    per_cpu = [Times(1, 2, 3, 100, 5, 6, 7, 8, 9, 10), Times(10, 0, 0, 50, 0, 0, 0, 0, 0, 0)]

    def cpu_times(percpu=False):
        return per_cpu if percpu else Times(*map(sum, zip(*per_cpu, strict=True)))

    monkeypatch.setattr(cputime.psutil, "cpu_times", cpu_times)
    assert busy_cpu_s(None, _no_proc(tmp_path)) == 29.0  # 1+2+3+6+7 and 10
    assert busy_cpu_s({1}, _no_proc(tmp_path)) == 10.0

    def broken(percpu=False):
        raise psutil.AccessDenied(1)

    monkeypatch.setattr(cputime.psutil, "cpu_times", broken)
    with pytest.raises(SensorUnavailable, match=r"^cannot read CPU times \("):
        busy_cpu_s(None, _no_proc(tmp_path))


# --- process trees ----------------------------------------------------------------------------


def test_a_process_name_with_parentheses_is_read_from_its_last_one(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100)
    (tmp_path / "proc" / "100" / "stat").write_text(
        "100 (a) b) S 1 0 0 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0\n"
    )
    assert ProcessTreeTime([100], node.machine()).cpu_s() == 2.0


def test_a_root_that_is_also_a_child_is_counted_once_with_its_children(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100, utime_s=1.0)
    node.add_process(200, ppid=100, utime_s=2.0)
    node.add_process(300, ppid=200, utime_s=4.0)
    assert ProcessTreeTime([999, 100, 200], node.machine()).cpu_s() == 7.0  # 999 is gone


def test_threads_without_a_children_file_are_skipped(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100, utime_s=1.0)
    node.add_process(200, ppid=100, utime_s=2.0)
    for tid in ("101", "102", "103"):  # threads listed around the main one, unreadable
        (tmp_path / "proc" / "100" / "task" / tid).mkdir()
    assert ProcessTreeTime([100], node.machine()).cpu_s() == 3.0


def test_each_process_that_leaves_the_trees_keeps_its_time(tmp_path):
    node = FakeMachine(tmp_path)
    for pid, ppid, seconds in ((100, 1, 1), (101, 100, 2), (102, 101, 4), (103, 100, 8)):
        node.add_process(pid, ppid=ppid, utime_s=seconds)
    node.add_process(104, ppid=103, utime_s=16)
    tree = ProcessTreeTime([100], node.machine())
    assert tree.cpu_s() == 31.0
    for child, grandchild, seconds in ((101, 102, 4), (103, 104, 16)):
        # the grandchild is re-parented to init, out of the trees; 100 reaps the child
        (tmp_path / f"proc/{child}/task/{child}/children").write_text("")
        node.add_process(grandchild, ppid=1, utime_s=seconds)
        node.reap(child)
        assert tree.cpu_s() == 31.0
    node.set_times(100, 1.5, cutime_s=10.0)
    assert tree.cpu_s() == 31.5  # both grandchildren's last readings, and 100 with its children


class _Process:
    """A psutil.Process stand-in: a table of (user, system, children user, children system,
    ppid, children); a PID missing from it is gone, a negative user time is access denied."""

    table: dict = {}

    def __init__(self, pid):
        if pid not in self.table:
            raise psutil.NoSuchProcess(pid)
        self.pid = pid

    def children(self, recursive=False):
        direct = [_Process(c) for c in self.table[self.pid][5]]
        if not recursive:
            return direct
        return [p for child in direct for p in (child, *child.children(recursive=True))]

    def cpu_times(self):
        user, system, cuser, csystem, _, _ = self.table[self.pid]
        if user < 0:
            raise psutil.AccessDenied(self.pid)
        return namedtuple("T", "user system children_user children_system")(
            user, system, cuser, csystem
        )

    def ppid(self):
        return self.table[self.pid][4]


def test_without_proc_psutil_sums_each_tree_and_skips_what_it_cannot_read(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _Process,
        "table",
        {
            100: (1.0, 0.5, 0.25, 0.25, 1, [150, 200]),
            150: (-1.0, 0, 0, 0, 100, []),  # access denied
            200: (2.0, 0, 0, 0, 100, [300]),
            300: (4.0, 0, 0, 0, 200, []),
            400: (8.0, 0, 0, 0, 1, []),
        },
    )
    monkeypatch.setattr(cputime.psutil, "Process", _Process)
    tree = ProcessTreeTime([999, 100, 400], _no_proc(tmp_path))
    assert tree.cpu_s() == 16.0
    assert tree.pids() == {100, 200, 300, 400}
    # 300 exits and 200 reaps it: its time is now 200's children time, counted once
    _Process.table[200] = (2.0, 0, 4.0, 0, 100, [])
    del _Process.table[300]
    assert tree.cpu_s() == 16.0
    _Process.table[200] = (2.5, 0, 4.0, 0, 100, [])
    assert tree.cpu_s() == 16.5


# --- files kept open between reads ------------------------------------------------------------


def test_open_files_read_large_files_whole_and_keep_what_they_are_told(tmp_path):
    files = OpenFiles()
    big, small = tmp_path / "big", tmp_path / "small"
    content = bytes(range(256)) * 600  # 150 KiB: more than two chunks
    big.write_bytes(content)
    small.write_bytes(b"x")
    assert files.read(str(big)) == content and files.read(str(small)) == b"x"
    big.unlink()
    small.unlink()
    assert files.read(str(big)) == content  # the open file, though its name is gone
    files.keep_only([str(big)])
    assert files.read(str(big)) == content
    with pytest.raises(FileNotFoundError):
        files.read(str(small))
    files.close()
    with pytest.raises(FileNotFoundError):
        files.read(str(big))


def test_a_path_that_cannot_be_read_is_an_oserror_and_stays_closed(tmp_path):
    files = OpenFiles()
    with pytest.raises(IsADirectoryError):
        files.read(str(tmp_path))
    with pytest.raises(IsADirectoryError):
        files.read(str(tmp_path))

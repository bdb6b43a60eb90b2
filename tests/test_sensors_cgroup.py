"""The cgroup of this process from scripted files: v1 and v2 limits up the tree, the group's CPU
usage, and the lines and lists the kernel writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_carbon.sensors.base import SensorUnavailable
from lightning_carbon.sensors.cgroup import CgroupLimits, parse_cpu_list, read_cgroup
from lightning_carbon.sensors.machine import Machine


def _machine(root: Path, proc_self_cgroup: str, files: dict[str, str]) -> Machine:
    """A machine whose ``/proc/self/cgroup`` and cgroup files are these."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(proc_self_cgroup)
    for name, text in files.items():
        path = root / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    (root / "cgroup").mkdir(exist_ok=True)
    return Machine(proc_root=str(root / "proc"), cgroup_root=str(root / "cgroup"))


V1 = "12:memory:/job\n11:cpuset:/job\n10:cpu,cpuacct:/job/task\n"


def test_v1_takes_the_tightest_quota_up_the_tree_and_each_controllers_files(tmp_path):
    cpu = "cpu,cpuacct"
    machine = _machine(
        tmp_path,
        V1,
        {
            f"{cpu}/cpu.cfs_quota_us": "100000",  # no period beside it: not a limit
            f"{cpu}/job/cpu.cfs_quota_us": "400000",
            f"{cpu}/job/cpu.cfs_period_us": "200000",  # 2 CPUs
            f"{cpu}/job/task/cpu.cfs_quota_us": "200000",
            f"{cpu}/job/task/cpu.cfs_period_us": "100000",  # 2 CPUs too: the leaf's is quoted
            f"{cpu}/job/task/cpuacct.usage": "1500000000",
            f"{cpu}/job/cpuacct.usage": "9000000000",
            "cpuset/job/cpuset.effective_cpus": "0-1",
            "cpuset/job/cpuset.cpus": "0-7",
            "memory/memory.limit_in_bytes": "9223372036854771712",
            "memory/job/memory.limit_in_bytes": "1073741824",
        },
    )
    limits = read_cgroup(machine)
    assert limits == CgroupLimits(
        version=1,
        cpu_quota=2.0,
        cpu_quota_detail="cgroup v1 cpu.cfs_quota_us 200000 / cpu.cfs_period_us 100000",
        cpuset=frozenset({0, 1}),
        memory_limit_bytes=1073741824,
        usage_path=str(tmp_path / "cgroup" / cpu / "job" / "task" / "cpuacct.usage"),
    )
    assert limits.usage_s() == 1.5  # nanoseconds


def test_v1_skips_levels_without_a_quota_and_reads_the_configured_cpuset(tmp_path):
    cpu = "cpu,cpuacct"
    machine = _machine(
        tmp_path,
        "garbage\n" + V1,
        {
            f"{cpu}/job/task/cpu.cfs_quota_us": "-1",  # no limit here
            f"{cpu}/job/task/cpu.cfs_period_us": "100000",
            f"{cpu}/job/cpu.cfs_quota_us": "50000",  # no period file: skipped too
            f"{cpu}/cpu.cfs_quota_us": "300000",
            f"{cpu}/cpu.cfs_period_us": "100000",
            f"{cpu}/job/cpuacct.usage": "9000000000",  # the parent's, not the group's
            "cpuset/job/cpuset.cpus": "2-3",
        },
    )
    limits = read_cgroup(machine)
    assert (limits.cpu_quota, limits.cpuset, limits.usage_path) == (3.0, frozenset({2, 3}), None)
    with pytest.raises(SensorUnavailable, match=r"^cgroup v1: no CPU usage file found$"):
        limits.usage_s()


def test_v2_takes_the_tightest_quota_and_reads_usage_usec(tmp_path):
    machine = _machine(
        tmp_path,
        "0::/X1/pod:a\n",
        {
            "X1/pod:a/cpu.max": "max 100000",
            "X1/pod:a/cpu.stat": "nr_periods 0\nusage_usec 2500000\nuser_usec 2000000",
            "X1/cpu.max": "400000 200000",  # 2 CPUs
            "cpu.max": "200000 100000",  # 2 CPUs as well: the nearer one is quoted
            "X1/memory.max": "2147483648",
            "X1/pod:a/memory.max": "max",
            "X1/cpuset.cpus.effective": "0-3,8",
        },
    )
    limits = read_cgroup(machine)
    assert limits == CgroupLimits(
        version=2,
        cpu_quota=2.0,
        cpu_quota_detail="cgroup v2 cpu.max '400000 200000'",
        cpuset=frozenset({0, 1, 2, 3, 8}),
        memory_limit_bytes=2147483648,
        usage_path=str(tmp_path / "cgroup" / "X1" / "pod:a" / "cpu.stat"),
    )
    assert limits.usage_s() == 2.5  # microseconds


def test_v2_without_cpu_max_in_the_group_looks_up_and_names_a_missing_usage(tmp_path):
    machine = _machine(
        tmp_path,
        "0::/job\n",
        {"job/cpu.stat": "user_usec 5", "cpu.max": "100000 100000"},
    )
    limits = read_cgroup(machine)
    assert limits.cpu_quota == 1.0
    path = tmp_path / "cgroup" / "job" / "cpu.stat"
    with pytest.raises(SensorUnavailable, match=f"^no usage_usec line in {path}$"):
        limits.usage_s()


def test_without_cgroup_lines_there_is_no_group(tmp_path):
    assert read_cgroup(_machine(tmp_path, "garbage\n", {})) is None
    assert read_cgroup(Machine(proc_root=str(tmp_path / "none"))) is None


def test_cpu_lists_skip_empty_parts():
    assert parse_cpu_list("0-1,,3\n") == frozenset({0, 1, 3})
    assert parse_cpu_list("") == frozenset()


def test_v2_reads_the_groups_own_usage_only(tmp_path):
    machine = _machine(
        tmp_path, "0::/job\n", {"job/cpu.max": "max 100000", "cpu.stat": "usage_usec 1"}
    )
    assert read_cgroup(machine).usage_path is None

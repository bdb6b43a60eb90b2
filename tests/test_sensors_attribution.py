"""Attribution of node-wide energy to a job by its share of busy CPU time: scripted process
tables and machines for exact joules, then real process trees and a real DataLoader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from lightning_carbon import EnergyMeter
from lightning_carbon.reading import EnergyReading
from lightning_carbon.sensors.attribution import Attribution, attribution_record, window_share
from lightning_carbon.sensors.cputime import ProcessTreeTime
from lightning_carbon.sensors.estimate import CpuEstimateSensor, DramSensor
from lightning_carbon.sensors.nvml import discover_nvml
from tests.fake_machine import FakeMachine
from tests.fake_nvml import FakeNvml, fake_gpu

EPYC_3RD_GEN = (0.4556, 1.9573)


# --- process trees --------------------------------------------------------------------------


def test_a_tree_counts_its_workers_and_keeps_them_once_reaped(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100, utime_s=2.0, stime_s=0.5)
    node.add_process(101, ppid=100, utime_s=1.0)  # a DataLoader worker
    node.add_process(102, ppid=101, utime_s=0.25, cutime_s=0.5)  # its child, with its own
    node.add_process(900, utime_s=50.0)  # another job's process
    tree = ProcessTreeTime([100], node.machine())
    assert tree.cpu_s() == 2.0 + 0.5 + 1.0 + 0.25 + 0.5
    assert tree.pids() == {100, 101, 102}
    node.set_times(101, 1.5)  # the worker keeps working
    assert tree.cpu_s() == 4.75
    node.reap(102)  # exits: its times move into the worker's cutime
    assert node.process_times(101) == [1.5, 0.0, 0.75, 0.0]
    assert tree.cpu_s() == 4.75
    node.reap(101)  # the worker exits after its epoch
    assert tree.cpu_s() == 4.75
    assert tree.pids() == {100}


def test_processes_that_leave_the_trees_keep_their_last_reading(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100, utime_s=1.0)
    node.add_process(101, ppid=100, utime_s=2.0)
    node.add_process(102, ppid=101, utime_s=4.0)
    node.add_process(200, ppid=7, utime_s=8.0)  # another root, e.g. a DDP rank
    tree = ProcessTreeTime([100, 200], node.machine())
    assert tree.cpu_s() == 15.0
    # 101 dies and 100 reaps it; its child 102 is re-parented to init, out of the trees
    (tmp_path / "proc/101/task/101/children").write_text("")
    node.reap(101)
    node.add_process(102, ppid=1, utime_s=4.5)
    assert tree.cpu_s() == 15.0  # 102 counts with its last reading in the trees
    (tmp_path / "proc/200/stat").unlink()  # the other root exits, reaped by its launcher
    assert tree.cpu_s() == 15.0
    node.set_times(100, 1.5, cutime_s=2.0)
    assert tree.cpu_s() == 15.5


def test_roots_added_later_count_each_process_once(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(300, utime_s=1.0)  # local rank 0
    node.add_process(301, ppid=300, utime_s=2.0)  # rank 1, launched by rank 0
    node.add_process(400, ppid=7, utime_s=4.0)  # rank 2, a sibling under a launcher
    tree = ProcessTreeTime([300], node.machine())
    assert tree.cpu_s() == 3.0
    tree.add_roots([301, 400, 300])
    assert tree.roots == [300, 301, 400]
    assert tree.cpu_s() == 7.0


def test_readings_never_decrease(tmp_path):
    node = FakeMachine(tmp_path)
    node.add_process(100, utime_s=5.0)
    tree = ProcessTreeTime([100], node.machine())
    assert tree.cpu_s() == 5.0
    node.set_times(100, 4.0)  # a counter seen stepping back
    assert tree.cpu_s() == 5.0


@pytest.mark.parametrize(
    ("job_s", "node_s", "share"),
    [(1.7, 4.0, 0.425), (2.1, 2.0, 1.0), (0.0, 0.0, 0.0), (0.5, 0.8, 0.625), (1.0, -1.0, 0.0)],
)
def test_window_share(job_s, node_s, share):
    assert window_share(job_s, node_s) == share


def test_a_split_without_a_share_says_0_percent():
    record = attribution_record("process", ["cpu"], job_cpu_s=0.0, node_busy_cpu_s=2.0)
    assert record["description"].startswith("cpu: 0 % of the machine's energy")


def test_without_a_busy_time_source_cpu_times_say_what_is_missing():
    with pytest.raises(RuntimeError) as raised:
        Attribution(tree=ProcessTreeTime([os.getpid()])).cpu_times()
    assert str(raised.value) == "Attribution.node_busy_s is not set"


@pytest.mark.parametrize(
    ("others", "shown"),
    [(5, "1, 2, 3, 4, 5"), (6, "1, 2, 3, 4, 5, ..."), (7, "1, 2, 3, 4, 5, ...")],
)
def test_a_shared_device_names_at_most_five_other_processes(others, shown):
    attribution = Attribution(tree=ProcessTreeTime([os.getpid()]))
    reason = attribution.others_on_device({os.getpid(), *range(1, others + 1)})
    assert reason == f"also used by {others} other process(es) (PIDs {shown})"


# --- meters on a scripted VM ----------------------------------------------------------------


def _meter(node: FakeMachine, *roots: int, method: str = "process") -> EnergyMeter:
    """A meter for the job under ``roots`` with the estimates of the scripted ``node``."""
    machine = node.machine()
    cpu = CpuEstimateSensor(machine=machine)
    dram = DramSensor(scope=cpu.scope, clock=node.clock)
    attribution = Attribution(
        method, tree=ProcessTreeTime(roots, machine), node_busy_s=cpu.scope.busy_s
    )
    return EnergyMeter(
        [cpu, dram], clock=node.clock, synchronize=lambda: None, attribution=attribution
    )


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_n_equal_jobs_get_1_over_n_each_and_sum_to_the_machine(tmp_path, jobs):
    node = FakeMachine(tmp_path, cpus=4, memory_GB=8.0)
    pids = [100 * (j + 1) for j in range(jobs)]
    for pid in pids:
        node.add_process(pid)
        node.add_process(pid + 1, ppid=pid)  # each job has a worker
    meters = [_meter(node, pid) for pid in pids]
    for meter in meters:
        meter.begin("epoch")
    node.run(10.0, busy=1.0)  # 40 busy CPU seconds, 40 / jobs per job, half in its worker
    for pid in pids:
        node.set_times(pid, 20.0 / jobs)
        node.set_times(pid + 1, 20.0 / jobs)
    readings = [meter.end("epoch") for meter in meters]
    low, high = EPYC_3RD_GEN
    machine_cpu_J = 4 * high * 10.0
    machine_dram_J = 8.0 * 0.392 * 10.0
    for reading in readings:
        assert reading.machine_energy_J_by_device["cpu"] == pytest.approx(machine_cpu_J, 1e-12)
        assert reading.machine_energy_J_by_device["dram"] == pytest.approx(machine_dram_J, 1e-12)
        assert reading.energy_J_by_device["cpu"] == pytest.approx(machine_cpu_J / jobs, 1e-12)
        assert reading.energy_J_by_device["dram"] == pytest.approx(machine_dram_J / jobs, 1e-12)
        assert reading.attribution["share"] == 1 / jobs
        assert reading.attribution["job_cpu_s"] == pytest.approx(40.0 / jobs, 1e-12)
        assert reading.attribution["node_busy_cpu_s"] == 40.0
    assert sum(r.energy_J for r in readings) == pytest.approx(readings[0].machine_energy_J, 1e-12)
    for meter in meters:
        meter.close()


def test_two_unequal_jobs_split_the_machine_by_cpu_time_and_sum_to_it(tmp_path):
    node = FakeMachine(tmp_path, cpus=2)
    node.add_process(100)
    node.add_process(200)
    first, second = _meter(node, 100), _meter(node, 200)
    first.begin("w")
    second.begin("w")
    node.run(10.0, busy=0.8)  # 16 busy CPU seconds
    node.set_times(100, 12.0)
    node.set_times(200, 4.0)
    a, b = first.end("w"), second.end("w")
    assert (a.attribution["share"], b.attribution["share"]) == (0.75, 0.25)
    assert a.energy_J + b.energy_J == pytest.approx(a.machine_energy_J, 1e-12)
    assert a.attribution["description"] == (
        "cpu, dram: 75 % of the machine's energy, this job's share of its busy CPU time "
        "(12 of 16 CPU s: the job's processes, live and exited children included)"
    )
    assert a.attribution["root_pids"] == [100]


def test_under_ddp_the_node_is_shared_by_all_ranks_once(tmp_path):
    node = FakeMachine(tmp_path, cpus=2)
    node.add_process(300)  # local rank 0, metering the node
    node.add_process(301, ppid=300)  # local rank 1, its child
    node.add_process(900)  # another job
    meter = _meter(node, 300)
    meter.add_job_pids([301])
    meter.begin("epoch")
    node.run(10.0, busy=1.0)
    node.set_times(300, 6.0)
    node.set_times(301, 6.0)
    node.set_times(900, 8.0)
    reading = meter.end("epoch")
    assert reading.attribution["share"] == 0.6
    assert meter.attribution.root_pids == [300, 301]


def test_a_window_where_nothing_was_busy_attributes_nothing(tmp_path):
    node = FakeMachine(tmp_path, cpus=2)
    node.add_process(100)
    meter = _meter(node, 100)
    meter.begin("steal")
    node.run(10.0, steal=1.0)  # the hypervisor ran other VMs: no busy time here
    reading = meter.end("steal")
    assert reading.machine_energy_J_by_device["cpu"] == pytest.approx(2 * 0.4556 * 10, 1e-12)
    assert reading.energy_J_by_device == {"cpu": 0.0, "dram": 0.0}
    assert reading.attribution["description"] == (
        "cpu, dram: none of the machine's energy: its CPUs were not busy in this window, so "
        "its idle energy is attributed to no process"
    )


def test_machine_attribution_reports_the_whole_machine(tmp_path):
    node = FakeMachine(tmp_path, cpus=2)
    node.add_process(100)
    meter = _meter(node, 100, method="machine")
    meter.begin("w")
    node.run(10.0, busy=1.0)
    reading = meter.end("w")
    assert reading.energy_J_by_device == reading.machine_energy_J_by_device
    assert reading.energy_J == pytest.approx(2 * 1.9573 * 10 + 16 * 0.392 * 10, rel=1e-12)
    assert reading.attribution == {
        "method": "machine",
        "devices": ["cpu", "dram"],
        "description": "cpu, dram: the whole machine's energy, not split",
    }


def test_discovered_meter_splits_by_the_discovered_scope(tmp_path):
    node = FakeMachine(tmp_path / "node", cpus=2, memory_GB=4.0)
    node.add_process(100)
    (tmp_path / "powercap").mkdir()
    attribution = Attribution(tree=ProcessTreeTime([100], node.machine()))
    meter = EnergyMeter(
        gpu_indices=[],
        powercap_root=str(tmp_path / "powercap"),
        machine=node.machine(),
        clock=node.clock,
        attribution=attribution,
    ).start()
    meter.begin("w")
    node.run(10.0, busy=0.5)
    node.set_times(100, 5.0)
    reading = meter.end("w")
    assert reading.attribution["share"] == 0.5
    assert reading.energy_J_by_device["cpu"] == pytest.approx(
        0.5 * (2 * 0.4556 * 10 + (1.9573 - 0.4556) * 10), rel=1e-12
    )
    meter.close()


def test_attribution_must_be_process_or_machine():
    with pytest.raises(ValueError, match="attribution must be 'process' or 'machine', got 'node'"):
        EnergyMeter([], attribution="node")


# --- readings keep both figures -------------------------------------------------------------


def _split_reading(cpu_J: float, machine_cpu_J: float, job_s: float, node_s: float):
    return EnergyReading(
        "epoch",
        10.0,
        {"gpu:0": 100.0, "cpu": cpu_J},
        {"gpu:0": "gpu", "cpu": "cpu"},
        {"gpu:0": "measured", "cpu": "estimated"},
        machine_energy_J_by_device={"cpu": machine_cpu_J},
        attribution={
            "method": "process",
            "devices": ["cpu"],
            "share": cpu_J / machine_cpu_J,
            "job_cpu_s": job_s,
            "node_busy_cpu_s": node_s,
            "root_pids": [1],
            "description": "...",
        },
    )


def test_readings_round_trip_both_figures_and_add_them():
    first = _split_reading(10.0, 40.0, 1.0, 4.0)
    assert first.machine_energy_J_by_device == {"gpu:0": 100.0, "cpu": 40.0}
    assert (first.energy_J, first.machine_energy_J) == (110.0, 140.0)
    assert first.machine_energy_kWh == 140.0 / 3.6e6
    assert first.machine_energy_J_by_component == {"gpu": 100.0, "cpu": 40.0}
    data = first.to_dict()
    assert data["devices"]["cpu"] == {
        "component": "cpu",
        "provenance": "estimated",
        "energy_J": 10.0,
        "machine_energy_J": 40.0,
    }
    assert data["machine_energy_J"] == 140.0
    assert EnergyReading.from_dict(data) == first
    total = first.plus(_split_reading(30.0, 40.0, 3.0, 4.0))
    assert total.energy_J_by_device == {"gpu:0": 200.0, "cpu": 40.0}
    assert total.machine_energy_J_by_device == {"gpu:0": 200.0, "cpu": 80.0}
    assert (total.attribution["share"], total.attribution["job_cpu_s"]) == (0.5, 4.0)
    assert total.attribution["node_busy_cpu_s"] == 8.0
    assert total.attribution["description"].startswith("cpu: 50 % of the machine's energy")


def test_a_reading_written_before_attribution_loads_with_the_machine_as_the_job():
    old = {
        "name": "epoch",
        "duration_s": 2.0,
        "devices": {"cpu": {"component": "cpu", "provenance": "estimated", "energy_J": 4.0}},
    }
    reading = EnergyReading.from_dict(old)
    assert reading.machine_energy_J_by_device == {"cpu": 4.0}
    assert reading.attribution == {}


# --- shared GPUs ----------------------------------------------------------------------------


def test_a_gpu_other_processes_use_is_labelled_shared_with_one_warning(tmp_path):
    node = FakeMachine(tmp_path)
    gpu = fake_gpu(0, counter_mJ=lambda t: int(100_000 * t), pids=[os.getpid()])
    nvml = FakeNvml([gpu], node.clock)
    sensors, _ = discover_nvml([0], nvml=nvml, visible_devices=None, clock=node.clock)
    meter = EnergyMeter(sensors, clock=node.clock, synchronize=lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meter.begin("alone")
        node.clock.advance(1.0)
        alone = meter.end("alone")
    assert alone.notes == () and "shared_devices" not in alone.attribution
    gpu.pids.append(4242)  # someone else starts on our GPU
    meter.begin("shared")
    node.clock.advance(10.0)  # window ends check who uses the devices every 10 s
    with pytest.warns(RuntimeWarning, match="gpu:0 is shared: also used by 1 other") as caught:
        shared = meter.end("shared")
    assert len(caught) == 1
    reason = "also used by 1 other process(es) (PIDs 4242)"
    assert shared.notes == (f"gpu:0 is shared: {reason}",)
    assert shared.attribution["shared_devices"] == {"gpu:0": reason}
    assert shared.energy_J_by_device == shared.machine_energy_J_by_device == {"gpu:0": 1000.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once
        meter.begin("again")
        node.clock.advance(11.0)
        assert meter.end("again").attribution["shared_devices"] == {"gpu:0": reason}
    meter.close()


# --- real processes -------------------------------------------------------------------------

_BURN = """
import time

def burn(cpu_s):
    start = time.process_time()
    while time.process_time() - start < cpu_s:
        pass
"""

_TREE_JOB = (
    _BURN
    + """
import json, multiprocessing, os, sys
from lightning_carbon.sensors.cputime import ProcessTreeTime, busy_cpu_s

tree = ProcessTreeTime([os.getpid()])
print("ready", flush=True); sys.stdin.readline()
job0, node0 = tree.cpu_s(), busy_cpu_s(None)
child = multiprocessing.get_context("fork").Process(target=burn, args=(0.6,))
child.start(); burn(0.6); child.join()
print("done", flush=True); sys.stdin.readline()
job, node = tree.cpu_s() - job0, busy_cpu_s(None) - node0
print(json.dumps({"job": job, "node": node}), flush=True)
"""
)


@pytest.mark.slow
def test_two_real_process_trees_on_one_node_each_get_about_half():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", _TREE_JOB],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for step in ("ready", "done"):  # both windows open and close together
            assert [job.stdout.readline().strip() for job in jobs] == [step, step]
            for job in jobs:
                job.stdin.write("go\n")
                job.stdin.flush()
        results = [json.loads(job.stdout.readline()) for job in jobs]
    finally:
        for job in jobs:
            job.kill() if job.poll() is None else None
            job.wait(timeout=30)
    for result in results:
        # each job: 0.6 s in its process and 0.6 s in a child reaped before the window ended
        assert 1.15 <= result["job"] <= 1.6, result
        assert result["job"] <= result["node"] * 1.05, result
    shares = [window_share(r["job"], r["node"]) for r in results]
    assert sum(shares) <= 1.05, shares  # the node's busy time holds both jobs
    assert abs(shares[0] - shares[1]) <= 0.2, shares  # equal jobs, equal shares


_DATALOADER_JOB = """
import json, os, time
import torch
from torch.utils.data import DataLoader, Dataset
from lightning_carbon.sensors.cputime import ProcessTreeTime

class Busy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        start = time.process_time()
        while time.process_time() - start < 0.05:
            pass
        return torch.zeros(1)

tree = ProcessTreeTime([os.getpid()])
start_job, start_own = tree.cpu_s(), sum(os.times()[:2])
loader = DataLoader(Busy(), batch_size=1, num_workers=2)
batches = iter(loader)
for _ in range(4):
    next(batches)
mid_job = tree.cpu_s() - start_job
live_workers = len(tree.pids()) - 1
for _ in batches:
    pass
del batches
import psutil
alive = len(psutil.Process().children())
end_job = tree.cpu_s() - start_job
own = sum(os.times()[:2]) - start_own
print(json.dumps({"mid": mid_job, "end": end_job, "own": own, "live": live_workers,
                  "alive": alive}))
"""


@pytest.mark.slow
def test_dataloader_workers_count_while_alive_and_after_they_exit():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DATALOADER_JOB)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["live"] == 2 and result["alive"] == 0, (result, time.monotonic() - started)
    # 8 items x 0.05 s of CPU in the workers, all of them counted once the workers are gone
    assert result["end"] - result["own"] >= 8 * 0.05 * 0.9, result
    assert result["mid"] <= result["end"]

"""Two-node DDP on one machine: two launches with ``num_nodes=2`` and ``NODE_RANK`` 0 and 1,
the master on 127.0.0.1, one or two CPU processes each (gloo). See tests/multinode_worker.py
for the scripted sensors: each node's CPU and DRAM differ, each rank has its own "GPU".
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

KWH = 3.6e6
ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(out, devices, fail_node1_cpu=False):
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("LOCAL_RANK", None)
    nodes = [
        subprocess.Popen(
            [sys.executable, "tests/multinode_worker.py", str(out), str(devices)]
            + ["1" if fail_node1_cpu else "0"],
            cwd=ROOT,
            env={**env, "NODE_RANK": str(node)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    try:
        outputs = [node.communicate(timeout=240)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    for node, output in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, output[-3000:]
    return outputs


def _logged(out, world_size):
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world_size)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("devices", "per_epoch_J", "devices_J"),
    [
        # rank 0: GPU 2x10 + 5; rank 1: 2x20 + 5; node 0: CPU 2x2 + 1, DRAM 1.5; node 1: CPU
        # 2x4 + 1, DRAM 1.5
        (
            1,
            87.0,
            {"node0/gpu:0": 25, "node1/gpu:1": 45, "node0/cpu": 5, "node0/dram": 1.5}
            | {"node1/cpu": 9, "node1/dram": 1.5},
        ),
        # four ranks of one training batch each: GPUs 15, 25, 35, 45 J; each node's sensors
        # count the batches of its local rank 0 only
        (
            2,
            130.0,
            {"node0/gpu:0": 15, "node0/gpu:1": 25, "node1/gpu:2": 35, "node1/gpu:3": 45}
            | {"node0/cpu": 3, "node0/dram": 1, "node1/cpu": 5, "node1/dram": 1},
        ),
    ],
)
def test_each_nodes_energy_is_counted_once(tmp_path, devices, per_epoch_J, devices_J):
    _two_nodes(tmp_path, devices)
    for logged in _logged(tmp_path, 2 * devices):  # every rank logs the same values
        assert logged["energy/epoch_kWh"] == pytest.approx(per_epoch_J / KWH)
        assert logged["energy/total_kWh"] == pytest.approx(2 * per_epoch_J / KWH, rel=1e-6)
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["hardware"] == {**summary["hardware"], "world_size": 2 * devices, "num_nodes": 2}
    epochs_J = {name: d["energy_J"] for name, d in summary["devices"].items()}
    assert epochs_J == pytest.approx({name: 2 * joules for name, joules in devices_J.items()})
    assert summary["energy_kWh"] == pytest.approx(2 * per_epoch_J / KWH)
    records = [json.loads(line) for line in (tmp_path / "carbon" / "epochs.jsonl").open()]
    # global rank 0 alone writes: two epochs and one outside-epochs line
    assert [r["stage"] for r in records] == ["train", "train", "outside_epochs"]
    assert summary["missing_devices"] == {}


@pytest.mark.slow
def test_a_node_that_loses_its_sensors_is_marked_and_nothing_hangs(tmp_path):
    outputs = _two_nodes(tmp_path, 1, fail_node1_cpu=True)
    assert "sensor cpu failed" in outputs[1]
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    missing = summary["missing_devices"]
    assert list(missing) == ["node1/cpu"] and missing["node1/cpu"]["from_epoch"] == 1
    assert "node lost its sensor" in missing["node1/cpu"]["reason"]
    # node 1's CPU counted its first epoch (9 J) only
    assert summary["devices"]["node1/cpu"]["energy_J"] == pytest.approx(9)
    assert summary["energy_kWh"] == pytest.approx((2 * 87 - 9) / KWH)
    records = [json.loads(line) for line in (tmp_path / "carbon" / "epochs.jsonl").open()]
    assert [r.get("partial") for r in records if r["stage"] == "train"] == [False, True]
    statement = (tmp_path / "carbon" / "statement.md").read_text()
    assert "Incomplete: node1/cpu stopped reporting in epoch 1" in statement

"""DDP with two CPU processes (ddp_spawn): each rank meters its own 'GPU', the node is
metered once (local rank 0), and the totals are the sum over ranks.

Each rank gets 8 of the 16 training samples (2 batches) and 4 of the 8 validation samples
(1 batch). step_sensors gives rank r a GPU of 10 J x (r + 1) per training batch and 5 J per
validation batch: rank 0 -> 25 J, rank 1 -> 45 J; the node's CPU 2x2 + 1 = 5 J and DRAM
2x0.5 + 0.5 = 1.5 J, counted once: 76.5 J in all.
"""

import json

import pytest
from pytorch_lightning import Trainer

from lightning_carbon import CarbonCallback
from lightning_carbon.intensity.choice import IntensityChoice
from lightning_carbon.intensity.table import country_intensity
from tests.fakes import (
    DumpMetricsPerRank,
    RankDependentLive,
    StepModel,
    step_sensors,
    step_sensors_broken_off_local_rank_0,
)

KWH = 3.6e6


def _fit_on_two_ranks(tmp_path, sensors, callback=None, *more_callbacks) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        callbacks=[callback or CarbonCallback(country="DNK", sensors=sensors), *more_callbacks],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(StepModel())
    return trainer


@pytest.mark.slow
def test_ddp_spawn_sums_ranks_and_counts_the_node_once(tmp_path):
    trainer = _fit_on_two_ranks(tmp_path, step_sensors)
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(76.5 / KWH)
    assert trainer.callback_metrics["energy/gpu_kWh"].item() == pytest.approx(70 / KWH)
    assert trainer.callback_metrics["energy/cpu_kWh"].item() == pytest.approx(5 / KWH)

    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(76.5 / KWH)
    devices = {name: d["energy_J"] for name, d in summary["devices"].items()}
    assert devices == pytest.approx(
        {"node0/gpu:0": 25.0, "node0/gpu:1": 45.0, "node0/cpu": 5.0, "node0/dram": 1.5}
    )
    assert summary["hardware"]["world_size"] == 2
    records = [json.loads(line) for line in (tmp_path / "carbon" / "epochs.jsonl").open()]
    # written by global rank 0 only: the epoch, and (nothing) outside it
    assert [r["stage"] for r in records] == ["train", "outside_epochs"]
    assert records[1]["energy_kWh"] == 0.0


@pytest.mark.slow
def test_a_rank_whose_metering_broke_neither_stalls_nor_skews_the_others(tmp_path):
    # Rank 1's setup fails: it still joins every gather (with nothing), so training finishes
    # and the totals hold rank 0's GPU (25 J) and the node (6.5 J) only.
    trainer = _fit_on_two_ranks(tmp_path, step_sensors_broken_off_local_rank_0)
    assert trainer.state.finished
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(31.5 / KWH)
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert set(summary["devices"]) == {"node0/gpu:0", "node0/cpu", "node0/dram"}


@pytest.mark.slow
def test_every_rank_uses_global_rank_0s_live_intensity(tmp_path):
    callback = CarbonCallback(country="DNK", sensors=step_sensors)
    callback.run.intensity_choice = IntensityChoice(
        country_intensity("DNK"), None, RankDependentLive()
    )
    _fit_on_two_ranks(tmp_path, None, callback, DumpMetricsPerRank(tmp_path))
    for rank in (0, 1):
        logged = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert logged["carbon/intensity_gCO2e_per_kWh"] == 100.0, rank
        assert logged["carbon/total_gCO2e"] == pytest.approx(76.5 / KWH * 100.0), rank


@pytest.mark.slow
def test_the_nodes_estimated_energy_is_shared_by_all_the_jobs_ranks_on_it(tmp_path):
    # real discovery on this machine: local rank 0 estimates the CPU and DRAM, and splits
    # them by the busy CPU time of the job, which is both ranks' process trees
    _fit_on_two_ranks(tmp_path, None, CarbonCallback(country="DNK"))
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    attribution = summary["attribution"]
    assert attribution["method"] == "process"
    assert sorted(attribution["devices"]) == ["node0/cpu", "node0/dram"]
    assert len(set(attribution["root_pids"])) == 2  # rank 0 and the rank it was given
    assert attribution["job_cpu_s"] > 0
    cpu = summary["devices"]["node0/cpu"]
    assert 0 < cpu["energy_J"] <= cpu["machine_energy_J"]
    assert (
        "Attribution: node0/cpu, node0/dram:" in (tmp_path / "carbon" / "statement.md").read_text()
    )

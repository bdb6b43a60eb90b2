"""One CarbonCallback for ``lightning.pytorch`` and ``pytorch_lightning``; Fabric; monitors.

The step-scripted sensors of tests/fakes.py give 63 J per epoch and 13 J for the sanity check
(see tests/test_callback.py).
"""

import csv
import json
import re

import lightning.pytorch as L
import pytest
import pytorch_lightning as pl

from lightning_carbon import CarbonCallback
from lightning_carbon.intensity.table import country_intensity
from tests.fakes import StepModel, step_model_class, step_sensors

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh
LStepModel = step_model_class(L.LightningModule, "LStepModel", __name__)
"""The step-counting model for ``lightning.pytorch``."""
PACKAGES = [(L, LStepModel), (pl, StepModel)]


def _callback(**kwargs):
    return CarbonCallback(country="DNK", sensors=step_sensors, **kwargs)


def test_the_callback_is_a_callback_of_both_packages():
    assert isinstance(_callback(), L.Callback)
    assert isinstance(_callback(), pl.Callback)


@pytest.mark.parametrize(("package", "model"), PACKAGES)
def test_both_trainers_meter_the_run(tmp_path, package, model):
    trainer = package.Trainer(
        accelerator="cpu",
        max_epochs=2,
        callbacks=[_callback()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model())
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(139 / KWH)
    summary = json.loads((tmp_path / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(139 / KWH)


def _cli_config(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "trainer:\n"
        "  accelerator: cpu\n"
        "  max_epochs: 1\n"
        "  logger: false\n"
        "  enable_checkpointing: false\n"
        "  enable_progress_bar: false\n"
        "  enable_model_summary: false\n"
        f"  default_root_dir: {tmp_path}\n"
        "  callbacks:\n"
        "    - class_path: lightning_carbon.CarbonCallback\n"
        "      init_args:\n"
        "        country: DNK\n"
        "        pue: 1.2\n"
        "        budget_kwh: 1.0\n"
        "        attribution: machine\n"
        "        sensors: tests.fakes.step_sensors\n"
    )
    return config


@pytest.mark.parametrize(
    ("cli_module", "model"),
    [("lightning.pytorch.cli", LStepModel), ("pytorch_lightning.cli", StepModel)],
)
def test_either_lightning_cli_accepts_the_readme_yaml(tmp_path, cli_module, model):
    import importlib

    cli_class = importlib.import_module(cli_module).LightningCLI
    config = _cli_config(tmp_path)
    cli = cli_class(model, args=["fit", "--config", str(config)], save_config_callback=None)
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, CarbonCallback)]
    assert callback.run.pue.value == 1.2 and callback.run.budget_kwh == 1.0
    assert callback.run.attribution == "machine"
    assert cli.trainer.callback_metrics["carbon/total_gCO2e"].item() == pytest.approx(
        76 / KWH * 1.2 * DNK
    )


@pytest.mark.slow
@pytest.mark.parametrize(("package", "model"), PACKAGES)
def test_ddp_spawn_in_both_packages_sums_ranks_without_a_sync_dist_warning(
    tmp_path, capfd, package, model
):
    trainer = package.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        callbacks=[_callback()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model())
    # rank 0: GPU 25 J; rank 1: GPU 45 J; the node's CPU and DRAM once: 6.5 J
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(76.5 / KWH)
    printed = capfd.readouterr()
    advice = re.findall(
        r"self\.log\('([^']+)', \.\.\., sync_dist=True\)", printed.out + printed.err
    )
    assert set(advice) == {"val_loss"}  # the model's own metric: ours are already reduced


@pytest.mark.parametrize("interval", [0.5, 1.0])
def test_checkpoint_and_early_stopping_monitor_carbon_at_any_val_check_interval(tmp_path, interval):
    checkpoint = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpt", monitor="carbon/total_gCO2e", mode="min", save_top_k=1
    )
    stopping = pl.callbacks.EarlyStopping(monitor="carbon/total_gCO2e", mode="min", patience=0)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        val_check_interval=interval,
        callbacks=[_callback(), checkpoint, stopping],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(StepModel())
    # the running total only grows, so the first validation is the best and stops training
    assert checkpoint.best_model_score is not None
    if interval == 0.5:
        # after 2 of 4 training batches and one validation: 2 x 12.5 J + 13 J
        assert checkpoint.best_model_score.item() == pytest.approx(38 / KWH * DNK)
    else:
        assert checkpoint.best_model_score.item() == pytest.approx(63 / KWH * DNK)
    assert trainer.callback_metrics["energy/total_kWh"].item() > 0


def test_a_fabric_loop_writes_the_same_records_and_logs_through_fabric(tmp_path):
    import torch
    from lightning.fabric import Fabric
    from lightning.fabric.loggers import CSVLogger

    from lightning_carbon.integrations.fabric import fabric_run
    from tests.fakes import STEP_COUNTS

    fabric = Fabric(accelerator="cpu", devices=1, loggers=CSVLogger(tmp_path, name="fab"))
    fabric.launch()
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model, optimizer = fabric.setup(model, optimizer)
    run = fabric_run(fabric, country="DNK", sensors=step_sensors)
    run.start()
    for epoch in range(2):
        with run.epoch(epoch, total_batches=8):
            for _ in range(4):
                optimizer.zero_grad()
                fabric.backward(model(torch.randn(4, 4)).pow(2).mean())
                optimizer.step()
                STEP_COUNTS["train"] += 1
                run.batch_done()
    final = run.finish()
    fabric.logger.finalize("success")
    # 4 batches x (10 + 2 + 0.5) J per epoch
    assert final["energy/run_total_kWh"] == pytest.approx(100 / KWH)
    log_dir = fabric.logger.log_dir
    with open(f"{log_dir}/metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    totals = [float(r["energy/total_kWh"]) for r in rows if r.get("energy/total_kWh")]
    assert totals == pytest.approx([50 / KWH, 100 / KWH])
    assert [float(r["energy/run_total_kWh"]) for r in rows if r.get("energy/run_total_kWh")] == (
        pytest.approx([100 / KWH])
    )
    summary = json.loads((tmp_path / "fab" / "version_0" / "carbon" / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["energy_kWh"] == pytest.approx(100 / KWH)

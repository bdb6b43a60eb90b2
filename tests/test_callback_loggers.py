"""The per-epoch metrics read back from real logger files and servers."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pytorch_lightning import Trainer

from lightning_carbon import CarbonCallback
from lightning_carbon.intensity.table import country_intensity
from tests.fakes import StepModel, step_sensors
from tests.wandb_log import history_rows

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh
EXPECTED_TOTALS_KWH = [76 / KWH, 139 / KWH]  # epochs of 63 J, a 13 J sanity check before


def _fit(tmp_path, logger):
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[CarbonCallback(country="DNK", sensors=step_sensors)],
    )
    trainer.fit(StepModel())
    return trainer


def _tensorboard_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return accumulator


def test_tensorboard_event_files_hold_the_scalars(tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger

    trainer = _fit(tmp_path, TensorBoardLogger(tmp_path, name="tb"))
    scalars = _tensorboard_scalars(trainer.logger.log_dir)
    totals = [e.value for e in scalars.Scalars("energy/total_kWh")]
    assert totals == pytest.approx(EXPECTED_TOTALS_KWH, rel=1e-6)
    carbon = [e.value for e in scalars.Scalars("carbon/epoch_gCO2e")]
    assert carbon == pytest.approx([63 / KWH * DNK] * 2, rel=1e-6)
    (final,) = scalars.Scalars("energy/run_total_kWh")
    assert final.value == pytest.approx(139 / KWH, rel=1e-6)
    statement = _tensorboard_text(scalars, "carbon/statement.md")
    summary = json.loads(_tensorboard_text(scalars, "carbon/summary.json"))
    assert statement.startswith("Training used 0.0386 Wh")
    assert summary["energy_kWh"] == pytest.approx(139 / KWH)


def _tensorboard_text(accumulator, tag):
    """The text TensorBoard stored under ``tag`` (summary.json comes indented as code)."""
    import numpy as np

    (event,) = accumulator.Tensors(f"{tag}/text_summary")
    text = np.asarray(event.tensor_proto.string_val[0]).item().decode()
    return "\n".join(line.removeprefix("    ") for line in text.splitlines())


def test_tensorboard_hparams_hold_the_configuration(tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger

    trainer = _fit(tmp_path, TensorBoardLogger(tmp_path, name="tb"))
    hparams = (tmp_path / "tb" / "version_0" / "hparams.yaml").read_text()
    assert "carbon/country: DNK" in hparams
    assert "carbon/pue: 1.0" in hparams
    assert "carbon/sensors: 'gpu:0: step-scripted (measured) | cpu" in hparams
    assert trainer.logger.log_dir


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_real_tensorboard_server_serves_the_energy_scalars(tmp_path):
    from pytorch_lightning.loggers import TensorBoardLogger

    _fit(tmp_path, TensorBoardLogger(tmp_path, name="tb"))
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(tmp_path / "tb"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = (
        f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=version_0&tag=energy%2Ftotal_kWh"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    points = json.loads(response.read())
                if len(points) == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("tensorboard did not serve the scalars within 60 s")
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert [value for _, _, value in points] == pytest.approx(EXPECTED_TOTALS_KWH, rel=1e-6)


@pytest.mark.slow
def test_wandb_offline_run_history_holds_the_metrics(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    logger = WandbLogger(project="lc-test", save_dir=str(tmp_path), offline=True)
    _fit(tmp_path, logger)
    run_dir = logger.experiment.dir
    import wandb

    wandb.finish()
    wandb.teardown()  # stop the wandb-core service now, not at interpreter exit
    (run_file,) = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    rows = history_rows(run_file)
    totals = [row["energy/total_kWh"] for row in rows if "energy/total_kWh" in row]
    assert run_dir
    assert totals == pytest.approx(EXPECTED_TOTALS_KWH, rel=1e-6)
    files = {p.relative_to(run_dir).as_posix() for p in Path(run_dir).rglob("*") if p.is_file()}
    assert {"carbon/statement.md", "carbon/summary.json"} <= files


@pytest.mark.slow
def test_mlflow_sqlite_store_holds_the_metrics(tmp_path):
    from pytorch_lightning.loggers import MLFlowLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MLFlowLogger(experiment_name="lc", tracking_uri=uri)
    _fit(tmp_path, logger)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    history = client.get_metric_history(logger.run_id, "energy/total_kWh")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
        EXPECTED_TOTALS_KWH, rel=1e-6
    )
    params = client.get_run(logger.run_id).data.params
    assert params["carbon/country"] == "DNK"
    assert params["carbon/intensity_basis"] == "lifecycle"
    artifacts = {a.path for a in client.list_artifacts(logger.run_id, "carbon")}
    assert artifacts == {"carbon/statement.md", "carbon/summary.json"}
    local = client.download_artifacts(logger.run_id, "carbon/statement.md", str(tmp_path / "dl"))
    assert Path(local).read_text().startswith("Training used 0.0386 Wh")

"""nnU-Net v2, metered: real trainings on a generated 2D data set, on the CPU.

Needs nnunetv2 (the ``.venv-nnunet`` environment of ``make test``); skipped elsewhere.
The data set (10 synthetic 64x64 images) is planned and preprocessed once per session. Folds
train 2 batches and 1 validation batch per epoch of nnU-Net's 1000.

``tests.nnunet_trainers.CountingTrainer`` counts ``fold + 1`` per batch for the step sensors
(tests/fakes.py: 12.5 J per training count, 6.5 J per validation count), so fold ``f`` uses
exactly ``(f + 1) x (2 x 12.5 + 6.5) = (f + 1) x 31.5 J`` per epoch, ``(f + 1) x 6.5 J`` of it
in validation, and nothing outside its epochs.
"""

import json
import re

import pytest

pytest.importorskip("nnunetv2")

from lightning_carbon.cli import main  # noqa: E402
from lightning_carbon.demo.nnunet_data import write_nnunet_dataset  # noqa: E402
from lightning_carbon.demo.nnunet_study import plan_and_preprocess, use_nnunet_folders  # noqa: E402
from lightning_carbon.footprint import car_km  # noqa: E402
from lightning_carbon.integrations.nnunet import carbon_line, state_path  # noqa: E402
from lightning_carbon.integrations.nnunet_cli import train_fold  # noqa: E402
from lightning_carbon.intensity.table import country_intensity  # noqa: E402
from tests.fakes import step_sensors  # noqa: E402

pytestmark = [pytest.mark.nnunet, pytest.mark.slow]

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh
COUNTING = "tests.nnunet_trainers:CountingTrainer"
SMALL = {"iterations_per_epoch": 2, "val_iterations_per_epoch": 1, "device": "cpu"}
"""nnU-Net's 1000 epochs, of 2 training batches and 1 validation batch each."""


def _epoch_J(fold):
    return (fold + 1) * 31.5


@pytest.fixture(scope="session")
def nnunet_folders(tmp_path_factory):
    """A planned and preprocessed data set 1, and this process's nnU-Net folders on it."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            patch.setenv(name, "")  # restored after the session
        patch.setenv("nnUNet_def_n_proc", "1")  # one process to export the final validation
        folders = use_nnunet_folders(tmp_path_factory.mktemp("nnunet"))
        write_nnunet_dataset(folders["nnUNet_raw"], n_images=10, size=64)
        plan_and_preprocess(1)
        patch.setenv("nnUNet_n_proc_DA", "0")  # augment in the training process (not planning)
        yield folders


@pytest.fixture(scope="session")
def forecast_folds(nnunet_folders):
    """Folds 0 and 1 of the counting trainer, each 2 epochs of 1000, then a forecast."""
    return [
        train_fold(
            "1",
            "2d",
            fold,
            trainer=COUNTING,
            forecast_after_epochs=2,
            country="DNK",
            sensors=step_sensors,
            **SMALL,
        )
        for fold in (0, 1)
    ]


def _records(folder):
    return [
        json.loads(line) for line in (folder / "carbon" / "epochs.jsonl").read_text().splitlines()
    ]


def _summary(folder):
    return json.loads((folder / "carbon" / "summary.json").read_text())


def _carbon_lines(log_path):
    return [  # nnU-Net ends each logged part with a space
        line.split(": ", 1)[1].rstrip()
        for line in log_path.read_text().splitlines()
        if ": lightning-carbon: epoch " in line
    ]


def _logs(folder):
    return sorted(folder.glob("training_log_*.txt"))


@pytest.mark.parametrize("fold", [0, 1])
def test_each_epoch_is_metered_logged_in_nnunet_log_and_forecast_to_1000_epochs(
    forecast_folds, fold
):
    result = forecast_folds[fold]
    folder = result.output_folder
    assert (
        folder.parent.name == "CountingTrainer__nnUNetPlans__2d" and folder.name == f"fold_{fold}"
    )
    records = _records(folder)
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
    ]
    for record in records[:2]:
        assert record["energy_kWh"] == pytest.approx(_epoch_J(fold) / KWH)
        assert record["metrics"]["energy/validate_kWh"] == pytest.approx((fold + 1) * 6.5 / KWH)
        assert record["batches"] == 2
    assert records[2]["energy_kWh"] == 0.0

    # one carbon line per epoch in nnU-Net's own log, saying what the records say
    (log,) = _logs(folder)
    assert _carbon_lines(log) == [carbon_line(r["metrics"], 1000) for r in records[:2]]
    assert "forecast for the run of 1000 epochs" in _carbon_lines(log)[1]
    assert "training stops after 2 of 1000 epochs" in log.read_text()

    # the forecast of the full 1000 epochs: 2000 batches at the second epoch's rate
    summary = _summary(folder)
    assert summary == result.summary | {"schema": "lightning-carbon/summary/2"}
    assert (
        summary["run_name"]
        == f"Dataset001_SyntheticNuclei/CountingTrainer__nnUNetPlans__2d/fold_{fold}"
    )
    assert summary["epochs"] == 2 and summary["precision"] == "32-true"
    assert summary["energy_kWh"] == pytest.approx(2 * _epoch_J(fold) / KWH)
    forecast = summary["forecast"]
    assert forecast["total_batches"] == 2000 and forecast["run_batches"] == 4
    assert forecast["energy_kWh"] == pytest.approx(1000 * _epoch_J(fold) / KWH)
    assert forecast["gco2e"] == pytest.approx(1000 * _epoch_J(fold) / KWH * DNK)
    assert forecast["relative_error"] is None  # a forecast of 1000 epochs, not of these 2
    assert "validate" not in summary["inference"]  # no final validation of an untrained net
    statement = (folder / "carbon" / "statement.md").read_text()
    assert (
        "After 2 epoch(s) the full run of 2000 batches (this one ran 4) was forecast" in statement
    )
    assert "a forecast, not a measurement" in statement

    # nnU-Net's checkpoints carry the totals; the deleted checkpoint_latest leaves none behind
    assert sorted(p.name for p in folder.glob("*.carbon.json")) == [
        "checkpoint_best.carbon.json",
        "checkpoint_final.carbon.json",
    ]
    final = json.loads(state_path(folder / "checkpoint_final.pth").read_text())
    assert final["current_epoch"] == 2 and len(final["run"]["records"]) == 3


def test_continue_with_c_restores_the_totals_saved_with_the_checkpoint(nnunet_folders):
    fold, kwargs = 2, {"trainer": COUNTING, "country": "DNK", "sensors": step_sensors, **SMALL}
    first = train_fold("1", "2d", fold, forecast_after_epochs=1, **kwargs)
    assert first.restored_from is None
    second = train_fold("1", "2d", fold, continue_training=True, forecast_after_epochs=2, **kwargs)
    folder = second.output_folder
    assert second.restored_from == folder / "checkpoint_final.carbon.json"

    records = _records(folder)
    assert [(r["stage"], r.get("epoch"), r.get("segment")) for r in records] == [
        ("train", 0, None),
        ("outside_epochs", None, 0),
        ("train", 1, None),
        ("outside_epochs", None, 1),
    ]
    assert [r["energy_kWh"] * KWH for r in records] == pytest.approx([94.5, 0.0, 94.5, 0.0])
    summary = _summary(folder)
    assert summary["epochs"] == 2
    assert summary["energy_kWh"] == pytest.approx(2 * 94.5 / KWH)
    assert summary["gco2e"] == pytest.approx(2 * 94.5 / KWH * DNK)
    # the first forecast (after epoch 1, at its rate) survives the continuation
    assert summary["forecast"]["after_epochs"] == 1
    assert summary["forecast"]["energy_kWh"] == pytest.approx(1000 * 94.5 / KWH)
    # the continued training's own log counts on from the restored totals
    first_log, second_log = _logs(folder)
    assert len(_carbon_lines(first_log)) == 1
    (line,) = _carbon_lines(second_log)
    assert line == carbon_line(records[2]["metrics"], 1000)
    assert records[2]["metrics"]["energy/total_kWh"] == pytest.approx(2 * 94.5 / KWH)


def test_the_command_trains_a_full_fold_and_meters_its_final_validation(nnunet_folders, capsys):
    args = ["nnunet", "train", "1", "2d", "3", "-tr", "nnUNetTrainer", "-p", "nnUNetPlans"]
    args += ["-device", "cpu", "--epochs", "2", "--iterations-per-epoch", "2"]
    args += ["--val-iterations-per-epoch", "1", "--country", "DNK", "--pue", "1.25"]
    assert main(args) == 0
    folder = nnunet_folders["nnUNet_results"] / (
        "Dataset001_SyntheticNuclei/nnUNetTrainer__nnUNetPlans__2d/fold_3"
    )
    statement = (folder / "carbon" / "statement.md").read_text()
    printed = capsys.readouterr().out
    assert statement.strip() in printed
    assert f"Carbon records of this fold: {folder / 'carbon'}" in printed

    records = _records(folder)
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
        ("validate", None),
    ]
    summary = _summary(folder)
    assert summary["energy_kWh"] == pytest.approx(sum(r["energy_kWh"] for r in records))
    assert summary["gco2e"] == pytest.approx(sum(r["gco2e"] for r in records))
    assert all(r["pue"] == 1.25 for r in records)
    validate = summary["inference"]["validate"]
    assert validate["energy_kWh"] == pytest.approx(records[3]["energy_kWh"])
    assert validate["energy_kWh"] > 0 and "Validation used" in statement
    # the full run was measured: its forecast is checked against what it used
    assert summary["forecast"]["run_batches"] == summary["forecast"]["total_batches"] == 4
    assert summary["forecast"]["relative_error"] is not None
    assert 0.0 <= summary["metrics"]["final_val/foreground_dice"] <= 1.0
    assert "ema_fg_dice" in summary["metrics"]
    (log,) = _logs(folder)
    assert _carbon_lines(log) == [carbon_line(r["metrics"], 2) for r in records[:2]]


def _lightning_run(tmp_path):
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger

    from lightning_carbon import CarbonCallback
    from tests.fakes import StepModel

    trainer = Trainer(
        accelerator="cpu",
        max_epochs=1,
        callbacks=[CarbonCallback(country="DNK", sensors=step_sensors)],
        logger=CSVLogger(tmp_path, name="lightning"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(StepModel())
    return tmp_path / "lightning" / "version_0"


def test_table_3_over_two_nnunet_folds_and_a_lightning_run(forecast_folds, tmp_path, capsys):
    lightning_dir = _lightning_run(tmp_path)
    folds = [str(r.output_folder) for r in forecast_folds]
    assert (
        main(["nnunet", "table", *folds, str(lightning_dir), "--json", "--regions", "EST,WORLD"])
        == 0
    )
    nnunet_row, lightning_row = json.loads(capsys.readouterr().out)

    # folds 0 and 1: forecasts of 1000 epochs at 31.5 J and 63 J each
    per_fold_kWh = [1000 * 31.5 / KWH, 1000 * 63.0 / KWH]
    mean_kWh = sum(per_fold_kWh) / 2
    std_kWh = abs(per_fold_kWh[1] - per_fold_kWh[0]) / 2**0.5
    assert nnunet_row["group"] == "Dataset001_SyntheticNuclei/CountingTrainer__nnUNetPlans__2d"
    assert nnunet_row["folds"] == 2 and nnunet_row["basis"] == "forecast of 1000 epochs from 2"
    assert nnunet_row["energy_kWh"] == {
        "mean": pytest.approx(mean_kWh),
        "std": pytest.approx(std_kWh),
        "n": 2,
    }
    assert nnunet_row["as_run_gco2e"]["mean"] == pytest.approx(mean_kWh * DNK)
    assert nnunet_row["as_run_km"]["mean"] == pytest.approx(car_km(mean_kWh * DNK).value)
    for region in nnunet_row["regions"]:
        intensity = country_intensity(region["region"]).gco2_per_kWh
        assert region["gco2_per_kWh"] == intensity
        assert region["gco2e"]["mean"] == pytest.approx(mean_kWh * intensity)
        assert region["gco2e"]["std"] == pytest.approx(std_kWh * intensity)
        assert region["km"]["mean"] == pytest.approx(car_km(mean_kWh * intensity).value)

    # the Lightning run: one measured run of 1 epoch (63 J) and its sanity check (13 J)
    assert lightning_row["folds"] == 1 and lightning_row["basis"] == "measured (1 epochs)"
    assert lightning_row["energy_kWh"] == {"mean": pytest.approx(76 / KWH), "std": None, "n": 1}

    assert main(["nnunet", "table", *folds, str(lightning_dir)]) == 0
    table = capsys.readouterr().out
    header, rule, *rows = table.splitlines()[:4]
    assert header == (
        "| configuration | folds | figure | precision | energy per fold | as run | DNK | EST "
        "| EU27 | WORLD |"
    )
    assert rows[0].startswith("| Dataset001_SyntheticNuclei/CountingTrainer__nnUNetPlans__2d | 2 |")
    assert re.search(r"\| [\d.]+ \+- [\d.]+ km \|", rows[0])

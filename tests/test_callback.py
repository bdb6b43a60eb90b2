"""CarbonCallback in real Lightning runs on CPU, with step-scripted sensors (tests/fakes.py).

Per epoch the StepModel runs 4 training and 2 validation batches, so the sensors of
``step_sensors`` give exactly: GPU 4x10 + 2x5 = 50 J, CPU 4x2 + 2x1 = 10 J,
DRAM 4x0.5 + 2x0.5 = 3 J; 63 J per epoch, of which validation 10 + 2 + 1 = 13 J.
Lightning's sanity check (2 validation batches, 13 J) runs after set-up: it belongs to the run
but not to an epoch, so a 2-epoch fit totals 126 J of epochs + 13 J outside them = 139 J.
"""

import csv
import json
import math
import warnings

import pytest
import torch
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from lightning_carbon import CarbonCallback
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.run import CarbonBudgetWarning
from tests.fakes import StepModel, step_sensors

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh


def _trainer(tmp_path, callback, max_epochs=2, **kwargs):
    kwargs.setdefault("logger", CSVLogger(tmp_path, name="csv"))
    kwargs.setdefault("enable_checkpointing", False)
    return Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _callback(**kwargs):
    kwargs.setdefault("country", "DNK")
    kwargs.setdefault("sensors", step_sensors)
    return CarbonCallback(**kwargs)


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _csv_rows(trainer):
    with open(f"{trainer.logger.log_dir}/metrics.csv") as stream:
        return list(csv.DictReader(stream))


def test_every_epoch_metric_is_exact_in_callback_metrics_and_csv(tmp_path):
    trainer = _trainer(tmp_path, _callback(prog_bar=True))
    trainer.fit(StepModel())
    metrics = {k: v.item() for k, v in trainer.callback_metrics.items()}
    expected_last_epoch = {
        "energy/epoch_kWh": 63 / KWH,
        "energy/gpu_kWh": 50 / KWH,
        "energy/cpu_kWh": 10 / KWH,
        "energy/dram_kWh": 3 / KWH,
        "energy/validate_kWh": 13 / KWH,
        "energy/total_kWh": 139 / KWH,
        "energy/predicted_total_kWh": 139 / KWH,
        "carbon/epoch_gCO2e": 63 / KWH * DNK,
        "carbon/total_gCO2e": 139 / KWH * DNK,
        "carbon/predicted_total_gCO2e": 139 / KWH * DNK,
        "carbon/intensity_gCO2e_per_kWh": DNK,
    }
    for name, value in expected_last_epoch.items():
        assert metrics[name] == pytest.approx(value, rel=1e-6), name
    assert trainer.progress_bar_metrics == {"gCO2e": pytest.approx(139 / KWH * DNK)}

    rows = [r for r in _csv_rows(trainer) if r.get("energy/epoch_kWh")]
    assert [float(r["energy/total_kWh"]) for r in rows] == pytest.approx([76 / KWH, 139 / KWH])
    # after epoch 1 (4 of 8 batches done): 76 J so far + 4 batches at 63 J / 4 batches
    assert float(rows[0]["energy/predicted_total_kWh"]) == pytest.approx(139 / KWH)
    final = [r for r in _csv_rows(trainer) if r.get("energy/run_total_kWh")]
    assert len(final) == 1
    assert float(final[0]["energy/run_total_kWh"]) == pytest.approx(139 / KWH)
    assert float(final[0]["energy/outside_epochs_kWh"]) == pytest.approx(13 / KWH)
    assert float(final[0]["carbon/run_total_gCO2e"]) == pytest.approx(139 / KWH * DNK)
    assert float(final[0]["energy/forecast_error"]) == pytest.approx(0.0, abs=1e-12)


def test_power_is_energy_over_the_epoch_duration(tmp_path):
    callback = _callback()
    _trainer(tmp_path, callback, max_epochs=1).fit(StepModel())
    record, _outside = _read_jsonl(tmp_path / "csv" / "version_0" / "carbon" / "epochs.jsonl")
    duration_s = record["reading"]["duration_s"]
    assert duration_s > 0
    assert record["metrics"]["power/gpu_W"] == pytest.approx(50 / duration_s)
    assert record["metrics"]["power/cpu_W"] == pytest.approx(10 / duration_s)


def test_records_summary_and_statement(tmp_path):
    trainer = _trainer(tmp_path, _callback(pue=1.5))
    trainer.fit(StepModel())
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    records = _read_jsonl(carbon_dir / "epochs.jsonl")
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
    ]
    assert all(r["schema"] == "lightning-carbon/epoch/2" for r in records)
    assert records[1]["gco2e"] == pytest.approx(63 / KWH * 1.5 * DNK)
    assert records[1]["validation"]["energy_J"] == pytest.approx(13)
    assert records[2]["reading"]["energy_J"] == pytest.approx(13)  # the sanity check
    # the file adds up to the reported total
    assert sum(r["energy_kWh"] for r in records) == pytest.approx(139 / KWH)

    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["schema"] == "lightning-carbon/summary/2"
    assert summary["run_name"] == "csv/version_0"
    assert summary["partial"] is False
    assert summary["epochs"] == 2
    assert summary["energy_kWh"] == pytest.approx(139 / KWH)
    assert summary["facility_energy_kWh"] == pytest.approx(139 * 1.5 / KWH)
    assert summary["gco2e"] == pytest.approx(139 * 1.5 / KWH * DNK)
    training = summary["training"]
    assert training["energy_kWh"] == pytest.approx(139 / KWH)
    assert training["epochs"]["count"] == 2
    assert training["epochs"]["energy_kWh"] == pytest.approx(126 / KWH)
    assert training["outside_epochs"]["energy_kWh"] == pytest.approx(13 / KWH)
    assert training["outside_epochs"]["share"] == pytest.approx(13 / 139)
    assert summary["energy_kWh_by_component"] == pytest.approx(
        {"gpu": 110 / KWH, "cpu": 22 / KWH, "dram": 7 / KWH}
    )
    assert summary["provenance_by_component"] == {
        "gpu": "measured",
        "cpu": "estimated",
        "dram": "estimated",
    }
    assert summary["devices"]["gpu:0"]["energy_J"] == pytest.approx(110)
    assert summary["intensity"]["code"] == "DNK"
    assert summary["intensity"]["basis"] == "lifecycle"
    assert summary["intensity"]["year"] is not None
    assert summary["pue"]["value"] == 1.5
    assert summary["precision"] == "32-true"
    assert summary["forecast"]["relative_error"] == pytest.approx(0.0, abs=1e-12)
    assert summary["forecast"]["method"] == "rate of the first epoch"
    assert summary["metrics"]["val_loss"] == pytest.approx(trainer.callback_metrics["val_loss"])
    assert summary["budget"]["stopped"] is None

    statement = (carbon_dir / "statement.md").read_text()
    assert "Denmark" in statement and "PUE of 1.5" in statement
    assert "The 2 training epoch(s) used 0.035 Wh; the rest, 0.00361 Wh (9.4%)" in statement
    # 0.0075 gCO2e is below what any everyday comparison means: none is given
    assert summary["equivalents"] == [] and "That is about as much as" not in statement
    assert "Partial" not in statement


def test_test_and_predict_runs_are_metered_as_stages_of_their_own(tmp_path):
    callback = _callback()
    trainer = _trainer(tmp_path, callback, max_epochs=1)
    model = StepModel()
    trainer.fit(model)
    trainer.test(model)
    # 2 test batches: GPU 2x5 + CPU 2x1 + DRAM 2x0.5
    assert trainer.callback_metrics["energy/test_kWh"].item() == pytest.approx(13 / KWH)
    assert trainer.callback_metrics["carbon/test_gCO2e"].item() == pytest.approx(13 / KWH * DNK)
    trainer.predict(model)
    records = _read_jsonl(tmp_path / "csv" / "version_0" / "carbon" / "epochs.jsonl")
    assert [r["stage"] for r in records] == ["train", "outside_epochs", "test", "predict"]
    assert records[3]["energy_kWh"] == pytest.approx(13 / KWH)
    summary = json.loads((tmp_path / "csv" / "version_0" / "carbon" / "summary.json").read_text())
    assert summary["inference"]["test"]["energy_kWh"] == pytest.approx(13 / KWH)
    assert summary["inference"]["test"]["runs"] == 1
    assert summary["training"]["energy_kWh"] == pytest.approx(76 / KWH)
    assert summary["energy_kWh"] == pytest.approx((76 + 13 + 13) / KWH)
    statement = (tmp_path / "csv" / "version_0" / "carbon" / "statement.md").read_text()
    assert statement.startswith("Training used 0.0211 Wh")
    assert "Testing used 0.00361 Wh" in statement and "Prediction used 0.00361 Wh" in statement


def test_a_failing_test_stage_leaves_the_finished_fit_whole(tmp_path):
    trainer = _trainer(tmp_path, _callback(), max_epochs=1)
    trainer.fit(StepModel())
    with pytest.raises(RuntimeError, match="boom in test_step"):
        trainer.test(StepModel(fail_in_test=True))
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["partial"] is False
    assert summary["training"]["energy_kWh"] == pytest.approx(76 / KWH)
    assert summary["inference"]["test"]["partial"] is True
    assert "boom in test_step" in summary["inference"]["test"]["reason"]
    # the test stage ran one batch (6.5 J) before it failed
    assert summary["inference"]["test"]["energy_kWh"] == pytest.approx(6.5 / KWH)
    statement = (carbon_dir / "statement.md").read_text()
    assert statement.startswith("Training used")
    assert "Testing used 0.00181 Wh" in statement and "It ended early (RuntimeError" in statement


def test_the_sensor_lines_are_printed_once_per_process(tmp_path, caplog):
    from lightning_carbon import run as run_module

    run_module._DESCRIBED.clear()
    trainer = _trainer(tmp_path, _callback(), max_epochs=1)
    with caplog.at_level("INFO"):
        trainer.fit(StepModel())
        trainer.test(StepModel())
    assert caplog.text.count("gpu:0: step-scripted (measured)") == 1


@pytest.mark.parametrize(("sanity_steps", "outside_J"), [(2, 13), (0, 0)])
def test_the_sanity_check_counts_outside_the_epochs(tmp_path, sanity_steps, outside_J):
    trainer = _trainer(tmp_path, _callback(), max_epochs=1, num_sanity_val_steps=sanity_steps)
    trainer.fit(StepModel())
    assert trainer.callback_metrics["energy/epoch_kWh"].item() == pytest.approx(63 / KWH)
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(
        (63 + outside_J) / KWH
    )


def _resumable_trainer(tmp_path, name, max_epochs, *callbacks, **kwargs):
    return Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        callbacks=[_callback(), *callbacks],
        logger=CSVLogger(tmp_path / name),
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_resume_continues_totals_and_records(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    _resumable_trainer(tmp_path, "a", 1, checkpoint).fit(StepModel())
    second = _resumable_trainer(tmp_path, "b", 2, enable_checkpointing=False)
    second.fit(StepModel(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    # epoch 0 + its sanity check, restored (76 J); epoch 1 + the new sanity check (76 J)
    assert second.callback_metrics["energy/total_kWh"].item() == pytest.approx(152 / KWH)
    assert second.callback_metrics["carbon/total_gCO2e"].item() == pytest.approx(152 / KWH * DNK)
    carbon_dir = tmp_path / "b" / "lightning_logs" / "version_0" / "carbon"
    records = _read_jsonl(carbon_dir / "epochs.jsonl")
    assert [(r["stage"], r.get("epoch"), r.get("segment")) for r in records] == [
        ("train", 0, None),
        ("outside_epochs", None, 0),
        ("train", 1, None),
        ("outside_epochs", None, 1),
    ]
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert sum(r["energy_kWh"] for r in records) == pytest.approx(summary["energy_kWh"])
    assert summary["epochs"] == 2 and summary["energy_kWh"] == pytest.approx(152 / KWH)
    assert summary["facility_energy_kWh"] == pytest.approx(152 / KWH)
    assert summary["training"]["outside_epochs"]["energy_kWh"] == pytest.approx(26 / KWH)
    # the first forecast survives the resume: made when the run was to last 1 epoch (76 J)
    assert summary["forecast"]["energy_kWh"] == pytest.approx(76 / KWH)
    assert summary["forecast"]["after_epochs"] == 1
    assert summary["forecast"]["relative_error"] == pytest.approx(76 / 152 - 1)
    assert summary["started_utc"] <= summary["ended_utc"]


def test_resume_from_an_earlier_checkpoint_rewrites_the_records_to_match(tmp_path):
    every_epoch = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")
    output = tmp_path / "out"
    first = Trainer(
        accelerator="cpu",
        max_epochs=3,
        callbacks=[_callback(output_dir=output), every_epoch],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    first.fit(StepModel())
    assert len(_read_jsonl(output / "carbon" / "epochs.jsonl")) == 4  # 3 epochs + outside
    second = Trainer(
        accelerator="cpu",
        max_epochs=3,
        callbacks=[_callback(output_dir=output)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    second.fit(StepModel(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0.ckpt"))
    records = _read_jsonl(output / "carbon" / "epochs.jsonl")
    assert [r["epoch"] for r in records if r["stage"] == "train"] == [0, 1, 2]
    summary = json.loads((output / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(3 * 63 / KWH)
    assert sum(r["energy_kWh"] for r in records) == pytest.approx(summary["energy_kWh"])


def test_exception_mid_epoch_keeps_the_run_up_to_the_failure(tmp_path):
    trainer = _trainer(tmp_path, _callback(), max_epochs=3)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(StepModel(fail_at_epoch=1))
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    records = _read_jsonl(carbon_dir / "epochs.jsonl")
    assert [r["stage"] for r in records] == ["train", "outside_epochs"]
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["partial"] is True and "boom" in summary["reason"]
    # epoch 0 (63 J), the sanity check (13 J) and the first batch of epoch 1 (12.5 J)
    assert summary["energy_kWh"] == pytest.approx(88.5 / KWH)
    assert summary["training"]["epochs"]["energy_kWh"] == pytest.approx(63 / KWH)
    assert (carbon_dir / "statement.md").read_text().startswith("**Partial record**")


def test_budget_warn_warns_once_per_finding_and_lets_training_finish(tmp_path):
    trainer = _trainer(tmp_path, _callback(budget_kwh=100 / KWH), max_epochs=3)
    with pytest.warns(CarbonBudgetWarning) as caught:
        trainer.fit(StepModel())
    messages = [str(w.message) for w in caught if w.category is CarbonBudgetWarning]
    assert len(messages) == 2, messages
    assert any("energy forecast of 0.0561 Wh" in m for m in messages)
    assert any("would be passed by the next epoch" in m for m in messages)
    assert trainer.current_epoch == 3


@pytest.mark.parametrize("budget", [{"budget_kwh": 100 / KWH}, {"budget_gco2e": 100 / KWH * DNK}])
def test_budget_stop_stops_before_the_budget_is_passed(tmp_path, budget):
    trainer = _trainer(tmp_path, _callback(on_budget="stop", **budget), max_epochs=5)
    with pytest.warns(CarbonBudgetWarning, match="Training stops now"):
        trainer.fit(StepModel())
    # 76 J after epoch 0; another 63 J epoch would pass 100 J
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(76 / KWH)
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    records = _read_jsonl(carbon_dir / "epochs.jsonl")
    assert [r["stage"] for r in records] == ["train", "outside_epochs"]
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["energy_kWh"] <= 100 / KWH
    stopped = summary["budget"]["stopped"]
    assert stopped["after_epochs"] == 1
    assert stopped["used_kWh"] == pytest.approx(76 / KWH)
    assert "would be passed by the next epoch" in stopped["reason"]
    statement = (carbon_dir / "statement.md").read_text()
    assert "Training stopped after 1 epoch(s) for its budget" in statement


def test_budget_stop_acts_on_the_next_epoch_not_on_the_forecast(tmp_path):
    # 63 J per epoch, 200 J budget: the forecast (5 x 63 J) is over it from epoch 0 on, but
    # only the 4th epoch would pass it, so training runs 3 epochs (189 J).
    trainer = _trainer(
        tmp_path,
        _callback(on_budget="stop", budget_kwh=200 / KWH),
        max_epochs=5,
        num_sanity_val_steps=0,
    )
    with pytest.warns(CarbonBudgetWarning) as caught:
        trainer.fit(StepModel())
    assert trainer.current_epoch == 3
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(189 / KWH)
    messages = [str(w.message) for w in caught if w.category is CarbonBudgetWarning]
    assert messages[0].startswith("lightning-carbon: the energy forecast of 0.0875 Wh")
    assert "Training stops now" in messages[1] and "0.0525 Wh used" in messages[1]


def test_no_next_epoch_warning_when_the_last_epoch_ends_under_budget(tmp_path):
    trainer = _trainer(
        tmp_path, _callback(budget_kwh=130 / KWH), max_epochs=2, num_sanity_val_steps=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CarbonBudgetWarning)
        trainer.fit(StepModel())  # 126 J: the run ends under its budget, nothing to say
    assert trainer.current_epoch == 2


def test_forecast_leaves_a_slow_first_epoch_out(tmp_path):
    # epoch 0 costs 10x (warm-up): after epoch 1 the forecast uses epoch 1's rate only
    trainer = _trainer(tmp_path, _callback(monitor_epochs=2), max_epochs=4, num_sanity_val_steps=0)
    trainer.fit(StepModel(warm_up=10))
    warm_up_J = 10 * 4 * (10 + 2 + 0.5) + 13
    total_J = warm_up_J + 3 * 63
    summary = json.loads((tmp_path / "csv" / "version_0" / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(total_J / KWH)
    assert summary["forecast"]["energy_kWh"] == pytest.approx(total_J / KWH)
    assert summary["forecast"]["method"].startswith("rate of epochs 2-2")


def test_forecast_counts_batches_with_two_optimizers(tmp_path):
    # manual optimisation stepping two optimizers: global_step counts 2 per batch, so
    # max_steps=16 is 8 batches (2 epochs); the forecast after epoch 0 must say so
    from tests.fakes import TwoOptimizerModel

    trainer = _trainer(
        tmp_path,
        _callback(on_budget="stop", budget_kwh=1.0),
        max_epochs=10,
        max_steps=16,
        num_sanity_val_steps=0,
    )
    trainer.fit(TwoOptimizerModel())
    assert trainer.current_epoch == 2
    summary = json.loads((tmp_path / "csv" / "version_0" / "carbon" / "summary.json").read_text())
    assert summary["forecast"]["total_batches"] == 8
    assert summary["forecast"]["relative_error"] == pytest.approx(0.0, abs=1e-12)


def test_logger_false_still_writes_files_and_metrics(tmp_path):
    trainer = _trainer(tmp_path, _callback(), max_epochs=1, logger=False)
    trainer.fit(StepModel())
    assert trainer.callback_metrics["energy/total_kWh"].item() == pytest.approx(76 / KWH)
    carbon_dir = tmp_path / "carbon"
    assert len(_read_jsonl(carbon_dir / "epochs.jsonl")) == 2  # the epoch and what lies outside
    assert (carbon_dir / "statement.md").exists()


def test_output_dir_argument_is_used(tmp_path):
    _trainer(tmp_path, _callback(output_dir=tmp_path / "out"), max_epochs=1).fit(StepModel())
    assert (tmp_path / "out" / "carbon" / "summary.json").exists()


def test_country_from_environment_and_world_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTNING_CARBON_COUNTRY", "FR")
    assert _callback(country=None).run.intensity_choice.current().code == "FRA"
    monkeypatch.delenv("LIGHTNING_CARBON_COUNTRY")
    world = CarbonCallback(sensors=step_sensors)
    assert (
        world.run.intensity_choice.current().gco2_per_kWh == country_intensity("WORLD").gco2_per_kWh
    )
    assert "world average" in world.run.intensity_choice.note


def test_carbon_intensity_override(tmp_path):
    trainer = _trainer(tmp_path, _callback(carbon_intensity=100.0), max_epochs=1)
    trainer.fit(StepModel())
    assert trainer.callback_metrics["carbon/total_gCO2e"].item() == pytest.approx(76 / KWH * 100)


def test_a_sensor_failing_mid_run_is_one_warning_not_a_crash(tmp_path):
    from tests.fakes import StepSensor

    class Failing(StepSensor):
        def energy_J(self):
            if self._now_J() > 30:
                raise OSError("device lost")
            return super().energy_J()

    def factory(gpu_indices, node_level):
        return [Failing("gpu:0", "gpu", 10.0), StepSensor("cpu", "cpu", 2.0, 1.0)]

    trainer = _trainer(tmp_path, CarbonCallback(sensors=factory, country="DNK"), max_epochs=2)
    with pytest.warns(RuntimeWarning, match="gpu:0 failed") as caught:
        trainer.fit(StepModel())
    assert len([w for w in caught if "gpu:0 failed" in str(w.message)]) == 1
    assert trainer.current_epoch == 2
    # cpu keeps going: 2 epochs x 10 J and the sanity check's 2 J
    records = _read_jsonl(tmp_path / "csv" / "version_0" / "carbon" / "epochs.jsonl")
    assert sum(r["reading"]["devices"]["cpu"]["energy_J"] for r in records) == pytest.approx(22)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"country": "Atlantis"}, "Atlantis"),
        ({"pue": -1.0}, "-1.0"),
        ({"pue": float("nan")}, "nan"),
        ({"pue": "no-such-survey"}, "no-such-survey"),
        ({"carbon_intensity": -5.0}, "-5.0"),
        ({"carbon_intensity": float("nan")}, "nan"),
        ({"monitor_epochs": 0}, "monitor_epochs"),
        ({"monitor_epochs": 1.5}, "monitor_epochs"),
        ({"on_budget": "explode"}, "explode"),
        ({"budget_kwh": 0}, "budget_kwh"),
        ({"budget_gco2e": -3.0}, "budget_gco2e"),
        ({"budget_gco2e": math.inf}, "budget_gco2e"),
        ({"cpu_tdp_w": 0}, "cpu_tdp_w"),
        ({"attribution": "half"}, "'half'"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CarbonCallback(**kwargs)


def test_zero_config_runs_with_real_discovery(tmp_path):
    trainer = _trainer(tmp_path, CarbonCallback(), max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        trainer.fit(StepModel())
    metrics = trainer.callback_metrics
    # a 20 ms epoch may see no busy CPU tick at all: then no energy is this job's
    assert metrics["energy/total_kWh"].item() >= metrics["energy/epoch_kWh"].item() >= 0
    assert "energy/cpu_kWh" in metrics and "energy/dram_kWh" in metrics
    assert isinstance(metrics["carbon/epoch_gCO2e"], torch.Tensor)


def test_testing_a_checkpoint_after_the_fit_leaves_the_fit_whole(tmp_path):
    every_epoch = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")
    trainer = _trainer(tmp_path, _callback(), max_epochs=3, enable_checkpointing=True)
    trainer.callbacks.append(every_epoch)
    trainer.fit(StepModel())
    # Lightning restores every callback's state from the checkpoint it tests
    trainer.test(StepModel(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0.ckpt"))
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["partial"] is False and summary["epochs"] == 3
    assert summary["training"]["energy_kWh"] == pytest.approx((3 * 63 + 13) / KWH)
    assert summary["inference"]["test"]["energy_kWh"] == pytest.approx(13 / KWH)
    records = _read_jsonl(carbon_dir / "epochs.jsonl")
    assert [r.get("epoch") for r in records if r["stage"] == "train"] == [0, 1, 2]

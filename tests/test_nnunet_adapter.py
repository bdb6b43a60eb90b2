"""NnUNetCarbon on a stand-in for nnU-Net's trainer: budgets, broken or missing totals, errors.

``FakeNnUNetTrainer`` has the shape of ``nnUNetTrainer`` 2.8 that the adapter relies on (its
``run_training`` loop and hook order, ``current_epoch`` bookkeeping, checkpoint files,
``print_to_log_file``) and counts its batches for the step sensors (tests/fakes.py): one
epoch of 2 training and 1 validation batches is 2 x 12.5 + 6.5 = 31.5 J. The real nnU-Net runs
in tests/test_nnunet.py.
"""

import json
from pathlib import Path

import pytest
import torch

from lightning_carbon.integrations.nnunet import NnUNetCarbon, state_path
from lightning_carbon.run import CarbonBudgetWarning, CarbonRun
from tests.fakes import STEP_COUNTS, step_sensors

KWH = 3.6e6


class FakeNnUNetTrainer:
    """nnU-Net's training loop in miniature; checkpoints are JSON files."""

    def __init__(self, output_folder: Path, num_epochs: int = 4, fail_at_epoch=None) -> None:
        self.output_folder = str(output_folder)
        output_folder.mkdir(parents=True, exist_ok=True)
        self.device = torch.device("cpu")
        self.local_rank = 0
        self.disable_checkpointing = False
        self.current_epoch = 0
        self.num_epochs = num_epochs
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1
        self.fail_at_epoch = fail_at_epoch
        self.log: list[str] = []
        self.ended = False

    def print_to_log_file(self, *args, also_print_to_console=True, add_timestamp=True):
        self.log.append(" ".join(str(a) for a in args))

    def run_training(self):
        self.on_train_start()
        for _ in range(self.current_epoch, self.num_epochs):
            self.on_epoch_start()
            for _ in range(self.num_iterations_per_epoch):
                self.train_step({})
            self.on_validation_epoch_start()
            outputs = [self.validation_step({}) for _ in range(self.num_val_iterations_per_epoch)]
            self.on_validation_epoch_end(outputs)
            self.on_epoch_end()
        self.on_train_end()

    def on_train_start(self):
        pass

    def on_epoch_start(self):
        pass

    def train_step(self, batch):
        if self.current_epoch == self.fail_at_epoch:
            raise RuntimeError("boom in train_step")
        STEP_COUNTS["train"] += 1
        return {"loss": 0.0}

    def validation_step(self, batch):
        STEP_COUNTS["val"] += 1
        return {}

    def on_validation_epoch_start(self):
        pass

    def on_validation_epoch_end(self, outputs):
        pass

    def on_epoch_end(self):
        self.save_checkpoint(str(Path(self.output_folder) / "checkpoint_latest.pth"))
        self.current_epoch += 1

    def on_train_end(self):
        self.current_epoch -= 1
        self.save_checkpoint(str(Path(self.output_folder) / "checkpoint_final.pth"))
        self.current_epoch += 1
        (Path(self.output_folder) / "checkpoint_latest.pth").unlink(missing_ok=True)
        self.ended = True

    def save_checkpoint(self, filename):
        Path(filename).write_text(json.dumps({"current_epoch": self.current_epoch + 1}))

    def load_checkpoint(self, filename_or_checkpoint):
        checkpoint = filename_or_checkpoint
        if not isinstance(checkpoint, dict):
            checkpoint = json.loads(Path(checkpoint).read_text())
        self.current_epoch = checkpoint["current_epoch"]

    def perform_actual_validation(self, save_probabilities=False):
        STEP_COUNTS["val"] += 2


def _metered(tmp_path, stop_after_epochs=None, **run_kwargs):
    trainer = FakeNnUNetTrainer(tmp_path / "fold_0", **run_kwargs.pop("trainer_kwargs", {}))
    run_kwargs.setdefault("country", "DNK")
    run = CarbonRun(sensors=step_sensors, **run_kwargs)
    NnUNetCarbon(run, stop_after_epochs=stop_after_epochs).attach(trainer)
    return trainer, run


def _summary(trainer):
    return json.loads((Path(trainer.output_folder) / "carbon" / "summary.json").read_text())


def test_hooks_are_wrapped_on_the_instance_only(tmp_path):
    trainer, _ = _metered(tmp_path)
    assert "on_epoch_end" in vars(trainer) and "on_epoch_end" in vars(FakeNnUNetTrainer)
    assert vars(FakeNnUNetTrainer)["on_epoch_end"] is not vars(trainer)["on_epoch_end"]
    other = FakeNnUNetTrainer(tmp_path / "other")
    assert "on_epoch_end" not in vars(other)


def test_a_full_training_and_its_final_validation(tmp_path):
    trainer, run = _metered(tmp_path)
    trainer.run_training()
    trainer.perform_actual_validation()
    summary = _summary(trainer)
    assert summary["epochs"] == 4
    assert summary["training"]["energy_kWh"] == pytest.approx(4 * 31.5 / KWH)
    assert summary["inference"]["validate"]["energy_kWh"] == pytest.approx(2 * 6.5 / KWH)
    assert summary["run_name"].endswith("/fold_0")
    assert len([line for line in trainer.log if line.startswith("lightning-carbon: epoch")]) == 4
    # checkpoint_latest went at the end, and its totals with it
    assert sorted(p.name for p in Path(trainer.output_folder).glob("*.carbon.json")) == [
        "checkpoint_final.carbon.json"
    ]


def test_the_carbon_budget_stops_the_training_like_its_end(tmp_path):
    with pytest.warns(CarbonBudgetWarning) as warned:
        trainer, run = _metered(tmp_path, budget_kwh=70 / KWH, on_budget="stop")
        trainer.run_training()
    messages = [str(w.message) for w in warned]
    assert any("energy forecast of 0.035 Wh is over the budget" in m for m in messages)
    assert any("would be passed by the next epoch" in m for m in messages)
    assert trainer.ended and trainer.current_epoch == 2  # 63 J used; a third would pass 70 J
    assert "lightning-carbon: training stops after 2 epoch(s) for its carbon budget" in trainer.log
    summary = _summary(trainer)
    assert summary["epochs"] == 2 and summary["budget"]["stopped"]["after_epochs"] == 2
    final = json.loads(state_path(Path(trainer.output_folder) / "checkpoint_final.pth").read_text())
    assert final["current_epoch"] == 2


def test_totals_saved_for_another_epoch_are_not_restored(tmp_path):
    trainer, _ = _metered(tmp_path, stop_after_epochs=2)
    trainer.run_training()
    final = Path(trainer.output_folder) / "checkpoint_final.pth"
    state = json.loads(state_path(final).read_text())
    state_path(final).write_text(json.dumps(state | {"current_epoch": 7}))

    again, run = _metered(tmp_path)
    again.load_checkpoint(str(final))
    assert run.state_dict()["records"] == []
    assert any(
        "are for epoch 7, the checkpoint for epoch 2; they count from here" in line
        for line in again.log
    )


def test_missing_or_unreadable_totals_start_afresh_and_say_so(tmp_path):
    trainer, run = _metered(tmp_path)
    checkpoint = Path(trainer.output_folder) / "checkpoint_best.pth"
    checkpoint.write_text(json.dumps({"current_epoch": 3}))
    trainer.load_checkpoint(str(checkpoint))
    state_path(checkpoint).write_text("{not json")
    trainer.load_checkpoint(str(checkpoint))
    trainer.load_checkpoint({"current_epoch": 3})
    said = [line for line in trainer.log if line.startswith("lightning-carbon:")]
    assert (
        said[0] == f"lightning-carbon: no carbon totals beside {checkpoint}; they count from here"
    )
    assert said[1].startswith(
        f"lightning-carbon: could not read the carbon totals in {state_path(checkpoint)}"
    )
    assert said[2] == (
        "lightning-carbon: a checkpoint given as a dict has no carbon totals; they count from here"
    )
    assert run.state_dict()["records"] == []


def test_a_failing_training_leaves_a_partial_record_and_raises(tmp_path):
    trainer, _ = _metered(tmp_path, trainer_kwargs={"fail_at_epoch": 1})
    with pytest.raises(RuntimeError, match="boom in train_step"):
        trainer.run_training()
    summary = _summary(trainer)
    assert summary["partial"] and summary["reason"] == "RuntimeError: boom in train_step"
    assert summary["epochs"] == 1


def test_nothing_to_train_before_the_forecast_is_an_error(tmp_path):
    trainer, _ = _metered(tmp_path, stop_after_epochs=2)
    trainer.current_epoch = 2  # as after a continued checkpoint of 2 epochs
    with pytest.raises(ValueError, match="already has 2 epoch.*stop_after_epochs=2 trains none"):
        trainer.run_training()


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_stop_after_epochs_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match="stop_after_epochs must be an int >= 1"):
        NnUNetCarbon(CarbonRun(), stop_after_epochs=value)


def test_a_trainer_is_metered_once(tmp_path):
    trainer, _ = _metered(tmp_path)
    with pytest.raises(ValueError, match="FakeNnUNetTrainer is already metered"):
        NnUNetCarbon(CarbonRun()).attach(trainer)

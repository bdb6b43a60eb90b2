"""CarbonHandler in a real MONAI SupervisedTrainer: the demo U-Net on synthetic nuclei, on CPU.

Each training iteration counts 1 and each validation iteration 1 for the step sensors
(tests/fakes.py): 12.5 J per training and 6.5 J per validation iteration. 8 training images
in batches of 4 and 4 validation images in one batch: an epoch is 2 x 12.5 + 6.5 = 31.5 J, of
which validation 6.5 J.
"""

import json

import pytest

pytest.importorskip("ignite")

import torch  # noqa: E402
from ignite.engine import Events  # noqa: E402
from monai.engines import SupervisedEvaluator, SupervisedTrainer  # noqa: E402
from monai.handlers import (  # noqa: E402
    CheckpointLoader,
    CheckpointSaver,
    MeanDice,
    StatsHandler,
    TensorBoardStatsHandler,
    ValidationHandler,
    from_engine,
)
from monai.transforms import Activationsd, AsDiscreted, Compose  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402

from lightning_carbon.demo import SyntheticNuclei, build_unet  # noqa: E402
from lightning_carbon.integrations.monai import CarbonHandler  # noqa: E402
from lightning_carbon.intensity.table import country_intensity  # noqa: E402
from lightning_carbon.run import CarbonBudgetWarning, MeteringWarning  # noqa: E402
from tests.fakes import STEP_COUNTS, step_sensors  # noqa: E402

KWH = 3.6e6
DNK = country_intensity("DNK").gco2_per_kWh
EPOCH_J, VALIDATION_J = 31.5, 6.5


def _count(kind):
    def bump(engine):
        STEP_COUNTS[kind] += 1

    return bump


def _engines(tmp_path, carbon, *, epochs=2, carbon_first=False, stats=True, saver_dir=None):
    torch.manual_seed(0)
    data = SyntheticNuclei(n_images=12, size=32, seed=0)
    net = build_unet(filters=4)
    post = Compose([Activationsd("pred", sigmoid=True), AsDiscreted("pred", threshold=0.5)])
    dice = {"val_mean_dice": MeanDice(output_transform=from_engine(["pred", "label"]))}
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=DataLoader(Subset(data, range(8, 12)), batch_size=4),
        network=net,
        postprocessing=post,
        key_val_metric=dice,
    )
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, _count("val"))
    carbon.attach(evaluator)
    handlers = [ValidationHandler(1, evaluator), carbon]
    if carbon_first:
        handlers.reverse()
    if stats:
        handlers += [
            StatsHandler(name="carbon-test", output_transform=lambda output: None),
            TensorBoardStatsHandler(log_dir=str(tmp_path / "tb"), output_transform=lambda o: None),
        ]
        TensorBoardStatsHandler(
            log_dir=str(tmp_path / "tb"),
            output_transform=lambda output: None,
            global_epoch_transform=lambda epoch: trainer.state.epoch,
        ).attach(evaluator)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=epochs,
        train_data_loader=DataLoader(Subset(data, range(8)), batch_size=4),
        network=net,
        optimizer=optimizer,
        loss_function=torch.nn.BCEWithLogitsLoss(),
        train_handlers=handlers,
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, _count("train"))
    trainer.save_dict = {"net": net, "optimizer": optimizer, "trainer": trainer, "carbon": carbon}
    if saver_dir is not None:
        CheckpointSaver(str(saver_dir), trainer.save_dict, save_interval=1).attach(trainer)
    return trainer, evaluator


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def _records(output_dir):
    lines = (output_dir / "carbon" / "epochs.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_epoch_metrics_reach_tensorboard_beside_the_dice_and_the_records(tmp_path):
    carbon = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    trainer, evaluator = _engines(tmp_path, carbon)
    trainer.run()

    scalars = _scalars(tmp_path / "tb")
    assert [step for step, _ in scalars["val_mean_dice"]] == [1, 2]
    assert scalars["energy/epoch_kWh"] == [
        (1, pytest.approx(EPOCH_J / KWH)),
        (2, pytest.approx(EPOCH_J / KWH)),
    ]
    assert scalars["energy/validate_kWh"] == [
        (1, pytest.approx(VALIDATION_J / KWH)),
        (2, pytest.approx(VALIDATION_J / KWH)),
    ]
    assert scalars["carbon/total_gCO2e"] == [
        (1, pytest.approx(EPOCH_J / KWH * DNK)),
        (2, pytest.approx(2 * EPOCH_J / KWH * DNK)),
    ]
    assert scalars["carbon/predicted_total_gCO2e"][-1][1] == pytest.approx(2 * EPOCH_J / KWH * DNK)

    records = _records(tmp_path / "run")
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
    ]
    for (_, value), record in zip(scalars["carbon/epoch_gCO2e"], records, strict=False):
        assert value == pytest.approx(record["gco2e"])
    summary = json.loads((tmp_path / "run" / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(2 * EPOCH_J / KWH)
    assert summary["precision"] == "32-true"
    assert summary["metrics"]["val_mean_dice"] == pytest.approx(scalars["val_mean_dice"][-1][1])
    assert trainer.state.metrics["carbon/run_total_gCO2e"] == pytest.approx(2 * EPOCH_J / KWH * DNK)

    # the evaluator on its own afterwards: inference, its own stage
    evaluator.run()
    records = _records(tmp_path / "run")
    assert records[-1]["stage"] == "validate"
    assert records[-1]["energy_kWh"] == pytest.approx(VALIDATION_J / KWH)
    summary = json.loads((tmp_path / "run" / "carbon" / "summary.json").read_text())
    assert summary["inference"]["validate"]["energy_kWh"] == pytest.approx(VALIDATION_J / KWH)
    assert summary["training"]["energy_kWh"] == pytest.approx(2 * EPOCH_J / KWH)


def test_stats_handler_prints_the_carbon_beside_the_dice(tmp_path, caplog):
    carbon = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    trainer, _ = _engines(tmp_path, carbon, epochs=1)
    with caplog.at_level("INFO", logger="carbon-test"):
        trainer.run()
    epoch_lines = [r.getMessage() for r in caplog.records if "carbon/epoch_gCO2e" in r.getMessage()]
    assert len(epoch_lines) == 1
    assert f"carbon/epoch_gCO2e: {EPOCH_J / KWH * DNK:.4f}" in epoch_lines[0]


def test_a_handler_before_the_validation_says_so_and_counts_it_outside_the_epoch(tmp_path):
    carbon = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    trainer, _ = _engines(tmp_path, carbon, epochs=1, carbon_first=True, stats=False)
    with pytest.warns(MeteringWarning, match="attach CarbonHandler to the trainer after its"):
        trainer.run()
    train, outside = _records(tmp_path / "run")
    assert train["energy_kWh"] == pytest.approx(25 / KWH)
    assert outside["energy_kWh"] == pytest.approx(VALIDATION_J / KWH)


def test_a_carbon_budget_terminates_the_trainer(tmp_path):
    carbon = CarbonHandler(
        output_dir=tmp_path / "run",
        country="DNK",
        sensors=step_sensors,
        budget_kwh=40 / KWH,
        on_budget="stop",
    )
    trainer, _ = _engines(tmp_path, carbon, epochs=5, stats=False)
    with pytest.warns(CarbonBudgetWarning):
        trainer.run()
    assert trainer.state.epoch == 1
    summary = json.loads((tmp_path / "run" / "carbon" / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["budget"]["stopped"]["after_epochs"] == 1


def test_a_failing_training_is_recorded_as_partial_and_raises(tmp_path):
    carbon = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    trainer, _ = _engines(tmp_path, carbon, epochs=2, stats=False)

    def boom(engine):
        if engine.state.epoch == 2:
            raise RuntimeError("boom in epoch 2")

    trainer.add_event_handler(Events.ITERATION_COMPLETED, boom)
    with pytest.raises(RuntimeError, match="boom in epoch 2"):
        trainer.run()
    summary = json.loads((tmp_path / "run" / "carbon" / "summary.json").read_text())
    assert summary["partial"] and summary["reason"] == "RuntimeError: boom in epoch 2"
    assert summary["epochs"] == 1


def test_monai_checkpoints_carry_the_totals_into_a_resumed_training(tmp_path):
    first = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    trainer, _ = _engines(tmp_path, first, epochs=1, stats=False, saver_dir=tmp_path / "ckpt")
    trainer.run()
    (checkpoint,) = (tmp_path / "ckpt").glob("*.pt")

    second = CarbonHandler(output_dir=tmp_path / "run", country="DNK", sensors=step_sensors)
    resumed, _ = _engines(tmp_path, second, epochs=2, stats=False)
    CheckpointLoader(str(checkpoint), resumed.save_dict).attach(resumed)
    resumed.run()
    assert resumed.state.epoch == 2
    records = _records(tmp_path / "run")
    assert [(r["stage"], r.get("epoch"), r.get("segment")) for r in records] == [
        ("train", 0, None),
        ("outside_epochs", None, 0),
        ("train", 1, None),
        ("outside_epochs", None, 1),
    ]
    summary = json.loads((tmp_path / "run" / "carbon" / "summary.json").read_text())
    assert summary["energy_kWh"] == pytest.approx(2 * EPOCH_J / KWH)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"evaluation_stage": "fit"}, "evaluation_stage must be validate, test or predict"),
        ({"run": object(), "country": "DNK"}, r"give a run or its arguments, not both"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CarbonHandler(**kwargs)

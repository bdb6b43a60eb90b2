"""A budgeted study of real Lightning trainings on CPU: each trial's CarbonCallback, built by
``carbon_callback``, stops its training within the trial's reservation.

StepModel with step_sensors (tests/fakes.py) emits exactly 63 J per epoch, e gCO2e at DNK's
intensity.
"""

import math

import optuna
import pytest
from pytorch_lightning import Trainer

from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.optuna_carbon import (
    GCO2E_ATTR,
    RESERVATION_ATTR,
    carbon_callback,
    create_carbon_study,
    optimize_with_budget,
)
from lightning_carbon.run import CarbonBudgetWarning
from tests.fakes import StepModel, step_sensors
from tests.scripted_trials import epochs_within

EPOCH_GCO2E = 63 / 3.6e6 * country_intensity("DNK").gco2_per_kWh


def test_each_trial_is_stopped_within_its_reservation_and_the_study_within_its_budget(tmp_path):
    """Budget 5.5 e, every trial reserves 2.5 e: the callback stops each 4-epoch training after
    2 epochs (2 e + e > 2.5 e), as the scripted trials assume. Two trials of 2 e fit; then
    4 e + 2.5 e > 5.5 e and the worker stops."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs_run = []

    def objective(trial):
        meter = carbon_callback(
            trial, country="DNK", sensors=step_sensors, output_dir=tmp_path / str(trial.number)
        )
        trainer = Trainer(
            accelerator="cpu",
            max_epochs=4,
            num_sanity_val_steps=0,  # the epochs alone, as the scripted trials assume
            callbacks=[meter],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
        )
        trainer.fit(StepModel())
        epochs_run.append(trainer.current_epoch)
        return trainer.callback_metrics["val_loss"].item(), meter.run.totals.fit_used().gco2e

    study = create_carbon_study()
    with pytest.warns(CarbonBudgetWarning, match="Training stops now"):
        status = optimize_with_budget(
            study,
            objective,
            n_trials=10,
            budget_gco2e=5.5 * EPOCH_GCO2E,
            trial_estimate_gco2e=2.5 * EPOCH_GCO2E,
        )
    assert epochs_run == [2, 2] == [epochs_within(2.5, 1.0, 4)] * 2
    costs = [t.user_attrs[GCO2E_ATTR] for t in study.trials]
    assert costs == pytest.approx([2 * EPOCH_GCO2E] * 2)
    assert all(t.user_attrs[RESERVATION_ATTR] == 2.5 * EPOCH_GCO2E for t in study.trials)
    assert math.fsum(costs) <= 5.5 * EPOCH_GCO2E and status.exhausted
    assert all((tmp_path / str(n) / "carbon" / "summary.json").exists() for n in (0, 1))

"""Carbon-budgeted Optuna studies: maximise a metric, minimise gCO2e, stop at a study budget.

The budget belongs to the study, not to a worker. Each finished trial keeps its emissions in
its user attribute ``gco2e`` in the study's storage, and every check sums them afresh from that
storage. So any number of workers, on any number of machines, can join one study on a shared
storage (``sqlite:///...``, PostgreSQL, a journal file) and all of them respect one budget.

A trial starts only when the study's spent emissions plus the forecast of one more trial fit the
budget: ``spent + forecast <= budget``. *Spent* is the sum of ``gco2e`` over finished trials
(complete, pruned or failed; a pruned or failed trial counts what it recorded, nothing if it
recorded nothing). The *forecast* is the caller's ``trial_estimate_gco2e`` or else the mean
``gco2e`` of the complete trials (0 before the first one completes, so the first trial always
starts).

What is guaranteed, exactly: a trial's emissions reach the storage only when it finishes, so a
worker cannot see what the other workers' running trials will emit. With ``W`` workers (one
trial at a time each), if no trial costs more than the forecast at its start, the study emits at
most ``budget + (W - 1) x`` its dearest trial: when the last trial started, the finished ones had
spent at most ``budget - forecast``, the last one costs at most the forecast, and at most
``W - 1`` others were running. For trials of equal cost ``c`` forecast at ``c`` that is at most
``floor(budget / c) + W - 1`` trials, ``W - 1`` more than fit; one worker never passes the
budget. A trial dearer than its forecast (the first one, when nothing is known yet) can pass
the budget by its excess.

Example::

    import optuna
    from pytorch_lightning import Trainer
    from lightning_carbon import CarbonCallback
    from lightning_carbon.demo import SegmentationModule, demo_datamodule
    from lightning_carbon.optuna_carbon import create_carbon_study, optimize_with_budget

    def objective(trial):
        filters = trial.suggest_categorical("filters", [4, 8, 16, 32])
        meter = CarbonCallback(country="DNK")
        trainer = Trainer(max_epochs=5, callbacks=[meter], logger=False)
        trainer.fit(SegmentationModule(filters=filters), demo_datamodule())
        return trainer.callback_metrics["val_dice"].item(), meter.run.summary["gco2e"]

    study = create_carbon_study("unet-width", storage="sqlite:///hpo.db")  # on every worker
    status = optimize_with_budget(study, objective, n_trials=100, budget_gco2e=200.0)
    print(status.sentence())
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from lightning_carbon.checks import positive_number
from lightning_carbon.selection import select_model

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler
    from optuna.storages import BaseStorage

GCO2E_ATTR = "gco2e"
"""The user attribute holding a trial's emissions, gCO2e."""
STOPPED_ATTR = "carbon_budget_stop"
"""Set on a trial that was pruned at its start because the budget would have been passed."""
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

Objective = Callable[[Trial], Sequence[float]]
"""``trial -> (metric, gco2e)``: the quality to maximise and the trial's emissions."""


@dataclass(frozen=True)
class BudgetStatus:
    """Where a study stands against its carbon budget, all in gCO2e.

    Example::

        >>> BudgetStatus(100.0, 60.0, 20.0, 3).fits
        True
    """

    budget_gco2e: float
    spent_gco2e: float
    forecast_gco2e: float
    trials_counted: int

    @property
    def fits(self) -> bool:
        """Whether one more trial at the forecast cost stays within the budget."""
        return self.spent_gco2e + self.forecast_gco2e <= self.budget_gco2e

    @property
    def remaining_gco2e(self) -> float:
        return self.budget_gco2e - self.spent_gco2e

    def sentence(self) -> str:
        verdict = "another trial fits" if self.fits else "no further trial fits"
        return (
            f"{self.spent_gco2e:.3g} of {self.budget_gco2e:.3g} gCO2e spent by "
            f"{self.trials_counted} finished trial(s); the next is forecast at "
            f"{self.forecast_gco2e:.3g} gCO2e, so {verdict}"
        )


class CarbonBudget:
    """A carbon budget for a whole study, read from the study's storage at every check.

    Args:
        budget_gco2e: the most the study may emit, gCO2e.
        trial_estimate_gco2e: the forecast of one trial; default the mean of complete trials.

    Example::

        budget = CarbonBudget(200.0)
        study.optimize(budget.wrap(objective), n_trials=100, callbacks=[budget.stop_if_spent])
    """

    def __init__(self, budget_gco2e: float, trial_estimate_gco2e: float | None = None) -> None:
        self.budget_gco2e = positive_number("budget_gco2e", budget_gco2e)
        self.trial_estimate_gco2e = (
            None
            if trial_estimate_gco2e is None
            else positive_number("trial_estimate_gco2e", trial_estimate_gco2e)
        )

    def status(self, study: optuna.Study) -> BudgetStatus:
        """Spent and forecast emissions of ``study``, summed from its storage now."""
        finished = study.get_trials(deepcopy=False, states=FINISHED)
        costs = [
            (trial.state, float(trial.user_attrs[GCO2E_ATTR]))
            for trial in finished
            if GCO2E_ATTR in trial.user_attrs
        ]
        complete = [gco2e for state, gco2e in costs if state == TrialState.COMPLETE]
        if self.trial_estimate_gco2e is not None:
            forecast = self.trial_estimate_gco2e
        else:
            forecast = math.fsum(complete) / len(complete) if complete else 0.0
        return BudgetStatus(
            self.budget_gco2e, math.fsum(g for _, g in costs), forecast, len(finished)
        )

    def should_start(self, study: optuna.Study) -> bool:
        """Whether a new trial may start: spent + forecast <= budget."""
        return self.status(study).fits

    def wrap(self, objective: Objective) -> Callable[[Trial], tuple[float, float]]:
        """An Optuna objective that checks the budget, runs ``objective`` and records its gCO2e.

        When the budget would be passed, the trial is pruned before ``objective`` runs (marked
        with the user attribute ``carbon_budget_stop``) and this worker's optimize loop stops.
        """

        def budgeted(trial: Trial) -> tuple[float, float]:
            status = self.status(trial.study)
            if not status.fits:
                trial.set_user_attr(STOPPED_ATTR, True)
                trial.study.stop()
                raise optuna.TrialPruned(f"carbon budget: {status.sentence()}")
            metric, gco2e = objective(trial)
            if isinstance(gco2e, bool) or not (0 <= float(gco2e) < math.inf):
                raise ValueError(
                    f"trial {trial.number} reported gco2e={gco2e!r}; need a finite number >= 0"
                )
            trial.set_user_attr(GCO2E_ATTR, float(gco2e))
            return float(metric), float(gco2e)

        return budgeted

    def stop_if_spent(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """An Optuna callback: stop this worker after a trial when the next would not fit."""
        if not self.should_start(study):
            study.stop()


def create_carbon_study(
    study_name: str | None = None,
    storage: str | BaseStorage | None = None,
    *,
    metric: str = "val_dice",
    sampler: BaseSampler | None = None,
    load_if_exists: bool = True,
) -> optuna.Study:
    """A two-objective study: maximise ``metric``, minimise ``gco2e``; every worker calls it.

    Example::

        >>> study = create_carbon_study()
        >>> study.metric_names
        ['val_dice', 'gco2e']
    """
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        sampler=sampler,
        load_if_exists=load_if_exists,
        directions=["maximize", "minimize"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([metric, GCO2E_ATTR])
    return study


def optimize_with_budget(
    study: optuna.Study,
    objective: Objective,
    n_trials: int,
    budget_gco2e: float,
    *,
    trial_estimate_gco2e: float | None = None,
    **optimize_kwargs: Any,
) -> BudgetStatus:
    """Run up to ``n_trials`` trials of ``objective`` while the study's budget allows.

    ``objective(trial)`` returns ``(metric, gco2e)``; ``study`` must have two directions
    (maximise the metric, minimise gCO2e; see :func:`create_carbon_study`). Other keyword
    arguments go to ``study.optimize``. Returns the budget's status when this worker stops.
    """
    if len(study.directions) != 2:
        raise ValueError(
            f"the study needs two objectives (metric, gCO2e), it has {len(study.directions)}: "
            "use create_carbon_study"
        )
    budget = CarbonBudget(budget_gco2e, trial_estimate_gco2e)
    if budget.should_start(study):
        callbacks = [*(optimize_kwargs.pop("callbacks", None) or []), budget.stop_if_spent]
        study.optimize(
            budget.wrap(objective), n_trials=n_trials, callbacks=callbacks, **optimize_kwargs
        )
    return budget.status(study)


def select_trial(
    study: optuna.Study, tolerance: float = 0.01, budget_gco2e: float | None = None
) -> FrozenTrial:
    """The cheapest complete trial whose metric is within ``tolerance`` of the best
    (:func:`~lightning_carbon.selection.select_model`, on the study's two objective values).

    Example::

        best = select_trial(study, tolerance=0.01)
        print(best.params, best.values)
    """
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    rows = [{"metric": t.values[0], GCO2E_ATTR: t.values[1], "trial": t} for t in trials]
    return select_model(rows, "metric", tolerance, budget_gco2e)["trial"]

"""Carbon-budgeted Optuna studies: maximise a metric, minimise gCO2e, never pass a study budget.

The budget belongs to the study, not to a worker: everything it counts lives in the study's
storage, so any number of workers on any number of machines can share one budget through one
storage (PostgreSQL, a SQLite file, a journal file).

**Reservations.** Before its objective runs, a trial reserves the most it may emit, in its user
attribute ``carbon_reservation_gco2e``: the caller's ``trial_estimate_gco2e``, else the gCO2e of
the dearest finished trial, else (nothing finished yet) the whole remaining budget, so the
first trial runs alone and tells the others what a trial costs. The trial runs only if

    spent + reserved + its reservation <= budget

where *spent* sums the ``gco2e`` of finished trials (complete, pruned or failed; one that was
let run but recorded nothing counts its reservation, since it may have emitted that much) and
*reserved* sums the reservations of the trials running now. Reading these and writing the
reservation happen under the study's lock (:mod:`lightning_carbon.study_lock`: a PostgreSQL
advisory lock, a SQLite write transaction), so two workers never decide on the same view. A
trial that does not fit now but would once the running trials finished (``spent + its
reservation <= budget``) waits for them; otherwise it is pruned at its start and its worker
stops.

**Guarantee.** At every moment ``spent + reserved <= budget``: a reservation is written only
where it fits, and a finishing trial replaces its reservation by its cost. So the finished
trials' gCO2e never sum past the budget, for any number of workers, as long as each trial stays
within its reservation. :func:`carbon_callback` gives the trial a ``CarbonCallback`` that stops
training before an epoch at its mean epoch cost would pass the reservation; an epoch dearer
than the mean can pass it by the difference. That excess, recorded as it is with a
:class:`ReservationExceededWarning`, is the only way a study can pass its budget. The study
ends when the next reservation no longer fits what is left, so it may stop a little below the
budget: reservations are cautious. A trial whose worker died stays running and keeps its
reservation; give ``RDBStorage`` a ``heartbeat_interval`` so that Optuna fails it (its
reservation then counts as spent) and waiting workers go on.

Example::

    import optuna
    from pytorch_lightning import Trainer
    from lightning_carbon.demo import SegmentationModule, demo_datamodule
    from lightning_carbon.optuna_carbon import (
        carbon_callback, create_carbon_study, optimize_with_budget,
    )

    def objective(trial):
        filters = trial.suggest_categorical("filters", [4, 8, 16, 32])
        meter = carbon_callback(trial, country="DNK")  # stops within the trial's reservation
        trainer = Trainer(max_epochs=5, callbacks=[meter], logger=False)
        trainer.fit(SegmentationModule(filters=filters), demo_datamodule())
        return trainer.callback_metrics["val_dice"].item(), meter.run.summary["gco2e"]

    study = create_carbon_study("unet-width", storage="postgresql://hpo@db/hpo")  # every worker
    status = optimize_with_budget(study, objective, n_trials=100, budget_gco2e=200.0)
    print(status.sentence())
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from lightning_carbon.checks import positive_number
from lightning_carbon.selection import select_model
from lightning_carbon.study_ledger import (
    FINISHED,
    GCO2E_ATTR,
    RESERVATION_ATTR,
    Entry,
    read_entries,
)
from lightning_carbon.study_lock import study_lock

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler
    from optuna.storages import BaseStorage

    from lightning_carbon import CarbonCallback

STOPPED_ATTR = "carbon_budget_stop"
"""Set on a trial that was pruned at its start because the budget would have been passed."""

Objective = Callable[[Trial], Sequence[float]]
"""``trial -> (metric, gco2e)``: the quality to maximise and the trial's emissions."""


class ReservationExceededWarning(UserWarning):
    """A trial emitted more than it reserved: its study may pass the budget by the excess."""


@dataclass(frozen=True)
class BudgetStatus:
    """Where a study stands against its carbon budget, all in gCO2e.

    Example::

        >>> BudgetStatus(100.0, 60.0, 20.0, 20.0, 3, 1).fits
        True
    """

    budget_gco2e: float
    spent_gco2e: float
    reserved_gco2e: float
    next_reservation_gco2e: float
    trials_counted: int
    """Finished trials."""
    trials_running: int
    """Running trials that hold a reservation."""

    @property
    def exhausted(self) -> bool:
        """Whether the next reservation cannot fit, even once the running trials finish."""
        return (
            self.next_reservation_gco2e <= 0
            or self.spent_gco2e + self.next_reservation_gco2e > self.budget_gco2e
        )

    @property
    def fits(self) -> bool:
        """Whether the next reservation fits now, beside what is spent and reserved."""
        return not self.exhausted and self.next_reservation_gco2e <= self.remaining_gco2e

    @property
    def remaining_gco2e(self) -> float:
        """What is neither spent nor reserved."""
        return self.budget_gco2e - self.spent_gco2e - self.reserved_gco2e

    def sentence(self) -> str:
        if self.fits:
            verdict = "it fits"
        elif self.exhausted:
            verdict = "no further trial fits"
        else:
            verdict = "it waits for running trials to finish"
        return (
            f"{self.spent_gco2e:.3g} of {self.budget_gco2e:.3g} gCO2e spent by "
            f"{self.trials_counted} finished trial(s), {self.reserved_gco2e:.3g} reserved by "
            f"{self.trials_running} running; the next trial would reserve "
            f"{self.next_reservation_gco2e:.3g} gCO2e, so {verdict}"
        )


class CarbonBudget:
    """A carbon budget for a whole study, kept by reservations in the study's storage.

    Args:
        budget_gco2e: the most the study may emit, gCO2e.
        trial_estimate_gco2e: the most one trial may emit, reserved by every trial; default
            the dearest finished trial, or the whole remaining budget while none has finished.
        poll_s: how often a trial waiting for running trials to finish looks again, s.

    Example::

        budget = CarbonBudget(200.0)
        study.optimize(budget.wrap(objective), n_trials=100, callbacks=[budget.stop_if_spent])
    """

    def __init__(
        self,
        budget_gco2e: float,
        trial_estimate_gco2e: float | None = None,
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.budget_gco2e = positive_number("budget_gco2e", budget_gco2e)
        self.trial_estimate_gco2e = (
            None
            if trial_estimate_gco2e is None
            else positive_number("trial_estimate_gco2e", trial_estimate_gco2e)
        )
        self.poll_s = positive_number("poll_s", poll_s)

    def status(self, study: optuna.Study) -> BudgetStatus:
        """Spent and reserved emissions of ``study`` and the next reservation, read now."""
        return self._tally(read_entries(study))

    def should_start(self, study: optuna.Study) -> bool:
        """Whether another trial can still fit: now, or once the running trials finish."""
        return not self.status(study).exhausted

    def reserve(self, trial: Trial) -> BudgetStatus:
        """One attempt, under the study's lock: where the trial's reservation fits, write it.

        Returns the status the decision saw; ``fits`` says whether ``trial`` now holds
        ``next_reservation_gco2e``. For ask-and-tell loops; :meth:`wrap` calls it for you.

        Example::

            trial = study.ask()
            if budget.reserve(trial).fits:
                ...
        """
        study = trial.study
        with study_lock(study._storage, study._study_id):
            status = self._tally(read_entries(study), own_trial_id=trial._trial_id)
            if status.fits:
                trial.set_user_attr(RESERVATION_ATTR, status.next_reservation_gco2e)
        return status

    def wrap(self, objective: Objective) -> Callable[[Trial], tuple[float, float]]:
        """An Optuna objective that reserves the trial's share of the budget, runs ``objective``
        and records its gCO2e.

        While the reservation only waits for running trials, the trial waits; when it cannot
        fit at all, the trial is pruned before ``objective`` runs (marked with the user
        attribute ``carbon_budget_stop``) and this worker's optimize loop stops.
        """

        def budgeted(trial: Trial) -> tuple[float, float]:
            self._admit(trial)
            metric, gco2e = objective(trial)
            record_gco2e(trial, gco2e)
            return float(metric), float(gco2e)

        return budgeted

    def stop_if_spent(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """An Optuna callback: stop this worker after a trial when no further trial can fit."""
        if not self.should_start(study):
            study.stop()

    def _admit(self, trial: Trial) -> None:
        while True:
            status = self.reserve(trial)
            if status.fits:
                return
            if status.exhausted:
                trial.set_user_attr(STOPPED_ATTR, True)
                trial.study.stop()
                raise optuna.TrialPruned(f"carbon budget: {status.sentence()}")
            time.sleep(self.poll_s)

    def _tally(self, entries: Iterable[Entry], own_trial_id: int | None = None) -> BudgetStatus:
        spent, reserved, measured, finished = [], [], [], 0
        for entry in entries:
            if entry.state in FINISHED:
                finished += 1
                if entry.gco2e is not None:
                    measured.append(entry.gco2e)
                    spent.append(entry.gco2e)
                elif entry.reservation_gco2e is not None:  # let run, cost unknown: the most
                    spent.append(entry.reservation_gco2e)
            elif entry.reservation_gco2e is not None and entry.trial_id != own_trial_id:
                reserved.append(entry.reservation_gco2e)
        spent_gco2e = math.fsum(spent)
        if self.trial_estimate_gco2e is not None:
            next_gco2e = self.trial_estimate_gco2e
        elif measured and max(measured) > 0:
            next_gco2e = max(measured)
        else:
            next_gco2e = self.budget_gco2e - spent_gco2e
        return BudgetStatus(
            self.budget_gco2e,
            spent_gco2e,
            math.fsum(reserved),
            next_gco2e,
            finished,
            len(reserved),
        )


def record_gco2e(trial: Trial, gco2e: float) -> None:
    """Record what ``trial`` emitted (also from an objective that then raises, e.g. when
    pruned: a trial let run that recorded nothing counts its whole reservation).

    Example::

        record_gco2e(trial, meter.run.totals.fit_used().gco2e)
        raise optuna.TrialPruned()
    """
    if isinstance(gco2e, bool) or not (0 <= float(gco2e) < math.inf):
        raise ValueError(
            f"trial {trial.number} reported gco2e={gco2e!r}; need a finite number >= 0"
        )
    reserved = trial.user_attrs.get(RESERVATION_ATTR)
    if reserved is not None and float(gco2e) > reserved:
        warnings.warn(
            f"lightning-carbon: trial {trial.number} emitted {float(gco2e):.3g} gCO2e, more than "
            f"the {reserved:.3g} gCO2e it reserved; the study may pass its budget by the excess",
            ReservationExceededWarning,
            stacklevel=2,
        )
    trial.set_user_attr(GCO2E_ATTR, float(gco2e))


def reservation_gco2e(trial: Trial) -> float:
    """The most ``trial`` may emit, gCO2e, as reserved when the budget let it run.

    Example::

        meter = CarbonCallback(budget_gco2e=reservation_gco2e(trial), on_budget="stop")
    """
    try:
        return float(trial.user_attrs[RESERVATION_ATTR])
    except KeyError:
        raise ValueError(
            f"trial {trial.number} holds no carbon reservation: run it through "
            "CarbonBudget.wrap (or optimize_with_budget), or call CarbonBudget.reserve first"
        ) from None


def carbon_callback(trial: Trial, **callback_kwargs: Any) -> CarbonCallback:
    """A :class:`~lightning_carbon.CarbonCallback` that stops the trial's training before an
    epoch at the mean epoch cost would pass the trial's reservation (``budget_gco2e`` =
    :func:`reservation_gco2e`, ``on_budget="stop"``); other keyword arguments go to it.

    Example::

        meter = carbon_callback(trial, country="DNK")
        Trainer(callbacks=[meter]).fit(model)
        return metric, meter.run.totals.fit_used().gco2e
    """
    from lightning_carbon import CarbonCallback

    return CarbonCallback(
        budget_gco2e=reservation_gco2e(trial), on_budget="stop", **callback_kwargs
    )


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
    poll_s: float = 1.0,
    **optimize_kwargs: Any,
) -> BudgetStatus:
    """Run up to ``n_trials`` trials of ``objective`` while the study's budget allows.

    ``objective(trial)`` returns ``(metric, gco2e)``; ``study`` must have two directions
    (maximise the metric, minimise gCO2e; see :func:`create_carbon_study`). Other keyword
    arguments go to ``study.optimize``; ``trial_estimate_gco2e`` and ``poll_s`` as in
    :class:`CarbonBudget`. Returns the budget's status when this worker stops.
    """
    if len(study.directions) != 2:
        raise ValueError(
            f"the study needs two objectives (metric, gCO2e), it has {len(study.directions)}: "
            "use create_carbon_study"
        )
    budget = CarbonBudget(budget_gco2e, trial_estimate_gco2e, poll_s=poll_s)
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

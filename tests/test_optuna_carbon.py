"""A study-wide carbon budget for Optuna: exact stops for one worker, the race bound for many.

Cheap fake objectives report scripted gCO2e; the budget is read back from the study's storage,
in-memory for one worker and SQLite shared by two worker processes.
"""

import math
import multiprocessing
import time

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from lightning_carbon.optuna_carbon import (
    GCO2E_ATTR,
    STOPPED_ATTR,
    BudgetStatus,
    CarbonBudget,
    create_carbon_study,
    optimize_with_budget,
    select_trial,
)


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _scripted(costs, calls=None):
    """An objective whose n-th trial reports ``costs[n % len(costs)]`` gCO2e."""

    def objective(trial):
        if calls is not None:
            calls.append(trial.number)
        return 0.5, costs[trial.number % len(costs)]

    return objective


def _sqlite(path):
    return optuna.storages.RDBStorage(
        f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}}
    )


def test_status_sums_finished_trials_and_forecasts_the_mean_of_complete_ones():
    study = create_carbon_study()
    study.add_trial(create_trial(values=[0.8, 10.0], user_attrs={GCO2E_ATTR: 10.0}))
    study.add_trial(create_trial(values=[0.9, 30.0], user_attrs={GCO2E_ATTR: 30.0}))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={GCO2E_ATTR: 5.0}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={GCO2E_ATTR: 2.0}))
    study.add_trial(create_trial(values=[0.7, 1.0]))  # recorded nothing: counts 0
    running = study.ask()
    running.set_user_attr(GCO2E_ATTR, 100.0)  # not finished: not counted yet
    status = CarbonBudget(67.0).status(study)
    assert status == BudgetStatus(67.0, 47.0, 20.0, 5)
    assert status.fits and status.remaining_gco2e == 20.0
    assert not CarbonBudget(66.9).should_start(study)
    assert CarbonBudget(67.0, trial_estimate_gco2e=7.0).status(study).forecast_gco2e == 7.0
    assert "47 of 67 gCO2e spent by 5 finished trial(s)" in status.sentence()


def test_one_worker_with_the_mean_forecast_stops_just_before_the_budget():
    # checks: 0+0, 10+10, 40+20 fit 70; then 60 + mean 20 = 80 does not
    study = create_carbon_study()
    status = optimize_with_budget(
        study, _scripted([10.0, 30.0, 20.0, 40.0]), n_trials=50, budget_gco2e=70.0
    )
    assert [t.user_attrs[GCO2E_ATTR] for t in study.trials] == [10.0, 30.0, 20.0]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)  # no empty trial left
    assert [t.values for t in study.trials] == [[0.5, 10.0], [0.5, 30.0], [0.5, 20.0]]
    assert status == BudgetStatus(70.0, 60.0, 20.0, 3) and not status.fits


def test_with_an_estimate_as_many_trials_start_as_the_estimate_allows():
    # 10 k + 25 <= 70 for k = 0..4: five trials of 10 g
    study = create_carbon_study()
    status = optimize_with_budget(
        study, _scripted([10.0]), n_trials=50, budget_gco2e=70.0, trial_estimate_gco2e=25.0
    )
    assert len(study.trials) == 5 and status.spent_gco2e == 50.0


def test_a_trial_dearer_than_its_forecast_passes_the_budget_by_its_excess():
    study = create_carbon_study()
    status = optimize_with_budget(study, _scripted([10.0, 50.0]), n_trials=50, budget_gco2e=55.0)
    assert len(study.trials) == 2 and status.spent_gco2e == 60.0  # forecast 10, cost 50


def test_n_trials_still_limits_a_worker():
    study = create_carbon_study()
    status = optimize_with_budget(study, _scripted([1.0]), n_trials=3, budget_gco2e=100.0)
    assert len(study.trials) == 3 and status.fits


def test_a_worker_joining_a_spent_study_starts_nothing():
    study = create_carbon_study()
    study.add_trial(create_trial(values=[0.8, 60.0], user_attrs={GCO2E_ATTR: 60.0}))
    calls = []
    status = optimize_with_budget(study, _scripted([10.0], calls), n_trials=5, budget_gco2e=50.0)
    assert calls == [] and len(study.trials) == 1 and status.spent_gco2e == 60.0


def test_the_check_at_trial_start_prunes_the_trial_and_stops_the_worker():
    study = create_carbon_study()
    study.add_trial(create_trial(values=[0.8, 60.0], user_attrs={GCO2E_ATTR: 60.0}))
    calls = []
    study.optimize(CarbonBudget(50.0).wrap(_scripted([10.0], calls)), n_trials=5)
    assert calls == []
    assert [(t.state, t.user_attrs.get(STOPPED_ATTR)) for t in study.trials[1:]] == [
        (TrialState.PRUNED, True)
    ]
    assert CarbonBudget(50.0).status(study).spent_gco2e == 60.0  # the pruned trial adds 0


def test_two_workers_that_check_before_either_finishes_run_one_trial_too_many(tmp_path):
    """The race, step by step: budget 15, trials of 10 forecast at 10; floor(15/10) = 1 fits,
    but both workers see nothing spent, so 2 = 1 + (W - 1) trials run: 20 <= 15 + 1 x 10."""
    storage = _sqlite(tmp_path / "race.db")
    create_carbon_study("race", storage)
    worker_a = optuna.load_study(study_name="race", storage=storage)
    worker_b = optuna.load_study(study_name="race", storage=storage)
    budget = CarbonBudget(15.0, trial_estimate_gco2e=10.0)
    assert budget.should_start(worker_a)
    trial_a = worker_a.ask()
    assert budget.should_start(worker_b)  # trial_a is running: its 10 g are not in storage yet
    trial_b = worker_b.ask()
    for study, trial in ((worker_a, trial_a), (worker_b, trial_b)):
        trial.set_user_attr(GCO2E_ATTR, 10.0)
        study.tell(trial, [0.5, 10.0])
    status = budget.status(worker_a)
    assert status.spent_gco2e == 20.0 and not status.fits


def _worker(url, name, worker, start, budget, estimate, cost, pause_s):
    """One worker process: join the study, wait for the other, optimise under the budget."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=_sqlite(url))

    def objective(trial):
        trial.set_user_attr("worker", worker)
        time.sleep(pause_s)  # keeps the trials of both workers overlapping
        return 0.5, cost

    start.wait(timeout=60)
    optimize_with_budget(
        study, objective, n_trials=50, budget_gco2e=budget, trial_estimate_gco2e=estimate
    )


@pytest.mark.slow
def test_two_worker_processes_on_sqlite_keep_the_study_within_the_race_bound(tmp_path):
    """Budget B = 95, trials of c = 10 forecast at 10, W = 2 workers.

    Upper bound: the last trial to start saw k finished trials with 10 k + 10 <= 95, so
    k <= 8 = floor(B / c) - 1, and at most W - 1 = 1 other trial running: N <= 8 + 1 + 1 = 10,
    emissions <= 100 <= B + (W - 1) c. Lower bound: a worker stops only when 10 k + 10 > 95,
    i.e. k >= 9 trials finished, and 50 trials per worker never run out first: N >= 9.
    """
    path = tmp_path / "shared.db"
    create_carbon_study("shared", _sqlite(path))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_worker, args=(path, "shared", w, start, 95.0, 10.0, 10.0, 0.2))
        for w in (0, 1)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0]

    study = optuna.load_study(study_name="shared", storage=_sqlite(path))
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    measured = [t for t in study.trials if GCO2E_ATTR in t.user_attrs]
    spent = math.fsum(t.user_attrs[GCO2E_ATTR] for t in measured)
    assert 9 <= len(measured) <= 9 + (2 - 1)
    assert 90.0 <= spent <= 95.0 + (2 - 1) * 10.0
    assert {t.user_attrs["worker"] for t in measured} == {0, 1}  # both workers took part
    # a trial without gCO2e is one pruned at its start because the budget was spent
    unmeasured = [t for t in study.trials if GCO2E_ATTR not in t.user_attrs]
    assert all(t.state == TrialState.PRUNED and t.user_attrs[STOPPED_ATTR] for t in unmeasured)
    assert CarbonBudget(95.0, 10.0).status(study).spent_gco2e == spent


def test_select_trial_is_the_cheapest_within_tolerance_of_the_best():
    study = create_carbon_study()
    for dice, gco2e in ((0.80, 1.0), (0.85, 2.0), (0.855, 4.0)):
        study.add_trial(create_trial(values=[dice, gco2e], user_attrs={GCO2E_ATTR: gco2e}))
    assert select_trial(study, tolerance=0.01).values == [0.85, 2.0]
    assert select_trial(study, tolerance=0.0).values == [0.855, 4.0]
    assert select_trial(study, tolerance=0.01, budget_gco2e=1.5).values == [0.80, 1.0]


def test_create_carbon_study_maximises_the_metric_and_minimises_gco2e(tmp_path):
    storage = _sqlite(tmp_path / "s.db")
    study = create_carbon_study("named", storage, metric="val_iou")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_iou", "gco2e"]
    again = create_carbon_study("named", storage, metric="val_iou")  # a second worker joins
    assert again._study_id == study._study_id


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget_gco2e": 0}, "budget_gco2e must be a finite number > 0, got 0"),
        ({"budget_gco2e": math.nan}, "budget_gco2e must be a finite number > 0, got nan"),
        ({"budget_gco2e": True}, "budget_gco2e must be a finite number > 0, got True"),
        ({"trial_estimate_gco2e": -1.0}, "trial_estimate_gco2e must be .* got -1.0"),
    ],
)
def test_bad_budgets_are_quoted(kwargs, match):
    arguments = {"budget_gco2e": 10.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        optimize_with_budget(create_carbon_study(), _scripted([1.0]), n_trials=1, **arguments)


def test_a_single_objective_study_is_refused():
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ValueError, match="needs two objectives .* it has 1"):
        optimize_with_budget(study, _scripted([1.0]), n_trials=1, budget_gco2e=10.0)


@pytest.mark.parametrize("gco2e", [-1.0, math.nan, math.inf])
def test_an_objective_reporting_impossible_emissions_fails_clearly(gco2e):
    with pytest.raises(ValueError, match=rf"trial 0 reported gco2e={gco2e!r}"):
        optimize_with_budget(
            create_carbon_study(), _scripted([gco2e]), n_trials=1, budget_gco2e=10.0
        )

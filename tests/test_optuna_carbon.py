"""A study-wide carbon budget for Optuna, kept by reservations: exact stops for one worker,
the closed race for two, in-process (tests/test_optuna_concurrency.py has worker processes).

Scripted objectives (tests/scripted_trials.py) report what a trial under ``carbon_callback``
would emit; the budget is read back from the study's storage.
"""

import math
import threading

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from lightning_carbon.optuna_carbon import (
    GCO2E_ATTR,
    RESERVATION_ATTR,
    STOPPED_ATTR,
    BudgetStatus,
    CarbonBudget,
    ReservationExceededWarning,
    create_carbon_study,
    optimize_with_budget,
    record_gco2e,
    reservation_gco2e,
    select_trial,
)
from lightning_carbon.study_ledger import Entry, entries_of, read_entries
from lightning_carbon.study_lock import LOCK_SUFFIX, study_lock
from tests.scripted_trials import ScriptedTrials, epochs_within, peak_overlap


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _scripted(costs, calls=None):
    """An objective whose n-th trial reports ``costs[n % len(costs)]`` gCO2e, whatever it
    reserved."""

    def objective(trial):
        if calls is not None:
            calls.append(trial.number)
        return 0.5, costs[trial.number % len(costs)]

    return objective


def _sqlite(path):
    return optuna.storages.RDBStorage(
        f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}}
    )


def test_status_counts_spent_and_reserved_and_reserves_the_dearest_finished_trial():
    study = create_carbon_study()
    study.add_trial(create_trial(values=[0.8, 10.0], user_attrs={GCO2E_ATTR: 10.0}))
    study.add_trial(create_trial(values=[0.9, 30.0], user_attrs={GCO2E_ATTR: 30.0}))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={GCO2E_ATTR: 5.0}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={GCO2E_ATTR: 2.0}))
    study.add_trial(create_trial(values=[0.7, 1.0]))  # never reserved, recorded nothing: 0
    # let run, then failed without recording: it may have emitted all it reserved
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={RESERVATION_ATTR: 8.0}))
    study.add_trial(create_trial(state=TrialState.RUNNING, user_attrs={RESERVATION_ATTR: 6.0}))
    waiting = study.ask()  # running without a reservation: waiting for the budget, holds 0
    waiting.set_user_attr(GCO2E_ATTR, 100.0)  # not finished: not counted
    status = CarbonBudget(91.0).status(study)
    assert status == BudgetStatus(91.0, 55.0, 6.0, 30.0, 6, 1)
    assert status.fits and status.remaining_gco2e == 30.0
    waits = CarbonBudget(90.9).status(study)  # 55 + 6 + 30 > 90.9, but 55 + 30 fits
    assert not waits.fits and not waits.exhausted
    assert CarbonBudget(84.9).status(study).exhausted  # 55 + 30 > 84.9
    assert CarbonBudget(84.9).should_start(study) is False
    assert CarbonBudget(91.0, trial_estimate_gco2e=7.0).status(study).next_reservation_gco2e == 7
    assert status.sentence() == (
        "55 of 91 gCO2e spent by 6 finished trial(s), 6 reserved by 1 running; "
        "the next trial would reserve 30 gCO2e, so it fits"
    )
    assert "so it waits for running trials to finish" in waits.sentence()


def test_before_any_trial_finishes_a_trial_reserves_the_whole_remaining_budget():
    study = create_carbon_study()
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={RESERVATION_ATTR: 4.0}))
    assert CarbonBudget(50.0).status(study) == BudgetStatus(50.0, 4.0, 0.0, 46.0, 1, 0)
    study.add_trial(create_trial(values=[0.5, 0.0], user_attrs={GCO2E_ATTR: 0.0}))
    assert CarbonBudget(50.0).status(study).next_reservation_gco2e == 46.0  # 0 g tells nothing
    assert CarbonBudget(4.0).status(study).exhausted  # nothing left to reserve


def test_one_worker_reserves_the_budget_then_the_dearest_trial_and_stops_before_passing():
    """Budget 25. Trial 0 reserves all 25 and trains 10 epochs of 1 g: 10 g. Trial 1 reserves
    the dearest so far, 10, and is stopped after 5 of its 10 epochs of 2 g: 10 g. Then
    20 + 10 > 25: the worker stops, 5 g below the budget, with no empty trial left."""
    study = create_carbon_study()
    status = optimize_with_budget(
        study, ScriptedTrials([(1.0, 10), (2.0, 10)]), n_trials=50, budget_gco2e=25.0
    )
    assert [t.user_attrs[RESERVATION_ATTR] for t in study.trials] == [25.0, 10.0]
    assert [t.values for t in study.trials] == [[0.5, 10.0], [0.5, 10.0]]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert status == BudgetStatus(25.0, 20.0, 0.0, 10.0, 2, 0) and status.exhausted


def test_with_an_estimate_every_trial_reserves_it_and_as_many_run_as_fit():
    # 10 k + 25 <= 70 for k = 0..4: five trials of 10 g, each holding 25 while it ran
    study = create_carbon_study()
    status = optimize_with_budget(
        study, _scripted([10.0]), n_trials=50, budget_gco2e=70.0, trial_estimate_gco2e=25.0
    )
    assert len(study.trials) == 5 and status.spent_gco2e == 50.0
    assert {t.user_attrs[RESERVATION_ATTR] for t in study.trials} == {25.0}


def test_a_trial_passing_its_reservation_is_recorded_as_it_is_and_warned_about():
    """The only way past the budget: budget 15, estimate 10, a trial that emits 20."""
    study = create_carbon_study()
    with pytest.warns(ReservationExceededWarning, match="trial 0 emitted 20 gCO2e, more than"):
        status = optimize_with_budget(
            study, _scripted([20.0]), n_trials=5, budget_gco2e=15.0, trial_estimate_gco2e=10.0
        )
    assert len(study.trials) == 1 and status.spent_gco2e == 20.0 and status.exhausted


def test_a_trial_that_fails_unrecorded_counts_its_reservation_and_a_recorded_one_its_cost():
    study = create_carbon_study()
    budget = CarbonBudget(100.0, trial_estimate_gco2e=30.0)

    def crashes(trial):
        raise RuntimeError("out of memory")

    def pruned_after_recording(trial):
        record_gco2e(trial, 4.0)
        raise optuna.TrialPruned()

    study.optimize(budget.wrap(crashes), n_trials=1, catch=(RuntimeError,))
    study.optimize(budget.wrap(pruned_after_recording), n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.PRUNED]
    assert budget.status(study).spent_gco2e == 30.0 + 4.0


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
    stopped = study.trials[1]
    assert (stopped.state, stopped.user_attrs.get(STOPPED_ATTR)) == (TrialState.PRUNED, True)
    assert RESERVATION_ATTR not in stopped.user_attrs
    assert CarbonBudget(50.0).status(study).spent_gco2e == 60.0  # the pruned trial adds 0


def test_a_second_worker_cannot_start_while_the_first_holds_the_budget(tmp_path):
    """The race that used to pass the budget: budget 15, trials of 10 reserving 10. Worker A's
    running trial holds 10, so worker B's trial does not fit (0 + 10 + 10 > 15) and waits; once
    A's trial has spent 10, B's cannot fit at all (10 + 10 > 15). One trial, 10 <= 15."""
    storage = _sqlite(tmp_path / "race.db")
    create_carbon_study("race", storage)
    worker_a = optuna.load_study(study_name="race", storage=storage)
    worker_b = optuna.load_study(study_name="race", storage=storage)
    budget = CarbonBudget(15.0, trial_estimate_gco2e=10.0)
    trial_a = worker_a.ask()
    assert budget.reserve(trial_a).fits and reservation_gco2e(trial_a) == 10.0
    trial_b = worker_b.ask()
    seen_by_b = budget.reserve(trial_b)
    assert seen_by_b == BudgetStatus(15.0, 0.0, 10.0, 10.0, 0, 1)
    assert not seen_by_b.fits and not seen_by_b.exhausted  # waits
    assert RESERVATION_ATTR not in worker_b.trials[1].user_attrs
    record_gco2e(trial_a, 10.0)
    worker_a.tell(trial_a, [0.5, 10.0])
    assert budget.reserve(trial_b).exhausted
    with pytest.raises(ValueError, match="trial 1 holds no carbon reservation"):
        reservation_gco2e(trial_b)


def test_a_waiting_trial_runs_once_the_running_trial_frees_its_reservation():
    """Budget 20, no estimate: trial 0 holds all 20; trial 1 (another thread) waits, then
    reserves the 5 that trial 0 emitted and runs."""
    study = create_carbon_study()
    budget = CarbonBudget(20.0, poll_s=0.01)
    first = study.ask()
    assert budget.reserve(first).next_reservation_gco2e == 20.0
    second = threading.Thread(
        target=study.optimize, args=(budget.wrap(_scripted([5.0])),), kwargs={"n_trials": 1}
    )
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive()  # waiting: trial 0 holds the whole budget
    record_gco2e(first, 5.0)
    study.tell(first, [0.5, 5.0])
    second.join(timeout=30)
    assert not second.is_alive()
    assert [t.user_attrs.get(RESERVATION_ATTR) for t in study.trials] == [20.0, 5.0]
    assert budget.status(study) == BudgetStatus(20.0, 10.0, 0.0, 5.0, 2, 0)


@pytest.mark.parametrize("where", ["sqlite", "journal", "memory"])
def test_the_study_lock_makes_a_reservation_wait(tmp_path, where):
    if where == "sqlite":
        storage = _sqlite(tmp_path / "locked.db")
    elif where == "journal":
        backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
        storage = optuna.storages.JournalStorage(backend)
    else:
        storage = optuna.storages.InMemoryStorage()
    study = create_carbon_study("locked", storage)
    trial = study.ask()
    with study_lock(study._storage, study._study_id):
        reserving = threading.Thread(target=CarbonBudget(10.0, 1.0).reserve, args=(trial,))
        reserving.start()
        reserving.join(timeout=0.3)
        assert reserving.is_alive()
    reserving.join(timeout=30)
    assert reservation_gco2e(trial) == 1.0
    if where != "memory":
        assert list(tmp_path.glob(f"*{LOCK_SUFFIX}"))


def test_a_storage_without_a_lock_is_refused_clearly():
    with study_lock(optuna.storages.RDBStorage("sqlite://"), 0):
        pass  # in-memory SQLite lives in one process: a thread lock is enough
    with pytest.raises(ValueError, match="no study lock for storage Elsewhere; use PostgreSQL"):
        with study_lock(type("Elsewhere", (), {})(), 0):
            pass


def test_the_one_query_ledger_of_a_database_equals_optunas_full_trials(tmp_path):
    storage = _sqlite(tmp_path / "ledger.db")
    other = create_carbon_study("other", storage)  # same tables, must not leak in
    other.add_trial(create_trial(values=[0.1, 99.0], user_attrs={GCO2E_ATTR: 99.0}))
    study = create_carbon_study("ledger", storage)
    study.add_trial(create_trial(values=[0.8, 10.0], user_attrs={GCO2E_ATTR: 10.0, "lr": 0.1}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={RESERVATION_ATTR: 8.0}))
    study.add_trial(create_trial(state=TrialState.PRUNED))
    running = study.ask()
    running.set_user_attr(RESERVATION_ATTR, 6)
    running.set_user_attr(GCO2E_ATTR, 2.5)
    study.enqueue_trial({}, user_attrs={RESERVATION_ATTR: 1.0})  # waiting: not counted
    entries = read_entries(study)
    ids = [t._trial_id for t in study.trials]
    assert (
        entries
        == entries_of(study.get_trials(deepcopy=False))
        == [
            Entry(ids[0], TrialState.COMPLETE, 10.0, None),
            Entry(ids[1], TrialState.FAIL, None, 8.0),
            Entry(ids[2], TrialState.PRUNED, None, None),
            Entry(ids[3], TrialState.RUNNING, 2.5, 6.0),
        ]
    )


def test_the_scripted_trials_follow_the_stop_rule_and_measure_overlap():
    assert [epochs_within(r, 2.0, 10) for r in (1.0, 2.0, 3.9, 4.0, 10.0, 99.0)] == [
        1, 1, 1, 2, 5, 10,
    ]  # fmt: skip
    assert peak_overlap([[0, 2], [1, 3], [2, 4], [5, 6]]) == 2


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
        ({"poll_s": 0}, "poll_s must be a finite number > 0, got 0"),
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

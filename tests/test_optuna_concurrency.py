"""Budgeted studies shared by 4 worker processes, on SQLite and on a real PostgreSQL server
(started by tests/postgres_server.py on 127.0.0.1; skipped, with the reason, where it cannot
be). Trials are scripted (tests/scripted_trials.py): they emit what ``carbon_callback`` would
let them and take 0.1 s, so the workers' trials overlap. In every run the finished trials'
gCO2e must sum to at most the budget.
"""

import math
import multiprocessing
import threading
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from lightning_carbon.optuna_carbon import (
    GCO2E_ATTR,
    RESERVATION_ATTR,
    STOPPED_ATTR,
    CarbonBudget,
    create_carbon_study,
    optimize_with_budget,
    reservation_gco2e,
)
from lightning_carbon.study_lock import study_lock
from tests.postgres_server import PostgresServer, PostgresUnavailable, postgres_url  # noqa: F401
from tests.scripted_trials import ScriptedTrials, peak_overlap

WORKERS = 4
PAUSE_S = 0.1


def _storage(url):
    if url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def _worker(url, name, start, budget, estimate, plan):
    """One worker process: join the study, wait for the others, optimise under the budget."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=_storage(url))
    start.wait(timeout=60)
    optimize_with_budget(
        study,
        ScriptedTrials(plan, pause_s=PAUSE_S),
        n_trials=50,
        budget_gco2e=budget,
        trial_estimate_gco2e=estimate,
        poll_s=0.02,
    )


def _url(request, tmp_path, backend):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


def _run_study(url, budget, estimate, plan):
    """Four worker processes on one study; its trials once they have all stopped."""
    name = f"budget-{uuid.uuid4().hex[:8]}"
    create_carbon_study(name, _storage(url))
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_worker, args=(url, name, start, budget, estimate, plan))
        for _ in range(WORKERS)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0] * WORKERS
    return optuna.load_study(study_name=name, storage=_storage(url))


def _check_every_run(study, budget):
    """What holds in every run: the budget, each trial within its reservation, and only
    trials pruned at their start by the budget left without gCO2e."""
    measured = [t for t in study.trials if GCO2E_ATTR in t.user_attrs]
    spent = math.fsum(t.user_attrs[GCO2E_ATTR] for t in measured)
    assert spent <= budget
    assert all(t.user_attrs[GCO2E_ATTR] <= t.user_attrs[RESERVATION_ATTR] for t in measured)
    assert all(t.state == TrialState.COMPLETE for t in measured)
    for trial in study.trials:
        if GCO2E_ATTR not in trial.user_attrs:
            assert trial.state == TrialState.PRUNED and trial.user_attrs[STOPPED_ATTR]
            assert RESERVATION_ATTR not in trial.user_attrs
    assert peak_overlap([t.user_attrs["ran_s"] for t in measured]) >= 2  # they did overlap
    return measured, spent


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_workers_with_an_estimate_run_exactly_what_fits(request, tmp_path, backend):
    """Budget 95, trials of 5 epochs x 2 g reserving 10: at every moment spent + reserved
    <= 95, so at most 9 trials are ever let run; and a worker stops only when 10 k + 10 > 95,
    i.e. after 9 finished trials. Exactly 9 trials, 90 g."""
    url = _url(request, tmp_path, backend)
    study = _run_study(url, budget=95.0, estimate=10.0, plan=[(2.0, 5)])
    measured, spent = _check_every_run(study, 95.0)
    assert len(measured) == 9 and spent == 90.0
    assert CarbonBudget(95.0, 10.0).status(study).exhausted


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_workers_reserving_the_dearest_trial_stay_within_the_budget(
    request, tmp_path, backend
):
    """Budget 40, no estimate, trials of varied cost: the first trial reserves all 40 and runs
    alone; then each reserves the dearest finished trial and is cut within it. The study
    stops only when the next reservation cannot fit even after the running trials."""
    url = _url(request, tmp_path, backend)
    plan = [(1.0, 6), (2.0, 4), (1.0, 3), (3.0, 5), (0.5, 8)]
    study = _run_study(url, budget=40.0, estimate=None, plan=plan)
    measured, spent = _check_every_run(study, 40.0)
    whole = [t for t in measured if t.user_attrs[RESERVATION_ATTR] == 40.0]
    assert len(whole) == 1
    alone = whole[0].user_attrs["ran_s"]
    others = [t.user_attrs["ran_s"] for t in measured if t is not whole[0]]
    assert all(end <= alone[0] or start >= alone[1] for start, end in others)
    assert CarbonBudget(40.0).status(study).exhausted


def test_the_postgresql_advisory_lock_makes_a_reservation_wait(postgres_url):  # noqa: F811
    study = create_carbon_study(f"locked-{uuid.uuid4().hex[:8]}", _storage(postgres_url))
    trial = study.ask()
    with study_lock(study._storage, study._study_id):
        reserving = threading.Thread(target=CarbonBudget(10.0, 1.0).reserve, args=(trial,))
        reserving.start()
        reserving.join(timeout=0.3)
        assert reserving.is_alive()
    reserving.join(timeout=30)
    assert reservation_gco2e(trial) == 1.0


def test_without_server_binaries_the_reason_is_given(monkeypatch):
    monkeypatch.setattr("tests.postgres_server.server_binaries", lambda: None)
    with pytest.raises(PostgresUnavailable, match="no PostgreSQL server binaries"):
        PostgresServer().start()

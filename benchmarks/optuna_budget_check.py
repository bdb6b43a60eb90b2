"""The time a worker spends on a study's carbon budget per trial, on SQLite and PostgreSQL.

Four worker processes share one study of 200 trials (``optimize_with_budget``, 50 trials
each). Every trial sleeps 50 ms, emits 1 gCO2e and reserves 1 gCO2e (``trial_estimate_gco2e``);
the budget is 200 gCO2e, so all 200 fit, the last one exactly. Per trial, in each worker
(``time.perf_counter``):

- *reserve*: :meth:`CarbonBudget.reserve`, i.e. waiting for the study lock, reading the
  study's trials from the storage and writing the reservation;
- *lock wait*: the part of *reserve* spent waiting for the lock (other workers reserving);
- *after*: recording the trial's gCO2e and the unlocked check after the trial
  (``stop_if_spent``);
- *total*: everything the budget adds to a trial: the objective's own time excluded.

Reading the study grows with its trials, so the median total of the first and the last 50
trials (by number) is printed too. PostgreSQL is a throwaway server started from Debian's
binaries (``tests/postgres_server.py``), or ``--postgres-url``; without either its row says
why it was skipped.

Run from the repository root::

    python benchmarks/optuna_budget_check.py           # 4 workers, 200 trials per storage
    python benchmarks/optuna_budget_check.py --quick   # 40 trials
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import optuna

import lightning_carbon.optuna_carbon as optuna_carbon
from lightning_carbon.optuna_carbon import CarbonBudget, create_carbon_study

TRIAL_GCO2E = 1.0


def _storage(url: str) -> optuna.storages.RDBStorage:
    if url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def _worker(url: str, name: str, start, results, n_trials: int, budget: float, pause_s: float):
    """Join the study, optimise under the budget, send one row of timings per trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=_storage(url))
    budget_ = CarbonBudget(budget, trial_estimate_gco2e=TRIAL_GCO2E, poll_s=0.01)
    rows: dict[int, dict[str, float]] = {}
    lock_wait_s: list[float] = []

    real_lock = optuna_carbon.study_lock

    @contextmanager
    def timed_lock(storage, study_id) -> Iterator[None]:
        start_s = time.perf_counter()
        with real_lock(storage, study_id):
            lock_wait_s.append(time.perf_counter() - start_s)
            yield

    optuna_carbon.study_lock = timed_lock
    real_reserve = budget_.reserve

    def timed_reserve(trial):
        start_s = time.perf_counter()
        lock_wait_s.clear()
        try:
            return real_reserve(trial)
        finally:
            row = rows.setdefault(trial.number, {"reserve": 0.0, "lock": 0.0})
            row["reserve"] += time.perf_counter() - start_s
            row["lock"] += sum(lock_wait_s)

    budget_.reserve = timed_reserve

    def objective(trial):
        start_s = time.perf_counter()
        time.sleep(pause_s)
        rows[trial.number]["objective"] = time.perf_counter() - start_s
        return 0.5, TRIAL_GCO2E

    budgeted = budget_.wrap(objective)

    def timed_trial(trial):
        start_s = time.perf_counter()
        try:
            return budgeted(trial)
        finally:
            rows[trial.number]["wrapped"] = time.perf_counter() - start_s

    def timed_stop_check(study_, trial):
        start_s = time.perf_counter()
        budget_.stop_if_spent(study_, trial)
        rows[trial.number]["stop_check"] = time.perf_counter() - start_s

    start.wait(timeout=120)
    study.optimize(timed_trial, n_trials=n_trials, callbacks=[timed_stop_check])
    for number, row in rows.items():
        ran_s = row.get("objective", 0.0)
        after_s = row["wrapped"] - row["reserve"] - ran_s + row.get("stop_check", 0.0)
        results.put((number, row["reserve"], row["lock"], after_s, row["reserve"] + after_s))


def measure(url: str, workers: int, trials: int, pause_s: float) -> dict[str, object]:
    """Run the study on ``url``; per-trial timings in seconds and the study's spent gCO2e."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    create_carbon_study(name, _storage(url))
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    budget = trials * TRIAL_GCO2E
    processes = [
        context.Process(
            target=_worker,
            args=(url, name, start, results, trials // workers, budget, pause_s),
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    start.set()
    rows = [results.get(timeout=600) for _ in range(trials)]
    for process in processes:
        process.join(timeout=60)
    status = CarbonBudget(budget).status(optuna.load_study(study_name=name, storage=_storage(url)))
    rows.sort()
    return {"rows": rows, "spent": status.spent_gco2e, "budget": budget}


def _ms(values: Sequence[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{1e3 * statistics.median(ordered):6.1f} / {1e3 * p95:6.1f}"


def _table(results: dict[str, dict[str, object] | str], workers: int, trials: int) -> str:
    quarter = max(1, trials // 4)
    lines = [
        f"{'storage':<11} {'spent/budget':>13}  {'reserve':>15}  {'lock wait':>15}  "
        f"{'after':>15}  {'total':>15}  {'total, first/last ' + str(quarter):>24}",
        f"{'':<11} {'gCO2e':>13}  " + "  ".join(f"{'median / p95 ms':>15}" for _ in range(4)),
    ]
    for storage, result in results.items():
        if isinstance(result, str):
            lines.append(f"{storage:<11} skipped: {result}")
            continue
        rows = result["rows"]
        columns = list(zip(*rows, strict=True))
        first = [row[4] for row in rows[:quarter]]
        last = [row[4] for row in rows[-quarter:]]
        lines.append(
            f"{storage:<11} {result['spent']:>6.0f}/{result['budget']:<6.0f}  "
            + "  ".join(_ms(column) for column in columns[1:])
            + f"  {1e3 * statistics.median(first):>10.1f} / {1e3 * statistics.median(last):.1f} ms"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=200, help="in the whole study")
    parser.add_argument("--pause-s", type=float, default=0.05, help="each trial's own time")
    parser.add_argument("--postgres-url", help="an existing server (default: start one)")
    parser.add_argument("--quick", action="store_true", help="40 trials")
    args = parser.parse_args(argv)
    trials = 40 if args.quick else args.trials
    trials -= trials % args.workers

    results: dict[str, dict[str, object] | str] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(
            f"sqlite:///{Path(folder) / 'study.db'}", args.workers, trials, args.pause_s
        )
    if args.postgres_url:
        results["postgresql"] = measure(args.postgres_url, args.workers, trials, args.pause_s)
    else:
        try:
            from tests.postgres_server import PostgresServer, PostgresUnavailable
        except ImportError as error:
            results["postgresql"] = f"cannot import tests/postgres_server.py ({error})"
        else:
            try:
                with PostgresServer() as url:
                    results["postgresql"] = measure(url, args.workers, trials, args.pause_s)
            except PostgresUnavailable as reason:
                results["postgresql"] = str(reason)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Budget check per trial: {args.workers} workers, {trials} trials of "
        f"{1e3 * args.pause_s:.0f} ms, each reserving and emitting {TRIAL_GCO2E:g} gCO2e "
        f"(measured with time.perf_counter in each worker; {os.cpu_count()} CPUs, "
        f"load average {load})"
    )
    print(_table(results, args.workers, trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scripted Optuna trials: what a trial metered by ``carbon_callback`` would emit, without
training, so budgeted studies run in a fraction of a second per trial.

A trial's plan is (gCO2e per epoch, epochs). ``CarbonCallback(budget_gco2e=R,
on_budget="stop")`` always runs the first epoch and, after epoch k of equal cost e, stops when
(k + 1) e > R; ``tests/test_optuna_training.py`` checks that rule against the real callback.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from lightning_carbon.optuna_carbon import reservation_gco2e


def epochs_within(reservation_gco2e: float, epoch_gco2e: float, epochs: int) -> int:
    """The epochs a run of ``epochs`` epochs of ``epoch_gco2e`` each gets before the callback
    stops it for a budget of ``reservation_gco2e``."""
    done = 1
    while done < epochs and (done + 1) * epoch_gco2e <= reservation_gco2e:
        done += 1
    return done


class ScriptedTrials:
    """An objective: trial ``n`` follows ``plan[n % len(plan)]`` within its reservation, takes
    ``pause_s`` (so the trials of several workers overlap) and reports ``(0.5, gCO2e)``. Its
    span of wall time goes to the user attribute ``ran_s``.

    Example::

        optimize_with_budget(study, ScriptedTrials([(1.0, 10)]), n_trials=5, budget_gco2e=30)
    """

    def __init__(self, plan: Sequence[tuple[float, int]], pause_s: float = 0.0) -> None:
        self.plan = list(plan)
        self.pause_s = pause_s

    def __call__(self, trial) -> tuple[float, float]:
        start_s = time.time()
        epoch_gco2e, epochs = self.plan[trial.number % len(self.plan)]
        done = epochs_within(reservation_gco2e(trial), epoch_gco2e, epochs)
        time.sleep(self.pause_s)
        trial.set_user_attr("ran_s", [start_s, time.time()])
        return 0.5, done * epoch_gco2e


def peak_overlap(spans: Sequence[Sequence[float]]) -> int:
    """The most spans ``[start, end]`` open at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak

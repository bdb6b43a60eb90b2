"""Forecast of a whole run's energy, emissions and duration from the epochs seen so far.

Plain arithmetic, counted in **batches** (not optimizer steps: a GAN's two optimizers or
gradient accumulation would skew a step count). The cost per batch comes from the first
epoch while it is the only one; from two epochs on, the first is left out as warm-up
(data caching, compilation, cudnn autotuning can make it many times slower). The forecast is
what the run used so far (set-up included) plus the remaining batches at that rate.

Example::

    >>> warm_up, steady = EpochCost(10, 0.5, 50.0, 80.0), EpochCost(10, 0.1, 10.0, 8.0)
    >>> f = forecast([warm_up, steady], used=EpochCost(20, 0.7, 70.0, 90.0), total_batches=50)
    >>> round(f.energy_kWh, 6), round(f.gco2e, 6), round(f.duration_s, 6), f.method
    (1.0, 100.0, 114.0, 'rate of epochs 2-2 (first epoch left out as warm-up)')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EpochCost:
    """What a span of training cost: batches run, IT energy, emissions, wall time."""

    batches: int
    energy_kWh: float
    gco2e: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class Forecast:
    """The predicted totals of a run, and what they were predicted from."""

    energy_kWh: float
    gco2e: float
    duration_s: float
    done_batches: int
    total_batches: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def forecast(
    epochs: Sequence[EpochCost], *, used: EpochCost, total_batches: float
) -> Forecast | None:
    """Extrapolate from the per-batch rate of ``epochs``; ``None`` when it cannot be honest.

    ``epochs`` are the finished epochs' costs (each including the time between it and the
    previous epoch, such as checkpoint saves); ``used`` is the run's total so far, with
    ``used.batches`` the batches done. No forecast before a batch ran, or when the run's length
    is unknown (``total_batches`` infinite, e.g. ``max_epochs=-1`` without ``max_steps``).
    """
    if used.batches <= 0 or not math.isfinite(total_batches) or total_batches <= 0:
        return None
    steady = list(epochs[1:]) if len(epochs) >= 2 else list(epochs[:1])
    batches = sum(e.batches for e in steady)
    if batches <= 0:
        return None
    remaining = max(total_batches - used.batches, 0.0)
    scale = remaining / batches
    if len(epochs) >= 2:
        method = f"rate of epochs 2-{len(epochs)} (first epoch left out as warm-up)"
    else:
        method = "rate of the first epoch"
    return Forecast(
        energy_kWh=used.energy_kWh + scale * sum(e.energy_kWh for e in steady),
        gco2e=used.gco2e + scale * sum(e.gco2e for e in steady),
        duration_s=used.duration_s + scale * sum(e.duration_s for e in steady),
        done_batches=used.batches,
        total_batches=int(max(total_batches, used.batches)),
        method=method,
    )


def relative_error(predicted: float, actual: float) -> float | None:
    """(predicted - actual) / actual, or ``None`` when nothing was used.

    Example::

        >>> relative_error(110.0, 100.0)
        0.1
    """
    if actual <= 0:
        return None
    return (predicted - actual) / actual

"""Forecast of a whole run's energy, emissions and duration from the steps seen so far.

Plain arithmetic: the cost per optimizer step so far, times the steps the run will take
(Lightning's ``estimated_stepping_batches``, which covers ``max_epochs`` and ``max_steps``).

Example::

    >>> f = forecast(done_steps=100, total_steps=1000, energy_kWh=0.2, gco2e=50.0, elapsed_s=60.0)
    >>> round(f.energy_kWh, 6), round(f.gco2e, 6), round(f.duration_s, 6)
    (2.0, 500.0, 600.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Forecast:
    """The predicted totals of a run, and what they were predicted from."""

    energy_kWh: float
    gco2e: float
    duration_s: float
    done_steps: int
    total_steps: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def forecast(
    *, done_steps: int, total_steps: float, energy_kWh: float, gco2e: float, elapsed_s: float
) -> Forecast | None:
    """Extrapolate linearly per step; ``None`` when it cannot be done honestly.

    There is no forecast before the first step, or when the run's length is unknown
    (``total_steps`` infinite, e.g. ``max_epochs=-1`` without ``max_steps``).
    """
    if done_steps <= 0 or not math.isfinite(total_steps) or total_steps <= 0:
        return None
    scale = max(total_steps, done_steps) / done_steps
    return Forecast(
        energy_kWh=energy_kWh * scale,
        gco2e=gco2e * scale,
        duration_s=elapsed_s * scale,
        done_steps=done_steps,
        total_steps=int(max(total_steps, done_steps)),
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

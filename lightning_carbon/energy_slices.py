"""An epoch's energy cut into time slices, so live grid intensity can be energy-weighted.

Grid intensity changes every 5 to 60 minutes; an epoch can span several of those intervals
with different power draw in each (validation, data loading, a slow last batch). The slices
give ``(start_utc, end_utc, energy_J)`` samples that
:meth:`~lightning_carbon.intensity.live.LiveIntensity.over` weighs by energy. A cut is one
window end and begin on the meter, at most once per ``slice_s``, checked from the training
loop's batch hook, so the cost is a clock read per batch.

Example::

    slices = EnergySlices(meter, slice_s=60.0)
    slices.begin()
    for batch in loader:
        train_step(batch)
        slices.tick()
    samples = slices.end()   # [(start, end, joules), ...] covering the whole epoch
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime

from lightning_carbon.checks import positive_number
from lightning_carbon.intensity.series import EnergySample
from lightning_carbon.meter import EnergyMeter
from lightning_carbon.reading import EnergyReading

WINDOW = "intensity_slice"
"""The meter window the slices use."""
DEFAULT_SLICE_S = 60.0


class EnergySlices:
    """Energy samples of one span of work, each at most about ``slice_s`` seconds long."""

    def __init__(
        self,
        meter: EnergyMeter,
        slice_s: float = DEFAULT_SLICE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._meter = meter
        self._slice_s = positive_number("slice_s", slice_s)
        self._clock = clock
        self._cut_at_s = math.inf
        self._samples: list[EnergySample] = []

    def begin(self) -> None:
        """Start a new span (dropping any unfinished one)."""
        if self._meter.is_open(WINDOW):
            self._meter.end(WINDOW)
        self._samples = []
        self._open_slice()

    def tick(self) -> None:
        """Cut the current slice if it has lasted ``slice_s``; cheap otherwise."""
        if self._clock() >= self._cut_at_s:
            self._close_slice()
            self._open_slice()

    def end(self) -> list[EnergySample]:
        """Close the span; its samples, oldest first (empty if it was never begun)."""
        if self._meter.is_open(WINDOW):
            self._close_slice()
        self._cut_at_s = math.inf
        samples, self._samples = self._samples, []
        return samples

    def _open_slice(self) -> None:
        self._meter.begin(WINDOW)
        self._cut_at_s = self._clock() + self._slice_s

    def _close_slice(self) -> None:
        self._samples.append(_sample(self._meter.end(WINDOW)))


def _sample(reading: EnergyReading) -> EnergySample:
    return (
        datetime.fromisoformat(reading.start_utc),
        datetime.fromisoformat(reading.end_utc),
        reading.energy_J,
    )

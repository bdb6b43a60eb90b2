"""Carbon intensity as a function of time, and the arithmetic that lines it up with energy.

An :class:`IntensitySeries` is a set of non-overlapping :class:`IntensityPoint` intervals,
each with one intensity in g/kWh. :meth:`IntensitySeries.mean_over` weights the points by
the time they overlap a window; :meth:`IntensitySeries.energy_weighted` weights each energy
sample by its joules, assuming the energy of a sample is spread uniformly over its interval.
Time not covered by any point uses the fallback intensity when one is given, and the result
says how much of the weight that was (:attr:`WindowMean.covered_fraction`).

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> hour = timedelta(hours=1)
    >>> series = IntensitySeries([
    ...     IntensityPoint(t0, t0 + hour, 100.0, "grid", "direct"),
    ...     IntensityPoint(t0 + hour, t0 + 2 * hour, 300.0, "grid", "direct"),
    ... ])
    >>> series.mean_over(t0, t0 + 2 * hour).gco2_per_kWh
    200.0
    >>> series.energy_weighted([(t0, t0 + hour, 3.0), (t0 + hour, t0 + 2 * hour, 1.0)])
    WindowMean(gco2_per_kWh=150.0, covered_fraction=1.0, sources=('grid',), bases=('direct',))
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

EnergySample = tuple[datetime, datetime, float]
"""``(start, end, energy_J)``: energy used between two times, assumed uniform in time."""


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already.

    Example::

        >>> as_utc(datetime(2024, 1, 1, 12)).isoformat()
        '2024-01-01T12:00:00+00:00'
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class IntensityPoint:
    """One intensity over ``[start, end)``; times are normalised to aware UTC.

    Args:
        start: start of the interval (inclusive).
        end: end of the interval (exclusive), after ``start``.
        gco2_per_kWh: grams of CO2 (or CO2e, see ``basis``) per kWh, finite and >= 0.
        source: provider and dataset or endpoint the value comes from.
        basis: ``"direct"`` (operational) or ``"lifecycle"`` emissions.

    Example::

        >>> IntensityPoint(datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 5), 160.0,
        ...                "Energi Data Service CO2Emis (DK1)", "direct").end.isoformat()
        '2024-01-01T00:05:00+00:00'
    """

    start: datetime
    end: datetime
    gco2_per_kWh: float
    source: str
    basis: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.end <= self.start:
            raise ValueError(
                f"an intensity point must end after it starts, got {self.start.isoformat()} "
                f"to {self.end.isoformat()}"
            )
        value = float(self.gco2_per_kWh)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"intensity must be a finite number >= 0 g/kWh, got {value!r}")
        object.__setattr__(self, "gco2_per_kWh", value)


@dataclass(frozen=True)
class WindowMean:
    """A weighted mean intensity and how much of it live points covered.

    Args:
        gco2_per_kWh: the mean intensity.
        covered_fraction: the share of the weight (time, or energy for
            :meth:`IntensitySeries.energy_weighted`) that points covered. The rest used the
            fallback when one was given, and was left out of the mean otherwise.
        sources: the sources of the points used, in time order, without repeats.
        bases: their bases, in the same way.
    """

    gco2_per_kWh: float
    covered_fraction: float
    sources: tuple[str, ...]
    bases: tuple[str, ...]


class IntensitySeries:
    """Non-overlapping intensity points, sorted by start.

    Example::

        >>> IntensitySeries([]).points
        ()
    """

    def __init__(self, points: Iterable[IntensityPoint]) -> None:
        ordered = sorted(points, key=lambda point: point.start)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after.start < before.end:
                raise ValueError(
                    f"intensity points overlap: {before.start.isoformat()} to "
                    f"{before.end.isoformat()} and {after.start.isoformat()} to "
                    f"{after.end.isoformat()}"
                )
        self.points: tuple[IntensityPoint, ...] = tuple(ordered)
        self._ends = [point.end for point in ordered]

    def __len__(self) -> int:
        return len(self.points)

    @property
    def start(self) -> datetime:
        """Start of the first point."""
        return self._nonempty()[0].start

    @property
    def end(self) -> datetime:
        """End of the last point."""
        return self._nonempty()[-1].end

    def mean_over(
        self, start: datetime, end: datetime, fallback_gco2_per_kWh: float | None = None
    ) -> WindowMean:
        """Time-weighted mean intensity over ``[start, end)``.

        Time no point covers counts at ``fallback_gco2_per_kWh``; without a fallback the mean
        is over the covered time only, and a window with none raises ``ValueError``. A
        zero-length window gives the value in force at that instant.

        Example::

            >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
            >>> series = IntensitySeries(
            ...     [IntensityPoint(t0, t0 + timedelta(hours=1), 100.0, "grid", "direct")])
            >>> mean = series.mean_over(t0, t0 + timedelta(hours=2), fallback_gco2_per_kWh=300.0)
            >>> mean.gco2_per_kWh, mean.covered_fraction
            (200.0, 0.5)
        """
        start, end = as_utc(start), as_utc(end)
        if end < start:
            raise ValueError(
                f"window ends before it starts: {start.isoformat()} to {end.isoformat()}"
            )
        if end == start:
            return self._at(start, fallback_gco2_per_kWh)
        used = self._overlapping(start, end)
        covered = sum((_overlap(point, start, end) for point in used), timedelta())
        weighted = sum(
            point.gco2_per_kWh * _overlap(point, start, end).total_seconds() for point in used
        )
        total_s = (end - start).total_seconds()
        covered_s = covered.total_seconds()
        if fallback_gco2_per_kWh is None:
            if not used:
                raise ValueError(
                    f"no intensity data between {start.isoformat()} and {end.isoformat()}"
                )
            mean = weighted / covered_s
        else:
            mean = (weighted + (total_s - covered_s) * fallback_gco2_per_kWh) / total_s
        return WindowMean(mean, covered_s / total_s, *_labels(used))

    def energy_weighted(
        self, samples: Sequence[EnergySample], fallback_gco2_per_kWh: float | None = None
    ) -> WindowMean:
        """Energy-weighted mean intensity: ``sum(E_i * I_i) / sum(E_i)``.

        ``I_i`` is the time-weighted mean over sample ``i``'s interval (see
        :meth:`mean_over`, which also handles the fallback). Raises ``ValueError`` for a
        negative energy or samples that hold no energy at all.

        Example::

            >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
            >>> series = IntensitySeries(
            ...     [IntensityPoint(t0, t0 + timedelta(hours=1), 100.0, "grid", "direct")])
            >>> later = t0 + timedelta(hours=1)
            >>> series.energy_weighted([(t0, later, 1.0), (later, later + timedelta(hours=1), 3.0)],
            ...                        fallback_gco2_per_kWh=500.0).gco2_per_kWh
            400.0
        """
        for sample in samples:
            if not (math.isfinite(sample[2]) and sample[2] >= 0):
                raise ValueError(f"energy samples need a finite energy >= 0 J, got {sample!r}")
        total_J = sum(sample[2] for sample in samples)
        if total_J <= 0:
            raise ValueError(f"energy samples hold no energy (sum {total_J!r} J)")
        weighted = 0.0
        covered_J = 0.0
        sources: list[str] = []
        bases: list[str] = []
        for start, end, energy_J in samples:
            if energy_J == 0:
                continue
            window = self.mean_over(start, end, fallback_gco2_per_kWh)
            weighted += energy_J * window.gco2_per_kWh
            covered_J += energy_J * window.covered_fraction
            sources.extend(window.sources)
            bases.extend(window.bases)
        return WindowMean(weighted / total_J, covered_J / total_J, _unique(sources), _unique(bases))

    def _nonempty(self) -> tuple[IntensityPoint, ...]:
        if not self.points:
            raise ValueError("the intensity series has no points")
        return self.points

    def _overlapping(self, start: datetime, end: datetime) -> list[IntensityPoint]:
        first = bisect.bisect_right(self._ends, start)
        used = []
        for point in self.points[first:]:
            if point.start >= end:
                break
            used.append(point)
        return used

    def _at(self, moment: datetime, fallback_gco2_per_kWh: float | None) -> WindowMean:
        index = bisect.bisect_right(self._ends, moment)
        if index < len(self.points) and self.points[index].start <= moment:
            point = self.points[index]
            return WindowMean(point.gco2_per_kWh, 1.0, (point.source,), (point.basis,))
        if fallback_gco2_per_kWh is None:
            raise ValueError(f"no intensity data at {moment.isoformat()}")
        return WindowMean(fallback_gco2_per_kWh, 0.0, (), ())


def clip_samples(
    samples: Sequence[EnergySample], start: datetime, end: datetime
) -> list[EnergySample]:
    """The parts of energy samples inside ``[start, end)``, energy scaled by the time kept.

    A zero-length sample is kept whole when its instant lies in the window.

    Example::

        >>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> clip_samples([(t0, t0 + timedelta(minutes=20), 1000.0)],
        ...              t0 + timedelta(minutes=5), t0 + timedelta(minutes=15))[0][2]
        500.0
    """
    start, end = as_utc(start), as_utc(end)
    clipped = []
    for sample_start, sample_end, energy_J in samples:
        sample_start, sample_end = as_utc(sample_start), as_utc(sample_end)
        if sample_end == sample_start:
            if start <= sample_start < end:
                clipped.append((sample_start, sample_end, energy_J))
            continue
        kept_start, kept_end = max(start, sample_start), min(end, sample_end)
        if kept_end > kept_start:
            share = (kept_end - kept_start) / (sample_end - sample_start)
            clipped.append((kept_start, kept_end, energy_J * share))
    return clipped


def _overlap(point: IntensityPoint, start: datetime, end: datetime) -> timedelta:
    return min(point.end, end) - max(point.start, start)


def _labels(points: Sequence[IntensityPoint]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _unique(p.source for p in points), _unique(p.basis for p in points)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))

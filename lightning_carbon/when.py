"""When to start a run: the window with the lowest forecast grid carbon intensity.

:func:`recommend_start` slides a window of the run's duration over a provider's forecast
(Energi Data Service ``CO2EmisProg`` for DK1/DK2, the GB Carbon Intensity API, Electricity
Maps where the plan has forecasts) and compares its best start with starting now. The window
must fit inside the forecast; a zone without one raises :class:`NoForecast`.

Example::

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)

    print(recommend_start("DK1", "6h").sentence())
    # Start DK1 at 2024-06-01 14:00 UTC (in 2 h), end at 2024-06-01 20:00 UTC: expected
    # 120 g/kWh against 160 if started now, 25% (40 g/kWh) less.
    # Forecast: Energi Data Service CO2EmisProg (DK1); basis: direct.

    $ lightning-carbon when --zone DK1 --duration 6h [--within 24h] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from lightning_carbon.intensity.live import (
    MAX_TIMEOUT_S,
    LiveIntensityError,
    NoForecast,
    provider_for_zone,
)
from lightning_carbon.intensity.series import IntensitySeries, WindowMean, as_utc, utc_now

FORECAST_ZONES = (
    "DK1 and DK2 (Energi Data Service), GB and GB-<outward postcode> (GB Carbon Intensity "
    "API), and Electricity Maps zones whose plan includes forecasts (token in "
    "$ELECTRICITYMAPS_TOKEN)"
)
"""The zones that have forecasts, for error messages."""

_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?|\.\d+)h)?(?:(\d+(?:\.\d*)?|\.\d+)m)?")
_TIE_DIGITS = 9  # means equal to 1e-9 g/kWh are a tie; the earlier start wins


@dataclass(frozen=True)
class StartRecommendation:
    """The best start for a run of ``duration_s`` in a zone, against starting now.

    Intensities are time-weighted means of the forecast over the run, in g/kWh (gCO2 or
    gCO2e, see ``basis``); the saving is ``now - expected``, also as a fraction of ``now``.
    Times are aware UTC; ``now_utc`` is the start of the "now" run (the forecast's first
    moment if it starts later than the clock).
    """

    zone: str
    duration_s: float
    now_utc: datetime
    start_utc: datetime
    end_utc: datetime
    expected_gco2_per_kWh: float
    now_gco2_per_kWh: float
    saving_gco2_per_kWh: float
    saving_fraction: float
    forecast_until_utc: datetime
    source: str
    basis: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: times as ISO-8601 strings."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }

    def sentence(self) -> str:
        """The answer in two lines of words."""
        duration = _words(timedelta(seconds=self.duration_s))
        ahead = _words(self.forecast_until_utc - self.now_utc)
        expected = f"{self.expected_gco2_per_kWh:.0f} g/kWh"
        if self.start_utc == self.now_utc:
            answer = (
                f"Start now: no {duration} window in the next {ahead} of the {self.zone} "
                f"forecast is cleaner (expected {expected})."
            )
        else:
            wait = _words(self.start_utc - self.now_utc)
            answer = (
                f"Start {self.zone} at {_clock(self.start_utc)} (in {wait}), end at "
                f"{_clock(self.end_utc)}: expected {expected} against "
                f"{self.now_gco2_per_kWh:.0f} if started now, {self.saving_fraction:.0%} "
                f"({self.saving_gco2_per_kWh:.0f} g/kWh) less."
            )
        return f"{answer}\nForecast: {self.source}; basis: {self.basis}."


def parse_duration(text: str) -> timedelta:
    """A run duration such as ``"6h"``, ``"90m"``, ``"1h30m"`` or ``"2.5h"``.

    Example::

        >>> parse_duration("2.5h").total_seconds()
        9000.0
    """
    compact = "".join(str(text).lower().split())
    match = _DURATION.fullmatch(compact)
    if match is None or not any(match.groups()):
        raise ValueError(
            f"a duration is hours and/or minutes such as '6h', '90m', '1h30m' or '2.5h', "
            f"got {text!r}"
        )
    hours, minutes = (float(group or 0) for group in match.groups())
    duration = timedelta(hours=hours, minutes=minutes)
    if duration <= timedelta(0):
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    return duration


def recommend_start(
    zone: str,
    duration: str | timedelta,
    within: str | timedelta | None = None,
    base_url: str | None = None,
    timeout_s: float = MAX_TIMEOUT_S,
    now: Callable[[], datetime] = utc_now,
) -> StartRecommendation:
    """The start, within the forecast, with the lowest mean forecast intensity over the run.

    Args:
        zone: a live zone (see :func:`~lightning_carbon.intensity.live.provider_for_zone`).
        duration: how long the run takes (``"6h"`` or a ``timedelta``).
        within: the run must end this soon from now; default the provider's horizon.
        base_url: the API's address instead of the default (``$LIGHTNING_CARBON_LIVE_BASE_URL``).
        timeout_s: per-request timeout, at most 5 s.
        now: clock giving the current UTC time.

    Raises :class:`NoForecast` (a ``ValueError``) when the zone has no forecast or the run
    does not fit in it, ``LiveIntensityError`` when the provider fails.

    Example::

        best = recommend_start("GB", "3h")
        best.start_utc, best.expected_gco2_per_kWh, best.saving_fraction
    """
    run = _as_duration(duration, "duration")
    try:
        provider = provider_for_zone(zone, base_url, timeout_s=timeout_s, now=now)
    except ValueError as error:
        raise NoForecast(f"no forecast for zone {zone!r}: {error}; {_zones_hint()}") from error
    ahead = _as_duration(within, "within") if within is not None else None
    look_ahead_h = provider.forecast_horizon_h if ahead is None else ahead / timedelta(hours=1)
    if run / timedelta(hours=1) > look_ahead_h:
        raise NoForecast(
            f"a {_words(run)} run does not fit in the {look_ahead_h:g} h searched ahead "
            f"for zone {provider.zone!r}"
        )
    try:
        series = provider.forecast(look_ahead_h)
    except NoForecast as error:
        raise NoForecast(f"{error}; {_zones_hint()}") from error
    clock_now = as_utc(now())
    start_now = max(clock_now, series.start)
    until = series.end if ahead is None else min(series.end, clock_now + ahead)
    if start_now + run > until:
        raise NoForecast(
            f"the {provider.zone} forecast reaches {_words(until - start_now)} ahead (to "
            f"{_clock(until)}): too short for a {_words(run)} run"
        )
    best_start, best = _best_window(series, start_now, until, run)
    now_mean = series.mean_over(start_now, start_now + run).gco2_per_kWh
    saving = now_mean - best.gco2_per_kWh
    return StartRecommendation(
        zone=provider.zone,
        duration_s=run.total_seconds(),
        now_utc=start_now,
        start_utc=best_start,
        end_utc=best_start + run,
        expected_gco2_per_kWh=best.gco2_per_kWh,
        now_gco2_per_kWh=now_mean,
        saving_gco2_per_kWh=saving,
        saving_fraction=saving / now_mean if now_mean > 0 else 0.0,
        forecast_until_utc=until,
        source="; ".join(best.sources),
        basis=best.bases[0] if len(best.bases) == 1 else "mixed",
    )


def _best_window(
    series: IntensitySeries, first: datetime, until: datetime, run: timedelta
) -> tuple[datetime, WindowMean]:
    """The earliest start in ``[first, until - run]`` with the lowest mean over ``run``.

    The mean is piecewise linear in the start, so its minimum lies at ``first``, at
    ``until - run``, or where the window's start or end meets a point boundary: those are the
    candidates. A window with a gap in the forecast is not one.
    """
    last = until - run
    edges = {p.start for p in series.points} | {p.end for p in series.points}
    starts = {first, last} | {t for t in edges if first < t <= last}
    starts |= {t - run for t in edges if first < t - run <= last}
    best: tuple[float, datetime, WindowMean] | None = None
    for start in sorted(starts):
        # any fallback: it only counts in windows with a gap, which are skipped
        mean = series.mean_over(start, start + run, fallback_gco2_per_kWh=0.0)
        key = (round(mean.gco2_per_kWh, _TIE_DIGITS), start, mean)
        if mean.covered_fraction == 1.0 and (best is None or key[:2] < best[:2]):
            best = key
    if best is None:
        raise NoForecast(f"every {_words(run)} window in the forecast has a gap")
    return best[1], best[2]


def _as_duration(value: str | timedelta, name: str) -> timedelta:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError(f"{name} must be longer than zero, got {value!r}")
        return value
    return parse_duration(value)


def _zones_hint() -> str:
    return f"forecasts exist for {FORECAST_ZONES}"


def _words(span: timedelta) -> str:
    """``'6 h'``, ``'1 h 30 min'``, ``'58 min'``: to the minute."""
    hours, minutes = divmod(round(span / timedelta(minutes=1)), 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration_arg(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _when(args: argparse.Namespace) -> int:
    try:
        best = recommend_start(args.zone, args.duration, args.within, args.base_url)
    except LiveIntensityError as error:
        print(
            f"lightning-carbon when: error: could not get the {args.zone} forecast ({error})",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(best.to_dict(), indent=2) if args.json else best.sentence())
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``when``."""
    parser = subparsers.add_parser(
        "when", help="when to start a run for the lowest forecast grid carbon intensity"
    )
    parser.add_argument(
        "--zone",
        required=True,
        help="DK1, DK2, GB, GB-<outward postcode> or an Electricity "
        "Maps zone (token in $ELECTRICITYMAPS_TOKEN)",
    )
    parser.add_argument(
        "--duration",
        required=True,
        type=_duration_arg,
        help="how long the run takes: 6h, 90m, 1h30m, 2.5h",
    )
    parser.add_argument(
        "--within",
        type=_duration_arg,
        default=None,
        help="the run must end this soon (default: as far as the forecast reaches)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="the provider's API address (default: $LIGHTNING_CARBON_LIVE_BASE_URL, else the "
        "provider's own)",
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.set_defaults(func=_when)

"""Live grid carbon intensity from public APIs (opt-in), with a table fallback.

Three providers share one interface, :class:`IntensityProvider`: ``latest()``,
``history(start, end)`` and ``forecast(hours)``. Every value keeps its source (provider and
dataset or endpoint), its UTC time and its basis:

- :class:`EnergiDataService` (Energinet, DK1/DK2, no key): realised ``CO2Emis`` and forecast
  ``CO2EmisProg``, 5-minute values of CO2 only -> basis ``"direct"``.
- :class:`CarbonIntensityGB` (NESO, Great Britain, no key): national or regional (postcode
  or region id), 30-minute values of direct CO2 -> ``"direct"``.
- :class:`ElectricityMaps` (v3, token in an environment variable): ``"lifecycle"`` unless
  the response (or ``emission_factor_type``) says ``"direct"``.

Requests use the standard library only, time out after at most 5 s, and successful answers
are cached per provider for ``cache_ttl_s``. Failures raise :class:`LiveIntensityError` with
a ``kind`` (``"timeout"``, ``"HTTP 401"``, ``"malformed response"``...).
:class:`LiveIntensity` fetches on its own daemon thread and never raises into training: when
the provider fails it keeps the shipped table value and says so once per kind of failure.

Example::

    >>> from lightning_carbon.intensity.table import country_intensity
    >>> live = LiveIntensity(provider_for_zone("DK1"), fallback=country_intensity("DK"))
    >>> live.current() == country_intensity("DK")   # nothing fetched yet: the table value
    True

    Then ``live.start()`` fetches every 5 min on a background thread, ``live.current()`` and
    ``live.over(start_utc, end_utc)`` answer at once, and ``live.close()`` stops it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from lightning_carbon.intensity.series import (
    EnergySample,
    IntensityPoint,
    IntensitySeries,
    as_utc,
    clip_samples,
    utc_now,
)
from lightning_carbon.intensity.table import CarbonIntensity

MAX_TIMEOUT_S = 5.0
BASE_URL_ENV = "LIGHTNING_CARBON_LIVE_BASE_URL"
"""Environment variable that replaces the provider's base URL (a mirror, a proxy, a test stub)."""
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_FIVE_MIN = timedelta(minutes=5)
_OUTWARD_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")
_EM_GRANULARITY = {
    "5_minutes": timedelta(minutes=5),
    "15_minutes": timedelta(minutes=15),
    "hourly": timedelta(hours=1),
}


class LiveIntensityError(RuntimeError):
    """A live provider gave no usable value; ``kind`` names the failure for warnings.

    Example::

        >>> str(LiveIntensityError("HTTP 429", "too many requests"))
        'HTTP 429: too many requests'
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class NoForecast(ValueError):
    """The provider has no forecast for the zone (or not with this token)."""


class LiveIntensityWarning(UserWarning):
    """Live intensity failed and the table value is used instead."""


class IntensityProvider:
    """Base of the live providers: validated settings, cached JSON over HTTP, ``latest()``.

    Subclasses set ``zone``, ``region``, ``forecast_horizon_h`` and implement
    :meth:`latest_point`, :meth:`history` and :meth:`forecast`.

    Args:
        base_url: ``http://`` or ``https://`` root of the API.
        timeout_s: per-request timeout, in ``(0, 5]`` seconds.
        cache_ttl_s: how long a successful answer is reused, per URL.
        now: clock giving the current UTC time (forecast and history windows).
        clock: monotonic clock in seconds (cache expiry).
    """

    zone: str
    region: str
    forecast_horizon_h: float

    def __init__(
        self,
        base_url: str,
        timeout_s: float = MAX_TIMEOUT_S,
        cache_ttl_s: float = 300.0,
        now: Callable[[], datetime] = utc_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s must be in (0, {MAX_TIMEOUT_S:g}] s, got {timeout_s!r}")
        if not cache_ttl_s >= 0:
            raise ValueError(f"cache_ttl_s must be >= 0 s, got {cache_ttl_s!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.cache_ttl_s = float(cache_ttl_s)
        self._now = now
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (``ddp_spawn`` sends callbacks to new processes): without the cache."""
        state = dict(self.__dict__)
        del state["_cache_lock"]
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()

    def latest(self) -> CarbonIntensity:
        """The most recent value, as a live :class:`CarbonIntensity`."""
        point = self.latest_point()
        return CarbonIntensity(
            gco2_per_kWh=point.gco2_per_kWh,
            region=self.region,
            code=self.zone,
            year=None,
            source=point.source,
            basis=point.basis,
            time=point.start.isoformat(),
            is_live=True,
        )

    def latest_point(self) -> IntensityPoint:
        """The most recent value with the interval it stands for."""
        raise NotImplementedError

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Past values overlapping ``[start, end)`` (UTC)."""
        raise NotImplementedError

    def forecast(self, hours: float) -> IntensitySeries:
        """Forecast values from the current period for ``hours``; :class:`NoForecast` if none."""
        raise NotImplementedError

    def _forecast_window(self, hours: float) -> tuple[datetime, datetime]:
        if not 0 < hours <= self.forecast_horizon_h:
            raise ValueError(
                f"{self.zone} forecasts reach at most {self.forecast_horizon_h:g} h ahead, "
                f"asked for {hours!r} h"
            )
        now = as_utc(self._now())
        return now, now + timedelta(hours=hours)

    def _forecast_series(self, points: list[IntensityPoint], what: str) -> IntensitySeries:
        if not points:
            raise NoForecast(f"{what} gave no forecast values for zone {self.zone!r}")
        return IntensitySeries(points)

    def _get_json(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
        url = self.base_url + path + ("?" + _encode(query) if query else "")
        now_s = self._clock()
        with self._cache_lock:
            cached = self._cache.get(url)
            if cached is not None and now_s < cached[0]:
                return cached[1]
        payload = _fetch_json(url, headers, self.timeout_s)
        with self._cache_lock:
            self._cache = {key: hit for key, hit in self._cache.items() if now_s < hit[0]}
            self._cache[url] = (now_s + self.cache_ttl_s, payload)
        return payload


class EnergiDataService(IntensityProvider):
    """Energi Data Service (Energinet): CO2 of electricity consumed in Denmark, 5-minute values.

    The API reads ``start``/``end`` in Danish local time, so UTC times are converted to
    Europe/Copenhagen before they are sent; ``Minutes5UTC`` (no offset) is read as UTC. Both
    ``DK1`` and ``DK2`` currently carry the same, nation-wide value (Energinet says so).
    The values are CO2 only (not CO2e): basis ``"direct"``.

    Example::

        >>> EnergiDataService("dk2").zone
        'DK2'
    """

    forecast_horizon_h = 48.0

    def __init__(
        self, zone: str = "DK1", base_url: str = "https://api.energidataservice.dk", **kwargs: Any
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.zone = str(zone).strip().upper()
        if self.zone not in ("DK1", "DK2"):
            raise ValueError(f"Energi Data Service zones are 'DK1' and 'DK2', got {zone!r}")
        self.region = f"Denmark ({self.zone})"

    def latest_point(self) -> IntensityPoint:
        # The last hour, newest first: the newest rows may still be null.
        records = self._records("CO2Emis", {"limit": "12", "sort": "Minutes5UTC desc"})
        if not records:
            raise LiveIntensityError("no data", f"CO2Emis has no records for {self.zone}")
        return records[0]

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = _check_window(start, end)
        return IntensitySeries(self._window("CO2Emis", start, end))

    def forecast(self, hours: float) -> IntensitySeries:
        now, end = self._forecast_window(hours)
        return self._forecast_series(self._window("CO2EmisProg", now, end), "CO2EmisProg")

    def _window(self, dataset: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        # Rows are keyed by their start: ask from the row that holds ``start``.
        first = _floor(start, _FIVE_MIN)
        # One row per 5 min, plus an hour of slack for the repeated local hour in October.
        rows = math.ceil((end - first) / _FIVE_MIN) + 13
        query = {
            "start": _danish_local(first),
            "end": _danish_local(_ceil(end, timedelta(minutes=1))),
            "limit": str(rows),
            "sort": "Minutes5UTC",
        }
        return [p for p in self._records(dataset, query) if p.end > start and p.start < end]

    def _records(self, dataset: str, query: dict[str, str]) -> list[IntensityPoint]:
        query = {**query, "filter": json.dumps({"PriceArea": [self.zone]})}
        payload = self._get_json(f"/dataset/{dataset}", query, {})
        source = f"Energi Data Service {dataset} ({self.zone})"
        with _reading(source):
            points = []
            for record in payload["records"]:
                value = _intensity(record["CO2Emission"])
                if value is not None:
                    start = _parse_utc(record["Minutes5UTC"])
                    points.append(IntensityPoint(start, start + _FIVE_MIN, value, source, "direct"))
            if payload["records"] and not points:
                raise LiveIntensityError("no data", f"{source}: every CO2Emission is null")
            return points


class CarbonIntensityGB(IntensityProvider):
    """GB Carbon Intensity API (NESO): national, or regional by outward postcode or region id.

    30-minute periods of direct CO2 from generation, imports and losses: basis ``"direct"``.
    The national value uses ``actual`` when published, else ``forecast``; regional periods
    only have ``forecast``. The API answers regional queries with ``data`` as a list or as an
    object; both are read.

    Example::

        >>> CarbonIntensityGB(postcode="rg10").zone
        'GB-RG10'
    """

    forecast_horizon_h = 48.0

    def __init__(
        self,
        postcode: str | None = None,
        regionid: int | None = None,
        base_url: str = "https://api.carbonintensity.org.uk",
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        if postcode is not None and regionid is not None:
            raise ValueError(
                f"give a postcode or a regionid, not both (got {postcode!r} and {regionid!r})"
            )
        self._where = ""
        self.zone, self.region = "GB", "Great Britain"
        if postcode is not None:
            outward = str(postcode).strip().upper().split(" ")[0]
            if not _OUTWARD_POSTCODE.match(outward):
                raise ValueError(
                    f"expected an outward GB postcode such as 'RG10', got {postcode!r}"
                )
            self._where = f"/postcode/{outward}"
            self.zone, self.region = f"GB-{outward}", f"Great Britain (postcode {outward})"
        elif regionid is not None:
            if isinstance(regionid, bool) or regionid not in range(1, 18):
                raise ValueError(f"GB region ids are 1 to 17, got {regionid!r}")
            self._where = f"/regionid/{regionid}"
            self.zone, self.region = f"GB-region-{regionid}", f"Great Britain (region {regionid})"

    def latest_point(self) -> IntensityPoint:
        path = f"/regional{self._where}" if self._where else "/intensity"
        points = self._periods(path, path)
        if not points:
            raise LiveIntensityError("no data", f"Carbon Intensity API {path} has no value")
        return points[-1]

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = _check_window(start, end)
        span = f"{_gb_time(start)}/{_gb_time(_ceil(end, timedelta(minutes=1)))}"
        label = self._intensity_path("{from}/{to}")
        return IntensitySeries(self._periods(self._intensity_path(span), label, (start, end)))

    def forecast(self, hours: float) -> IntensitySeries:
        now, end = self._forecast_window(hours)
        ahead = "fw24h" if hours <= 24 else "fw48h"
        path = self._intensity_path(f"{_gb_time(now)}/{ahead}")
        label = self._intensity_path(f"{{from}}/{ahead}")
        points = self._periods(path, label, (now, end))
        return self._forecast_series(points, f"Carbon Intensity API {label}")

    def _intensity_path(self, span: str) -> str:
        return f"/regional/intensity/{span}{self._where}" if self._where else f"/intensity/{span}"

    def _periods(
        self, path: str, label: str, window: tuple[datetime, datetime] | None = None
    ) -> list[IntensityPoint]:
        """The periods at ``path`` (overlapping ``window`` if given); ``label`` names it."""
        payload = self._get_json(path, {}, {"Accept": "application/json"})
        source = f"Carbon Intensity API (NESO) {label}"
        with _reading(source):
            points = []
            for period in _gb_periods(payload["data"]):
                value = _intensity(period["intensity"].get("actual"))
                kind = "actual"
                if value is None:
                    value, kind = _intensity(period["intensity"]["forecast"]), "forecast"
                if value is not None:
                    points.append(
                        IntensityPoint(
                            _parse_utc(period["from"]),
                            _parse_utc(period["to"]),
                            value,
                            f"{source} {kind}",
                            "direct",
                        )
                    )
        if window is not None:
            points = [p for p in points if p.end > window[0] and p.start < window[1]]
        return sorted(points, key=lambda point: point.start)


class ElectricityMaps(IntensityProvider):
    """Electricity Maps API v3 for any of its zones; the token comes from an environment variable.

    Basis ``"lifecycle"`` (the API's default) unless the response's ``emissionFactorType`` or
    ``emission_factor_type="direct"`` says otherwise; estimated values say so in ``source``.
    ``history`` covers the last 24 h (free tier); ``forecast`` needs a plan that includes it,
    else :class:`NoForecast`.

    Example::

        $ export ELECTRICITYMAPS_TOKEN=...    # then, in Python:
        ElectricityMaps("DE").latest().gco2_per_kWh
    """

    forecast_horizon_h = 72.0

    def __init__(
        self,
        zone: str,
        token_env: str = "ELECTRICITYMAPS_TOKEN",
        base_url: str = "https://api.electricitymaps.com/v3",
        emission_factor_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.zone = self.region = str(zone).strip()
        if not self.zone:
            raise ValueError(f"an Electricity Maps zone key is needed (e.g. 'DE'), got {zone!r}")
        if emission_factor_type not in (None, "lifecycle", "direct"):
            raise ValueError(
                "emission_factor_type must be 'lifecycle' or 'direct', "
                f"got {emission_factor_type!r}"
            )
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise ValueError(
                f"live intensity for zone {self.zone!r} comes from Electricity Maps, which needs "
                f"an API token in the environment variable {token_env}"
            )
        self.token_env = token_env
        self.emission_factor_type = emission_factor_type
        self._token = token

    def latest_point(self) -> IntensityPoint:
        payload = self._get("latest")
        with _reading(self._source("latest")):
            points = self._points([payload], payload, "latest")
        if not points:
            raise LiveIntensityError("no data", f"Electricity Maps has no value for {self.zone}")
        return points[0]

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = _check_window(start, end)
        earliest = as_utc(self._now()) - timedelta(hours=24)
        if start < earliest:
            raise ValueError(
                f"Electricity Maps history covers the last 24 h only (from "
                f"{earliest.isoformat()}), asked from {start.isoformat()}"
            )
        payload = self._get("history")
        with _reading(self._source("history")):
            points = self._points(payload["history"], payload, "history")
        return IntensitySeries(p for p in points if p.end > start and p.start < end)

    def forecast(self, hours: float) -> IntensitySeries:
        now, end = self._forecast_window(hours)
        try:
            payload = self._get("forecast")
        except LiveIntensityError as error:
            if error.kind in ("HTTP 403", "HTTP 404"):
                raise NoForecast(
                    f"Electricity Maps gives no forecast for zone {self.zone!r} with the token "
                    f"in {self.token_env} ({error})"
                ) from error
            raise
        with _reading(self._source("forecast")):
            points = self._points(payload["forecast"], payload, "forecast")
        window = [p for p in points if p.end > now and p.start < end]
        return self._forecast_series(window, self._source("forecast"))

    def _get(self, endpoint: str) -> Any:
        query = {"zone": self.zone}
        if self.emission_factor_type:
            query["emissionFactorType"] = self.emission_factor_type
        headers = {"auth-token": self._token, "Accept": "application/json"}
        try:
            return self._get_json(f"/carbon-intensity/{endpoint}", query, headers)
        except LiveIntensityError as error:
            if error.kind == "HTTP 401":
                raise LiveIntensityError(
                    error.kind, f"{error.detail}; check the token in {self.token_env}"
                ) from error
            raise

    def _source(self, endpoint: str) -> str:
        return f"Electricity Maps carbon-intensity/{endpoint} ({self.zone})"

    def _points(
        self, entries: Sequence[dict[str, Any]], payload: dict[str, Any], endpoint: str
    ) -> list[IntensityPoint]:
        step = _EM_GRANULARITY.get(payload.get("temporalGranularity"), timedelta(hours=1))
        default_basis = payload.get("emissionFactorType") or self.emission_factor_type
        points = []
        for entry in entries:
            value = _intensity(entry["carbonIntensity"])
            if value is None:
                continue
            source = self._source(endpoint)
            if entry.get("isEstimated"):
                method = entry.get("estimationMethod")
                source += f", estimated ({method})" if method else ", estimated"
            basis = entry.get("emissionFactorType") or default_basis or "lifecycle"
            start = _parse_utc(entry["datetime"])
            points.append(IntensityPoint(start, start + step, value, source, basis))
        return points


def provider_for_zone(zone: str, base_url: str | None = None, **kwargs: Any) -> IntensityProvider:
    """The live provider for a zone.

    ``"DK1"``/``"DK2"``: Energi Data Service; ``"GB"`` or ``"GB-<outward postcode>"``
    (``"GB-RG10"``): the GB Carbon Intensity API; any other zone key (``"DE"``, ``"DK-DK1"``,
    ``"GB-NIR"``...): Electricity Maps, which needs a token (``ValueError`` without one).
    ``base_url`` (else ``$LIGHTNING_CARBON_LIVE_BASE_URL``, if set) replaces the provider's
    default; other keyword arguments (``timeout_s``, ``cache_ttl_s``, ``now``, ``clock``) go
    to the provider.

    Example::

        >>> type(provider_for_zone("GB-RG10")).__name__
        'CarbonIntensityGB'
    """
    if not isinstance(zone, str) or not zone.strip():
        raise ValueError(f"a live zone is a zone key such as 'DK1', 'GB' or 'DE', got {zone!r}")
    key = zone.strip().upper()
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    if base_url is not None:
        kwargs["base_url"] = base_url
    if key in ("DK1", "DK2"):
        return EnergiDataService(key, **kwargs)
    if key == "GB":
        return CarbonIntensityGB(**kwargs)
    if key.startswith("GB-") and _OUTWARD_POSTCODE.match(key[3:]):
        return CarbonIntensityGB(postcode=key[3:], **kwargs)
    return ElectricityMaps(zone.strip(), **kwargs)


class LiveIntensity:
    """Live intensity fetched on a daemon thread, with the table value as fallback.

    Every ``refresh_s`` the thread asks the provider for its latest value. A value stays in
    force until the next one starts, for at most ``max_age_s`` after its own period ends
    (realised data arrive late); time without a value in force uses ``fallback``. A failed
    fetch keeps what is known, warns once per kind of failure and never raises.

    Args:
        provider: where the values come from.
        fallback: the shipped table value used when no live value is in force.
        refresh_s: seconds between fetches.
        max_age_s: how long a value is carried forward after its period ends.
        now: clock giving the current UTC time.

    Example::

        live = LiveIntensity(provider, fallback=table_value)
        live.start()
        live.current()                              # returns at once, never fetches
        live.over(epoch_start_utc, epoch_end_utc)   # time-weighted over the epoch
        live.close()                                # start() again resumes (fit, then test)
    """

    def __init__(
        self,
        provider: IntensityProvider,
        fallback: CarbonIntensity,
        refresh_s: float = 300.0,
        max_age_s: float = 3600.0,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if not refresh_s > 0:
            raise ValueError(f"refresh_s must be > 0 s, got {refresh_s!r}")
        if not max_age_s >= 0:
            raise ValueError(f"max_age_s must be >= 0 s, got {max_age_s!r}")
        self.provider = provider
        self.fallback = fallback
        self.refresh_s = float(refresh_s)
        self._max_age = timedelta(seconds=max_age_s)
        self._now = now
        self._points: dict[datetime, IntensityPoint] = {}
        self._warned: set[str] = set()
        self.failures: list[str] = []
        """One line per kind of failed fetch, for the run's statement."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (``ddp_spawn`` sends callbacks to new processes): the thread stays here."""
        with self._lock:
            state = {**self.__dict__, "_points": dict(self._points)}
        for name in ("_lock", "_stop", "_thread"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        """Start fetching on the background thread; while it runs, again does nothing."""
        with self._lock:
            if self._thread is not None:
                return
            # A fresh event per thread: one that outlives close() by a slow request still stops.
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(self._stop,),
                name="lightning-carbon-live-intensity",
                daemon=True,
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the thread; waits at most 1 s for a request in flight. Safe to call twice."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def refresh_now(self) -> bool:
        """Fetch once on the calling thread; ``False`` (and a warning) when it failed."""
        try:
            point = self.provider.latest_point()
        except Exception as error:  # nothing from a provider may reach the training loop
            self._warn_once(error)
            return False
        with self._lock:
            self._points[point.start] = point
        return True

    def current(self) -> CarbonIntensity:
        """The value in force now: the latest live one, or the fallback."""
        now = as_utc(self._now())
        with self._lock:
            newest = max(self._points.values(), key=lambda p: p.start, default=None)
        if newest is None or now >= newest.end + self._max_age:
            return self.fallback
        return self._live(newest.gco2_per_kWh, (newest.source,), (newest.basis,), newest.start)

    def over(
        self,
        start_utc: datetime,
        end_utc: datetime,
        energy_samples: Sequence[EnergySample] | None = None,
    ) -> CarbonIntensity:
        """Mean intensity over a window: time-weighted, or energy-weighted with samples.

        ``energy_samples`` are ``(start, end, energy_J)`` intervals; only their parts inside
        the window count. Time without a live value uses the fallback, and ``source`` says
        which share that was. With no live value at all, the fallback itself is returned.
        """
        series = self._series()
        samples = clip_samples(energy_samples or (), start_utc, end_utc)
        fallback_value = self.fallback.gco2_per_kWh
        if sum(sample[2] for sample in samples) > 0:
            mean = series.energy_weighted(samples, fallback_value)
        else:
            mean = series.mean_over(start_utc, end_utc, fallback_value)
        if mean.covered_fraction == 0:
            return self.fallback
        sources, bases = mean.sources, mean.bases
        if mean.covered_fraction < 1:
            share = f"{1 - mean.covered_fraction:.0%}"
            sources += (
                f"no live value for {share} of the window: used {fallback_value:g} g/kWh "
                f"from {self.fallback.source}",
            )
            bases += (self.fallback.basis,)
        return self._live(mean.gco2_per_kWh, sources, bases, as_utc(start_utc))

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.refresh_now()
            stop.wait(self.refresh_s)

    def _series(self) -> IntensitySeries:
        with self._lock:
            points = sorted(self._points.values(), key=lambda p: p.start)
        carried = []
        for index, point in enumerate(points):
            end = point.end + self._max_age
            if index + 1 < len(points):
                end = min(end, points[index + 1].start)
            carried.append(
                IntensityPoint(point.start, end, point.gco2_per_kWh, point.source, point.basis)
            )
        return IntensitySeries(carried)

    def _live(
        self, value: float, sources: tuple[str, ...], bases: tuple[str, ...], moment: datetime
    ) -> CarbonIntensity:
        unique_bases = set(bases)
        return CarbonIntensity(
            gco2_per_kWh=value,
            region=self.provider.region,
            code=self.provider.zone,
            year=None,
            source="; ".join(sources),
            basis=unique_bases.pop() if len(unique_bases) == 1 else "mixed",
            time=moment.isoformat(),
            is_live=True,
        )

    def _warn_once(self, error: Exception) -> None:
        kind = error.kind if isinstance(error, LiveIntensityError) else type(error).__name__
        with self._lock:
            if kind in self._warned:
                return
            self._warned.add(kind)
        detail = " ".join(str(error).split())  # one line, whatever the API sent
        self.failures.append(
            f"live carbon intensity for {self.provider.zone} failed ({detail}); the table value "
            f"of {self.fallback.gco2_per_kWh:g} g/kWh for {self.fallback.region} stood in"
        )
        warnings.warn(
            f"lightning-carbon: live carbon intensity for {self.provider.zone} failed ({detail}); "
            f"using {self.fallback.gco2_per_kWh:g} g/kWh for {self.fallback.region} from "
            f"{self.fallback.source} while it does",
            LiveIntensityWarning,
            stacklevel=2,
        )


def _fetch_json(url: str, headers: dict[str, str], timeout_s: float) -> Any:
    request = urllib.request.Request(
        url, headers={"User-Agent": "lightning-carbon", **headers}, method="GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(_MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as error:
        kind = "HTTP 5xx" if error.code >= 500 else f"HTTP {error.code}"
        raise LiveIntensityError(kind, f"{_api_message(error)} from {_safe(url)}") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise LiveIntensityError("timeout", f"no answer within {timeout_s:g} s") from None
        raise LiveIntensityError("network", f"{error.reason} ({_safe(url)})") from None
    except TimeoutError:
        raise LiveIntensityError("timeout", f"no answer within {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise LiveIntensityError("network", f"{error!r} ({_safe(url)})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise LiveIntensityError(
            "malformed response", f"not JSON from {_safe(url)}: {body[:80]!r}"
        ) from None


def _api_message(error: urllib.error.HTTPError) -> str:
    """The status line, plus the API's own message when it sent one (``error``/``message``)."""
    text = f"{error.code} {error.reason}"
    try:
        body = json.loads(error.read(64 * 1024))
    except (ValueError, OSError, http.client.HTTPException):
        return text
    detail = body.get("error") or body.get("message") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("code")
    return f"{text} ({detail})" if detail else text


@contextlib.contextmanager
def _reading(source: str) -> Iterator[None]:
    """Turns a response of an unexpected shape into ``LiveIntensityError('malformed ...')``."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise LiveIntensityError(
            "malformed response", f"{source}: unexpected shape ({error!r})"
        ) from None


def _intensity(value: Any) -> float | None:
    """An intensity from JSON: ``None`` stays ``None``; anything but a number >= 0 is malformed."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"intensity is a boolean: {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"intensity out of range: {value!r}")
    return number


def _gb_periods(data: Any) -> list[dict[str, Any]]:
    """The half-hour periods of a GB response: ``data`` may be a list or an object, and each
    entry either a period or a region holding its periods in its own ``data``."""
    periods = []
    for entry in data if isinstance(data, list) else [data]:
        if "data" in entry:
            inner = entry["data"]
            periods.extend(inner if isinstance(inner, list) else [inner])
        else:
            periods.append(entry)
    return periods


def _parse_utc(text: str) -> datetime:
    """ISO-8601 with ``Z``, an offset, or none (then UTC), as aware UTC."""
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO-8601 time, got {text!r}")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(text))


def _danish_local(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm`` in Danish local time, as Energi Data Service reads start/end."""
    return moment.astimezone(ZoneInfo("Europe/Copenhagen")).strftime("%Y-%m-%dT%H:%M")


def _gb_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return moment - (moment - epoch) % step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floored = _floor(moment, step)
    return floored if floored == moment else floored + step


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise ValueError(f"history window must end after it starts: {start} to {end}")
    return start, end


def _encode(query: dict[str, str]) -> str:
    return urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def _safe(url: str) -> str:
    """The URL without its query (never echo parameters into logs)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

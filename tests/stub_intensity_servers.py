"""Loopback HTTP stubs of the live carbon-intensity APIs, for tests.

:class:`StubServer` serves on ``127.0.0.1`` (a free port) from a thread, records every
request, and answers through a route object; ``server.override`` forces one reply (errors,
malformed bodies, delays) for every request. The routes mimic the request and response
shapes of Energi Data Service, the GB Carbon Intensity API and Electricity Maps v3.

Example::

    with StubServer(EnergiDataServiceStub({"CO2Emis": eds_records(t0, [160.0])})) as server:
        EnergiDataService("DK1", base_url=server.url).latest()
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

_DK_TIME = ZoneInfo("Europe/Copenhagen")
_HALF_HOUR = timedelta(minutes=30)
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Reply:
    """What the stub answers: ``body`` is sent as JSON unless it is ``str`` (sent as-is)."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the stub received it (query values decoded, last one wins)."""

    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    """A threaded HTTP server on 127.0.0.1 answering from ``route(request) -> Reply``."""

    def __init__(self, route: Callable[[Request], Reply]) -> None:
        self.route = route
        self.requests: list[Request] = []
        self.override: Reply | None = None
        self._release = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )  # a short poll: shutdown() returns at once, not after the default 0.5 s

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._release.set()  # wake handlers that are delaying a reply
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        reply = self.override if self.override is not None else self.route(request)
        if reply.delay_s:
            self._release.wait(reply.delay_s)
        return reply

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                headers = {key.lower(): value for key, value in self.headers.items()}
                reply = stub._answer(Request(urllib.parse.unquote(parts.path), query, headers))
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def not_found(request: Request) -> Reply:
    return Reply(404, {"error": {"code": "404 Not Found", "message": request.path}})


# -- Energi Data Service -----------------------------------------------------------------------


def eds_records(
    start: datetime, values: Sequence[float | None], areas: Sequence[str] = ("DK1", "DK2")
) -> list[dict[str, Any]]:
    """5-minute records from ``start`` (UTC) with the given ``CO2Emission`` values."""
    rows = []
    for index, value in enumerate(values):
        moment = start + index * timedelta(minutes=5)
        for area in areas:
            rows.append(
                {
                    "Minutes5UTC": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                    "Minutes5DK": moment.astimezone(_DK_TIME).strftime("%Y-%m-%dT%H:%M:%S"),
                    "PriceArea": area,
                    "CO2Emission": value,
                }
            )
    return rows


class EnergiDataServiceStub:
    """``GET /dataset/{name}`` honouring ``filter``, ``start``/``end`` (Danish local time),
    ``sort`` and ``limit`` (100 by default), like the real API."""

    def __init__(self, datasets: dict[str, list[dict[str, Any]]]) -> None:
        self.datasets = datasets

    def __call__(self, request: Request) -> Reply:
        match = re.fullmatch(r"/dataset/(\w+)", request.path)
        if match is None or match.group(1) not in self.datasets:
            return not_found(request)
        rows = list(self.datasets[match.group(1)])
        query = request.query
        for column, wanted in json.loads(query.get("filter", "{}")).items():
            allowed = wanted if isinstance(wanted, list) else [wanted]
            rows = [row for row in rows if row[column] in allowed]
        if "start" in query:
            rows = [row for row in rows if _utc(row) >= _from_danish(query["start"])]
        if "end" in query:
            rows = [row for row in rows if _utc(row) < _from_danish(query["end"])]
        column, _, order = query.get("sort", "Minutes5UTC").partition(" ")
        rows.sort(key=lambda row: row[column], reverse=order.lower() == "desc")
        limit = int(query.get("limit", "100"))
        body = {"total": len(rows), "limit": limit, "dataset": match.group(1)}
        return Reply(200, {**body, "records": rows[:limit]})


def _utc(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["Minutes5UTC"]).replace(tzinfo=timezone.utc)


def _from_danish(text: str) -> datetime:
    local = datetime.strptime(text, "%Y-%m-%dT%H:%M").replace(tzinfo=_DK_TIME)
    return local.astimezone(timezone.utc)


# -- GB Carbon Intensity API -------------------------------------------------------------------


class CarbonIntensityGBStub:
    """National and regional (postcode) routes over half-hour ``periods``.

    ``periods`` maps a period start (UTC) to ``(forecast, actual)``; regional answers use the
    forecast only. ``regional_data_as`` chooses how regional range answers wrap ``data``:
    ``"object"`` (what the API was seen to send) or ``"list"`` (what its docs show).
    """

    def __init__(
        self,
        periods: dict[datetime, tuple[float | None, float | None]],
        now: datetime,
        regional_data_as: str = "object",
    ) -> None:
        self.periods = periods
        self.now = now
        self.regional_data_as = regional_data_as

    def __call__(self, request: Request) -> Reply:
        path = request.path
        if path == "/intensity":
            return Reply(200, {"data": self._national(self.now, self.now + _INSTANT)})
        if match := re.fullmatch(r"/intensity/([^/]+)/([^/]+)", path):
            return Reply(200, {"data": self._national(*self._span(*match.groups()))})
        if match := re.fullmatch(r"/regional/postcode/(\w+)", path):
            region = self._region(match.group(1), self.now, self.now + _INSTANT)
            return Reply(200, {"data": [region]})
        if match := re.fullmatch(r"/regional/intensity/([^/]+)/([^/]+)/postcode/(\w+)", path):
            region = self._region(match.group(3), *self._span(match.group(1), match.group(2)))
            return Reply(200, {"data": region if self.regional_data_as == "object" else [region]})
        return not_found(request)

    def _span(self, start: str, end: str) -> tuple[datetime, datetime]:
        first = _gb_parse(start)
        if end in ("fw24h", "fw48h"):
            first -= (first - datetime(1970, 1, 1, tzinfo=timezone.utc)) % _HALF_HOUR
            return first, first + timedelta(hours=int(end[2:4]))
        return first, _gb_parse(end)

    def _covering(self, start: datetime, end: datetime) -> list[datetime]:
        return sorted(t for t in self.periods if t + _HALF_HOUR > start and t < end)

    def _national(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [
            {
                "from": _gb_format(t),
                "to": _gb_format(t + _HALF_HOUR),
                "intensity": {
                    "forecast": self.periods[t][0],
                    "actual": self.periods[t][1],
                    "index": "moderate",
                },
            }
            for t in self._covering(start, end)
        ]

    def _region(self, postcode: str, start: datetime, end: datetime) -> dict[str, Any]:
        periods = [
            {
                "from": _gb_format(t),
                "to": _gb_format(t + _HALF_HOUR),
                "intensity": {"forecast": self.periods[t][0], "index": "moderate"},
                "generationmix": [{"fuel": "wind", "perc": 50.0}, {"fuel": "gas", "perc": 50.0}],
            }
            for t in self._covering(start, end)
        ]
        return {
            "regionid": 12,
            "dnoregion": "SSE South",
            "shortname": "South England",
            "postcode": postcode,
            "data": periods,
        }


def _gb_parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)


def _gb_format(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


# -- Electricity Maps v3 ----------------------------------------------------------------------


class ElectricityMapsStub:
    """``/v3/carbon-intensity/latest|history|forecast`` and ``/v3/zones`` behind a token.

    A missing or wrong ``auth-token`` gets 401; ``forecast=None`` answers the forecast with
    403 (not in the plan).
    """

    def __init__(
        self,
        token: str,
        latest: dict[str, Any],
        history: list[dict[str, Any]] | None = None,
        forecast: list[dict[str, Any]] | None = None,
    ) -> None:
        self.token = token
        self.latest = latest
        self.history = history or []
        self.forecast = forecast

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("auth-token") != self.token:
            return Reply(401, {"message": "Invalid auth-token"})
        zone = request.query.get("zone")
        if request.path == "/v3/zones":
            access = ["carbon-intensity/latest", "carbon-intensity/history"]
            return Reply(200, {"DE": {"zoneName": "Germany", "access": access}})
        if zone is None:
            return Reply(400, {"error": "zone is required"})
        if request.path == "/v3/carbon-intensity/latest":
            return Reply(200, {"zone": zone, **self.latest})
        if request.path == "/v3/carbon-intensity/history":
            return Reply(200, {"zone": zone, "history": self.history})
        if request.path == "/v3/carbon-intensity/forecast":
            if self.forecast is None:
                return Reply(403, {"error": "forecast is not part of your plan"})
            return Reply(200, {"zone": zone, "forecast": self.forecast})
        return not_found(request)

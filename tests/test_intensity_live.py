"""Live intensity providers against loopback stubs (tests/stub_intensity_servers.py).

Every value is scripted in the stub, so the tests assert exact intensities, times, sources,
the requests the client sent, and the one-line fallback warning of each kind of failure.
"""

from __future__ import annotations

import csv
import json
import pickle
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import CSVLogger

from lightning_carbon import CarbonCallback
from lightning_carbon.intensity import live
from lightning_carbon.intensity.live import (
    BASE_URL_ENV,
    MAX_TIMEOUT_S,
    CarbonIntensityGB,
    ElectricityMaps,
    EnergiDataService,
    LiveIntensity,
    LiveIntensityError,
    LiveIntensityWarning,
    provider_for_zone,
)
from lightning_carbon.intensity.table import CarbonIntensity, country_intensity
from tests.fakes import FakeClock, StepModel, step_sensors
from tests.stub_intensity_servers import (
    CarbonIntensityGBStub,
    ElectricityMapsStub,
    EnergiDataServiceStub,
    Reply,
    StubServer,
    eds_records,
)

UTC = timezone.utc
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # summer: Danish local time is UTC+2
WINTER = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)  # winter: UTC+1
MIN = timedelta(minutes=1)
KWH = 3.6e6
TOKEN = "em-secret-token"
FALLBACK = CarbonIntensity(400.0, "Denmark", "DNK", 2023, "the shipped table", "lifecycle")
LIVE_THREAD = "lightning-carbon-live-intensity"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fixed(moment: datetime):
    return lambda: moment


def wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def dk_stub() -> EnergiDataServiceStub:
    """CO2Emis 11:45-11:55 (150, 160, 170 for DK1; 950... for DK2); CO2EmisProg 12:00-13:55."""
    realised = eds_records(at(-15), [150.0, 160.0, 170.0], areas=("DK1",))
    realised += eds_records(at(-15), [950.0, 960.0, 970.0], areas=("DK2",))
    forecast = eds_records(T0, [100.0 + i for i in range(24)])
    return EnergiDataServiceStub({"CO2Emis": realised, "CO2EmisProg": forecast})


def gb_stub(regional_data_as: str = "object") -> CarbonIntensityGBStub:
    periods = {
        at(-30): (250.0, 240.0),
        T0: (200.0, None),
        at(30): (180.0, None),
        at(60): (160.0, None),
        at(90): (140.0, None),
        at(120): (120.0, None),
    }
    return CarbonIntensityGBStub(periods, now=at(10), regional_data_as=regional_data_as)


def em_stub(**latest) -> ElectricityMapsStub:
    body = {"carbonIntensity": 322, "datetime": "2024-06-01T11:00:00.000Z", **latest}
    return ElectricityMapsStub(TOKEN, latest=body)


@pytest.fixture
def em_token(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", TOKEN)


# -- Energi Data Service ------------------------------------------------------------------------


def test_eds_latest_value_source_time_and_basis():
    with StubServer(dk_stub()) as server:
        dk1 = EnergiDataService("dk1", base_url=server.url).latest()
        dk2 = EnergiDataService("DK2", base_url=server.url).latest()
    assert dk1 == CarbonIntensity(
        gco2_per_kWh=170.0,
        region="Denmark (DK1)",
        code="DK1",
        year=None,
        source="Energi Data Service CO2Emis (DK1)",
        basis="direct",
        time="2024-06-01T11:55:00+00:00",
        is_live=True,
    )
    assert dk2.gco2_per_kWh == 970.0
    request = server.requests[0]
    assert request.path == "/dataset/CO2Emis"
    assert json.loads(request.query["filter"]) == {"PriceArea": ["DK1"]}
    assert (request.query["sort"], request.query["limit"]) == ("Minutes5UTC desc", "12")


def test_eds_latest_skips_the_newest_null_rows():
    records = eds_records(at(-15), [150.0, None, None], areas=("DK1",))
    with StubServer(EnergiDataServiceStub({"CO2Emis": records})) as server:
        point = EnergiDataService("DK1", base_url=server.url).latest_point()
    assert (point.start, point.gco2_per_kWh) == (at(-15), 150.0)


@pytest.mark.parametrize(
    ("moment", "local_start", "local_end"),
    [
        (T0, "2024-06-01T13:45", "2024-06-01T14:00"),
        (WINTER, "2024-01-15T12:45", "2024-01-15T13:00"),
    ],
)
def test_eds_sends_start_and_end_in_danish_local_time(moment, local_start, local_end):
    records = eds_records(moment - 15 * MIN, [150.0, 160.0, 170.0], areas=("DK1",))
    with StubServer(EnergiDataServiceStub({"CO2Emis": records})) as server:
        series = EnergiDataService("DK1", base_url=server.url).history(moment - 15 * MIN, moment)
    assert (server.requests[0].query["start"], server.requests[0].query["end"]) == (
        local_start,
        local_end,
    )
    assert [(p.start, p.gco2_per_kWh) for p in series.points] == [
        (moment - 15 * MIN, 150.0),
        (moment - 10 * MIN, 160.0),
        (moment - 5 * MIN, 170.0),
    ]


def test_eds_history_from_mid_row_includes_the_row_holding_the_start():
    with StubServer(dk_stub()) as server:
        series = EnergiDataService("DK1", base_url=server.url).history(at(-13), at(-7))
    assert server.requests[0].query["start"] == "2024-06-01T13:45"  # 11:45 UTC, floored
    assert [p.gco2_per_kWh for p in series.points] == [150.0, 160.0]
    assert series.mean_over(at(-13), at(-7)).gco2_per_kWh == (3 * 150 + 3 * 160) / 6 == 155.0


def test_eds_forecast_from_the_current_row():
    with StubServer(dk_stub()) as server:
        provider = EnergiDataService("DK1", base_url=server.url, now=fixed(at(2)))
        series = provider.forecast(1)
    query = server.requests[0].query
    assert server.requests[0].path == "/dataset/CO2EmisProg"
    assert (query["start"], query["end"], query["sort"]) == (
        "2024-06-01T14:00",
        "2024-06-01T15:02",
        "Minutes5UTC",
    )
    assert [p.gco2_per_kWh for p in series.points] == [100.0 + i for i in range(13)]
    assert (series.start, series.end) == (T0, at(65))
    assert {p.source for p in series.points} == {"Energi Data Service CO2EmisProg (DK1)"}


# -- GB Carbon Intensity API --------------------------------------------------------------------


def test_gb_national_latest_uses_the_forecast_until_the_actual_is_published():
    stub = gb_stub()
    with StubServer(stub) as server:
        provider = CarbonIntensityGB(base_url=server.url, cache_ttl_s=0)
        forecast = provider.latest()
        stub.periods[T0] = (200.0, 210.0)
        actual = provider.latest()
    assert forecast == CarbonIntensity(
        gco2_per_kWh=200.0,
        region="Great Britain",
        code="GB",
        year=None,
        source="Carbon Intensity API (NESO) /intensity forecast",
        basis="direct",
        time="2024-06-01T12:00:00+00:00",
        is_live=True,
    )
    assert (actual.gco2_per_kWh, actual.source) == (
        210.0,
        "Carbon Intensity API (NESO) /intensity actual",
    )
    assert server.requests[0].path == "/intensity"
    assert server.requests[0].headers["accept"] == "application/json"


@pytest.mark.parametrize("data_as", ["object", "list"])
def test_gb_regional_by_postcode_reads_data_as_object_or_list(data_as):
    with StubServer(gb_stub(regional_data_as=data_as)) as server:
        provider = CarbonIntensityGB(postcode="rg10 9xy", base_url=server.url)
        latest = provider.latest()
        history = provider.history(at(-30), at(60))
    assert (provider.zone, latest.region) == ("GB-RG10", "Great Britain (postcode RG10)")
    assert (latest.gco2_per_kWh, latest.time) == (200.0, "2024-06-01T12:00:00+00:00")
    assert [request.path for request in server.requests] == [
        "/regional/postcode/RG10",
        "/regional/intensity/2024-06-01T11:30Z/2024-06-01T13:00Z/postcode/RG10",
    ]
    # regional periods carry only the forecast, even where the national actual exists
    assert [(p.start, p.gco2_per_kWh) for p in history.points] == [
        (at(-30), 250.0),
        (T0, 200.0),
        (at(30), 180.0),
    ]
    assert history.points[0].source == (
        "Carbon Intensity API (NESO) /regional/intensity/{from}/{to}/postcode/RG10 forecast"
    )


def test_gb_forecast_24h_and_48h():
    with StubServer(gb_stub()) as server:
        provider = CarbonIntensityGB(base_url=server.url, now=fixed(at(10)))
        short = provider.forecast(1.5)
        provider.forecast(30)
    assert [request.path for request in server.requests] == [
        "/intensity/2024-06-01T12:10Z/fw24h",
        "/intensity/2024-06-01T12:10Z/fw48h",
    ]
    assert [(p.start, p.gco2_per_kWh) for p in short.points] == [
        (T0, 200.0),
        (at(30), 180.0),
        (at(60), 160.0),
        (at(90), 140.0),
    ]


def test_gb_postcode_and_region_validation():
    with pytest.raises(ValueError, match=r"outward GB postcode such as 'RG10', got 'reading'"):
        CarbonIntensityGB(postcode="reading")
    with pytest.raises(ValueError, match=r"GB region ids are 1 to 17, got 18"):
        CarbonIntensityGB(regionid=18)
    assert CarbonIntensityGB(regionid=13).zone == "GB-region-13"


# -- Electricity Maps ---------------------------------------------------------------------------


def test_electricity_maps_latest_with_the_token_from_the_environment(em_token):
    with StubServer(em_stub(emissionFactorType="lifecycle", isEstimated=False)) as server:
        value = ElectricityMaps("DE", base_url=server.url + "/v3").latest()
    assert value == CarbonIntensity(
        gco2_per_kWh=322.0,
        region="DE",
        code="DE",
        year=None,
        source="Electricity Maps carbon-intensity/latest (DE)",
        basis="lifecycle",
        time="2024-06-01T11:00:00+00:00",
        is_live=True,
    )
    (request,) = server.requests
    assert request.path == "/v3/carbon-intensity/latest"
    assert (request.query, request.headers["auth-token"]) == ({"zone": "DE"}, TOKEN)


def test_electricity_maps_direct_basis_and_estimates_are_kept(em_token):
    stub = em_stub(emissionFactorType="direct", isEstimated=True, estimationMethod="TSA")
    with StubServer(stub) as server:
        value = ElectricityMaps(
            "DK-DK1", base_url=server.url + "/v3", emission_factor_type="direct"
        ).latest()
    assert server.requests[0].query == {"zone": "DK-DK1", "emissionFactorType": "direct"}
    assert (value.basis, value.source) == (
        "direct",
        "Electricity Maps carbon-intensity/latest (DK-DK1), estimated (TSA)",
    )


def test_electricity_maps_without_a_token_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    message = r"zone 'DE' comes from Electricity Maps, which needs an API token in the environment variable ELECTRICITYMAPS_TOKEN"  # noqa: E501
    with pytest.raises(ValueError, match=message):
        provider_for_zone("DE")
    with pytest.raises(ValueError, match=message):
        CarbonCallback(country="DEU", live_zone="DE")


def test_electricity_maps_wrong_token_falls_back_and_names_the_variable(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "wrong-token")
    with StubServer(em_stub()) as server:
        source = LiveIntensity(ElectricityMaps("DE", base_url=server.url + "/v3"), FALLBACK)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert source.refresh_now() is False
    (warning,) = caught
    assert (
        f"(HTTP 401: 401 Unauthorized (Invalid auth-token) from {server.url}/v3/carbon-intensity/"
        "latest; check the token in ELECTRICITYMAPS_TOKEN)" in str(warning.message)
    )
    assert "wrong-token" not in str(warning.message)
    assert source.current() is FALLBACK


# -- provider choice ----------------------------------------------------------------------------


def test_provider_for_zone(em_token, monkeypatch):
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert type(provider_for_zone(" dk2 ")).__name__ == "EnergiDataService"
    assert provider_for_zone("dk2").zone == "DK2"
    assert provider_for_zone("GB").zone == "GB"
    assert provider_for_zone("gb-sw1a").zone == "GB-SW1A"
    assert isinstance(provider_for_zone("GB-NIR"), ElectricityMaps)
    assert provider_for_zone("DK1").base_url == "https://api.energidataservice.dk"
    assert provider_for_zone("DK1", base_url="http://127.0.0.1:9/").base_url == (
        "http://127.0.0.1:9"
    )
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8/")
    assert provider_for_zone("GB").base_url == "http://127.0.0.1:8"
    for bad in ("", "  ", None, 5):
        with pytest.raises(ValueError, match="a live zone is a zone key such as 'DK1'"):
            provider_for_zone(bad)


def test_live_zone_and_a_fixed_intensity_are_exclusive():
    with pytest.raises(ValueError, match=r"carbon_intensity \(100.0\) or live_zone \('DK1'\)"):
        CarbonCallback(carbon_intensity=100.0, live_zone="DK1")


def test_timeout_is_capped_at_five_seconds():
    assert MAX_TIMEOUT_S == 5.0
    assert EnergiDataService().timeout_s == 5.0
    assert EnergiDataService(timeout_s=5).timeout_s == 5.0
    for bad in (5.01, 30, 0, -1):
        with pytest.raises(ValueError, match=rf"timeout_s must be in \(0, 5\] s, got {bad!r}"):
            EnergiDataService(timeout_s=bad)
    with pytest.raises(ValueError, match="must be an http:// or https:// URL, got 'ftp://x'"):
        EnergiDataService(base_url="ftp://x")


# -- failures: one warning, the table value, training goes on ------------------------------------

PROVIDERS = {
    "EDS": lambda url: EnergiDataService("DK1", base_url=url, timeout_s=0.2),
    "GB": lambda url: CarbonIntensityGB(base_url=url, timeout_s=0.2),
    "EM": lambda url: ElectricityMaps("DE", base_url=url + "/v3", timeout_s=0.2),
}
ROUTES = {"EDS": dk_stub, "GB": gb_stub, "EM": em_stub}
NULL_BODIES = {
    "EDS": {"records": eds_records(at(-5), [None], areas=("DK1",))},
    "GB": {
        "data": [
            {
                "from": "2024-06-01T12:00Z",
                "to": "2024-06-01T12:30Z",
                "intensity": {"forecast": None, "actual": None, "index": "moderate"},
            }
        ]
    },
    "EM": {"zone": "DE", "carbonIntensity": None, "datetime": "2024-06-01T11:00:00.000Z"},
}
FAILURES = {
    "401": (Reply(401, {"message": "Invalid auth-token"}), "HTTP 401: 401 Unauthorized"),
    "429": (Reply(429, {"error": "slow down"}), "HTTP 429: 429 Too Many Requests (slow down)"),
    "500": (
        Reply(500, {"error": {"code": "500", "message": "boom\nat line 2"}}),
        "HTTP 5xx: 500 Internal Server Error (boom at line 2)",
    ),
    "timeout": (Reply(200, {}, delay_s=3.0), "timeout: no answer within 0.2 s"),
    "malformed": (Reply(200, "{not json"), "malformed response: not JSON from http://"),
    "null": (None, "no data: "),
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("name", list(PROVIDERS))
def test_failure_falls_back_to_the_table_with_one_one_line_warning(name, failure, em_token):
    reply, expected = FAILURES[failure]
    with StubServer(ROUTES[name]()) as server:
        server.override = reply or Reply(200, NULL_BODIES[name])
        source = LiveIntensity(PROVIDERS[name](server.url), FALLBACK, now=fixed(T0))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert source.refresh_now() is False
            assert source.refresh_now() is False  # the same failure again: no second warning
        # a failed request is asked again; an answer of nulls is a (cached) answer
        assert len(server.requests) == (1 if failure == "null" else 2)
    (warning,) = caught
    message = str(warning.message)
    assert warning.category is LiveIntensityWarning
    assert "\n" not in message
    assert message.startswith(f"lightning-carbon: live carbon intensity for {source.provider.zone}")
    assert expected in message
    assert message.endswith("using 400 g/kWh for Denmark from the shipped table while it does")
    assert source.current() is FALLBACK
    assert source.over(at(0), at(10)) is FALLBACK


def test_provider_errors_carry_their_kind():
    with StubServer(dk_stub()) as server:
        server.override = Reply(429, {"error": "slow down"})
        with pytest.raises(LiveIntensityError) as raised:
            EnergiDataService(base_url=server.url).latest()
    assert raised.value.kind == "HTTP 429"


def test_background_thread_survives_failures_and_warns_once(em_token):
    with StubServer(dk_stub()) as server:
        server.override = Reply(500, {"error": "down"})
        provider = EnergiDataService("DK1", base_url=server.url, cache_ttl_s=0)
        source = LiveIntensity(provider, FALLBACK, refresh_s=0.01, now=fixed(T0))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            source.start()
            wait_until(lambda: len(server.requests) >= 3)
            assert source.current() is FALLBACK
            server.override = None  # the API recovers: the next fetch gives a live value
            wait_until(lambda: source.current().is_live)
            source.close()
    assert len(caught) == 1
    assert source.current().gco2_per_kWh == 170.0


# -- LiveIntensity: off the caller's thread, cached, time- and energy-weighted -------------------


def test_live_intensity_fetches_only_on_its_own_thread(monkeypatch):
    fetch_threads = []
    real_fetch = live._fetch_json

    def spy(*args, **kwargs):
        fetch_threads.append(threading.current_thread().name)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(live, "_fetch_json", spy)
    with StubServer(dk_stub()) as server:
        provider = EnergiDataService("DK1", base_url=server.url)
        source = LiveIntensity(provider, FALLBACK, now=fixed(T0))
        assert source.current() is FALLBACK  # nothing fetched, nothing waited for
        assert source.over(at(0), at(5)) is FALLBACK
        assert fetch_threads == []
        source.start()
        source.start()  # already running: no second thread
        wait_until(lambda: source.current().is_live)
        source.current(), source.over(at(-5), at(0))
        source.close()
        assert not any(t.name == LIVE_THREAD for t in threading.enumerate())
    assert fetch_threads == [LIVE_THREAD]
    assert threading.current_thread().name != LIVE_THREAD
    assert len(server.requests) == 1


def test_live_intensity_starts_again_after_close():
    with StubServer(dk_stub()) as server:
        provider = EnergiDataService("DK1", base_url=server.url, cache_ttl_s=0)
        source = LiveIntensity(provider, FALLBACK)
        for fetches in (1, 2):  # e.g. trainer.fit, then trainer.test with the same callback
            source.start()
            wait_until(lambda n=fetches: len(server.requests) == n)
            source.close()
            source.close()  # twice is fine


def test_provider_caches_answers_for_the_ttl():
    clock = FakeClock(0.0)
    with StubServer(dk_stub()) as server:
        provider = EnergiDataService(base_url=server.url, cache_ttl_s=60, clock=clock)
        first = provider.latest()
        clock.advance(59.9)
        assert provider.latest() == first
        assert len(server.requests) == 1
        clock.advance(0.1)
        assert provider.latest() == first
        assert len(server.requests) == 2


def _two_points(max_age_s: float, now: datetime | None = None) -> LiveIntensity:
    """[11:55, 12:00) at 100 and [12:00, 12:05) at 300 g/kWh, fetched one after the other."""
    stub = EnergiDataServiceStub({"CO2Emis": eds_records(at(-5), [100.0], areas=("DK1",))})
    with StubServer(stub) as server:
        provider = EnergiDataService("DK1", base_url=server.url, cache_ttl_s=0)
        source = LiveIntensity(provider, FALLBACK, max_age_s=max_age_s, now=fixed(now or at(3)))
        assert source.refresh_now()
        stub.datasets["CO2Emis"] += eds_records(T0, [300.0], areas=("DK1",))
        assert source.refresh_now()
    return source


def test_over_is_time_weighted_with_the_fallback_for_uncovered_time():
    source = _two_points(max_age_s=0)
    # [11:57, 12:07): 3 min at 100, 5 min at 300, then 2 min with no live value (400)
    mean = source.over(at(-3), at(7))
    assert mean.gco2_per_kWh == (3 * 100 + 5 * 300 + 2 * 400) / 10 == 260.0
    assert (mean.basis, mean.time, mean.is_live, mean.code) == (
        "mixed",
        "2024-06-01T11:57:00+00:00",
        True,
        "DK1",
    )
    assert mean.source == (
        "Energi Data Service CO2Emis (DK1); no live value for 20% of the window: "
        "used 400 g/kWh from the shipped table"
    )


def test_over_carries_the_last_value_forward_for_max_age():
    source = _two_points(max_age_s=3600)
    mean = source.over(at(-3), at(7))
    assert mean.gco2_per_kWh == (3 * 100 + 7 * 300) / 10 == 240.0
    assert (mean.basis, mean.source) == ("direct", "Energi Data Service CO2Emis (DK1)")


def test_over_is_energy_weighted_given_energy_samples():
    source = _two_points(max_age_s=0)
    samples = [(at(-3), T0, 1000.0), (T0, at(5), 3000.0), (at(9), at(20), 5000.0)]
    # the third sample lies outside the window; the window sees 1000 J at 100, 3000 J at 300
    assert source.over(at(-3), at(5), samples).gco2_per_kWh == (1000 * 100 + 3000 * 300) / 4000
    assert source.over(at(-3), at(5), samples).gco2_per_kWh == 250.0
    assert source.over(at(-3), at(5)).gco2_per_kWh == (3 * 100 + 5 * 300) / 8 == 225.0


def test_current_is_the_newest_value_until_it_is_too_old():
    current = _two_points(max_age_s=3600).current()
    assert (current.gco2_per_kWh, current.time) == (300.0, "2024-06-01T12:00:00+00:00")
    last_second = _two_points(max_age_s=3600, now=at(65) - timedelta(seconds=1))
    assert last_second.current().gco2_per_kWh == 300.0
    assert _two_points(max_age_s=3600, now=at(65)).current() is FALLBACK  # 12:05 + 1 h


# -- a real Lightning run on CPU --------------------------------------------------------------


class _StartsWhen(StepModel):
    """Starts training once ``ready()`` holds: the callback's first background fetch is over."""

    def __init__(self, ready) -> None:
        super().__init__()
        self.ready = ready

    def on_train_start(self) -> None:
        wait_until(self.ready)


def _fit(tmp_path, callback, ready) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        callbacks=[callback],
        logger=CSVLogger(tmp_path, name="csv"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_StartsWhen(ready))
    return trainer


def _epoch_rows(trainer: Trainer) -> list[dict[str, str]]:
    with open(f"{trainer.logger.log_dir}/metrics.csv") as stream:
        return [row for row in csv.DictReader(stream) if row.get("energy/epoch_kWh")]


def recent_dk_stub(value: float) -> EnergiDataServiceStub:
    """One CO2Emis row from 10-15 min ago (real time): in force for the next hour."""
    now = datetime.now(UTC)
    newest = now - timedelta(minutes=10) - (now - datetime(2024, 1, 1, tzinfo=UTC)) % (5 * MIN)
    return EnergiDataServiceStub({"CO2Emis": eds_records(newest, [value])})


def test_a_callback_with_live_intensity_pickles_for_ddp_spawn(monkeypatch):
    with StubServer(recent_dk_stub(123.0)) as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        callback = CarbonCallback(country="DNK", live_zone="DK1")
        callback.run.intensity_choice.start()
        wait_until(lambda: callback.run.intensity_choice.current().is_live)
        copy = pickle.loads(pickle.dumps(callback))
        callback.run.intensity_choice.close()
        assert copy.run.intensity_choice.current().gco2_per_kWh == 123.0  # the values travel
        copy.run.intensity_choice.start()  # and the copy fetches on a thread of its own
        wait_until(lambda: len(server.requests) == 2)
        copy.run.intensity_choice.close()


def test_lightning_run_logs_the_live_intensity_from_the_stub(tmp_path, monkeypatch):
    with StubServer(recent_dk_stub(123.0)) as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        callback = CarbonCallback(country="DNK", live_zone="DK1", sensors=step_sensors)
        trainer = _fit(tmp_path, callback, lambda: callback.run.intensity_choice.current().is_live)
    assert not any(t.name == LIVE_THREAD for t in threading.enumerate())
    assert {r.path for r in server.requests} == {"/dataset/CO2Emis"}
    assert {r.query["filter"] for r in server.requests} == {'{"PriceArea": ["DK1"]}'}
    rows = _epoch_rows(trainer)
    assert [float(row["carbon/intensity_gCO2e_per_kWh"]) for row in rows] == [123.0, 123.0]
    assert [float(row["carbon/epoch_gCO2e"]) for row in rows] == pytest.approx([63 / KWH * 123] * 2)
    carbon_dir = tmp_path / "csv" / "version_0" / "carbon"
    lines = (carbon_dir / "epochs.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["intensity"]["source"] for r in records] == ["Energi Data Service CO2Emis (DK1)"] * 3
    assert {r["intensity"]["basis"] for r in records} == {"direct"}
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["intensity"]["is_live"] is True
    assert summary["intensity"]["gco2_per_kWh"] == pytest.approx(123.0)


def test_lightning_run_with_a_failing_provider_trains_on_the_table_value(tmp_path, monkeypatch):
    dnk = country_intensity("DNK")
    with StubServer(dk_stub()) as server:
        server.override = Reply(500, {"error": "down"})
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        callback = CarbonCallback(country="DNK", live_zone="DK1", sensors=step_sensors)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            def warned():
                return [w for w in caught if w.category is LiveIntensityWarning]

            trainer = _fit(tmp_path, callback, warned)
    (warning,) = warned()
    assert str(warning.message).startswith("lightning-carbon: live carbon intensity for DK1 failed")
    assert trainer.current_epoch == 2  # both epochs ran
    statement = (tmp_path / "csv" / "version_0" / "carbon" / "statement.md").read_text()
    assert "Note: live carbon intensity for DK1 failed (" in statement
    rows = _epoch_rows(trainer)
    assert [float(r["carbon/intensity_gCO2e_per_kWh"]) for r in rows] == pytest.approx(
        [dnk.gco2_per_kWh] * 2
    )

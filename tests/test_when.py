"""``recommend_start`` and ``lightning-carbon when`` against scripted forecasts on loopback stubs.

DK1 (Energi Data Service CO2EmisProg, 5-minute rows), from 12:00 UTC:
12:00-13:00 at 200, 13:00-13:30 at 80, 13:30-14:00 at 120, 14:00-15:00 at 300 g/kWh.
At 12:02 a 1 h run is best from 13:00 (30 min at 80, 30 min at 120: 100 g/kWh); starting
now it sees 58 min at 200 and 2 min at 80: (58 x 200 + 2 x 80) / 60 = 196 g/kWh.
"""

from __future__ import annotations

import argparse
import functools
import json
from datetime import datetime, timedelta, timezone

import pytest

from lightning_carbon import cli, when
from lightning_carbon.intensity.live import NoForecast
from lightning_carbon.when import StartRecommendation, parse_duration, recommend_start
from tests.stub_intensity_servers import (
    CarbonIntensityGBStub,
    ElectricityMapsStub,
    EnergiDataServiceStub,
    Reply,
    StubServer,
    eds_records,
)

UTC = timezone.utc
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DK1_FORECAST = [200.0] * 12 + [80.0] * 6 + [120.0] * 6 + [300.0] * 12


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fixed(moment: datetime):
    return lambda: moment


def dk_stub(values=DK1_FORECAST) -> EnergiDataServiceStub:
    return EnergiDataServiceStub({"CO2EmisProg": eds_records(T0, values)})


@pytest.fixture
def dk_server():
    with StubServer(dk_stub()) as server:
        yield server


def test_dk1_best_start_and_saving_are_exact(dk_server):
    best = recommend_start("dk1", "1h", base_url=dk_server.url, now=fixed(at(2)))
    assert best == StartRecommendation(
        zone="DK1",
        duration_s=3600.0,
        now_utc=at(2),
        start_utc=at(60),
        end_utc=at(120),
        expected_gco2_per_kWh=(30 * 80 + 30 * 120) / 60,
        now_gco2_per_kWh=(58 * 200 + 2 * 80) / 60,
        saving_gco2_per_kWh=196.0 - 100.0,
        saving_fraction=96.0 / 196.0,
        forecast_until_utc=at(180),
        source="Energi Data Service CO2EmisProg (DK1)",
        basis="direct",
    )
    assert (best.expected_gco2_per_kWh, best.now_gco2_per_kWh) == (100.0, 196.0)
    (request,) = dk_server.requests
    assert request.path == "/dataset/CO2EmisProg"
    # the whole 48 h horizon, from the row holding 12:02, in Danish local time (UTC+2)
    assert (request.query["start"], request.query["end"]) == (
        "2024-06-01T14:00",
        "2024-06-03T14:02",
    )
    assert json.loads(request.query["filter"]) == {"PriceArea": ["DK1"]}


def test_within_limits_where_the_run_may_end(dk_server):
    # must end by 13:32: the best 1 h run is the last one, 12:32-13:32
    best = recommend_start("DK1", "1h", within="1h30m", base_url=dk_server.url, now=fixed(at(2)))
    assert (best.start_utc, best.end_utc, best.forecast_until_utc) == (at(32), at(92), at(92))
    assert best.expected_gco2_per_kWh == (28 * 200 + 30 * 80 + 2 * 120) / 60


def test_gb_fw48h_best_window_may_end_on_a_boundary_rather_than_start_on_one():
    # 12:00 at 420, 12:30 at 60, 13:00 and 13:30 at 500: a 45 min run is best from 12:15
    # (15 min at 420, 30 at 60: 180 g/kWh); starting now (12:00) gives (30 x 420 + 15 x 60) / 45
    periods = {at(0): (420.0, None), at(30): (60.0, None), at(60): (500.0, None)}
    periods[at(90)] = (500.0, None)
    with StubServer(CarbonIntensityGBStub(periods, now=T0)) as server:
        best = recommend_start("GB", "45m", base_url=server.url, now=fixed(T0))
    assert [r.path for r in server.requests] == ["/intensity/2024-06-01T12:00Z/fw48h"]
    assert (best.start_utc, best.end_utc) == (at(15), at(60))
    assert best.expected_gco2_per_kWh == (15 * 420 + 30 * 60) / 45 == 180.0
    assert best.now_gco2_per_kWh == (30 * 420 + 15 * 60) / 45 == 300.0
    assert (best.saving_gco2_per_kWh, best.saving_fraction) == (120.0, 0.4)
    assert (best.source, best.basis) == (
        "Carbon Intensity API (NESO) /intensity/{from}/fw48h forecast",
        "direct",
    )


def test_regional_gb_forecast_by_postcode():
    periods = {at(0): (300.0, 290.0), at(30): (100.0, None), at(60): (200.0, None)}
    with StubServer(CarbonIntensityGBStub(periods, now=T0, regional_data_as="list")) as server:
        best = recommend_start("GB-RG10", "30m", base_url=server.url, now=fixed(at(5)))
    assert server.requests[0].path == "/regional/intensity/2024-06-01T12:05Z/fw48h/postcode/RG10"
    assert (best.zone, best.start_utc, best.expected_gco2_per_kWh) == ("GB-RG10", at(30), 100.0)
    assert best.now_gco2_per_kWh == (25 * 300 + 5 * 100) / 30


def test_a_flat_forecast_says_start_now():
    with StubServer(dk_stub([150.0] * 24)) as server:
        best = recommend_start("DK2", "1h", base_url=server.url, now=fixed(at(2)))
    assert (best.start_utc, best.saving_gco2_per_kWh, best.saving_fraction) == (at(2), 0.0, 0.0)
    assert best.sentence() == (
        "Start now: no 1 h window in the next 1 h 58 min of the DK2 forecast is cleaner "
        "(expected 150 g/kWh).\nForecast: Energi Data Service CO2EmisProg (DK2); basis: direct."
    )


def test_a_gap_in_the_forecast_is_never_recommended():
    # the 80s from 13:00 are missing (null rows): the low window is not trusted
    values = [200.0] * 12 + [None] * 6 + [50.0] * 6 + [300.0] * 12
    with StubServer(dk_stub(values)) as server:
        best = recommend_start("DK1", "30m", base_url=server.url, now=fixed(at(2)))
    assert (best.start_utc, best.expected_gco2_per_kWh) == (at(90), 50.0)
    # no 1 h window before 13:30 is whole; "now" is the mean of its known 58 min
    with StubServer(dk_stub(values)) as server:
        best = recommend_start("DK1", "1h", base_url=server.url, now=fixed(at(2)))
    assert (best.start_utc, best.expected_gco2_per_kWh) == (at(90), (30 * 50 + 30 * 300) / 60)
    assert (best.expected_gco2_per_kWh, best.now_gco2_per_kWh) == (175.0, 200.0)


# -- errors ---------------------------------------------------------------------------------------


def test_a_forecast_shorter_than_the_run_is_refused(dk_server):
    message = (
        r"the DK1 forecast reaches 2 h 58 min ahead \(to 2024-06-01 15:00 UTC\): "
        r"too short for a 3 h run"
    )
    with pytest.raises(NoForecast, match=message):
        recommend_start("DK1", "3h", base_url=dk_server.url, now=fixed(at(2)))


def test_a_run_longer_than_the_horizon_is_refused_before_asking(dk_server):
    with pytest.raises(NoForecast, match=r"a 49 h run does not fit in the 48 h searched ahead"):
        recommend_start("DK1", "49h", base_url=dk_server.url)
    with pytest.raises(NoForecast, match=r"a 2 h run does not fit in the 1.5 h searched ahead"):
        recommend_start("DK1", "2h", within="90m", base_url=dk_server.url)
    assert dk_server.requests == []


def test_a_zone_without_a_forecast_names_the_zones_with_one(monkeypatch):
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    with pytest.raises(NoForecast) as raised:
        recommend_start("DE", "6h")
    message = str(raised.value)
    assert message.startswith("no forecast for zone 'DE': live intensity for zone 'DE' comes")
    assert "ELECTRICITYMAPS_TOKEN" in message
    assert message.endswith(f"forecasts exist for {when.FORECAST_ZONES}")
    assert "DK1 and DK2 (Energi Data Service), GB and GB-<outward postcode>" in message


def test_an_electricity_maps_plan_without_forecasts(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "token")
    stub = ElectricityMapsStub("token", latest={}, forecast=None)
    with StubServer(stub) as server:
        with pytest.raises(NoForecast) as raised:
            recommend_start("DE", "6h", base_url=server.url + "/v3", now=fixed(T0))
    assert server.requests[0].path == "/v3/carbon-intensity/forecast"
    assert str(raised.value).startswith(
        "Electricity Maps gives no forecast for zone 'DE' with the token in ELECTRICITYMAPS_TOKEN"
    )
    assert str(raised.value).endswith(f"forecasts exist for {when.FORECAST_ZONES}")


def test_an_electricity_maps_forecast_is_used_where_the_plan_has_one(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "token")
    hours = [
        {"datetime": f"2024-06-01T{h}:00:00.000Z", "carbonIntensity": v}
        for h, v in [(12, 400), (13, 250), (14, 100), (15, 300)]
    ]
    with StubServer(ElectricityMapsStub("token", latest={}, forecast=hours)) as server:
        best = recommend_start("DE", "2h", base_url=server.url + "/v3", now=fixed(T0))
    assert (best.start_utc, best.expected_gco2_per_kWh) == (at(60), (250 + 100) / 2)
    assert (best.now_gco2_per_kWh, best.basis) == ((400 + 250) / 2, "lifecycle")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", timedelta(hours=6)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2.5h", timedelta(hours=2, minutes=30)),
        (" 1H 15M ", timedelta(minutes=75)),
        (".5h", timedelta(minutes=30)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "6", "6x", "h", "-1h", "30m1h", "1.5.2h", "6 hours", "1d"])
def test_bad_durations_are_refused_quoting_them(text):
    with pytest.raises(ValueError, match=rf"such as '6h', '90m', '1h30m' or '2.5h', got {text!r}"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0h", "0m", "0h0m"])
def test_a_zero_duration_is_refused(text):
    with pytest.raises(ValueError, match=rf"a duration must be longer than zero, got '{text}'"):
        parse_duration(text)


def test_a_non_positive_timedelta_is_refused():
    with pytest.raises(ValueError, match=r"duration must be longer than zero"):
        recommend_start("DK1", timedelta(0))


# -- the command ----------------------------------------------------------------------------------


def run_when(argv, monkeypatch):
    """``when``'s command through a parser built by its own ``register_cli``, at a fixed time."""
    monkeypatch.setattr(
        when, "recommend_start", functools.partial(recommend_start, now=fixed(at(2)))
    )
    parser = argparse.ArgumentParser(prog="lightning-carbon")
    when.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["when", *argv])
    return args.func(args)


def test_cli_text_answer(dk_server, monkeypatch, capsys):
    code = run_when(["--zone", "DK1", "--duration", "1h", "--base-url", dk_server.url], monkeypatch)
    assert code == 0
    assert capsys.readouterr().out == (
        "Start DK1 at 2024-06-01 13:00 UTC (in 58 min), end at 2024-06-01 14:00 UTC: expected "
        "100 g/kWh against 196 if started now, 49% (96 g/kWh) less.\n"
        "Forecast: Energi Data Service CO2EmisProg (DK1); basis: direct.\n"
    )


def test_cli_json_answer(dk_server, monkeypatch, capsys):
    argv = ["--zone", "DK1", "--duration", "60m", "--base-url", dk_server.url, "--json"]
    assert run_when(argv, monkeypatch) == 0
    assert json.loads(capsys.readouterr().out) == {
        "zone": "DK1",
        "duration_s": 3600.0,
        "now_utc": "2024-06-01T12:02:00+00:00",
        "start_utc": "2024-06-01T13:00:00+00:00",
        "end_utc": "2024-06-01T14:00:00+00:00",
        "expected_gco2_per_kWh": 100.0,
        "now_gco2_per_kWh": 196.0,
        "saving_gco2_per_kWh": 96.0,
        "saving_fraction": 96.0 / 196.0,
        "forecast_until_utc": "2024-06-01T15:00:00+00:00",
        "source": "Energi Data Service CO2EmisProg (DK1)",
        "basis": "direct",
    }


def test_cli_bad_duration_is_a_usage_error(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        run_when(["--zone", "DK1", "--duration", "6x"], monkeypatch)
    assert exited.value.code == 2
    assert "argument --duration: a duration is hours and/or minutes such as '6h'" in (
        capsys.readouterr().err
    )


def test_cli_provider_failure_is_one_error_line(dk_server, monkeypatch, capsys):
    dk_server.override = Reply(500, {"error": "down"})
    code = run_when(["--zone", "DK1", "--duration", "1h", "--base-url", dk_server.url], monkeypatch)
    assert code == 1
    assert capsys.readouterr().err == (
        "lightning-carbon when: error: could not get the DK1 forecast (HTTP 5xx: 500 "
        f"Internal Server Error (down) from {dk_server.url}/dataset/CO2EmisProg)\n"
    )


@pytest.mark.skipif(
    "lightning_carbon.when" not in cli._SUBCOMMAND_MODULES, reason="when is not wired into cli"
)
def test_lightning_carbon_when_through_the_main_command(dk_server, monkeypatch, capsys):
    monkeypatch.setattr(
        when, "recommend_start", functools.partial(recommend_start, now=fixed(at(2)))
    )
    argv = ["when", "--zone", "DK1", "--duration", "1h", "--base-url", dk_server.url, "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["start_utc"] == "2024-06-01T13:00:00+00:00"
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    assert cli.main(["when", "--zone", "DE", "--duration", "6h"]) == 2
    assert capsys.readouterr().err.startswith(
        "lightning-carbon when: error: no forecast for zone 'DE': "
    )

"""Energy x PUE x intensity, PUE choices, human equivalents and unit helpers."""

from __future__ import annotations

import math

import pytest

from lightning_carbon import footprint as footprint_module
from lightning_carbon.data import read_csv_rows
from lightning_carbon.footprint import (
    J_PER_KWH,
    Equivalent,
    Pue,
    car_km,
    emissions,
    equivalents,
    footprint,
    format_mass,
    joules_to_kWh,
    resolve_pue,
)
from lightning_carbon.intensity.table import CarbonIntensity, country_intensity

GRID_200 = CarbonIntensity(200.0, "Test grid", "TST", 2024, "test", "lifecycle")


# --- units ----------------------------------------------------------------------------------


def test_joules_to_kWh():
    assert J_PER_KWH == 3.6e6
    assert joules_to_kWh(3.6e6) == 1.0
    assert joules_to_kWh(900.0) == 0.00025


@pytest.mark.parametrize(
    ("gco2e", "text"),
    [
        (12.34, "12.3 gCO2e"),
        (0.00123, "0.00123 gCO2e"),
        (999.0, "999 gCO2e"),
        (4560.0, "4.56 kgCO2e"),
        (1.23e6, "1.23 tCO2e"),
    ],
)
def test_format_mass(gco2e, text):
    assert format_mass(gco2e) == text


# --- footprint ------------------------------------------------------------------------------


def test_footprint_is_energy_times_pue_times_intensity():
    result = footprint(2.0, GRID_200, resolve_pue(1.5))
    assert result.energy_kWh == 2.0
    assert result.facility_energy_kWh == 3.0
    assert result.gco2e == 600.0
    assert result.pue == Pue(1.5, "user-given")
    assert result.intensity is GRID_200


def test_footprint_with_a_country_and_the_workstation_default():
    result = footprint(1.0, country_intensity("DNK"), resolve_pue(None))
    assert (result.facility_energy_kWh, result.gco2e) == (1.0, 143.3)


def test_zero_energy_emits_nothing():
    assert footprint(0.0, GRID_200, resolve_pue("datacentre")).gco2e == 0.0


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_bad_energy_is_refused_quoting_it(bad):
    with pytest.raises(ValueError, match="energy") as error:
        footprint(bad, GRID_200, resolve_pue(None))
    assert repr(bad) in str(error.value)


# --- PUE ------------------------------------------------------------------------------------


def test_pue_default_is_a_workstation():
    assert resolve_pue(None) == Pue(1.0, "workstation default (no data-centre overhead)")


@pytest.mark.parametrize(("given", "value"), [(1, 1.0), (1.5, 1.5), ("1.25", 1.25)])
def test_pue_numbers(given, value):
    assert resolve_pue(given) == Pue(value, "user-given")


@pytest.mark.parametrize(
    ("name", "value", "year"),
    [
        ("datacentre", 1.56, "2024"),
        ("Datacentre", 1.56, "2024"),
        ("uptime-2024", 1.56, "2024"),
        ("uptime-2020", 1.59, "2020"),
        ("UPTIME-2023", 1.58, "2023"),
    ],
)
def test_pue_surveys_by_name(name, value, year):
    pue = resolve_pue(name)
    assert pue.value == value
    assert pue.source.endswith(f"(average; pue.csv row uptime-{year})")


def test_every_survey_year_is_selectable():
    for row in read_csv_rows("pue.csv"):
        assert resolve_pue(f"uptime-{row['year']}").value == float(row["avg_pue"])


@pytest.mark.parametrize("bad", [0.99, 0.0, -1.0, math.nan, math.inf, "0.5", "nan"])
def test_bad_pue_numbers_are_refused_quoting_them(bad):
    with pytest.raises(ValueError, match=">= 1.0") as error:
        resolve_pue(bad)
    assert repr(bad) in str(error.value)


def test_unknown_pue_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown PUE 'no-such-survey'") as error:
        resolve_pue("no-such-survey")
    assert "datacentre, uptime-2007" in str(error.value)
    assert "uptime-2024" in str(error.value)


@pytest.mark.parametrize("bad", [True, [1.5]])
def test_pue_of_the_wrong_type_is_refused(bad):
    with pytest.raises(ValueError, match=r"PUE must be a number") as error:
        resolve_pue(bad)
    assert repr(bad) in str(error.value)


# --- equivalents ----------------------------------------------------------------------------


def test_car_km_uses_the_eea_2024_new_car_average():
    assert car_km(1068.0) == Equivalent(
        10.0,
        "km",
        "driving an average new car in the EU",
        "EEA, average new car registered in the EU, 2024",
    )


def test_equivalents_start_with_the_car_and_use_the_table_factors():
    found = equivalents(60_000.0)
    assert [(e.what, e.unit) for e in found] == [
        ("driving an average new car in the EU", "km"),
        ("streaming video", "h"),
        ("one tree absorbing CO2", "years"),
        ("one passenger flying Paris to London, one way", "trips"),
    ]
    assert found[0] == car_km(60_000.0)
    assert found[1].value == pytest.approx(60_000.0 / 36.0)  # 36 g per hour
    assert found[2].value == pytest.approx(60_000.0 / 11_000.0)  # 11 kg per tree-year
    assert found[3].value == pytest.approx(60_000.0 / 50_000.0)  # 50 kg per passenger
    assert all(e.source for e in found)


def test_no_equivalent_below_one_gram():
    assert equivalents(0.999) == [] and equivalents(0.0) == [] and equivalents(-5.0) == []
    assert equivalents(float("nan")) == []


@pytest.mark.parametrize(
    ("gco2e", "expected"),
    [
        # 1.0 g: 9.4 m by car and 100 s of video; no tree month (917 g), no flight
        (1.0, [("m", 1000.0 / 106.8), ("min", 60.0 / 36.0)]),
        # 0.05 kg: still metres by car, and the video passes one hour at 36 g
        (50.0, [("m", 50_000.0 / 106.8), ("h", 50.0 / 36.0)]),
        # 917 g is a tree month; 106.8 g is 1 km
        (917.0, [("km", 917.0 / 106.8), ("h", 917.0 / 36.0), ("months", 917.0 / 11_000 * 12)]),
        # 0.6 t pays for the New York - San Francisco flight (570 kg) once, not Melbourne
        (
            600_000.0,
            [("km", 600_000.0 / 106.8), ("h", 600_000.0 / 36.0), ("years", 600_000.0 / 11_000)],
        ),
        # 10 t: over 100 000 h of video (left out); New York - Melbourne (2.31 t) 4.3 times
        (1e7, [("km", 1e7 / 106.8), ("years", 1e7 / 11_000), ("trips", 1e7 / 2_310_000)]),
    ],
)
def test_equivalent_units_follow_the_magnitude(gco2e, expected):
    found = [(e.unit, e.value) for e in equivalents(gco2e)][: len(expected)]
    assert [unit for unit, _ in found] == [unit for unit, _ in expected]
    assert [value for _, value in found] == pytest.approx([value for _, value in expected])
    for e in equivalents(gco2e):
        assert 1.0 <= e.value < 1e5 and e.source


def test_the_longest_flight_paid_for_once_is_the_one_shown():
    flights = [e for e in equivalents(600_000.0) if e.unit == "trips"]
    assert [(e.what, round(e.value, 3)) for e in flights] == [
        ("one passenger flying New York to San Francisco, one way", round(600 / 570, 3))
    ]


def test_factors_marked_unverified_are_left_out(monkeypatch):
    rows = read_csv_rows("conversion_factors.csv")
    for row in rows:
        if row["name"] == "netflix_streaming_hour":
            row["status"] = "UNVERIFIED: checking"
    monkeypatch.setattr(footprint_module, "read_csv_rows", lambda name: rows)
    footprint_module._factors.cache_clear()
    try:
        whats = [e.what for e in equivalents(1000.0)]
        factors = footprint_module._factors()
    finally:
        footprint_module._factors.cache_clear()  # the real table again for later tests
    assert "streaming video" not in whats and "one tree absorbing CO2" in whats
    assert "smartphone_charge" not in factors


def test_an_equivalent_counts_from_exactly_one_to_under_100_000():
    # 36 g is exactly 1 h of video; 3.6 t exactly 100 000 h, too many to picture
    assert [(e.unit, e.value) for e in equivalents(36.0) if e.what == "streaming video"] == [
        ("h", 1.0)
    ]
    assert [e for e in equivalents(3.6e6) if e.what == "streaming video"] == []
    assert [e.value for e in equivalents(3.6e6 - 36.0) if e.what == "streaming video"] == [99_999.0]


def test_emissions_prices_at_a_given_intensity_over_the_country():
    result = emissions(2.0, country="DNK", carbon_intensity=150.0, pue=1.5)
    assert result.gco2e == pytest.approx(450.0)
    assert result.intensity.gco2_per_kWh == 150.0

"""The shipped carbon-intensity table: look-ups, exact values, refusals."""

from __future__ import annotations

import math

import pytest

from lightning_carbon import intensity
from lightning_carbon.data import read_csv_rows
from lightning_carbon.intensity import table
from lightning_carbon.intensity.table import (
    CarbonIntensity,
    NoIntensityValue,
    check_intensity,
    country_intensity,
    world_intensity,
)

OWID_SOURCE = (
    "OWID grapher 'carbon-intensity-electricity' (lifecycle gCO2eq/kWh; Ember Yearly "
    "Electricity Data 2025 + Energy Institute Statistical Review 2025)"
)


@pytest.mark.parametrize("query", ["DNK", "dnk", "DK", "dk", "Denmark", "denmark", "  DENMARK "])
def test_denmark_by_code_and_name(query):
    assert country_intensity(query) == CarbonIntensity(
        gco2_per_kWh=143.3,
        region="Denmark",
        code="DNK",
        year=2024,
        source=OWID_SOURCE,
        basis="lifecycle",
        time=None,
        is_live=False,
    )


@pytest.mark.parametrize(
    ("query", "code", "region", "gco2_per_kWh", "year"),
    [
        ("United Kingdom", "GBR", "United Kingdom", 210.89, 2024),
        ("GB", "GBR", "United Kingdom", 210.89, 2024),
        ("UK", "GBR", "United Kingdom", 210.89, 2024),
        ("usa", "USA", "United States", 383.55, 2024),
        ("Côte d'Ivoire", "CIV", "Cote d'Ivoire", 393.53, 2023),  # accents ignored
        ("Korea, Republic of", "KOR", "South Korea", 414.27, 2024),  # the ISO 3166 name
        ("XK", "XKX", "Kosovo", 958.72, 2024),
        ("CAF", "CAF", "Central African Republic", 0.0, 2022),  # zero is a value, not missing
        ("WORLD", "OWID_WRL", "World", 473.01, 2024),
        ("world", "OWID_WRL", "World", 473.01, 2024),
        ("OWID_WRL", "OWID_WRL", "World", 473.01, 2024),
        ("EU27", "EU27", "European Union (27)", 213.31, 2024),
        ("EU", "EU27", "European Union (27)", 213.31, 2024),
    ],
)
def test_lookups_give_the_table_values(query, code, region, gco2_per_kWh, year):
    found = country_intensity(query)
    assert (found.code, found.region, found.gco2_per_kWh, found.year, found.basis) == (
        code,
        region,
        gco2_per_kWh,
        year,
        "lifecycle",
    )


def test_world_intensity():
    world = world_intensity()
    assert (world.code, world.gco2_per_kWh, world.year) == ("OWID_WRL", 473.01, 2024)
    assert world.source.startswith(OWID_SOURCE) and "aggregate" in world.source


def test_every_country_of_the_table_is_found_by_its_alpha2_code():
    codes = {row["iso3"] for row in read_csv_rows("carbon_intensity_by_country.csv")}
    alpha2_by_alpha3 = {row["alpha3"]: row["alpha2"] for row in read_csv_rows("iso3166.csv")}
    countries = codes - {"OWID_WRL", "EU27"}
    assert len(countries) == 214
    assert countries <= set(alpha2_by_alpha3)
    for code in countries:
        assert country_intensity(alpha2_by_alpha3[code]).code == code


@pytest.mark.parametrize(
    ("query", "suggestion"),
    [("Denmrk", "'Denmark'"), ("Untied States", "'United States'"), ("Swedn", "'Sweden'")],
)
def test_unknown_names_suggest_close_matches(query, suggestion):
    with pytest.raises(ValueError, match=f"unknown country or region '{query}'") as error:
        country_intensity(query)
    assert f"did you mean {suggestion}" in str(error.value)


@pytest.mark.parametrize("query", ["ZZZ", "QQ", "", "Atlantis"])
def test_unknown_input_without_close_match_says_what_is_accepted(query):
    with pytest.raises(ValueError, match="ISO 3166-1 code") as error:
        country_intensity(query)
    assert repr(query) in str(error.value)


@pytest.mark.parametrize("query", ["MCO", "MC", "Monaco", "monaco"])
def test_a_country_without_value_is_refused_not_invented(query):
    with pytest.raises(NoIntensityValue, match=r"no value for Monaco \(MCO\)"):
        country_intensity(query)
    assert issubclass(NoIntensityValue, ValueError)


def test_an_empty_cell_in_the_table_is_no_value(monkeypatch):
    rows = {
        "carbon_intensity_by_country.csv": [
            {"iso3": "DNK", "country": "Denmark", "gco2_per_kwh": "", "year": "", "source": "x"},
            {
                "iso3": "SWE",
                "country": "Sweden",
                "gco2_per_kwh": "35.82",
                "year": "",
                "source": "x",
            },
        ],
        "iso3166.csv": [{"alpha2": "DK", "alpha3": "DNK", "name": "Denmark"}],
    }
    monkeypatch.setattr(table, "read_csv_rows", rows.__getitem__)
    table._table.cache_clear()
    try:
        with pytest.raises(NoIntensityValue, match=r"no value for Denmark \(DNK\)"):
            country_intensity("DK")
        assert country_intensity("Sweden").year is None
    finally:
        table._table.cache_clear()


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (250, 250.0), (12.5, 12.5)])
def test_check_intensity_accepts_finite_non_negative_numbers(value, expected):
    checked = check_intensity(value)
    assert checked == expected and isinstance(checked, float)


@pytest.mark.parametrize("bad", [-1.0, -0.001, math.nan, math.inf, -math.inf, "abc", None])
def test_check_intensity_refuses_bad_values_quoting_them(bad):
    with pytest.raises(ValueError, match="carbon intensity") as error:
        check_intensity(bad)
    assert repr(bad) in str(error.value)


def test_the_package_reexports_the_table():
    assert intensity.country_intensity is country_intensity
    assert intensity.CarbonIntensity is CarbonIntensity
    assert set(intensity.__all__) == {
        "CarbonIntensity",
        "NoIntensityValue",
        "check_intensity",
        "country_intensity",
        "world_intensity",
    }


def test_read_csv_rows_gives_fresh_rows_and_refuses_unknown_files():
    first = read_csv_rows("pue.csv")
    first.clear()
    assert read_csv_rows("pue.csv")[-1]["year"] == "2025"
    with pytest.raises(FileNotFoundError):
        read_csv_rows("no-such-table.csv")

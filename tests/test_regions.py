"""Region what-if: the shipped tables' values (this vintage), priced exactly."""

from __future__ import annotations

import pytest

from lightning_carbon.intensity.table import CarbonIntensity, NoIntensityValue
from lightning_carbon.regions import DEFAULT_REGIONS, resolve_region, what_if

# values of the shipped tables, pinned to this vintage
TABLE = {"DNK": 143.3, "EST": 341.02, "EU27": 213.31, "USA": 383.55, "WORLD": 473.01}
OWN = {
    "gco2_per_kWh": 250.0,
    "region": "our lab",
    "code": "LAB",
    "year": 2025,
    "source": "a site meter",
    "basis": "direct",
    "time": None,
    "is_live": False,
}


def test_default_regions_are_priced_at_energy_times_pue_times_intensity():
    rows = what_if(2.0, 1.5)
    assert [r.name for r in rows] == list(DEFAULT_REGIONS) == list(TABLE)
    for row in rows:
        assert row.intensity.gco2_per_kWh == TABLE[row.name]
        assert row.gco2e == 2.0 * 1.5 * TABLE[row.name]
        assert row.facility_energy_kWh == 3.0 and row.energy_kWh == 2.0 and row.pue == 1.5
        assert row.intensity.basis == "lifecycle" and row.intensity.year == 2024
        assert "OWID" in row.intensity.source
        assert not row.own and not row.deprecated and row.note is None


def test_the_runs_own_grid_comes_first():
    rows = what_if(0.5, 1.0, ["DNK"], own=OWN)
    assert [(r.name, r.own, r.gco2e) for r in rows] == [
        ("LAB", True, 0.5 * 1.0 * 250.0),
        ("DNK", False, 0.5 * 1.0 * 143.3),
    ]
    assert rows[0].intensity == CarbonIntensity(**OWN)


def test_a_listed_region_that_is_the_own_grid_is_marked_not_repeated():
    own = CarbonIntensity(143.3, "Denmark", "DNK", 2024, "OWID", "lifecycle")
    rows = what_if(1.0, 1.0, ["EST", "DNK"], own=own)
    assert [(r.name, r.own) for r in rows] == [("EST", False), ("DNK", True)]


def test_cloud_region_uses_its_most_recent_year():
    for name in ("gcp:europe-north1", "europe-north1", "GCP:Europe-North1"):
        (row,) = what_if(2.0, 1.5, [name])
        assert row.name == name
        assert row.intensity.code == "gcp:europe-north1"
        # the table holds 2019 (181, lifecycle) ... 2023 (46) and 2024 (39.32, operational)
        assert (row.intensity.gco2_per_kWh, row.intensity.year) == (39.32, 2024)
        assert row.intensity.basis == "direct"
        assert "region-carbon-info" in row.intensity.source
        assert row.gco2e == 2.0 * 1.5 * 39.32 and not row.deprecated


def test_deprecated_cloud_row_is_flagged():
    (row,) = what_if(1.0, 1.0, ["aws:us-east-1"])
    assert row.deprecated and row.gco2e == 367.8
    assert row.note.startswith("DEPRECATED") and row.intensity.year is None
    assert row.intensity.basis == "unknown"


def test_a_current_row_wins_over_a_deprecated_one_of_the_same_region():
    # azure "eastus" is only in a deprecated row, "East US" in a current one: one region
    for name in ("azure:eastus", "East US", "eastus"):
        intensity = resolve_region(name)
        assert (intensity.code, intensity.gco2_per_kWh, intensity.year) == (
            "azure:East US",
            308.0,
            2020,
        )
    (row,) = what_if(1.0, 1.0, ["East US"])
    assert not row.deprecated and "not the provider's own figure" in row.note


def test_subnational_region_says_its_table_is_older():
    (row,) = what_if(2.0, 1.5, ["US-CA"])
    assert (row.intensity.gco2_per_kWh, row.intensity.year) == (216.43, 2020)
    assert row.intensity.region == "California, United States of America"
    assert row.gco2e == 2.0 * 1.5 * 216.43
    assert "older than the country table" in row.note
    assert "Green" in row.intensity.source and row.intensity.basis == "unknown"


def test_bidding_zone_keeps_its_weak_source_note():
    (row,) = what_if(1.0, 1.0, ["SE3"])
    assert (row.gco2e, row.intensity.year) == (18.0, 2024)
    assert "WEAK SOURCE" in row.note and "older" not in row.note


def test_countries_win_over_the_older_subnational_rows():
    # "TW" is an ISO-2 code (TWN, 2024) and a Green Algorithms region row (509): the newer wins
    assert (resolve_region("TW").code, resolve_region("TW").gco2_per_kWh) == ("TWN", 635.65)


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("europe-nort1", "europe-north1"),
        ("gcp:europe-nort1", "gcp:europe-north1"),
        ("US-XX", "US-TX"),
        ("Denmrak", "Denmark"),
    ],
)
def test_unknown_region_names_itself_and_close_matches(name, suggested):
    with pytest.raises(ValueError, match="close matches|did you mean") as error:
        resolve_region(name)
    assert repr(name) in str(error.value) and suggested in str(error.value)


def test_unknown_region_in_a_what_if_raises_before_any_row():
    with pytest.raises(ValueError, match="'Atlantis'"):
        what_if(1.0, 1.0, ["DNK", "Atlantis"])


def test_country_without_a_value_says_so():
    with pytest.raises(NoIntensityValue, match="Monaco"):
        resolve_region("MCO")


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_empty_region_name_raises(bad):
    with pytest.raises(ValueError, match="non-empty"):
        resolve_region(bad)


def test_bad_pue_raises():
    with pytest.raises(ValueError, match="PUE"):
        what_if(1.0, 0.5)


def test_to_dict_is_json_ready():
    import json

    (row,) = what_if(1.0, 1.0, ["aws:us-east-1"])
    data = json.loads(json.dumps(row.to_dict()))
    assert data["intensity"]["code"] == "aws:us-east-1" and data["deprecated"] is True

"""Where: what the same energy would have emitted on other grids.

A finished run's energy (kWh) and PUE, priced at the intensity of a list of regions. A region
is a country (ISO-3, ISO-2, name, ``EU27``, ``WORLD``), a cloud region (``gcp:europe-north1``,
or just ``europe-north1`` when no other provider has that name) or a sub-national grid
(``US-CA``, ``CA-QC``, ``AU-NSW``, ``SE3``...). Every row keeps its year, basis and source.

Example::

    >>> rows = what_if(2.0, 1.5, regions=["DNK", "gcp:europe-north1"])
    >>> [(r.name, r.gco2e == 2.0 * 1.5 * r.intensity.gco2_per_kWh) for r in rows]
    [('DNK', True), ('gcp:europe-north1', True)]
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from lightning_carbon.data import read_csv_rows
from lightning_carbon.footprint import footprint, resolve_pue
from lightning_carbon.intensity.table import CarbonIntensity, NoIntensityValue, country_intensity

DEFAULT_REGIONS = ("DNK", "EST", "EU27", "USA", "WORLD")
"""The regions of a what-if when none are given (the run's own is added)."""

_SUBNATIONAL_TYPES = ("Region", "BiddingZone")
"""Rows of ``subnational_regions.csv`` used here; its country rows are older than the
country table, which answers country names instead."""

_OLDER_NOTE = (
    "Green Algorithms sub-national table: mostly 2019-2020 data, older than the country table"
)

_YEAR = re.compile(r"(?:data from|year)\D{0,12}?((?:19|20)\d\d)", re.IGNORECASE)


@dataclass(frozen=True)
class RegionEmission:
    """The emissions of ``energy_kWh`` at ``pue`` on one region's grid.

    ``name`` is the region as asked; ``note`` says what to keep in mind about the figure
    (a deprecated cloud row, an older sub-national table); ``own`` marks the run's own grid.
    """

    name: str
    intensity: CarbonIntensity
    energy_kWh: float
    pue: float
    facility_energy_kWh: float
    gco2e: float
    own: bool = False
    deprecated: bool = False
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, the intensity as a nested dict."""
        return asdict(self)


@dataclass(frozen=True)
class _Region:
    intensity: CarbonIntensity
    deprecated: bool = False
    note: str | None = None


def resolve_region(name: str) -> CarbonIntensity:
    """The carbon intensity of a country, cloud region or sub-national region.

    Raises ``ValueError`` naming ``name`` and the closest known names when it is unknown.

    Example::

        >>> resolve_region("US-CA").code, resolve_region("gcp:europe-north1").year
        ('US-CA', 2024)
    """
    return _lookup(name).intensity


def what_if(
    energy_kWh: float,
    pue: float,
    regions: Sequence[str] | None = None,
    own: CarbonIntensity | dict[str, Any] | None = None,
) -> list[RegionEmission]:
    """What ``energy_kWh`` (IT energy) at ``pue`` would emit in each region, own grid first.

    ``regions`` defaults to :data:`DEFAULT_REGIONS`. ``own`` is the intensity the run used
    (a :class:`CarbonIntensity` or the ``intensity`` dict of ``summary.json``); a listed
    region with the same code and value is marked ``own`` instead of being repeated.

    Example::

        >>> own = {"gco2_per_kWh": 100.0, "region": "lab", "code": "LAB", "year": 2024,
        ...        "source": "meter", "basis": "direct"}
        >>> [(r.name, r.gco2e) for r in what_if(1.0, 1.0, ["WORLD"], own)][0]
        ('LAB', 100.0)
    """
    pue_used = resolve_pue(pue)
    asked = [(name, _lookup(name)) for name in (DEFAULT_REGIONS if regions is None else regions)]
    own_intensity = _as_intensity(own) if own is not None else None
    rows: list[tuple[str, _Region, bool]] = []
    if own_intensity is not None and not any(
        _same_grid(region.intensity, own_intensity) for _, region in asked
    ):
        rows.append((own_intensity.code or own_intensity.region, _Region(own_intensity), True))
    rows += [
        (name, region, own_intensity is not None and _same_grid(region.intensity, own_intensity))
        for name, region in asked
    ]
    emissions = []
    for name, region, is_own in rows:
        result = footprint(energy_kWh, region.intensity, pue_used)
        emissions.append(
            RegionEmission(
                name=name,
                intensity=region.intensity,
                energy_kWh=energy_kWh,
                pue=pue_used.value,
                facility_energy_kWh=result.facility_energy_kWh,
                gco2e=result.gco2e,
                own=is_own,
                deprecated=region.deprecated,
                note=region.note,
            )
        )
    return emissions


def _same_grid(a: CarbonIntensity, b: CarbonIntensity) -> bool:
    return a.code == b.code and a.gco2_per_kWh == b.gco2_per_kWh


def _as_intensity(own: CarbonIntensity | dict[str, Any]) -> CarbonIntensity:
    if isinstance(own, CarbonIntensity):
        return own
    known = {f.name for f in fields(CarbonIntensity)}
    try:
        return CarbonIntensity(**{k: v for k, v in own.items() if k in known})
    except TypeError as error:
        raise ValueError(f"own intensity {own!r} is not a CarbonIntensity dict: {error}") from None


# -- lookup ---------------------------------------------------------------------------------


def _key(name: str) -> str:
    """Case and spaces do not matter: ``East US`` and ``eastus`` are one Azure region."""
    return re.sub(r"\s+", "", name).lower()


def _lookup(name: str) -> _Region:
    """Countries first (the newest table), then sub-national codes, then cloud regions."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a region must be a non-empty name, got {name!r}")
    key = _key(name)
    cloud = _cloud()
    if key in cloud:
        return cloud[key]
    if ":" in key:
        raise _unknown(name, f"unknown cloud region {name!r}")
    try:
        return _Region(country_intensity(name))
    except NoIntensityValue:
        raise
    except ValueError as error:
        not_a_country = str(error)
    if key in _subnational():
        return _subnational()[key]
    qualified = sorted(r.intensity.code for k, r in cloud.items() if k.endswith(":" + key))
    if len(qualified) > 1:
        raise ValueError(
            f"region {name!r} exists at several cloud providers: name one of {qualified}"
        )
    if qualified:
        return cloud[_key(qualified[0])]
    raise _unknown(name, f"{not_a_country}; nor is it a cloud or sub-national region")


def _unknown(name: str, message: str) -> ValueError:
    """The error for an unknown ``name``, with the closest cloud and sub-national names."""
    known = _known_names(qualified=":" in name)
    close = [known[k] for k in difflib.get_close_matches(_key(name), known, n=5, cutoff=0.6)]
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return ValueError(message + hint)


def _known_names(qualified: bool) -> dict[str, str]:
    """Cloud and sub-national names: lookup key -> the name as the tables write it.

    Cloud regions by ``provider:region`` when ``qualified``, else by the bare region name.
    """
    names = {key: region.intensity.code for key, region in _subnational().items()}
    for key, region in _cloud().items():
        code = region.intensity.code
        if qualified:
            names[key] = code
        else:
            names[key.split(":", 1)[1]] = code.split(":", 1)[1]
    return names


def _year_in(*texts: str) -> int | None:
    for text in texts:
        match = _YEAR.search(text or "")
        if match:
            return int(match.group(1))
    return None


@functools.cache
def _subnational() -> dict[str, _Region]:
    regions = {}
    for row in read_csv_rows("subnational_regions.csv"):
        if row["type"] not in _SUBNATIONAL_TYPES:
            continue
        year = _year_in(row["data_note"], row["source"])
        intensity = CarbonIntensity(
            gco2_per_kWh=float(row["gco2_per_kwh"]),
            region=f"{row['region']}, {row['country']}",
            code=row["region_code"],
            year=year,
            source=row["source"],
            basis="unknown",
        )
        notes = [_OLDER_NOTE if row["type"] == "Region" else "", row["data_note"]]
        regions[_key(row["region_code"])] = _Region(
            intensity, note="; ".join(n for n in notes if n) or None
        )
    return regions


_CLOUD_STATUS_RANK = ("primary", "codecarbon copy", "derived join")
"""Among current rows of one region and year: the provider's own figure first."""


def _cloud_rank(row: dict[str, str]) -> tuple[bool, int, int]:
    """Sort key: the best row of a region sorts last (current, newest, most primary)."""
    status = next(
        (i for i, s in enumerate(_CLOUD_STATUS_RANK) if row["status"].startswith(s)),
        len(_CLOUD_STATUS_RANK),
    )
    return (not _deprecated(row), _cloud_year(row) or 0, -status)


def _deprecated(row: dict[str, str]) -> bool:
    return row["status"].startswith("DEPRECATED")


def _cloud_year(row: dict[str, str]) -> int | None:
    return int(row["year"]) if row["year"] else _year_in(row["status"])


def _cloud_basis(row: dict[str, str]) -> str:
    basis = row["basis"].lower()
    if basis.startswith("operational"):
        return "direct"
    if basis.startswith("lifecycle"):
        return "lifecycle"
    return "unknown"


@functools.cache
def _cloud() -> dict[str, _Region]:
    """``provider:region`` -> the region's most recent current row (deprecated if no other)."""
    best: dict[str, dict[str, str]] = {}
    for row in read_csv_rows("cloud_regions.csv"):
        key = f"{row['provider']}:{_key(row['region'])}"
        if key not in best or _cloud_rank(row) > _cloud_rank(best[key]):
            best[key] = row
    regions = {}
    for key, row in best.items():
        places = (row["location"], row["state"], row["country"])
        place = ", ".join(dict.fromkeys(p for p in places if p))
        intensity = CarbonIntensity(
            gco2_per_kWh=float(row["gco2_per_kwh"]),
            region=f"{row['provider']} {row['region']} ({place})",
            code=f"{row['provider']}:{row['region']}",
            year=_cloud_year(row),
            source=row["source"],
            basis=_cloud_basis(row),
        )
        note = None
        if _deprecated(row):
            note = row["status"]
        elif row["status"].startswith("derived join"):
            note = f"regional grid factor, not the provider's own figure ({row['status']})"
        regions[key] = _Region(intensity, deprecated=_deprecated(row), note=note)
    return regions

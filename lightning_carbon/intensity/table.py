"""Yearly carbon intensity of electricity by country, from the shipped table.

The table (``data/carbon_intensity_by_country.csv``) is Our World in Data's
``carbon-intensity-electricity`` series: **lifecycle** gCO2e per kWh of the production mix, the
most recent year per country. A country is found by ISO 3166-1 alpha-3 or alpha-2 code, by
name (case and accents ignored), or as ``"WORLD"`` and ``"EU27"`` (also ``"EU"``). A country
the table has no value for raises :class:`NoIntensityValue`: no number is ever made up.

Example::

    >>> dk = country_intensity("DK")
    >>> dk.gco2_per_kWh, dk.region, dk.code, dk.year, dk.basis
    (143.3, 'Denmark', 'DNK', 2024, 'lifecycle')
    >>> world_intensity().region
    'World'
"""

from __future__ import annotations

import difflib
import functools
import math
import unicodedata
from dataclasses import dataclass

from lightning_carbon.data import read_csv_rows

WORLD_CODE = "OWID_WRL"
EU_CODE = "EU27"
_ALIASES = {"WORLD": WORLD_CODE, "EU": EU_CODE, "UK": "GBR"}
"""Inputs that are neither an ISO code nor a name in the tables ("UK" is not ISO: GB is)."""


@dataclass(frozen=True)
class CarbonIntensity:
    """A carbon intensity of electricity with where it comes from.

    Args:
        gco2_per_kWh: grams of CO2-equivalent per kWh.
        region: display name, e.g. ``"Denmark"``.
        code: the region's code, e.g. ``"DNK"`` (a zone or cloud region for other providers).
        year: the year a yearly average stands for; ``None`` for live values.
        source: who published the value.
        basis: ``"lifecycle"`` or ``"direct"`` (operational) emissions, or ``"unknown"``.
        time: ISO-8601 UTC time of a live value; ``None`` for yearly averages.
        is_live: whether the value comes from a live provider.

    Example::

        >>> CarbonIntensity(200.0, "Somewhere", "XYZ", 2024, "a table", "lifecycle").is_live
        False
    """

    gco2_per_kWh: float
    region: str
    code: str
    year: int | None
    source: str
    basis: str
    time: str | None = None
    is_live: bool = False


class NoIntensityValue(ValueError):
    """The region is known but the table has no intensity for it."""


@dataclass(frozen=True)
class _Country:
    code: str
    name: str
    gco2_per_kWh: float | None
    year: int | None
    source: str


@dataclass(frozen=True)
class _Table:
    by_code: dict[str, _Country]
    code_by_alpha2: dict[str, str]
    by_name_key: dict[str, tuple[str, str]]  # name key -> (name as spelled, alpha-3 code)


def check_intensity(value: float) -> float:
    """A user-given intensity in gCO2e/kWh as a float; negative, NaN or infinite raise.

    Example::

        >>> check_intensity(250)
        250.0
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"carbon intensity must be a number of gCO2e/kWh, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"carbon intensity must be a finite number >= 0 gCO2e/kWh, got {value!r}")
    return number


def country_intensity(query: str) -> CarbonIntensity:
    """The yearly intensity of a country, or of ``"WORLD"`` / ``"EU27"``.

    ``query`` is an ISO 3166-1 alpha-3 (``"DNK"``) or alpha-2 (``"DK"``) code or a name
    (``"denmark"``). Raises ``ValueError`` naming close matches for an unknown query, and
    :class:`NoIntensityValue` for a country the table has no value for.

    Example::

        >>> country_intensity("United Kingdom").code
        'GBR'
    """
    table = _table()
    code = _find_code(table, query)
    country = table.by_code[code]
    if country.gco2_per_kWh is None:
        raise NoIntensityValue(
            f"the carbon-intensity table has no value for {country.name} ({code}); "
            "give the intensity in gCO2e/kWh yourself (carbon_intensity=...)"
        )
    return CarbonIntensity(
        gco2_per_kWh=country.gco2_per_kWh,
        region=country.name,
        code=code,
        year=country.year,
        source=country.source,
        basis="lifecycle",
    )


def world_intensity() -> CarbonIntensity:
    """The world average of the table (the default when no country is given)."""
    return country_intensity(WORLD_CODE)


def _find_code(table: _Table, query: str) -> str:
    text = str(query).strip()
    upper = text.upper()
    code = _ALIASES.get(upper, upper)
    if code in table.by_code:
        return code
    if code in table.code_by_alpha2:
        return table.code_by_alpha2[code]
    key = _name_key(text)
    if key in table.by_name_key:
        return table.by_name_key[key][1]
    close = difflib.get_close_matches(key, table.by_name_key, n=3, cutoff=0.75)
    if close:
        names = ", ".join(repr(table.by_name_key[match][0]) for match in close)
        hint = f"did you mean {names}?"
    else:
        hint = "use an ISO 3166-1 code (e.g. 'DNK' or 'DK'), a country name, 'WORLD' or 'EU27'"
    raise ValueError(f"unknown country or region {query!r}; {hint}")


def _name_key(name: str) -> str:
    """Case-folded, accents removed, whitespace collapsed (``Côte`` -> ``cote``)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


@functools.cache
def _table() -> _Table:
    return _build_table(
        read_csv_rows("carbon_intensity_by_country.csv"), read_csv_rows("iso3166.csv")
    )


def _build_table(intensity_rows: list[dict[str, str]], iso_rows: list[dict[str, str]]) -> _Table:
    """Join the intensity table with ISO 3166-1; ISO countries missing from it have no value."""
    by_code = {
        row["iso3"]: _Country(
            code=row["iso3"],
            name=row["country"],
            gco2_per_kWh=float(row["gco2_per_kwh"]) if row["gco2_per_kwh"].strip() else None,
            year=int(row["year"]) if row["year"].strip() else None,
            source=row["source"],
        )
        for row in intensity_rows
    }
    for row in iso_rows:
        by_code.setdefault(row["alpha3"], _Country(row["alpha3"], row["name"], None, None, ""))
    named = [(row["name"], row["alpha3"]) for row in iso_rows]
    named += [(country.name, country.code) for country in by_code.values()]
    return _Table(
        by_code=by_code,
        code_by_alpha2={row["alpha2"]: row["alpha3"] for row in iso_rows},
        by_name_key={_name_key(name): (name, code) for name, code in named},
    )

"""From energy to emissions: IT energy x PUE x carbon intensity, and what that compares to.

``gCO2e = energy_kWh x PUE x gCO2e/kWh``. The PUE (Power Usage Effectiveness) adds the
facility's cooling and power losses; it is 1.0 on a workstation and the survey average
(``"datacentre"``, Uptime Institute 2024: 1.56) in a typical data centre.

Example::

    >>> from lightning_carbon.intensity.table import CarbonIntensity
    >>> grid = CarbonIntensity(200.0, "Somewhere", "XYZ", 2024, "a table", "lifecycle")
    >>> result = footprint(2.0, grid, resolve_pue(1.5))
    >>> result.facility_energy_kWh, result.gco2e
    (3.0, 600.0)
    >>> car_km(result.gco2e).unit
    'km'
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from lightning_carbon.data import read_csv_rows
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.units import J_PER_KWH, format_mass, joules_to_kWh

__all__ = [
    "J_PER_KWH",
    "Equivalent",
    "Footprint",
    "Pue",
    "car_km",
    "emissions",
    "equivalents",
    "footprint",
    "format_mass",
    "joules_to_kWh",
    "resolve_pue",
]

WORKSTATION_PUE = 1.0
DATACENTRE_SURVEY = "uptime-2024"
"""The survey behind ``pue="datacentre"``: the newest year whose average Uptime published
itself (the 2025 figure in ``pue.csv`` is a secondary report, not confirmed)."""


@dataclass(frozen=True)
class Pue:
    """A Power Usage Effectiveness (facility energy / IT energy, >= 1) and where it comes from."""

    value: float
    source: str


@dataclass(frozen=True)
class Footprint:
    """The emissions of some IT energy at a given PUE and intensity.

    ``energy_kWh`` is what the metered devices drew; ``facility_energy_kWh`` adds the
    facility's overhead (``energy_kWh x pue.value``), which is what the grid supplied.
    """

    energy_kWh: float
    pue: Pue
    facility_energy_kWh: float
    intensity: CarbonIntensity
    gco2e: float


@dataclass(frozen=True)
class Equivalent:
    """An everyday comparison: emitting the same CO2e as ``what`` for ``value`` ``unit``."""

    value: float
    unit: str
    what: str
    source: str


EQUIVALENT_MIN_GCO2E = 1.0
"""Below this many grams no everyday comparison means anything (1 g is about 9 m by car), so
:func:`equivalents` gives none."""
EQUIVALENT_MAX_VALUE = 1e5
"""A comparison whose count reaches this (100 000 hours of video) is too large to picture."""


@dataclass(frozen=True)
class _Comparison:
    factor: str  # row name in conversion_factors.csv: grams per one of the first unit
    units: tuple[tuple[str, float], ...]  # (unit, how many make one factor unit), largest first
    what: str
    source: str

    def at(self, gco2e: float) -> Equivalent | None:
        """In the largest unit that reaches 1; ``None`` below 1 of the smallest, or too many."""
        if self.factor not in _factors():
            return None
        count = gco2e / _factors()[self.factor]
        unit, value = next(((u, count * per) for u, per in self.units if count * per >= 1), ("", 0))
        if not 1.0 <= value < EQUIVALENT_MAX_VALUE:
            return None
        return Equivalent(value, unit, self.what, self.source)


_GREEN_ALGORITHMS = "via the Green Algorithms calculator's reference values"
_CAR = _Comparison(
    "eu_new_car_2024",
    (("km", 1.0), ("m", 1000.0)),
    "driving an average new car in the EU",
    "EEA, average new car registered in the EU, 2024",
)
_BY_MAGNITUDE = (
    _Comparison(
        "netflix_streaming_hour",
        (("h", 1.0), ("min", 60.0)),
        "streaming video",
        f"Carbon Brief fact check of video streaming, 2020 ({_GREEN_ALGORITHMS})",
    ),
    _Comparison(
        "tree_year",
        (("years", 1.0), ("months", 12.0)),
        "one tree absorbing CO2",
        f"11 kg CO2 per tree and year ({_GREEN_ALGORITHMS})",
    ),
)
_FLIGHTS = tuple(
    _Comparison(
        factor,
        (("trips", 1.0),),
        f"one passenger flying {route}, one way",
        f"carbonfootprint.com flight calculator ({_GREEN_ALGORITHMS})",
    )
    for factor, route in (
        ("flight_NYC_MEL", "New York to Melbourne"),
        ("flight_NYC_SF_one_way", "New York to San Francisco"),
        ("flight_PAR_LON", "Paris to London"),
    )
)
"""Longest first: the longest flight that the emissions pay for at least once is shown."""


def resolve_pue(pue: float | str | None) -> Pue:
    """The PUE to use: ``None`` (a workstation, 1.0), a number >= 1, or a survey by name.

    Names are ``"datacentre"`` (the Uptime Institute 2024 average) and ``"uptime-<year>"`` for
    each survey year in ``data/pue.csv``. Anything else raises ``ValueError`` quoting it.

    Example::

        >>> resolve_pue(None).value, resolve_pue("datacentre").value, resolve_pue(1.2).value
        (1.0, 1.56, 1.2)
    """
    if pue is None:
        return Pue(WORKSTATION_PUE, "workstation default (no data-centre overhead)")
    if isinstance(pue, str):
        number = _parse_float(pue)
        return _check_pue(number, pue) if number is not None else _survey_pue(pue)
    if isinstance(pue, bool) or not isinstance(pue, (int, float)):
        raise ValueError(f"PUE must be a number >= 1.0 or a survey name, got {pue!r}")
    return _check_pue(float(pue), pue)


def footprint(energy_kWh: float, intensity: CarbonIntensity, pue: Pue) -> Footprint:
    """Emissions of ``energy_kWh`` of IT energy; negative, NaN or infinite energy raises.

    Example::

        >>> from lightning_carbon.intensity.table import country_intensity
        >>> round(footprint(1.0, country_intensity("DNK"), resolve_pue(None)).gco2e, 2)
        143.3
    """
    if not math.isfinite(energy_kWh) or energy_kWh < 0:
        raise ValueError(f"energy must be a finite number >= 0 kWh, got {energy_kWh!r}")
    facility_kWh = energy_kWh * pue.value
    return Footprint(
        energy_kWh=energy_kWh,
        pue=pue,
        facility_energy_kWh=facility_kWh,
        intensity=intensity,
        gco2e=facility_kWh * intensity.gco2_per_kWh,
    )


def emissions(
    energy_kWh: float,
    *,
    country: str | None = None,
    carbon_intensity: float | None = None,
    pue: float | str | None = None,
) -> Footprint:
    """The emissions of some IT energy where it was used: the quick answer, with provenance.

    ``country`` as ISO-3, ISO-2 or name (default: the world average); ``carbon_intensity`` in
    gCO2e/kWh overrides the table; ``pue`` as :func:`resolve_pue`.

    Example::

        >>> result = emissions(10.0, country="DNK", pue=1.2)
        >>> round(result.gco2e, 1), result.intensity.year, result.intensity.basis
        (1719.6, 2024, 'lifecycle')
    """
    from lightning_carbon.intensity.choice import resolve_intensity

    intensity = resolve_intensity(country, carbon_intensity, None).base
    return footprint(energy_kWh, intensity, resolve_pue(pue))


def car_km(gco2e: float) -> Equivalent:
    """The kilometres an average new EU car (EEA, 2024) drives emitting ``gco2e`` grams.

    Example::

        >>> car_km(106.8).value
        1.0
    """
    return Equivalent(gco2e / _factors()[_CAR.factor], "km", _CAR.what, _CAR.source)


def equivalents(gco2e: float) -> list[Equivalent]:
    """Everyday comparisons that mean something at the scale of ``gco2e`` grams, each sourced.

    None below :data:`EQUIVALENT_MIN_GCO2E`. The car comes first (in m below 1 km), then
    streaming video (min or h), a tree's uptake (months or years) and the longest flight paid
    for at least once; each only where it counts at least one of its smallest unit and fewer
    than :data:`EQUIVALENT_MAX_VALUE`. Factors the data marks as unverified are left out.

    Example::

        >>> equivalents(0.5)
        []
        >>> [(round(e.value), e.unit) for e in equivalents(50.0)]
        [(468, 'm'), (1, 'h')]
    """
    if not gco2e >= EQUIVALENT_MIN_GCO2E:
        return []
    found = [c.at(gco2e) for c in (_CAR, *_BY_MAGNITUDE)]
    found.append(next((e for e in (c.at(gco2e) for c in _FLIGHTS) if e), None))
    return [e for e in found if e is not None]


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _survey_pue(name: str) -> Pue:
    surveys = _pue_surveys()
    key = name.strip().lower()
    key = DATACENTRE_SURVEY if key == "datacentre" else key
    if key not in surveys:
        choices = ", ".join(["datacentre", *surveys])
        raise ValueError(f"unknown PUE {name!r}: give a number >= 1.0 or one of {choices}")
    return surveys[key]


def _check_pue(value: float, given: object) -> Pue:
    if not math.isfinite(value) or value < 1.0:
        raise ValueError(f"PUE must be a finite number >= 1.0, got {given!r}")
    return Pue(value, "user-given")


@functools.cache
def _pue_surveys() -> dict[str, Pue]:
    return {
        f"uptime-{row['year']}": Pue(
            float(row["avg_pue"]),
            f"{row['what']} (average; pue.csv row uptime-{row['year']})",
        )
        for row in read_csv_rows("pue.csv")
    }


@functools.cache
def _factors() -> dict[str, float]:
    """grams of CO2e per unit of each conversion factor the data does not mark unverified."""
    return {
        row["name"]: float(row["value"])
        for row in read_csv_rows("conversion_factors.csv")
        if "unverified" not in row["status"].lower()
    }

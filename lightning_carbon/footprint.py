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


@dataclass(frozen=True)
class _EquivalentSpec:
    factor: str  # row name in conversion_factors.csv
    per: float  # how many units the factor covers (e.g. 12 months for a per-year factor)
    unit: str
    what: str
    source: str


_CAR = _EquivalentSpec(
    "eu_new_car_2024",
    1.0,
    "km",
    "driving an average new car in the EU",
    "EEA, average new car registered in the EU, 2024",
)
_OTHER_EQUIVALENTS = (
    _EquivalentSpec(
        "train_per_passenger_km",
        1.0,
        "km",
        "travelling by train",
        "UK government GHG conversion factors 2020, rail (via the Green Algorithms calculator)",
    ),
    _EquivalentSpec(
        "flight_economy_per_passenger_km",
        1.0,
        "km",
        "flying economy class",
        "UK government GHG conversion factors 2020, economy flight "
        "(via the Green Algorithms calculator)",
    ),
    _EquivalentSpec(
        "tree_year",
        12.0,
        "months",
        "one tree absorbing CO2",
        "Green Algorithms calculator reference value: 11 kg CO2 per tree per year",
    ),
)


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
    return _equivalent(_CAR, gco2e)


def equivalents(gco2e: float) -> list[Equivalent]:
    """Everyday comparisons for ``gco2e`` grams: car km first, then train, flight, tree.

    Factors the data marks as unverified are left out.
    """
    return [car_km(gco2e)] + [
        _equivalent(spec, gco2e) for spec in _OTHER_EQUIVALENTS if spec.factor in _factors()
    ]


def _equivalent(spec: _EquivalentSpec, gco2e: float) -> Equivalent:
    return Equivalent(gco2e / _factors()[spec.factor] * spec.per, spec.unit, spec.what, spec.source)


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

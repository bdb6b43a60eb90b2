"""Whether a run's ``summary.json`` or one ``epochs.jsonl`` record can be used, and if not, why.

Each check returns the reason in words (quoting the bad value), or ``None`` when the data is
usable; nothing here raises on bad data. Only the fields the report reads are checked, so
records that gain fields stay readable.

Example::

    >>> summary_problem({"energy_kWh": 1.0, "gco2e": 2.0, "pue": {"value": 0.9}})
    "'pue' value is below 1 (0.9)"
    >>> record_problem({"stage": "test"})
    "'energy_kWh' is missing or not a number (None)"
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lightning_carbon.reading import EnergyReading

_RECORD_NUMBERS = ("energy_kWh", "facility_energy_kWh", "gco2e", "pue")
_TRAIN_NUMBERS = ("epoch", "total_gCO2e")


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool.

    Example::

        >>> is_number(1.5), is_number(True), is_number(float("nan")), is_number("2")
        (True, False, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def summary_problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a ``summary.json``, or ``None``."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key in ("energy_kWh", "gco2e"):
        if not is_number(data.get(key)):
            return f"{key!r} is missing or not a number ({data.get(key)!r})"
    for key in ("facility_energy_kWh", "duration_s", "epochs"):
        if key in data and not is_number(data[key]):
            return f"{key!r} is not a number ({data[key]!r})"
    if data["energy_kWh"] < 0:
        return f"'energy_kWh' is negative ({data['energy_kWh']!r})"
    by_component = data.get("energy_kWh_by_component", {})
    if not _numbers_by_name(by_component):
        return f"'energy_kWh_by_component' is not a mapping of numbers ({by_component!r})"
    for key, number in (("intensity", "gco2_per_kWh"), ("pue", "value")):
        part = data.get(key, {})
        if part and not (isinstance(part, dict) and is_number(part.get(number))):
            return f"{key!r} has no numeric {number!r} ({part!r})"
    pue = data.get("pue") or {"value": 1.0}
    if pue["value"] < 1.0:
        return f"'pue' value is below 1 ({pue['value']!r})"
    if data.get("facility_energy_kWh", data["energy_kWh"]) < data["energy_kWh"]:
        return f"'facility_energy_kWh' is below 'energy_kWh' ({data['facility_energy_kWh']!r})"
    return None


def record_problem(record: Any) -> str | None:
    """What makes one ``epochs.jsonl`` record unusable, or ``None``."""
    if not isinstance(record, dict):
        return "not a JSON object"
    needed = _RECORD_NUMBERS + (_TRAIN_NUMBERS if record.get("stage") == "train" else ())
    for key in needed:
        if not is_number(record.get(key)):
            return f"{key!r} is missing or not a number ({record.get(key)!r})"
    if record["pue"] < 1.0:
        return f"'pue' is below 1 ({record['pue']!r})"
    intensity = record.get("intensity")
    if not isinstance(intensity, dict) or not is_number(intensity.get("gco2_per_kWh")):
        return f"'intensity' has no numeric 'gco2_per_kWh' ({intensity!r})"
    forecast = record.get("forecast")
    if forecast is not None and not (
        isinstance(forecast, dict) and is_number(forecast.get("gco2e"))
    ):
        return f"'forecast' has no numeric 'gco2e' ({forecast!r})"
    return _reading_problem(record.get("reading"))


def _reading_problem(reading: Any) -> str | None:
    if not isinstance(reading, dict):
        return f"'reading' is not a JSON object ({reading!r})"
    try:
        EnergyReading.from_dict(reading)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return f"'reading' is malformed ({type(error).__name__}: {error})"
    by_component = reading.get("energy_J_by_component", {})
    if not _numbers_by_name(by_component):
        return f"'reading' has an 'energy_J_by_component' that is not numbers ({by_component!r})"
    provenance = reading.get("provenance_by_component", {})
    if not (
        isinstance(provenance, Mapping)
        and all(p is None or isinstance(p, str) for p in provenance.values())
    ):
        return f"'reading' has a 'provenance_by_component' that is not words ({provenance!r})"
    return None


def _numbers_by_name(value: Any) -> bool:
    return isinstance(value, Mapping) and all(map(is_number, value.values()))

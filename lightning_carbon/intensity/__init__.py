"""Carbon intensity of electricity: the shipped yearly table here, live providers in ``live``.

Example::

    >>> from lightning_carbon.intensity import country_intensity
    >>> country_intensity("FR").region
    'France'
"""

from __future__ import annotations

from lightning_carbon.intensity.table import (
    CarbonIntensity,
    NoIntensityValue,
    check_intensity,
    country_intensity,
    world_intensity,
)

__all__ = [
    "CarbonIntensity",
    "NoIntensityValue",
    "check_intensity",
    "country_intensity",
    "world_intensity",
]

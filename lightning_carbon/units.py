"""Unit constants and human-readable formatting of energy, mass and time.

Example::

    >>> format_energy(0.0123), format_mass(4567.0), format_duration(5400)
    ('12.3 Wh', '4.57 kgCO2e', '1 h 30 min')
"""

from __future__ import annotations

J_PER_KWH = 3.6e6


def joules_to_kWh(energy_J: float) -> float:
    """Joules to kilowatt-hours.

    Example::

        >>> joules_to_kWh(3.6e6)
        1.0
    """
    return energy_J / J_PER_KWH


def format_energy(energy_kWh: float) -> str:
    """kWh as Wh below 1 kWh, as MWh from 1000 kWh, three significant digits."""
    if abs(energy_kWh) >= 1000:
        return f"{energy_kWh / 1000:.3g} MWh"
    if abs(energy_kWh) >= 1:
        return f"{energy_kWh:.3g} kWh"
    return f"{energy_kWh * 1000:.3g} Wh"


def format_mass(gco2e: float) -> str:
    """gCO2e as g, kg from 1 kg, t from 1 t, three significant digits."""
    if abs(gco2e) >= 1e6:
        return f"{gco2e / 1e6:.3g} tCO2e"
    if abs(gco2e) >= 1000:
        return f"{gco2e / 1000:.3g} kgCO2e"
    return f"{gco2e:.3g} gCO2e"


def format_amount(value: float) -> str:
    """Three significant digits, without an exponent for large values.

    Example::

        >>> format_amount(0.01234), format_amount(1234.5)
        ('0.0123', '1,234')
    """
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def format_duration(duration_s: float) -> str:
    """Seconds as ``'42 s'``, ``'3 min 5 s'``, ``'2 h 10 min'`` or ``'3 d 4 h'``."""
    seconds = int(round(duration_s))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{duration_s:.3g} s" if duration_s < 10 else f"{secs} s"

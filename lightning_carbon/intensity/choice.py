"""Which carbon intensity a run uses: an override, a country's yearly average, or live data.

Example::

    >>> choice = resolve_intensity("DNK", None, None)
    >>> choice.current().code, choice.note
    ('DNK', None)
    >>> resolve_intensity(None, None, None).note.startswith("no country given")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from lightning_carbon.intensity.series import EnergySample
from lightning_carbon.intensity.table import (
    CarbonIntensity,
    check_intensity,
    country_intensity,
    world_intensity,
)


class IntensityChoice:
    """A fixed intensity, or a live source that falls back to it; ``note`` is said to the user."""

    def __init__(
        self,
        base: CarbonIntensity,
        note: str | None,
        live: Any = None,
        live_zone: str | None = None,
    ) -> None:
        self.base = base
        self.note = note
        self.live_zone = live_zone
        self._live = live

    def failures(self) -> list[str]:
        """What went wrong with live data so far (empty for a fixed intensity)."""
        return list(getattr(self._live, "failures", []))

    def start(self) -> None:
        """Start the live source's background fetches, if any."""
        if self._live is not None:
            self._live.start()

    def close(self) -> None:
        """Stop the live source, if any."""
        if self._live is not None:
            self._live.close()

    def current(self) -> CarbonIntensity:
        """The latest known intensity."""
        return self._live.current() if self._live is not None else self.base

    @property
    def is_live(self) -> bool:
        """Whether a live source is in use (then energy samples sharpen :meth:`over`)."""
        return self._live is not None

    def over(
        self, start_utc: str, end_utc: str, energy_samples: Sequence[EnergySample] = ()
    ) -> CarbonIntensity:
        """The intensity over a window given as ISO-8601 UTC times. Live: energy-weighted by
        ``energy_samples`` (``(start, end, joules)``), else time-weighted."""
        if self._live is None or not start_utc or not end_utc:
            return self.base
        return self._live.over(
            datetime.fromisoformat(start_utc), datetime.fromisoformat(end_utc), energy_samples
        )

    def summary(self, gco2e: float, facility_kWh: float) -> dict[str, Any]:
        """The intensity a run effectively used, with its source, for ``summary.json``."""
        used = self.current()
        if facility_kWh > 0 and self._live is not None:
            used = replace(used, gco2_per_kWh=gco2e / facility_kWh, time=None)
        return asdict(used)


def resolve_intensity(
    country: str | None, carbon_intensity: float | None, live_zone: str | None
) -> IntensityChoice:
    """Pick the intensity source from the user's arguments; bad input raises ``ValueError``.

    ``live_zone`` adds a :class:`~lightning_carbon.intensity.live.LiveIntensity` that falls
    back to the country's (or the world's) table value; it cannot be combined with a fixed
    ``carbon_intensity``.
    """
    if carbon_intensity is not None and live_zone is not None:
        raise ValueError(
            f"give carbon_intensity ({carbon_intensity!r}) or live_zone ({live_zone!r}), not both"
        )
    if carbon_intensity is not None:
        value = check_intensity(carbon_intensity)
        region = country_intensity(country).region if country else "user-given"
        return IntensityChoice(
            CarbonIntensity(value, region, country or "USER", None, "user-given value", "unknown"),
            None,
        )
    if country:
        base, note = country_intensity(country), None
    elif live_zone is not None and (zone_base := _zone_country(live_zone)) is not None:
        base = zone_base
        note = f"no country given: the live zone {live_zone} falls back to {base.region}'s table"
    else:
        base = world_intensity()
        note = (
            f"no country given: using the world average of {base.gco2_per_kWh:g} gCO2e/kWh "
            f"({base.year}); set country= or LIGHTNING_CARBON_COUNTRY for your grid"
        )
    if live_zone is None:
        return IntensityChoice(base, note)
    from lightning_carbon.intensity.live import LiveIntensity, provider_for_zone

    live = LiveIntensity(provider_for_zone(live_zone), fallback=base)
    return IntensityChoice(base, note, live, live_zone)


def _zone_country(zone: str) -> CarbonIntensity | None:
    """The table value of a live zone's country: ``DK1`` is Denmark, ``GB-RG10`` the United
    Kingdom, an Electricity Maps zone (``US-CAL-CISO``, ``DK-DK1``) starts with its ISO-2 code.

    Example::

        >>> _zone_country("DK1").code, _zone_country("us-cal-ciso").code
        ('DNK', 'USA')
    """
    key = zone.strip().upper()
    code = "DK" if key in ("DK1", "DK2") else key.split("-")[0]
    try:
        return country_intensity(code)
    except ValueError:
        return None

"""The carbon statement: a run's summary in words a paper can quote.

Works from a summary dict (the ``summary.json`` schema), so a finished run, a partial run and
the report CLI all produce the same wording.

Example::

    >>> print(carbon_statement({
    ...     "energy_kWh": 1.5, "facility_energy_kWh": 1.5, "gco2e": 300.0, "duration_s": 5400,
    ...     "energy_kWh_by_component": {"gpu": 1.2, "cpu": 0.3},
    ...     "provenance_by_component": {"gpu": "measured", "cpu": "estimated"},
    ...     "intensity": {"gco2_per_kWh": 200.0, "region": "Denmark", "year": 2024,
    ...                   "basis": "lifecycle", "source": "OWID"},
    ...     "pue": {"value": 1.0, "source": "workstation default"},
    ...     "equivalents": [{"value": 2.81, "unit": "km", "what": "driving a new EU car",
    ...                      "source": "EEA 2024"}]}).splitlines()[0])
    Training used 1.5 kWh of electricity over 1 h 30 min (GPU 1.2 kWh measured, CPU 300 Wh \
estimated), which emitted 300 gCO2e.
"""

from __future__ import annotations

from typing import Any

from lightning_carbon.units import format_duration, format_energy, format_mass


def carbon_statement(summary: dict[str, Any], *, what: str = "Training") -> str:
    """Markdown text of the carbon statement for one run (or several, summed)."""
    parts = ", ".join(
        f"{component.upper()} {format_energy(kwh)} "
        f"{summary.get('provenance_by_component', {}).get(component) or 'unmetered'}"
        for component, kwh in summary.get("energy_kWh_by_component", {}).items()
    )
    breakdown = f" ({parts})" if parts else ""
    lines = [
        f"{what} used {format_energy(summary['energy_kWh'])} of electricity over "
        f"{format_duration(summary.get('duration_s', 0.0))}{breakdown}, "
        f"which emitted {format_mass(summary['gco2e'])}."
    ]
    pue = summary.get("pue", {})
    intensity = summary.get("intensity", {})
    if intensity:
        year = f", {intensity['year']}" if intensity.get("year") else ""
        lines.append(
            f"Emissions use a carbon intensity of {intensity['gco2_per_kWh']:.4g} gCO2e/kWh "
            f"for {intensity.get('region', 'the grid')} ({intensity.get('basis', 'unknown')} "
            f"basis{year}; source: {intensity.get('source', 'unknown')})"
            + (
                f" and a PUE of {pue['value']:.3g} ({pue.get('source', '')}), so the facility "
                f"drew {format_energy(summary.get('facility_energy_kWh', summary['energy_kWh']))}."
                if pue
                else "."
            )
        )
    for equivalent in summary.get("equivalents", [])[:1]:
        lines.append(
            f"That is about as much as {equivalent['what']} for {equivalent['value']:.3g} "
            f"{equivalent['unit']} (source: {equivalent['source']})."
        )
    if summary.get("partial"):
        lines.insert(
            0,
            f"**Partial record**: the run ended early ({summary.get('reason', 'unknown')}); "
            "the figures cover the epochs that finished.",
        )
    for note in summary.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n\n".join(lines) + "\n"

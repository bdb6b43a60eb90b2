"""Many runs summed into one summary: energy, emissions, components, one intensity and PUE.

Where the runs used different grids or PUEs, the combined intensity and PUE are the effective
ones (emissions over facility energy, facility over IT energy), so the totals stay exact.

Example::

    >>> from pathlib import Path
    >>> from lightning_carbon.report.runs import RunReport
    >>> a = RunReport("a", Path("a"), {"energy_kWh": 1.0, "gco2e": 100.0, "epochs": 2})
    >>> b = RunReport("b", Path("b"), {"energy_kWh": 0.5, "gco2e": 50.0, "epochs": 1})
    >>> s = combined_summary([a, b])
    >>> s["energy_kWh"], s["gco2e"], s["epochs"], s["runs"]
    (1.5, 150.0, 3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from lightning_carbon.footprint import equivalents
from lightning_carbon.reading import least_direct
from lightning_carbon.sensors.base import COMPONENTS

if TYPE_CHECKING:
    from lightning_carbon.report.runs import RunReport

_INTENSITY_DEFAULTS = {
    "region": "unknown",
    "code": "",
    "year": None,
    "source": "unknown",
    "basis": "unknown",
}


def common_or_effective_intensity(
    intensities: list[dict[str, Any]], gco2e: float, facility_kWh: float
) -> dict[str, Any]:
    """The one intensity all share, else the effective one (gCO2e / facility kWh)."""
    filled = [{**_INTENSITY_DEFAULTS, **i} for i in intensities if i]
    grids = {(i["code"], i["gco2_per_kWh"]) for i in filled}
    if len(grids) == 1 and len(filled) == len(intensities):
        return filled[-1]
    bases = {i["basis"] for i in filled}
    names = ", ".join(dict.fromkeys(str(i["code"] or i["region"]) for i in filled))
    return {
        "gco2_per_kWh": gco2e / facility_kWh if facility_kWh > 0 else 0.0,
        "region": f"a mix of grids ({names})" if filled else "unknown",
        "code": "MIX",
        "year": None,
        "source": "effective: emissions over facility energy of the records",
        "basis": bases.pop() if len(bases) == 1 else "mixed",
        "time": None,
        "is_live": False,
    }


def common_or_effective_pue(
    pues: list[dict[str, Any]], energy_kWh: float, facility_kWh: float
) -> dict[str, Any]:
    """The one PUE all share, else the effective one (facility kWh / IT kWh)."""
    if pues and all(pues) and len({p["value"] for p in pues}) == 1:
        return pues[-1]
    return {
        "value": facility_kWh / energy_kWh if energy_kWh > 0 else 1.0,
        "source": "effective: facility energy over IT energy of the runs",
    }


def combined_summary(runs: Sequence[RunReport]) -> dict[str, Any]:
    """The runs summed into one summary dict (the schema ``carbon_statement`` reads)."""
    summaries = [run.summary for run in runs]
    energy_kWh = sum(s["energy_kWh"] for s in summaries)
    gco2e = sum(s["gco2e"] for s in summaries)
    facility_kWh = sum(s.get("facility_energy_kWh", s["energy_kWh"]) for s in summaries)
    by_component: dict[str, float] = {}
    provenances: dict[str, list[str | None]] = {}
    for s in summaries:
        for component, kWh in s.get("energy_kWh_by_component", {}).items():
            by_component[component] = by_component.get(component, 0.0) + kWh
            provenances.setdefault(component, []).append(
                s.get("provenance_by_component", {}).get(component)
            )
    order = [c for c in COMPONENTS if c in by_component] + sorted(
        c for c in by_component if c not in COMPONENTS
    )
    partial = [run for run in runs if run.partial]
    return {
        "runs": len(summaries),
        "partial": bool(partial),
        "reason": "; ".join(f"{r.label}: {r.summary.get('reason') or 'partial'}" for r in partial)
        or None,
        "epochs": sum(int(s.get("epochs", 0)) for s in summaries),
        "duration_s": sum(s.get("duration_s", 0.0) for s in summaries),
        "energy_kWh": energy_kWh,
        "facility_energy_kWh": facility_kWh,
        "gco2e": gco2e,
        "energy_kWh_by_component": {c: by_component[c] for c in order},
        "provenance_by_component": {c: least_direct(provenances[c]) for c in order},
        "provenance": least_direct({s.get("provenance") for s in summaries} - {None}),
        "intensity": common_or_effective_intensity(
            [s.get("intensity", {}) for s in summaries], gco2e, facility_kWh
        ),
        "pue": common_or_effective_pue(
            [s.get("pue", {}) for s in summaries], energy_kWh, facility_kWh
        ),
        "equivalents": [asdict(e) for e in equivalents(gco2e)],
        "notes": list(dict.fromkeys(n for s in summaries for n in s.get("notes", []))),
    }

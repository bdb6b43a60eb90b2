"""The carbon statement: a run's summary in words a paper can quote.

Works from a summary dict (the ``summary.json`` schema), so a finished run, a partial run and
the report CLI all produce the same wording. "Training" is the fit stage alone, from set-up to
teardown; test, predict and validate stages get a sentence each.

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

from lightning_carbon.footprint import car_km
from lightning_carbon.units import format_amount, format_duration, format_energy, format_mass

_STAGE_WORDS = {"validate": "Validation", "test": "Testing", "predict": "Prediction"}


def _used(what: str, section: dict[str, Any]) -> str:
    parts = ", ".join(
        f"{component.upper()} {format_energy(kwh)} "
        f"{section.get('provenance_by_component', {}).get(component) or 'unmetered'}"
        for component, kwh in section.get("energy_kWh_by_component", {}).items()
    )
    breakdown = f" ({parts})" if parts else ""
    return (
        f"{what} used {format_energy(section['energy_kWh'])} of electricity over "
        f"{format_duration(section.get('duration_s', 0.0))}{breakdown}, "
        f"which emitted {format_mass(section['gco2e'])}."
    )


def _training_lines(training: dict[str, Any]) -> list[str]:
    lines = [_used("Training", training)]
    outside = training.get("outside_epochs") or {}
    epochs = training.get("epochs") or {}
    if outside.get("energy_kWh", 0.0) > 0:
        lines[0] += (
            f" The {epochs.get('count', 0)} training epoch(s) used "
            f"{format_energy(epochs.get('energy_kWh', 0.0))}; the rest, "
            f"{format_energy(outside['energy_kWh'])} ({outside.get('share', 0.0):.1%}), went to "
            f"{outside.get('what', 'work outside the epochs')}."
        )
    return lines


def _stage_lines(inference: dict[str, Any]) -> list[str]:
    lines = []
    for stage, section in inference.items():
        runs = section.get("runs", 1)
        what = _STAGE_WORDS.get(stage, stage.capitalize())
        line = _used(what + (f" ({runs} runs)" if runs > 1 else ""), section)
        if section.get("partial"):
            line += f" It ended early ({section.get('reason') or 'unknown'})."
        lines.append(line)
    return lines


def _budget_lines(budget: dict[str, Any]) -> list[str]:
    lines = []
    stopped = budget.get("stopped")
    if stopped:
        lines.append(
            f"Training stopped after {stopped['after_epochs']} epoch(s) for its budget: "
            f"{stopped['reason']}"
        )
    if budget.get("exceeded_kWh"):
        lines.append(
            f"The fit passed its energy budget of {format_energy(budget['budget_kwh'])} by "
            f"{format_energy(budget['exceeded_kWh'])}."
        )
    if budget.get("exceeded_gCO2e"):
        lines.append(
            f"The fit passed its carbon budget of {format_mass(budget['budget_gco2e'])} by "
            f"{format_mass(budget['exceeded_gCO2e'])}."
        )
    return lines


def _forecast_line(forecast: dict[str, Any]) -> str:
    error = forecast.get("relative_error")
    said = f" ({error:+.0%} against what it used)" if error is not None else ""
    ran, total = forecast.get("run_batches"), forecast.get("total_batches")
    if error is None and ran is not None and total is not None and ran < total:
        km = car_km(forecast["gco2e"])
        return (
            f"After {forecast['after_epochs']} epoch(s) the full run of {total} batches (this one "
            f"ran {ran}) was forecast to use {format_energy(forecast['energy_kWh'])} and emit "
            f"{format_mass(forecast['gco2e'])} over {format_duration(forecast['duration_s'])}, "
            f"as much as {km.what} for {format_amount(km.value)} {km.unit}; a forecast, not a "
            f"measurement ({forecast.get('method', 'per-batch rate')})."
        )
    return (
        f"After {forecast['after_epochs']} epoch(s) the run was forecast to use "
        f"{format_energy(forecast['energy_kWh'])} and emit {format_mass(forecast['gco2e'])}"
        f"{said}; a forecast, not a measurement ({forecast.get('method', 'per-batch rate')})."
    )


def _method_lines(summary: dict[str, Any]) -> list[str]:
    """How the energy was attributed to this job, and each estimate's model and source."""
    lines = []
    attribution = summary.get("attribution") or {}
    if attribution.get("devices") and attribution.get("description"):
        machine = summary.get("machine_energy_kWh")
        whole = (
            f" The machine as a whole used {format_energy(machine)}."
            if attribution.get("method") == "process" and machine is not None
            else ""
        )
        lines.append(f"Attribution: {attribution['description']}.{whole}")
    for sensor in (summary.get("hardware") or {}).get("sensors", []):
        model = sensor.get("model")
        if model:
            lines.append(
                f"{sensor['device'].upper()} energy is estimated ({model['name']}): "
                f"{model['formula']}; source: {model['source']}."
            )
    return lines


def carbon_statement(summary: dict[str, Any], *, what: str = "Training") -> str:
    """Markdown text of the carbon statement for one run (or several, summed)."""
    training = summary.get("training")
    stages = {
        stage: section
        for stage, section in (summary.get("inference") or {}).items()
        if isinstance(section, dict) and "duration_s" in section  # a stage of its own
    }
    if what == "Training" and isinstance(training, dict) and "epochs" in training:
        lines = _training_lines(training) + _stage_lines(stages)
    elif what == "Training" and training is None and stages:
        lines = _stage_lines(stages)
    else:
        lines = [_used(what, summary)]
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
    lines += _method_lines(summary)
    if summary.get("forecast"):
        lines.append(_forecast_line(summary["forecast"]))
    for device, missing in (summary.get("missing_devices") or {}).items():
        lines.append(
            f"Incomplete: {device} stopped reporting in epoch {missing['from_epoch']} "
            f"({missing['reason']}); its energy counts only until then."
        )
    lines += _budget_lines(summary.get("budget") or {})
    for equivalent in summary.get("equivalents", [])[:1]:
        lines.append(
            f"That is about as much as {equivalent['what']} for "
            f"{format_amount(equivalent['value'])} {equivalent['unit']} "
            f"(source: {equivalent['source']})."
        )
    if summary.get("partial"):
        lines.insert(
            0,
            f"**Partial record**: the run ended early ({summary.get('reason', 'unknown')}); "
            "the figures cover the run up to then.",
        )
    for note in summary.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n\n".join(lines) + "\n"

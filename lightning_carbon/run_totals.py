"""The running totals of one run: epochs, inference, forecast, budgets, summary.

Pure bookkeeping (no Lightning, no I/O), so the callback stays a thin adapter and every figure
it logs can be checked by hand.

Example::

    >>> from lightning_carbon.footprint import resolve_pue
    >>> from lightning_carbon.intensity.table import country_intensity
    >>> totals = RunTotals(resolve_pue(None))
    >>> epoch = EnergyReading("train_epoch", 60.0, {"cpu": 3.6e5}, {"cpu": "cpu"},
    ...                       {"cpu": "estimated"})
    >>> record = totals.add_epoch(epoch, None, intensity=country_intensity("WORLD"),
    ...                           epoch_index=0, done_steps=10, total_steps=40, forecast_from=1)
    >>> record["metrics"]["energy/epoch_kWh"], record["metrics"]["energy/predicted_total_kWh"]
    (0.1, 0.4)
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lightning_carbon import __version__
from lightning_carbon.footprint import Pue, equivalents, footprint
from lightning_carbon.predict import Forecast, forecast, relative_error
from lightning_carbon.reading import EnergyReading, least_direct
from lightning_carbon.sensors.base import SensorChoice
from lightning_carbon.units import J_PER_KWH, format_duration, format_energy, format_mass

if TYPE_CHECKING:
    from lightning_carbon.intensity.choice import IntensityChoice
    from lightning_carbon.intensity.table import CarbonIntensity

STATE_VERSION = 1


def _kWh_by_component(reading: EnergyReading) -> dict[str, float]:
    return {c: j / J_PER_KWH for c, j in reading.energy_J_by_component.items()}


class RunTotals:
    """Totals of a run so far, from the (rank-summed) readings the callback hands over."""

    def __init__(self, pue: Pue) -> None:
        self.pue = pue
        self.fit_total: EnergyReading | None = None
        self.gco2e = 0.0
        self.facility_kWh = 0.0
        self.epochs: list[dict[str, Any]] = []
        self.inference: dict[str, dict[str, Any]] = {}
        self.first_forecast: dict[str, Any] | None = None
        self.latest_forecast: Forecast | None = None
        self.run_done = False
        self.started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # -- adding readings ------------------------------------------------------------------

    @staticmethod
    def merge_ranks(
        per_rank: list[tuple[int, dict[str, Any] | None]], *, qualify: bool
    ) -> EnergyReading | None:
        """Sum one window's readings of all ranks (run in parallel: the longest duration wins).

        With ``qualify``, device labels get their node, e.g. ``node1/gpu:0``; labels are unique
        per node because each rank meters its own GPU and only local rank 0 the node.
        """
        readings = [(node, EnergyReading.from_dict(d)) for node, d in per_rank if d is not None]
        if not readings:
            return None
        label = (
            (lambda node, device: f"node{node}/{device}")
            if qualify
            else (lambda node, device: device)
        )
        energy: dict[str, float] = {}
        component: dict[str, str] = {}
        provenance: dict[str, str] = {}
        for node, reading in readings:
            for device, joules in reading.energy_J_by_device.items():
                name = label(node, device)
                energy[name] = energy.get(name, 0.0) + joules
                component[name] = reading.component_by_device[device]
                provenance[name] = reading.provenance_by_device[device]
        first = readings[0][1]
        return EnergyReading(
            name=first.name,
            duration_s=max(r.duration_s for _, r in readings),
            energy_J_by_device=energy,
            component_by_device=component,
            provenance_by_device=provenance,
            start_utc=min(r.start_utc for _, r in readings),
            end_utc=max(r.end_utc for _, r in readings),
            notes=tuple(dict.fromkeys(n for _, r in readings for n in r.notes)),
        )

    def add_epoch(
        self,
        epoch: EnergyReading,
        validation: EnergyReading | None,
        *,
        intensity: CarbonIntensity,
        epoch_index: int,
        done_steps: int,
        total_steps: float,
        forecast_from: int,
    ) -> dict[str, Any]:
        """Count one training epoch (validation included); return its record with metrics."""
        result = footprint(epoch.energy_kWh, intensity, self.pue)
        self.fit_total = epoch if self.fit_total is None else self.fit_total.plus(epoch)
        self.gco2e += result.gco2e
        self.facility_kWh += result.facility_energy_kWh
        metrics = {"energy/epoch_kWh": epoch.energy_kWh}
        metrics.update({f"energy/{c}_kWh": v for c, v in _kWh_by_component(epoch).items()})
        metrics["energy/validate_kWh"] = validation.energy_kWh if validation else 0.0
        metrics["energy/total_kWh"] = self.fit_total.energy_kWh
        metrics["carbon/epoch_gCO2e"] = result.gco2e
        metrics["carbon/total_gCO2e"] = self.gco2e
        metrics["carbon/intensity_gCO2e_per_kWh"] = intensity.gco2_per_kWh
        metrics.update({f"power/{c}_W": w for c, w in epoch.power_W_by_component.items()})
        self.latest_forecast = forecast(
            done_steps=done_steps,
            total_steps=total_steps,
            energy_kWh=self.fit_total.energy_kWh,
            gco2e=self.gco2e,
            elapsed_s=self.fit_total.duration_s,
        )
        self.run_done = done_steps >= total_steps
        if len(self.epochs) + 1 >= forecast_from and self.latest_forecast is not None:
            metrics["energy/predicted_total_kWh"] = self.latest_forecast.energy_kWh
            metrics["carbon/predicted_total_gCO2e"] = self.latest_forecast.gco2e
            if self.first_forecast is None:
                self.first_forecast = {
                    **self.latest_forecast.to_dict(),
                    "after_epochs": forecast_from,
                }
        record = {
            "stage": "train",
            "epoch": epoch_index,
            "global_step": done_steps,
            "energy_kWh": epoch.energy_kWh,
            "facility_energy_kWh": result.facility_energy_kWh,
            "gco2e": result.gco2e,
            "total_kWh": self.fit_total.energy_kWh,
            "total_gCO2e": self.gco2e,
            "intensity": asdict(intensity),
            "pue": self.pue.value,
            "reading": epoch.to_dict(),
            "validation": validation.to_dict() if validation else None,
            "forecast": self.latest_forecast.to_dict() if self.latest_forecast else None,
            "metrics": metrics,
        }
        self.epochs.append(record)
        return record

    def add_inference(
        self, stage: str, reading: EnergyReading, intensity: CarbonIntensity
    ) -> dict[str, Any]:
        """Count a validate, test or predict run; return its record with metrics."""
        result = footprint(reading.energy_kWh, intensity, self.pue)
        before = self.inference.get(stage, {"energy_kWh": 0.0, "gco2e": 0.0, "runs": 0})
        self.inference[stage] = {
            "energy_kWh": before["energy_kWh"] + reading.energy_kWh,
            "gco2e": before["gco2e"] + result.gco2e,
            "runs": before["runs"] + 1,
        }
        return {
            "stage": stage,
            "energy_kWh": reading.energy_kWh,
            "facility_energy_kWh": result.facility_energy_kWh,
            "gco2e": result.gco2e,
            "intensity": asdict(intensity),
            "pue": self.pue.value,
            "reading": reading.to_dict(),
            "metrics": {
                f"energy/{stage}_kWh": reading.energy_kWh,
                f"carbon/{stage}_gCO2e": result.gco2e,
            },
        }

    # -- what is said about them ----------------------------------------------------------

    def forecast_sentence(self) -> str:
        """The first forecast in plain words."""
        f = self.first_forecast
        if f is None:
            return "no forecast: the run's length is unknown (set max_epochs or max_steps)"
        return (
            f"after {f['after_epochs']} epoch(s) this run is forecast to use "
            f"{format_energy(f['energy_kWh'])} and emit {format_mass(f['gco2e'])} over "
            f"{format_duration(f['duration_s'])} ({f['total_steps']} steps)"
        )

    def budget_findings(
        self, *, budget_kwh: float | None, budget_gco2e: float | None
    ) -> list[tuple[str, str, bool]]:
        """``(key, message, stop)`` for each budget that is passed or about to be.

        ``stop`` is True when the running total has passed the budget or the next epoch
        (at the mean cost so far) would pass it; False for a forecast over budget.
        """
        if self.fit_total is None or not self.epochs:
            return []
        findings = []
        for what, budget, used, predicted, fmt in (
            (
                "energy",
                budget_kwh,
                self.fit_total.energy_kWh,
                self.latest_forecast.energy_kWh if self.latest_forecast else None,
                format_energy,
            ),
            (
                "carbon",
                budget_gco2e,
                self.gco2e,
                self.latest_forecast.gco2e if self.latest_forecast else None,
                format_mass,
            ),
        ):
            if budget is None:
                continue
            per_epoch = used / len(self.epochs)
            if predicted is not None and predicted > budget:
                findings.append(
                    (
                        f"{what}-forecast",
                        f"the {what} forecast of {fmt(predicted)} is over the budget of "
                        f"{fmt(budget)}",
                        False,
                    )
                )
            if used > budget or (not self.run_done and used + per_epoch > budget):
                findings.append(
                    (
                        f"{what}-reached",
                        f"the {what} budget of {fmt(budget)} "
                        f"{'is passed' if used > budget else 'would be passed by the next epoch'}: "
                        f"{fmt(used)} used, about "
                        f"{fmt(per_epoch)} per epoch.",
                        True,
                    )
                )
        return findings

    def final_metrics(self) -> dict[str, float]:
        """The run's totals for each logger's ``log_metrics`` at the end of training."""
        if self.fit_total is None:
            return {}
        final = {
            "energy/run_total_kWh": self.fit_total.energy_kWh,
            "carbon/run_total_gCO2e": self.gco2e,
            "time/run_total_s": self.fit_total.duration_s,
        }
        if self.first_forecast is not None:
            error = relative_error(self.first_forecast["energy_kWh"], self.fit_total.energy_kWh)
            if error is not None:
                final["energy/forecast_error"] = error
        return final

    def summary(
        self,
        *,
        intensity: IntensityChoice,
        precision: str,
        sensors: list[SensorChoice],
        world_size: int,
        num_nodes: int,
        partial_reason: str | None,
    ) -> dict[str, Any]:
        """The ``summary.json`` content (schema ``lightning-carbon/summary/1``)."""
        total = self.fit_total or EnergyReading("fit", 0.0, {}, {}, {})
        inference_kWh = sum(v["energy_kWh"] for v in self.inference.values())
        inference_g = sum(v["gco2e"] for v in self.inference.values())
        energy_kWh = total.energy_kWh + inference_kWh
        gco2e = self.gco2e + inference_g
        facility_kWh = self.facility_kWh + inference_kWh * self.pue.value
        return {
            "package": f"lightning-carbon {__version__}",
            "partial": partial_reason is not None,
            "reason": partial_reason,
            "started_utc": self.started_utc,
            "ended_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "epochs": len(self.epochs),
            "duration_s": total.duration_s,
            "energy_kWh": energy_kWh,
            "facility_energy_kWh": facility_kWh,
            "gco2e": gco2e,
            "training": {
                "energy_kWh": total.energy_kWh,
                "gco2e": self.gco2e,
                "energy_kWh_by_component": _kWh_by_component(total),
            },
            "inference": self.inference,
            "energy_kWh_by_component": _kWh_by_component(total),
            "provenance_by_component": total.provenance_by_component,
            "provenance": least_direct(set(total.provenance_by_device.values())),
            "devices": total.to_dict()["devices"],
            "intensity": intensity.summary(gco2e, facility_kWh),
            "pue": asdict(self.pue),
            "equivalents": [asdict(e) for e in equivalents(gco2e)],
            "forecast": self._forecast_with_error(total),
            "precision": precision,
            "hardware": {
                "sensors": [asdict(choice) for choice in sensors],
                "world_size": world_size,
                "num_nodes": num_nodes,
            },
            "notes": list(total.notes),
        }

    def _forecast_with_error(self, total: EnergyReading) -> dict[str, Any] | None:
        if self.first_forecast is None:
            return None
        error = relative_error(self.first_forecast["energy_kWh"], total.energy_kWh)
        return {**self.first_forecast, "relative_error": error}

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: rank-summed totals and the epoch records."""
        return {
            "version": STATE_VERSION,
            "fit_total": self.fit_total.to_dict() if self.fit_total else None,
            "gco2e": self.gco2e,
            "facility_kWh": self.facility_kWh,
            "epochs": self.epochs,
            "inference": self.inference,
            "first_forecast": self.first_forecast,
            "started_utc": self.started_utc,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (missing keys keep their defaults)."""
        fit_total = state.get("fit_total")
        self.fit_total = EnergyReading.from_dict(fit_total) if fit_total else None
        self.gco2e = float(state.get("gco2e", 0.0))
        self.facility_kWh = float(state.get("facility_kWh", 0.0))
        self.epochs = list(state.get("epochs", []))
        self.inference = dict(state.get("inference", {}))
        self.first_forecast = state.get("first_forecast")
        self.started_utc = state.get("started_utc", self.started_utc)

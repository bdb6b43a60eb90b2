"""The running totals of one run: epochs, what lies outside them, stages, forecast, budgets.

Pure bookkeeping (no framework, no I/O), so every adapter shares it and every figure can be
checked by hand. Every record the run writes to ``epochs.jsonl`` is kept in :attr:`records`,
and every total is a sum over them, so the file always adds up to the reported totals.

A run's ``fit`` stage is the whole job from set-up to teardown: its training epochs are the
breakdown, and the rest (set-up, sanity check, checkpoint saves, other callbacks' epoch-end
hooks, teardown) is one ``outside_epochs`` record per process. Validate, test and predict are
stages of their own.

Example::

    >>> from lightning_carbon.footprint import resolve_pue
    >>> from lightning_carbon.intensity.table import country_intensity
    >>> world = country_intensity("WORLD")
    >>> totals = RunTotals(resolve_pue(None))
    >>> totals.begin_segment()
    >>> epoch = EnergyReading("train_epoch", 60.0, {"cpu": 3.6e5}, {"cpu": "cpu"},
    ...                       {"cpu": "estimated"})
    >>> so_far = EnergyReading("fit", 70.0, {"cpu": 3.96e5}, {"cpu": "cpu"}, {"cpu": "estimated"})
    >>> record = totals.add_epoch(epoch, None, so_far, intensity=world, epoch_index=0,
    ...                           batches=10, total_batches=40, forecast_from=1)
    >>> m = record["metrics"]
    >>> [round(m[f"energy/{k}_kWh"], 6) for k in ("epoch", "total", "predicted_total")]
    [0.1, 0.11, 0.41]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lightning_carbon import __version__
from lightning_carbon.footprint import Pue, equivalents, footprint
from lightning_carbon.predict import EpochCost, Forecast, forecast, relative_error
from lightning_carbon.reading import EnergyReading, least_direct
from lightning_carbon.sensors.base import SensorChoice
from lightning_carbon.units import J_PER_KWH, format_duration, format_energy, format_mass

if TYPE_CHECKING:
    from lightning_carbon.intensity.choice import IntensityChoice
    from lightning_carbon.intensity.table import CarbonIntensity

STATE_VERSION = 2
TRAIN = "train"
OUTSIDE_EPOCHS = "outside_epochs"
OUTSIDE_EPOCHS_WHAT = (
    "set-up, sanity check, checkpoint saves, other callbacks' epoch-end hooks and teardown"
)
FIT_RECORDS = (TRAIN, OUTSIDE_EPOCHS)

IntensityOver = Callable[[str, str], "CarbonIntensity"]
"""``(start_utc, end_utc) -> intensity`` over a window."""


def _kWh_by_component(reading: EnergyReading) -> dict[str, float]:
    return {c: j / J_PER_KWH for c, j in reading.energy_J_by_component.items()}


def _sum_readings(readings: list[EnergyReading], name: str) -> EnergyReading:
    total = EnergyReading(name, 0.0, {}, {}, {})
    for reading in readings:
        total = total.plus(reading)
    return total


def _qualified(reading: EnergyReading, node: int) -> EnergyReading:
    """The reading with each device label (and note) prefixed by its node: ``node1/gpu:0``."""

    def label(devices: dict[str, Any]) -> dict[str, Any]:
        return {f"node{node}/{device}": value for device, value in devices.items()}

    attribution = dict(reading.attribution)
    if attribution:
        attribution["devices"] = [f"node{node}/{d}" for d in attribution.get("devices", [])]
        attribution["shared_devices"] = label(attribution.get("shared_devices", {}))
    return replace(
        reading,
        energy_J_by_device=label(reading.energy_J_by_device),
        machine_energy_J_by_device=label(reading.machine_energy_J_by_device),
        component_by_device=label(reading.component_by_device),
        provenance_by_device=label(reading.provenance_by_device),
        notes=tuple(f"node{node}: {note}" for note in reading.notes),
        attribution=attribution,
    )


def _cost(record: dict[str, Any]) -> EpochCost:
    return EpochCost(**record["cost"])


class RunTotals:
    """Totals of a run so far, from the (rank-summed) readings an adapter hands over."""

    def __init__(self, pue: Pue) -> None:
        self.pue = pue
        self.records: list[dict[str, Any]] = []
        self.stages: dict[str, dict[str, Any]] = {}
        self.first_forecast: dict[str, Any] | None = None
        self.latest_forecast: Forecast | None = None
        self.budget_stop: dict[str, Any] | None = None
        self.run_done = False
        self.started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._segment_epochs: EnergyReading | None = None
        self._outside_index: int | None = None
        self._priced_until_utc = ""

    # -- views ----------------------------------------------------------------------------

    @property
    def epochs(self) -> list[dict[str, Any]]:
        """The training epochs' records, oldest first."""
        return [r for r in self.records if r["stage"] == TRAIN]

    @property
    def fit_records(self) -> list[dict[str, Any]]:
        """The fit stage's records: its epochs and its time outside them, oldest first."""
        return [r for r in self.records if r["stage"] in FIT_RECORDS]

    def fit_used(self) -> EpochCost:
        """The fit stage so far: batches, energy, emissions and wall time, set-up included."""
        fit = self.fit_records
        return EpochCost(
            batches=sum(r.get("batches", 0) for r in fit),
            energy_kWh=sum(r["energy_kWh"] for r in fit),
            gco2e=sum(r["gco2e"] for r in fit),
            duration_s=sum(r["reading"]["duration_s"] for r in fit),
        )

    # -- adding readings ------------------------------------------------------------------

    @staticmethod
    def merge_ranks(
        per_rank: list[tuple[int, dict[str, Any] | None]], *, qualify: bool
    ) -> EnergyReading | None:
        """Sum one window's readings of all ranks (run in parallel: the longest duration wins).

        With ``qualify``, device labels get their node, e.g. ``node1/gpu:0``; labels are unique
        per node because each rank meters its own GPU and only local rank 0 the node.
        """
        readings = [
            _qualified(EnergyReading.from_dict(d), node) if qualify else EnergyReading.from_dict(d)
            for node, d in per_rank
            if d is not None
        ]
        if not readings:
            return None
        # each rank's devices are its own (rank r's GPU, node n's CPU on its local rank 0):
        # their energies, machine figures and attribution add up; the ranks ran in parallel
        total = readings[0]
        for reading in readings[1:]:
            total = total.plus(reading)
        return replace(
            total,
            duration_s=max(r.duration_s for r in readings),
            start_utc=min(r.start_utc for r in readings),
            end_utc=max(r.end_utc for r in readings),
        )

    def begin_segment(self) -> None:
        """A process starts (or resumes) the fit stage: a new ``outside_epochs`` record, whose
        first pause is priced from the start of the fit's reading."""
        self._segment_epochs = None
        self._outside_index = None
        self._priced_until_utc = ""
        self.run_done = False

    def add_epoch(
        self,
        epoch: EnergyReading,
        validation: EnergyReading | None,
        fit_so_far: EnergyReading,
        *,
        intensity: CarbonIntensity,
        epoch_index: int,
        batches: int,
        total_batches: float,
        forecast_from: int,
        outside_intensity: IntensityOver | None = None,
        missing_devices: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Count one training epoch (its validation included) and what ran outside it since.

        ``fit_so_far`` is this process's fit window up to now; ``batches`` the training
        batches of this epoch; ``missing_devices`` the devices that stopped reporting (their
        energy counts until then), with why. Returns the epoch's record, with the metrics.
        """
        result = footprint(epoch.energy_kWh, intensity, self.pue)
        first_in_segment = self._segment_epochs is None
        self._segment_epochs = epoch if first_in_segment else self._segment_epochs.plus(epoch)
        outside_added = self._update_outside(fit_so_far, intensity, outside_intensity)
        between = (0.0, 0.0, 0.0) if first_in_segment else outside_added
        record: dict[str, Any] = {
            "stage": TRAIN,
            "epoch": epoch_index,
            "batches": batches,
            "energy_kWh": epoch.energy_kWh,
            "facility_energy_kWh": result.facility_energy_kWh,
            "gco2e": result.gco2e,
            "intensity": asdict(intensity),
            "pue": self.pue.value,
            "reading": epoch.to_dict(),
            "validation": validation.to_dict() if validation else None,
            "missing_devices": dict(missing_devices or {}),
            "partial": bool(missing_devices),
            # what forecasts and budgets count per epoch: the epoch and the gap before it
            "cost": EpochCost(
                batches,
                epoch.energy_kWh + between[0],
                result.gco2e + between[1],
                epoch.duration_s + between[2],
            ).to_dict(),
        }
        self.records.insert(self._outside_index, record)
        self._outside_index += 1
        used = self.fit_used()
        self.latest_forecast = forecast(
            [_cost(r) for r in self.epochs], used=used, total_batches=total_batches
        )
        self.run_done = used.batches >= total_batches
        record["total_kWh"], record["total_gCO2e"] = used.energy_kWh, used.gco2e
        record["forecast"] = self.latest_forecast.to_dict() if self.latest_forecast else None
        metrics = {"energy/epoch_kWh": epoch.energy_kWh}
        metrics.update({f"energy/{c}_kWh": v for c, v in _kWh_by_component(epoch).items()})
        metrics["energy/validate_kWh"] = validation.energy_kWh if validation else 0.0
        metrics["energy/total_kWh"] = used.energy_kWh
        metrics["carbon/epoch_gCO2e"] = result.gco2e
        metrics["carbon/total_gCO2e"] = used.gco2e
        metrics["carbon/intensity_gCO2e_per_kWh"] = intensity.gco2_per_kWh
        metrics.update({f"power/{c}_W": w for c, w in epoch.power_W_by_component.items()})
        if len(self.epochs) >= forecast_from and self.latest_forecast is not None:
            metrics["energy/predicted_total_kWh"] = self.latest_forecast.energy_kWh
            metrics["carbon/predicted_total_gCO2e"] = self.latest_forecast.gco2e
            if self.first_forecast is None:
                self.first_forecast = {
                    **self.latest_forecast.to_dict(),
                    "after_epochs": forecast_from,
                }
        record["metrics"] = metrics
        return record

    def finish_fit(
        self,
        fit: EnergyReading | None,
        *,
        intensity: CarbonIntensity,
        outside_intensity: IntensityOver | None = None,
        partial_reason: str | None = None,
    ) -> None:
        """Close this process's fit window: what it used beyond the epochs goes to its
        ``outside_epochs`` record. ``fit=None`` keeps the records as they stand (a partial
        fit whose window cannot be summed over the ranks)."""
        if fit is not None:
            self._update_outside(fit, intensity, outside_intensity)
        self.stages["fit"] = {"partial": partial_reason is not None, "reason": partial_reason}

    def add_stage(
        self,
        stage: str,
        reading: EnergyReading,
        intensity: CarbonIntensity,
        partial_reason: str | None = None,
    ) -> dict[str, Any]:
        """Count a whole validate, test or predict stage; return its record with metrics."""
        result = footprint(reading.energy_kWh, intensity, self.pue)
        record = {
            "stage": stage,
            "energy_kWh": reading.energy_kWh,
            "facility_energy_kWh": result.facility_energy_kWh,
            "gco2e": result.gco2e,
            "intensity": asdict(intensity),
            "pue": self.pue.value,
            "reading": reading.to_dict(),
            "partial": partial_reason is not None,
            "metrics": {
                f"energy/{stage}_kWh": reading.energy_kWh,
                f"carbon/{stage}_gCO2e": result.gco2e,
            },
        }
        self.records.append(record)
        before = self.stages.get(stage, {"runs": 0})
        self.stages[stage] = {
            "runs": before["runs"] + 1,
            "partial": partial_reason is not None,
            "reason": partial_reason,
        }
        return record

    def _update_outside(
        self,
        fit_so_far: EnergyReading,
        intensity: CarbonIntensity,
        outside_intensity: IntensityOver | None,
    ) -> tuple[float, float, float]:
        """This process's outside-epochs record := fit so far minus its epochs; returns the
        (kWh, gCO2e, s) added since the last update, priced over the time they were used."""
        outside = (
            fit_so_far if self._segment_epochs is None else fit_so_far.minus(self._segment_epochs)
        )
        outside = replace(outside, name=OUTSIDE_EPOCHS)  # over the fit so far's window
        if self._outside_index is None:
            segment = sum(1 for r in self.records if r["stage"] == OUTSIDE_EPOCHS)
            self.records.append(
                {
                    "stage": OUTSIDE_EPOCHS,
                    "segment": segment,
                    "what": OUTSIDE_EPOCHS_WHAT,
                    "energy_kWh": 0.0,
                    "facility_energy_kWh": 0.0,
                    "gco2e": 0.0,
                    "pue": self.pue.value,
                    "reading": EnergyReading(OUTSIDE_EPOCHS, 0.0, {}, {}, {}).to_dict(),
                }
            )
            self._outside_index = len(self.records) - 1
        record = self.records[self._outside_index]
        added_kWh = max(outside.energy_kWh - record["energy_kWh"], 0.0)
        added_s = max(outside.duration_s - record["reading"]["duration_s"], 0.0)
        priced = intensity
        # from merged readings alone, so every rank asks (a live source gathers) alike
        since_utc = self._priced_until_utc or fit_so_far.start_utc
        if outside_intensity is not None and since_utc and fit_so_far.end_utc:
            priced = outside_intensity(since_utc, fit_so_far.end_utc)
        added = footprint(added_kWh, priced, self.pue)
        record.update(
            energy_kWh=outside.energy_kWh,
            facility_energy_kWh=record["facility_energy_kWh"] + added.facility_energy_kWh,
            gco2e=record["gco2e"] + added.gco2e,
            intensity=asdict(priced),
            reading=outside.to_dict(),
        )
        self._priced_until_utc = fit_so_far.end_utc
        return added_kWh, added.gco2e, added_s

    def running(self, fit_so_far: EnergyReading, intensity: CarbonIntensity) -> EpochCost:
        """The fit so far, mid-epoch too: the counted records plus what this process's fit
        window used since they were last brought up to date, priced at ``intensity``."""
        counted = [self._segment_epochs] if self._segment_epochs is not None else []
        if self._outside_index is not None:
            counted.append(EnergyReading.from_dict(self.records[self._outside_index]["reading"]))
        since = fit_so_far.minus(_sum_readings(counted, "counted"))
        used = self.fit_used()
        return EpochCost(
            used.batches,
            used.energy_kWh + since.energy_kWh,
            used.gco2e + footprint(since.energy_kWh, intensity, self.pue).gco2e,
            used.duration_s + since.duration_s,
        )

    # -- what is said about them ----------------------------------------------------------

    def forecast_sentence(self) -> str:
        """The first forecast in plain words."""
        f = self.first_forecast
        if f is None:
            return "no forecast: the run's length is unknown (set max_epochs or max_steps)"
        return (
            f"after {f['after_epochs']} epoch(s) this run is forecast to use "
            f"{format_energy(f['energy_kWh'])} and emit {format_mass(f['gco2e'])} over "
            f"{format_duration(f['duration_s'])} ({f['total_batches']} batches; {f['method']})"
        )

    def next_epoch_estimate(self) -> EpochCost | None:
        """A cautious cost of the next epoch: the most expensive epoch so far, gap included."""
        costs = [_cost(r) for r in self.epochs]
        if not costs:
            return None
        return EpochCost(
            max(c.batches for c in costs),
            max(c.energy_kWh for c in costs),
            max(c.gco2e for c in costs),
            max(c.duration_s for c in costs),
        )

    def budget_findings(
        self, *, budget_kwh: float | None, budget_gco2e: float | None
    ) -> list[tuple[str, str, bool]]:
        """``(key, message, stop)`` for each budget that is passed or about to be.

        ``stop`` is True when the running total has passed the budget, or the next epoch (at
        the cost of the costliest epoch so far) and the pause after it (the longest between
        epochs so far: checkpoint saves, teardown) would pass it while epochs remain; False
        for a forecast over budget, which only warns.
        """
        next_epoch = self.next_epoch_estimate()
        if next_epoch is None:
            return []
        epochs = self.epochs
        gap_kWh = max(r["cost"]["energy_kWh"] - r["energy_kWh"] for r in epochs)
        gap_gco2e = max(r["cost"]["gco2e"] - r["gco2e"] for r in epochs)
        used = self.fit_used()
        findings = []
        for what, budget, spent, predicted, per_epoch, fmt in (
            (
                "energy",
                budget_kwh,
                used.energy_kWh,
                self.latest_forecast.energy_kWh if self.latest_forecast else None,
                next_epoch.energy_kWh + max(gap_kWh, 0.0),
                format_energy,
            ),
            (
                "carbon",
                budget_gco2e,
                used.gco2e,
                self.latest_forecast.gco2e if self.latest_forecast else None,
                next_epoch.gco2e + max(gap_gco2e, 0.0),
                format_mass,
            ),
        ):
            if budget is None:
                continue
            if not self.run_done and predicted is not None and predicted > budget:
                findings.append(
                    (
                        f"{what}-forecast",
                        f"the {what} forecast of {fmt(predicted)} is over the budget of "
                        f"{fmt(budget)}",
                        False,
                    )
                )
            if spent > budget or (not self.run_done and spent + per_epoch > budget):
                state = "is passed" if spent > budget else "would be passed by the next epoch"
                findings.append(
                    (
                        f"{what}-reached",
                        f"the {what} budget of {fmt(budget)} {state}: {fmt(spent)} used, the "
                        f"costliest epoch so far with the pause after it {fmt(per_epoch)}.",
                        True,
                    )
                )
        return findings

    def stop_for_budget(self, reason: str) -> None:
        """Remember that training stopped for a budget, with the figures at that moment."""
        used = self.fit_used()
        self.budget_stop = {
            "reason": reason,
            "after_epochs": len(self.epochs),
            "used_kWh": used.energy_kWh,
            "used_gco2e": used.gco2e,
        }

    def final_metrics(self) -> dict[str, float]:
        """The fit's totals for each logger's ``log_metrics`` at the end of training."""
        fit = self.fit_records
        if not fit:
            return {}
        used = self.fit_used()
        outside = sum(r["energy_kWh"] for r in fit if r["stage"] == OUTSIDE_EPOCHS)
        final = {
            "energy/run_total_kWh": used.energy_kWh,
            "carbon/run_total_gCO2e": used.gco2e,
            "time/run_total_s": used.duration_s,
            "energy/outside_epochs_kWh": outside,
        }
        error = self._forecast_error()
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
        budgets: dict[str, Any] | None = None,
        run_name: str | None = None,
        metrics: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """The ``summary.json`` content (schema ``lightning-carbon/summary/2``)."""
        training = self._training_section()
        inference = {
            stage: self._section([r for r in self.records if r["stage"] == stage])
            | {"runs": info["runs"], "partial": info["partial"], "reason": info["reason"]}
            for stage, info in self.stages.items()
            if stage != "fit"
        }
        sections = ([training] if training else []) + list(inference.values())
        energy_kWh = sum(s["energy_kWh"] for s in sections)
        gco2e = sum(s["gco2e"] for s in sections)
        facility_kWh = sum(s["facility_energy_kWh"] for s in sections)
        every = _sum_readings([EnergyReading.from_dict(r["reading"]) for r in self.records], "all")
        partial_section = training or next((s for s in sections if s["partial"]), None)
        return {
            "package": f"lightning-carbon {__version__}",
            "run_name": run_name,
            "partial": bool(partial_section and partial_section["partial"]),
            "reason": partial_section["reason"] if partial_section else None,
            "started_utc": self.started_utc,
            "ended_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "epochs": len(self.epochs),
            "duration_s": sum(s["duration_s"] for s in sections),
            "energy_kWh": energy_kWh,
            "machine_energy_kWh": every.machine_energy_kWh,
            "facility_energy_kWh": facility_kWh,
            "gco2e": gco2e,
            "attribution": every.attribution,
            "training": training,
            "inference": inference,
            "energy_kWh_by_component": _kWh_by_component(every),
            "provenance_by_component": every.provenance_by_component,
            "provenance": least_direct(set(every.provenance_by_device.values())),
            "devices": every.to_dict()["devices"],
            "intensity": intensity.summary(gco2e, facility_kWh),
            "pue": asdict(self.pue),
            "equivalents": [asdict(e) for e in equivalents(gco2e)],
            "forecast": self._forecast_with_error(training),
            "budget": self._budget_section(budgets or {}, training),
            "precision": precision,
            "hardware": {
                "sensors": [asdict(choice) for choice in sensors],
                "world_size": world_size,
                "num_nodes": num_nodes,
            },
            "metrics": dict(metrics or {}),
            "missing_devices": self._missing_devices(),
            "notes": list(every.notes) + intensity.failures(),
        }

    def _missing_devices(self) -> dict[str, dict[str, Any]]:
        """Each device that stopped reporting: why, and the first epoch it is missing from."""
        missing: dict[str, dict[str, Any]] = {}
        for record in self.epochs:
            for device, why in record.get("missing_devices", {}).items():
                missing.setdefault(device, {"reason": why, "from_epoch": record["epoch"]})
        return missing

    def _budget_section(
        self, budgets: dict[str, Any], training: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The budgets, whether training stopped for one, and by how much the fit passed
        each (``exceeded_kWh``/``exceeded_gCO2e``: 0 when it did not)."""
        section = {**budgets, "stopped": self.budget_stop}
        if training is not None:
            for key, budget, used in (
                ("exceeded_kWh", budgets.get("budget_kwh"), training["energy_kWh"]),
                ("exceeded_gCO2e", budgets.get("budget_gco2e"), training["gco2e"]),
            ):
                if budget is not None:
                    section[key] = max(used - budget, 0.0)
        return section

    def _section(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        reading = _sum_readings([EnergyReading.from_dict(r["reading"]) for r in records], "part")
        return {
            "energy_kWh": sum(r["energy_kWh"] for r in records),
            "machine_energy_kWh": reading.machine_energy_kWh,
            "facility_energy_kWh": sum(r["facility_energy_kWh"] for r in records),
            "gco2e": sum(r["gco2e"] for r in records),
            "duration_s": sum(r["reading"]["duration_s"] for r in records),
            "energy_kWh_by_component": _kWh_by_component(reading),
            "provenance_by_component": reading.provenance_by_component,
        }

    def _training_section(self) -> dict[str, Any] | None:
        fit = self.fit_records
        if not fit and "fit" not in self.stages:
            return None
        status = self.stages.get("fit", {"partial": True, "reason": "the fit did not finish"})
        section = self._section(fit)
        epochs = self._section([r for r in fit if r["stage"] == TRAIN])
        outside = self._section([r for r in fit if r["stage"] == OUTSIDE_EPOCHS])
        return section | {
            "partial": status["partial"],
            "reason": status["reason"],
            "epochs": {"count": len(self.epochs), **epochs},
            "outside_epochs": {
                **outside,
                "share": outside["energy_kWh"] / section["energy_kWh"]
                if section["energy_kWh"] > 0
                else 0.0,
                "what": OUTSIDE_EPOCHS_WHAT,
            },
        }

    def _forecast_with_error(self, training: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.first_forecast is None or training is None:
            return None
        return {
            **self.first_forecast,
            "relative_error": self._forecast_error(),
            "run_batches": self.fit_used().batches,
        }

    def _forecast_error(self) -> float | None:
        """The first forecast against what the fit used; ``None`` while the fit ran fewer
        batches than the forecast was for (stopped early, or trained only to forecast):
        a forecast of a longer run is not wrong about a shorter one."""
        if self.first_forecast is None:
            return None
        used = self.fit_used()
        if used.batches < self.first_forecast["total_batches"]:
            return None
        return relative_error(self.first_forecast["energy_kWh"], used.energy_kWh)

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: every record (rank-summed) and the run's decisions."""
        return {
            "version": STATE_VERSION,
            "records": self.records,
            "stages": self.stages,
            "first_forecast": self.first_forecast,
            "budget_stop": self.budget_stop,
            "started_utc": self.started_utc,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: the records become exactly the restored ones.

        A checkpoint of version 1 (lightning-carbon 0.1) holds its epochs only; their costs
        are taken from the epochs themselves.
        """
        if state.get("version", 1) < 2:
            records, steps_before = [], 0
            for r in state.get("epochs", []):
                batches = int(r.get("global_step", 0)) - steps_before
                steps_before += batches
                cost = EpochCost(batches, r["energy_kWh"], r["gco2e"], r["reading"]["duration_s"])
                records.append({**r, "batches": batches, "cost": cost.to_dict()})
        else:
            records = state.get("records", [])
        self.records = [dict(r) for r in records]
        self.stages = {k: dict(v) for k, v in state.get("stages", {}).items() if k != "fit"}
        self.first_forecast = state.get("first_forecast")
        self.budget_stop = state.get("budget_stop")
        self.started_utc = state.get("started_utc", self.started_utc)
        self._segment_epochs = None
        self._outside_index = None

"""CarbonCallback: per-epoch energy and carbon of a Lightning run, where people look.

Example::

    from pytorch_lightning import Trainer
    from lightning_carbon import CarbonCallback

    trainer = Trainer(max_epochs=10, callbacks=[CarbonCallback(country="DNK", budget_gco2e=500)])
    trainer.fit(model, datamodule)
    # -> energy/epoch_kWh, carbon/epoch_gCO2e, ... in every logger and trainer.callback_metrics
    # -> <log_dir>/carbon/epochs.jsonl, summary.json, statement.md

The hooks only map Lightning's life cycle to meter windows; the arithmetic lives in
:mod:`lightning_carbon.run_totals`, the files in :mod:`lightning_carbon.records`.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn

from lightning_carbon.checks import positive_number
from lightning_carbon.energy_slices import EnergySlices
from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.choice import resolve_intensity
from lightning_carbon.intensity.series import EnergySample
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.meter import EnergyMeter
from lightning_carbon.reading import EnergyReading
from lightning_carbon.records import RunRecords
from lightning_carbon.run_totals import RunTotals
from lightning_carbon.sensors.base import Sensor
from lightning_carbon.statement import carbon_statement
from lightning_carbon.units import format_duration, format_energy, format_mass

SensorFactory = Callable[[list[int], bool], Sequence[Sensor]]
"""``(gpu_indices, node_level) -> sensors``: custom sensors for this process."""

_BUDGET_ACTIONS = ("warn", "stop")


class CarbonBudgetWarning(UserWarning):
    """The forecast or the running total of a run passed its energy or carbon budget."""


def _guarded(hook: Callable[..., None]) -> Callable[..., None]:
    """Turn an exception inside a metering hook into one warning: training goes on."""

    @functools.wraps(hook)
    def wrapper(self: CarbonCallback, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as error:
            if hook.__name__ not in self._failed_hooks:
                self._failed_hooks.add(hook.__name__)
                warnings.warn(
                    f"lightning-carbon: {hook.__name__} failed ({type(error).__name__}: {error});"
                    " training continues, the carbon figures may be incomplete",
                    RuntimeWarning,
                    stacklevel=2,
                )

    return wrapper


def _positive_or_none(name: str, value: float | None) -> float | None:
    return None if value is None else positive_number(name, value)


class CarbonCallback(Callback):
    """Meters energy per epoch and reports it, with its carbon cost, to every logger.

    Args:
        country: where the machine runs (ISO-3, ISO-2 or name); defaults to the environment
            variable ``LIGHTNING_CARBON_COUNTRY``, else the world average (said once).
        carbon_intensity: a grid intensity in gCO2e/kWh that overrides the country table.
        live_zone: opt in to live grid data for a zone (``"DK1"``, ``"GB"``, ``"GB-RG10"``, or
            an Electricity Maps zone with a token in ``$ELECTRICITYMAPS_TOKEN``), fetched off
            the training thread; failures fall back to the table with one warning. Each
            epoch's intensity is weighted by the energy of its one-minute slices.
            ``$LIGHTNING_CARBON_LIVE_BASE_URL`` replaces the API's address (a mirror, a stub).
        pue: Power Usage Effectiveness: a number >= 1, or a survey average by name (see
            :func:`lightning_carbon.footprint.resolve_pue`); default 1.0 (a workstation).
        monitor_epochs: forecast the whole run after this many epochs.
        budget_kwh, budget_gco2e: limits for the run's energy and emissions.
        on_budget: ``"warn"`` once, or ``"stop"`` training cleanly before the next epoch would
            pass a budget.
        output_dir: where ``carbon/`` goes; default the trainer's log dir.
        prog_bar: show the epoch's gCO2e in the progress bar.
        meter_inference: also meter validate, test and predict runs.
        cpu_tdp_w: the CPU's TDP in W, for the estimate when RAPL is unreadable.
        sensors: a factory ``(gpu_indices, node_level) -> sensors`` replacing discovery.
    """

    def __init__(
        self,
        country: str | None = None,
        carbon_intensity: float | None = None,
        pue: float | str | None = None,
        monitor_epochs: int = 1,
        budget_kwh: float | None = None,
        budget_gco2e: float | None = None,
        on_budget: str = "warn",
        output_dir: str | os.PathLike[str] | None = None,
        prog_bar: bool = False,
        meter_inference: bool = True,
        cpu_tdp_w: float | None = None,
        live_zone: str | None = None,
        sensors: SensorFactory | None = None,
    ) -> None:
        if isinstance(monitor_epochs, bool) or not isinstance(monitor_epochs, int):
            raise ValueError(f"monitor_epochs must be an int >= 1, got {monitor_epochs!r}")
        if monitor_epochs < 1:
            raise ValueError(f"monitor_epochs must be >= 1, got {monitor_epochs!r}")
        if on_budget not in _BUDGET_ACTIONS:
            raise ValueError(f"on_budget must be one of {_BUDGET_ACTIONS}, got {on_budget!r}")
        self.country = (
            country if country is not None else os.environ.get("LIGHTNING_CARBON_COUNTRY")
        )
        self.intensity_choice = resolve_intensity(self.country, carbon_intensity, live_zone)
        self.pue = resolve_pue(pue)
        self.monitor_epochs = monitor_epochs
        self.budget_kwh = _positive_or_none("budget_kwh", budget_kwh)
        self.budget_gco2e = _positive_or_none("budget_gco2e", budget_gco2e)
        self.on_budget = on_budget
        self.output_dir = output_dir
        self.prog_bar = bool(prog_bar)
        self.meter_inference = bool(meter_inference)
        self.cpu_tdp_w = _positive_or_none("cpu_tdp_w", cpu_tdp_w)
        self._sensor_factory = sensors
        self.totals = RunTotals(self.pue)
        self._meter: EnergyMeter | None = None
        self._slices: EnergySlices | None = None
        self._records: RunRecords | None = None
        self._epoch_validation: EnergyReading | None = None
        self._warned: set[str] = set()
        self._failed_hooks: set[str] = set()

    # -- set-up and tear-down -------------------------------------------------------------

    @_guarded
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # First, on every rank and every time: under DDP trainer.log_dir is a collective.
        output_dir = self._resolve_output_dir(trainer)
        if self._meter is None:
            self._meter = self._make_meter(trainer).start()
            if self.intensity_choice.is_live:
                self._slices = EnergySlices(self._meter)
            self.intensity_choice.start()
            rank_zero_info("lightning-carbon meters:\n" + self._meter.describe())
            if self.intensity_choice.note:
                rank_zero_info(f"lightning-carbon: {self.intensity_choice.note}")
        if trainer.is_global_zero and self._records is None:
            self._records = RunRecords(output_dir)
            if trainer.logger is None:
                rank_zero_info(
                    "lightning-carbon: no logger; metrics are in trainer.callback_metrics and "
                    f"the records in {self._records.directory}"
                )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._meter is not None:
            self._meter.close()
            self._meter = None
            self._slices = None
        self.intensity_choice.close()

    # -- training epochs ------------------------------------------------------------------

    @_guarded
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_validation = None
        self._begin("train_epoch")
        if self._slices is not None:
            self._slices.begin()

    @_guarded
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        if self._slices is not None:
            self._slices.tick()

    @_guarded
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and (trainer.training or self.meter_inference):
            self._begin("validation")

    @_guarded
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        reading = self._end("validation")
        if trainer.state.fn != "fit":
            self._finish_inference(trainer, "validate", reading)
        elif reading is not None:
            previous = self._epoch_validation
            self._epoch_validation = reading if previous is None else previous.plus(reading)

    @_guarded
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        samples = self._slices.end() if self._slices is not None else []
        (epoch, validation), samples = self._gather(
            trainer, self._end("train_epoch"), self._epoch_validation, samples=samples
        )
        if epoch is None:
            return
        if self._records is not None:
            self._write_restored_epochs()
        record = self.totals.add_epoch(
            epoch,
            validation,
            intensity=self._intensity_over(trainer, epoch, samples),
            epoch_index=trainer.current_epoch,
            done_steps=trainer.global_step,
            total_steps=trainer.estimated_stepping_batches,
            forecast_from=self.monitor_epochs,
        )
        for name, value in record["metrics"].items():
            pl_module.log(
                name,
                value,
                on_step=False,
                on_epoch=True,
                prog_bar=self.prog_bar and name == "carbon/epoch_gCO2e",
            )
        if self._records is not None:
            self._records.append_epoch(record)
        if len(self.totals.epochs) == self.monitor_epochs and self.totals.first_forecast:
            rank_zero_info(f"lightning-carbon: {self.totals.forecast_sentence()}")
        self._check_budgets(trainer)

    @_guarded
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        final = self.totals.final_metrics()
        for logger in trainer.loggers:
            logger.log_metrics(final, step=trainer.global_step)
        self._write_summary(trainer, partial_reason=None)

    # -- inference ------------------------------------------------------------------------

    @_guarded
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.meter_inference:
            self._begin("test")

    @_guarded
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish_inference(trainer, "test", self._end("test"))

    @_guarded
    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.meter_inference:
            self._begin("predict")

    @_guarded
    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish_inference(trainer, "predict", self._end("predict"))

    # -- failure and resume ---------------------------------------------------------------

    @_guarded
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        reason = f"{type(exception).__name__}: {exception}".rstrip(": ")
        self._write_summary(trainer, partial_reason=reason)

    def state_dict(self) -> dict[str, Any]:
        return self.totals.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.totals.load_state_dict(state_dict)

    # -- helpers --------------------------------------------------------------------------

    def _make_meter(self, trainer: pl.Trainer) -> EnergyMeter:
        root = trainer.strategy.root_device
        gpu_indices = [root.index or 0] if root.type == "cuda" else []
        node_level = trainer.local_rank == 0
        if self._sensor_factory is not None:
            return EnergyMeter(list(self._sensor_factory(gpu_indices, node_level)))
        return EnergyMeter(gpu_indices=gpu_indices, node_level=node_level, cpu_tdp_w=self.cpu_tdp_w)

    def _resolve_output_dir(self, trainer: pl.Trainer) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        return Path(trainer.log_dir or trainer.default_root_dir)

    def _begin(self, window: str) -> None:
        if self._meter is not None and not self._meter.is_open(window):
            self._meter.begin(window)

    def _end(self, window: str) -> EnergyReading | None:
        if self._meter is None or not self._meter.is_open(window):
            return None
        return self._meter.end(window)

    def _finish_inference(
        self, trainer: pl.Trainer, stage: str, reading: EnergyReading | None
    ) -> None:
        (merged,), _ = self._gather(trainer, reading)
        if merged is None:
            return
        record = self.totals.add_inference(stage, merged, self._intensity_over(trainer, merged))
        trainer.callback_metrics.update(
            {name: torch.tensor(value) for name, value in record["metrics"].items()}
        )
        for logger in trainer.loggers:
            logger.log_metrics(record["metrics"], step=trainer.global_step)
        if self._records is not None:
            self._records.append_epoch(record)
            self._write_summary(trainer, partial_reason=None)

    def _gather(
        self,
        trainer: pl.Trainer,
        *readings: EnergyReading | None,
        samples: Sequence[EnergySample] = (),
    ) -> tuple[list[EnergyReading | None], list[EnergySample]]:
        """Each reading summed over all ranks (device labels qualified by node in DDP), and
        the energy samples of all ranks, so every rank weighs live intensity alike.

        A collective: every rank calls it at the same hook, also one with nothing to give
        (``None``), so that a rank whose metering failed never leaves the others waiting.
        """
        import torch.distributed as dist

        local = (trainer.node_rank, [None if r is None else r.to_dict() for r in readings])
        if trainer.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
            per_rank = [(local, list(samples))]
        else:
            per_rank = [None] * trainer.world_size
            dist.all_gather_object(per_rank, (local, list(samples)))
        merged = [
            RunTotals.merge_ranks(
                [(node, dicts[i]) for (node, dicts), _ in per_rank],
                qualify=trainer.world_size > 1,
            )
            for i in range(len(readings))
        ]
        return merged, [sample for _, rank_samples in per_rank for sample in rank_samples]

    def _intensity_over(
        self, trainer: pl.Trainer, reading: EnergyReading, samples: Sequence[EnergySample] = ()
    ) -> CarbonIntensity:
        """The intensity over a gathered window. A live value is global rank 0's, so that a
        rank whose fetch failed still logs, and budgets, like the others."""
        intensity = self.intensity_choice.over(reading.start_utc, reading.end_utc, samples)
        if self.intensity_choice.is_live:
            intensity = trainer.strategy.broadcast(intensity, src=0)
        return intensity

    def _write_restored_epochs(self) -> None:
        """After a resume into a new output dir, the records start with the restored epochs."""
        assert self._records is not None
        if not self._records.epochs_path.exists():
            for record in self.totals.epochs:
                self._records.append_epoch(record)

    def _check_budgets(self, trainer: pl.Trainer) -> None:
        for key, message, stop in self.totals.budget_findings(
            budget_kwh=self.budget_kwh, budget_gco2e=self.budget_gco2e
        ):
            if stop and self.on_budget == "stop":
                trainer.should_stop = True
                self._warn_once(key, f"{message} Training stops now (on_budget='stop').")
            else:
                self._warn_once(key, message)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            rank_zero_warn(f"lightning-carbon: {message}", category=CarbonBudgetWarning)

    def _write_summary(self, trainer: pl.Trainer, partial_reason: str | None) -> None:
        if self._records is None:
            return
        summary = self.totals.summary(
            intensity=self.intensity_choice,
            precision=str(trainer.precision),
            sensors=[] if self._meter is None else self._meter.choices,
            world_size=trainer.world_size,
            num_nodes=trainer.num_nodes,
            partial_reason=partial_reason,
        )
        self._records.write_summary(summary)
        statement = carbon_statement(summary)
        self._records.write_statement(statement)
        if partial_reason is None and self.totals.epochs:
            rank_zero_info(
                f"lightning-carbon: {format_energy(summary['energy_kWh'])}, "
                f"{format_mass(summary['gco2e'])} over "
                f"{format_duration(summary['duration_s'])}; records in {self._records.directory}"
            )

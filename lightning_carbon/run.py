"""CarbonRun: one metered run in any training loop, from set-up to teardown.

A run owns its meter, its intensity choice (table or live), its totals, its records
(``epochs.jsonl``, ``summary.json``, ``statement.md``), its forecast and budgets. It imports no
training framework: adapters (Lightning, Fabric, MONAI, nnU-Net) map their life cycle onto it,
and a plain PyTorch loop uses it directly.

Example::

    run = CarbonRun(country="DNK", output_dir="runs/unet", budget_gco2e=500, on_budget="stop")
    run.start()                                   # the fit stage: set-up counts from here
    for epoch in range(epochs):
        with run.epoch(epoch, total_batches=epochs * len(loader)):
            for batch in loader:
                train_step(batch)
                run.batch_done()
            with run.validation():
                validate()
        print(run.metrics["carbon/total_gCO2e"])
        if run.should_stop:                       # the next epoch would pass the budget
            break
    run.finish()                                  # summary.json, statement.md

    with run.stage("test"):                       # inference has a cost too
        test()

Under a distributed launcher every rank makes the same calls: pass ``ranks=torch_ranks()``
(or your own :class:`~lightning_carbon.ranks.Ranks`), and global rank 0 writes the records.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning_carbon.checks import positive_number
from lightning_carbon.console import install_warning_format
from lightning_carbon.energy_slices import EnergySlices
from lightning_carbon.footprint import resolve_pue
from lightning_carbon.intensity.choice import resolve_intensity
from lightning_carbon.intensity.series import EnergySample
from lightning_carbon.intensity.table import CarbonIntensity
from lightning_carbon.meter import EnergyMeter
from lightning_carbon.ranks import Ranks, torch_ranks
from lightning_carbon.reading import EnergyReading
from lightning_carbon.records import RunRecords
from lightning_carbon.run_totals import RunTotals
from lightning_carbon.sensors.attribution import Attribution, check_method
from lightning_carbon.sensors.base import Sensor
from lightning_carbon.statement import carbon_statement
from lightning_carbon.units import format_duration, format_energy, format_mass

SensorFactory = Callable[[list[int], bool], Sequence[Sensor]]
"""``(gpu_indices, node_level) -> sensors``: custom sensors for this process."""

BUDGET_ACTIONS = ("warn", "stop")
STAGES = ("fit", "validate", "test", "predict")
METRIC_PREFIXES = ("energy/", "carbon/", "power/", "time/")
"""Every metric a run reports starts with one of these (a framework's own metrics do not)."""
_STAGE_WINDOW = "stage"
_EPOCH_WINDOW = "train_epoch"
_VALIDATION_WINDOW = "validation"
_DESCRIBED: set[str] = set()
"""Sensor descriptions already printed by this process (once per process, not per stage)."""
install_warning_format()


class CarbonBudgetWarning(UserWarning):
    """The forecast or the running total of a run passed its energy or carbon budget."""


class MeteringWarning(RuntimeWarning):
    """Metering failed somewhere; training goes on and the figures may be incomplete."""


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """An exception inside metering becomes one warning per method: training goes on."""

    @functools.wraps(method)
    def wrapper(self: CarbonRun, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:
            name = method.__name__.lstrip("_")
            if name not in self._failed:
                self._failed.add(name)
                warnings.warn(
                    f"lightning-carbon: {name} failed ({type(error).__name__}: "
                    f"{error}); training continues, the carbon figures may be incomplete",
                    MeteringWarning,
                    stacklevel=2,
                )
            return None

    return wrapper


def _positive_or_none(name: str, value: float | None) -> float | None:
    return None if value is None else positive_number(name, value)


def _print_info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class CarbonRun:
    """Meters a run's stages and epochs; keeps its totals, records, forecast and budgets.

    Args:
        country: where the machine runs (ISO-3, ISO-2 or name); defaults to
            ``$LIGHTNING_CARBON_COUNTRY``, else the live zone's country, else the world average
            (said once).
        carbon_intensity: a grid intensity in gCO2e/kWh that overrides the country table.
        live_zone: opt in to live grid data for a zone (``"DK1"``, ``"GB"``, ``"GB-RG10"``, an
            Electricity Maps zone with ``$ELECTRICITYMAPS_TOKEN``), fetched off the training
            thread; failures fall back to the table, said once and in the statement.
        pue: Power Usage Effectiveness, a number >= 1 or a survey average by name; default 1.0.
        monitor_epochs: forecast the whole run after this many epochs.
        budget_kwh, budget_gco2e: limits for the fit's energy and emissions.
        on_budget: ``"warn"`` once, or ``"stop"``: :attr:`should_stop` turns True when the
            next epoch (at the cost of the costliest so far) would pass a budget.
        output_dir: where ``carbon/`` goes (global rank 0 writes it); ``None`` writes nothing
            until :meth:`start` is given one.
        sensors: sensors to read, or a factory ``(gpu_indices, node_level) -> sensors``;
            ``None`` discovers them.
        gpu_indices: CUDA devices this process meters when discovering (``None``: all
            visible, ``[]``: none).
        cpu_tdp_w: the CPU's TDP in W, for the estimate when no counter is readable.
        attribution: ``"process"``: the machine's CPU and DRAM energy times this job's share of
            its busy CPU time (its processes and their children, all ranks on the node);
            ``"machine"``: the whole machine's. Both figures go into the records. An
            :class:`~lightning_carbon.sensors.attribution.Attribution` scripts the CPU times.
        ranks: this process's place in a distributed job (default: that of
            ``torch.distributed`` when a stage starts, see
            :func:`~lightning_carbon.ranks.torch_ranks`; else a single process).
        info: where one-line messages go (default: standard error, global rank 0 only).
        on_metrics: called on every rank with each epoch's metrics (and the epoch as step)
            and with the stage's final metrics (step ``None``): a tracker's ``log_dict``.
        clock: monotonic clock in seconds for durations (injectable for tests).
    """

    def __init__(
        self,
        *,
        country: str | None = None,
        carbon_intensity: float | None = None,
        live_zone: str | None = None,
        pue: float | str | None = None,
        monitor_epochs: int = 1,
        budget_kwh: float | None = None,
        budget_gco2e: float | None = None,
        on_budget: str = "warn",
        output_dir: str | os.PathLike[str] | None = None,
        sensors: Sequence[Sensor] | SensorFactory | None = None,
        gpu_indices: Sequence[int] | None = None,
        cpu_tdp_w: float | None = None,
        attribution: str | Attribution = "process",
        ranks: Ranks | None = None,
        info: Callable[[str], None] | None = None,
        on_metrics: Callable[[dict[str, float], int | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(monitor_epochs, bool) or not isinstance(monitor_epochs, int):
            raise ValueError(f"monitor_epochs must be an int >= 1, got {monitor_epochs!r}")
        if monitor_epochs < 1:
            raise ValueError(f"monitor_epochs must be >= 1, got {monitor_epochs!r}")
        if on_budget not in BUDGET_ACTIONS:
            raise ValueError(f"on_budget must be one of {BUDGET_ACTIONS}, got {on_budget!r}")
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
        self.cpu_tdp_w = _positive_or_none("cpu_tdp_w", cpu_tdp_w)
        self.attribution = (
            attribution if isinstance(attribution, Attribution) else check_method(attribution)
        )
        self.gpu_indices = None if gpu_indices is None else list(gpu_indices)
        self._ranks = ranks or Ranks()
        self._ranks_given = ranks is not None
        self.totals = RunTotals(self.pue)
        self.should_stop = False
        """True once ``on_budget="stop"`` decided that the next epoch would pass a budget."""
        self.metrics: dict[str, float] = {}
        """The latest epoch's (or stage's) metrics, rank-summed: what adapters log."""
        self.summary: dict[str, Any] | None = None
        """The latest ``summary.json`` content (set when a stage ends, on every rank)."""
        self.on_metrics = on_metrics
        self._clock = clock
        self._sensors = sensors
        self.info = info or _print_info
        """Where one-line messages go (global rank 0 only)."""
        self._stage: str | None = None
        self._precision = "unknown"
        self._run_name: str | None = None
        self._meter: EnergyMeter | None = None
        self._slices: EnergySlices | None = None
        self._records: RunRecords | None = None
        self._validation: EnergyReading | None = None
        self._epoch_batches = 0
        self._warned: set[str] = set()
        self._failed: set[str] = set()

    @property
    def ranks(self) -> Ranks:
        """This process's place in the job; an adapter may set it before a stage starts."""
        return self._ranks

    @ranks.setter
    def ranks(self, ranks: Ranks) -> None:
        self._ranks = ranks
        self._ranks_given = True

    # -- stages ---------------------------------------------------------------------------

    def start(
        self,
        stage: str = "fit",
        *,
        output_dir: str | os.PathLike[str] | None = None,
        precision: str | None = None,
        run_name: str | None = None,
    ) -> None:
        """Begin a stage (``fit``, ``validate``, ``test`` or ``predict``): from here it counts.

        ``output_dir`` replaces the constructor's; ``precision`` and ``run_name`` go into the
        summary. An unknown stage is a ``ValueError``; a failure to meter is a warning.
        """
        stage = str(getattr(stage, "value", stage))  # a framework's str enum, too
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if not self._ranks_given:  # a plain loop under torchrun: the ranks of torch.distributed
            self._ranks = torch_ranks()
        self._start(stage, output_dir, precision, run_name)

    @_guarded
    def _start(
        self,
        stage: str,
        output_dir: str | os.PathLike[str] | None,
        precision: str | None,
        run_name: str | None,
    ) -> None:
        # First, on every rank whatever happens next: the PIDs of the job's ranks per node
        pids = self.ranks.gather((self.ranks.node_rank, os.getpid()))
        if self._stage is not None:
            raise RuntimeError(f"stage {self._stage!r} is still running; finish() it first")
        self._stage = stage
        self._precision = precision or self._precision
        self._run_name = run_name or self._run_name
        directory = output_dir if output_dir is not None else self.output_dir
        if self.ranks.is_global_zero and directory is not None and self._records is None:
            self._records = RunRecords(directory)
            if stage == "fit":  # the file holds this run's records: restored ones, or none
                self._records.rewrite_epochs(self.totals.records)
        self._meter = self._make_meter().start()
        self._meter.add_job_pids(
            [pid for node, pid in pids if node == self.ranks.node_rank and pid != os.getpid()]
        )
        self._say_once(self._meter.describe())
        if self.intensity_choice.note:
            self._say_once(self.intensity_choice.note)
        self.intensity_choice.start()
        if self.intensity_choice.is_live:
            self._slices = EnergySlices(self._meter, clock=self._clock)
        self._meter.begin(_STAGE_WINDOW)
        if stage == "fit":
            self.should_stop = False
            self.totals.begin_segment()

    @_guarded
    def finish(self, *, metrics: dict[str, float] | None = None) -> dict[str, float] | None:
        """End the running stage: its totals, records, summary and statement. A collective.

        ``metrics`` (e.g. the final ``val_dice``) go into the summary. Returns the stage's
        final metrics (for ``fit``: ``energy/run_total_kWh``, ``carbon/run_total_gCO2e``...).
        """
        stage = self._require_stage()
        reading = self._gather_one(self._end(_STAGE_WINDOW))
        try:
            if reading is None:
                return None
            if stage == "fit":
                self.totals.finish_fit(
                    reading,
                    intensity=self._intensity_over(reading),
                    outside_intensity=self._outside_intensity,
                )
                result = self.totals.final_metrics()
                if self._records is not None:
                    self._records.rewrite_epochs(self.totals.records)
            else:
                record = self.totals.add_stage(stage, reading, self._intensity_over(reading))
                result = record["metrics"]
                if self._records is not None:
                    self._records.append_epoch(record)
            self.metrics = result
            self._write_summary(metrics)
            if self.on_metrics is not None:
                self.on_metrics(result, None)
            return result
        finally:
            self._end_stage()

    @_guarded
    def fail(self, reason: str | BaseException) -> None:
        """End the running stage as partial (an exception, Ctrl-C). Not a collective: this
        process's own reading of the unfinished part is used, and records are kept.

        ``reason`` is said in the summary; an exception is said as ``"Type: message"``.
        """
        if isinstance(reason, BaseException):
            reason = f"{type(reason).__name__}: {reason}".rstrip(": ")
        stage = self._require_stage()
        try:
            reading = self._end(_STAGE_WINDOW)
            if reading is None:
                return
            if self.ranks.world_size > 1:
                reading = RunTotals.merge_ranks(
                    [(self.ranks.node_rank, reading.to_dict())], qualify=True
                )
            intensity = self.intensity_choice.over(reading.start_utc, reading.end_utc)
            if stage == "fit":
                # one rank's reading would drop the others' energy: several ranks keep the
                # rank-summed totals up to the last finished epoch
                self.totals.finish_fit(
                    reading if self.ranks.world_size == 1 else None,
                    intensity=intensity,
                    partial_reason=reason,
                )
                if self._records is not None:
                    self._records.rewrite_epochs(self.totals.records)
            else:
                record = self.totals.add_stage(stage, reading, intensity, partial_reason=reason)
                if self._records is not None:
                    self._records.append_epoch(record)
            self._write_summary(None)
        finally:
            self._end_stage()

    @contextmanager
    def stage(self, name: str, **start_kwargs: Any) -> Iterator[CarbonRun]:
        """:meth:`start` and :meth:`finish` around a block; an exception makes it partial."""
        self.start(name, **start_kwargs)
        try:
            yield self
        except BaseException as error:
            self.fail(error)
            raise
        self.finish()

    def close(self) -> None:
        """Release the sensors and the live source. Idempotent."""
        if self._meter is not None:
            self._meter.close()
            self._meter = None
            self._slices = None
        self.intensity_choice.close()

    # -- epochs ---------------------------------------------------------------------------

    @_guarded
    def begin_epoch(self) -> None:
        """A training epoch starts."""
        self._validation = None
        self._epoch_batches = 0
        self._begin(_EPOCH_WINDOW)
        if self._slices is not None:
            self._slices.begin()

    @_guarded
    def batch_done(self, count: int = 1) -> None:
        """``count`` training batches finished (the forecast counts batches)."""
        self._epoch_batches += count
        if self._slices is not None:
            self._slices.tick()

    @_guarded
    def begin_validation(self) -> None:
        """Validation inside the epoch starts (metered as part of the epoch, and apart)."""
        self._begin(_VALIDATION_WINDOW)

    @_guarded
    def end_validation(self) -> None:
        """Validation inside the epoch ends."""
        reading = self._end(_VALIDATION_WINDOW)
        if reading is not None:
            previous = self._validation
            self._validation = reading if previous is None else previous.plus(reading)

    @_guarded
    def end_epoch(
        self, epoch_index: int, *, total_batches: float = float("inf")
    ) -> dict[str, float] | None:
        """A training epoch ends: count it, forecast, check budgets. A collective.

        ``total_batches`` is the run's length in training batches (``inf`` if unknown).
        Returns the epoch's metrics (also in :attr:`metrics`).
        """
        samples = self._slices.end() if self._slices is not None else []
        epoch_reading = self._end(_EPOCH_WINDOW)
        so_far = self._peek_stage()
        dropped = {} if self._meter is None else self._meter.dropped
        gathered = self.ranks.gather(
            (
                self.ranks.node_rank,
                [
                    None if r is None else r.to_dict()
                    for r in (epoch_reading, self._validation, so_far)
                ],
                list(samples),
                self._epoch_batches,
                dropped,
            )
        )
        epoch, validation, fit_so_far = self._merge(gathered, 3)
        if epoch is None or fit_so_far is None:
            return None
        all_samples = [sample for _, _, rank_samples, *_ in gathered for sample in rank_samples]
        qualify = self.ranks.world_size > 1
        missing = {
            (f"node{node}/{device}" if qualify else device): why
            for node, *_, rank_dropped in gathered
            for device, why in rank_dropped.items()
        }
        record = self.totals.add_epoch(
            epoch,
            validation,
            fit_so_far,
            intensity=self._intensity_over(epoch, all_samples),
            epoch_index=epoch_index,
            batches=max(batches for _, _, _, batches, _ in gathered),
            total_batches=total_batches,
            forecast_from=self.monitor_epochs,
            outside_intensity=self._outside_intensity,
            missing_devices=missing,
        )
        self._check_budgets()  # before any I/O: every rank must reach the same decision
        self.metrics = record["metrics"]
        if len(self.totals.epochs) == self.monitor_epochs and self.totals.first_forecast:
            self._say(self.totals.forecast_sentence())
        if self.on_metrics is not None:
            self.on_metrics(self.metrics, epoch_index)
        if self._records is not None:
            self._records.append_epoch(record)
        return self.metrics

    @contextmanager
    def epoch(
        self, epoch_index: int, *, total_batches: float = float("inf")
    ) -> Iterator[CarbonRun]:
        """:meth:`begin_epoch` and :meth:`end_epoch` around the block of one training epoch."""
        self.begin_epoch()
        yield self
        self.end_epoch(epoch_index, total_batches=total_batches)

    @contextmanager
    def validation(self) -> Iterator[CarbonRun]:
        """:meth:`begin_validation` and :meth:`end_validation` around a validation block."""
        self.begin_validation()
        yield self
        self.end_validation()

    @_guarded
    def running_totals(self) -> dict[str, float] | None:
        """The fit's energy and emissions up to now, mid-epoch too. A collective.

        For monitors that look between epochs (``val_check_interval < 1``): the same names as
        the epoch metrics ``energy/total_kWh`` and ``carbon/total_gCO2e``.
        """
        so_far = self._gather_one(self._peek_stage())
        if so_far is None:
            return None
        used = self.totals.running(so_far, self._intensity_over(so_far))
        return {"energy/total_kWh": used.energy_kWh, "carbon/total_gCO2e": used.gco2e}

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (rank-summed records and decisions)."""
        return self.totals.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: ``epochs.jsonl`` is rewritten to match it at once, so a
        resume from any checkpoint never counts an epoch twice. During a validate, test or
        predict stage (a framework restoring every callback to run a checkpoint) the run keeps
        its own totals: loading weights to test them does not undo the fit that ran."""
        if self._stage not in (None, "fit"):
            return
        self.totals.load_state_dict(state)
        if self._records is not None:
            self._records.rewrite_epochs(self.totals.records)

    # -- helpers --------------------------------------------------------------------------

    @property
    def running_stage(self) -> str | None:
        """The stage between :meth:`start` and :meth:`finish` (``None`` between stages)."""
        return self._stage

    def batches_done(self) -> int:
        """Training batches of the fit so far, restored ones included."""
        return self.totals.fit_used().batches + self._epoch_batches

    def configuration(self) -> dict[str, Any]:
        """How this run meters and prices energy, flat, for trackers' hyperparameters."""
        intensity = self.intensity_choice.current()
        config: dict[str, Any] = {
            "carbon/country": self.country or intensity.code,
            "carbon/live_zone": self.intensity_choice.live_zone,
            "carbon/intensity_gCO2e_per_kWh": intensity.gco2_per_kWh,
            "carbon/intensity_source": intensity.source,
            "carbon/intensity_year": intensity.year,
            "carbon/intensity_basis": intensity.basis,
            "carbon/pue": self.pue.value,
            "carbon/pue_source": self.pue.source,
            "carbon/budget_kWh": self.budget_kwh,
            "carbon/budget_gCO2e": self.budget_gco2e,
            "carbon/on_budget": self.on_budget,
            "carbon/attribution": getattr(self.attribution, "method", self.attribution),
        }
        if self._meter is not None:
            config["carbon/sensors"] = " | ".join(c.line for c in self._meter.choices)
        return config

    @property
    def records_directory(self) -> Path | None:
        """Where this process writes ``carbon/`` (``None`` off global rank 0)."""
        return None if self._records is None else self._records.directory

    def _make_meter(self) -> EnergyMeter:
        node_level = self.ranks.meters_node
        if callable(self._sensors):
            gpus = [] if self.gpu_indices is None else self.gpu_indices
            sensors: list[Sensor] | None = list(self._sensors(gpus, node_level))
        elif self._sensors is not None:
            sensors = list(self._sensors)
        else:
            sensors = None
        return EnergyMeter(
            sensors,
            gpu_indices=self.gpu_indices,
            node_level=node_level,
            cpu_tdp_w=self.cpu_tdp_w,
            clock=self._clock,
            attribution=self.attribution,
        )

    def _require_stage(self) -> str:
        if self._stage is None:
            raise RuntimeError("no stage is running; call start() first")
        return self._stage

    def _end_stage(self) -> None:
        self._stage = None
        self.close()

    def _begin(self, window: str) -> None:
        if self._meter is not None and not self._meter.is_open(window):
            self._meter.begin(window)

    def _end(self, window: str) -> EnergyReading | None:
        if self._meter is None or not self._meter.is_open(window):
            return None
        return self._meter.end(window)

    def _peek_stage(self) -> EnergyReading | None:
        if self._meter is None or not self._meter.is_open(_STAGE_WINDOW):
            return None
        return self._meter.peek(_STAGE_WINDOW)

    def _merge(self, gathered: list[Any], count: int) -> list[EnergyReading | None]:
        """Each of ``count`` readings summed over the ranks; labels get their node in DDP."""
        qualify = self.ranks.world_size > 1
        return [
            RunTotals.merge_ranks(
                [(node, dicts[i]) for node, dicts, *_ in gathered], qualify=qualify
            )
            for i in range(count)
        ]

    def _gather_one(self, reading: EnergyReading | None) -> EnergyReading | None:
        payload = (self.ranks.node_rank, [None if reading is None else reading.to_dict()])
        (merged,) = self._merge(self.ranks.gather(payload), 1)
        return merged

    def _intensity_over(
        self, reading: EnergyReading, samples: Sequence[EnergySample] = ()
    ) -> CarbonIntensity:
        """The intensity over a gathered window."""
        return self._outside_intensity(reading.start_utc, reading.end_utc, samples)

    def _outside_intensity(
        self, start_utc: str, end_utc: str, samples: Sequence[EnergySample] = ()
    ) -> CarbonIntensity:
        """The intensity between two times. A live value is global rank 0's, so that a rank
        whose fetch failed still logs, and budgets, like the others."""
        intensity = self.intensity_choice.over(start_utc, end_utc, samples)
        if self.intensity_choice.is_live:
            intensity = self.ranks.gather(intensity)[0]
        return intensity

    def _check_budgets(self) -> None:
        for key, message, stop in self.totals.budget_findings(
            budget_kwh=self.budget_kwh, budget_gco2e=self.budget_gco2e
        ):
            if stop and self.on_budget == "stop":
                if not self.should_stop:
                    self.totals.stop_for_budget(message)
                self.should_stop = True
                self._warn_once(key, f"{message} Training stops now (on_budget='stop').")
            else:
                self._warn_once(key, message)

    def _say(self, message: str) -> None:
        if self.ranks.is_global_zero:
            self.info(f"lightning-carbon: {message}")

    def _say_once(self, message: str) -> None:
        if message and message not in _DESCRIBED:
            _DESCRIBED.add(message)
            self._say(message if "\n" not in message else "meters:\n" + message)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned and self.ranks.is_global_zero:
            self._warned.add(key)
            warnings.warn(f"lightning-carbon: {message}", CarbonBudgetWarning, stacklevel=3)

    def _write_summary(self, metrics: dict[str, float] | None) -> None:
        self.summary = summary = self.totals.summary(
            intensity=self.intensity_choice,
            precision=self._precision,
            sensors=self._meter.choices,
            world_size=self.ranks.world_size,
            num_nodes=self.ranks.num_nodes,
            budgets={
                "budget_kwh": self.budget_kwh,
                "budget_gco2e": self.budget_gco2e,
                "on_budget": self.on_budget,
            },
            run_name=self._run_name,
            metrics=metrics,
        )
        if self._records is None:
            return
        self._records.write_summary(summary)
        self._records.write_statement(carbon_statement(summary))
        if not summary["partial"] and summary["epochs"]:
            self._say(
                f"{format_energy(summary['energy_kWh'])}, {format_mass(summary['gco2e'])} over "
                f"{format_duration(summary['duration_s'])}; records in {self._records.directory}"
            )

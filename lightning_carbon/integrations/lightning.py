"""CarbonCallback: a Lightning run's energy and carbon, per epoch, where people look.

One class for both Lightning packages: it subclasses the ``Callback`` of ``lightning.pytorch``
and of ``pytorch_lightning`` (whichever are installed), so either Trainer and either
LightningCLI (``class_path: lightning_carbon.CarbonCallback``) accept it.

Example::

    import lightning as L                      # or: import pytorch_lightning as L
    from lightning_carbon import CarbonCallback

    trainer = L.Trainer(max_epochs=10, callbacks=[CarbonCallback(country="DNK", budget_gco2e=500)])
    trainer.fit(model, datamodule)
    # -> energy/epoch_kWh, carbon/epoch_gCO2e, ... in every logger and trainer.callback_metrics
    # -> <log_dir>/carbon/epochs.jsonl, summary.json, statement.md

The hooks only map Lightning's life cycle onto a :class:`~lightning_carbon.run.CarbonRun`,
which holds all the bookkeeping.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from lightning_carbon.integrations.lightning_loggers import attach_records, log_configuration
from lightning_carbon.ranks import Ranks, gpu_indices_of, torch_all_gather
from lightning_carbon.run import METRIC_PREFIXES, CarbonBudgetWarning, CarbonRun, SensorFactory

__all__ = ["CarbonBudgetWarning", "CarbonCallback"]

PROGRESS_BAR_LABEL = "gCO2e"
"""The progress bar shows the run's running total under this short label."""

# The values are reduced across ranks before they are logged: Lightning's advice to add
# sync_dist=True does not apply to them (it would sum what is already summed).
_OURS = "|".join([*(re.escape(prefix) for prefix in METRIC_PREFIXES), f"{PROGRESS_BAR_LABEL}'"])
warnings.filterwarnings("ignore", message=rf"It is recommended to use `self\.log\('({_OURS})")


def _callback_bases() -> tuple[type, ...]:
    bases = []
    for package in ("lightning.pytorch", "pytorch_lightning"):
        try:
            bases.append(importlib.import_module(package).Callback)
        except ImportError:
            continue
    if not bases:
        raise ImportError("CarbonCallback needs lightning or pytorch_lightning installed")
    return tuple(bases)


def _rank_zero_info(trainer: Any, message: str) -> None:
    package = (
        "lightning.pytorch"
        if type(trainer).__module__.startswith("lightning.")
        else ("pytorch_lightning")
    )
    importlib.import_module(f"{package}.utilities").rank_zero_info(message)


class CarbonCallback(*_callback_bases()):  # type: ignore[misc]
    """Meters a Lightning run and reports it, with its carbon cost, to every logger.

    Arguments as :class:`~lightning_carbon.run.CarbonRun`, plus:

    Args:
        prog_bar: show the run's running gCO2e in the progress bar (label ``gCO2e``).
        meter_inference: also meter validate, test and predict stages.

    The whole fit, from ``setup`` to ``teardown``, is the run's total; the epochs are its
    breakdown. ``carbon/total_gCO2e`` and ``energy/total_kWh`` are also brought up to date at
    every validation, so ``ModelCheckpoint``/``EarlyStopping`` may monitor them with any
    ``val_check_interval``.
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
        attribution: str = "process",
    ) -> None:
        self.run = CarbonRun(
            country=country,
            carbon_intensity=carbon_intensity,
            live_zone=live_zone,
            pue=pue,
            monitor_epochs=monitor_epochs,
            budget_kwh=budget_kwh,
            budget_gco2e=budget_gco2e,
            on_budget=on_budget,
            output_dir=output_dir,
            sensors=sensors,
            cpu_tdp_w=cpu_tdp_w,
            attribution=attribution,
        )
        self.prog_bar = bool(prog_bar)
        self.meter_inference = bool(meter_inference)

    # -- stages ---------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # First, on every rank: under DDP trainer.log_dir is a collective.
        output_dir = self.run.output_dir or trainer.log_dir or trainer.default_root_dir
        if stage != "fit" and not self.meter_inference:
            return
        self.run.gpu_indices = gpu_indices_of(trainer.strategy.root_device)
        self.run.ranks = Ranks(
            trainer.global_rank,
            trainer.local_rank,
            trainer.node_rank,
            trainer.world_size,
            trainer.num_nodes,
            torch_all_gather if trainer.world_size > 1 else None,
        )
        self.run.info = lambda message: _rank_zero_info(trainer, message)
        self.run.start(
            stage,
            output_dir=Path(output_dir),
            precision=str(trainer.precision),
            run_name=_run_name(trainer),
        )
        if stage == "fit" and trainer.is_global_zero:
            log_configuration(trainer.loggers, self.run)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.run.running_stage is None:
            return
        final = self.run.finish(metrics=_user_metrics(trainer))
        if not final:
            return
        if stage != "fit":
            trainer.callback_metrics.update(
                {name: torch.tensor(value) for name, value in final.items()}
            )
        for logger in trainer.loggers:
            logger.log_metrics(final, step=trainer.global_step)
        if trainer.is_global_zero and self.run.records_directory is not None:
            attach_records(trainer.loggers, self.run.records_directory)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.run.running_stage is not None:
            self.run.fail(exception)

    # -- training epochs ------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.run.begin_epoch()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        self.run.batch_done()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self.run.begin_validation()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        self.run.end_validation()
        running = self.run.running_totals()
        if running:
            trainer.callback_metrics.update(
                {name: torch.tensor(value) for name, value in running.items()}
            )

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = self.run.end_epoch(
            trainer.current_epoch, total_batches=_total_batches(trainer, self.run)
        )
        if not metrics:
            return
        for name, value in metrics.items():
            pl_module.log(name, value, on_step=False, on_epoch=True)
        if self.prog_bar:
            pl_module.log(
                PROGRESS_BAR_LABEL,
                metrics["carbon/total_gCO2e"],
                on_step=False,
                on_epoch=True,
                prog_bar=True,
                logger=False,
            )
        if self.run.should_stop:
            trainer.should_stop = True

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return self.run.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.run.load_state_dict(state_dict)


def _total_batches(trainer: Any, run: CarbonRun) -> float:
    """The fit's length in training batches, from ``max_epochs`` and ``max_steps``.

    ``max_steps`` counts optimizer steps: with automatic optimisation one per
    ``accumulate_grad_batches`` batches; with manual optimisation (a GAN steps two optimizers
    per batch) the ratio seen so far.
    """
    per_epoch = float(trainer.num_training_batches)
    by_epochs = per_epoch * trainer.max_epochs if trainer.max_epochs not in (None, -1) else math.inf
    if trainer.max_steps in (None, -1):
        return by_epochs
    if trainer.lightning_module.automatic_optimization:
        batches_per_step = float(trainer.accumulate_grad_batches)
    else:
        done = run.batches_done()
        batches_per_step = done / trainer.global_step if trainer.global_step > 0 else 1.0
    return min(by_epochs, trainer.max_steps * batches_per_step)


def _run_name(trainer: Any) -> str | None:
    logger = trainer.logger
    if logger is None:
        return None
    version = logger.version
    return f"{logger.name}/{version if isinstance(version, str) else f'version_{version}'}"


def _user_metrics(trainer: Any) -> dict[str, float]:
    """The run's own scalar metrics (e.g. ``val_dice``) at the end, for the summary."""
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if not name.startswith(METRIC_PREFIXES)
        and name != PROGRESS_BAR_LABEL
        and getattr(value, "numel", lambda: 1)() == 1
    }

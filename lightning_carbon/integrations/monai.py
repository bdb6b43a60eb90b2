"""A MONAI engine's energy and carbon: an Ignite handler, attached like MONAI's own.

Attach :class:`CarbonHandler` to a ``SupervisedTrainer`` and, for its validation, to the
trainer's ``SupervisedEvaluator`` too. Each epoch's carbon metrics land in the trainer's
``engine.state.metrics``, so MONAI's ``StatsHandler`` and ``TensorBoardStatsHandler`` show
them beside the Dice; the records are the same ``carbon/`` files as a Lightning run's.

Order matters as for MONAI's own handlers: attach it after the ``ValidationHandler`` (so an
epoch's validation counts in the epoch) and before the stats handlers (so they see this
epoch's figures). In ``train_handlers``, put it right after the ``ValidationHandler``.

Example::

    from monai.engines import SupervisedEvaluator, SupervisedTrainer
    from monai.handlers import StatsHandler, TensorBoardStatsHandler, ValidationHandler
    from lightning_carbon.integrations.monai import CarbonHandler

    carbon = CarbonHandler(country="DNK", output_dir="runs/unet")
    evaluator = SupervisedEvaluator(device, val_loader, net, key_val_metric=dice)
    carbon.attach(evaluator)                   # validation inside the trainer's epochs
    trainer = SupervisedTrainer(
        device, 10, train_loader, net, optimizer, loss,
        train_handlers=[ValidationHandler(1, evaluator), carbon,
                        StatsHandler(), TensorBoardStatsHandler("runs/unet")],
    )
    trainer.run()         # -> carbon/energy... in the logs; runs/unet/carbon/summary.json

A ``SupervisedEvaluator`` run on its own (inference) is its own stage, ``validate`` by
default. For resume, put the handler in the ``CheckpointSaver``'s ``save_dict`` (and the
``CheckpointLoader``'s ``load_dict``): it has ``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from lightning_carbon.ranks import gpu_indices_of, torch_ranks
from lightning_carbon.run import METRIC_PREFIXES, STAGES, CarbonRun, MeteringWarning

__all__ = ["CarbonHandler"]


class CarbonHandler:
    """Meters a MONAI trainer (``fit``) and its evaluator, or an evaluator alone.

    Args:
        run: the run to use; default: a :class:`CarbonRun` made of ``run_kwargs``.
        output_dir: where ``carbon/`` goes (default ``carbon-run``).
        evaluation_stage: the stage of an evaluator run outside a training: ``validate``,
            ``test`` or ``predict``.
        run_name: a name for the summary.
        run_kwargs: as :class:`~lightning_carbon.run.CarbonRun` (``country``, ``pue``,
            ``budget_gco2e``...); ``on_budget="stop"`` terminates the trainer.
    """

    def __init__(
        self,
        run: CarbonRun | None = None,
        *,
        output_dir: str | os.PathLike[str] = "carbon-run",
        evaluation_stage: str = "validate",
        run_name: str | None = None,
        **run_kwargs: Any,
    ) -> None:
        if run is not None and run_kwargs:
            raise ValueError(f"give a run or its arguments, not both: got {sorted(run_kwargs)}")
        if evaluation_stage not in STAGES or evaluation_stage == "fit":
            raise ValueError(
                f"evaluation_stage must be validate, test or predict, got {evaluation_stage!r}"
            )
        self.run = run if run is not None else CarbonRun(**run_kwargs)
        self.output_dir = output_dir
        self.evaluation_stage = evaluation_stage
        self.run_name = run_name
        self._in_epoch = False
        self._validating = False
        self._evaluation_metrics: dict[str, float] = {}
        self._warned: set[str] = set()

    def attach(self, engine: Any) -> None:
        """Register on a MONAI trainer (training) or evaluator (validation or inference)."""
        from ignite.engine import Events
        from monai.engines import Evaluator

        if isinstance(engine, Evaluator):
            handlers = {
                Events.STARTED: self._evaluation_started,
                Events.COMPLETED: self._evaluation_completed,
                Events.EXCEPTION_RAISED: self._evaluation_failed,
            }
        else:
            handlers = {
                Events.STARTED: self._fit_started,
                Events.EPOCH_STARTED: self._epoch_started,
                Events.ITERATION_COMPLETED: self._iteration_completed,
                Events.EPOCH_COMPLETED: self._epoch_completed,
                Events.COMPLETED: self._fit_completed,
                Events.EXCEPTION_RAISED: self._fit_failed,
            }
        for event, handler in handlers.items():
            engine.add_event_handler(event, handler)

    # -- training -------------------------------------------------------------------------

    def _fit_started(self, engine: Any) -> None:
        self._in_epoch = False
        self._start("fit", engine)

    def _epoch_started(self, engine: Any) -> None:
        self.run.begin_epoch()
        self._in_epoch = True

    def _iteration_completed(self, engine: Any) -> None:
        self.run.batch_done()

    def _epoch_completed(self, engine: Any) -> None:
        self._in_epoch = False
        state = engine.state
        metrics = self.run.end_epoch(
            state.epoch - 1, total_batches=float(state.max_epochs * state.epoch_length)
        )
        if metrics:
            state.metrics.update(metrics)
        if self.run.should_stop:
            engine.terminate()

    def _fit_completed(self, engine: Any) -> None:
        final = self.run.finish(metrics={**_own_metrics(engine), **self._evaluation_metrics})
        if final:
            engine.state.metrics.update(final)

    def _fit_failed(self, engine: Any, error: BaseException) -> None:
        if self.run.running_stage is not None:
            self.run.fail(error)
        raise error  # Ignite raises only when no handler takes the exception

    # -- evaluation -----------------------------------------------------------------------

    def _evaluation_started(self, engine: Any) -> None:
        if self.run.running_stage == "fit":
            if self._in_epoch:
                self._validating = True
                self.run.begin_validation()
            else:
                self._warn_once(
                    "order",
                    "the evaluator ran after this handler ended the trainer's epoch: attach "
                    "CarbonHandler to the trainer after its ValidationHandler so that "
                    "validation counts in the epoch",
                )
            return
        self._start(self.evaluation_stage, engine)

    def _evaluation_completed(self, engine: Any) -> None:
        self._evaluation_metrics = _own_metrics(engine)
        if self._validating:
            self._validating = False
            self.run.end_validation()
            return
        if self.run.running_stage == self.evaluation_stage:
            final = self.run.finish(metrics=self._evaluation_metrics)
            if final:
                engine.state.metrics.update(final)

    def _evaluation_failed(self, engine: Any, error: BaseException) -> None:
        if self._validating:
            self._validating = False
            self.run.end_validation()
        elif self.run.running_stage == self.evaluation_stage:
            self.run.fail(error)
        raise error

    # -- resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The run's totals, for MONAI's ``CheckpointSaver``."""
        return self.run.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the totals of a checkpoint (``CheckpointLoader``)."""
        self.run.load_state_dict(state)

    # -- helpers --------------------------------------------------------------------------

    def _start(self, stage: str, engine: Any) -> None:
        if self.run.gpu_indices is None:
            self.run.gpu_indices = gpu_indices_of(getattr(engine.state, "device", None))
        if self.run.ranks.world_size == 1:
            self.run.ranks = torch_ranks()
        self.run.start(
            stage,
            output_dir=self.output_dir,
            precision="16-mixed" if getattr(engine, "amp", False) else "32-true",
            run_name=self.run_name,
        )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"lightning-carbon: {message}", MeteringWarning, stacklevel=3)


def _own_metrics(engine: Any) -> dict[str, float]:
    """The engine's scalar metrics (``val_mean_dice``...), ours left out."""
    values = {}
    for name, value in engine.state.metrics.items():
        if name.startswith(METRIC_PREFIXES):
            continue
        try:
            values[name] = float(value)
        except (TypeError, ValueError, RuntimeError):  # not a scalar
            continue
    return values

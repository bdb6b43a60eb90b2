"""An nnU-Net v2 training, metered: every epoch, a carbon line per epoch in nnU-Net's own log.

nnU-Net finds trainer classes by name only inside its own package, so metering is not a
trainer class: :class:`NnUNetCarbon` attaches to a trainer *instance* (any ``nnUNetTrainer``
subclass) and wraps its hooks there. Nothing is copied into nnU-Net's installed package.

- Each epoch (training and its validation batches) is one :class:`CarbonRun` epoch; the time
  between epochs (logging, the progress plot, checkpoint saves) counts outside the epochs.
- nnU-Net's training log gets one ``lightning-carbon:`` line per epoch.
- Records go to ``carbon/`` in the fold's output folder.
- Each checkpoint nnU-Net saves gets the run's totals beside it
  (``checkpoint_latest.pth`` -> ``checkpoint_latest.carbon.json``), and loading a checkpoint
  (``--c``) restores them, so a continued training continues the totals.
- ``stop_after_epochs``: train that many epochs of the configured run, then stop as if it had
  ended (``checkpoint_final.pth`` is saved, ``--c`` carries on): the forecast of the full run
  is in the statement, as a forecast.
- The final validation (``perform_actual_validation``) is metered as the ``validate`` stage.

Example::

    import torch
    from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint
    from lightning_carbon import CarbonRun
    from lightning_carbon.integrations.nnunet import NnUNetCarbon

    trainer = get_trainer_from_args("1", "2d", 0, device=torch.device("cuda"))
    NnUNetCarbon(CarbonRun(country="DNK")).attach(trainer)
    maybe_load_checkpoint(trainer, continue_training, False)  # restores the totals too
    trainer.run_training()
    trainer.perform_actual_validation()
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning_carbon.checks import check_int
from lightning_carbon.ranks import gpu_indices_of
from lightning_carbon.run import CarbonRun, MeteringWarning
from lightning_carbon.units import format_energy, format_mass

__all__ = ["NnUNetCarbon", "carbon_line", "state_path"]

STATE_SCHEMA = "lightning-carbon/nnunet-state/1"
_STATE_SUFFIX = ".carbon.json"
_NNUNET_METRICS = ("ema_fg_dice", "mean_fg_dice", "train_losses", "val_losses")
"""nnU-Net's own per-epoch values kept in the summary (their last value)."""


class _StopTraining(Exception):
    """Raised after an epoch's end to leave nnU-Net's loop early (forecast or budget)."""


def state_path(checkpoint: str | os.PathLike[str]) -> Path:
    """Where the run's totals lie beside an nnU-Net checkpoint.

    Example::

        >>> state_path("fold_0/checkpoint_best.pth").as_posix()
        'fold_0/checkpoint_best.carbon.json'
    """
    path = Path(checkpoint)
    return path.with_name(path.stem + _STATE_SUFFIX)


def carbon_line(metrics: dict[str, float], num_epochs: int | None = None) -> str:
    """One epoch's carbon in words, for nnU-Net's training log.

    Example::

        >>> carbon_line({"energy/epoch_kWh": 0.002, "carbon/epoch_gCO2e": 0.3,
        ...              "energy/validate_kWh": 0.0005, "energy/total_kWh": 0.004,
        ...              "carbon/total_gCO2e": 0.6})
        'lightning-carbon: epoch 2 Wh, 0.3 gCO2e (validation 0.5 Wh); run so far 4 Wh, 0.6 gCO2e'
    """
    line = (
        f"lightning-carbon: epoch {format_energy(metrics['energy/epoch_kWh'])}, "
        f"{format_mass(metrics['carbon/epoch_gCO2e'])} "
        f"(validation {format_energy(metrics.get('energy/validate_kWh', 0.0))}); run so far "
        f"{format_energy(metrics['energy/total_kWh'])}, "
        f"{format_mass(metrics['carbon/total_gCO2e'])}"
    )
    if "energy/predicted_total_kWh" in metrics:
        length = f" of {num_epochs} epochs" if num_epochs else ""
        line += (
            f"; forecast for the run{length} {format_energy(metrics['energy/predicted_total_kWh'])}"
            f", {format_mass(metrics['carbon/predicted_total_gCO2e'])}"
        )
    return line


class NnUNetCarbon:
    """Meters one nnU-Net trainer with ``run``.

    Args:
        run: the metered run; its ``gpu_indices`` default to the trainer's device and its
            messages go to nnU-Net's log.
        stop_after_epochs: stop once the training has this many epochs (counted like
            nnU-Net's ``current_epoch``, so a continued training counts its earlier ones);
            ``None`` trains to ``num_epochs``.
    """

    def __init__(self, run: CarbonRun, *, stop_after_epochs: int | None = None) -> None:
        if stop_after_epochs is not None:
            check_int("stop_after_epochs", stop_after_epochs, 1)
        self.run = run
        self.stop_after_epochs = stop_after_epochs
        self.trainer: Any = None
        self.restored_from: Path | None = None
        """The state file whose totals were restored with a checkpoint (``None``: fresh)."""
        self._metrics: dict[str, float] = {}
        self._warned: set[str] = set()

    def attach(self, trainer: Any) -> Any:
        """Wrap ``trainer``'s hooks (on the instance only); returns the trainer."""
        if getattr(trainer, "_lightning_carbon", None) is not None:
            raise ValueError(f"{type(trainer).__name__} is already metered by lightning-carbon")
        trainer._lightning_carbon = self
        self.trainer = trainer
        if self.run.gpu_indices is None:
            self.run.gpu_indices = gpu_indices_of(trainer.device)
        self.run.info = lambda message: trainer.print_to_log_file(message)
        for name, hook in (
            ("run_training", self._run_training),
            ("on_epoch_start", self._on_epoch_start),
            ("train_step", self._train_step),
            ("on_validation_epoch_start", self._on_validation_epoch_start),
            ("on_validation_epoch_end", self._on_validation_epoch_end),
            ("on_epoch_end", self._on_epoch_end),
            ("save_checkpoint", self._save_checkpoint),
            ("load_checkpoint", self._load_checkpoint),
            ("perform_actual_validation", self._perform_actual_validation),
        ):
            _wrap(trainer, name, hook)
        return trainer

    # -- the training ---------------------------------------------------------------------

    def _run_training(self, original: Callable[[], Any]) -> None:
        trainer = self.trainer
        stop_after = self.stop_after_epochs
        if stop_after is not None and trainer.current_epoch >= stop_after:
            raise ValueError(
                f"the training already has {trainer.current_epoch} epoch(s); "
                f"stop_after_epochs={stop_after} trains none"
            )
        self.run.start("fit", **self._stage_kwargs())
        try:
            try:
                original()
            except _StopTraining:
                trainer.on_train_end()  # checkpoint_final, data loaders shut down
        except BaseException as error:
            self.run.fail(error)
            raise
        self._metrics = self._nnunet_metrics()
        self.run.finish(metrics=self._metrics)
        _remove_orphan_states(Path(trainer.output_folder))

    def _on_epoch_start(self, original: Callable[[], Any]) -> None:
        self.run.begin_epoch()
        original()

    def _train_step(self, original: Callable[[Any], Any], batch: Any) -> Any:
        result = original(batch)
        self.run.batch_done()
        return result

    def _on_validation_epoch_start(self, original: Callable[[], Any]) -> None:
        self.run.begin_validation()
        original()

    def _on_validation_epoch_end(self, original: Callable[[Any], Any], outputs: Any) -> None:
        original(outputs)
        self.run.end_validation()

    def _on_epoch_end(self, original: Callable[[], Any]) -> None:
        trainer = self.trainer
        total_batches = float(trainer.num_epochs * trainer.num_iterations_per_epoch)
        metrics = self.run.end_epoch(trainer.current_epoch, total_batches=total_batches)
        original()  # nnU-Net's log lines, checkpoints (with this epoch's totals), epoch += 1
        if metrics:
            trainer.print_to_log_file(carbon_line(metrics, trainer.num_epochs))
        reason = self._stop_reason()
        if reason is not None:
            trainer.print_to_log_file(f"lightning-carbon: {reason}")
            raise _StopTraining(reason)

    def _stop_reason(self) -> str | None:
        trainer = self.trainer
        if trainer.current_epoch >= trainer.num_epochs:
            return None
        if self.run.should_stop:
            return f"training stops after {trainer.current_epoch} epoch(s) for its carbon budget"
        if self.stop_after_epochs is not None and trainer.current_epoch >= self.stop_after_epochs:
            return (
                f"training stops after {trainer.current_epoch} of {trainer.num_epochs} epochs; "
                "the statement holds the forecast of the full run"
            )
        return None

    # -- checkpoints ----------------------------------------------------------------------

    def _save_checkpoint(self, original: Callable[[str], Any], filename: str) -> None:
        original(filename)
        trainer = self.trainer
        if trainer.local_rank != 0 or trainer.disable_checkpointing:
            return
        if not self.run.ranks.is_global_zero:
            return
        try:
            _write_json(
                state_path(filename),
                {
                    "schema": STATE_SCHEMA,
                    "checkpoint": Path(filename).name,
                    "current_epoch": trainer.current_epoch + 1,  # as nnU-Net stores it
                    "run": self.run.state_dict(),
                },
            )
        except Exception as error:  # metering never stops a training
            self._warn_once("save", f"could not save the carbon totals ({error})")

    def _load_checkpoint(self, original: Callable[[Any], Any], checkpoint: Any) -> None:
        original(checkpoint)
        if not isinstance(checkpoint, str | os.PathLike):
            self._say("a checkpoint given as a dict has no carbon totals; they count from here")
            return
        path = state_path(checkpoint)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._say(f"no carbon totals beside {checkpoint}; they count from here")
            return
        except (OSError, ValueError) as error:
            self._say(f"could not read the carbon totals in {path} ({error}); they count from here")
            return
        if state.get("current_epoch") != self.trainer.current_epoch:
            self._say(
                f"the carbon totals in {path} are for epoch {state.get('current_epoch')!r}, the "
                f"checkpoint for epoch {self.trainer.current_epoch}; they count from here"
            )
            return
        self.run.load_state_dict(state["run"])
        self.restored_from = path

    # -- the final validation -------------------------------------------------------------

    def _perform_actual_validation(self, original: Callable[..., Any], *args: Any, **kwargs: Any):
        self.run.start("validate", **self._stage_kwargs())
        try:
            result = original(*args, **kwargs)
        except BaseException as error:
            self.run.fail(error)
            raise
        self.run.finish(metrics={**self._metrics, **self._validation_dice()})
        return result

    # -- helpers --------------------------------------------------------------------------

    def _stage_kwargs(self) -> dict[str, Any]:
        trainer = self.trainer
        output = Path(trainer.output_folder)
        return {
            "output_dir": output,
            "precision": "16-mixed" if trainer.device.type == "cuda" else "32-true",
            "run_name": "/".join(output.parts[-3:]),
        }

    def _nnunet_metrics(self) -> dict[str, float]:
        values = {}
        for key in _NNUNET_METRICS:
            try:
                values[key] = float(self.trainer.logger.get_value(key, step=-1))
            except Exception:
                continue
        return values

    def _validation_dice(self) -> dict[str, float]:
        path = Path(self.trainer.output_folder) / "validation" / "summary.json"
        try:
            dice = json.loads(path.read_text(encoding="utf-8"))["foreground_mean"]["Dice"]
            return {"final_val/foreground_dice": float(dice)}
        except Exception:
            return {}

    def _say(self, message: str) -> None:
        self.trainer.print_to_log_file(f"lightning-carbon: {message}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"lightning-carbon: {message}", MeteringWarning, stacklevel=3)


def _wrap(trainer: Any, name: str, hook: Callable[..., Any]) -> None:
    """``trainer.name(...)`` becomes ``hook(original, ...)``, on this instance only."""
    original = getattr(trainer, name)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return hook(original, *args, **kwargs)

    setattr(trainer, name, wrapped)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _remove_orphan_states(folder: Path) -> None:
    """Drop the totals of checkpoints nnU-Net has deleted (``checkpoint_latest`` at the end)."""
    for path in folder.glob(f"*{_STATE_SUFFIX}"):
        if not path.with_name(path.name[: -len(_STATE_SUFFIX)] + ".pth").exists():
            path.unlink(missing_ok=True)

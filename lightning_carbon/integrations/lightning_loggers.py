"""The run's configuration and files, handed to whichever Lightning loggers a Trainer has.

Hyperparameters go to every logger; ``statement.md`` and ``summary.json`` are attached where
the logger can hold files: MLflow artifacts (under ``carbon/``), W&B run files, TensorBoard
text. Loggers are recognised by class name, so no logger package is imported here. A logger
that refuses is one warning, never a failed run.

Example::

    log_configuration(trainer.loggers, run)        # after the run started
    attach_records(trainer.loggers, run.records_directory)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lightning_carbon.run import CarbonRun, MeteringWarning

RECORD_FILES = ("statement.md", "summary.json")


def log_configuration(loggers: Iterable[Any], run: CarbonRun) -> None:
    """Log how the run meters and prices energy as hyperparameters of every logger."""
    config = {k: v for k, v in run.configuration().items() if v is not None}
    for logger in loggers:
        _try(logger, "log_hyperparams", lambda lg=logger: lg.log_hyperparams(config))


def attach_records(loggers: Iterable[Any], directory: Path) -> None:
    """Attach the run's statement and summary to each logger that can hold files."""
    files = [directory / name for name in RECORD_FILES if (directory / name).exists()]
    for logger in loggers:
        kind = type(logger).__name__
        if kind == "MLFlowLogger":
            for path in files:
                _try(
                    logger,
                    "log_artifact",
                    lambda p=path, lg=logger: lg.experiment.log_artifact(
                        lg.run_id, str(p), artifact_path="carbon"
                    ),
                )
        elif kind == "WandbLogger":
            for path in files:
                _try(
                    logger,
                    "save",
                    lambda p=path, lg=logger: lg.experiment.save(
                        str(p), base_path=str(directory.parent), policy="now"
                    ),
                )
        elif kind == "TensorBoardLogger":
            _try(logger, "add_text", lambda lg=logger: _tensorboard_text(lg, files))


def _tensorboard_text(logger: Any, files: list[Path]) -> None:
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":  # TensorBoard renders text as Markdown
            text = "\n".join("    " + line for line in text.splitlines())
        logger.experiment.add_text(f"carbon/{path.name}", text)
    logger.experiment.flush()


def _try(logger: Any, what: str, action: Any) -> None:
    try:
        action()
    except Exception as error:  # a logger's trouble must not end the training
        warnings.warn(
            f"lightning-carbon: {type(logger).__name__}.{what} failed ({error}); "
            "the records are still in the carbon/ folder",
            MeteringWarning,
            stacklevel=2,
        )

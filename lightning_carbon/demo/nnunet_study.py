"""The study in miniature: nnU-Net 2d, a few folds, each forecast to 1000 epochs, Table 3.

Selvan et al. (MICCAI 2022) trained nnU-Net in 5-fold cross-validation, forecast the cost of
its 1000 epochs per fold from the first ones, and told each fold's cost as km by car, mean +-
std over the folds, per region. :func:`run_study` does the same end to end on a generated data
set that trains on a CPU: write the data set, plan and preprocess it (``2d`` only), train each
fold for ``epochs`` epochs of nnU-Net's 1000 (with ``iterations_per_epoch`` batches each, not
nnU-Net's 250: the miniature), then write the table.

Everything lands under ``out``: ``raw/``, ``preprocessed/``, ``results/`` (nnU-Net's three
folders: this process's ``nnUNet_raw``, ``nnUNet_preprocessed`` and ``nnUNet_results`` are set
to them) and ``table.md``. Without ``nnUNet_n_proc_DA`` set, the folds' data augmentation
runs in the training process (``0``), which is what a small CPU run wants.

Example::

    result = run_study("nnunet-study", folds=(0, 1), country="DNK")
    print(result.table)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_carbon.checks import check_int
from lightning_carbon.demo.nnunet_data import write_nnunet_dataset
from lightning_carbon.integrations.nnunet_cli import FoldResult, train_fold
from lightning_carbon.study_table import DEFAULT_REGIONS, StudyRow, study_table, table_markdown

CONFIGURATION = "2d"


@dataclass(frozen=True)
class StudyResult:
    """The folds trained, the table's rows, its Markdown and where it was written."""

    folds: list[FoldResult]
    rows: list[StudyRow]
    table: str
    table_path: Path


def use_nnunet_folders(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Point this process's nnU-Net folders into ``out``; returns them by variable name."""
    root = Path(out).resolve()
    folders = {
        "nnUNet_raw": root / "raw",
        "nnUNet_preprocessed": root / "preprocessed",
        "nnUNet_results": root / "results",
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(folder)
    return folders


def plan_and_preprocess(dataset_id: int, configurations: Sequence[str] = (CONFIGURATION,)) -> None:
    """nnU-Net's fingerprint, plans and preprocessing (one process), unless already done."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    folder = Path(nnUNet_preprocessed) / maybe_convert_to_dataset_name(dataset_id)
    if all((folder / f"nnUNetPlans_{c}").is_dir() for c in configurations):
        return
    extract_fingerprints([dataset_id], num_processes=1, check_dataset_integrity=True)
    plan_experiments([dataset_id])
    preprocess(
        [dataset_id],
        configurations=tuple(configurations),
        num_processes=(1,) * len(configurations),
    )


def run_study(
    out: str | os.PathLike[str],
    *,
    folds: Sequence[int] = (0, 1),
    epochs: int = 2,
    iterations_per_epoch: int = 5,
    n_images: int = 10,
    size: int = 64,
    device: str = "cpu",
    dataset_id: int = 1,
    regions: Sequence[str] = DEFAULT_REGIONS,
    **run_options: Any,
) -> StudyResult:
    """Generate, preprocess, train ``folds`` with a forecast to 1000 epochs, write the table.

    ``run_options`` as :class:`~lightning_carbon.run.CarbonRun` (``country="DNK"``...).
    """
    check_int("epochs", epochs, minimum=1)
    check_int("iterations_per_epoch", iterations_per_epoch, minimum=1)
    if not folds:
        raise ValueError(f"folds must name at least one fold, got {folds!r}")
    folders = use_nnunet_folders(out)
    write_nnunet_dataset(folders["nnUNet_raw"], dataset_id=dataset_id, n_images=n_images, size=size)
    plan_and_preprocess(dataset_id)
    os.environ.setdefault("nnUNet_n_proc_DA", "0")  # after planning, which needs >= 1
    results = [
        train_fold(
            str(dataset_id),
            CONFIGURATION,
            fold,
            device=device,
            forecast_after_epochs=epochs,
            iterations_per_epoch=iterations_per_epoch,
            val_iterations_per_epoch=max(1, iterations_per_epoch // 5),
            **run_options,
        )
        for fold in folds
    ]
    rows = study_table(
        [(str(r.output_folder), r.summary) for r in results if r.summary is not None], regions
    )
    table = table_markdown(rows)
    table_path = Path(out) / "table.md"
    table_path.write_text(table, encoding="utf-8")
    return StudyResult(results, rows, table, table_path)

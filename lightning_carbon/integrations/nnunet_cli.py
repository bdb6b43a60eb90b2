"""``lightning-carbon nnunet``: train an nnU-Net v2 fold metered, and tell the folds' Table 3.

``train`` takes ``nnUNetv2_train``'s positional arguments and options with the same meaning,
reads the same environment variables (``nnUNet_raw``, ``nnUNet_preprocessed``,
``nnUNet_results``) and adds the carbon options. ``-tr`` also takes a trainer outside nnU-Net's
package as ``module:Class`` (nnU-Net itself finds trainers by name only inside its package).

Example::

    $ lightning-carbon nnunet train 1 2d 0 -device cuda --country DNK --forecast-after-epochs 5
    $ lightning-carbon nnunet train 1 2d 0 -device cuda --country DNK --c   # go on: totals too
    $ lightning-carbon nnunet table $nnUNet_results/Dataset001_*/*__2d/fold_*
    $ lightning-carbon nnunet demo --out nnunet-study                        # the study, small
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_carbon.checks import check_int
from lightning_carbon.run import CarbonRun
from lightning_carbon.run_cli import add_run_arguments, run_kwargs

DEVICES = ("cpu", "cuda", "mps")
_NNUNET_FOLDERS = ("nnUNet_preprocessed", "nnUNet_results")


@dataclass(frozen=True)
class FoldResult:
    """What a metered fold left: its folder, its summary, and how it ended."""

    output_folder: Path
    summary: dict[str, Any] | None
    restored_from: Path | None
    validated: bool

    @property
    def carbon_dir(self) -> Path:
        """The fold's ``carbon/`` records."""
        return self.output_folder / "carbon"


def trainer_class(name: str) -> type:
    """An nnU-Net trainer class: ``module:Class`` anywhere, or a name nnU-Net finds itself."""
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        module = importlib.import_module(module_name)
        found = getattr(module, class_name, None)
        if found is None:
            raise ValueError(f"module {module_name!r} has no trainer class {class_name!r}")
        return found
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    found = recursive_find_trainer_class_by_name(name)
    if found is None:
        raise ValueError(f"nnU-Net has no trainer class named {name!r}")
    return found


def build_trainer(
    dataset: str,
    configuration: str,
    fold: int | str,
    *,
    trainer: str = "nnUNetTrainer",
    plans: str = "nnUNetPlans",
    continue_training: bool = False,
    device: str = "cuda",
) -> Any:
    """The trainer ``nnUNetv2_train`` would build, from the preprocessed data set's plans."""
    if device not in DEVICES:
        raise ValueError(f"-device must be one of {DEVICES}, got {device!r}")
    unset = [name for name in _NNUNET_FOLDERS if not os.environ.get(name)]
    if unset:
        raise ValueError(f"nnU-Net's folders are not set: {', '.join(unset)} (see nnU-Net's docs)")
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    cls = trainer_class(trainer)
    dataset_name = maybe_convert_to_dataset_name(_dataset_id(dataset))
    folder = Path(os.environ["nnUNet_preprocessed"]) / dataset_name
    plans_content = load_json(str(folder / f"{plans}.json"))
    plans_content["continue_training"] = continue_training
    return cls(
        plans=plans_content,
        configuration=configuration,
        fold=_fold(fold),
        dataset_json=load_json(str(folder / "dataset.json")),
        device=torch.device(device),
    )


def train_fold(
    dataset: str,
    configuration: str,
    fold: int | str,
    *,
    trainer: str = "nnUNetTrainer",
    plans: str = "nnUNetPlans",
    device: str = "cuda",
    continue_training: bool = False,
    forecast_after_epochs: int | None = None,
    num_epochs: int | None = None,
    iterations_per_epoch: int | None = None,
    val_iterations_per_epoch: int | None = None,
    save_probabilities: bool = False,
    disable_checkpointing: bool = False,
    **run_options: Any,
) -> FoldResult:
    """Train one fold as ``nnUNetv2_train`` does, metered; ``run_options`` as
    :class:`~lightning_carbon.run.CarbonRun`.

    With ``forecast_after_epochs`` the training stops after that many epochs and the
    statement holds the forecast of the configured run; the final validation is then left
    out (the network is not trained). ``num_epochs``, ``iterations_per_epoch`` and
    ``val_iterations_per_epoch`` replace the trainer's (nnU-Net's defaults: 1000, 250, 50).
    """
    from nnunetv2.run.run_training import maybe_load_checkpoint

    from lightning_carbon.integrations.nnunet import NnUNetCarbon

    _set_threads(device)
    nnunet_trainer = build_trainer(
        dataset,
        configuration,
        fold,
        trainer=trainer,
        plans=plans,
        continue_training=continue_training,
        device=device,
    )
    for attribute, value in (
        ("num_epochs", num_epochs),
        ("num_iterations_per_epoch", iterations_per_epoch),
        ("num_val_iterations_per_epoch", val_iterations_per_epoch),
    ):
        if value is not None:
            setattr(nnunet_trainer, attribute, check_int(attribute, value, 1))
    nnunet_trainer.disable_checkpointing = disable_checkpointing
    run_options.setdefault("monitor_epochs", forecast_after_epochs or 1)
    meter = NnUNetCarbon(CarbonRun(**run_options), stop_after_epochs=forecast_after_epochs)
    meter.attach(nnunet_trainer)
    maybe_load_checkpoint(nnunet_trainer, continue_training, False)
    if device == "cuda":
        from torch.backends import cudnn

        cudnn.deterministic, cudnn.benchmark = False, True
    nnunet_trainer.run_training()
    validated = nnunet_trainer.current_epoch >= nnunet_trainer.num_epochs or (
        forecast_after_epochs is None
    )
    if validated:
        nnunet_trainer.perform_actual_validation(save_probabilities)
    return FoldResult(
        output_folder=Path(nnunet_trainer.output_folder),
        summary=meter.run.summary,
        restored_from=meter.restored_from,
        validated=validated,
    )


def _dataset_id(dataset: str) -> int | str:
    if str(dataset).startswith("Dataset"):
        return str(dataset)
    try:
        return int(dataset)
    except ValueError:
        raise ValueError(
            f"DATASET must be a data set id or a name like Dataset001_Name, got {dataset!r}"
        ) from None


def _fold(fold: int | str) -> int | str:
    if fold == "all" or isinstance(fold, int):
        return fold
    try:
        return int(fold)
    except ValueError:
        raise ValueError(f"FOLD must be an int or 'all', got {fold!r}") from None


def _set_threads(device: str) -> None:
    """As ``nnUNetv2_train``: every core for the CPU, one thread beside a GPU."""
    import torch

    if device == "cpu":
        torch.set_num_threads(multiprocessing.cpu_count())
    elif device == "cuda":
        torch.set_num_threads(1)


# -- the commands ----------------------------------------------------------------------------


def _require_nnunet() -> None:
    if importlib.util.find_spec("nnunetv2") is None:
        raise ValueError("nnunetv2 is not installed here (pip install nnunetv2)")


def _train(args: argparse.Namespace) -> int:
    _require_nnunet()
    result = train_fold(
        args.dataset_name_or_id,
        args.configuration,
        args.fold,
        trainer=args.tr,
        plans=args.p,
        device=args.device,
        continue_training=args.c,
        forecast_after_epochs=args.forecast_after_epochs,
        num_epochs=args.epochs,
        iterations_per_epoch=args.iterations_per_epoch,
        val_iterations_per_epoch=args.val_iterations_per_epoch,
        save_probabilities=args.npz,
        disable_checkpointing=args.disable_checkpointing,
        **run_kwargs(args),
    )
    statement = result.carbon_dir / "statement.md"
    if statement.is_file():
        print(statement.read_text(encoding="utf-8").strip())
    print(f"Carbon records of this fold: {result.carbon_dir}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from lightning_carbon.study_table import load_summary, study_table, table_markdown

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    rows = study_table([(str(path), load_summary(path)) for path in args.runs], regions)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(table_markdown(rows), end="")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from lightning_carbon.demo.nnunet_study import run_study

    _require_nnunet()
    result = run_study(
        args.out,
        folds=args.folds,
        epochs=args.epochs,
        iterations_per_epoch=args.iterations_per_epoch,
        n_images=args.images,
        size=args.size,
        device=args.device,
        **run_kwargs(args),
    )
    print(result.table, end="")
    print(f"Table written to {result.table_path}")
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        allow_abbrev=False,
        help="nnUNetv2_train, metered: DATASET CONFIGURATION FOLD",
        description="Train one nnU-Net v2 fold like nnUNetv2_train and meter every epoch.",
    )
    parser.add_argument("dataset_name_or_id", help="data set name or id to train with")
    parser.add_argument("configuration", help="configuration to train (2d, 3d_fullres...)")
    parser.add_argument("fold", help="fold of the 5-fold cross-validation (0-4) or 'all'")
    parser.add_argument(
        "-tr",
        default="nnUNetTrainer",
        help="trainer class: a name nnU-Net finds, or module:Class (default: nnUNetTrainer)",
    )
    parser.add_argument("-p", default="nnUNetPlans", help="plans identifier (default: nnUNetPlans)")
    parser.add_argument("-device", default="cuda", choices=DEVICES, help="default: cuda")
    parser.add_argument(
        "--c", action="store_true", help="continue from the latest checkpoint, totals too"
    )
    parser.add_argument(
        "--npz", action="store_true", help="save the final validation's softmax outputs"
    )
    parser.add_argument("--disable_checkpointing", action="store_true", help="write no checkpoints")
    parser.add_argument(
        "--forecast-after-epochs",
        type=int,
        default=None,
        metavar="N",
        help="train N epochs, then stop: the statement forecasts the configured full run",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="replace the trainer's num_epochs (nnU-Net: 1000)"
    )
    parser.add_argument(
        "--iterations-per-epoch", type=int, default=None, help="replace it (nnU-Net: 250)"
    )
    parser.add_argument(
        "--val-iterations-per-epoch", type=int, default=None, help="replace it (nnU-Net: 50)"
    )
    add_run_arguments(parser)
    parser.set_defaults(func=_train)


def _add_table(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "table",
        help="Table 3 over runs: km by car per fold, mean +- std, per region",
        description="Per configuration, mean +- std over its folds of energy, gCO2e and km by "
        "car per region (the study's Table 3), from runs' carbon records.",
    )
    parser.add_argument(
        "runs", nargs="+", help="run folders (an nnU-Net fold, a Lightning log dir) or summaries"
    )
    parser.add_argument(
        "--regions",
        default="DNK,EST,EU27,WORLD",
        help="comma-separated regions (default: DNK,EST,EU27,WORLD)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(func=_table)


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the study in miniature: nnU-Net 2d, two folds, forecast to 1000 epochs, table",
        description="Generate a small nuclei data set, plan and preprocess it with nnU-Net, "
        "train 2d on two folds for a few epochs each with a forecast of nnU-Net's 1000 epochs, "
        "then print the folds' Table 3.",
    )
    parser.add_argument("--out", default="nnunet-study", help="folder for everything")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1], help="default: 0 1")
    parser.add_argument("--epochs", type=int, default=2, help="epochs trained per fold")
    parser.add_argument(
        "--iterations-per-epoch", type=int, default=5, help="training batches per epoch"
    )
    parser.add_argument("--images", type=int, default=10, help="synthetic images (default: 10)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default: 64)")
    parser.add_argument("-device", "--device", default="cpu", choices=DEVICES)
    add_run_arguments(parser)
    parser.set_defaults(func=_demo)


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``nnunet train``, ``nnunet table`` and ``nnunet demo``."""
    parser = subparsers.add_parser(
        "nnunet", help="nnU-Net v2: train a fold metered; Table 3 over folds; the study demo"
    )
    actions = parser.add_subparsers(dest="nnunet_command", metavar="ACTION")
    _add_train(actions)
    _add_table(actions)
    _add_demo(actions)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

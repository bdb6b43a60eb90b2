"""The options every command that trains the demo U-Net shares: one argparse parent.

``lightning-carbon demo``, ``sweep precision`` and ``sweep width`` take the same ``--data``
(``synthetic``, ``folder:PATH`` with ``images/`` and ``masks/``, ``decathlon:PATH`` with a
``dataset.json``), ``--epochs``, ``--precision``, ``--country``, ``--pue`` and the rest, with the
same meaning. Nothing heavy is imported until the data is built.

Example::

    parser = argparse.ArgumentParser(parents=[workload_parent(epochs=1, out="sweeps/x")])
    args = parser.parse_args(["--data", "folder:monuseg", "--country", "DNK", "--size", "128"])
    make_data = datamodule_factory(args)          # a fresh SegmentationDataModule per call
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning_carbon.checks import comma_names

if TYPE_CHECKING:
    from lightning_carbon.demo.datamodule import SegmentationDataModule

DATA_KINDS = ("synthetic", "folder", "decathlon")


@dataclass(frozen=True)
class DataSpec:
    """Which data to train on: the synthetic nuclei, or a folder of the user's own.

    Example::

        >>> data_spec("synthetic")
        DataSpec(kind='synthetic', path=None)
    """

    kind: str
    path: Path | None = None

    def describe(self) -> str:
        """In words, for the console."""
        return "synthetic nuclei" if self.path is None else f"{self.kind} {self.path}"


def data_spec(text: str) -> DataSpec:
    """Parse ``--data``: ``synthetic``, ``folder:PATH`` or ``decathlon:PATH`` (an existing
    folder); ``argparse.ArgumentTypeError`` otherwise."""
    if text == "synthetic":
        return DataSpec("synthetic")
    kind, _, path = text.partition(":")
    if kind not in DATA_KINDS[1:] or not path:
        raise argparse.ArgumentTypeError(
            f"expected synthetic, folder:PATH or decathlon:PATH, got {text!r}"
        )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{kind} data folder not found: {folder}")
    if kind == "decathlon" and not (folder / "dataset.json").is_file():
        raise argparse.ArgumentTypeError(f"no dataset.json in {folder}: not a Decathlon task")
    return DataSpec(kind, folder)


def workload_parent(
    *, epochs: int, out: str, many_precisions: bool = False
) -> argparse.ArgumentParser:
    """A fresh parent parser of the shared options (``add_help=False``).

    ``epochs`` and ``out`` are the command's defaults; with ``many_precisions``,
    ``--precision`` takes a comma-separated list (the precisions a sweep compares).
    """
    parent = argparse.ArgumentParser(add_help=False)
    data = parent.add_argument_group("data and training")
    data.add_argument(
        "--data",
        type=data_spec,
        default=DataSpec("synthetic"),
        metavar="synthetic|folder:PATH|decathlon:PATH",
        help="what to train on: the synthetic nuclei (default), a folder with images/ and "
        "masks/ (PNG or TIFF pairs), or a Medical Segmentation Decathlon task folder",
    )
    data.add_argument(
        "--images", type=int, default=64, help="synthetic images (default: %(default)s)"
    )
    data.add_argument(
        "--size", type=int, default=64, help="images resized to a side of px (default: %(default)s)"
    )
    data.add_argument("--batch-size", type=int, default=8, help="batch size (default: %(default)s)")
    data.add_argument("--epochs", type=int, default=epochs, help="epochs (default: %(default)s)")
    if many_precisions:
        data.add_argument(
            "--precision",
            type=comma_names,
            default=None,
            metavar="P[,P...]",
            help="precisions to compare, e.g. 32-true,bf16-mixed (default: all the accelerator "
            "runs)",
        )
    else:
        data.add_argument(
            "--precision", default="32-true", help="Lightning precision (default: %(default)s)"
        )
    data.add_argument("--seed", type=int, default=0, help="seed of each run (default: %(default)s)")
    data.add_argument("--accelerator", default="auto", help="auto/cpu/cuda (default: %(default)s)")
    carbon = parent.add_argument_group("carbon")
    carbon.add_argument(
        "--country",
        default=None,
        help="where the machine runs, e.g. DNK (default: $LIGHTNING_CARBON_COUNTRY, else world)",
    )
    carbon.add_argument(
        "--carbon-intensity",
        type=float,
        default=None,
        help="grid intensity in gCO2e/kWh (overrides --country)",
    )
    carbon.add_argument(
        "--pue",
        type=_pue,
        default=None,
        help="data-centre PUE: a number >= 1 or a survey such as datacentre (default: 1.0)",
    )
    carbon.add_argument("--cpu-tdp-w", type=float, default=None, help="override the CPU TDP (W)")
    parent.add_argument("--out", default=out, help="output folder (default: %(default)s)")
    parent.add_argument("--json", action="store_true", help="print the result as JSON")
    return parent


def callback_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The carbon options given, as :class:`~lightning_carbon.CarbonCallback` arguments."""
    given = {
        "country": args.country,
        "carbon_intensity": args.carbon_intensity,
        "pue": args.pue,
        "cpu_tdp_w": args.cpu_tdp_w,
    }
    return {key: value for key, value in given.items() if value is not None}


def datamodule_factory(args: argparse.Namespace) -> Callable[[], SegmentationDataModule]:
    """A function making a fresh datamodule of ``--data`` per run; a folder is read (and its
    files checked) once, now. Without the ``demo`` extra, ``ModuleNotFoundError`` says so."""
    from lightning_carbon.demo import (
        DecathlonSlices,
        ImageMaskFolder,
        SegmentationDataModule,
        demo_datamodule,
    )

    spec: DataSpec = args.data
    if spec.path is None:
        return lambda: demo_datamodule(
            n_images=args.images, size=args.size, batch_size=args.batch_size, seed=args.seed
        )
    reader = ImageMaskFolder if spec.kind == "folder" else DecathlonSlices
    dataset = reader(spec.path, size=args.size)
    return lambda: SegmentationDataModule(dataset, batch_size=args.batch_size, seed=args.seed)


def _pue(text: str) -> float | str:
    from lightning_carbon.footprint import resolve_pue

    try:
        resolve_pue(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    try:
        return float(text)
    except ValueError:
        return text

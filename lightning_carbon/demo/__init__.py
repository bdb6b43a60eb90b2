"""The demo workload: a MONAI 2D U-Net of width F trained to segment nuclei.

Used by ``lightning-carbon demo``, the precision and width sweeps, the benchmarks and the
notebook. Needs the ``demo`` extra (``pip install 'lightning-carbon[demo]'``: monai, torchmetrics,
pillow, tifffile, nibabel). Nothing in :mod:`lightning_carbon` imports this package, and the
names below are imported on first use, so ``import lightning_carbon.demo`` stays cheap.

Example::

    from pytorch_lightning import Trainer
    from lightning_carbon.demo import SegmentationModule, demo_datamodule

    model = SegmentationModule(filters=8)          # F = 8 initial filters
    Trainer(max_epochs=1, accelerator="cpu").fit(model, demo_datamodule())
    print(model.num_parameters)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "build_unet": "lightning_carbon.demo.unet",
    "count_parameters": "lightning_carbon.demo.unet",
    "SegmentationModule": "lightning_carbon.demo.module",
    "SyntheticNuclei": "lightning_carbon.demo.synthetic",
    "ImageMaskFolder": "lightning_carbon.demo.folder",
    "DecathlonSlices": "lightning_carbon.demo.decathlon",
    "SegmentationDataModule": "lightning_carbon.demo.datamodule",
    "demo_datamodule": "lightning_carbon.demo.datamodule",
}

__all__ = [
    "DecathlonSlices",
    "ImageMaskFolder",
    "SegmentationDataModule",
    "SegmentationModule",
    "SyntheticNuclei",
    "build_unet",
    "count_parameters",
    "demo_datamodule",
]

if TYPE_CHECKING:
    from lightning_carbon.demo.datamodule import SegmentationDataModule, demo_datamodule
    from lightning_carbon.demo.decathlon import DecathlonSlices
    from lightning_carbon.demo.folder import ImageMaskFolder
    from lightning_carbon.demo.module import SegmentationModule
    from lightning_carbon.demo.synthetic import SyntheticNuclei
    from lightning_carbon.demo.unet import build_unet, count_parameters


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lightning_carbon.demo' has no attribute {name!r}")
    try:
        module = importlib.import_module(_PUBLIC[name])
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"lightning_carbon.demo.{name} needs {error.name!r}: "
            "pip install 'lightning-carbon[demo]'",
            name=error.name,
        ) from error
    return getattr(module, name)

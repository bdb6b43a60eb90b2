"""The synthetic nuclei as an nnU-Net v2 raw data set: PNG images, PNG labels, ``dataset.json``.

nnU-Net reads 2D natural images from PNG (one file per channel, ``_0000`` for the first) and
labels from PNG with one integer per class. The images come from :class:`SyntheticNuclei`, so
the same seed writes the same data set.

Example::

    >>> import tempfile
    >>> folder = write_nnunet_dataset(tempfile.mkdtemp(), n_images=2, size=16)
    >>> folder.name, sorted(p.name for p in (folder / "imagesTr").iterdir())
    ('Dataset001_SyntheticNuclei', ['nuclei_000_0000.png', 'nuclei_001_0000.png'])
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_carbon.checks import check_int
from lightning_carbon.demo.synthetic import SyntheticNuclei

DATASET_NAME = "SyntheticNuclei"
_CASE = "nuclei_{:03d}"


def dataset_folder_name(dataset_id: int, name: str = DATASET_NAME) -> str:
    """nnU-Net's folder name for a data set: ``Dataset`` + three-digit id + ``_`` + name.

    Example::

        >>> dataset_folder_name(7)
        'Dataset007_SyntheticNuclei'
    """
    check_int("dataset_id", dataset_id, minimum=1)
    if dataset_id > 999:
        raise ValueError(f"dataset_id must have at most three digits, got {dataset_id!r}")
    return f"Dataset{dataset_id:03d}_{name}"


def write_nnunet_dataset(
    raw_dir: str | os.PathLike[str],
    *,
    dataset_id: int = 1,
    n_images: int = 10,
    size: int = 64,
    seed: int = 0,
) -> Path:
    """Write ``n_images`` synthetic nuclei images of ``size`` px into ``raw_dir`` as a data set.

    Returns the data set's folder (``raw_dir/Dataset001_SyntheticNuclei`` by default).
    """
    data = SyntheticNuclei(n_images=n_images, size=size, seed=seed)
    folder = Path(raw_dir) / dataset_folder_name(dataset_id)
    for sub in ("imagesTr", "labelsTr"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for index in range(len(data)):
        image, mask = data[index]
        case = _CASE.format(index)
        gray = np.round(image[0].numpy() * 255).astype(np.uint8)
        Image.fromarray(gray).save(folder / "imagesTr" / f"{case}_0000.png")
        Image.fromarray(mask[0].numpy().astype(np.uint8)).save(folder / "labelsTr" / f"{case}.png")
    description = {
        "channel_names": {"0": "fluorescence"},
        "labels": {"background": 0, "nucleus": 1},
        "numTraining": len(data),
        "file_ending": ".png",
        "name": DATASET_NAME,
        "description": f"lightning-carbon synthetic nuclei, {size}x{size} px, seed {seed}",
    }
    (folder / "dataset.json").write_text(json.dumps(description, indent=2) + "\n")
    return folder

"""ImageMaskFolder: image/mask pairs from two folders of PNG or TIFF files (MONuSeg-style)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lightning_carbon.demo._arrays import resize_pair, scale_to_unit, size_pair, to_binary, to_gray

SUFFIXES = (".png", ".tif", ".tiff")
"""File extensions read (case-insensitive); other files in the folders are ignored."""


class ImageMaskFolder(Dataset):
    """Pairs ``root/image_dir/<stem>.*`` with ``root/mask_dir/<stem>[mask_suffix].*``.

    Images become gray float32 ``[1, H, W]`` scaled per image from its min to its max onto
    [0, 1] (RGB through BT.601 luma); masks become float32 ``[1, H, W]`` in {0, 1} (foreground
    where any colour channel is > 0). Alpha channels are ignored. Files are read on access;
    ``pairs`` lists them sorted by stem.

    Args:
        root: the data set folder.
        image_dir: sub-folder of images.
        mask_dir: sub-folder of masks.
        size: resize every pair to this ``(height, width)`` or square side in pixels;
            ``None`` keeps each file's size (batching then needs equal sizes).
        mask_suffix: a mask named ``<stem><mask_suffix>`` pairs with image ``<stem>``;
            a mask named exactly ``<stem>`` pairs too.

    Raises:
        FileNotFoundError: a folder is missing (it is named).
        ValueError: no images, two files for one stem, or files without a partner
            (all are named).

    Example::

        data = ImageMaskFolder("monuseg", size=256)   # monuseg/images, monuseg/masks
        image, mask = data[0]                         # [1, 256, 256] each
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        image_dir: str = "images",
        mask_dir: str = "masks",
        size: int | Sequence[int] | None = None,
        mask_suffix: str = "_mask",
    ) -> None:
        self.root = Path(root)
        self.size = size_pair(size)
        images = _files_by_key(self.root / image_dir, strip="")
        masks = _files_by_key(self.root / mask_dir, strip=mask_suffix)
        if not images:
            raise ValueError(f"no {'/'.join(SUFFIXES)} images in {self.root / image_dir}")
        _check_paired(images, masks, mask_suffix)
        self.pairs = [(images[key], masks[key]) for key in sorted(images)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        image = scale_to_unit(to_gray(_read(image_path), image_path))
        mask = to_binary(_read(mask_path), mask_path)
        if image.shape != mask.shape:
            raise ValueError(
                f"{image_path.name} is {image.shape[0]}x{image.shape[1]} but its mask "
                f"{mask_path.name} is {mask.shape[0]}x{mask.shape[1]}"
            )
        return resize_pair(torch.from_numpy(image)[None], torch.from_numpy(mask)[None], self.size)


def _files_by_key(folder: Path, strip: str) -> dict[str, Path]:
    """Readable files in ``folder`` keyed by stem, less a trailing ``strip``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        key = path.stem[: -len(strip)] if strip and path.stem.endswith(strip) else path.stem
        if key in found:
            raise ValueError(f"two files for {key!r} in {folder}: {found[key].name}, {path.name}")
        found[key] = path
    return found


def _check_paired(images: dict[str, Path], masks: dict[str, Path], mask_suffix: str) -> None:
    lonely_images = sorted(images[key].name for key in images.keys() - masks.keys())
    lonely_masks = sorted(masks[key].name for key in masks.keys() - images.keys())
    if lonely_images or lonely_masks:
        raise ValueError(
            f"unpaired files (a mask is named <stem> or <stem>{mask_suffix}): "
            f"images without a mask: {lonely_images}; masks without an image: {lonely_masks}"
        )


def _read(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(path) as picture:
            return np.asarray(picture.convert("RGB") if picture.mode == "P" else picture)
    import tifffile

    return tifffile.imread(path)

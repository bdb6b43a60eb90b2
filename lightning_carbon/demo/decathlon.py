"""DecathlonSlices: a Medical Segmentation Decathlon task served as 2D axial slices."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lightning_carbon.checks import check_int
from lightning_carbon.demo._arrays import resize_pair, scale_to_unit, size_pair

INTENSITY_PERCENTILES = (0.5, 99.5)
"""Each volume's intensities are mapped from these percentiles onto [0, 1] (then clipped)."""


class DecathlonSlices(Dataset):
    """Axial slices ``(image, mask)`` of the volumes a task's ``dataset.json`` lists.

    Reads ``root/dataset.json``; each entry of its ``split`` list (``"training"`` in every
    Decathlon task) names ``{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}``.
    Volumes are reoriented to RAS so the third axis is axial, whatever their affine. Images
    are float32 ``[1, H, W]`` scaled per volume (see ``INTENSITY_PERCENTILES``); masks are
    float32 ``[1, H, W]`` in {0, 1}. Slices are indexed volume by volume; ``groups[i]`` is the
    volume of slice ``i`` (so a split can keep a volume's slices together). The most recently
    used volumes are kept in memory.

    Args:
        root: the task folder (e.g. ``Task04_Hippocampus``).
        split: the ``dataset.json`` list to read; its entries need a label.
        foreground_only: serve only slices whose mask has foreground (reads every label now).
        label: foreground is this label value; ``None``: every label > 0.
        channel: the channel of 4D (multi-modal) images to read.
        size: resize slices to this ``(height, width)`` or square side in pixels;
            ``None`` keeps the volume's in-plane size.
        cache_volumes: how many decoded volumes to keep in memory.

    Raises:
        FileNotFoundError: the folder, ``dataset.json`` or listed files are missing (named).
        ValueError: malformed ``dataset.json``, image/label shapes that differ, a channel out of
            range, or no slices to serve.

    Example::

        data = DecathlonSlices("Task04_Hippocampus", foreground_only=True, size=64)
        image, mask = data[0]                         # [1, 64, 64] each
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "training",
        *,
        foreground_only: bool = False,
        label: int | None = None,
        channel: int = 0,
        size: int | Sequence[int] | None = None,
        cache_volumes: int = 2,
    ) -> None:
        self.root = Path(root)
        self.label = None if label is None else check_int("label", label, minimum=1)
        self.channel = check_int("channel", channel, minimum=0)
        self.size = size_pair(size)
        self._cache_volumes = check_int("cache_volumes", cache_volumes, minimum=1)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.pairs = _listed_pairs(self.root, split)
        self._slices: list[tuple[int, int]] = []
        for volume, (image_path, label_path) in enumerate(self.pairs):
            depth = _axial_depth(image_path, label_path, self.channel)
            if foreground_only:
                has_foreground = self._foreground(_load_ras(label_path)).any(axis=(0, 1))
                depths = np.flatnonzero(has_foreground).tolist()
            else:
                depths = range(depth)
            self._slices += [(volume, z) for z in depths]
        if not self._slices:
            raise ValueError(f"no slices in {self.root} (foreground_only={foreground_only})")

    @property
    def groups(self) -> list[int]:
        """The volume (index into ``pairs``) of every slice."""
        return [volume for volume, _ in self._slices]

    def __len__(self) -> int:
        return len(self._slices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        volume, z = self._slices[index]
        image, foreground = self._volume(volume)
        image_slice = torch.from_numpy(np.ascontiguousarray(image[:, :, z]))[None]
        mask_slice = torch.from_numpy(foreground[:, :, z].astype(np.float32))[None]
        return resize_pair(image_slice, mask_slice, self.size)

    def _volume(self, volume: int) -> tuple[np.ndarray, np.ndarray]:
        """Scaled image and boolean foreground of ``volume``, through the small LRU cache."""
        if volume in self._cache:
            self._cache.move_to_end(volume)
            return self._cache[volume]
        image_path, label_path = self.pairs[volume]
        image = scale_to_unit(_load_ras(image_path, self.channel), *INTENSITY_PERCENTILES)
        decoded = (image, self._foreground(_load_ras(label_path)))
        self._cache[volume] = decoded
        if len(self._cache) > self._cache_volumes:
            self._cache.popitem(last=False)
        return decoded

    def _foreground(self, labels: np.ndarray) -> np.ndarray:
        return labels > 0 if self.label is None else np.rint(labels) == self.label


def _listed_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    if not root.is_dir():
        raise FileNotFoundError(f"Decathlon task folder not found: {root}")
    manifest = root / "dataset.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"dataset.json not found in {root}")
    try:
        contents = json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest} is not valid JSON: {error}") from error
    listing = contents.get(split) if isinstance(contents, dict) else None
    if not isinstance(listing, list) or not listing:
        raise ValueError(f"{manifest} has no non-empty {split!r} list")
    pairs = []
    for entry in listing:
        if not (isinstance(entry, dict) and "image" in entry and "label" in entry):
            raise ValueError(f"{manifest}: {split!r} entries need an image and a label: {entry!r}")
        pairs.append((root / entry["image"], root / entry["label"]))
    missing = [str(path) for pair in pairs for path in pair if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"files listed in {manifest} are missing: {missing}")
    return pairs


def _ras_axes(affine: np.ndarray) -> np.ndarray:
    """The voxel-axis-to-RAS orientation of an affine (rows: output axis, flip)."""
    import nibabel as nib

    return nib.orientations.io_orientation(affine)


def _ras_shape(shape: Sequence[int], affine: np.ndarray) -> tuple[int, int, int]:
    ras = [0, 0, 0]
    for axis, (target, _) in enumerate(_ras_axes(affine)):
        ras[int(target)] = int(shape[axis])
    return tuple(ras)  # type: ignore[return-value]


def _axial_depth(image_path: Path, label_path: Path, channel: int) -> int:
    """Number of axial slices, after checking the headers agree (no voxel data is read)."""
    import nibabel as nib

    image, label = nib.load(image_path), nib.load(label_path)
    if image.ndim not in (3, 4) or label.ndim != 3:
        raise ValueError(
            f"expected a 3D or 4D image and a 3D label, got {image_path.name} {image.shape} "
            f"and {label_path.name} {label.shape}"
        )
    channels = image.shape[3] if image.ndim == 4 else 1
    if channel >= channels:
        raise ValueError(f"channel {channel} is out of range: {image_path.name} has {channels}")
    image_ras = _ras_shape(image.shape, image.affine)
    label_ras = _ras_shape(label.shape, label.affine)
    if image_ras != label_ras:
        raise ValueError(
            f"{image_path.name} is {image_ras} but its label {label_path.name} is {label_ras} "
            "(RAS voxels)"
        )
    return image_ras[2]


def _load_ras(path: Path, channel: int = 0) -> np.ndarray:
    """Voxel data reoriented to RAS; ``channel`` of a 4D image."""
    import nibabel as nib

    volume = nib.load(path)
    data = volume.dataobj[..., channel] if volume.ndim == 4 else volume.dataobj
    return nib.orientations.apply_orientation(np.asanyarray(data), _ras_axes(volume.affine))

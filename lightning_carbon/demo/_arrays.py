"""Array helpers shared by the file-backed datasets: sizes, channels, scaling, resizing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R BT.601 luma weights (the ones PIL's "L" mode uses) for RGB -> gray."""


def size_pair(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``size`` in pixels as ``(height, width)``; ``None`` (keep the native size) stays ``None``.

    Example::

        >>> size_pair(64), size_pair((32, 48)), size_pair(None)
        ((64, 64), (32, 48), None)
    """
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    valid = len(pair) == 2 and all(
        isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in pair
    )
    if not valid:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return pair  # type: ignore[return-value]


def color_channels(array: np.ndarray, path: Path) -> np.ndarray:
    """A 2D image as ``(H, W, 1)`` gray or ``(H, W, 3)`` RGB, any alpha channel dropped.

    Accepts ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` with C of 2 (gray + alpha), 3 or 4.

    Example::

        >>> color_channels(np.zeros((4, 8, 9)), Path("rgba.tif")).shape
        (8, 9, 3)
    """
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim == 3 and array.shape[-1] in (2, 3, 4):
        pixels = array
    elif array.ndim == 3 and array.shape[0] in (2, 3, 4):
        pixels = np.moveaxis(array, 0, -1)
    else:
        raise ValueError(f"{path}: expected a 2D gray or RGB(A) image, got shape {array.shape}")
    return pixels[..., :3] if pixels.shape[-1] >= 3 else pixels[..., :1]


def to_gray(array: np.ndarray, path: Path) -> np.ndarray:
    """Gray float32 ``(H, W)``; RGB goes through BT.601 luma.

    Example::

        >>> float(to_gray(np.full((1, 1, 3), 100, np.uint8), Path("x.png"))[0, 0])
        100.0
    """
    pixels = color_channels(array, path).astype(np.float32)
    return pixels @ _LUMA_WEIGHTS if pixels.shape[-1] == 3 else pixels[..., 0]


def to_binary(array: np.ndarray, path: Path) -> np.ndarray:
    """Float32 ``(H, W)`` mask in {0, 1}: foreground where any colour channel is > 0.

    Example::

        >>> to_binary(np.array([[0, 3], [255, 0]]), Path("m.png")).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    return np.any(color_channels(array, path) > 0, axis=-1).astype(np.float32)


def scale_to_unit(
    array: np.ndarray, low_percentile: float = 0.0, high_percentile: float = 100.0
) -> np.ndarray:
    """Float32 copy mapped linearly from the two percentiles to [0, 1], clipped.

    A constant array maps to zeros.

    Example::

        >>> scale_to_unit(np.array([10, 20, 30])).tolist()
        [0.0, 0.5, 1.0]
    """
    values = array.astype(np.float32)
    low, high = (float(bound) for bound in np.percentile(values, [low_percentile, high_percentile]))
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def resize_pair(
    image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize ``[C, H, W]`` image (bilinear, antialiased) and mask (nearest) to ``size``.

    Example::

        >>> image, mask = resize_pair(torch.rand(1, 8, 8), torch.ones(1, 8, 8), (4, 4))
        >>> tuple(image.shape), mask.unique().tolist()
        ((1, 4, 4), [1.0])
    """
    if size is None or tuple(image.shape[-2:]) == size:
        return image, mask
    image = F.interpolate(image[None], size=size, mode="bilinear", antialias=True)[0]
    mask = F.interpolate(mask[None], size=size, mode="nearest-exact")[0]
    return image.clamp_(0.0, 1.0), mask

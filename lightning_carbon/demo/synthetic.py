"""SyntheticNuclei: a seeded, CPU-cheap stand-in for a fluorescence nuclei data set.

Each image is a smooth textured background with a few bright elliptical nuclei of varied size,
orientation and brightness, plus mild pixel noise; its mask marks the nuclei. Image ``i`` is drawn
from its own random stream seeded by ``(seed, i)``, so it is identical across runs, processes and
access orders, and nothing is held in memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from lightning_carbon.checks import check_int

_WAVES = 4
"""Plane waves summed into the background texture."""
_NUCLEI_PER_64PX = (3, 9)
"""Nuclei per 64 x 64 pixels: drawn from [low, high), scaled with the image area."""
_SEMI_AXIS_FRACTION = (0.04, 0.11)
"""Nucleus semi-axes as a fraction of the image side."""
_MIN_SEMI_AXIS_PX = 1.5
"""Keeps every nucleus at least one pixel wide, so no mask is ever empty."""


class SyntheticNuclei(Dataset):
    """``n_images`` pairs ``(image, mask)``, both float32 ``[1, size, size]``.

    The image lies in [0, 1]; the mask holds 0 (background) and 1 (nucleus) and always contains
    at least one nucleus.

    Args:
        n_images: number of images.
        size: side of the square images in pixels (>= 8).
        seed: seeds the whole data set; the same seed gives identical tensors.

    Example::

        >>> data = SyntheticNuclei(n_images=4, size=64, seed=0)
        >>> image, mask = data[0]
        >>> tuple(image.shape), mask.unique().tolist()
        ((1, 64, 64), [0.0, 1.0])
    """

    def __init__(self, n_images: int = 64, size: int = 64, seed: int = 0) -> None:
        self.n_images = check_int("n_images", n_images, minimum=1)
        self.size = check_int("size", size, minimum=8)
        self.seed = check_int("seed", seed, minimum=0)

    def __len__(self) -> int:
        return self.n_images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.n_images:
            raise IndexError(f"index {index} is out of range for {self.n_images} images")
        rng = np.random.default_rng((self.seed, int(index)))
        image, mask = _draw(rng, self.size)
        return torch.from_numpy(image)[None], torch.from_numpy(mask)[None]


def _draw(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    image = _background(rng, rows / size, cols / size)
    inside_any = np.zeros((size, size), dtype=bool)
    low, high = _NUCLEI_PER_64PX
    count = max(1, round(int(rng.integers(low, high)) * (size / 64) ** 2))
    for _ in range(count):
        centre_row, centre_col = rng.uniform(0, size, 2)
        semi_axes = np.maximum(rng.uniform(*_SEMI_AXIS_FRACTION, 2) * size, _MIN_SEMI_AXIS_PX)
        angle = rng.uniform(0, math.pi)
        brightness = rng.uniform(0.5, 0.95)
        d_row, d_col = rows - centre_row, cols - centre_col
        along = (d_col * math.cos(angle) + d_row * math.sin(angle)) / semi_axes[0]
        across = (-d_col * math.sin(angle) + d_row * math.cos(angle)) / semi_axes[1]
        radius_sq = along**2 + across**2
        inside = radius_sq <= 1.0
        dome = brightness * (1.0 - 0.25 * radius_sq)  # brighter centre, dimmer rim
        image = np.where(inside, np.maximum(image, dome), image)
        inside_any |= inside
    image = image + rng.normal(0.0, 0.02, image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32), inside_any.astype(np.float32)


def _background(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Smooth texture in [0.05, 0.35]: a few low-frequency plane waves (1-4 cycles per image)."""
    texture = np.zeros_like(y)
    for _ in range(_WAVES):
        cycles = rng.uniform(1.0, 4.0)
        direction = rng.uniform(0, 2 * math.pi)
        phase = rng.uniform(0, 2 * math.pi)
        along = x * math.cos(direction) + y * math.sin(direction)
        texture += np.cos(2 * math.pi * cycles * along + phase)
    return 0.05 + 0.3 * (texture / _WAVES + 1.0) / 2.0

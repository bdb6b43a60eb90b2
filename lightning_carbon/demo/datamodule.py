"""SegmentationDataModule: synthetic nuclei, an image/mask folder or a Decathlon task, split."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from lightning_carbon.checks import check_int
from lightning_carbon.demo._validate import check_fraction
from lightning_carbon.demo.decathlon import DecathlonSlices
from lightning_carbon.demo.folder import ImageMaskFolder
from lightning_carbon.demo.synthetic import SyntheticNuclei


class SegmentationDataModule(pl.LightningDataModule):
    """Train/validation/test loaders over ``(image, mask)`` pairs, split the same way each run.

    ``dataset`` is ``"synthetic"`` (:class:`SyntheticNuclei` of ``n_images`` at ``size``), a
    folder (a Decathlon task if it holds ``dataset.json``, else an :class:`ImageMaskFolder`
    with ``images/`` and ``masks/``, both resized to ``size``), or any ``Dataset`` of pairs.
    A dataset with a ``groups`` attribute (one key per item, e.g. the volume of a slice) is
    split by group, so no volume is in two splits. The split is fixed by ``seed``; with
    ``test_fraction=0`` the test loader serves the validation split.

    Args:
        dataset: ``"synthetic"``, a folder path, or a ``Dataset``.
        batch_size: items per batch.
        val_fraction: share of items for validation, in (0, 1).
        test_fraction: share of items for testing, in [0, 1).
        num_workers: DataLoader worker processes.
        seed: fixes the split, the training shuffle and the synthetic data.
        n_images: number of synthetic images.
        size: side (or ``(height, width)``) in pixels; ``None`` keeps folder files' sizes.

    Example::

        >>> data = SegmentationDataModule("synthetic", n_images=20, val_fraction=0.2)
        >>> len(data.train_set), len(data.val_set)
        (16, 4)
    """

    def __init__(
        self,
        dataset: str | os.PathLike[str] | Dataset = "synthetic",
        *,
        batch_size: int = 8,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        num_workers: int = 0,
        seed: int = 0,
        n_images: int = 64,
        size: int | Sequence[int] | None = 64,
    ) -> None:
        super().__init__()
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.num_workers = check_int("num_workers", num_workers, minimum=0)
        self.seed = check_int("seed", seed, minimum=0)
        self.dataset = _resolve(dataset, n_images=n_images, size=size, seed=seed)
        groups = getattr(self.dataset, "groups", None) or range(len(self.dataset))
        train, val, test = split_by_group(
            groups,
            check_fraction("val_fraction", val_fraction, allow_zero=False),
            check_fraction("test_fraction", test_fraction, allow_zero=True),
            seed,
        )
        self.train_set = Subset(self.dataset, train)
        self.val_set = Subset(self.dataset, val)
        self.test_set = Subset(self.dataset, test) if test else self.val_set

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def _loader(self, subset: Subset, shuffle: bool) -> DataLoader:
        return DataLoader(
            subset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


def demo_datamodule(
    n_images: int = 64, size: int = 64, batch_size: int = 8, seed: int = 0, num_workers: int = 0
) -> SegmentationDataModule:
    """The small synthetic-nuclei data of the demo (64 images of 64 x 64 by default).

    Example::

        from pytorch_lightning import Trainer
        from lightning_carbon.demo import SegmentationModule

        Trainer(max_epochs=1, accelerator="cpu").fit(SegmentationModule(8), demo_datamodule())
    """
    return SegmentationDataModule(
        "synthetic",
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        n_images=n_images,
        size=size,
    )


def split_by_group(
    groups: Sequence[Hashable], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[int], list[int], list[int]]:
    """Item indices for train, validation and test; items of one group stay together.

    Groups are shuffled with ``seed``, then handed to validation until it holds at least
    ``round(val_fraction * n)`` items (at least one), then likewise to test, the rest to train.

    Example::

        >>> split_by_group(range(10), 0.2, 0.1, seed=0)[1:]
        ([4, 6], [2])
    """
    members: dict[Hashable, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    order = np.random.default_rng(seed).permutation(len(members))
    shuffled = [list(members.values())[position] for position in order]
    wanted = [max(1, round(val_fraction * len(groups)))]
    wanted.append(round(test_fraction * len(groups)) if test_fraction else 0)
    splits: list[list[int]] = [[], [], []]  # val, test, train
    for items in shuffled:
        target = next((i for i in (0, 1) if len(splits[i]) < wanted[i]), 2)
        splits[target] += items
    val, test, train = (sorted(split) for split in splits)
    if not train:
        raise ValueError(
            f"nothing left to train on: {len(members)} group(s) of {len(groups)} items split "
            f"into {len(val)} validation and {len(test)} test items "
            f"(val_fraction={val_fraction!r}, test_fraction={test_fraction!r})"
        )
    return train, val, test


def _resolve(
    dataset: str | os.PathLike[str] | Dataset,
    *,
    n_images: int,
    size: int | Sequence[int] | None,
    seed: int,
) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    if dataset == "synthetic":
        return SyntheticNuclei(n_images=n_images, size=size, seed=seed)  # type: ignore[arg-type]
    root = Path(dataset)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {str(dataset)!r} is neither 'synthetic' nor a folder")
    if (root / "dataset.json").is_file():
        return DecathlonSlices(root, size=size)
    return ImageMaskFolder(root, size=size)

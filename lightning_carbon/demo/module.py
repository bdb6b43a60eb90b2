"""SegmentationModule: the LightningModule that trains the demo U-Net on binary masks."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from monai.losses import DiceCELoss
from torchmetrics.segmentation import DiceScore

from lightning_carbon.demo.unet import build_unet, count_parameters


def _dice_metric() -> DiceScore:
    """Foreground Dice pooled over every pixel the metric sees before it is reset.

    An epoch whose masks and predictions are all empty scores NaN.
    """
    return DiceScore(num_classes=1, average="macro", aggregation_level="global")


class SegmentationModule(pl.LightningModule):
    """Binary segmentation with a MONAI 2D U-Net of initial width F (``filters``).

    Loss: Dice + binary cross-entropy on the logits (MONAI ``DiceCELoss`` with a sigmoid).
    Logs ``train_loss`` (per step and epoch), ``val_loss`` and ``val_dice`` (per epoch),
    ``test_loss`` and ``test_dice``. Dice is torchmetrics' ``DiceScore`` on the foreground,
    with a prediction of foreground where the logit is > 0 (probability > 0.5).
    Batches are ``(image, mask)`` pairs of ``[N, in_channels, H, W]`` and ``[N, 1, H, W]``
    float tensors, H and W divisible by ``2 ** (depth - 1)``.

    Args:
        filters: F, the channels of the first level (then 2F, 4F, ...).
        lr: Adam learning rate.
        in_channels: image channels.
        depth: number of U-Net levels.
        num_res_units: residual units per level (0: plain convolutions).

    Example::

        >>> model = SegmentationModule(filters=8)
        >>> model.num_parameters
        100688
    """

    def __init__(
        self,
        filters: int = 8,
        lr: float = 1e-3,
        in_channels: int = 1,
        depth: int = 4,
        num_res_units: int = 2,
    ) -> None:
        super().__init__()
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.save_hyperparameters()
        self.net = build_unet(
            filters, in_channels=in_channels, depth=depth, num_res_units=num_res_units
        )
        self.loss_fn = DiceCELoss(sigmoid=True)
        self.val_dice = _dice_metric()
        self.test_dice = _dice_metric()

    @property
    def num_parameters(self) -> int:
        """Scalar parameters in the network (the width sweeps report this)."""
        return count_parameters(self.net)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, 1, H, W]`` for images ``[N, in_channels, H, W]``."""
        multiple = 2 ** (self.hparams.depth - 1)
        height, width = image.shape[-2:]
        if height % multiple or width % multiple:
            raise ValueError(
                f"image height and width must be divisible by {multiple} for a U-Net of depth "
                f"{self.hparams.depth}, got {height}x{width} (resize the data, e.g. size=64)"
            )
        return self.net(image)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        _, loss = self._logits_and_loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_dice)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_dice)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def _logits_and_loss(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = batch
        logits = self(image)
        return logits, self.loss_fn(logits, mask)

    def _evaluate(
        self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, dice: DiceScore
    ) -> None:
        logits, loss = self._logits_and_loss(batch)
        dice.update((logits > 0).long(), (batch[1] > 0.5).long())
        batch_size = len(batch[0])
        self.log(f"{stage}_loss", loss, on_epoch=True, sync_dist=True, batch_size=batch_size)
        self.log(f"{stage}_dice", dice, on_epoch=True, batch_size=batch_size)

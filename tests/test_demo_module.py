"""The demo U-Net (width F) and SegmentationModule: parameters, errors, exact Dice, a real fit."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Trainer
from torch.utils.data import DataLoader

from lightning_carbon.demo import SegmentationModule, build_unet, count_parameters, demo_datamodule
from lightning_carbon.demo.unet import unet_channels


def _trainer(**kwargs):
    return Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_width_f_sets_the_channels_of_every_level():
    assert unet_channels(8) == (8, 16, 32, 64)
    assert unet_channels(24, depth=3) == (24, 48, 96)
    net = build_unet(16, num_res_units=0)
    first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert (first_conv.in_channels, first_conv.out_channels) == (1, 16)


def test_parameter_count_grows_about_fourfold_when_f_doubles():
    counts = [SegmentationModule(filters=f).num_parameters for f in (4, 8, 16, 32)]
    ratios = [bigger / smaller for smaller, bigger in zip(counts, counts[1:], strict=False)]
    assert all(3.8 < ratio < 4.0 for ratio in ratios), counts


def test_count_parameters_counts_scalars_and_can_skip_frozen_ones():
    layers = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    layers[0].requires_grad_(False)
    assert count_parameters(layers) == 8 + 3
    assert count_parameters(layers, trainable_only=True) == 3


@pytest.mark.parametrize("filters", [0, -8, 8.0, True, "8", None])
def test_filters_that_are_not_a_positive_int_are_quoted(filters):
    with pytest.raises(ValueError, match=rf"filters must be an int >= 1, got {filters!r}"):
        SegmentationModule(filters=filters)
    with pytest.raises(ValueError, match=rf"got {filters!r}"):
        build_unet(filters)


@pytest.mark.parametrize("lr", [0, -1e-3, math.inf, math.nan, "0.1"])
def test_bad_learning_rate_is_quoted(lr):
    with pytest.raises(ValueError, match=rf"lr must be a positive number, got {lr!r}"):
        SegmentationModule(lr=lr)


def test_hyperparameters_are_saved_for_checkpoints_and_loggers():
    model = SegmentationModule(filters=16, lr=3e-3, depth=3, num_res_units=0)
    assert dict(model.hparams) == {
        "filters": 16,
        "lr": 3e-3,
        "in_channels": 1,
        "depth": 3,
        "num_res_units": 0,
    }


def test_forward_keeps_the_size_and_rejects_sizes_the_unet_cannot_halve():
    model = SegmentationModule(filters=4)
    assert model(torch.zeros(2, 1, 64, 48)).shape == (2, 1, 64, 48)
    with pytest.raises(ValueError, match="divisible by 8 .* got 60x64"):
        model(torch.zeros(1, 1, 60, 64))
    assert SegmentationModule(filters=4, depth=3)(torch.zeros(1, 1, 12, 12)).shape[-1] == 12


class _ThresholdNet(torch.nn.Module):
    """Predicts foreground exactly where the image is > 0.5 (logit +10, else -10)."""

    def forward(self, image):
        return torch.where(image > 0.5, 10.0, -10.0)


def _pair(predicted_cols):
    image, mask = torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0  # 16 foreground pixels
    image[..., 2:6, predicted_cols] = 1.0
    return image, mask


def test_val_and_test_dice_are_pooled_over_the_epoch_exactly():
    model = SegmentationModule(filters=4)
    model.net = _ThresholdNet()
    perfect, half = _pair(slice(2, 6)), _pair(slice(2, 4))  # Dice 1 and 2*8/(16+8)
    trainer = _trainer()
    both = DataLoader([perfect, half], batch_size=1)
    [metrics] = trainer.validate(model, dataloaders=both, verbose=False)
    assert metrics["val_dice"] == pytest.approx(2 * (16 + 8) / (32 + 24))  # not (1 + 2/3)/2
    [metrics] = trainer.test(model, dataloaders=DataLoader([half], batch_size=1), verbose=False)
    assert metrics["test_dice"] == pytest.approx(2 / 3)
    assert math.isfinite(metrics["test_loss"])


def test_a_real_fit_on_synthetic_nuclei_logs_losses_and_dice():
    torch.manual_seed(0)
    model = SegmentationModule(filters=4)
    data = demo_datamodule(n_images=16, size=32, batch_size=4)
    trainer = _trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=1)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(model, data)
    metrics = trainer.callback_metrics
    assert 0.0 <= metrics["val_dice"].item() <= 1.0
    assert {"train_loss_step", "train_loss_epoch", "val_loss"} <= metrics.keys()
    assert all(math.isfinite(metrics[name].item()) for name in ("train_loss_epoch", "val_loss"))
    assert trainer.global_step == 4
    after = list(model.parameters())
    assert any(not torch.equal(old, new) for old, new in zip(before, after, strict=True))
    [tested] = trainer.test(model, data, verbose=False)
    assert 0.0 <= tested["test_dice"] <= 1.0


def test_the_package_and_its_heavy_dependencies_are_imported_lazily():
    script = (
        "import sys, lightning_carbon\n"
        "assert 'lightning_carbon.demo' not in sys.modules\n"
        "import lightning_carbon.demo, lightning_carbon.demo.synthetic\n"
        "heavy = {'monai', 'torchmetrics', 'PIL', 'tifffile', 'nibabel'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, cwd=repo)
    assert result.returncode == 0, result.stderr


def test_a_checkpoint_restores_width_and_weights(tmp_path):
    model = SegmentationModule(filters=4, lr=2e-3, depth=3, num_res_units=1)
    trainer = _trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(model, demo_datamodule(n_images=8, size=16, batch_size=4))
    trainer.save_checkpoint(tmp_path / "demo.ckpt")
    restored = SegmentationModule.load_from_checkpoint(tmp_path / "demo.ckpt")
    assert restored.hparams == model.hparams
    assert restored.num_parameters == model.num_parameters
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, restored.state_dict()[name]), name

"""The demo network: MONAI's 2D U-Net whose width is set by F, its initial number of filters."""

from __future__ import annotations

import torch
from monai.networks.nets import UNet

from lightning_carbon.checks import check_int


def unet_channels(filters: int, depth: int = 4) -> tuple[int, ...]:
    """Channels per level, doubling from ``filters``: F, 2F, 4F, ... (``depth`` levels).

    Example::

        >>> unet_channels(8)
        (8, 16, 32, 64)
    """
    check_int("filters", filters, minimum=1)
    check_int("depth", depth, minimum=2)
    return tuple(filters * 2**level for level in range(depth))


def build_unet(
    filters: int = 8,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    depth: int = 4,
    num_res_units: int = 2,
) -> UNet:
    """MONAI ``UNet`` (2D) with ``depth`` levels of F, 2F, 4F, ... channels and stride-2 downs.

    Inputs need height and width divisible by ``2 ** (depth - 1)`` (8 by default).

    Example::

        >>> net = build_unet(filters=8)
        >>> tuple(net(torch.zeros(1, 1, 64, 64)).shape)
        (1, 1, 64, 64)
    """
    check_int("in_channels", in_channels, minimum=1)
    check_int("out_channels", out_channels, minimum=1)
    check_int("num_res_units", num_res_units, minimum=0)
    channels = unet_channels(filters, depth)
    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=out_channels,
        channels=channels,
        strides=(2,) * (depth - 1),
        num_res_units=num_res_units,
    )


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``module`` (only those with ``requires_grad`` if asked).

    Example::

        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

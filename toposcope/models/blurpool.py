"""Anti-aliased strided convolutions, laid out as in the released TopoNets ResNets.

The TopoNets ResNets were trained with the FFCV ImageNet recipe, which replaces
every strided ``Conv2d`` that sees at least 16 input channels by a wrapper that
first low-passes its input with a fixed 3x3 binomial filter (depthwise, stride
1, zero padding 1) and then runs the original convolution, stride unchanged.
The wrapper keeps the convolution as its ``conv`` child and the filter as a
persistent buffer ``blur_filter``, so a wrapped layer's state-dict keys are
``<name>.conv.weight`` and ``<name>.blur_filter``.

In a torchvision ResNet this wraps the first strided conv of ``layer2``..``layer4``
(``conv1`` in a BasicBlock, ``conv2`` in a Bottleneck) and the 1x1 strided
``downsample.0`` convs; the stem ``conv1`` has 3 input channels and stays bare.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MIN_BLUR_CHANNELS", "BlurPoolConv2d", "apply_blurpool", "binomial_filter"]

#: Strided convs with fewer input channels than this are left unwrapped.
MIN_BLUR_CHANNELS = 16


def binomial_filter() -> torch.Tensor:
    """The 3x3 binomial low-pass kernel ``outer([1, 2, 1], [1, 2, 1]) / 16``, shape (3, 3)."""
    taps = torch.tensor([1.0, 2.0, 1.0])
    return torch.outer(taps, taps) / 16.0


class BlurPoolConv2d(nn.Module):
    """Blur the input with :func:`binomial_filter`, then apply ``conv``.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        The strided convolution to anti-alias; it is kept as is (same stride,
        same weights) under the attribute ``conv``.

    Notes
    -----
    Input ``(B, C_in, H, W)`` is blurred channel by channel to ``(B, C_in, H, W)``
    and then convolved to ``(B, C_out, H', W')`` with ``conv``'s own stride and
    padding, so output shapes equal those of the bare convolution.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        kernel = binomial_filter().expand(conv.in_channels, 1, 3, 3).clone()
        # Persistent: the released checkpoints store it, so strict loading needs it.
        self.register_buffer("blur_filter", kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blurred = F.conv2d(x, self.blur_filter, stride=1, padding=1, groups=self.conv.in_channels)
        return self.conv(blurred)

    @property
    def weight(self) -> torch.Tensor:
        """The wrapped convolution's weight, shape (C_out, C_in, k, k)."""
        return self.conv.weight


def _needs_blur(module: Any, min_channels: int) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and max(module.stride) > 1
        and module.in_channels >= min_channels
    )


def apply_blurpool(model: nn.Module, min_channels: int = MIN_BLUR_CHANNELS) -> list[str]:
    """Wrap, in place, every strided Conv2d with ``>= min_channels`` inputs in a BlurPoolConv2d.

    Parameters
    ----------
    model : torch.nn.Module
    min_channels : int
        Strided convs with fewer input channels (the RGB stem) stay bare.

    Returns
    -------
    list of str
        Module names of the wrappers, in definition order.
    """
    targets = [name for name, module in model.named_modules() if _needs_blur(module, min_channels)]
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, BlurPoolConv2d(getattr(parent, child)))
    return targets

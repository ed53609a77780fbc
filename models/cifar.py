"""CIFAR ResNets (He et al. 2015, arXiv:1512.03385, Sec. 4.2) as used by Li et al. 2018
("Visualizing the Loss Landscape of Neural Nets", arXiv:1712.09913).

A 3x3 stem with 16 channels, three stages of n BasicBlocks with 16/32/64 channels (strides 1/2/2),
global average pool, linear head: depth 6n + 2. Shortcuts are He et al.'s option B: identity,
and a 1x1 conv + BN projection where the stride or width changes (the choice of the Li et al.
reference models; ResNet-56 then has 855,770 parameters for 10 classes, ResNet-20 272,474).

Module names match the 2018 reference code (`conv1`, `bn1`, `layerK.i.conv1/bn1/conv2/bn2`,
`layerK.0.shortcut.0/1`, `linear`), so its checkpoints load directly. `width` multiplies the
16/32/64 channels: `width=2` is the Li et al. "Wide-ResNet" variant (`wrn56-2`), `width=0.5`
a thin net (8/16/32) for fast CPU experiments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .resnet import BasicBlock, Block, NormLayer, add_stages, init_resnet_

__all__ = [
    "DEEPEST",
    "CifarResNet",
    "cifar_resnet",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "stage_channels",
]


def stage_channels(width: float) -> tuple[int, int, int]:
    """Channels of the three stages for a width multiplier: 16/32/64 times `width`, rounded."""
    if not width > 0:
        raise ValueError(f"width must be a positive multiplier of 16/32/64 channels, got {width!r}")
    return tuple(max(1, int(round(c * width))) for c in (16, 32, 64))  # type: ignore[return-value]


class CifarResNet(nn.Module):
    """ResNet for 32x32 inputs: conv3x3 stem, three stages, average pool, `linear` head.

    Args:
        block: the block type, `BasicBlock` for the He et al. CIFAR nets.
        layers: blocks per stage, e.g. (3, 3, 3) for ResNet-20.
        num_classes: outputs of the head (10 for CIFAR-10).
        width: multiplier of the 16/32/64 stage channels (2 -> 32/64/128, 0.5 -> 8/16/32).
        skip: False removes every shortcut (Li et al.'s "noshort" nets).
        zero_init_residual: zero the last BN of each residual branch (blocks with a shortcut only).
        norm_layer: normalisation factory, `nn.BatchNorm2d` by default.
    """

    def __init__(self, block: Block, layers: Sequence[int], *, num_classes: int = 10,
                 width: float = 1.0, skip: bool = True, zero_init_residual: bool = True,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        if len(layers) != 3 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be three positive block counts, got {tuple(layers)}")
        norm_layer = norm_layer or nn.BatchNorm2d
        c1, c2, c3 = stage_channels(width)
        self.skip = skip
        self.width = width
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1, bias=False)
        self.bn1 = norm_layer(c1)
        self.relu = nn.ReLU(inplace=True)
        channels = add_stages(self, block, c1, (c1, c2, c3), (1, 2, 2), layers, skip=skip,
                              norm_layer=norm_layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(channels, num_classes)
        init_resnet_(self, zero_init_residual=zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(torch.flatten(self.avgpool(x), 1))


DEEPEST = 2000  # deeper nets take minutes just to build, and no study has used one


def cifar_resnet(depth: int, **kwargs: Any) -> CifarResNet:
    """A CIFAR ResNet of any depth 6n + 2 (n BasicBlocks per stage); kwargs go to `CifarResNet`."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, "
                         f"...), got {depth}")
    if depth > DEEPEST:
        raise ValueError(f"CIFAR ResNet depth {depth:,} is more than the {DEEPEST:,} layers built "
                         f"here (He et al.'s deepest has 1,202): pass a depth of at most "
                         f"{DEEPEST:,}")
    n = (depth - 2) // 6
    return CifarResNet(BasicBlock, (n, n, n), **kwargs)


def resnet20(**kwargs: Any) -> CifarResNet:
    """ResNet-20 for CIFAR (He et al. 2015, Sec. 4.2), option-B shortcuts; 272,474 parameters."""
    return cifar_resnet(20, **kwargs)


def resnet32(**kwargs: Any) -> CifarResNet:
    """ResNet-32 for CIFAR (He et al. 2015, Sec. 4.2), option-B shortcuts; 466,906 parameters."""
    return cifar_resnet(32, **kwargs)


def resnet44(**kwargs: Any) -> CifarResNet:
    """ResNet-44 for CIFAR (He et al. 2015, Sec. 4.2), option-B shortcuts; 661,338 parameters."""
    return cifar_resnet(44, **kwargs)


def resnet56(**kwargs: Any) -> CifarResNet:
    """ResNet-56 for CIFAR (He et al. 2015, Sec. 4.2), option-B shortcuts; 855,770 parameters."""
    return cifar_resnet(56, **kwargs)


def resnet110(**kwargs: Any) -> CifarResNet:
    """ResNet-110 for CIFAR (He et al. 2015, Sec. 4.2), option-B shortcuts; 1,730,714 parameters."""
    return cifar_resnet(110, **kwargs)

"""ResNets for ImageNet (He et al. 2015, "Deep Residual Learning for Image Recognition",
arXiv:1512.03385), with a switch that removes every shortcut (the paper's "plain" networks).

The layout follows torchvision's `resnet.py`, so parameter counts equal torchvision's and a
torchvision state_dict loads through a one-line key map (torchvision's `downsample` is our
`shortcut`; see `models.checkpoint.KEY_MAPS`). The blocks and the stages (`add_stages`) are
shared with the CIFAR ResNets in `models/cifar.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "conv1x1",
    "conv3x3",
    "init_resnet_",
    "make_stage",
    "add_stages",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]

NormLayer = Callable[[int], nn.Module]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BN follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution with no bias (projection shortcuts, bottlenecks)."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def _shortcut(in_channels: int, out_channels: int, stride: int, skip: bool,
              norm_layer: NormLayer) -> nn.Module | None:
    """Identity, a 1x1 conv + BN projection where stride or width changes, or None without skip."""
    if not skip:
        return None
    if stride != 1 or in_channels != out_channels:
        return nn.Sequential(conv1x1(in_channels, out_channels, stride), norm_layer(out_channels))
    return nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    With `skip=False` the block has no `shortcut` attribute at all and computes
    relu(residual(x)) only, the "plain" block of He et al.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, *, skip: bool = True,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = norm_layer(channels)
        self.skip = skip
        shortcut = _shortcut(in_channels, channels * self.expansion, stride, skip, norm_layer)
        if shortcut is not None:
            self.shortcut = shortcut

    @property
    def last_bn(self) -> nn.Module:
        """The BN that ends the residual branch (zero-initialised by `zero_init_residual`)."""
        return self.bn2

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x), before the addition and the final ReLU."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        if self.skip:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, as torchvision's "ResNet v1.5"), 1x1 expand by 4."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, *, skip: bool = True,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels)
        self.bn1 = norm_layer(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn2 = norm_layer(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.skip = skip
        shortcut = _shortcut(in_channels, out_channels, stride, skip, norm_layer)
        if shortcut is not None:
            self.shortcut = shortcut

    @property
    def last_bn(self) -> nn.Module:
        """The BN that ends the residual branch (zero-initialised by `zero_init_residual`)."""
        return self.bn3

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x), before the addition and the final ReLU."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        if self.skip:
            out = out + self.shortcut(x)
        return self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]


def make_stage(block: Block, in_channels: int, channels: int, num_blocks: int, stride: int, *,
               skip: bool = True, norm_layer: NormLayer | None = None) -> nn.Sequential:
    """One stage: `num_blocks` blocks, the first with `stride` (and a projection if needed).

    Returns a Sequential whose blocks are named 0, 1, ... (state_dict keys `layerK.i.*`).
    """
    blocks = [block(in_channels, channels, stride, skip=skip, norm_layer=norm_layer)]
    out_channels = channels * block.expansion
    blocks += [block(out_channels, channels, 1, skip=skip, norm_layer=norm_layer)
               for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def add_stages(model: nn.Module, block: Block, in_channels: int, widths: Sequence[int],
               strides: Sequence[int], layers: Sequence[int], *, skip: bool,
               norm_layer: NormLayer | None) -> int:
    """Add the stages `layer1`, `layer2`, ... to `model`; return the channels of the last."""
    channels = in_channels
    for i, (width, stride) in enumerate(zip(widths, strides, strict=True)):
        stage = make_stage(block, channels, width, int(layers[i]), stride, skip=skip,
                           norm_layer=norm_layer)
        model.add_module(f"layer{i + 1}", stage)
        channels = width * block.expansion
    return channels


def init_resnet_(model: nn.Module, *, zero_init_residual: bool) -> None:
    """Kaiming-normal (fan_out) convs, BN to (1, 0), and optionally zero the last BN of each branch.

    Zero-init (Goyal et al. 2017, arXiv:1706.02677) makes every block start as the identity. It is
    applied only to blocks that have a shortcut: a plain block whose only branch starts at zero
    would output relu(0) = 0 and block all signal, so `skip=False` nets ignore the flag.
    """
    if any(p.is_meta for p in model.parameters()):
        return  # shapes only (e.g. counting parameters): nothing to initialise, and it is slow
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck)) and m.skip and m.last_bn.weight is not None:
                nn.init.zeros_(m.last_bn.weight)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 conv stem, BN, ReLU, 3x3/2 max-pool, four stages of 64/128/256/512
    (x expansion) channels, global average pool, linear head `fc`.

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        num_classes: outputs of the head.
        zero_init_residual: zero the last BN of each residual branch (blocks with a shortcut only).
        skip: False removes every shortcut, identity and projection alike (plain network).
        norm_layer: normalisation factory, `nn.BatchNorm2d` by default.
    """

    def __init__(self, block: Block, layers: Sequence[int], *, num_classes: int = 1000,
                 zero_init_residual: bool = True, skip: bool = True,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be four positive block counts, got {tuple(layers)}")
        norm_layer = norm_layer or nn.BatchNorm2d
        self.skip = skip
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = add_stages(self, block, 64, (64, 128, 256, 512), (1, 2, 2, 2), layers,
                              skip=skip, norm_layer=norm_layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_resnet_(self, zero_init_residual=zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2015, Table 1): BasicBlocks (2, 2, 2, 2); 11,689,512 parameters."""
    return ResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34 (He et al. 2015, Table 1): BasicBlocks (3, 4, 6, 3); 21,797,672 parameters."""
    return ResNet(BasicBlock, (3, 4, 6, 3), **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50 (He et al. 2015, Table 1): Bottlenecks (3, 4, 6, 3); 25,557,032 parameters."""
    return ResNet(Bottleneck, (3, 4, 6, 3), **kwargs)


def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101 (He et al. 2015, Table 1): Bottlenecks (3, 4, 23, 3); 44,549,160 parameters."""
    return ResNet(Bottleneck, (3, 4, 23, 3), **kwargs)


def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152 (He et al. 2015, Table 1): Bottlenecks (3, 8, 36, 3); 60,192,808 parameters."""
    return ResNet(Bottleneck, (3, 8, 36, 3), **kwargs)

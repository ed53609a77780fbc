"""ImageNet ResNets: torchvision parity (counts, weights, logits) and the skip switch."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from models import create_model
from models.checkpoint import KEY_MAPS
from models.resnet import BasicBlock, Bottleneck, ResNet, resnet18

TORCHVISION_COUNTS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION_COUNTS))
def test_parameter_counts_equal_torchvision(name: str) -> None:
    with torch.device("meta"):
        ours = create_model(name)
    assert count(ours) == TORCHVISION_COUNTS[name]


def test_stem_and_stages() -> None:
    with torch.device("meta"):
        net = create_model("resnet50")
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert isinstance(net.maxpool, nn.MaxPool2d)
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert isinstance(net.layer1[0], Bottleneck) and net.layer1[0].expansion == 4
    # projection only on the first block of a stage whose stride or width changes
    assert isinstance(net.layer2[0].shortcut, nn.Sequential)
    assert isinstance(net.layer2[1].shortcut, nn.Identity)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_state_dict_gives_same_logits(name: str) -> None:
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrong mapping would show
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    ours = create_model(name).eval()
    rename = KEY_MAPS["torchvision-resnet"]
    ours.load_state_dict({rename(k): v for k, v in theirs.state_dict().items()})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        diff = (ours(x) - theirs(x)).abs().max().item()
    assert diff <= 1e-5


def test_init_kaiming_fan_out_and_zero_init_residual() -> None:
    torch.manual_seed(0)
    net = resnet18()
    std = net.layer3[0].conv1.weight.std().item()
    expected = (2 / (256 * 9)) ** 0.5  # fan_out = out_channels * k * k
    assert abs(std - expected) / expected < 0.05
    assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for b in net.modules()
               if isinstance(b, BasicBlock))
    plain = resnet18(zero_init_residual=False)
    assert float(plain.layer1[0].bn2.weight.detach().sum()) > 0


def test_zero_init_never_silences_a_plain_net() -> None:
    net = resnet18(skip=False)  # zero_init_residual defaults to True
    blocks = [b for b in net.modules() if isinstance(b, BasicBlock)]
    assert all(float(b.bn2.weight.detach().sum()) > 0 for b in blocks)
    x = torch.randn(2, 3, 64, 64)
    assert net.eval()(x).std() > 0


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_noskip_block_is_only_its_residual_branch(block: type[nn.Module]) -> None:
    torch.manual_seed(0)
    plain = block(64, 64 // block.expansion * 2, stride=1, skip=False).eval()
    assert not hasattr(plain, "shortcut")
    with torch.no_grad():
        plain.last_bn.weight.zero_()
        plain.last_bn.bias.zero_()
    x = torch.randn(2, 64, 8, 8).abs() + 0.1
    out = plain(x)
    assert torch.equal(out, torch.zeros_like(out))  # not x: no shortcut carries it
    skip = block(64, 64 // block.expansion, stride=1).eval()
    with torch.no_grad():
        skip.last_bn.weight.zero_()
        skip.last_bn.bias.zero_()
    torch.testing.assert_close(skip(x), x)  # the identity shortcut does


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_noskip_twin_has_same_parameters_minus_shortcuts(name: str) -> None:
    with torch.device("meta"):
        skip, plain = create_model(name), create_model(f"{name}-noskip")
    shapes = {k: tuple(v.shape) for k, v in skip.state_dict().items()}
    plain_shapes = {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    assert not any(".shortcut." in k for k in plain_shapes)
    assert plain_shapes == {k: s for k, s in shapes.items() if ".shortcut." not in k}
    assert skip.skip and not plain.skip


def test_forward_shape_and_layers_check() -> None:
    net = create_model("resnet18", num_classes=7).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="four positive block counts"):
        ResNet(BasicBlock, (2, 2, 2))

"""CIFAR ResNets: counts, width, the no-skip twin, and the 2018 reference checkpoint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import create_model
from models.checkpoint import load_checkpoint
from models.cifar import CifarResNet, cifar_resnet, stage_channels
from tests.paths import REFERENCE as REFERENCE_DIR

REFERENCE = REFERENCE_DIR / "model_1.t7"
COUNTS = {"resnet20": 272_474, "resnet32": 466_906, "resnet44": 661_338, "resnet56": 855_770,
          "resnet110": 1_730_714}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_counts_option_b(name: str) -> None:
    with torch.device("meta"):
        assert count(create_model(name)) == COUNTS[name]


def test_resnet56_has_855770_parameters() -> None:
    assert count(create_model("resnet56")) == 855_770


def test_structure_he_et_al_sec_4_2() -> None:
    net = create_model("resnet56")
    assert net.conv1.kernel_size == (3, 3) and net.conv1.out_channels == 16
    assert [len(getattr(net, f"layer{i}")) for i in (1, 2, 3)] == [9, 9, 9]
    assert [getattr(net, f"layer{i}")[0].conv1.out_channels for i in (1, 2, 3)] == [16, 32, 64]
    assert isinstance(net.layer2[0].shortcut, nn.Sequential)  # 1x1 conv + BN projection
    assert net.linear.in_features == 64
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_width_multiplier() -> None:
    assert stage_channels(0.5) == (8, 16, 32)
    assert stage_channels(2) == (32, 64, 128)
    thin = create_model("resnet20", width=0.5)
    assert thin.conv1.out_channels == 8 and thin.linear.in_features == 32
    wide = create_model("wrn56-2")
    assert wide.linear.in_features == 128
    assert wide.arch == {"name": "wrn56-2", "kwargs": {"skip": True, "width": 2}}
    assert create_model("wrn20-2-noskip").skip is False
    with pytest.raises(ValueError, match="positive multiplier"):
        create_model("resnet20", width=0)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(21)


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "wrn20-2"])
def test_noskip_twin_same_names_and_shapes_minus_shortcuts(name: str) -> None:
    skip, plain = create_model(name), create_model(f"{name}-noskip")
    plain_shapes = {k: v.shape for k, v in plain.named_parameters()}
    assert plain_shapes == {k: v.shape for k, v in skip.named_parameters()
                            if ".shortcut." not in k}
    assert count(skip) - count(plain) == sum(p.numel() for k, p in skip.named_parameters()
                                             if ".shortcut." in k)
    assert isinstance(plain, CifarResNet) and plain.skip is False


def test_noskip_stage_has_no_shortcut_path() -> None:
    net = create_model("resnet20-noskip").eval()
    block = net.layer2[0]
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    x = torch.randn(2, 16, 32, 32)
    assert torch.count_nonzero(block(x)) == 0


def test_reference_checkpoint_loads_into_our_resnet20() -> None:
    model, meta = load_checkpoint(REFERENCE, "resnet20")
    raw = torch.load(REFERENCE, weights_only=True)["state_dict"]
    assert count(model) == 272_474 and len(raw) == 128
    for key, value in raw.items():  # loaded directly: same names, same values
        torch.testing.assert_close(model.state_dict()[key], value)
    assert meta["epoch"] == 1 and meta["acc"] == pytest.approx(11.5)
    assert meta["format"] == "reference-t7" and meta["arch"] == "resnet20"
    logits = model(torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()

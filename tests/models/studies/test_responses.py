"""Residual responses: a block with a known scale, layer discovery, plain vs residual nets."""

import math

import pytest
import torch
from torch import nn

from models import create_model
from models.resnet import BasicBlock
from models.studies.responses import layer_responses, response_layers, responses_figure

pytestmark = pytest.mark.usefixtures("one_thread")


def _identity_block(gamma1: float, gamma2: float, channels: int = 4) -> BasicBlock:
    """Both convs are the identity (centre tap), BN is y = γ x: the responses have known scale."""
    block = BasicBlock(channels, channels).double()
    with torch.no_grad():
        for conv, bn, gamma in ((block.conv1, block.bn1, gamma1), (block.conv2, block.bn2, gamma2)):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = torch.eye(channels, dtype=torch.float64)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.eps = 0.0
            bn.weight.fill_(gamma)
            bn.bias.zero_()
    return block


def test_responses_of_a_block_with_a_known_scale():
    sigma, g1, g2 = 3.0, 2.0, 0.5
    block = _identity_block(g1, g2).train()
    x = sigma * torch.randn(400, 4, 6, 6, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
    out = layer_responses(block, x, batch_size=64)
    assert list(out) == ["bn1", "bn2"]
    # bn1(conv1(x)) = γ1 x; bn2(conv2(relu(γ1 x))) = γ2 relu(γ1 x), and for z ~ N(0, s²)
    # std(relu(z)) = s sqrt(1/2 − 1/(2π)).
    assert out["bn1"] == pytest.approx(g1 * sigma, rel=0.02)
    assert out["bn2"] == pytest.approx(g2 * g1 * sigma * math.sqrt(0.5 - 0.5 / math.pi), rel=0.02)
    assert block.training and all(m.training for m in block.modules())
    assert not block.bn1._forward_hooks and not block.bn2._forward_hooks


def test_reduce_channel_leaves_out_the_channel_means():
    block = _identity_block(1.0, 1.0)
    with torch.no_grad():
        block.bn1.bias.copy_(torch.tensor([-30.0, -10.0, 10.0, 30.0], dtype=torch.float64))
    x = torch.randn(200, 4, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    per_channel = layer_responses(block, (x, torch.zeros(200)), reduce="channel")
    pooled = layer_responses(block, x, reduce="all")
    assert per_channel["bn1"] == pytest.approx(1.0, rel=0.05)
    assert pooled["bn1"] > 10  # the spread of β dominates
    with pytest.raises(ValueError, match="reduce"):
        layer_responses(block, x, reduce="max")


def test_cifar_nets_have_one_response_per_3x3_layer_in_forward_order():
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    for name in ("resnet20", "resnet20-noskip"):
        net = create_model(name, width=0.25, seed=0)
        layers = [n for n, _ in response_layers(net)]
        assert len(layers) == 19  # the stem and 2 per block; no projection shortcut BNs
        assert not any("shortcut" in n for n in layers)
        out = layer_responses(net, x)
        assert list(out) == layers
        assert all(v >= 0 for v in out.values())
    fig = responses_figure({"plain-20": out, "resnet-20": out})
    assert len(fig.axes) == 2


def test_a_model_without_conv_bn_pairs_is_refused():
    with pytest.raises(ValueError, match="3x3"):
        layer_responses(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), torch.zeros(2, 3, 2, 2))

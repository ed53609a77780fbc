"""Per-layer and per-block curvature against the dense Hessian's diagonal blocks."""

import numpy as np
import pytest
import torch

from landscape.analysis.blocks import block_curvature, parameter_groups
from landscape.analysis.hessian import hessian_rows
from models import create_model
from tests.landscape.analysis.test_spectrum import _mlp_and_data


def _dense_hessian(model, data) -> tuple[np.ndarray, list[str], list[int]]:
    x, y = data
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta):
        parts = theta.split([s.numel() for s in shapes])
        weights = {k: p.view(s) for k, p, s in zip(names, parts, shapes, strict=True)}
        return torch.nn.functional.cross_entropy(
            torch.func.functional_call(model, weights, (x,)), y)

    return (torch.autograd.functional.hessian(loss, flat).numpy(), names,
            [s.numel() for s in shapes])


def _block(h: np.ndarray, names: list[str], sizes: list[int], tensors: list[str]) -> np.ndarray:
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.concatenate([np.arange(offsets[names.index(t)], offsets[names.index(t) + 1])
                          for t in tensors])
    return h[np.ix_(idx, idx)]


def test_groups_of_a_resnet_by_layer_block_and_stage():
    names = [k for k, _ in create_model("resnet20", width=0.25).named_parameters()]
    layers = parameter_groups(names, "layer")
    blocks = parameter_groups(names, "block")
    stages = parameter_groups(names, "stage")
    assert layers["layer2.0.bn1"] == ["layer2.0.bn1.weight", "layer2.0.bn1.bias"]
    assert list(blocks) == ["conv1", "bn1", *[f"layer{s}.{b}" for s in (1, 2, 3)
                                               for b in range(3)], "linear"]
    assert list(stages) == ["conv1", "bn1", "layer1", "layer2", "layer3", "linear"]
    # every parameter in exactly one group at each level
    for groups in (layers, blocks, stages):
        assert sorted(sum(groups.values(), [])) == sorted(names)
    # the no-skip twin has the same blocks
    plain = [k for k, _ in create_model("resnet20-noskip", width=0.25).named_parameters()]
    assert list(parameter_groups(plain, "block")) == list(blocks)
    with pytest.raises(ValueError, match="level must be one of"):
        parameter_groups(names, "module")


def test_block_products_equal_the_dense_diagonal_blocks():
    model, data = _mlp_and_data()
    h, names, sizes = _dense_hessian(model, data)
    point = {k: p.detach() for k, p in model.named_parameters()}
    products, keys = hessian_rows(model, point, data, None, batch_size=20)
    assert keys == names
    g = torch.Generator().manual_seed(0)
    supports = [[0], [1, 3], None]
    tensors = [[names[0]], [names[1], names[3]], names]
    vectors = [torch.randn(_block(h, names, sizes, t).shape[0], generator=g,
                           dtype=torch.float64) for t in tensors]
    out = products(vectors, supports)
    for v, o, t in zip(vectors, out, tensors, strict=True):
        np.testing.assert_allclose(o.numpy(), _block(h, names, sizes, t) @ v.numpy(),
                                   rtol=1e-9, atol=1e-12)


def test_block_curvature_matches_the_dense_blocks():
    model, data = _mlp_and_data()
    h, names, sizes = _dense_hessian(model, data)
    groups = {**parameter_groups(names, "layer"), "all": names}
    result = block_curvature(model, data, groups, steps=100, probes=30, seed=0, batch_size=64)
    assert [r.name for r in result] == ["hidden", "out", "all"]
    for r in result:
        block = _block(h, names, sizes, r.tensors)
        exact = np.linalg.eigvalsh(block)
        assert r.parameters == len(block)
        np.testing.assert_allclose(r.top_eigenvalue, exact.max(), rtol=1e-8)
        assert r.trace_stderr > 0
        assert abs(r.trace - np.trace(block)) < 3 * r.trace_stderr, (r.name, r.trace,
                                                                     np.trace(block))
    # the layers partition the parameters: their traces add up probe by probe
    np.testing.assert_allclose(result[0].trace + result[1].trace, result[2].trace, rtol=1e-10)
    # few steps: the top Ritz value is a lower bound that is already close
    short = block_curvature(model, data, {"all": names}, steps=8, probes=2, seed=0)
    top = np.linalg.eigvalsh(h).max()
    assert short[0].steps == 8 and top * 0.9 < short[0].top_eigenvalue <= top * (1 + 1e-9)


def test_block_curvature_refuses_unknown_tensors():
    model, data = _mlp_and_data()
    with pytest.raises(ValueError, match="not parameters of the point"):
        block_curvature(model, data, {"x": ["nothing.weight"]}, steps=2, probes=2)
    with pytest.raises(ValueError, match="probes must be >= 1"):
        block_curvature(model, data, {"x": ["out.bias"]}, probes=0)

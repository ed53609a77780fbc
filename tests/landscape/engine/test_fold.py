"""BatchNorm folding: the folded model equals the original at every grid point."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.engine.directions import create_directions
from landscape.engine.evaluate import evaluate_points
from landscape.engine.fold import fold_batchnorm, to_channels_last
from landscape.engine.params import get_params


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=True)  # a conv bias to fold as well
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class _Net(nn.Module):
    """conv→BN pairs to fold, plus a BN after a Linear and a BN without affine parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4, affine=False)
        self.layer = _Block(4, 6, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 8)
        self.bn_fc = nn.BatchNorm1d(8)  # not after a conv: stays
        self.head = nn.Linear(8, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.flatten(self.pool(self.layer(x)), 1)
        return self.head(torch.relu(self.bn_fc(self.fc(x))))


class _SharedConv(nn.Module):
    """The conv output feeds the BN and the sum: it must not be folded."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: Tensor) -> Tensor:
        z = self.conv(x)
        return self.bn(z) + z


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:  # data-dependent control flow: symbolic_trace fails
            return self.bn(self.conv(x))
        return x


def _net(dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Module:
    """A _Net with non-trivial BN statistics and affine parameters, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _Net().to(dtype)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.25)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    return net.eval()


def _split(model: nn.Module, dir_type: str = "weights") -> tuple[dict, dict]:
    base = {k: t.clone() for k, t in get_params(model, dir_type).items()}  # type: ignore[arg-type]
    static = {k: t.clone() for k, t in model.state_dict().items() if k not in base}
    return base, static


def _forward(model: nn.Module, base: dict, dirs: list[dict], static: dict, c: tuple[float, ...],
             x: Tensor) -> Tensor:
    theta = {k: base[k] + sum(ci * d[k] for ci, d in zip(c, dirs, strict=True)) for k in base}
    with torch.inference_mode():
        return functional_call(model, {**static, **theta}, (x,))


def _conv_bias_directions(base: dict, seed: int) -> list[dict]:
    """Random directions on every conv weight and conv bias; zero on everything else."""
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for _ in range(2):
        d = {}
        for k, t in base.items():
            is_conv = k.rsplit(".", 1)[0] in ("conv1", "layer.conv1", "layer.conv2",
                                              "layer.shortcut.0")
            d[k] = (torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.1 if is_conv
                    else torch.zeros_like(t))
        dirs.append(d)
    return dirs


POINTS = [(0.0, 0.0), (0.7, -0.3), (-1.0, 1.0), (2.5, 0.4)]


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_folded_model_equals_original_at_grid_points(dtype: torch.dtype, rtol: float) -> None:
    net = _net(dtype)
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=3)
    folded = fold_batchnorm(net, base, dirs, static)
    assert folded is not None
    fmodel, fbase, fdirs, fstatic = folded
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for c in POINTS:
        want = _forward(net, base, dirs, static, c, x)
        got = _forward(fmodel, fbase, fdirs, fstatic, c, x)
        scale = want.abs().max()
        torch.testing.assert_close(got / scale, want / scale, rtol=0, atol=rtol)


def test_moved_conv_bias_folds_linearly() -> None:
    net = _net(torch.float64)
    base, static = _split(net)
    dirs = _conv_bias_directions(base, seed=5)
    assert bool(dirs[0]["layer.conv2.bias"].any())
    folded = fold_batchnorm(net, base, dirs, static)
    assert folded is not None
    fmodel, fbase, fdirs, fstatic = folded
    assert "layer.conv2.bias" in fbase  # moved: stays in base, its direction scaled by s
    assert "conv1.bias" in fstatic  # a new bias nothing moves is static
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for c in POINTS:
        torch.testing.assert_close(_forward(fmodel, fbase, fdirs, fstatic, c, x),
                                   _forward(net, base, dirs, static, c, x))


def test_folded_model_has_no_conv_bn_left_and_keys_match() -> None:
    net = _net()
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0)
    fmodel, fbase, fdirs, fstatic = fold_batchnorm(net, base, dirs, static)  # type: ignore[misc]
    bns = [n for n, m in fmodel.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns == ["bn_fc"]
    keys = set(fmodel.state_dict())
    assert set(fbase) | set(fstatic) == keys
    assert not set(fbase) & set(fstatic)
    assert all(d.keys() == fbase.keys() for d in fdirs)
    # the folded model's own tensors are the folded θ*
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(fmodel(x), net(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("what", ["gamma", "beta", "running_mean"])
def test_none_when_a_direction_moves_a_bn(what: str) -> None:
    net = _net()
    base, static = _split(net, "states" if what == "running_mean" else "weights")
    dirs, _ = create_directions(base, ndim=2, seed=0)
    key = {"gamma": "layer.bn1.weight", "beta": "layer.bn2.bias",
           "running_mean": "layer.shortcut.1.running_mean"}[what]
    dirs[1][key] = torch.full_like(dirs[1][key], 0.1)
    assert fold_batchnorm(net, base, dirs, static) is None


def test_none_with_ignore_none_directions() -> None:
    net = _net()
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0, ignore="none")  # moves BN γ and β
    assert fold_batchnorm(net, base, dirs, static) is None


def test_states_directions_that_leave_bn_still_fold() -> None:
    net = _net()
    base, static = _split(net, "states")  # running statistics in the moved set, zero directions
    dirs, _ = create_directions(base, ndim=2, seed=0)
    folded = fold_batchnorm(net, base, dirs, static)
    assert folded is not None
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for c in POINTS:
        want = _forward(net, base, dirs, static, c, x)
        got = _forward(folded[0], folded[1], folded[2], folded[3], c, x)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_none_when_untraceable_or_nothing_to_fold() -> None:
    for net in (_Untraceable().eval(), _SharedConv().eval(), nn.Sequential(nn.Linear(2, 2))):
        base, static = _split(net)
        dirs, _ = create_directions(base, ndim=1, seed=0)
        assert fold_batchnorm(net, base, dirs, static) is None


def test_original_model_and_inputs_unchanged() -> None:
    net = _net().train()
    before = {k: t.clone() for k, t in net.state_dict().items()}
    flags = [m.training for m in net.modules()]
    names = [n for n, _ in net.named_modules()]
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0)
    base_before = {k: t.clone() for k, t in base.items()}
    dirs_before = [{k: t.clone() for k, t in d.items()} for d in dirs]
    fmodel, *_ = fold_batchnorm(net, base, dirs, static)  # type: ignore[misc]
    assert not fmodel.training
    assert [m.training for m in net.modules()] == flags
    assert [n for n, _ in net.named_modules()] == names
    for k, t in net.state_dict().items():
        torch.testing.assert_close(t, before[k], rtol=0, atol=0)
    for k, t in base.items():
        torch.testing.assert_close(t, base_before[k], rtol=0, atol=0)
    for d, d0 in zip(dirs, dirs_before, strict=True):
        for k in d:
            torch.testing.assert_close(d[k], d0[k], rtol=0, atol=0)
    # no module object is shared: the original is independent of the folded copy
    ids = {id(m) for m in net.modules()}
    assert not ids & {id(m) for m in fmodel.modules()}


def test_channels_last_tensors_give_the_same_outputs() -> None:
    net = _net()
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0)
    fmodel, fbase, fdirs, fstatic = fold_batchnorm(net, base, dirs, static)  # type: ignore[misc]
    cl = to_channels_last(fbase)
    assert cl["layer.conv1.weight"].is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    got = _forward(fmodel, cl, [to_channels_last(d) for d in fdirs], to_channels_last(fstatic),
                   (0.3, -0.2), x.contiguous(memory_format=torch.channels_last))
    want = _forward(net, base, dirs, static, (0.3, -0.2), x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_evaluate_points_gives_the_same_losses_folded() -> None:
    net = _net(torch.float64)
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=1)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(20, 3, 8, 8, generator=g, dtype=torch.float64),
            torch.randint(0, 5, (20,), generator=g))
    coords = np.array(POINTS)
    want = evaluate_points(net, base, dirs, coords, data, static=static, batch_size=8)
    fmodel, fbase, fdirs, fstatic = fold_batchnorm(net, base, dirs, static)  # type: ignore[misc]
    got = evaluate_points(fmodel, fbase, fdirs, coords, data, static=fstatic, batch_size=8)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-10)
    np.testing.assert_allclose(got.acc, want.acc)


def test_fused_convolutions_equal_the_folded_model_point_by_point() -> None:
    from landscape.engine.evaluate import Evaluator
    from landscape.engine.fold import fuse_convolutions

    net = _net()
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0)
    fmodel, fbase, fdirs, fstatic = fold_batchnorm(net, base, dirs, static)  # type: ignore[misc]
    fused = fuse_convolutions(fmodel)
    assert fused is not None
    graph = fused.module.graph
    assert not any(n.op == "call_module" and isinstance(fused.module.get_submodule(n.target),
                                                        nn.Conv2d) for n in graph.nodes)
    ops = [n.target for n in graph.nodes if n.op == "call_function"]
    unary = torch.ops.mkldnn._convolution_pointwise.default
    binary = torch.ops.mkldnn._convolution_pointwise.binary
    # conv1 + ReLU, layer.conv1 + ReLU, the shortcut conv alone, layer.conv2 + add + ReLU
    assert ops.count(unary) == 3 and ops.count(binary) == 1
    assert set(fused.weights) == {"conv1.weight", "layer.conv1.weight", "layer.conv2.weight",
                                  "layer.shortcut.0.weight"}
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(20, 3, 8, 8, generator=g).contiguous(memory_format=torch.channels_last),
            torch.randint(0, 5, (20,), generator=g))
    ev = Evaluator(fmodel, to_channels_last(fbase), [to_channels_last(d) for d in fdirs],
                   static=to_channels_last(fstatic), batch_size=8, fused=fused)
    want = ev(np.array(POINTS), data)
    ev.configure(fused=True)  # the conv weights are packed anew at every point
    got = ev(np.array(POINTS), data)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-5)
    np.testing.assert_allclose(got.acc, want.acc)
    assert len(set(np.round(got.loss, 6))) == len(POINTS)  # the points really differ
    ev.configure(fused=False)
    np.testing.assert_array_equal(ev(np.array(POINTS), data).loss, want.loss)


def test_fuse_convolutions_needs_a_conv2d_and_leaves_the_model_alone() -> None:
    from landscape.engine.fold import fuse_convolutions

    mlp = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    assert fuse_convolutions(mlp) is None
    net = _net()
    base, static = _split(net)
    dirs, _ = create_directions(base, ndim=2, seed=0)
    fmodel = fold_batchnorm(net, base, dirs, static)[0]  # type: ignore[index]
    before = fmodel.code
    assert fuse_convolutions(fmodel) is not None and fmodel.code == before

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import Axis, Grid, compute_surface
from landscape.engine.directions import create_directions
from landscape.engine.evaluate import evaluate_points
from landscape.engine.params import combine, get_params
from tests.conftest import make_tiny


class Quadratic(nn.Module):
    """Per-sample loss 0.5 wᵀAw + x_i·w (through `quad_loss`): the mean has a closed form."""

    def __init__(self, a: torch.Tensor, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.register_buffer("a", a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.w.flatten()
        q = 0.5 * w @ self.a @ w
        return torch.stack([q.expand(len(x)), x @ w], dim=1)


def quad_loss(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    return out.sum(dim=1)


def _quadratic_setup():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(12, 12, generator=g, dtype=torch.float64)
    a = m @ m.T / 12 + torch.eye(12, dtype=torch.float64)
    model = Quadratic(a, torch.randn(4, 3, generator=g, dtype=torch.float64))
    x = torch.randn(50, 12, generator=g, dtype=torch.float64)
    return model, a, x, torch.zeros(50)


def test_quadratic_surface_has_the_closed_form_values_and_errors():
    model, a, x, y = _quadratic_setup()
    grid = Grid(Axis(-1, 1, 5), Axis(-2, 2, 3))
    s = compute_surface(model, (x, y), grid, loss_fn=quad_loss, norm="none", seed=5,
                        progress=False)
    dirs, _ = create_directions(get_params(model), seed=5, norm="none")
    theta, dx, dy = model.w.detach().flatten(), dirs[0]["w"].flatten(), dirs[1]["w"].flatten()
    for i, alpha in enumerate(grid.x.values):
        for j, beta in enumerate(grid.y.values):
            w = theta + alpha * dx + beta * dy
            per_sample = 0.5 * w @ a @ w + x @ w
            assert s.loss[i, j] == pytest.approx(float(per_sample.mean()), rel=1e-10)
            se = float(per_sample.std(unbiased=True)) / len(x) ** 0.5  # textbook s / sqrt(n)
            assert s.extras["train_loss_se"][i, j] == pytest.approx(se, rel=1e-8)
    assert s.accuracy is None  # float targets: not a classification
    assert s.done.all()


def test_batched_equals_sequential_equals_weights_set_by_hand(tiny_data):
    model = make_tiny()
    params = get_params(model)
    dirs, _ = create_directions(params, seed=1)
    coords = np.array([[0.0, 0.0], [0.3, -0.2], [-1.0, 0.5], [0.7, 0.9], [0.1, 0.1]])
    one = evaluate_points(model, params, dirs, coords, tiny_data, points_per_batch=1,
                          batch_size=10)
    three = evaluate_points(model, params, dirs, coords, tiny_data, points_per_batch=3,
                            batch_size=16)
    np.testing.assert_allclose(three.loss, one.loss, rtol=1e-5)
    np.testing.assert_allclose(three.acc, one.acc)
    x, y = tiny_data
    for p, (alpha, beta) in enumerate(coords):
        by_hand = make_tiny()
        with torch.no_grad():
            for name, tensor in combine(params, dirs, [alpha, beta]).items():
                by_hand.get_parameter(name).copy_(tensor)
            out = by_hand(x)
        assert one.loss[p] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
        assert one.acc[p] == pytest.approx(100.0 * (out.argmax(1) == y).double().mean().item())


def test_model_state_and_mode_unchanged(tiny_data):
    model = make_tiny()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    compute_surface(model, tiny_data, Grid(Axis(-1, 1, 3), Axis(-1, 1, 3)), progress=False,
                    points_per_batch=2)
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_overflowing_point_is_recorded_and_run_goes_on(tiny_data):
    model = make_tiny()

    def exploding(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.exp(out.pow(2).sum(1) * 1e4)  # overflows away from the centre

    s = compute_surface(model, tiny_data, Grid(Axis(0, 50, 3)), loss_fn=exploding,
                        progress=False)
    assert s.done.all()
    assert not np.isfinite(s.loss[-1])
    assert np.isfinite(s.loss[0]) or s.loss[0] > 0


def test_non_square_grid_is_indexed_loss_i_j(tiny_data):
    model = make_tiny()
    grid = Grid(Axis(-1, 1, 4), Axis(-0.5, 0.5, 3))
    s = compute_surface(model, tiny_data, grid, seed=2, progress=False)
    params = get_params(model)
    dirs, _ = create_directions(params, seed=2)
    x, y = tiny_data
    for i, alpha in enumerate(grid.x.values):
        for j, beta in enumerate(grid.y.values):
            out = torch.func.functional_call(model, combine(params, dirs, [alpha, beta]), (x,))
            assert s.loss[i, j] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-10)


def test_streamed_batches_equal_resident_data(tiny_data):
    model = make_tiny()
    grid = Grid(Axis(-1, 1, 3))
    resident = compute_surface(model, tiny_data, grid, progress=False)
    x, y = tiny_data
    loader = [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(x), 8)]
    streamed = compute_surface(model, loader, grid, progress=False)
    np.testing.assert_allclose(streamed.loss, resident.loss, rtol=1e-12)


def test_states_direction_moves_bn_statistics_when_not_ignored(tiny_data):
    model = make_tiny()
    grid = Grid(Axis(0, 1, 2))
    weights = compute_surface(model, tiny_data, grid, dir_type="weights", ignore="none",
                              progress=False)
    states = compute_surface(model, tiny_data, grid, dir_type="states", ignore="none",
                             progress=False)
    assert weights.loss[0] == pytest.approx(states.loss[0], rel=1e-12)  # the centre is θ*
    assert states.meta["dir_type"] == "states"


def test_bad_arguments(tiny_data):
    model = make_tiny()
    grid = Grid(Axis(0, 1, 2))
    with pytest.raises(ValueError, match="norm must be one of"):
        compute_surface(model, tiny_data, grid, norm="filt", progress=False)
    with pytest.raises(ValueError, match="split"):
        compute_surface(model, tiny_data, grid, split="val", progress=False)
    with pytest.raises(ValueError, match="empty"):
        compute_surface(model, (tiny_data[0][:0], tiny_data[1][:0]), grid, progress=False)
    with pytest.raises(ValueError, match="points_per_batch"):
        evaluate_points(model, get_params(model), [get_params(model)], np.zeros((1, 1)),
                        tiny_data, points_per_batch=0)


def test_accuracy_is_computed_as_the_2018_code_computes_it():
    """100.*c/n, in that order: 44 of 500 is 8.8 there, while 100*(44/500) is
    8.799999999999999; equal counts must give equal numbers."""
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # always class 0
    params = get_params(model)
    unit = {k: torch.ones_like(v) for k, v in params.items()}
    targets = torch.ones(500, dtype=torch.long)
    targets[:44] = 0
    stats = evaluate_points(model, params, [unit], np.zeros((1, 1)),
                            (torch.zeros(500, 2), targets), batch_size=128)
    assert 100.0 * (44 / 500) != 8.8
    assert stats.acc[0] == 100. * 44 / 500 == 8.8

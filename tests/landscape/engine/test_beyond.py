"""Standard errors per point, coarse-to-fine grids and BN recomputation."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from landscape import Axis, Grid, compute_surface, load_surface
from landscape.engine.directions import create_directions
from landscape.engine.evaluate import evaluate_points
from landscape.engine.params import get_params
from landscape.engine.refine import fill_from_leaves, refine_grid
from tests.conftest import make_tiny
from tests.landscape.engine.test_evaluate import _quadratic_setup, quad_loss


def test_two_independent_samples_differ_by_about_the_stated_error():
    model = make_tiny()
    params = get_params(model)
    dirs, _ = create_directions(params, seed=0)
    g = torch.Generator().manual_seed(0)
    z = []
    for _ in range(40):
        stats = []
        for _ in range(2):
            x = torch.randn(60, 3, 8, 8, generator=g, dtype=torch.float64)
            y = torch.randint(0, 4, (60,), generator=g)
            stats.append(evaluate_points(model, params, dirs, np.array([[0.3, 0.2]]), (x, y)))
        a, b = stats
        z.append((a.loss[0] - b.loss[0]) / np.hypot(a.loss_se[0], b.loss_se[0]))
    # |N(0, 1)| has mean 0.80: the stated errors are neither far too small nor far too large.
    assert 0.55 < np.mean(np.abs(z)) < 1.1


def test_refined_bowl_computes_few_points_and_stays_within_tolerance():
    n = 51
    x = np.linspace(-1, 1, n)
    a, b = np.meshgrid(x, x, indexing="ij")
    bowl = 0.1 + 2 * (a**2 + b**2)
    computed = np.zeros(bowl.shape, dtype=bool)

    def evaluate(index: np.ndarray) -> np.ndarray:
        assert not computed.reshape(-1)[index].any(), "a point was computed twice"
        computed.reshape(-1)[index] = True
        return bowl.reshape(-1)[index]

    leaves = refine_grid(bowl.shape, evaluate, tol=0.05)
    filled, mask = fill_from_leaves(np.where(computed, bowl, np.nan), computed, leaves)
    assert computed.mean() < 0.4
    assert np.abs(np.log(filled) - np.log(bowl)).max() <= 0.05
    assert (mask ^ computed).all()  # every point is either computed or filled


def test_refined_rough_surface_computes_more_points():
    x = np.linspace(-1, 1, 33)
    a, b = np.meshgrid(x, x, indexing="ij")
    shares = []
    for ripple in (0.0, 0.3):
        f = 0.5 + a**2 + b**2 + ripple * np.sin(9 * a) * np.cos(9 * b)
        done = np.zeros(f.shape, dtype=bool)

        def evaluate(index, f=f, done=done):
            done.reshape(-1)[index] = True
            return f.reshape(-1)[index]

        refine_grid(f.shape, evaluate, tol=0.05)
        shares.append(done.mean())
    assert shares[1] > shares[0] + 0.2


def test_refine_through_compute_surface_writes_filled_points(tmp_path):
    model, _, x, y = _quadratic_setup()
    grid = Grid(Axis(-1, 1, 17), Axis(-1, 1, 17))
    full = compute_surface(model, (x, y), grid, loss_fn=quad_loss, norm="none", progress=False)
    path = tmp_path / "r.h5"
    fast = compute_surface(model, (x, y), grid, loss_fn=quad_loss, norm="none", progress=False,
                           refine=0.05, path=path)
    assert fast.done.mean() < 0.8
    np.testing.assert_allclose(fast.loss, full.loss, rtol=0.052)
    on_disk = load_surface(path)
    np.testing.assert_array_equal(on_disk.done, fast.done)
    np.testing.assert_array_equal(on_disk.filled, ~fast.done)
    np.testing.assert_allclose(on_disk.values("loss"), fast.loss)
    assert on_disk.meta["refine_tol"] == 0.05
    # a second run resumes: nothing left to compute, same result
    again = compute_surface(model, (x, y), grid, loss_fn=quad_loss, norm="none",
                            progress=False, refine=0.05, path=path, resume=True)
    np.testing.assert_allclose(again.loss, fast.loss)


def _calibrated(model: nn.Module, x: torch.Tensor, batch: int) -> nn.Module:
    good = copy.deepcopy(model)
    for m in good.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    good.train()
    with torch.no_grad():
        for s in range(0, len(x), batch):
            good(x[s:s + batch])
    return good.eval()


def test_bn_recompute_restores_the_calibrated_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (64,), generator=g)
    good = _calibrated(make_tiny(), x, 32)
    bad = copy.deepcopy(good)
    with torch.no_grad():
        bad.bn1.running_mean.add_(3.0)
        bad.bn2.running_var.mul_(20.0)
    before = bad.bn1.running_mean.clone()
    grid = Grid(Axis(0, 0, 1))
    right = compute_surface(good, (x, y), grid, batch_size=32, progress=False).loss[0]
    wrong = compute_surface(bad, (x, y), grid, batch_size=32, progress=False).loss[0]
    fixed = compute_surface(bad, (x, y), grid, batch_size=32, progress=False, bn="recompute")
    assert abs(wrong - right) > 1e-3
    assert fixed.loss[0] == pytest.approx(right, rel=1e-10)
    assert fixed.meta["bn"] == "recompute" and fixed.meta["bn_samples"] == 64
    torch.testing.assert_close(bad.bn1.running_mean, before)  # the user's model is untouched
    with pytest.raises(ValueError, match="cannot also be moved"):
        compute_surface(bad, (x, y), grid, progress=False, bn="recompute", dir_type="states")

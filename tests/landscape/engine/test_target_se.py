"""--target-se: each point averaged over the first n samples of one seeded random order, n the
first block boundary where its standard error is small enough; recorded, resumable, shown."""

import hashlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import Axis, Grid, compute_surface, load_surface
from landscape.engine.directions import create_directions
from landscape.engine.evaluate import EarlyStop, Evaluator, evaluate_points, stop_mask
from landscape.engine.params import get_params
from landscape.engine.placement import SAMPLE_ORDER_SEED
from landscape.engine.spec import SurfaceSpec
from tests.conftest import make_tiny
from tests.landscape.engine.test_evaluate import _quadratic_setup, quad_loss


def _stop_at(per_sample: np.ndarray, target: float, block: int, least: int) -> int:
    """The textbook rule, written out: the first n in block, 2·block, ..., N (at least
    `least`) whose s / sqrt(n) is at most target · |mean|."""
    total = len(per_sample)
    for n in [*range(block, total, block), total]:
        head = per_sample[:n]
        if n >= least and head.std(ddof=1) / np.sqrt(n) <= target * abs(head.mean()):
            return n
    return total


def _quadratic_points():
    model, a, x, y = _quadratic_setup()
    x = torch.cat([x, x * 0.5, -x])  # 150 samples
    y = torch.zeros(len(x))
    dirs, _ = create_directions(get_params(model), seed=5, norm="none")
    coords = np.array([[0.0, 0.0], [0.3, -0.2], [-1.0, 1.0], [2.0, 0.5], [0.1, 0.1]])

    def per_sample(c: np.ndarray) -> np.ndarray:
        w = model.w.detach().flatten() + c[0] * dirs[0]["w"].flatten() \
            + c[1] * dirs[1]["w"].flatten()
        return (0.5 * w @ a @ w + x @ w).numpy()

    return model, dirs, coords, (x, y), per_sample


def test_each_point_stops_where_the_textbook_rule_says_with_its_own_errors():
    model, dirs, coords, data, per_sample = _quadratic_points()
    stop = EarlyStop(target=0.015, block=20, min_samples=40)
    got = evaluate_points(model, get_params(model), dirs, coords, data, loss_fn=quad_loss,
                          batch_size=7, early_stop=stop)
    assert got.samples == 150
    for i, c in enumerate(coords):
        v = per_sample(c)
        n = _stop_at(v, 0.015, 20, 40)
        assert got.n[i] == n
        assert got.loss[i] == pytest.approx(v[:n].mean(), rel=1e-10)
        assert got.loss_se[i] == pytest.approx(v[:n].std(ddof=1) / np.sqrt(n), rel=1e-8)
    assert len(set(got.n.tolist())) > 1, "the points should stop at different counts"
    assert got.n.min() < 150 and got.n.max() == 150  # some stop early, one never does


def test_where_a_point_stops_depends_on_neither_batch_size_nor_points_per_pass():
    model, dirs, coords, data, _ = _quadratic_points()
    stop = EarlyStop(target=0.015, block=20, min_samples=40)
    base = get_params(model)
    runs = [Evaluator(model, base, dirs, loss_fn=quad_loss, batch_size=bs, points_per_batch=k,
                      early_stop=stop)(coords, data)
            for bs, k in ((7, 1), (64, 1), (20, 3), (150, 2))]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.n, runs[0].n)
        np.testing.assert_allclose(other.loss, runs[0].loss, rtol=1e-12)
        np.testing.assert_allclose(other.loss_se, runs[0].loss_se, rtol=1e-9)


def test_stop_mask_needs_the_least_count_and_stops_diverged_points():
    stop = EarlyStop(target=0.1, block=10, min_samples=20)
    n = 20
    # mean 1, s = 0.1 · sqrt(20) · 0.99: just within; and inf / NaN sums
    total = np.array([20.0, 20.0, np.inf, np.nan])
    s = np.array([0.1 * np.sqrt(20) * 0.99, 0.1 * np.sqrt(20) * 1.01, 1.0, 1.0])
    total_sq = s**2 * (n - 1) + total**2 / n
    np.testing.assert_array_equal(stop_mask(n, total, total_sq, stop), [True, False, True, True])
    assert not stop_mask(10, total[:1] / 2, total_sq[:1] / 2, stop).any()  # below the least
    with pytest.raises(ValueError, match="target"):
        EarlyStop(target=0.0)


def _sorted_by_class(n_per_class: int = 120):
    """Class-sorted data on which the tiny net's loss differs a lot from class to class."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4 * n_per_class, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.arange(4).repeat_interleave(n_per_class)
    x += 3.0 * y.view(-1, 1, 1, 1).double()  # the classes look different
    return x, y


def test_surface_reads_one_seeded_random_order_not_the_given_prefix(tmp_path):
    model, (x, y) = make_tiny(), _sorted_by_class()
    grid = Grid(Axis(-0.5, 0.5, 3), Axis(-0.5, 0.5, 3))
    kwargs = dict(progress=False, batch_size=16, se_block=40, se_min_samples=80)
    full = compute_surface(model, (x, y), grid, **kwargs)
    path = tmp_path / "s.h5"
    got = compute_surface(model, (x, y), grid, target_se=0.05, path=path, **kwargs)
    n = got.extras["train_loss_n"]
    assert n.min() < len(x), "no point stopped early: the test shows nothing"

    # the values are the means over the first n samples of the recorded random order
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SAMPLE_ORDER_SEED))
    spec = SurfaceSpec.from_dict(load_surface(path).meta["spec"])
    assert spec.sample_order == hashlib.sha256(perm.numpy().astype("<i8").tobytes()).hexdigest()
    assert (spec.target_se, spec.se_block, spec.se_min_samples) == (0.05, 40, 80)
    coords = grid.coordinates()
    base = {k: t.detach() for k, t in get_params(model).items()}
    dirs, _ = create_directions(base, ndim=2, seed=0)
    for p, c in enumerate(coords):
        k = int(n.flat[p])
        want = evaluate_points(model, base, dirs, c[None], (x[perm][:k], y[perm][:k]),
                               batch_size=16)
        assert got.loss.flat[p] == pytest.approx(want.loss[0], rel=1e-9)
        assert got.extras["train_loss_se"].flat[p] == pytest.approx(want.loss_se[0], rel=1e-6)
        assert got.accuracy.flat[p] == pytest.approx(want.acc[0])
    # and a random order makes a sample: every point within 3 standard errors of all N
    z = np.abs(got.loss - full.loss) / got.extras["train_loss_se"]
    assert z.max() < 3, z
    # the file holds the counts, written with the points
    np.testing.assert_array_equal(load_surface(path).extras["train_loss_n"], n)


def test_resume_with_another_target_is_refused_and_the_same_one_goes_on(tmp_path, tiny_data):
    path = tmp_path / "s.h5"
    line = Grid(Axis(-1, 1, 3))
    kwargs = dict(progress=False, se_block=8, se_min_samples=16)
    compute_surface(make_tiny(), tiny_data, line, path=path, target_se=0.1, **kwargs)
    for other in (0.2, None):
        with pytest.raises(ValueError, match="target_se: 0.1 in the file, " + repr(other)):
            compute_surface(make_tiny(), tiny_data, line, path=path, resume=True,
                            target_se=other, **kwargs)
    with pytest.raises(ValueError, match="se_block: 8 in the file, 4 now"):
        compute_surface(make_tiny(), tiny_data, line, path=path, resume=True, target_se=0.1,
                        progress=False, se_block=4, se_min_samples=16)
    again = compute_surface(make_tiny(), tiny_data, line, path=path, resume=True,
                            target_se=0.1, **kwargs)
    np.testing.assert_array_equal(again.extras["train_loss_n"],
                                  load_surface(path).extras["train_loss_n"])


def test_a_file_without_early_stop_keeps_its_old_fingerprint(tiny_data):
    s = compute_surface(make_tiny(), tiny_data, Grid(Axis(-1, 1, 3)), progress=False)
    spec = s.meta["spec"]
    assert "target_se" not in spec and "sample_order" not in spec
    assert SurfaceSpec.from_dict(spec).fingerprint == s.meta["fingerprint"]
    assert "train_loss_n" not in s.extras


def test_target_se_refuses_what_it_cannot_do(tiny_data):
    line = Grid(Axis(-1, 1, 3))
    with pytest.raises(ValueError, match="target_se .* must be > 0"):
        compute_surface(make_tiny(), tiny_data, line, progress=False, target_se=-0.1)
    x, y = tiny_data
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]
    with pytest.raises(ValueError, match="tensors or a Dataset, not an iterable of batches"):
        compute_surface(make_tiny(), batches, line, progress=False, target_se=0.1)

    def mean_loss(out, t):
        return torch.nn.functional.cross_entropy(out, t)

    with pytest.raises(ValueError, match="one loss per sample"):
        compute_surface(make_tiny(), tiny_data, line, progress=False, target_se=0.1,
                        loss_fn=mean_loss, se_block=8, se_min_samples=8)


def test_info_shows_the_sample_counts(tmp_path, tiny_data):
    path = tmp_path / "s.h5"
    compute_surface(make_tiny(), tiny_data, Grid(Axis(-1, 1, 3), Axis(-1, 1, 3)), path=path,
                    progress=False, target_se=0.5, se_block=8, se_min_samples=16)
    n = load_surface(path).extras["train_loss_n"]
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if "samples/pt" in s)
    assert f"min {n.min():.0f}, median {np.median(n):.0f}, max {n.max():.0f} of 37" in line
    assert f"({37 * 9 / n.sum():.1f}x fewer images" in line


def test_the_stopping_rule_biases_the_mean_by_a_small_fraction_of_its_error():
    """Stopping when the error looks small is a stopping rule: the estimate is not quite the
    plain mean of n samples. On a skewed population like per-sample cross-entropy (gamma,
    shape 2) and 2,000 random orders, the mean of the stopped estimates stays within a tenth
    of a standard error of the population's mean, and about 95% of them within 2."""
    rng = np.random.default_rng(0)
    pop = rng.gamma(2.0, 1.0, 4000)
    stop = EarlyStop(target=0.03, block=256, min_samples=512)
    ends = np.r_[np.arange(256, 4000, 256), 4000]
    est, ns = [], []
    for _ in range(2000):
        v = pop[rng.permutation(len(pop))]
        total, total_sq = np.cumsum(v)[ends - 1], np.cumsum(v * v)[ends - 1]
        where = np.flatnonzero(stop_mask(ends, total, total_sq, stop))
        n = ends[where[0]] if where.size else len(pop)
        est.append(total[np.searchsorted(ends, n)] / n)
        ns.append(n)
    est, ns = np.array(est), np.array(ns)
    assert ns.min() >= 512 and np.median(ns) < 1024  # it does stop early
    se = pop.std() / np.sqrt(ns)
    assert abs(est.mean() - pop.mean()) < 0.1 * se.mean()
    assert np.mean(np.abs(est - pop.mean()) <= 2 * se) > 0.93

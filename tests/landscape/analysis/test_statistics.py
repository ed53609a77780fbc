"""The delete-a-block jackknife on analytic surfaces whose per-sample noise is known: shared by
all points (perfectly correlated) or independent per point, so each metric's variance has a
closed form (the delta method) to check the jackknife against."""

import math

import numpy as np
import pytest

from landscape.analysis.statistics import (
    combine_pairs,
    difference,
    jackknife,
    jackknife_se,
    leave_one_out,
    shares_blocks,
)
from landscape.engine.types import Blocks, Surface

N, B, S = 320, 32, 0.5  # samples, blocks, sd of the per-sample noise
X = Y = np.linspace(-1, 1, 9)
A, BETA = np.meshgrid(X, Y, indexing="ij")
F = 1.0 + A ** 2 + 2 * BETA ** 2  # the noise-free surface
G = 0.3 + 0.2 * A                 # how strongly each point feels the shared noise


def _surface(sums: np.ndarray, meta: dict | None = None) -> Surface:
    """A surface from per-point block sums (9, 9, B) of N/B samples each."""
    n = np.full(sums.shape, N // B)
    return Surface(x=X, y=Y, loss=sums.sum(-1) / N, accuracy=None,
                   done=np.ones(F.shape, bool), meta=meta or {},
                   blocks=Blocks(loss=sums, n=n))


def _shared(rng: np.random.Generator, f=F, g=G) -> tuple[Surface, float]:
    """Per-sample loss f(p) + g(p)·ε_i, one ε_i per sample for every point; and the mean ε."""
    eps = rng.normal(0, S, N)
    per_block = eps.reshape(B, N // B).sum(1)
    sums = f[..., None] * (N // B) + g[..., None] * per_block
    return _surface(sums, {"spec": {"data_sha256": "same"}}), float(eps.mean())


def _rise(s: Surface) -> dict[str, float]:
    """Two metrics of several points: a log rise from the centre and a second difference."""
    loss = s.values("loss")
    return {"rise": math.log10(loss[8, 4]) - math.log10(loss[4, 4]),
            "second": loss[6, 4] - 2 * loss[4, 4] + loss[2, 4]}


def _delta_sd(metric, f, g, key: str) -> float:
    """sd of metric(f + ε̄ g) over ε̄ ~ N(0, S²/N), by the derivative in ε̄ (delta method)."""
    h = 1e-6

    def at(e: float) -> float:
        loss = f + e * g
        return metric(Surface(x=X, y=Y, loss=loss, accuracy=None,
                              done=np.ones(f.shape, bool)))[key]

    return abs(at(h) - at(-h)) / (2 * h) * S / math.sqrt(N)


@pytest.mark.parametrize("key", ["rise", "second"])
def test_jackknife_error_matches_the_closed_form_under_noise_shared_by_all_points(key):
    rng = np.random.default_rng(0)
    truth = _delta_sd(_rise, F, G, key)
    values, variances = [], []
    for _ in range(200):
        s, _ = _shared(rng)
        value, se, _ = jackknife(_rise, s)
        values.append(value[key])
        variances.append(se[key] ** 2)
    # the mean jackknife variance and the spread of the metric itself both match the truth
    assert math.sqrt(np.mean(variances)) == pytest.approx(truth, rel=0.12)
    assert np.std(values, ddof=1) == pytest.approx(truth, rel=0.15)


def test_jackknife_error_matches_the_closed_form_under_independent_noise():
    rng = np.random.default_rng(1)
    noise = S * 0.3  # sd of each point's own per-sample noise
    truth = math.sqrt(noise ** 2 / N * (1 / F[8, 4] ** 2 + 1 / F[4, 4] ** 2)) / math.log(10)
    variances = []
    for _ in range(200):
        eps = rng.normal(0, noise, (*F.shape, N))
        sums = F[..., None] * (N // B) + eps.reshape(*F.shape, B, N // B).sum(-1)
        _, se, _ = jackknife(_rise, _surface(sums))
        variances.append(se["rise"] ** 2)
    assert math.sqrt(np.mean(variances)) == pytest.approx(truth, rel=0.12)


def test_a_per_point_formula_is_wrong_where_the_jackknife_is_right_under_shared_noise():
    """With noise shared by all points, a rise's error is far below what independent points
    would give: the per-point errors cancel in the difference."""
    s, _ = _shared(np.random.default_rng(2))
    _, se, _ = jackknife(_rise, s)
    per_point = S * G / math.sqrt(N)
    independent = math.hypot(per_point[8, 4] / F[8, 4], per_point[4, 4] / F[4, 4]) / math.log(10)
    assert se["rise"] < 0.6 * independent
    assert se["rise"] == pytest.approx(_delta_sd(_rise, F, G, "rise"), rel=0.5)


def test_paired_difference_of_two_surfaces_on_the_same_samples():
    rng = np.random.default_rng(3)
    f2, g2 = 1.1 * F + 0.3 * A ** 2, 1.05 * G  # a near twin: their noise mostly cancels
    h = 1e-6

    def diff_at(e: float) -> float:
        a = Surface(x=X, y=Y, loss=F + e * G, accuracy=None, done=np.ones(F.shape, bool))
        b = Surface(x=X, y=Y, loss=f2 + e * g2, accuracy=None, done=np.ones(F.shape, bool))
        return _rise(a)["rise"] - _rise(b)["rise"]

    truth = abs(diff_at(h) - diff_at(-h)) / (2 * h) * S / math.sqrt(N)
    paired_var, unpaired_var = [], []
    for _ in range(200):
        eps = rng.normal(0, S, N).reshape(B, N // B).sum(1)
        a = _surface(F[..., None] * (N // B) + G[..., None] * eps, {"spec": {"data_sha256": "d"}})
        b = _surface(f2[..., None] * (N // B) + g2[..., None] * eps,
                     {"spec": {"data_sha256": "d"}})
        assert shares_blocks(a, b)
        ea = combine_pairs([jackknife(_rise, a)[0]["rise"]], [jackknife(_rise, a)[2][:, 0]])
        eb = combine_pairs([jackknife(_rise, b)[0]["rise"]], [jackknife(_rise, b)[2][:, 0]])
        paired_var.append(difference(ea, eb, paired=True)["se"] ** 2)
        unpaired_var.append(difference(ea, eb, paired=False)["se"] ** 2)
    assert math.sqrt(np.mean(paired_var)) == pytest.approx(truth, rel=0.12)
    assert math.sqrt(np.mean(unpaired_var)) > 1.5 * truth  # independence overstates it here


def test_an_ensemble_adds_the_spread_of_its_direction_pairs():
    est = combine_pairs([1.0, 2.0, 3.0], [np.full(B, 1.0), np.full(B, 2.0), np.full(B, 3.0)])
    assert est.value == 2.0 and est.sd == pytest.approx(1.0) and est.n == 3
    assert est.se == 0.0 and est.error == pytest.approx(1 / math.sqrt(3))
    one = combine_pairs([1.5], [np.linspace(1, 2, B)])
    assert math.isnan(one.sd) and one.error == one.se > 0
    other = combine_pairs([0.0, 1.0], None)
    d = difference(est, other, paired=False)
    assert d["value"] == pytest.approx(1.5)
    assert d["sd_part"] == pytest.approx(math.sqrt(1 / 3 + 0.5 / 2))  # sd² / n of each


def test_jackknife_se_is_nan_for_an_infinite_metric():
    reps = np.array([[1.0, math.inf], [2.0, math.inf], [3.0, math.inf]])
    se = jackknife_se(reps)
    assert se[0] == pytest.approx(math.sqrt(2 / 3 * 2)) and math.isnan(se[1])


def test_an_early_stopped_point_keeps_its_value_without_the_blocks_it_never_read():
    sums = np.zeros((3, 4))
    n = np.zeros((3, 4), dtype=int)
    sums[0], n[0] = [10.0, 12.0, 14.0, 16.0], 4          # read all
    sums[1, :2], n[1, :2] = [8.0, 10.0], 4               # stopped after two blocks
    sums[2], n[2] = np.nan, 0                            # not computed
    x = np.array([-1.0, 0.0, 1.0])
    s = Surface(x=x, y=None, loss=np.array([52 / 16, 18 / 8, np.nan]), accuracy=None,
                done=np.array([True, True, False]), blocks=Blocks(loss=sums, n=n))
    reps, _ = leave_one_out(s)
    np.testing.assert_allclose(reps[:, 0], [(52 - 10) / 12, (52 - 12) / 12, (52 - 14) / 12,
                                            (52 - 16) / 12])
    np.testing.assert_allclose(reps[:, 1], [10 / 4, 8 / 4, 18 / 8, 18 / 8])
    assert np.isnan(reps[:, 2]).all()


def test_a_filled_point_moves_with_the_computed_point_nearest_it():
    sums = np.array([[2.0, 4.0], [np.nan, np.nan], [6.0, 2.0]])
    n = np.array([[1, 1], [0, 0], [1, 1]])
    x = np.array([-1.0, 0.0, 1.0])
    s = Surface(x=x, y=None, loss=np.array([3.0, 3.5, 4.0]), accuracy=None,
                done=np.array([True, False, True]),
                extras={"filled": np.array([False, True, False])},
                blocks=Blocks(loss=sums, n=n))
    reps, _ = leave_one_out(s)
    np.testing.assert_allclose(reps[:, 0], [4.0, 2.0])
    np.testing.assert_allclose(reps[:, 1], 3.5 * reps[:, 0] / 3.0)  # nearest: index 0 (first)


def test_leave_one_out_needs_block_sums():
    s = Surface(x=X, y=Y, loss=F, accuracy=None, done=np.ones(F.shape, bool))
    with pytest.raises(ValueError, match="no per-block sums"):
        leave_one_out(s)

"""Metrics on analytic surfaces whose answers are known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from landscape.analysis import metrics
from landscape.engine.types import Blocks, Surface
from landscape.pictures import report
from tests.landscape.surfaces import (
    A,
    C,
    bowl,
    decades,
    grid_surface,
    line_surface,
    rippled,
    saddle,
    with_not_done,
)


def test_center_values_and_a_grid_without_the_origin():
    s = grid_surface(lambda a, b: bowl(a, b) + 0.3)
    c = metrics.center(s)
    assert (c["alpha"], c["beta"], c["on_grid"]) == (0, 0, True)
    assert c["loss"] == pytest.approx(C + 0.3)
    assert c["accuracy"] == pytest.approx(100 * math.exp(-C - 0.3))
    even = grid_surface(bowl, n=20)  # ±0.0526 nearest the origin, never 0
    assert even.origin_index is None
    c = metrics.center(even)
    assert not c["on_grid"] and abs(c["alpha"]) == pytest.approx(1 / 19)
    notes = " ".join(metrics.summarize(even)["notes"])
    assert "θ* (the origin) is not a grid point: the nearest point, (α, β) = (" in notes


def test_sharpness_is_the_rise_in_decades():
    s = grid_surface(bowl)
    for r, v in metrics.sharpness(s, (0.1, 0.3, 0.5, 1.0)).items():
        assert v["value"] == pytest.approx(decades(r), rel=1e-9)
        assert math.hypot(v["alpha"], v["beta"]) == pytest.approx(r)
        assert math.isnan(v["se"])  # no per-point errors on this surface


def test_relative_metrics_do_not_change_when_the_loss_is_scaled():
    low = grid_surface(rippled, se=lambda loss: 1e-4 * loss)
    high = grid_surface(lambda a, b: 7.0 * rippled(a, b), se=lambda loss: 1e-4 * loss)
    s_low, s_high = metrics.summarize(low), metrics.summarize(high)
    for key in ("nonconvex_fraction", "points", "nonconvex_points"):
        assert s_low["convexity"][key] == s_high["convexity"][key]
    for r in s_low["sharpness"]:
        assert s_low["sharpness"][r]["value"] == pytest.approx(s_high["sharpness"][r]["value"])
    assert s_low["basin"]["area"] == pytest.approx(s_high["basin"]["area"])
    assert s_low["basin"]["radius"] == pytest.approx(s_high["basin"]["radius"])
    np.testing.assert_allclose(s_low["curvature"]["eigenvalues"],
                               s_high["curvature"]["eigenvalues"])
    assert s_low["roughness_log10"] == pytest.approx(s_high["roughness_log10"])
    assert s_high["roughness"] == pytest.approx(7 * s_low["roughness"])  # the absolute one grows


def test_summarize_takes_every_error_from_the_jackknife_over_blocks():
    from landscape.analysis.statistics import jackknife

    base = grid_surface(bowl, se=lambda loss: 0.01 * loss)
    rng = np.random.default_rng(0)
    per_block = rng.normal(0, 0.5, 16)  # noise shared by every point, 10 samples a block
    sums = base.loss[..., None] * 10 + (0.2 + 0.1 * base.loss[..., None]) * per_block
    s = Surface(x=base.x, y=base.y, loss=sums.sum(-1) / 160, accuracy=None, done=base.done,
                extras=base.extras, blocks=Blocks(loss=sums, n=np.full(sums.shape, 10)))
    summary = metrics.summarize(s, radii=(0.3,))

    def one(f):
        return jackknife(lambda r: {"m": f(r)}, s)[1]["m"]

    assert summary["sharpness"]["0.3"]["se"] == pytest.approx(
        one(lambda r: metrics.sharpness(r, (0.3,))[0.3]["value"]))
    assert summary["basin"]["radius_se"] == pytest.approx(
        one(lambda r: metrics.basin(r)["radius"]))
    assert summary["curvature"]["eigenvalues_se"][1] == pytest.approx(
        one(lambda r: metrics.curvature(r)["eigenvalues"][1]))
    assert summary["center"]["loss_se"] == pytest.approx(np.std(per_block, ddof=1) * (
        0.2 + 0.1 * C) / 10 / 4)  # the textbook s/sqrt(B) of the block means at θ*
    for name, m in summary["metrics"].items():
        assert m["n"] == 1 and math.isnan(m["sd"]), name
        if name not in ("accuracy at θ* (%)", "local minima", "non-convex share"):
            assert m["se"] > 0, name


def test_sharpness_below_grid_spacing_is_nan_and_bad_radius_raises():
    s = grid_surface(bowl)
    assert math.isnan(metrics.sharpness(s, (0.05,))[0.05]["value"])
    with pytest.raises(ValueError, match="> 0"):
        metrics.sharpness(s, (0.0,))
    zero = grid_surface(lambda a, b: a ** 2 + b ** 2)  # L(θ*) = 0: no relative rise
    assert math.isnan(metrics.sharpness(zero, (0.5,))[0.5]["value"])


def test_sharpness_of_saddle_and_line():
    got = metrics.sharpness(grid_surface(saddle), (0.5,))[0.5]["value"]
    assert got == pytest.approx(math.log10((5 + A * 0.25) / 5))
    line = line_surface(lambda a: 1 + 3 * a ** 2)
    assert metrics.sharpness(line, (0.5,))[0.5]["value"] == pytest.approx(math.log10(1.75))


def test_sharpness_skips_not_done_and_sees_diverged():
    s = grid_surface(bowl)
    dist = np.hypot(*np.meshgrid(s.x, s.y, indexing="ij"))
    mask = np.isclose(dist, 0.5)  # the 12 points of largest rise within r = 0.5
    assert mask.sum() == 12
    got = metrics.sharpness(with_not_done(s, mask), (0.5,))[0.5]["value"]
    assert got == pytest.approx(decades(math.hypot(0.4, 0.2)))  # the farthest computed ones
    loss = s.loss.copy()
    loss[12, 10] = np.inf
    diverged = Surface(x=s.x, y=s.y, loss=loss, accuracy=None, done=s.done)
    got = metrics.sharpness(diverged, (0.1, 0.5))
    assert got[0.1]["value"] == pytest.approx(decades(0.1)) and got[0.5]["value"] == math.inf


def test_basin_of_bowl_is_relative():
    factor = 2.0  # L <= 2 C where A r² <= C: radius sqrt(C / A) = 0.5, on grid points
    b = metrics.basin(grid_surface(bowl), factor)
    assert b["radius"] == pytest.approx(math.sqrt((factor - 1) * C / A), rel=0.01)
    assert b["level"] == pytest.approx(factor * C)
    assert not b["radius_limited_by_grid"]
    n_inside = sum(1 for i in range(-10, 11) for j in range(-10, 11)
                   if (i * 0.1) ** 2 + (j * 0.1) ** 2 <= 0.25 + 1e-12)
    assert b["fraction"] == pytest.approx(n_inside / 441)
    assert b["area"] == pytest.approx(math.pi * 0.25, rel=0.01)  # the disc, not 81 cells
    with pytest.raises(ValueError, match="factor"):
        metrics.basin(grid_surface(bowl), 1.0)


def test_basin_radius_and_area_off_grid_resolve_below_one_step():
    b = metrics.basin(grid_surface(bowl), 1.6)  # sqrt(0.6 · 0.25) = 0.387
    assert b["radius"] == pytest.approx(math.sqrt(0.15), rel=0.02)
    assert b["area"] == pytest.approx(math.pi * 0.15, rel=0.02)
    # a small change of the loss moves them a little, not by a grid step or not at all
    nudged = metrics.basin(grid_surface(lambda a, b: bowl(a, b) * (1 + 0.01 * a)), 1.6)
    assert 0 < abs(nudged["radius"] - b["radius"]) < 0.01


def test_basin_whole_grid_is_a_lower_bound_and_1d_is_a_length():
    b = metrics.basin(grid_surface(bowl), 100.0)
    assert b["radius_limited_by_grid"] and b["fraction"] == 1.0
    assert b["area"] == pytest.approx(4.0)
    assert b["radius"] == pytest.approx(1.0)  # to the nearest edge
    line = metrics.basin(line_surface(lambda a: 0.25 + a ** 2), 2.0)
    assert line["radius"] == pytest.approx(0.5)
    assert line["area"] == pytest.approx(1.0, rel=0.01)  # the interval [-0.5, 0.5]


def test_local_minima():
    assert metrics.local_minima(grid_surface(bowl)) == [(10, 10)]
    assert metrics.local_minima(grid_surface(saddle)) == []
    rippled_minima = metrics.local_minima(grid_surface(rippled, n=41))
    assert len(rippled_minima) > 1 and (20, 20) in rippled_minima
    assert metrics.local_minima(line_surface(lambda a: a ** 2)) == [(10,)]
    wavy = line_surface(lambda a: -np.cos(4 * np.pi * a))  # minima at 0, ±0.5 (±1: border)
    assert metrics.local_minima(wavy) == [(5,), (10,), (15,)]


def test_local_minima_skip_not_done_points():
    s = grid_surface(bowl)
    mask = np.zeros(s.shape, bool)
    mask[0:3, 0:3] = True  # far from the minimum: nothing changes
    assert metrics.local_minima(with_not_done(s, mask)) == [(10, 10)]
    mask[10, 10] = True  # the minimum is not computed: its neighbours are not judged
    assert metrics.local_minima(with_not_done(s, mask)) == []
    loss = s.loss.copy()
    loss[10, 11] = np.nan  # diverged neighbour: higher than anything
    diverged = Surface(x=s.x, y=s.y, loss=loss, accuracy=None, done=s.done)
    assert metrics.local_minima(diverged) == [(10, 10)]


def test_curvature_is_the_hessian_of_ln_loss():
    a = 1.5  # L = C exp(a r²): ln L is exactly quadratic with Hessian 2a
    c = metrics.curvature(grid_surface(lambda x, y: C * np.exp(a * (x ** 2 + y ** 2))))
    assert c["eigenvalues"] == pytest.approx([2 * a, 2 * a])
    assert c["points"] == 25 and c["of"] == "ln L"
    sad = metrics.curvature(grid_surface(lambda x, y: np.exp(a * (x ** 2 - y ** 2))), window=1)
    assert sad["eigenvalues"] == pytest.approx([-2 * a, 2 * a])
    tilted = metrics.curvature(grid_surface(lambda x, y: np.exp(1 + x - y + 3 * x * y)))
    np.testing.assert_allclose(tilted["hessian"], [[0, 3], [3, 0]], atol=1e-9)
    line = metrics.curvature(line_surface(lambda x: np.exp(1.5 * x ** 2 + 0.2 * x)))
    assert line["eigenvalues"] == pytest.approx([3.0])
    fine = metrics.curvature(grid_surface(bowl, n=401), window=1)  # ∇²L / L at θ*: 2A / C
    assert fine["eigenvalues"] == pytest.approx([2 * A / C] * 2, rel=1e-3)


def test_curvature_is_the_same_fit_whether_or_not_the_surface_stores_errors():
    fn = lambda x, y: np.exp(2 * x ** 2 + y ** 2) * (1 + 0.05 * np.sin(7 * x))  # noqa: E731
    bare = metrics.curvature(grid_surface(fn))
    rng = np.random.default_rng(0)
    told = metrics.curvature(grid_surface(fn, se=lambda loss: rng.uniform(0.001, 0.1,
                                                                          loss.shape) * loss))
    assert told["eigenvalues"] == bare["eigenvalues"]


def test_curvature_with_too_few_points_is_nan():
    s = grid_surface(bowl)
    mask = np.ones(s.shape, bool)
    mask[10, 9:12] = False  # only 3 points: 6 unknowns cannot be fitted
    c = metrics.curvature(with_not_done(s, mask))
    assert c["points"] == 3 and all(math.isnan(v) for v in c["eigenvalues"])
    with pytest.raises(ValueError, match="window"):
        metrics.curvature(s, window=0)


def test_convexity_counts_clearly_negative_curvature():
    tiny = lambda loss: np.full(loss.shape, 1e-9)  # noqa: E731
    assert metrics.convexity(grid_surface(bowl, se=tiny))["nonconvex_fraction"] == 0.0
    sad = metrics.convexity(grid_surface(saddle, se=tiny))
    assert sad["nonconvex_fraction"] == 1.0 and sad["points"] == 19 * 19
    wavy = metrics.convexity(line_surface(lambda a: 2 - np.cos(2 * np.pi * a), se=tiny))
    # second differences of -cos(2πa) are negative where |a| > 1/4 (up to the grid step)
    assert 0.4 < wavy["nonconvex_fraction"] < 0.6 and wavy["se"] > 0
    noisy = grid_surface(rippled, se=lambda loss: np.full(loss.shape, 1.0))  # 1.0: huge errors
    assert metrics.convexity(noisy)["nonconvex_fraction"] == 0.0  # nothing is significant
    clean = metrics.convexity(grid_surface(rippled, n=41, se=tiny))
    assert clean["nonconvex_fraction"] > 0.2


def test_convexity_needs_per_point_errors_and_a_share_of_zero_still_has_an_error():
    assert math.isnan(metrics.convexity(grid_surface(saddle))["nonconvex_fraction"])
    none = metrics.convexity(grid_surface(bowl, se=lambda loss: np.full(loss.shape, 1e-9)))
    assert none["nonconvex_fraction"] == 0.0
    assert none["se"] == pytest.approx(math.sqrt(2 / 365 * (1 - 2 / 365) / 365))  # 0 of 361


def test_convexity_flags_the_nominal_share_where_the_true_curvature_is_zero():
    """L = 1 + 2(α − β)² is flat along the diagonal (λmin = 0). With independent noise of a
    known sd, a point is flagged when λmin < −2 sd(λmin): about Φ(−2) = 2.3% of points, once
    the covariance of the two second differences sharing the centre is counted (6.0% without
    it: along a diagonal both enter λmin)."""
    x = np.linspace(-1, 1, 41)
    A_, B_ = np.meshgrid(x, x, indexing="ij")
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(30):
        noisy = 1 + 2 * (A_ - B_) ** 2 + rng.normal(0, 1e-3, A_.shape)
        s = Surface(x=x, y=x, loss=noisy, accuracy=None, done=np.ones(A_.shape, bool),
                    extras={"train_loss_se": np.full(A_.shape, 1e-3)})
        shares.append(metrics.convexity(s)["nonconvex_fraction"])
    assert np.mean(shares) == pytest.approx(0.0228, abs=0.004)


def test_roughness():
    smooth = metrics.roughness(grid_surface(bowl))
    rough = metrics.roughness(grid_surface(rippled))
    assert rough > smooth > 0
    # a plane with slope 1 in alpha: half of the edges differ by 0.1, half by 0
    assert metrics.roughness(grid_surface(lambda a, b: a)) == pytest.approx(0.05)
    assert metrics.roughness(line_surface(lambda a: 2 * a)) == pytest.approx(0.2)
    lg = metrics.roughness(grid_surface(lambda a, b: 10 ** (a + 2)), log=True)
    assert lg == pytest.approx(0.05)


def test_summarize_reports_skipped_points_and_is_json_ready():
    s = grid_surface(bowl, model="resnet20", skip=True)
    mask = np.zeros(s.shape, bool)
    mask[0, :5] = True
    loss = s.loss.copy()
    loss[20, 20] = np.inf
    s = Surface(x=s.x, y=s.y, loss=np.where(mask, np.nan, loss), accuracy=s.accuracy,
                done=~mask, meta=s.meta)
    summary = metrics.summarize(s, radii=(0.2, 2.0), factor=3.0)
    assert summary["points"] == {"total": 441, "done": 436, "not_done": 5, "diverged": 1}
    assert summary["extent"] == {"alpha": [-1.0, 1.0], "beta": [-1.0, 1.0], "shape": [21, 21]}
    assert summary["sharpness"]["0.2"]["value"] == pytest.approx(decades(0.2))
    assert summary["sharpness"]["2"]["value"] == math.inf  # the disc reaches the diverged corner
    notes = " ".join(summary["notes"])
    assert "5 of 441 points are not computed" in notes
    assert "1 points diverged" in notes
    assert "r=2 uses a disc that leaves the grid" in notes
    assert "no per-point standard errors" in notes
    text = report.to_json(summary)
    assert json.loads(text)["sharpness"]["2"]["value"] == "inf"


def test_common_region_crops_to_the_shared_points_or_refuses():
    fine, coarse = grid_surface(bowl, n=21), grid_surface(bowl, n=11)
    (a, b), info = metrics.common_region([fine, coarse])
    assert info["cropped"] and a.shape == b.shape == (11, 11)
    np.testing.assert_allclose(a.x, coarse.x)
    np.testing.assert_allclose(a.loss, coarse.loss)
    assert "compared only on the 11x11 grid points they share" in info["message"]
    same, info = metrics.common_region([fine, fine])
    assert not info["cropped"] and same[0] is fine
    shifted = grid_surface(bowl, n=20)  # no coordinate in common with n=21 but ±1
    with pytest.raises(ValueError, match="share only 2 α coordinates"):
        metrics.common_region([fine, shifted])
    with pytest.raises(ValueError, match="1-D line with a 2-D"):
        metrics.common_region([fine, line_surface(lambda x: x ** 2 + 1)])

"""Metrics on analytic surfaces whose answers are known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from landscape.analysis import metrics
from landscape.engine.types import Surface
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
    low = grid_surface(rippled)
    high = grid_surface(lambda a, b: 7.0 * rippled(a, b))
    s_low, s_high = metrics.summarize(low), metrics.summarize(high)
    assert s_low["convexity"] == s_high["convexity"]
    for r in s_low["sharpness"]:
        assert s_low["sharpness"][r]["value"] == pytest.approx(s_high["sharpness"][r]["value"])
    assert s_low["basin"]["area"] == s_high["basin"]["area"]
    np.testing.assert_allclose(s_low["curvature"]["eigenvalues"],
                               s_high["curvature"]["eigenvalues"])
    assert s_low["roughness_log10"] == pytest.approx(s_high["roughness_log10"])
    assert s_high["roughness"] == pytest.approx(7 * s_low["roughness"])  # the absolute one grows


def test_sharpness_standard_error_from_the_points():
    rel = 0.05  # every point known to 5%
    s = grid_surface(bowl, se=lambda loss: rel * loss)
    (v,) = metrics.sharpness(s, (0.5,)).values()
    assert v["se"] == pytest.approx(math.hypot(rel, rel) / math.log(10))


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
    assert b["radius"] == pytest.approx(math.sqrt((factor - 1) * C / A))
    assert b["level"] == pytest.approx(factor * C)
    assert not b["radius_limited_by_grid"]
    n_inside = sum(1 for i in range(-10, 11) for j in range(-10, 11)
                   if (i * 0.1) ** 2 + (j * 0.1) ** 2 <= 0.25 + 1e-12)
    assert b["fraction"] == pytest.approx(n_inside / 441)
    assert b["area"] == pytest.approx(n_inside * 0.01)
    with pytest.raises(ValueError, match="factor"):
        metrics.basin(grid_surface(bowl), 1.0)


def test_basin_radius_off_grid_is_within_one_step_below():
    b = metrics.basin(grid_surface(bowl), 1.6)  # sqrt(0.6 · 0.25) = 0.387
    assert math.sqrt(0.15) - 0.1 <= b["radius"] <= math.sqrt(0.15)


def test_basin_whole_grid_is_a_lower_bound_and_1d_is_a_length():
    b = metrics.basin(grid_surface(bowl), 100.0)
    assert b["radius_limited_by_grid"] and b["fraction"] == 1.0
    assert b["area"] == pytest.approx(4.0)
    line = metrics.basin(line_surface(lambda a: 0.25 + a ** 2), 2.0)
    assert line["radius"] == pytest.approx(0.5)
    assert line["area"] == pytest.approx(1.1)  # 11 points of width 0.1


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


def test_curvature_standard_error_is_the_least_squares_one():
    rel = 0.02  # ln L known to 0.02 everywhere: Cov = 0.02² (XᵀX)⁻¹
    s = line_surface(lambda x: np.exp(2 * x ** 2), se=lambda loss: rel * loss)
    c = metrics.curvature(s, window=2)
    a = s.x[8:13]
    X = np.stack([np.ones(5), a, 0.5 * a ** 2], axis=1)
    assert c["eigenvalues_se"][0] == pytest.approx(rel * math.sqrt(np.linalg.inv(X.T @ X)[2, 2]))


def test_curvature_with_too_few_points_is_nan():
    s = grid_surface(bowl)
    mask = np.ones(s.shape, bool)
    mask[10, 9:12] = False  # only 3 points: 6 unknowns cannot be fitted
    c = metrics.curvature(with_not_done(s, mask))
    assert c["points"] == 3 and all(math.isnan(v) for v in c["eigenvalues"])
    with pytest.raises(ValueError, match="window"):
        metrics.curvature(s, window=0)


def test_convexity_counts_clearly_negative_curvature():
    assert metrics.convexity(grid_surface(bowl))["nonconvex_fraction"] == 0.0
    sad = metrics.convexity(grid_surface(saddle))
    assert sad["nonconvex_fraction"] == 1.0 and sad["points"] == 19 * 19
    wavy = metrics.convexity(line_surface(lambda a: 2 - np.cos(2 * np.pi * a)))
    # second differences of -cos(2πa) are negative where |a| > 1/4 (up to the grid step)
    assert 0.4 < wavy["nonconvex_fraction"] < 0.6 and wavy["se"] > 0
    noisy = grid_surface(rippled, se=lambda loss: np.full(loss.shape, 1.0))  # 1.0: huge errors
    assert metrics.convexity(noisy)["nonconvex_fraction"] == 0.0  # nothing is significant
    clean = metrics.convexity(grid_surface(rippled, n=41))
    assert clean["nonconvex_fraction"] > 0.2


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

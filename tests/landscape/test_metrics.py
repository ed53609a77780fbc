"""Metrics on analytic surfaces whose answers are known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from landscape import metrics
from landscape.types import Surface


def grid_surface(fn, n: int = 21, span: float = 1.0, accuracy: bool = True, **meta) -> Surface:
    x = np.linspace(-span, span, n)
    y = np.linspace(-span, span, n)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = np.asarray(fn(A, B), dtype=np.float64)
    acc = 100 * np.exp(-loss) if accuracy else None
    return Surface(x=x, y=y, loss=loss, accuracy=acc, done=np.ones(loss.shape, bool), meta=meta)


def line_surface(fn, n: int = 21, span: float = 1.0) -> Surface:
    x = np.linspace(-span, span, n)
    loss = np.asarray(fn(x), dtype=np.float64)
    return Surface(x=x, y=None, loss=loss, accuracy=None, done=np.ones(n, bool))


def with_not_done(s: Surface, mask: np.ndarray) -> Surface:
    loss = s.loss.copy()
    loss[mask] = np.nan
    return Surface(x=s.x, y=s.y, loss=loss, accuracy=s.accuracy, done=~mask, meta=s.meta)


A = 2.0


def bowl(a, b):
    return A * (a ** 2 + b ** 2)


def saddle(a, b):
    return A * (a ** 2 - b ** 2)


def rippled(a, b):
    return bowl(a, b) - 0.05 * np.cos(9 * np.pi * a) * np.cos(9 * np.pi * b)


def test_center_values():
    s = grid_surface(lambda a, b: bowl(a, b) + 0.3)
    c = metrics.center(s)
    assert c["alpha"] == 0 and c["beta"] == 0
    assert c["loss"] == pytest.approx(0.3)
    assert c["accuracy"] == pytest.approx(100 * math.exp(-0.3))


def test_sharpness_of_bowl_is_a_r_squared():
    s = grid_surface(bowl)
    for r, v in metrics.sharpness(s, (0.1, 0.3, 0.5, 1.0)).items():
        assert v == pytest.approx(A * r ** 2, rel=1e-9)


def test_sharpness_below_grid_spacing_is_nan_and_bad_radius_raises():
    s = grid_surface(bowl)
    assert math.isnan(metrics.sharpness(s, (0.05,))[0.05])
    with pytest.raises(ValueError, match="> 0"):
        metrics.sharpness(s, (0.0,))


def test_sharpness_of_saddle_and_line():
    assert metrics.sharpness(grid_surface(saddle), (0.5,))[0.5] == pytest.approx(A * 0.25)
    line = line_surface(lambda a: 3 * a ** 2)
    assert metrics.sharpness(line, (0.5,))[0.5] == pytest.approx(0.75)


def test_sharpness_skips_not_done_and_sees_diverged():
    s = grid_surface(bowl)
    dist = np.hypot(*np.meshgrid(s.x, s.y, indexing="ij"))
    mask = np.isclose(dist, 0.5)  # the 12 points of largest rise within r = 0.5
    assert mask.sum() == 12
    got = metrics.sharpness(with_not_done(s, mask), (0.5,))[0.5]
    assert got == pytest.approx(A * (0.4 ** 2 + 0.2 ** 2))  # the farthest computed ones
    loss = s.loss.copy()
    loss[12, 10] = np.inf
    diverged = Surface(x=s.x, y=s.y, loss=loss, accuracy=None, done=s.done)
    assert metrics.sharpness(diverged, (0.1, 0.5)) == {0.1: pytest.approx(A * 0.01),
                                                        0.5: math.inf}


def test_basin_of_bowl():
    eps = 0.5  # radius sqrt(eps / a) = 0.5 falls on grid points
    b = metrics.basin(grid_surface(bowl), eps)
    assert b["radius"] == pytest.approx(math.sqrt(eps / A))
    assert b["level"] == pytest.approx(eps)
    assert not b["radius_limited_by_grid"]
    n_inside = sum(1 for i in range(-10, 11) for j in range(-10, 11)
                   if (i * 0.1) ** 2 + (j * 0.1) ** 2 <= 0.25 + 1e-12)
    assert b["fraction"] == pytest.approx(n_inside / 441)
    # every point stands for a 0.1 x 0.1 cell; the disc is far from the edges
    assert b["area"] == pytest.approx(n_inside * 0.01)
    assert b["area"] == pytest.approx(math.pi * eps / A, rel=0.1)


def test_basin_radius_off_grid_is_within_one_step_below():
    eps = 0.3  # sqrt(0.15) = 0.387
    b = metrics.basin(grid_surface(bowl), eps)
    assert math.sqrt(eps / A) - 0.1 <= b["radius"] <= math.sqrt(eps / A)


def test_basin_whole_grid_is_a_lower_bound_and_1d_is_a_length():
    b = metrics.basin(grid_surface(bowl), 100.0)
    assert b["radius_limited_by_grid"] and b["fraction"] == 1.0
    assert b["area"] == pytest.approx(4.0)
    line = metrics.basin(line_surface(lambda a: a ** 2), 0.25)
    assert line["radius"] == pytest.approx(0.5)
    assert line["area"] == pytest.approx(1.1)  # 11 points of width 0.1


def test_basin_of_saddle_is_the_beta_direction():
    b = metrics.basin(grid_surface(saddle), 0.5)
    # loss <= 0.5 holds whenever a^2 - b^2 <= 0.25 (true disc radius 0.5): the nearest
    # point above is (0.6, 0), the farthest nearer point below is (0.5, 0.3)
    assert b["radius"] == pytest.approx(math.hypot(0.5, 0.3))
    assert b["fraction"] > 0.5


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
    mask[:] = False
    mask[9:12, 9:12] = True
    mask[10, 10] = False  # the centre's neighbours are not computed: nothing to compare with
    assert metrics.local_minima(with_not_done(s, mask)) == []
    loss = s.loss.copy()
    loss[10, 11] = np.nan  # diverged neighbour: higher than anything
    diverged = Surface(x=s.x, y=s.y, loss=loss, accuracy=None, done=s.done)
    assert metrics.local_minima(diverged) == [(10, 10)]


def test_curvature_of_bowl_saddle_and_line():
    bowl_c = metrics.curvature(grid_surface(bowl))
    assert bowl_c["eigenvalues"] == pytest.approx([2 * A, 2 * A])
    assert bowl_c["points"] == 25
    sad = metrics.curvature(grid_surface(saddle), window=1)
    assert sad["eigenvalues"] == pytest.approx([-2 * A, 2 * A])
    tilted = metrics.curvature(grid_surface(lambda a, b: 1 + a - b + 3 * a * b))
    np.testing.assert_allclose(tilted["hessian"], [[0, 3], [3, 0]], atol=1e-9)
    line = metrics.curvature(line_surface(lambda a: 1.5 * a ** 2 + 0.2 * a))
    assert line["eigenvalues"] == pytest.approx([3.0])


def test_curvature_with_too_few_points_is_nan():
    s = grid_surface(bowl)
    mask = np.ones(s.shape, bool)
    mask[10, 9:12] = False  # only 3 points: 6 unknowns cannot be fitted
    c = metrics.curvature(with_not_done(s, mask))
    assert c["points"] == 3 and all(math.isnan(v) for v in c["eigenvalues"])
    with pytest.raises(ValueError, match="window"):
        metrics.curvature(s, window=0)


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
    summary = metrics.summarize(s, radii=(0.2, 2.0), eps=0.5)
    assert summary["points"] == {"total": 441, "done": 436, "not_done": 5, "diverged": 1}
    assert summary["sharpness"]["0.2"] == pytest.approx(A * 0.04)
    assert summary["sharpness"]["2"] == math.inf  # the disc reaches the diverged corner
    notes = " ".join(summary["notes"])
    assert "5 of 441 points are not computed" in notes
    assert "1 points diverged" in notes
    assert "r=2 uses a disc that leaves the grid" in notes
    text = metrics.to_json(summary)
    assert json.loads(text)["sharpness"]["2"] == "inf"


def test_compare_table_and_markdown():
    a = grid_surface(bowl)
    b = grid_surface(lambda x, y: 3 * rippled(x, y), n=41)
    result = metrics.compare(a, b, ["skip", "no skip"], radii=(0.5,), eps=0.5)
    rows = {r[0]: r for r in result["rows"]}
    assert rows["sharpness r=0.5"][1] == pytest.approx(0.5)
    assert rows["sharpness r=0.5"][3] > 2  # no skip is sharper
    assert rows["local minima"][1] == 1 and rows["local minima"][2] > 1
    table = metrics.format_table(result)
    assert table.splitlines()[0].split() == ["metric", "skip", "no", "skip", "ratio"]
    assert "sharpness r=0.5" in table
    md = metrics.format_markdown(result)
    assert md.startswith("| metric | skip | no skip | ratio |\n|---|---:|---:|---:|")
    json.loads(metrics.to_json(result))
    with pytest.raises(ValueError, match="two distinct labels"):
        metrics.compare(a, b, ["x", "x"])


def test_format_one_summary():
    text = metrics.format_table(metrics.summarize(line_surface(lambda a: a ** 2 + 1)))
    assert "loss at θ*" in text and "accuracy at θ* (%)" in text

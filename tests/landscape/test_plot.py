"""Matplotlib pictures: what is drawn, what is masked, shared scales, and non-blank 3-D."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402

from landscape import plot  # noqa: E402
from landscape.types import Surface  # noqa: E402
from tests.paths import REFERENCE  # noqa: E402


def plane(a: float = 1.0, n: int = 13, **meta) -> Surface:
    x = np.linspace(-1, 1, n)
    y = np.linspace(-0.5, 0.5, n - 4)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = a * (A ** 2 + 2 * B ** 2) + 0.2
    done = np.ones(loss.shape, bool)
    done[-3:, -2:] = False  # a corner not computed yet
    loss[~done] = np.nan
    loss[1, 1] = np.inf  # a diverged point
    return Surface(x=x, y=y, loss=loss, accuracy=100 * np.exp(-loss), done=done, meta=meta)


def line(n: int = 11) -> Surface:
    x = np.linspace(-1, 1, n)
    loss = 0.5 + 3 * x ** 2
    done = np.ones(n, bool)
    done[-1] = False
    loss[-1] = np.nan
    return Surface(x=x, y=None, loss=loss, accuracy=100 - 10 * loss, done=done)


def render(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)


def contour_sets(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_contour_has_labelled_lines_title_and_centre():
    fig = plot.contour(plane(model="resnet56", skip=False, split="test"))
    ax = fig.axes[0]
    assert ax.get_title() == "resnet56, no skip: test loss"
    (cs,) = contour_sets(ax)
    assert len(cs.levels) >= 5
    assert len(ax.texts) > 0  # contour labels
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [0.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["not computed", "diverged / not drawable", "θ*"]
    assert ax.get_xlabel() == "α" and ax.get_ylabel() == "β"


def test_masked_points_are_not_drawn_as_zeros():
    s = plane()
    fig = plot.heatmap(s, zmax=1.0)
    (mesh,) = [c for c in fig.axes[0].collections if isinstance(c, QuadMesh)]
    arr = mesh.get_array()
    expected = (~s.done) | ~np.isfinite(s.loss)
    np.testing.assert_array_equal(np.ma.getmaskarray(arr).reshape(s.loss.T.shape), expected.T)
    assert arr.max() == pytest.approx(1.0)  # zmax clips
    assert arr.min() == pytest.approx(0.2)  # nothing was filled with zeros


def test_log_scale_with_huge_losses():
    s = plane(a=2.6e4)
    fig = plot.contourf(s, log=True)
    cs = contour_sets(fig.axes[0])[0]
    assert isinstance(cs.norm, LogNorm)
    assert cs.levels.min() > 0 and cs.levels.max() / cs.levels.min() > 1e3
    assert "log scale" in fig.axes[1].get_ylabel()  # the colour bar


def test_vmin_vmax_levels_and_errors():
    fig = plot.contour(plane(), vmin=0.5, vmax=2.0, levels=[0.5, 1.0, 1.5, 2.0])
    (cs,) = contour_sets(fig.axes[0])
    np.testing.assert_allclose(cs.levels, [0.5, 1.0, 1.5, 2.0])
    assert (cs.norm.vmin, cs.norm.vmax) == (0.5, 2.0)
    with pytest.raises(ValueError, match="1-D"):
        plot.contour(line())
    with pytest.raises(ValueError, match="2-D"):
        plot.line(plane())
    with pytest.raises(ValueError, match="quantity"):
        plot.contour(plane(), quantity="lr")
    empty = plane()
    empty = Surface(x=empty.x, y=empty.y, loss=np.full(empty.shape, np.nan), accuracy=None,
                    done=np.zeros(empty.shape, bool))
    with pytest.raises(ValueError, match="nothing to draw"):
        plot.contourf(empty)


def test_surface3d_is_a_real_nonblank_surface():
    s = plane()
    fig = plot.surface3d(s)
    ax = fig.axes[0]
    assert ax.name == "3d"
    (poly,) = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
    img = render(fig)
    finite = np.isfinite(s.values("loss"))
    cells = finite[:-1, :-1] & finite[1:, :-1] & finite[1:, 1:] & finite[:-1, 1:]
    assert len(poly.get_paths()) == cells.sum()  # holes where a corner is missing
    colourful = (img.max(axis=2) - img.min(axis=2)) > 60
    width = img.shape[1]
    assert colourful[:, : int(width * 0.75)].mean() > 0.05  # the surface, not only the bar


def test_surface3d_log_ticks_in_loss_units():
    fig = plot.surface3d(plane(a=1e4), log=True)
    render(fig)
    labels = [t.get_text() for t in fig.axes[0].zaxis.get_ticklabels() if t.get_text()]
    assert "1e3" in labels or "100" in labels


def test_line_twin_axes_and_gaps():
    fig = plot.line(line(), log=True)
    ax, acc = fig.axes
    assert ax.get_yscale() == "log" and acc.get_ylabel() == "accuracy (%)"
    loss_line = ax.get_lines()[0]
    assert np.isnan(loss_line.get_ydata()[-1])  # a gap, not a zero
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["loss", "accuracy", "not computed", "θ*"]


def test_side_by_side_shares_levels_and_colour_scale():
    a, b = plane(), plane(a=5.0)
    fig = plot.side_by_side([a, b], ["skip", "no skip"], kind="contourf")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["skip", "no skip"]
    sets = [contour_sets(ax)[0] for ax in panels]  # the filled set, then its thin lines
    np.testing.assert_allclose(sets[0].levels, sets[1].levels)
    assert sets[0].norm.vmax == sets[1].norm.vmax == pytest.approx(np.nanmax(
        np.where(np.isfinite(b.loss), b.loss, np.nan)))
    assert len(fig.axes) == 3  # two panels and one colour bar
    fig3d = plot.side_by_side([a, b], kind="3d")
    assert fig3d.axes[0].get_zlim() == fig3d.axes[1].get_zlim()
    lines = plot.side_by_side([line(), line(7)], ["a", "b"])
    assert lines.axes[0].get_ylim() == lines.axes[1].get_ylim()
    with pytest.raises(ValueError, match="mixed"):
        plot.side_by_side([a, line()])
    with pytest.raises(ValueError, match="labels"):
        plot.side_by_side([a, b], ["one"])


def test_draw_dispatches_and_line_for_1d():
    assert plot.draw(plane(), "heatmap").axes[0].get_title() == "train loss"
    assert plot.draw(line(), "contour", levels=5).axes[0].get_xlabel() == "α"
    with pytest.raises(ValueError, match="kind"):
        plot.draw(plane(), "pie")


def test_reference_files():
    from landscape.store import load_surface

    full = load_surface(REFERENCE / "surf_5x3.h5")
    fig = plot.contour(full, log=True)
    assert fig.axes[0].get_title() == "2018 reference file: train loss"
    plot.surface3d(full, log=True)
    partial = plot.heatmap(load_surface(REFERENCE / "surf_partial_3x3.h5"), log=True)
    (mesh,) = [c for c in partial.axes[0].collections if isinstance(c, QuadMesh)]
    assert np.ma.getmaskarray(mesh.get_array()).sum() == 4  # the 4 points never computed
    plot.line(load_surface(REFERENCE / "line_7.h5"), log=True)


def test_importing_the_pictures_modules_stays_light():
    code = ("import sys, landscape.plot, landscape.viewer, landscape.metrics; "
            "print('matplotlib' in sys.modules, 'plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_unresolved_levels_and_error_map():
    import numpy as np

    from landscape import plot
    from landscape.types import Surface

    x = np.linspace(-1, 1, 21)
    a, b = np.meshgrid(x, x, indexing="ij")
    loss = 0.5 + a**2 + b**2
    se = 0.01 + 0.08 * (a**2 + b**2)  # noisier far from θ*
    levels = [0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4]
    flags = plot.unresolved_levels(np.ma.masked_invalid(loss), se, levels)
    # spacing 0.2 vs 2·se: resolved while se < 0.1, i.e. loss - 0.5 < 1.125
    assert not flags[:5].any() and flags[-3:].all()
    assert not plot.unresolved_levels(np.ma.masked_invalid(loss), None, levels).any()
    filled = np.zeros(loss.shape, dtype=bool)
    filled[1:-1:2, 1:-1:2] = True
    s = Surface(x=x, y=x, loss=loss, accuracy=None, done=~filled, meta={"samples": 100},
                extras={"train_loss_se": se, "filled": filled})
    fig = plot.contour(s, levels=levels)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "interpolated (--refine)" in legend and any("not resolved" in t for t in legend)
    assert labels is not None
    fig = plot.error_map(s)
    assert "standard error" in fig.axes[0].get_title()
    no_se = Surface(x=x, y=x, loss=loss, accuracy=None, done=~filled)
    import pytest

    with pytest.raises(ValueError, match="no standard errors"):
        plot.error_map(no_se)

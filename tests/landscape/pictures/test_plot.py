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

from landscape.engine.types import Surface  # noqa: E402
from landscape.pictures import plot  # noqa: E402
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


def with_se(s: Surface) -> Surface:
    se = np.where(np.isfinite(s.loss), 0.05 * np.abs(s.loss), np.nan)
    return Surface(x=s.x, y=s.y, loss=s.loss, accuracy=s.accuracy, done=s.done, meta=s.meta,
                   extras={"train_loss_se": se})


def line_with(x: np.ndarray | None = None, **meta) -> Surface:
    x = np.linspace(-1, 1, 11) if x is None else x
    return Surface(x=x, y=None, loss=0.5 + 3 * x ** 2, accuracy=None,
                   done=np.ones(len(x), bool), meta=meta)


def render(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)


def contour_sets(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_contour_has_labelled_lines_title_and_centre():
    fig = plot.contour(plane(model="resnet56", skip=False, split="test"))
    ax = fig.axes[0]
    assert ax.get_title() == "resnet56, no skip: test loss"
    (cs,) = contour_sets(ax)
    assert len(cs.levels) >= 5
    assert len(ax.texts) > 0  # contour labels
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [0.0]
    assert legend_texts(fig) == ["not computed", "diverged / not drawable", "θ*"]
    assert ax.get_legend() is None  # one legend, below the figure
    assert ax.get_xlabel() == "α" and ax.get_ylabel() == "β"


def test_titles_say_no_skip_once():
    noskip = plane(model="resnet56-noskip", skip=False)
    assert plot.title_of(noskip) == "resnet56-noskip: train loss"
    assert plot.title_of(plane(model="resnet56", skip=False)) == "resnet56, no skip: train loss"
    assert plot.title_of(plane(model="resnet56", skip=True)) == "resnet56: train loss"


def test_the_legend_does_not_cover_the_alpha_label():
    fig = plot.side_by_side([plane(), plane(a=4.0)], ["a", "b"], kind="contour")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes[:2]:
        label = ax.xaxis.label.get_window_extent(renderer)
        assert not box.overlaps(label) and box.y1 <= label.y0  # below it


def test_log_scale_is_chosen_when_the_loss_spans_decades_and_the_colour_bar_says_so():
    steep = plot.contourf(plane(a=2.6e4))  # 0.2 .. 3.9e4: 5.3 decades
    cs = contour_sets(steep.axes[0])[0]
    assert isinstance(cs.norm, LogNorm)
    assert steep.axes[1].get_ylabel() == "loss (log scale: the values span 5.3 decades)"
    mild = plot.contourf(plane(a=2.0))  # 0.2 .. 3: about one decade
    assert not isinstance(contour_sets(mild.axes[0])[0].norm, LogNorm)
    assert mild.axes[1].get_ylabel() == "loss"
    forced = plot.contourf(plane(a=2.0), log=True)
    assert forced.axes[1].get_ylabel() == "loss (log scale)"
    linear = plot.contourf(plane(a=2.6e4), log=False)
    assert not isinstance(contour_sets(linear.axes[0])[0].norm, LogNorm)
    assert plot.choose_log(np.array([0.1, 10.0, np.nan, np.inf])) is False  # exactly 2 decades
    assert plot.choose_log(np.array([0.1, 10.1])) is True
    assert plot.choose_log(np.array([-1.0, 1e5])) is False  # not all positive


def test_log_levels_are_round_and_the_same_on_two_pictures():
    """On a log scale the levels are 1, 2, 5 × 10^k: two single-model pictures of different
    surfaces share every level in their common range, and read without a legend of values."""
    x = np.linspace(-1, 1, 41)
    a, b = np.meshgrid(x, x, indexing="ij")
    r = np.hypot(a, b)
    sharp = Surface(x=x, y=x, loss=0.0437 * 10 ** (6 * r), accuracy=None,
                    done=np.ones(r.shape, bool))  # a sharp minimum under walls six decades high
    flat = Surface(x=x, y=x, loss=0.173 * 10 ** (2.5 * r), accuracy=None,
                   done=np.ones(r.shape, bool))
    seen = []
    for s in (sharp, flat):
        for fig in (plot.contourf(s), plot.contour(s)):
            levels = contour_sets(fig.axes[0])[0].levels
            mantissas = levels / 10.0 ** np.floor(np.log10(levels) + 1e-9)
            np.testing.assert_allclose(mantissas, np.round(mantissas), atol=1e-9)
            assert set(np.round(mantissas).astype(int)) <= {1, 2, 5}
            seen.append(set(np.round(levels, 12)))
    assert seen[0] == seen[1]  # contour and contourf of one surface
    common = {v for v in seen[0] if min(seen[2]) <= v <= max(seen[2])}
    assert common and common <= seen[2]  # the flat surface's levels are the sharp one's
    assert {0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0} <= seen[2]
    narrow = plot.contour(plane(a=0.5), log=True)  # 0.2 .. 0.95: too narrow for 1, 2, 5
    assert list(contour_sets(narrow.axes[0])[0].levels) == pytest.approx([0.2, 0.3, 0.5, 0.7])


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


def test_names_with_mathtext_and_backslashes_draw():
    nasty = r"$\alpha_{bad$ run_1^2 \ \frac"
    s = plane(model=nasty, skip=False)
    for fig in (plot.contour(s), plot.surface3d(s), plot.error_map(with_se(s)),
                plot.side_by_side([s, plane(a=3.0)], [nasty, "b$"], kind="contourf"),
                plot.line(line_with(model=nasty), title=nasty)):
        render(fig)  # matplotlib would raise here on bad mathtext
    assert plot.contour(s).axes[0].get_title() == f"{nasty}, no skip: train loss"


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
    (poly,) = [c for c in ax.collections if type(c).__name__ == "HeightField"]
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


def test_surface3d_says_log_scale_once_and_keeps_ticks_off_the_corners():
    fig = plot.surface3d(plane(a=1e4))
    render(fig)
    ax = fig.axes[0]
    texts = [ax.get_zlabel(), ax.get_xlabel(), ax.get_ylabel(), ax.get_title(),
             *(a.get_ylabel() for a in fig.axes[1:])]
    assert sum("log scale" in t for t in texts) == 1
    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = axis.get_ticklocs()
        assert len(ticks) >= 2 and all(lo < t < hi for t in ticks)  # none at a corner


def test_surface3d_shows_the_basin_not_the_underside_of_the_near_wall():
    """A funnel seen from 30° above: its near wall rises towards the viewer more steeply than
    the line of sight, so its underside would cover the basin. The camera rises above it: the
    pixels of the inner side show its own colour, and no cell is seen from below."""
    from matplotlib import colormaps
    from mpl_toolkits.mplot3d import proj3d

    x = np.linspace(-1, 1, 21)
    a, b = np.meshgrid(x, x, indexing="ij")

    def f(u, v):
        return 0.1 * 10 ** (4 * np.hypot(u, v))

    s = Surface(x=x, y=x, loss=f(a, b), accuracy=None, done=np.ones(a.shape, bool))
    fig = plot.surface3d(s)
    img = render(fig) / 255
    ax = fig.axes[0]
    zlo, zhi = np.log10(0.1), np.log10(f(1, 1))
    for u, v in [(-0.1, 0.1), (-0.15, 0.2), (0.0, 0.15), (-0.2, 0.05)]:
        z = np.log10(f(u, v))
        px, py, _ = proj3d.proj_transform(np.array([u]), np.array([v]), np.array([z]), ax.M)
        col, row = ax.transData.transform((px[0], py[0]))
        got = img[int(round(img.shape[0] - row)), int(round(col))]
        want = np.array(colormaps["viridis"]((z - zlo) / (zhi - zlo))[:3])
        assert np.abs(got - want).max() < 0.15, (u, v, got, want)
    (field,) = [c for c in ax.collections if type(c).__name__ == "HeightField"]
    assert ax.elev > 30 and not field.below.any()
    assert np.all(field.get_facecolors()[:, 3] == 1.0)  # opaque: no faint grey cells


def test_surface3d_is_cut_cleanly_at_zmax_and_stars_theta_star():
    """--zmax cuts the bowl with the plane z = zmax: nothing above it, and the rim runs along
    the contour z = zmax (each crossing where the cell's edge meets the plane), not in steps
    along whole cells; θ* is a star on the surface, and in the legend."""
    x = np.linspace(-1, 1, 21)
    a, b = np.meshgrid(x, x, indexing="ij")
    s = Surface(x=x, y=x, loss=1.0 + 9.0 * (a ** 2 + b ** 2), accuracy=None,
                done=np.ones(a.shape, bool))  # 1 at θ*, 10 on the circle r = 1
    fig = plot.surface3d(s, zmax=10.0, log=False)
    render(fig)
    ax = fig.axes[0]
    (field,) = [c for c in ax.collections if type(c).__name__ == "HeightField"]
    corners = field._quads.reshape(-1, 3)
    assert corners[:, 2].max() <= 10.0 + 1e-9
    rim = corners[np.isclose(corners[:, 2], 10.0)]
    r = np.hypot(rim[:, 0], rim[:, 1])
    assert len(rim) > 40 and np.all(np.abs(r - 1.0) < 0.01)  # on the circle, up to the chord
    assert not np.isclose(field._quads[..., 2], 10.0).all(axis=1).any()  # no flat plateau
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    tops = [ln for ln in stars if np.isclose(ln.get_data_3d()[2][0], 1.0)]
    assert len(tops) == 1 and np.allclose(tops[0].get_data_3d()[0], 0.0)
    assert "θ*" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_surface3d_draws_back_to_front_over_its_floor():
    """Cells are drawn in order of their distance on the ground, farthest first, over the
    contour lines on the floor: no far wall is painted over the basin in front of it."""
    from mpl_toolkits.mplot3d import proj3d

    x = np.linspace(-1, 1, 15)
    a, b = np.meshgrid(x, x, indexing="ij")
    s = Surface(x=x, y=x, loss=0.1 * 10 ** (3 * (a - b) ** 2 + a), accuracy=None,
                done=np.ones(a.shape, bool))
    fig = plot.surface3d(s)
    render(fig)
    ax = fig.axes[0]
    (field,) = [c for c in ax.collections if type(c).__name__ == "HeightField"]
    floor = [c for c in ax.collections if c is not field]
    assert not ax.computed_zorder and all(c.get_zorder() < field.get_zorder() for c in floor)
    # the drawn polygons, in drawing order, map back to cells: their ground depth never grows
    quads = field._quads
    corners = quads.shape[1]
    centres = [p.vertices[:corners].mean(axis=0) for p in field.get_paths()]
    _, _, depth = proj3d.proj_transform(quads[..., 0].mean(1), quads[..., 1].mean(1),
                                        np.zeros(len(quads)), ax.M)
    px, py, _ = proj3d.proj_transform(quads[..., 0].ravel(), quads[..., 1].ravel(),
                                      quads[..., 2].ravel(), ax.M)
    drawn_centres = np.stack([px, py], -1).reshape(len(quads), corners, 2).mean(axis=1)
    order = [int(np.argmin(np.abs(drawn_centres - c).sum(axis=1))) for c in centres]
    assert sorted(order) == list(range(len(quads)))
    assert np.all(np.diff(np.asarray(depth)[order]) <= 1e-12)


def test_line_twin_axes_and_gaps():
    fig = plot.line(line(), log=True)
    ax, acc = fig.axes
    assert ax.get_yscale() == "log" and acc.get_ylabel() == "accuracy (%)"
    loss_line = ax.get_lines()[0]
    assert np.isnan(loss_line.get_ydata()[-1])  # a gap, not a zero
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["loss", "accuracy", "not computed", "θ*"]


def test_interpolation_line_marks_both_checkpoints_and_the_trained_one():
    s = line_with(kind="interpolation", checkpoint="/runs/r20/epoch_000.pt",
                  checkpoint_b="/runs/r20/final.pt", star_alpha=1.0, x=np.linspace(-0.5, 1.5, 9))
    fig = plot.line(s)
    ax = fig.axes[0]
    assert ax.get_title() == "interpolation r20/epoch_000.pt → r20/final.pt: train loss"
    marks = {ln.get_label(): (ln.get_marker(), float(ln.get_xdata()[0]))
             for ln in ax.get_lines() if ln.get_marker() in ("*", "o") and len(ln.get_xdata()) == 1}
    assert marks == {"r20/epoch_000.pt (α = 0)": ("o", 0.0),
                     "r20/final.pt (α = 1), trained": ("*", 1.0)}


def test_interpolation_points_with_undefined_bn_statistics_are_not_diverged():
    x = np.linspace(-0.5, 1.5, 9)
    loss = 1 + (x - 1) ** 2
    loss[x > 1.2] = np.nan  # a negative variance, had it not been clamped
    s = Surface(x=x, y=None, loss=loss, accuracy=None, done=np.ones(9, bool),
                meta={"kind": "interpolation", "bn_valid_alpha": [None, 1.2]})
    labels = [t.get_text() for t in plot.line(s).axes[0].get_legend().get_texts()]
    assert "undefined: BN variance < 0" in labels and "diverged" not in labels
    assert "BN variance clamped at 0 (extrapolated < 0)" in labels


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


def test_error_map_explains_its_white_lines():
    fig = plot.error_map(with_se(plane(a=1e4)))
    assert legend_texts(fig) == ["white lines: loss contours (log-spaced)"]
    assert fig.axes[0].get_title() == "standard error of the train loss"


def test_draw_dispatches_and_line_for_1d():
    assert plot.draw(plane(), "heatmap").axes[0].get_title() == "train loss"
    assert plot.draw(line(), "contour", levels=5).axes[0].get_xlabel() == "α"
    with pytest.raises(ValueError, match="kind"):
        plot.draw(plane(), "pie")


def test_reference_files():
    from landscape.engine.store import load_surface

    full = load_surface(REFERENCE / "surf_5x3.h5")
    fig = plot.contour(full, log=True)
    assert fig.axes[0].get_title() == "2018 reference file: train loss"
    plot.surface3d(full, log=True)
    partial = plot.heatmap(load_surface(REFERENCE / "surf_partial_3x3.h5"), log=True)
    (mesh,) = [c for c in partial.axes[0].collections if isinstance(c, QuadMesh)]
    assert np.ma.getmaskarray(mesh.get_array()).sum() == 4  # the 4 points never computed
    plot.line(load_surface(REFERENCE / "line_7.h5"), log=True)


def test_importing_the_pictures_modules_stays_light():
    code = ("import sys, landscape.pictures.plot, landscape.pictures.viewer, "
            "landscape.analysis.metrics, landscape.pictures.report; "
            "print('matplotlib' in sys.modules, 'plotly' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_unresolved_levels_and_error_map():
    import numpy as np

    from landscape.engine.types import Surface
    from landscape.pictures import plot

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
    legend = legend_texts(fig)
    assert "interpolated (--refine)" in legend and any("not resolved" in t for t in legend)
    fig = plot.error_map(s)
    assert "standard error" in fig.axes[0].get_title()
    no_se = Surface(x=x, y=x, loss=loss, accuracy=None, done=~filled)
    import pytest

    with pytest.raises(ValueError, match="no standard errors"):
        plot.error_map(no_se)


def test_a_plane_through_three_checkpoints_names_them_and_stars_none():
    from landscape.pictures.scales import Anchor, surface_anchors
    from landscape.pictures.viewer import surface_figure

    x = np.linspace(-0.5, 1.5, 9)
    A, B = np.meshgrid(x, x, indexing="ij")
    loss = 0.5 + (A * (1 - A) + B * (1 - B)) ** 2  # the minima A, B, C of interp's plane
    meta = {"kind": "interpolation", "checkpoint": "runs/a/final.pt",
            "checkpoint_b": "runs/b/final.pt", "checkpoint_c": "runs/c/final.pt"}
    s = Surface(x=x, y=x.copy(), loss=loss, accuracy=None, done=np.ones(loss.shape, bool),
                meta=meta)
    assert surface_anchors(s) == [Anchor(0.0, 0.0, "a/final.pt", False),
                                  Anchor(1.0, 0.0, "b/final.pt", False),
                                  Anchor(0.0, 1.0, "c/final.pt", False)]
    for fig in (plot.contour(s), plot.surface3d(s)):
        ax = fig.axes[0]
        texts = {t.get_text().strip() for t in ax.texts}
        assert {"a/final.pt", "b/final.pt", "c/final.pt"} <= texts
        legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []
        assert "θ*" not in legend and "checkpoint" in legend
    notes = surface_figure(s).layout.scene.annotations
    assert [(n.x, n.y, n.text) for n in notes] == [(0.0, 0.0, "a/final.pt"),
                                                   (1.0, 0.0, "b/final.pt"),
                                                   (0.0, 1.0, "c/final.pt")]
    # a slice around one checkpoint keeps its one star at the origin
    around = Surface(x=x - 0.5, y=x - 0.5, loss=loss, accuracy=None,
                     done=np.ones(loss.shape, bool), meta={})
    assert surface_anchors(around) == [Anchor(0.0, 0.0, "θ*", True)]
    assert [n.text for n in surface_figure(around).layout.scene.annotations] == ["θ*"]

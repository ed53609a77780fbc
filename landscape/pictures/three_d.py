"""The 3-D picture of a surface: an opaque height field of one coloured quad per grid cell,
drawn back to front and cut cleanly at the top of its scale, with θ* marked, over its contour
lines projected on the floor."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.pictures.scales import CMAP, Prepared, Scale, set_title, short_number

if TYPE_CHECKING:
    from matplotlib.colors import Normalize

__all__ = ["draw_3d"]


_UNDERSIDE = 0.62  # brightness of a cell seen from below (the outside of a wall facing us)
_CORNERS = 5  # a quad cut by a plane has at most 5 corners; fewer are padded by repeats
_ELEVATION, _AZIMUTH = 30.0, -60.0  # the camera: elevation raised for steep walls
_STAR_STYLE = {"marker": "*", "ms": 15, "mfc": "white", "mec": "black", "mew": 1.2, "ls": "none"}
_CHECKPOINT_STYLE = {"marker": "o", "ms": 8, "mfc": "white", "mec": "black", "mew": 1.2,
                     "ls": "none"}


@functools.lru_cache(maxsize=1)
def _height_field_class() -> type:
    """A PolyCollection for a surface z = f(α, β) in a 3-D axes, drawn back to front by the
    position of each cell on the ground.

    Matplotlib's own 3-D polygons are sorted by the depth of their corners, which for a steep
    height field puts a far, high wall in front of the low basin before it (and draws slivers
    of it through the basin). Seen from above, a cell can only hide cells behind it on the
    ground plane, so sorting by the ground position of each cell's centre is exact.
    """
    from matplotlib.collections import PolyCollection
    from mpl_toolkits.mplot3d import proj3d

    class HeightField(PolyCollection):
        def __init__(self, quads: np.ndarray, colors: np.ndarray, floor: float,
                     **kwargs: Any) -> None:
            super().__init__([], **kwargs)
            self._quads = quads          # (cells, corners, 3)
            self._colors = colors        # (cells, 4) RGBA, lit from above
            self._floor = floor

        def do_3d_projection(self) -> float:
            m = self.axes.M
            q = self._quads
            px, py, pz = proj3d.proj_transform(q[..., 0].ravel(), q[..., 1].ravel(),
                                               q[..., 2].ravel(), m)
            centre = q[..., :2].mean(axis=1)
            _, _, depth = proj3d.proj_transform(centre[:, 0], centre[:, 1],
                                                np.full(len(q), self._floor), m)
            order = np.argsort(np.asarray(depth), kind="stable")[::-1]  # far first
            xy = np.stack([np.asarray(px), np.asarray(py)], axis=-1).reshape(q.shape[:2] + (2,))
            # the corners go round counter-clockwise seen from above: a cell whose projection
            # turns clockwise is seen from below (the outside of a wall rising towards us),
            # drawn opaque and darker, as the underside of a real surface
            x, y = xy[..., 0], xy[..., 1]
            area = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
            colors = self._colors.copy()
            colors[area < 0, :3] *= _UNDERSIDE
            self.set_verts(list(xy[order]))
            self.set_facecolor(colors[order])
            self.below = area < 0
            return float(np.min(pz)) if len(q) else float("nan")

    return HeightField


def _inner_ticks(lo: float, hi: float) -> list[float]:
    """A few round ticks strictly inside [lo, hi], so that the labels of two axes never meet
    at the corner of a 3-D box."""
    from matplotlib.ticker import MaxNLocator

    span = hi - lo
    ticks = MaxNLocator(nbins=4).tick_values(lo, hi)
    inner = [float(t) for t in ticks if lo + 0.08 * span < t < hi - 0.08 * span]
    return inner or [float(t) for t in ticks if lo <= t <= hi]


def _cut_at(corners: np.ndarray, top: float) -> np.ndarray:
    """The cells (cells, 4, 3) cut by the plane z = top: what lies above it goes, a cell across
    it keeps the part below (its edges cut where they cross, so the rim follows the contour
    z = top smoothly, never in steps). Returns (cells, 5, 3), short polygons padded by
    repeating their last corner; cells wholly above the plane are left out."""
    z = corners[..., 2]
    below = z <= top
    whole = below.all(axis=1)
    out = [np.concatenate([corners[whole], corners[whole][:, -1:]], axis=1)]
    for cell in corners[below.any(axis=1) & ~whole]:
        kept = []
        for k in range(4):
            a, b = cell[k], cell[(k + 1) % 4]
            if a[2] <= top:
                kept.append(a)
            if (a[2] <= top) != (b[2] <= top):
                t = (top - a[2]) / (b[2] - a[2])
                kept.append(a + t * (b - a))
        if len(np.unique(np.round(np.asarray(kept), 9), axis=0)) < 3:
            continue  # it touches the plane at a corner or an edge only: nothing to draw
        kept += [kept[-1]] * (_CORNERS - len(kept))
        out.append(np.asarray(kept)[None])
    return np.concatenate(out, axis=0)


def draw_3d(ax: Any, p: Prepared, s: Scale) -> tuple[Any, list[tuple[Any, str]]]:
    """A real 3-D surface: an opaque quad per grid cell whose four corners are drawable, drawn
    back to front and cut at the top of the scale (`zmax`, `vmax`), θ* a star, over its contour
    lines projected on the floor; the camera rises above the steepest wall facing it. Returns
    the colour mapping and the legend entries."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FixedLocator, FuncFormatter

    if p.y is None:
        raise ValueError("this picture needs a 2-D surface; use line() for a 1-D one")
    lo, hi = s.vmin, s.vmax
    values = p.unclipped if p.unclipped is not None else p.z.filled(np.nan)
    z = np.maximum(values, lo)  # below the scale: flat at its floor; above it: cut away
    zz = np.log10(z) if s.log else z
    zlo, zhi = (np.log10(lo), np.log10(hi)) if s.log else (lo, hi)
    X, Y = np.meshgrid(p.x, p.y, indexing="ij")
    corners = np.stack([
        np.stack([X[:-1, :-1], Y[:-1, :-1], zz[:-1, :-1]], -1),
        np.stack([X[1:, :-1], Y[1:, :-1], zz[1:, :-1]], -1),
        np.stack([X[1:, 1:], Y[1:, 1:], zz[1:, 1:]], -1),
        np.stack([X[:-1, 1:], Y[:-1, 1:], zz[:-1, 1:]], -1),
    ], axis=2).reshape(-1, 4, 3)                        # (cells, 4 corners, xyz)
    keep = np.isfinite(corners[..., 2]).all(axis=1)
    quads = _cut_at(corners[keep], zhi * (1 + 1e-12) if zhi > 0 else zhi + 1e-12)
    if not quads.size:
        raise ValueError("nothing to draw in 3-D: no grid cell has four computed, finite corners")
    mean = quads[:, :4, 2].mean(axis=1)  # a whole cell's 4 corners (a cut one: near enough)
    colors = colormaps[CMAP](np.clip((mean - zlo) / (zhi - zlo), 0, 1))  # as the colour bar
    floor = zlo - 0.15 * (zhi - zlo)
    ax.computed_zorder = False  # drawn in this order: floor contours, the surface, θ*
    flat = np.ma.masked_invalid(np.log10(p.z.filled(np.nan)) if s.log else p.z.filled(np.nan))
    if flat.count() >= 4:  # contour lines projected on the floor, as in the paper's figures
        cs = ax.contour(X, Y, flat, levels=np.log10(s.levels) if s.log else s.levels, zdir="z",
                        offset=floor, cmap=CMAP, norm=_plain_norm(zlo, zhi), linewidths=0.8)
        cs.set_zorder(1)
    field = _height_field_class()(quads, colors, floor, edgecolors=(0, 0, 0, 0.2),
                                  linewidths=0.2, zorder=2)
    ax.add_collection(field, autolim=False)
    entries = _mark_anchors(ax, p, zz, floor, zhi)
    ax.set_xlim(p.x.min(), p.x.max())
    ax.set_ylim(p.y.min(), p.y.max())
    ax.set_zlim(floor, zhi)
    ax.xaxis.set_major_locator(FixedLocator(_inner_ticks(p.x.min(), p.x.max())))
    ax.yaxis.set_major_locator(FixedLocator(_inner_ticks(p.y.min(), p.y.max())))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.set_zlabel("accuracy (%)" if p.quantity == "accuracy" else "loss", labelpad=12)
    if s.log:  # z is log10(value): ticks at whole decades when there are enough of them
        from matplotlib.ticker import MaxNLocator

        if zhi - zlo >= 2:
            ax.zaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.zaxis.set_major_formatter(FuncFormatter(lambda v, _: short_number(10 ** v)))
    ax.view_init(elev=_elevation(p.x, p.y, zz, floor, zhi), azim=_AZIMUTH)
    ax.set_box_aspect(None, zoom=0.85)
    set_title(ax, p.title)
    return ScalarMappable(norm=s.norm, cmap=CMAP), entries


def _elevation(x: np.ndarray, y: np.ndarray, zz: np.ndarray, floor: float,
               top: float) -> float:
    """The camera's elevation (degrees): 30, or higher where a wall rises towards the camera
    more steeply than that, so that every wall is seen from inside the bowl, never edge-on
    from below (a steep log-scale basin would otherwise fold into a sliver), at most 60."""
    if x.size < 2 or y.size < 2:
        return _ELEVATION
    box = np.array([4.0, 4.0, 3.0])  # matplotlib's default box: 4 x 4 x 3
    gx, gy = np.gradient(np.clip(zz, floor, top), x, y)  # data units per data unit
    az = np.radians(_AZIMUTH)
    to_camera = (np.cos(az) * np.ptp(x) / box[0] * gx
                 + np.sin(az) * np.ptp(y) / box[1] * gy) * box[2] / ((top - floor) or 1.0)
    steepest = np.nanmax(to_camera) if np.isfinite(to_camera).any() else 0.0
    return float(np.clip(np.degrees(np.arctan(max(steepest, 0.0))) + 5, _ELEVATION, 60))


def _mark_anchors(ax: Any, p: Prepared, zz: np.ndarray, floor: float,
                  top: float) -> list[tuple[Any, str]]:
    """A star at θ* (or a named dot at each checkpoint of a plane through three) on the
    surface, over a dotted drop line to the floor (where the contour lines close around it);
    nothing for a point that is not a grid point with a value in the scale."""
    if p.y is None:
        raise ValueError("this picture needs a 2-D surface; use line() for a 1-D one")
    entries: list[tuple[Any, str]] = []
    for anchor in p.anchors:
        if anchor.index is None:
            continue
        height = float(zz[anchor.index])
        if not np.isfinite(height) or height > top:
            continue
        a, b = anchor.alpha, anchor.beta
        style = _STAR_STYLE if anchor.star else _CHECKPOINT_STYLE
        ax.plot([a, a], [b, b], [floor, height], ls=":", color="0.25", lw=1.0, zorder=3)
        (mark,) = ax.plot([a], [b], [height], zorder=4, **style)
        ax.plot([a], [b], [floor], zorder=1.5, **{**style, "ms": style["ms"] * 0.6})
        if anchor.star:
            entries.append((mark, anchor.label))
        else:
            entries.append((mark, "checkpoint"))
            from matplotlib.patheffects import withStroke

            ax.text(a, b, height, f"  {anchor.label}", fontsize=9, zorder=5,
                    path_effects=[withStroke(linewidth=3, foreground="white")])
    return entries


def _plain_norm(lo: float, hi: float) -> Normalize:
    from matplotlib.colors import Normalize

    return Normalize(vmin=lo, vmax=hi)

"""The 3-D picture of a surface: one coloured quad per grid cell, drawn back to front, over its
contour lines projected on the floor."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.pictures.scales import CMAP, Prepared, Scale, set_title, short_number

if TYPE_CHECKING:
    from matplotlib.colors import Normalize

__all__ = ["draw_3d"]


_BELOW = (0.55, 0.55, 0.55, 0.25)  # a 3-D cell seen from below: faint, so the basin shows


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
            self._quads = quads          # (cells, 4, 3)
            self._colors = colors        # (cells, 4) RGBA
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
            xy = np.stack([np.asarray(px), np.asarray(py)], axis=-1).reshape(len(q), 4, 2)
            # the corners go round counter-clockwise seen from above: a cell whose projection
            # turns clockwise is seen from below (the outside of a wall rising towards us)
            x, y = xy[..., 0], xy[..., 1]
            area = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
            colors = np.where((area < 0)[:, None], _BELOW, self._colors)
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


def draw_3d(ax: Any, p: Prepared, s: Scale) -> Any:
    """A real 3-D surface: one coloured quad per grid cell whose four corners are drawable,
    drawn back to front, over its contour lines projected on the floor."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FixedLocator, FuncFormatter

    if p.y is None:
        raise ValueError("this picture needs a 2-D surface; use line() for a 1-D one")
    lo, hi = s.vmin, s.vmax
    z = np.clip(p.z.filled(np.nan), lo, hi)  # values beyond the scale: flat, at its edge
    zz = np.log10(z) if s.log else z
    X, Y = np.meshgrid(p.x, p.y, indexing="ij")
    corners = np.stack([
        np.stack([X[:-1, :-1], Y[:-1, :-1], zz[:-1, :-1]], -1),
        np.stack([X[1:, :-1], Y[1:, :-1], zz[1:, :-1]], -1),
        np.stack([X[1:, 1:], Y[1:, 1:], zz[1:, 1:]], -1),
        np.stack([X[:-1, 1:], Y[:-1, 1:], zz[:-1, 1:]], -1),
    ], axis=2).reshape(-1, 4, 3)                        # (cells, 4 corners, xyz)
    keep = np.isfinite(corners[..., 2]).all(axis=1)
    quads = corners[keep]
    zlo, zhi = (np.log10(lo), np.log10(hi)) if s.log else (lo, hi)
    if not quads.size:
        raise ValueError("nothing to draw in 3-D: no grid cell has four computed, finite corners")
    mean = quads[..., 2].mean(axis=1)
    colors = colormaps[CMAP]((mean - zlo) / (zhi - zlo))
    floor = zlo - 0.15 * (zhi - zlo)
    ax.computed_zorder = False  # drawn in this order: floor contours, then the surface
    flat = np.ma.masked_invalid(zz)
    if flat.count() >= 4:  # contour lines projected on the floor, as in the paper's figures
        cs = ax.contour(X, Y, flat, levels=np.log10(s.levels) if s.log else s.levels, zdir="z",
                        offset=floor, cmap=CMAP, norm=_plain_norm(zlo, zhi), linewidths=0.8)
        cs.set_zorder(1)
    field = _height_field_class()(quads, colors, floor, edgecolors=(0, 0, 0, 0.25),
                                  linewidths=0.2, zorder=2)
    ax.add_collection(field, autolim=False)
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
    ax.view_init(elev=30, azim=-60)
    ax.set_box_aspect(None, zoom=0.85)
    set_title(ax, p.title)
    return ScalarMappable(norm=s.norm, cmap=CMAP)


def _plain_norm(lo: float, hi: float) -> Normalize:
    from matplotlib.colors import Normalize

    return Normalize(vmin=lo, vmax=hi)

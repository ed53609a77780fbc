"""The pictures of a training trajectory: the path over the contours of its PCA plane (Li et al.
2018, Fig. 10), and on the interactive 3-D surface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from landscape.engine.types import Surface
from landscape.pictures import plot, viewer

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from matplotlib.figure import Figure

__all__ = ["trajectory_figure", "trajectory_view"]


def trajectory_figure(surface: Surface, coords: np.ndarray, *,
                      explained: Sequence[float] | None = None,
                      labels: Sequence[str] | None = None, levels: int = 20,
                      log: bool = False) -> Figure:
    """Contour lines of `surface` with the path drawn over them (Li et al. 2018, Fig. 10).

    The path starts at the square and ends at θ_n, the star at the origin. The axes are not
    drawn to equal scale (the first component usually dominates).

    Args:
        surface: a 2-D surface spanned by the PCA directions.
        coords: (n, 2) coordinates of the checkpoints (from `project_path`).
        explained: explained-variance ratios, shown on the axis labels.
        labels: a label per checkpoint (e.g. epochs), written beside a few of the points.
        levels, log: contour levels, logarithmic levels.
    """
    coords = np.asarray(coords, dtype=np.float64)
    fig = plot.contour(surface, levels=levels, log=log, title="training path on its PCA plane")
    ax = fig.axes[0]
    ax.plot(coords[:, 0], coords[:, 1], color="crimson", lw=1.6, marker="o", ms=3.5,
            label="path", zorder=5)
    ax.plot(coords[:1, 0], coords[:1, 1], marker="s", color="crimson", ms=7, zorder=6,
            label="start")
    ax.set_aspect("auto")  # a path is long along PCA 1 and short along PCA 2: fill the axes
    if labels is not None:
        step = max(1, len(coords) // 8)
        for i in list(range(0, len(coords), step)) + [len(coords) - 1]:
            ax.annotate(str(labels[i]), coords[i], textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color="crimson")
    if explained is not None and len(explained) >= 2:
        ax.set_xlabel(f"1st PCA component: {100 * explained[0]:.1f} %")
        ax.set_ylabel(f"2nd PCA component: {100 * explained[1]:.1f} %")
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    return fig


def trajectory_view(surface: Surface, coords: np.ndarray, path_loss: np.ndarray, *,
                    labels: Sequence[str] | None = None) -> go.Figure:
    """The interactive 3-D surface (`landscape.pictures.viewer`) with the path drawn on it.

    `path_loss` is the loss at the projected checkpoints (`Trajectory.path_loss`); the line is
    lifted by 1% of the loss range so that the surface does not hide it.
    """
    coords = np.asarray(coords, dtype=np.float64)
    fig = viewer.surface_figure(surface, log=False,  # the path is drawn in loss units
                                title="training path on its PCA plane")
    text = [str(t) for t in labels] if labels is not None else None
    values = surface.values("loss")
    finite = values[np.isfinite(values)]
    lift = 0.01 * float(finite.max() - finite.min()) if finite.size else 0.0
    z = np.asarray(path_loss, dtype=float) + lift  # just above the surface, so it is not hidden
    fig.add_scatter3d(x=coords[:, 0].tolist(), y=coords[:, 1].tolist(),
                      z=z.tolist(), mode="lines+markers",
                      line={"color": "crimson", "width": 6}, marker={"size": 3,
                                                                      "color": "crimson"},
                      text=text, name="path", showlegend=False)
    return fig

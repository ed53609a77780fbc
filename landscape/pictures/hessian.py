"""The picture of a Hessian eigenvalue map: |λ_min/λ_max| with loss contours (Li et al. 2018,
Fig. 7), or both eigenvalues along a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from landscape.analysis.hessian import RATIO_MAX, eigen_ratio
from landscape.engine.types import Surface

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["eigen_map_figure"]


def eigen_map_figure(surface: Surface, *, vmax: float | None = RATIO_MAX,
                     levels: int = 12) -> Figure:
    """|λ_min/λ_max| as a heat map (Li et al. 2018, Fig. 7 style), loss contours drawn over it.

    A 2-D surface gives the map (and beside it λ_max); a 1-D line gives both eigenvalues and
    their ratio along α. Blue (small ratio): convex, positive curvature dominates; yellow:
    significant negative curvature. Points whose Lanczos run did not converge
    (`eig_converged == 0`) are crossed out: their values are not to be trusted.

    Args:
        surface: from `eigen_map` (or a file it wrote).
        vmax: top of the ratio's colour scale: 0.5 by default as in Li et al., so that maps
            compare; None scales it to this map's largest ratio (relative).
        levels: number of loss contour levels drawn over the maps (log-spaced where the loss
            spans more than a decade).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    ratio = eigen_ratio(surface)
    hi = np.where(np.isfinite(ratio), np.asarray(surface.extras["max_eig"], float), np.nan)
    lo = np.where(np.isfinite(ratio), np.asarray(surface.extras["min_eig"], float), np.nan)
    converged = surface.extras.get("eig_converged")
    done = np.asarray(surface.extras.get("eig_done", np.isfinite(ratio)), dtype=float) == 1.0
    loose = (done & (np.asarray(converged, dtype=float) == 0.0) if converged is not None
             else np.zeros(ratio.shape, dtype=bool))
    loose_style = {"ls": "none", "marker": "x", "color": "red", "ms": 6, "mew": 1.4}
    loose_label = f"not converged ({int(loose.sum())} of {int(done.sum())} points)"
    if surface.y is None:
        fig = Figure(figsize=(9.6, 4.0), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(surface.x, hi, label="λ_max")
        ax1.plot(surface.x, lo, label="λ_min")
        ax1.axhline(0.0, color="0.6", lw=0.8)
        ax1.set_xlabel("α")
        ax1.set_ylabel("eigenvalue")
        ax2.plot(surface.x, ratio, color="C2")
        ax2.set_xlabel("α")
        ax2.set_ylabel("|λ_min / λ_max|")
        if loose.any():
            ax1.plot(surface.x[loose], lo[loose], label=loose_label, **loose_style)
            ax2.plot(surface.x[loose], ratio[loose], **loose_style)
        ax1.legend()
        fig.suptitle("Hessian extreme eigenvalues along the line")
        return fig
    fig = Figure(figsize=(11.0, 4.9), layout="constrained")
    axes = fig.subplots(1, 2)
    finite = ratio[np.isfinite(ratio)]
    top = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    mesh = axes[0].pcolormesh(surface.x, surface.y, ratio.T, shading="nearest", cmap="viridis",
                              vmin=0.0, vmax=max(top, 1e-12))
    above = finite.size and vmax is not None and float(finite.max()) > vmax
    cb = fig.colorbar(mesh, ax=axes[0], extend="max" if above else "neither")
    cb.set_label("|λ_min / λ_max|" + (" (scaled to this map)" if vmax is None else ""))
    axes[0].set_title("|λ_min / λ_max|: blue convex, yellow not")
    mesh = axes[1].pcolormesh(surface.x, surface.y, hi.T, shading="nearest", cmap="magma")
    fig.colorbar(mesh, ax=axes[1], label="λ_max")
    axes[1].set_title("largest eigenvalue λ_max")
    loss = surface.values("loss")
    X, Y = np.meshgrid(surface.x, surface.y, indexing="ij")
    low, high = np.nanmin(loss), np.nanmax(loss)
    steps: int | np.ndarray = levels
    if low > 0 and high > 10 * low:
        # log-spaced: a loss that climbs decades up the walls would put linear levels all in
        # the corners and none around θ*
        steps = np.geomspace(low, high, levels + 2)[1:-1]
    for ax in axes:
        if np.isfinite(loss).sum() >= 4 and high > low:
            ax.contour(surface.x, surface.y, loss.T, levels=steps, colors="white",
                       linewidths=0.6, alpha=0.8)
        ax.plot([0], [0], marker="*", color="red", ms=10)
        if loose.any():
            ax.plot(X[loose], Y[loose], **loose_style)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
        ax.set_aspect("equal", adjustable="box")
    handles = [Line2D([], [], ls="none", marker="*", color="red", ms=10),
               Line2D([], [], color="0.3", lw=0.8)]
    labels = ["θ*", "loss contours (white)"]
    if loose.any():
        handles.append(Line2D([], [], **loose_style))
        labels.append(loose_label + ": raise --iters")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(handles),
               fontsize="small", frameon=False)
    return fig

"""The figure of a path between two minima: loss (and accuracy) along the curve and the line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["curve_figure"]


def curve_figure(columns: Mapping[str, np.ndarray], *, title: str | None = None,
                 labels: tuple[str, str] = ("A", "B")) -> Figure:
    """Loss along the trained Bezier curve and along the straight line, against t (Garipov et
    al. 2018, Fig. 2 style), with bands of ± 2 standard errors; accuracy beside, when measured.

    Args:
        columns: the arrays of curve.h5 (`t`, `curve_loss`, `line_loss`, optional `*_se`,
            `curve_acc`, `line_acc`).
        title: the figure's title.
        labels: names of the ends, written at t = 0 and t = 1.
    """
    from matplotlib.figure import Figure

    t = np.asarray(columns["t"], dtype=float)
    has_acc = "curve_acc" in columns and "line_acc" in columns
    fig = Figure(figsize=(10.0 if has_acc else 6.0, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    panels: list[tuple[Any, str, str]] = [(axes[0], "loss", "loss")]
    if has_acc:
        panels.append((axes[1], "acc", "accuracy (%)"))
    for ax, key, what in panels:
        for name, style in (("line", {"color": "0.35", "ls": "--"}),
                            ("curve", {"color": "C0", "ls": "-"})):
            values = np.asarray(columns[f"{name}_{key}"], dtype=float)
            ax.plot(t, values, lw=1.6, marker="o", ms=3,
                    label="Bezier curve (trained)" if name == "curve" else "straight line",
                    **style)
            se = columns.get(f"{name}_{key}_se")
            if se is not None and np.isfinite(se).any():
                se = np.asarray(se, dtype=float)
                ax.fill_between(t, values - 2 * se, values + 2 * se, color=style["color"],
                                alpha=0.2, lw=0)
        ax.set_xlabel("t")
        ax.set_ylabel(what)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], [f"0\n{labels[0]}", "0.25", "0.5", "0.75",
                                                f"1\n{labels[1]}"])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(title or "Loss along the path between two minima (bands: ± 2 standard errors)")
    return fig

"""Figures of the Hessian's curvature: the SLQ spectral density and per-layer (block) bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["spectrum_figure", "blocks_figure", "DENSITY_FLOOR"]

DENSITY_FLOOR = 1e-7
"""Added to the density before its logarithm is drawn, as PyHessian does, so that the
empty stretches between outliers show as a floor rather than a gap."""


def spectrum_figure(records: Mapping[str, Mapping[str, Any]] | Mapping[str, Any], *,
                    floor: float = DENSITY_FLOOR, title: str | None = None) -> Figure:
    """The broadened spectral density on a log axis (PyHessian's picture), one line per record.

    Args:
        records: a `spectrum_record` (from `landscape.analysis.spectrum`, or spectrum.json
            read back), or several keyed by their labels, drawn over each other.
        floor: added to the density before the log scale.
        title: the figure's title (default: says what is drawn and how it was estimated).
    """
    from matplotlib.figure import Figure

    many = {str(k): v for k, v in records.items()} if "grid" not in records else \
        {"": records}  # type: ignore[dict-item]
    if not many:
        raise ValueError("no spectrum to draw")
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    notes = []
    for i, (label, rec) in enumerate(many.items()):
        grid = np.asarray(rec["grid"], dtype=float)
        density = np.asarray(rec["density"], dtype=float)
        ax.semilogy(grid, density + floor, color=f"C{i}", lw=1.0,
                    label=_label(label, rec) if label else None)
        notes.append(f"{rec['runs']} runs × {rec['steps']} Lanczos steps, σ = "
                     f"{rec['sigma']:.2g}")
    ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density (log scale)")
    ax.set_ylim(bottom=floor * 0.5)
    if len(many) > 1 or next(iter(many)):
        ax.legend(fontsize="small")
    if len(set(notes)) == 1:
        ax.text(0.99, 0.98, notes[0], transform=ax.transAxes, ha="right", va="top",
                fontsize="small", color="0.3")
    ax.set_title(title or "Hessian spectral density (stochastic Lanczos quadrature)")
    return fig


def _label(label: str, rec: Mapping[str, Any]) -> str:
    parts = [label, f"λ ∈ [{rec['ritz_min']:.3g}, {rec['ritz_max']:.3g}]"]
    if rec.get("trace") is not None:
        se = rec.get("trace_stderr")
        parts.append(f"tr {rec['trace']:.3g}" + (f" ± {se:.2g}" if se is not None else ""))
    return ", ".join(parts)


def blocks_figure(groups: Mapping[str, Sequence[Mapping[str, Any]]] | Sequence[Mapping[str, Any]],
                  *, title: str | None = None) -> Figure:
    """Bars of the top eigenvalue and the trace of each diagonal Hessian block.

    Args:
        groups: the rows of a per-block result (each with `name`, `top_eigenvalue`, `trace`,
            `trace_stderr`), or several such lists keyed by their labels (e.g. the ResNet and
            its no-skip twin, or `layers` and `blocks`), drawn as grouped bars on shared names.
        title: the figure's title.
    """
    from matplotlib.figure import Figure

    many = dict(groups) if isinstance(groups, Mapping) else {"": groups}
    names: list[str] = []
    for rows in many.values():
        names += [r["name"] for r in rows if r["name"] not in names]
    if not names:
        raise ValueError("no blocks to draw")
    fig = Figure(figsize=(max(6.0, 0.32 * len(names) * max(1, len(many)) + 2.0), 6.4),
                 layout="constrained")
    top, trace = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(many)
    x = np.arange(len(names))
    for i, (label, rows) in enumerate(many.items()):
        by = {r["name"]: r for r in rows}
        offset = x - 0.4 + width * (i + 0.5)
        lam = [by[n]["top_eigenvalue"] if n in by else np.nan for n in names]
        tr = [by[n]["trace"] if n in by else np.nan for n in names]
        se = [by[n].get("trace_stderr") or 0.0 if n in by else 0.0 for n in names]
        top.bar(offset, lam, width, color=f"C{i}", label=label or None)
        trace.bar(offset, tr, width, yerr=se, color=f"C{i}", ecolor="0.3", capsize=2,
                  label=label or None)
    for ax, what in ((top, "top eigenvalue λ_max"), (trace, "trace (± standard error)")):
        ax.set_ylabel(what)
        ax.axhline(0.0, color="0.6", lw=0.8)
        if ax is top and _wide(many):  # the traces, signed, stay linear
            ax.set_yscale("symlog", linthresh=_linthresh(many))
    if len(many) > 1:
        top.legend(fontsize="small")
    trace.set_xticks(x, names, rotation=60, ha="right", fontsize="small")
    top.set_title(title or "Curvature of each diagonal Hessian block")
    return fig


def _values(many: Mapping[str, Sequence[Mapping[str, Any]]]) -> np.ndarray:
    return np.array([abs(r["top_eigenvalue"]) for rows in many.values() for r in rows
                     if r.get("top_eigenvalue") is not None and np.isfinite(r["top_eigenvalue"])
                     and r["top_eigenvalue"] != 0])


def _wide(many: Mapping[str, Sequence[Mapping[str, Any]]]) -> bool:
    """Whether the top eigenvalues span more than two decades (then a log axis shows all)."""
    values = _values(many)
    return values.size > 1 and values.max() > 100 * values.min()


def _linthresh(many: Mapping[str, Sequence[Mapping[str, Any]]]) -> float:
    values = _values(many)
    return float(np.percentile(values, 10)) if values.size else 1.0

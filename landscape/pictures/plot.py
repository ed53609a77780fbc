"""Static pictures of a `Surface` with Matplotlib: contour lines, filled contours, heat map,
3-D surface, 1-D curves, the standard-error map and side-by-side comparisons.

Every function builds and returns a `matplotlib.figure.Figure` made without pyplot (no global
figure manager, no backend needed); the caller saves it (`fig.savefig(path)`). Matplotlib is
imported inside the functions so that `import landscape` stays light.

Values are prepared the same way everywhere:

- points not computed (`done == False`) and diverged points (NaN/inf loss) are masked: they are
  left blank and marked, never drawn as zeros;
- `zmax` clips: values above it are drawn as `zmax` (as the 2018 reference code's `--zmax`);
- `log=None` (the default) chooses a logarithmic colour / z scale by itself when the drawn
  values span more than two decades (`LOG_DECADES`), and the colour bar says so; `log=True`
  or `False` forces it (non-positive values are masked on a log scale);
- `vmin`/`vmax` fix the colour scale and the range of the contour levels;
- `levels` is an approximate number of levels (round values are chosen) or the levels. On a
  log scale they are 1, 2, 5 × 10^k (`scales.round_log_levels`), the same on every picture.

θ* (α = β = 0) is marked with a star. Text that comes from the user (model names, file names,
labels) is drawn as it is, never read as mathtext, so `$`, `_`, `^` or `\\` in a name cannot
break a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from landscape.engine.types import Surface
from landscape.pictures.scales import (
    CMAP,
    LOG_DECADES,
    Prepared,
    Scale,
    choose_log,
    colorbar_label,
    display_name,
    extend_of,
    file_label,
    finite_range,
    make_scale,
    prepare,
    resolve_log,
    set_title,
    short_number,
    title_of,
)
from landscape.pictures.three_d import draw_3d

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["KINDS", "LOG_DECADES", "contour", "contourf", "heatmap", "surface3d", "line",
           "error_map", "side_by_side", "draw", "title_of", "display_name", "choose_log",
           "unresolved_levels", "resolve_log"]

Quantity = Literal["loss", "accuracy"]
Kind = Literal["contour", "contourf", "heatmap", "3d"]
KINDS: tuple[str, ...] = ("contour", "contourf", "heatmap", "3d")
_NOT_DONE_STYLE = {"marker": ".", "color": "0.55", "ls": "none", "ms": 4, "clip_on": False}
_FILLED_STYLE = {"marker": "o", "mfc": "none", "mec": "0.35", "ls": "none", "ms": 2.5,
                 "mew": 0.5, "clip_on": False}
_DIVERGED_STYLE = {"marker": "x", "color": "tab:red", "ls": "none", "ms": 5, "clip_on": False}
_INVALID_STYLE = {"marker": "x", "color": "tab:purple", "ls": "none", "ms": 5, "clip_on": False}
_CENTER_STYLE = {"marker": "*", "ms": 15, "mfc": "white", "mec": "black", "mew": 1.2,
                 "ls": "none", "zorder": 5, "clip_on": False}
_END_STYLE = {"marker": "o", "ms": 7, "mfc": "white", "mec": "black", "mew": 1.2, "ls": "none",
              "zorder": 5, "clip_on": False}


def _need_2d(surface: Surface, what: str) -> None:
    if surface.y is None:
        raise ValueError(f"{what} needs a 2-D surface, got a 1-D line of {len(surface.x)} points; "
                         f"use landscape.pictures.plot.line for 1-D surfaces")


def _figure(ncols: int = 1, *, width: float = 6.4, height: float = 5.2) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width * ncols, height), layout="constrained")


def _setup_plane(ax: Axes, p: Prepared) -> None:
    if p.y is None:
        raise ValueError("this picture needs a 2-D surface; use line() for a 1-D one")
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.set_xlim(p.x.min(), p.x.max())
    ax.set_ylim(p.y.min(), p.y.max())
    spans = (np.ptp(p.x), np.ptp(p.y))
    if min(spans) > 0 and 0.25 <= spans[0] / spans[1] <= 4:
        ax.set_aspect("equal")
    set_title(ax, p.title)


def _mark_points(ax: Axes, p: Prepared) -> list[tuple[Any, str]]:
    """Star at θ*, grey dots where not computed, red crosses where diverged; returns the
    (handle, label) pairs for the figure's legend (the artists' own labels are hidden, so an
    `ax.legend()` added later by a caller does not repeat them)."""
    if p.y is None:
        raise ValueError("this picture needs a 2-D surface; use line() for a 1-D one")
    X, Y = np.meshgrid(p.x, p.y, indexing="ij")
    entries: list[tuple[Any, str]] = []

    def mark(mask: np.ndarray, label: str, style: dict[str, Any]) -> None:
        if mask.any():
            (h,) = ax.plot(X[mask], Y[mask], label=f"_{label}", **style)
            entries.append((h, label))

    mark(p.not_done, "not computed", _NOT_DONE_STYLE)
    mark(p.diverged, "diverged / not drawable", _DIVERGED_STYLE)
    mark(p.filled, "interpolated (--refine)", _FILLED_STYLE)
    from matplotlib.patheffects import withStroke

    for anchor in p.anchors:
        if not (p.x.min() <= anchor.alpha <= p.x.max() and p.y.min() <= anchor.beta <= p.y.max()):
            continue
        if anchor.star:
            (h,) = ax.plot([anchor.alpha], [anchor.beta], label="_θ*", **_CENTER_STYLE)
            entries.append((h, anchor.label))
            continue
        (h,) = ax.plot([anchor.alpha], [anchor.beta], label="_checkpoint", **_END_STYLE)
        entries.append((h, "checkpoint"))
        ax.annotate(anchor.label, (anchor.alpha, anchor.beta), xytext=(7, 7),
                    textcoords="offset points", fontsize=9, zorder=6, annotation_clip=False,
                    path_effects=[withStroke(linewidth=3, foreground="white")])

    for k, (label, (px, py)) in enumerate(p.paths.items()):
        (h,) = ax.plot(px, py, label=f"_{label}", color=("white", "black")[k % 2], lw=1.8,
                       ls=("-", "--")[k % 2],
                       path_effects=[withStroke(linewidth=3.2, foreground=("black", "white")
                                                [k % 2])])
        entries.append((h, label))
    return entries


def _legend(fig: Figure, entries: list[tuple[Any, str]]) -> None:
    """One legend below everything (constrained layout keeps it off the α label)."""
    seen: dict[str, Any] = {}
    for handle, label in entries:
        seen.setdefault(label, handle)
    if seen:
        leg = fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                         ncols=min(len(seen), 4), fontsize="small", frameon=False)
        for text in leg.get_texts():
            text.set_parse_math(False)


def _draw_contour(ax: Axes, p: Prepared, s: Scale) -> tuple[Any, list[tuple[Any, str]]]:
    cs = ax.contour(p.x, p.y, p.z.T, levels=s.levels, norm=s.norm, cmap=CMAP, linewidths=1.2)
    drawn = [lv for lv in cs.levels if lv in set(s.levels)]
    labelled = drawn[::2] if len(drawn) > 12 else drawn
    if labelled:
        ax.clabel(cs, levels=labelled, inline=True, fontsize=7, fmt=short_number)
    entries = []
    unresolved = unresolved_levels(p.z, p.se, list(cs.levels))
    if unresolved.any():  # dashed: the sample does not tell this level from its neighbours
        cs.set_linestyle(["--" if u else "-" for u in unresolved])
        (h,) = ax.plot([], [], ls="--", color="0.3", label="_unresolved")
        entries.append((h, "level not resolved (< 2 standard errors)"))
    return cs, entries


def unresolved_levels(z: np.ndarray, se: np.ndarray | None, levels: list[float]) -> np.ndarray:
    """For each contour level: is it closer to a neighbouring level than 2 standard errors?

    Near a level (within half the spacing to its neighbours) the loss is known only to about
    its standard error; when twice the median error there exceeds the spacing, the sample does
    not resolve that contour line from the next one.
    """
    out = np.zeros(len(levels), dtype=bool)
    if se is None or len(levels) < 2:
        return out
    values = np.ma.filled(z, np.nan)
    for k, level in enumerate(levels):
        gaps = [abs(level - levels[j]) for j in (k - 1, k + 1) if 0 <= j < len(levels)]
        spacing = min(gaps)
        near = np.isfinite(values) & np.isfinite(se) & (np.abs(values - level) < spacing / 2)
        if near.any():
            out[k] = 2 * float(np.median(se[near])) > spacing
    return out


def error_map(surface: Surface, *, relative: bool = True, title: str | None = None) -> Figure:
    """The standard error of each point's mean loss, as a map with the loss contours on top.

    The white lines are contours of the loss itself (log-spaced when it spans decades), so the
    errors can be read against the landscape; the legend says so.

    Args:
        surface: a 2-D surface with `<split>_loss_se` (written by `compute_surface`).
        relative: the error in percent of the loss (default) or in loss units.

    Raises:
        ValueError: a 1-D surface or one without standard errors (e.g. a reference file).
    """
    _need_2d(surface, "an error map")
    se = surface.extras.get(f"{surface.split}_loss_se")
    if se is None:
        raise ValueError("this surface has no standard errors (files of the 2018 reference "
                         "code and custom batch-mean losses have none)")
    from matplotlib.lines import Line2D

    loss = surface.values("loss")
    err = np.where(surface.done, se, np.nan)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            err = 100.0 * err / np.abs(loss)
    fig = _figure()
    ax = fig.add_subplot()
    ax.set_facecolor("0.92")
    mesh = ax.pcolormesh(surface.x, surface.y, np.ma.masked_invalid(err).T, cmap="magma",
                         shading="nearest")
    finite = np.ma.masked_invalid(loss)
    entries = []
    if finite.count() >= 4 and finite.max() > finite.min():
        log = choose_log(loss)
        p = prepare(surface, "loss", log, None, "")
        s = make_scale([p], levels=None, vmin=None, vmax=None, log=log, auto=True,
                   default_levels=12)
        ax.contour(surface.x, surface.y, p.z.T, levels=s.levels, colors="w", linewidths=0.6)
        entries.append((Line2D([], [], color="w", lw=1.2),
                        "white lines: loss contours" + (" (log-spaced)" if log else "")))
    cb = fig.colorbar(mesh, ax=ax, shrink=0.9)
    cb.set_label("standard error (% of loss)" if relative else "standard error of the loss")
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    n = surface.meta.get("samples")
    head = display_name(surface.meta)
    what = f"standard error of the {surface.split} loss" + (f" (N = {n})" if n else "")
    set_title(ax, title or (f"{head}: {what}" if head else what))
    if entries:
        leg = fig.legend([h for h, _ in entries], [t for _, t in entries],
                         loc="outside lower center", fontsize="small", frameon=True,
                         facecolor="0.35", labelcolor="white")
        leg.get_frame().set_edgecolor("0.35")
    return fig


def _draw_contourf(ax: Axes, p: Prepared, s: Scale, extend: str) -> Any:
    cf = ax.contourf(p.x, p.y, p.z.T, levels=s.levels, norm=s.norm, cmap=CMAP, extend=extend)
    ax.contour(p.x, p.y, p.z.T, levels=s.levels, colors="k", linewidths=0.3, alpha=0.5)
    return cf


def _draw_heatmap(ax: Axes, p: Prepared, s: Scale) -> Any:
    ax.set_facecolor("0.92")  # masked cells show this background
    return ax.pcolormesh(p.x, p.y, p.z.T, norm=s.norm, cmap=CMAP, shading="nearest")


def _colorbar(fig: Figure, mappable: Any, axes: Any, p: Prepared, s: Scale) -> None:
    cb = fig.colorbar(mappable, ax=axes, shrink=0.9)
    cb.set_label(colorbar_label(p, s))
    if s.log:  # label whole decades (or a few levels when the range is under a decade)
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

        lo, hi = np.log10(s.vmin), np.log10(s.vmax)
        ticks = 10.0 ** np.arange(np.ceil(lo), np.floor(hi) + 1)
        if ticks.size < 2:
            ticks = np.asarray(s.levels)[:: max(1, len(s.levels) // 5)]
        cb.ax.yaxis.set_major_locator(FixedLocator(ticks))
        cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: short_number(v)))
        cb.ax.yaxis.set_minor_formatter(NullFormatter())


def _draw(kind: str, fig: Figure, ax: Any, p: Prepared, s: Scale,
          extend: str) -> tuple[Any, list[tuple[Any, str]]]:
    entries: list[tuple[Any, str]] = []
    if kind == "contour":
        m, entries = _draw_contour(ax, p, s)
    elif kind == "contourf":
        m = _draw_contourf(ax, p, s, extend)
    elif kind == "heatmap":
        m = _draw_heatmap(ax, p, s)
    elif kind == "3d":
        return draw_3d(ax, p, s)
    else:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    _setup_plane(ax, p)
    return m, _mark_points(ax, p) + entries


def _single(kind: str, surface: Surface, *, quantity: str, levels: int | Sequence[float] | None,
            vmin: float | None, vmax: float | None, log: bool | None, zmax: float | None,
            title: str | None, default_levels: int) -> Figure:
    _need_2d(surface, f"a {kind} plot")
    use_log, auto = resolve_log([surface], quantity, log, zmax)
    p = prepare(surface, quantity, use_log, zmax, title)
    s = make_scale([p], levels=levels, vmin=vmin, vmax=vmax, log=use_log, auto=auto,
               default_levels=default_levels)
    fig = _figure()
    ax = fig.add_subplot(projection="3d") if kind == "3d" else fig.add_subplot()
    mappable, entries = _draw(kind, fig, ax, p, s, extend_of(s, [p]))
    _colorbar(fig, mappable, ax, p, s)
    _legend(fig, entries)
    return fig


def contour(surface: Surface, *, quantity: Quantity = "loss",
            levels: int | Sequence[float] | None = None, vmin: float | None = None,
            vmax: float | None = None, log: bool | None = None, zmax: float | None = None,
            title: str | None = None) -> Figure:
    """Labelled contour lines of a 2-D surface (Li et al. 2018, Fig. 5 style).

    Args:
        surface: a 2-D `Surface`.
        quantity: 'loss' or 'accuracy' (percent).
        levels: approximate number of levels (round values are chosen), or the levels.
        vmin, vmax: range of the levels and of the colour scale (default: the data's range).
        log: logarithmic levels and colours; None (default) chooses them when the values span
            more than `LOG_DECADES` decades, and the colour bar says so.
        zmax: values above it are drawn as `zmax`.
        title: overrides the title made from `surface.meta`.

    Returns:
        The figure; nothing is saved or shown.

    Raises:
        ValueError: a 1-D surface, an unknown quantity, or nothing finite to draw.
    """
    return _single("contour", surface, quantity=quantity, levels=levels, vmin=vmin, vmax=vmax,
                   log=log, zmax=zmax, title=title, default_levels=20)


def contourf(surface: Surface, *, quantity: Quantity = "loss",
             levels: int | Sequence[float] | None = None, vmin: float | None = None,
             vmax: float | None = None, log: bool | None = None, zmax: float | None = None,
             title: str | None = None) -> Figure:
    """Filled contours of a 2-D surface, with thin contour lines on top. Args as `contour`."""
    return _single("contourf", surface, quantity=quantity, levels=levels, vmin=vmin, vmax=vmax,
                   log=log, zmax=zmax, title=title, default_levels=30)


def heatmap(surface: Surface, *, quantity: Quantity = "loss",
            levels: int | Sequence[float] | None = None, vmin: float | None = None,
            vmax: float | None = None, log: bool | None = None, zmax: float | None = None,
            title: str | None = None) -> Figure:
    """One coloured cell per grid point (no interpolation); masked cells stay grey.

    Args as `contour` (`levels` only sets the colour bar's ticks range and is otherwise unused).
    """
    return _single("heatmap", surface, quantity=quantity, levels=levels, vmin=vmin, vmax=vmax,
                   log=log, zmax=zmax, title=title, default_levels=30)


def surface3d(surface: Surface, *, quantity: Quantity = "loss",
              levels: int | Sequence[float] | None = None, vmin: float | None = None,
              vmax: float | None = None, log: bool | None = None, zmax: float | None = None,
              title: str | None = None) -> Figure:
    """A 3-D surface (mpl_toolkits.mplot3d) with its contour lines projected on the floor.

    Each grid cell with four drawable corners is one opaque coloured quad, so cells touching a
    point not computed or diverged are left out (a hole) instead of being drawn at zero. The
    cells are drawn back to front by their place on the ground, and the camera rises above
    the steepest wall facing it, so the whole bowl shows. The plane at `zmax` (or `vmax`)
    cuts the surface cleanly; values below `vmin` lie flat at it. θ* is a star. On a log
    scale the z axis is log10 with its ticks labelled in loss units. Other args as `contour`.
    """
    return _single("3d", surface, quantity=quantity, levels=levels, vmin=vmin, vmax=vmax,
                   log=log, zmax=zmax, title=title, default_levels=15)


def line(surface: Surface, *, log: bool | None = None, vmin: float | None = None,
         vmax: float | None = None, zmax: float | None = None,
         title: str | None = None) -> Figure:
    """Loss (left axis) and accuracy (right axis) against α for a 1-D surface.

    Points not computed or diverged leave a gap and are marked along the α axis; θ* (α = 0)
    is a dotted vertical line with a star on the loss curve. For the line through two
    checkpoints (`landscape interp`), both ends are marked and labelled with their file names,
    and the star marks the trained end (the later epoch), wherever it is.

    Args:
        surface: a 1-D `Surface` (`y is None`).
        log: logarithmic loss axis; None (default) when the loss spans more than
            `LOG_DECADES` decades.
        vmin, vmax: loss axis range.
        zmax: loss values above it are drawn as `zmax`.
        title: overrides the title made from `surface.meta`.

    Raises:
        ValueError: a 2-D surface, or nothing finite to draw.
    """
    fig = _figure(width=7.0, height=4.6)
    ax = fig.add_subplot()
    _draw_line(ax, surface, log=log, zmax=zmax, title=title)
    if vmin is not None or vmax is not None:
        ax.set_ylim(vmin, vmax)
    return fig


def _line_ends(surface: Surface) -> list[tuple[float, str, bool]]:
    """(α, label, is θ*) for the points to mark on a line: the star at θ* for a random-direction
    line; both checkpoints for an interpolation, the star on the trained one."""
    meta = surface.meta
    if meta.get("kind") != "interpolation":
        return [(0.0, "θ*", True)]
    star = surface.star_alpha
    ends = [(0.0, file_label(meta.get("checkpoint")) or "A"),
            (1.0, file_label(meta.get("checkpoint_b")) or "B")]
    return [(a, f"{name} (α = {a:g})", star == a) for a, name in ends]


def _draw_line(ax: Axes, surface: Surface, *, log: bool | None, zmax: float | None,
               title: str | None, label: str | None = None) -> Any:
    if surface.y is not None:
        raise ValueError(f"line needs a 1-D surface, got a {surface.shape} grid; use contour, "
                         f"contourf, heatmap or surface3d for 2-D surfaces")
    use_log, _ = resolve_log([surface], "loss", log, zmax)
    p = prepare(surface, "loss", use_log, zmax, title)
    finite_range([p])
    ax.plot(p.x, p.z.filled(np.nan), "-o", color="tab:blue", ms=3, lw=1.6, label="loss")
    ax.set_xlabel("α")
    ax.set_ylabel("loss (log scale)" if use_log else "loss", color="tab:blue")
    ax.tick_params(axis="y", labelcolor="tab:blue")
    if use_log:
        ax.set_yscale("log")
    ax.set_xlim(p.x.min(), p.x.max())
    handles = ax.get_lines()[:]
    acc_ax = None
    if surface.accuracy is not None:
        acc_ax = ax.twinx()
        acc = surface.values("accuracy")
        handles += acc_ax.plot(p.x, acc, "--s", color="tab:orange", ms=3, lw=1.4,
                               label="accuracy")
        acc_ax.set_ylabel("accuracy (%)", color="tab:orange")
        acc_ax.tick_params(axis="y", labelcolor="tab:orange")
        finite = acc[np.isfinite(acc)]
        if finite.size:
            top = min(100.0, float(finite.max()) + 5)
            acc_ax.set_ylim(max(0.0, float(finite.min()) - 5), top)
    bottom = ax.get_xaxis_transform()  # x in data units, y in axes units
    if p.not_done.any():
        handles += ax.plot(p.x[p.not_done], np.full(p.not_done.sum(), 0.03), transform=bottom,
                           label="not computed", **_NOT_DONE_STYLE)
    if p.diverged.any():
        handles += ax.plot(p.x[p.diverged], np.full(p.diverged.sum(), 0.03), transform=bottom,
                           label="diverged", **_DIVERGED_STYLE)
    if p.invalid.any():
        handles += ax.plot(p.x[p.invalid], np.full(p.invalid.sum(), 0.03), transform=bottom,
                           label="undefined: BN variance < 0", **_INVALID_STYLE)
    valid = surface.meta.get("bn_valid_alpha")
    if isinstance(valid, (list, tuple)) and len(valid) == 2:
        for k, edge in enumerate(valid):
            if edge is not None and p.x.min() < float(edge) < p.x.max():
                span = (p.x.min(), float(edge)) if k == 0 else (float(edge), p.x.max())
                patch = ax.axvspan(*span, color="0.85", zorder=0,
                                   label="BN variance clamped at 0 (extrapolated < 0)")
                if not any(h.get_label() == patch.get_label() for h in handles):
                    handles.append(patch)
    x = p.x
    for alpha, text, is_star in _line_ends(surface):
        if not p.x.min() <= alpha <= p.x.max():
            continue
        ax.axvline(alpha, color="0.4", ls=":", lw=1)
        i = int(np.argmin(np.abs(x - alpha)))
        on_grid = abs(x[i] - alpha) <= 1e-6 * max(float(np.ptp(x)), 1e-12)
        if not on_grid or np.ma.is_masked(p.z[i]):
            continue
        style = _CENTER_STYLE if is_star else _END_STYLE
        name = (f"{text}, trained" if is_star and text != "θ*" else text)
        handles += ax.plot([alpha], [float(p.z[i])], label=name, **style)
    leg = ax.legend(handles=handles, loc="upper center", fontsize="small", framealpha=0.8)
    for t in leg.get_texts():
        t.set_parse_math(False)
    set_title(ax, label if label is not None else p.title)
    ax.grid(alpha=0.3)
    return acc_ax


def side_by_side(surfaces: Sequence[Surface], labels: Sequence[str] | None = None, *,
                 kind: Kind = "contourf", quantity: Quantity = "loss",
                 levels: int | Sequence[float] | None = None, vmin: float | None = None,
                 vmax: float | None = None, log: bool | None = None,
                 zmax: float | None = None) -> Figure:
    """Several surfaces in a row on the same contour levels and one colour scale.

    Made for skip vs no-skip: the levels and colours are computed from all surfaces together
    (or from `vmin`/`vmax`), so equal colours mean equal values across panels. 1-D surfaces
    are drawn as `line` panels sharing one loss axis.

    Args:
        surfaces: two or more surfaces (all 2-D or all 1-D).
        labels: panel titles (default: titles from each surface's meta).
        kind: 'contour', 'contourf', 'heatmap' or '3d' (ignored for 1-D surfaces).
        Other args as `contour` (`log=None` decides from all surfaces together).

    Raises:
        ValueError: no surfaces, mixed 1-D and 2-D, or labels of the wrong length.
    """
    surfaces = list(surfaces)
    if not surfaces:
        raise ValueError("side_by_side needs at least one surface, got none")
    if labels is not None and len(labels) != len(surfaces):
        raise ValueError(f"labels must match the surfaces: {len(surfaces)} surfaces, "
                         f"got {len(labels)} labels")
    ndims = {s.ndim for s in surfaces}
    if len(ndims) > 1:
        raise ValueError("side_by_side needs surfaces of one kind, got 1-D and 2-D mixed")
    names = list(labels) if labels is not None else [None] * len(surfaces)
    n = len(surfaces)
    use_log, auto = resolve_log(surfaces, "loss" if ndims == {1} else quantity, log, zmax)
    if ndims == {1}:
        fig = _figure(n, width=6.0, height=4.6)
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        twins = [_draw_line(ax, s, log=use_log, zmax=zmax, title=None, label=name)
                 for ax, s, name in zip(axes, surfaces, names, strict=True)]
        twins = [t for t in twins if t is not None]
        if twins:
            lo = min(t.get_ylim()[0] for t in twins)
            hi = max(t.get_ylim()[1] for t in twins)
            for t in twins:
                t.set_ylim(lo, hi)
        if vmin is not None or vmax is not None:
            axes[0].set_ylim(vmin, vmax)
        return fig
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    preps = [prepare(s, quantity, use_log, zmax, name) for s, name in zip(surfaces, names,
                                                                            strict=True)]
    default = {"contour": 20, "contourf": 30, "heatmap": 30, "3d": 15}[kind]
    s = make_scale(preps, levels=levels, vmin=vmin, vmax=vmax, log=use_log, auto=auto,
               default_levels=default)
    extend = extend_of(s, preps)
    fig = _figure(n, width=5.6, height=5.0)
    kw = {"projection": "3d"} if kind == "3d" else {}
    axes = [fig.add_subplot(1, n, k + 1, **kw) for k in range(n)]
    mappable = None
    entries: list[tuple[Any, str]] = []
    for ax, p in zip(axes, preps, strict=True):
        m, e = _draw(kind, fig, ax, p, s, extend)
        entries += e
        mappable = mappable or m
    if kind == "3d":  # one camera for all panels: the highest any of them needs
        for ax in axes:
            ax.view_init(elev=max(a.elev for a in axes), azim=ax.azim)
    _colorbar(fig, mappable, axes, preps[0], s)
    _legend(fig, entries)
    return fig


def draw(surface: Surface, kind: str = "contour", **kwargs: Any) -> Figure:
    """The picture of `kind` ('contour', 'contourf', 'heatmap', '3d'); `line` for 1-D surfaces.

    A 1-D surface always gives the `line` picture (quantity and levels do not apply to it).
    """
    if surface.y is None:
        kwargs = {k: v for k, v in kwargs.items() if k in ("log", "vmin", "vmax", "zmax", "title")}
        return line(surface, **kwargs)
    funcs = {"contour": contour, "contourf": contourf, "heatmap": heatmap, "3d": surface3d}
    if kind not in funcs:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    return funcs[kind](surface, **kwargs)

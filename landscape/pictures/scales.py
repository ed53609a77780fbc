"""What every picture of a surface shares: the values prepared for drawing (masked, clipped,
on a log scale or not), the colour scale and its round contour levels, and the titles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.engine.types import Surface, skip_flag

if TYPE_CHECKING:
    from matplotlib.colors import Normalize

__all__ = ["LOG_DECADES", "CMAP", "Prepared", "Anchor", "surface_anchors", "Scale", "prepare",
           "make_scale", "resolve_log", "choose_log", "extend_of", "finite_range", "file_label",
           "display_name", "title_of", "set_title", "colorbar_label", "short_number",
           "round_log_levels"]


LOG_DECADES = 2.0
"""`log=None` draws on a log scale when the values span more than this many decades."""

CMAP = "viridis"


def display_name(meta: dict[str, Any]) -> str:
    """The model of a surface in words: its name, and "no skip" when its shortcuts were removed
    and the name does not already say so ("resnet20-noskip", not "resnet20-noskip, no skip")."""
    name = str(meta.get("model") or meta.get("label") or "")
    skip = skip_flag(meta)
    if skip is None:
        return name
    lowered = name.lower().replace("_", "-")
    says = any(t in lowered for t in ("noskip", "no-skip", "no skip", "noshort", "plain"))
    if skip or says:
        return name
    return f"{name}, no skip" if name else "no skip"


def title_of(surface: Surface, quantity: str = "loss") -> str:
    """A title from the surface's provenance: model (and "no skip"), split and quantity;
    "interpolation A → B" for the line or plane through checkpoints.

    Files of the 2018 reference code carry no provenance; they are named as such.
    """
    meta = surface.meta
    head = display_name(meta)
    if meta.get("kind") == "interpolation":
        ends = [file_label(meta.get(k)) for k in ("checkpoint", "checkpoint_b", "checkpoint_c")]
        ends = [e for e in ends if e]
        head = "interpolation " + " → ".join(ends) if ends else "interpolation"
    elif not head and meta.get("format") == "reference":
        head = "2018 reference file"
    what = f"{surface.split} {'accuracy (%)' if quantity == 'accuracy' else 'loss'}"
    return f"{head}: {what}" if head else what


def file_label(path: Any) -> str:
    if not path:
        return ""
    p = Path(str(path))
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def choose_log(values: np.ndarray) -> bool:
    """True when the finite values are all positive and span more than `LOG_DECADES` decades."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2 or finite.min() <= 0:
        return False
    return bool(np.log10(finite.max() / finite.min()) > LOG_DECADES)


@dataclass(frozen=True)
class Prepared:
    x: np.ndarray               # (nx,)
    y: np.ndarray | None        # (ny,)
    z: np.ma.MaskedArray        # (nx,) or (nx, ny); clipped; masked where not drawable
    not_done: np.ndarray        # bool, same shape: neither computed nor filled
    filled: np.ndarray          # bool: interpolated by a coarse-to-fine run
    se: np.ndarray | None       # standard error of each computed loss, or None
    diverged: np.ndarray        # bool: done but NaN/inf (or <= 0 on a log scale)
    invalid: np.ndarray         # bool: done, NaN, where the BN statistics were undefined
    quantity: str
    title: str
    paths: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    unclipped: np.ndarray | None = None  # z before the zmax clip (NaN where masked)
    anchors: list[Anchor] = field(default_factory=list)  # the points to mark by name


@dataclass(frozen=True)
class Anchor:
    """A named point of the plane to mark: θ* (the star), or a checkpoint of a plane through
    three checkpoints."""

    alpha: float
    beta: float
    label: str
    star: bool  # drawn as the θ* star; a checkpoint that is not θ* gets a plain marker
    index: tuple[int, ...] | None = field(default=None, compare=False)  # its grid point


def surface_anchors(surface: Surface) -> list[Anchor]:
    """The points of a 2-D surface to mark (with their grid points, where they are on the
    grid): θ* at the origin of a slice around one
    checkpoint; the three checkpoints A (0, 0), B (1, 0) and C (0, 1) of a plane that
    `landscape interp` spans through three, each by its file name. None of the three is
    starred as θ*: a plane through three trained checkpoints has no one centre."""
    if surface.y is None:
        return []
    if surface.meta.get("kind") != "interpolation":
        return [Anchor(0.0, 0.0, "θ*", True, surface.origin_index)]
    meta = surface.meta
    return [Anchor(a, b, file_label(meta.get(key)) or name, False, surface.index_of(a, b))
            for a, b, key, name in ((0.0, 0.0, "checkpoint", "A"), (1.0, 0.0, "checkpoint_b", "B"),
                                    (0.0, 1.0, "checkpoint_c", "C"))]


def surface_paths(surface: Surface) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Paths a surface file carries to be drawn over it (meta `paths`: label -> {x, y}), e.g.
    the trained curve and the line between two minima in the plane `landscape connect` writes."""
    raw = surface.meta.get("paths")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if isinstance(raw, dict):
        for label, path in raw.items():
            try:
                x = np.asarray(path["x"], dtype=np.float64)
                y = np.asarray(path["y"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                continue  # a damaged path is not drawn; the surface still is
            if x.shape == y.shape and x.ndim == 1:
                out[str(label)] = (x, y)
    return out


def _invalid_bn(surface: Surface) -> np.ndarray:
    """Points outside the α range where interpolated BN variances stay positive."""
    valid = surface.meta.get("bn_valid_alpha")
    out = np.zeros(surface.shape, dtype=bool)
    if surface.y is None and isinstance(valid, (list, tuple)) and len(valid) == 2:
        lo = float("-inf") if valid[0] is None else float(valid[0])
        hi = float("inf") if valid[1] is None else float(valid[1])
        x = np.asarray(surface.x, dtype=np.float64)
        out = (x < lo) | (x > hi)
    return out


def prepare(surface: Surface, quantity: str, log: bool, zmax: float | None,
             title: str | None) -> Prepared:
    if quantity not in ("loss", "accuracy"):
        raise ValueError(f"quantity must be 'loss' or 'accuracy', got {quantity!r}")
    values = surface.values(quantity)
    done = np.asarray(surface.has_value, dtype=bool)
    se = surface.extras.get(f"{surface.split}_loss_se") if quantity == "loss" else None
    raw = values
    if zmax is not None:
        values = np.where(np.isfinite(values), np.minimum(values, zmax), values)
    bad = ~np.isfinite(values)
    if log:
        bad |= ~(values > 0)
    invalid = done & bad & _invalid_bn(surface)
    z = np.ma.masked_array(np.where(bad, np.nan, values), mask=bad)
    return Prepared(x=np.asarray(surface.x, dtype=np.float64),
                     y=None if surface.y is None else np.asarray(surface.y, dtype=np.float64),
                     z=z, not_done=~done, diverged=done & bad & ~invalid, invalid=invalid,
                     quantity=quantity, filled=surface.filled,
                     se=None if se is None else np.asarray(se),
                     title=title if title is not None else title_of(surface, quantity),
                     paths=surface_paths(surface),
                     unclipped=np.where(bad, np.nan, raw), anchors=surface_anchors(surface))


def resolve_log(surfaces: Sequence[Surface], quantity: str, log: bool | None,
                zmax: float | None = None) -> tuple[bool, bool]:
    """Whether the pictures of `surfaces` are drawn on a log scale, and whether that was chosen
    from the data (`log=None`, see `choose_log`) rather than asked for."""
    if log is not None:
        return bool(log), False
    values = [s.values(quantity) for s in surfaces]
    if zmax is not None:
        values = [np.where(np.isfinite(v), np.minimum(v, zmax), v) for v in values]
    return choose_log(np.concatenate([v.ravel() for v in values])), True


def finite_range(preps: Sequence[Prepared]) -> tuple[float, float]:
    data = [p.z.compressed() for p in preps]
    data = [d for d in data if d.size]
    if not data:
        raise ValueError("nothing to draw: no computed, finite values on the surface "
                         "(all points are not done, diverged, or non-positive on a log scale)")
    flat = np.concatenate(data)
    return float(flat.min()), float(flat.max())


@dataclass(frozen=True)
class Scale:
    levels: np.ndarray
    norm: Normalize
    log: bool
    auto: bool                  # the log / linear choice was made from the data
    vmin: float
    vmax: float


_MANTISSAS = ((1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
              (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))
"""Round values per decade for log-scale levels, coarsest first: 1, 2, 5 × 10^k unless the
range is too narrow for enough of them."""
_FEWEST_LOG_LEVELS = 4


def round_log_levels(lo: float, hi: float, fewest: int = _FEWEST_LOG_LEVELS,
                     about: int | None = None) -> np.ndarray:
    """The levels m × 10^k in [lo, hi] with m in 1, 2, 5 (0.1, 0.2, 0.5, 1, 2, 5, ...): the same
    values on every picture, so that two pictures of different surfaces share every level in
    their common range. A range too narrow for `fewest` of them takes the next finer round
    set (1, 1.5, 2, 3, 5, 7; then every 1-9 and 1.5, 2.5), and one narrower still gets `fewest`
    log-spaced values rounded to 2 significant digits. `about` (a number of levels asked for)
    takes the round set whose count is nearest it instead."""
    if not 0 < lo < hi:
        raise ValueError(f"log levels need 0 < lo < hi, got {lo}, {hi}")
    tol = 1e-9
    decades = np.arange(np.floor(np.log10(lo)) - 1, np.ceil(np.log10(hi)) + 1)
    sets = []
    for mantissas in _MANTISSAS:
        lattice = np.array([float(f"{m * 10.0 ** k:.12g}") for k in decades for m in mantissas])
        sets.append(lattice[(lattice >= lo * (1 - tol)) & (lattice <= hi * (1 + tol))])
    if about is not None:
        fitting = [lv for lv in sets if lv.size >= 2]
        if fitting:
            return min(fitting, key=lambda lv: abs(lv.size - about))
    for levels in sets:
        if levels.size >= fewest:
            return levels
    values = np.geomspace(lo, hi, max(fewest, about or 0))
    exp = np.floor(np.log10(values))
    return np.unique(np.round(values / 10 ** (exp - 1)) * 10 ** (exp - 1))


def make_scale(preps: Sequence[Prepared], *, levels: int | Sequence[float] | None,
           vmin: float | None, vmax: float | None, log: bool, auto: bool,
           default_levels: int) -> Scale:
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import MaxNLocator

    lo, hi = finite_range(preps)
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    if log and lo <= 0:
        raise ValueError(f"a log scale needs vmin > 0, got {lo}")
    if not hi > lo:  # a flat surface: widen so that there is something to colour
        pad = abs(lo) * 0.05 if lo != 0 else 1.0
        lo, hi = (lo / 1.1, hi * 1.1) if log else (lo - pad, hi + pad)
    if levels is not None and not isinstance(levels, (int, np.integer)):
        lv = np.unique(np.asarray(levels, dtype=np.float64))
        if lv.size < 2:
            raise ValueError(f"levels must hold at least 2 distinct values, got {list(levels)}")
    else:
        n = default_levels if levels is None else int(levels)
        if n < 2:
            raise ValueError(f"levels must be >= 2, got {n}")
        if log:
            lv = round_log_levels(lo, hi, about=None if levels is None else n)
        else:
            lv = MaxNLocator(nbins=n).tick_values(lo, hi)
            lv = lv[(lv >= lo - 1e-12 * (hi - lo)) & (lv <= hi + 1e-12 * (hi - lo))]
            if lv.size < 2:
                lv = np.linspace(lo, hi, n)
    norm = LogNorm(vmin=lo, vmax=hi) if log else Normalize(vmin=lo, vmax=hi)
    return Scale(levels=lv, norm=norm, log=log, auto=auto, vmin=lo, vmax=hi)


def extend_of(scale: Scale, preps: Sequence[Prepared]) -> str:
    lo, hi = finite_range(preps)
    below, above = lo < scale.levels[0], hi > scale.levels[-1]
    return {(False, False): "neither", (True, False): "min", (False, True): "max",
            (True, True): "both"}[(below, above)]


def set_title(ax: Any, text: str) -> None:
    ax.set_title(text, parse_math=False)


def colorbar_label(p: Prepared, s: Scale) -> str:
    base = "accuracy (%)" if p.quantity == "accuracy" else "loss"
    if not s.log:
        return base
    if s.auto:
        return f"{base} (log scale: the values span {np.log10(s.vmax / s.vmin):.1f} decades)"
    return f"{base} (log scale)"


def short_number(value: float) -> str:
    return f"{value:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")

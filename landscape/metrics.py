"""Numbers from a surface: value at θ*, sharpness, basin, local minima, curvature, roughness.

Every metric reads `surface.values("loss")`, so points not computed (`done == False`) are NaN
and are skipped, never read as zeros. A point that is computed but diverged (NaN or inf loss)
counts as "very high" where order matters (sharpness, basin, minima) and is left out where a
number is averaged or fitted (curvature, roughness). `summarize` says how many points of each
kind there were and adds a note whenever a metric had to skip something.

Distances are measured in the units of α and β from the grid point nearest the origin (θ*).
The definitions, with their caveats, are in docs/concepts/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.types import Surface

__all__ = ["DEFAULT_RADII", "DEFAULT_EPS", "center", "sharpness", "basin", "local_minima",
           "curvature", "roughness", "summarize", "compare", "format_table", "format_markdown",
           "to_json"]

DEFAULT_RADII: tuple[float, ...] = (0.1, 0.25, 0.5)
DEFAULT_EPS = 0.1
_TOL = 1e-9  # relative slack on distances, so that a grid point at exactly r counts as inside


def _coords(surface: Surface) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(surface.x, dtype=np.float64)
    y = None if surface.y is None else np.asarray(surface.y, dtype=np.float64)
    return x, y


def _distance(surface: Surface) -> np.ndarray:
    """Distance of every grid point from the centre point (shape of the surface)."""
    x, y = _coords(surface)
    c = surface.center_index
    dx = x - x[c[0]]
    if y is None:
        return np.abs(dx)
    dy = y - y[c[1]]
    return np.hypot(dx[:, None], dy[None, :])


def _center_loss(surface: Surface) -> float:
    return float(surface.values("loss")[surface.center_index])


def _diverged(surface: Surface) -> np.ndarray:
    loss = np.asarray(surface.loss, dtype=np.float64)
    return np.asarray(surface.done, dtype=bool) & ~np.isfinite(loss)


def center(surface: Surface) -> dict[str, float | None]:
    """Loss and accuracy at θ*: the grid point nearest the origin.

    Returns:
        {'alpha', 'beta' (None for 1-D), 'loss', 'accuracy' (None if not measured)}; NaN where
        that point is not computed.
    """
    c = surface.center_index
    x, y = _coords(surface)
    acc = None if surface.accuracy is None else float(surface.values("accuracy")[c])
    return {"alpha": float(x[c[0]]), "beta": None if y is None else float(y[c[1]]),
            "loss": _center_loss(surface), "accuracy": acc}


def sharpness(surface: Surface, radii: Sequence[float] = DEFAULT_RADII) -> dict[float, float]:
    """Largest loss rise within distance r of θ*: max over |p| <= r of L(p) - L(θ*).

    Points not computed are skipped; a diverged point inside the disc gives inf. For a bowl
    a(α² + β²) sampled with a grid point at distance r, this is exactly a·r².

    Args:
        surface: 1-D or 2-D surface.
        radii: disc radii in the units of α and β (each > 0).

    Returns:
        {r: rise}; NaN when θ* is not computed or no computed point other than θ* lies within r
        (r smaller than the grid spacing).

    Raises:
        ValueError: a radius <= 0.
    """
    loss = surface.values("loss")
    diverged = _diverged(surface)
    dist = _distance(surface)
    l0 = _center_loss(surface)
    out: dict[float, float] = {}
    for r in radii:
        if not r > 0:
            raise ValueError(f"sharpness radii must be > 0, got {r}")
        inside = dist <= r * (1 + _TOL) + 1e-12
        others = inside & (dist > 0)
        if not np.isfinite(l0) or not (others & (np.isfinite(loss) | diverged)).any():
            out[float(r)] = math.nan
        elif (inside & diverged).any():
            out[float(r)] = math.inf
        else:
            out[float(r)] = float(np.nanmax(np.where(inside, loss, np.nan)) - l0)
    return out


def _cell_sizes(v: np.ndarray) -> np.ndarray:
    """Width of the cell around each coordinate (half-way to the neighbours; half at the ends)."""
    edges = np.concatenate([[v[0]], (v[1:] + v[:-1]) / 2, [v[-1]]])
    return np.abs(np.diff(edges))


def basin(surface: Surface, eps: float = DEFAULT_EPS) -> dict[str, Any]:
    """The region of the grid where the loss is at most L(θ*) + eps, and its width at θ*.

    - `fraction`: computed points with L <= level, over all computed points;
    - `area`: their area in α-β units (each point stands for the cell around it; the length in
      α units for 1-D);
    - `radius`: the radius of the largest disc around θ* whose computed points are all below
      the level: the distance of the farthest point that is still nearer than the nearest
      point above the level. The grid resolves it to about one grid step (exact for a bowl
      a(α² + β²) when sqrt(eps / a) falls on grid points).
    - `radius_limited_by_grid`: True when no computed point is above the level, so the basin
      may be wider than the grid and `radius` is only a lower bound.

    Diverged points count as above the level; points not computed are skipped.

    Raises:
        ValueError: eps < 0.
    """
    if not eps >= 0:
        raise ValueError(f"basin eps must be >= 0, got {eps}")
    loss = surface.values("loss")
    done = np.asarray(surface.done, dtype=bool)
    l0 = _center_loss(surface)
    level = l0 + eps
    result: dict[str, Any] = {"eps": float(eps), "level": level, "fraction": math.nan,
                              "area": math.nan, "radius": math.nan,
                              "radius_limited_by_grid": False}
    if not np.isfinite(l0) or not done.any():
        return result
    # a hair of slack so that a point exactly on the level (up to rounding) counts as below
    below = done & np.isfinite(loss) & (loss <= level + 1e-9 * max(1.0, abs(level)))
    above = done & ~below
    x, y = _coords(surface)
    cells = _cell_sizes(x) if y is None else _cell_sizes(x)[:, None] * _cell_sizes(y)[None, :]
    dist = _distance(surface)
    if above.any():
        nearest_above = float(dist[above].min())
        radius = float(dist[below & (dist < nearest_above)].max(initial=0.0))
    else:
        radius = float(dist[below].max(initial=0.0))
    result.update(fraction=float(below.sum() / done.sum()), area=float(cells[below].sum()),
                  radius=radius, radius_limited_by_grid=not above.any())
    return result


def local_minima(surface: Surface) -> list[tuple[int, ...]]:
    """Grid indices of strict local minima of the loss.

    A point is a strict local minimum when it is computed and finite and its loss is smaller
    than that of each of its neighbours: the 8 around it in 2-D, the 2 beside it in 1-D. A
    point is judged only when its whole neighbourhood is there: points on the border of the
    grid and points next to a point not computed are not counted (either would turn the edge
    of what was computed into false minima). A diverged neighbour counts as higher.
    """
    loss = surface.values("loss")
    done = np.asarray(surface.done, dtype=bool)
    high = np.where(done & ~np.isfinite(loss), np.inf, loss)  # diverged: higher than anything
    if surface.y is None:
        offsets: list[tuple[int, ...]] = [(-1,), (1,)]
    else:
        offsets = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
    inner = tuple(slice(1, n - 1) for n in loss.shape)
    centre = loss[inner]
    is_min = np.isfinite(centre)
    for off in offsets:
        neigh = high[tuple(slice(1 + o, n - 1 + o) for o, n in zip(off, loss.shape,
                                                                    strict=True))]
        is_min &= ~np.isnan(neigh) & (centre < neigh)
    return [tuple(int(i) + 1 for i in idx) for idx in np.argwhere(is_min)]


def curvature(surface: Surface, *, window: int = 2) -> dict[str, Any]:
    """Curvature at θ* from a least-squares quadratic fit to the points near it.

    Fits q(α, β) = c + g·(α, β) + ½ (α, β) H (α, β)ᵀ to the computed, finite points within
    `window` grid steps of θ* in each direction ((2·window + 1)² points), and returns the
    Hessian H of the fit and its eigenvalues (ascending). For a bowl a(α² + β²) both are 2a;
    for a saddle a(α² − β²) they are −2a and 2a. In 1-D the fit is c + gα + ½hα².

    Returns:
        {'hessian' (list of lists), 'eigenvalues' (list), 'points' used, 'window'}; NaN when
        fewer points than unknowns (6 in 2-D, 3 in 1-D) are available.

    Raises:
        ValueError: window < 1.
    """
    if window < 1:
        raise ValueError(f"curvature window must be >= 1 grid step, got {window}")
    loss = surface.values("loss")
    x, y = _coords(surface)
    c = surface.center_index
    sl = tuple(slice(max(i - window, 0), i + window + 1) for i in c)
    z = loss[sl]
    if y is None:
        a = x[sl[0]] - x[c[0]]
        cols = [np.ones_like(a), a, 0.5 * a ** 2]
        ok = np.isfinite(z)
    else:
        A, B = np.meshgrid(x[sl[0]] - x[c[0]], y[sl[1]] - y[c[1]], indexing="ij")
        cols = [np.ones_like(A), A, B, 0.5 * A ** 2, A * B, 0.5 * B ** 2]
        ok = np.isfinite(z)
    design = np.stack([col[ok] for col in cols], axis=1)
    n_unknown = design.shape[1]
    dim = 1 if y is None else 2
    result: dict[str, Any] = {"hessian": np.full((dim, dim), math.nan).tolist(),
                              "eigenvalues": [math.nan] * dim, "points": int(ok.sum()),
                              "window": int(window)}
    if ok.sum() < n_unknown or np.linalg.matrix_rank(design) < n_unknown:
        return result
    coef, *_ = np.linalg.lstsq(design, z[ok], rcond=None)
    if y is None:
        hess = np.array([[coef[2]]])
    else:
        hess = np.array([[coef[3], coef[4]], [coef[4], coef[5]]])
    result["hessian"] = hess.tolist()
    result["eigenvalues"] = [float(v) for v in np.linalg.eigvalsh(hess)]
    return result


def roughness(surface: Surface, *, log: bool = False) -> float:
    """Mean absolute difference of the loss between grid neighbours (total variation per edge).

    Sums |L(p) - L(q)| over pairs of neighbouring points (left-right and up-down in 2-D) with
    both computed and finite, and divides by the number of such pairs. `log=True` uses log10 L
    instead, which compares surfaces whose losses differ by orders of magnitude (it needs
    L > 0; non-positive points are left out). A smooth bowl scores low, the same bowl with
    ripples higher. NaN when no pair is usable.
    """
    loss = surface.values("loss")
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(loss > 0, np.log10(np.where(loss > 0, loss, 1.0)), np.nan)
    loss = np.where(np.isfinite(loss), loss, np.nan)
    diffs = [np.abs(np.diff(loss, axis=k)).ravel() for k in range(loss.ndim)]
    flat = np.concatenate(diffs)
    flat = flat[np.isfinite(flat)]
    return float(flat.mean()) if flat.size else math.nan


def summarize(surface: Surface, *, radii: Sequence[float] = DEFAULT_RADII,
              eps: float = DEFAULT_EPS, window: int = 2) -> dict[str, Any]:
    """All metrics of one surface as a JSON-ready dict.

    Args:
        surface: 1-D or 2-D surface.
        radii: sharpness radii (α-β units).
        eps: basin level above L(θ*) (loss units).
        window: half-width of the curvature fit in grid steps.

    Returns:
        {'shape', 'points': {total, done, not_done, diverged}, 'center', 'sharpness'
        {str(r): rise}, 'basin', 'local_minima', 'curvature', 'roughness',
        'roughness_log10', 'notes'}: `notes` lists what was skipped or is only a bound.
    """
    done = np.asarray(surface.done, dtype=bool)
    diverged = _diverged(surface)
    sharp = sharpness(surface, radii)
    bas = basin(surface, eps)
    notes: list[str] = []
    n_not_done = int((~done).sum())
    if n_not_done:
        notes.append(f"{n_not_done} of {done.size} points are not computed; every metric "
                     f"skipped them")
    if diverged.any():
        notes.append(f"{int(diverged.sum())} points diverged (NaN/inf loss): counted as high "
                     f"for sharpness, basin and minima, left out of curvature and roughness")
    if not done[surface.center_index]:
        notes.append("θ* itself is not computed: centre values, sharpness and basin are NaN")
    reach = _reach(surface)
    for r in radii:
        if math.isnan(sharp[float(r)]) and done[surface.center_index]:
            notes.append(f"sharpness at r={r:g} is NaN: no computed point other than θ* lies "
                         f"within r (grid too coarse, or points not computed)")
        if r > reach * (1 + _TOL):
            notes.append(f"sharpness at r={r:g} uses a disc that leaves the grid "
                         f"(grid reaches {reach:g} from θ*)")
    if bas["radius_limited_by_grid"]:
        notes.append("the whole computed grid lies below L(θ*)+eps: the basin radius is only a "
                     "lower bound")
    curv = curvature(surface, window=window)
    minima = local_minima(surface)
    return {
        "shape": list(surface.shape),
        "points": {"total": int(done.size), "done": int(done.sum()),
                   "not_done": n_not_done, "diverged": int(diverged.sum())},
        "center": center(surface),
        "sharpness": {f"{r:g}": v for r, v in sharp.items()},
        "basin": bas,
        "local_minima": len(minima),
        "curvature": curv,
        "roughness": roughness(surface),
        "roughness_log10": roughness(surface, log=True),
        "notes": notes,
    }


def _reach(surface: Surface) -> float:
    """Distance from θ* to the nearest edge of the grid."""
    x, y = _coords(surface)
    c = surface.center_index
    reach = min(abs(x[0] - x[c[0]]), abs(x[-1] - x[c[0]]))
    if y is not None:
        reach = min(reach, abs(y[0] - y[c[1]]), abs(y[-1] - y[c[1]]))
    return float(reach)


def compare(a: Surface, b: Surface, labels: Sequence[str] = ("A", "B"), *,
            radii: Sequence[float] = DEFAULT_RADII, eps: float = DEFAULT_EPS,
            window: int = 2) -> dict[str, Any]:
    """Summaries of two surfaces side by side, e.g. a ResNet and its no-skip twin.

    Returns:
        {'labels', 'summaries': {label: summarize(...)}, 'rows': [[metric, value_a, value_b,
        ratio b/a]], 'settings': {radii, eps, window}}; `rows` feed `format_table` and
        `format_markdown`.

    Raises:
        ValueError: labels not two distinct names.
    """
    labels = [str(v) for v in labels]
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"compare needs two distinct labels, got {labels}")
    sa = summarize(a, radii=radii, eps=eps, window=window)
    sb = summarize(b, radii=radii, eps=eps, window=window)
    rows = []
    for name, va, vb in zip(*_rows(sa), *_rows(sb)[1:], strict=True):
        rows.append([name, va, vb, _ratio(va, vb)])
    return {"labels": labels, "summaries": {labels[0]: sa, labels[1]: sb}, "rows": rows,
            "settings": {"radii": [float(r) for r in radii], "eps": float(eps),
                         "window": int(window)}}


def _rows(s: dict[str, Any]) -> tuple[list[str], list[float | None]]:
    names: list[str] = ["loss at θ*", "accuracy at θ* (%)"]
    values: list[float | None] = [s["center"]["loss"], s["center"]["accuracy"]]
    for r, v in s["sharpness"].items():
        names.append(f"sharpness r={r}")
        values.append(v)
    eps = s["basin"]["eps"]
    names += [f"basin fraction (L ≤ L*+{eps:g})", f"basin area (L ≤ L*+{eps:g})",
              f"basin radius (L ≤ L*+{eps:g})", "local minima", "curvature λmin", "curvature λmax",
              "roughness (loss)", "roughness (log10 loss)", "points not computed"]
    eig = s["curvature"]["eigenvalues"]
    values += [s["basin"]["fraction"], s["basin"]["area"], s["basin"]["radius"],
               s["local_minima"], eig[0], eig[-1], s["roughness"], s["roughness_log10"],
               s["points"]["not_done"]]
    return names, values


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)) or a == 0:
        return None
    return float(b / a)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    if "rows" in result:  # a comparison
        header = ["metric", *result["labels"], "ratio"]
        body = [[r[0], _fmt(r[1]), _fmt(r[2]), _fmt(r[3])] for r in result["rows"]]
    else:  # one summary
        names, values = _rows(result)
        header = ["metric", "value"]
        body = [[n, _fmt(v)] for n, v in zip(names, values, strict=True)]
    return header, body


def _notes(result: dict[str, Any]) -> list[str]:
    if "summaries" in result:
        return [f"{label}: {note}" for label, s in result["summaries"].items()
                for note in s["notes"]]
    return list(result.get("notes", []))


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of `summarize(...)` or `compare(...)`, with its notes below."""
    header, body = _table(result)
    widths = [max(len(row[k]) for row in [header, *body]) for k in range(len(header))]

    def fmt_row(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) if k == 0 else cell.rjust(w)
                         for k, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    lines = [fmt_row(header), "  ".join("-" * w for w in widths)]
    lines += [fmt_row(row) for row in body]
    lines += [f"note: {n}" for n in _notes(result)]
    return "\n".join(lines)


def format_markdown(result: dict[str, Any]) -> str:
    """A Markdown table of `summarize(...)` or `compare(...)`, with its notes as a list."""
    header, body = _table(result)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    notes = _notes(result)
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def to_json(result: dict[str, Any]) -> str:
    """`summarize(...)` or `compare(...)` as strict JSON: NaN becomes null, ±inf "inf"/"-inf"."""
    import json

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return None
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return float(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        return value

    return json.dumps(clean(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

"""Numbers from a surface: the centre, sharpness, basin, curvature, convexity, local minima and
roughness (the comparison of two surfaces and its verdict are in `landscape.analysis.verdict`).

The metrics that compare two surfaces are relative, so that they stay meaningful when the two
minima have different heights (a ResNet at loss 0.1 and its no-skip twin at 0.3):

- sharpness is the rise of log10 L within a radius (decades, i.e. L(p)/L(θ*) on a log scale);
- the basin is where L <= factor · L(θ*);
- curvature is the Hessian of ln L fitted around θ* (∇²L / L(θ*) at a minimum);
- convexity is the share of grid points where the slice's own Hessian is clearly negative (a
  sign, which no rescaling of L changes);
- roughness is measured on log10 L.

Every metric reads `surface.values("loss")`, so points not computed (`done == False`) are NaN
and are skipped, never read as zeros. A diverged point (NaN or inf loss) counts as "very high"
where order matters (sharpness, basin, minima) and is left out where a number is averaged or
fitted (curvature, convexity, roughness). Every metric is computed the same way whether or not
the surface stores errors; its standard error comes from the delete-a-block jackknife over
the sample blocks all points share (`landscape.analysis.errors`), which counts the
correlation between points that average the same samples. A surface without block sums (a
reference file, an older file) has metrics but no errors.

Distances are in the units of α and β from θ*, the origin of the grid. When the origin is not
a grid point, the point nearest it stands in and every summary says so. The definitions are in
docs/concepts/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.engine.types import Surface, log10_positive

__all__ = ["DEFAULT_RADII", "DEFAULT_FACTOR", "DEFAULT_WINDOW", "center", "sharpness",
           "basin", "local_minima", "curvature", "convexity", "roughness", "summarize",
           "common_region"]

DEFAULT_RADII: tuple[float, ...] = (0.1, 0.25, 0.5)
DEFAULT_FACTOR = 2.0
DEFAULT_WINDOW = 2
_TOL = 1e-9  # relative slack on distances, so that a grid point at exactly r counts as inside
_Z = 2.0     # a point is non-convex when its λmin lies below −_Z of its standard errors


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


def _diverged(surface: Surface) -> np.ndarray:
    loss = np.asarray(surface.loss, dtype=np.float64)
    return np.asarray(surface.done, dtype=bool) & ~np.isfinite(loss)


def _se(surface: Surface) -> np.ndarray | None:
    """Standard error of each computed point's mean loss (NaN elsewhere), or None."""
    se = surface.extras.get(f"{surface.split}_loss_se")
    if se is None:
        return None
    return np.where(np.asarray(surface.done, dtype=bool), np.asarray(se, dtype=np.float64),
                    np.nan)


def _nan_or(value: float) -> float:
    return float(value) if np.isfinite(value) else math.nan


def center(surface: Surface) -> dict[str, Any]:
    """Loss and accuracy at θ*, the grid's origin, or at the grid point nearest it.

    Returns:
        {'index', 'alpha', 'beta' (None for 1-D), 'on_grid' (False when the origin is not a
        grid point and the nearest point stands in), 'loss', 'loss_se' (NaN without standard
        errors), 'accuracy' (None if not measured)}; NaN where that point is not computed.
    """
    c = surface.center_index
    x, y = _coords(surface)
    se = _se(surface)
    acc = None if surface.accuracy is None else float(surface.values("accuracy")[c])
    return {"index": [int(i) for i in c], "alpha": float(x[c[0]]),
            "beta": None if y is None else float(y[c[1]]),
            "on_grid": surface.origin_index is not None,
            "loss": float(surface.values("loss")[c]),
            "loss_se": math.nan if se is None else float(se[c]), "accuracy": acc}


def sharpness(surface: Surface, radii: Sequence[float] = DEFAULT_RADII) -> dict[float, dict]:
    """How many decades the loss rises within distance r of θ*:
    max over |p| <= r of log10 L(p) − log10 L(θ*).

    Relative, so two minima of different heights compare: a rise from 0.1 to 0.2 and one from
    1 to 2 are both 0.301 decades. For a bowl c + a(α² + β²) with a grid point at distance r
    it is exactly log10(1 + a r² / c). Points not computed are skipped; a diverged point inside
    the disc gives inf.

    Args:
        surface: 1-D or 2-D surface.
        radii: disc radii in the units of α and β (each > 0).

    Returns:
        {r: {'value', 'se', 'alpha', 'beta', 'skipped'}}: the rise and where the maximum is;
        `se` is NaN here (`summarize` fills it from the jackknife). The value is NaN when
        L(θ*) is not computed or not positive, or when no computed point other than θ* lies
        within r; `skipped` then says why (a radius below the grid step resolves nothing:
        its disc holds θ* alone).

    Raises:
        ValueError: a radius <= 0.
    """
    loss = surface.values("loss")
    logs = log10_positive(loss)
    diverged = _diverged(surface)
    dist = _distance(surface)
    c = surface.center_index
    x, y = _coords(surface)
    l0 = loss[c]
    step = grid_step(surface)
    out: dict[float, dict] = {}
    for r in radii:
        if not r > 0:
            raise ValueError(f"sharpness radii must be > 0, got {r}")
        entry: dict[str, Any] = {"value": math.nan, "se": math.nan, "alpha": None,
                                 "beta": None, "skipped": None}
        inside = dist <= r * (1 + _TOL) + 1e-12
        others = inside & (dist > 0)
        if r < step * (1 - _TOL):
            entry["skipped"] = (f"r={r:g} is below the grid step {step:g}: no grid point but "
                                f"θ* lies within it")
        elif not others.any() or not (others & (np.isfinite(loss) | diverged)).any():
            entry["skipped"] = f"no computed point other than θ* lies within r={r:g}"
        elif not (np.isfinite(l0) and l0 > 0):
            entry["skipped"] = "L(θ*) is not computed or not positive"
        else:
            if (inside & diverged).any():
                entry["value"] = math.inf
            else:
                masked = np.where(inside & np.isfinite(logs), logs, -np.inf)
                k = np.unravel_index(int(np.argmax(masked)), masked.shape)
                entry["value"] = float(masked[k] - logs[c])
                entry["alpha"] = float(x[k[0]])
                entry["beta"] = None if y is None else float(y[k[1]])
        out[float(r)] = entry
    return out


def grid_step(surface: Surface) -> float:
    """Distance from θ* to its nearest grid neighbour: the smallest radius a grid resolves."""
    x, y = _coords(surface)
    c = surface.center_index
    gaps = [np.abs(np.delete(x, c[0]) - x[c[0]]).min(initial=math.inf)]
    if y is not None:
        gaps.append(np.abs(np.delete(y, c[1]) - y[c[1]]).min(initial=math.inf))
    return float(min(gaps))


def _cell_sizes(v: np.ndarray) -> np.ndarray:
    """Width of the cell around each coordinate (half-way to the neighbours; half at the ends)."""
    if v.size == 1:
        return np.ones(1)
    edges = np.concatenate([[v[0]], (v[1:] + v[:-1]) / 2, [v[-1]]])
    return np.abs(np.diff(edges))


def basin(surface: Surface, factor: float = DEFAULT_FACTOR) -> dict[str, Any]:
    """The region where the loss is at most `factor` · L(θ*), and its width at θ*.

    - `fraction`: computed points below the level, over all computed points;
    - `area`: the area in α-β units (length on a line) of the computed cells where the loss,
      interpolated between grid points (bilinearly in ln L), is below the level;
    - `radius`: the distance from θ* to the nearest point where the interpolated loss
      crosses the level (`landscape.analysis.basin`). For a bowl c + a(α² + β²) it is
      sqrt((factor − 1) c / a), to well within a grid step.
    - `radius_limited_by_grid`: True when the nearest crossing is not found before the edge
      of the grid (or a point not computed), so that `radius` is only a lower bound.

    Both move smoothly with the loss values, so the jackknife gives them an error (a count of
    grid points would move in whole steps). Diverged points count as above the level; points
    not computed are skipped. NaN everywhere when L(θ*) is not computed or not positive.

    Raises:
        ValueError: factor <= 1.
    """
    from landscape.analysis.basin import basin_area, basin_radius

    if not factor > 1:
        raise ValueError(f"basin factor must be > 1 (the level is factor · L(θ*)), got {factor}")
    loss = surface.values("loss")
    done = np.asarray(surface.done, dtype=bool)
    l0 = loss[surface.center_index]
    level = l0 * factor
    result: dict[str, Any] = {"factor": float(factor), "level": _nan_or(level),
                              "fraction": math.nan, "area": math.nan, "radius": math.nan,
                              "radius_limited_by_grid": False}
    if not (np.isfinite(l0) and l0 > 0) or not done.any():
        return result
    # a hair of slack so that a point exactly on the level (up to rounding) counts as below
    below = done & np.isfinite(loss) & (loss <= level * (1 + 1e-9))
    radius, limited = basin_radius(surface, level)
    result.update(fraction=float(below.sum() / done.sum()),
                  area=basin_area(surface, level), radius=radius,
                  radius_limited_by_grid=limited)
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


def curvature(surface: Surface, *, window: int = DEFAULT_WINDOW) -> dict[str, Any]:
    """Relative curvature at θ*: the Hessian of ln L from a quadratic fit to the points near θ*.

    Fits q(α, β) = c + g·(α, β) + ½ (α, β) H (α, β)ᵀ to ln L at the computed, finite, positive
    points within `window` grid steps of θ* in each direction ((2·window + 1)² points), by
    ordinary least squares: the same fit whether or not the surface stores errors (weighting
    by per-point errors would make the value depend on what a file holds).
    At a minimum (g = 0) the Hessian of ln L is ∇²L / L(θ*), the curvature per unit of loss, so
    two minima of different heights compare. For L = c·exp(a(α² + β²)) both eigenvalues are 2a;
    for a bowl c + a(α² + β²) they tend to 2a/c on a fine grid. In 1-D the fit is
    c + gα + ½hα².

    Returns:
        {'hessian' (list of lists), 'eigenvalues' (ascending), 'eigenvalues_se' (NaN here;
        `summarize` fills them from the jackknife), 'points' used, 'window', 'of': 'ln L'};
        NaN when fewer points than
        unknowns (6 in 2-D, 3 in 1-D) are available.

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
    with np.errstate(divide="ignore", invalid="ignore"):
        lz = np.where(z > 0, np.log(np.where(z > 0, z, 1.0)), np.nan)
    if y is None:
        a = x[sl[0]] - x[c[0]]
        cols = [np.ones_like(a), a, 0.5 * a ** 2]
    else:
        A, B = np.meshgrid(x[sl[0]] - x[c[0]], y[sl[1]] - y[c[1]], indexing="ij")
        cols = [np.ones_like(A), A, B, 0.5 * A ** 2, A * B, 0.5 * B ** 2]
    ok = np.isfinite(lz)
    dim = 1 if y is None else 2
    result: dict[str, Any] = {"hessian": np.full((dim, dim), math.nan).tolist(),
                              "eigenvalues": [math.nan] * dim,
                              "eigenvalues_se": [math.nan] * dim, "points": int(ok.sum()),
                              "window": int(window), "of": "ln L"}
    design = np.stack([col[ok] for col in cols], axis=1)
    n_unknown = design.shape[1]
    if ok.sum() < n_unknown or np.linalg.matrix_rank(design) < n_unknown:
        return result
    coef, *_ = np.linalg.lstsq(design, lz[ok], rcond=None)
    hess = np.array([[coef[2]]]) if y is None else np.array([[coef[3], coef[4]],
                                                            [coef[4], coef[5]]])
    values = np.linalg.eigvalsh(hess)
    result["hessian"] = hess.tolist()
    result["eigenvalues"] = [float(v) for v in values]
    return result


def convexity(surface: Surface) -> dict[str, Any]:
    """Where the surface bends down: the share of grid points whose local Hessian, by finite
    differences of L on the grid, has a clearly negative eigenvalue.

    At every interior point with its whole 3x3 neighbourhood computed and finite (3 points in
    1-D), the slice's Hessian is taken from second differences of L; the point is non-convex
    when its smallest eigenvalue is below −2 of its standard errors, propagated from the
    per-point errors of the loss (`<split>_loss_se`) by the delta method, the covariance of
    the two second differences that share the centre point included. Those errors treat the
    9 points as independent, which for neighbours that share their samples overstates the
    noise of a second difference: the share is a conservative count. A surface without
    per-point errors has no share (NaN): no threshold without errors, and no other rule that
    would make the value depend on what a file stores. A convex bowl scores 0, a saddle
    everywhere 1, the chaotic surface of a deep net without skips in between (Li et al. 2018,
    Sec. 5-6 map the same sign of curvature with the full Hessian). The sign of a curvature
    does not change when L is rescaled, so two surfaces of different heights compare.

    Returns:
        {'nonconvex_fraction', 'se' (binomial, with the Agresti-Coull correction: not 0 at a
        share of 0 or 1), 'points' judged, 'nonconvex_points'}; NaN when no point can be
        judged or the surface has no per-point errors.
    """
    loss = surface.values("loss")
    se = _se(surface)
    x, y = _coords(surface)
    if se is None:
        return _convexity_result(0, 0)
    noise = se
    if y is None:
        if loss.shape[0] < 3:
            return _convexity_result(0, 0)
        h = np.diff(x)
        hh = (h[:-1] + h[1:]) / 2
        second = (loss[2:] - 2 * loss[1:-1] + loss[:-2]) / hh ** 2
        sigma = np.sqrt(noise[2:] ** 2 + 4 * noise[1:-1] ** 2 + noise[:-2] ** 2) / hh ** 2
        lam_min, sig = second, sigma
    else:
        if min(loss.shape) < 3:
            return _convexity_result(0, 0)
        hx = ((x[2:] - x[:-2]) / 2)[:, None]
        hy = ((y[2:] - y[:-2]) / 2)[None, :]
        c = loss[1:-1, 1:-1]
        hxx = (loss[2:, 1:-1] - 2 * c + loss[:-2, 1:-1]) / hx ** 2
        hyy = (loss[1:-1, 2:] - 2 * c + loss[1:-1, :-2]) / hy ** 2
        hxy = (loss[2:, 2:] - loss[2:, :-2] - loss[:-2, 2:] + loss[:-2, :-2]) / (4 * hx * hy)
        n = noise
        sxx = np.sqrt(n[2:, 1:-1] ** 2 + 4 * n[1:-1, 1:-1] ** 2 + n[:-2, 1:-1] ** 2) / hx ** 2
        syy = np.sqrt(n[1:-1, 2:] ** 2 + 4 * n[1:-1, 1:-1] ** 2 + n[1:-1, :-2] ** 2) / hy ** 2
        sxy = np.sqrt(n[2:, 2:] ** 2 + n[2:, :-2] ** 2 + n[:-2, 2:] ** 2
                      + n[:-2, :-2] ** 2) / (4 * hx * hy)
        mean, half = (hxx + hyy) / 2, np.hypot((hxx - hyy) / 2, hxy)
        lam_min = mean - half
        # the eigenvector of λmin gives how much each entry's error moves it (delta method)
        theta = 0.5 * np.arctan2(2 * hxy, hxx - hyy)
        v1, v2 = -np.sin(theta), np.cos(theta)
        # hxx and hyy share the centre point (−2 L(c) / h² in each): their covariance
        cxy = 4 * n[1:-1, 1:-1] ** 2 / (hx ** 2 * hy ** 2)
        sig = np.sqrt((v1 ** 2 * sxx) ** 2 + (2 * v1 * v2 * sxy) ** 2 + (v2 ** 2 * syy) ** 2
                      + 2 * v1 ** 2 * v2 ** 2 * cxy)
    ok = np.isfinite(lam_min) & np.isfinite(sig)
    scale = float(np.nanmax(np.abs(lam_min[ok]))) if ok.any() else 0.0
    bent = ok & (lam_min < -_Z * sig - 1e-12 * scale)
    return _convexity_result(int(ok.sum()), int(bent.sum()))


def _convexity_result(points: int, bent: int) -> dict[str, Any]:
    if points == 0:
        return {"nonconvex_fraction": math.nan, "se": math.nan, "points": 0,
                "nonconvex_points": 0}
    p = bent / points
    shrunk = (bent + 2) / (points + 4)  # Agresti & Coull 1998
    return {"nonconvex_fraction": p, "se": math.sqrt(shrunk * (1 - shrunk) / (points + 4)),
            "points": points, "nonconvex_points": bent}


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
        loss = log10_positive(loss)
    loss = np.where(np.isfinite(loss), loss, np.nan)
    diffs = [np.abs(np.diff(loss, axis=k)).ravel() for k in range(loss.ndim)]
    flat = np.concatenate(diffs)
    flat = flat[np.isfinite(flat)]
    return float(flat.mean()) if flat.size else math.nan


def _extent(surface: Surface) -> dict[str, Any]:
    x, y = _coords(surface)
    return {"alpha": [float(x[0]), float(x[-1])],
            "beta": None if y is None else [float(y[0]), float(y[-1])],
            "shape": list(surface.shape)}


def summarize(surface: Surface, *, radii: Sequence[float] = DEFAULT_RADII,
              factor: float = DEFAULT_FACTOR, window: int = DEFAULT_WINDOW,
              estimates: dict[str, Any] | None = None) -> dict[str, Any]:
    """All metrics of one surface as a JSON-ready dict, each with its jackknife error.

    Args:
        surface: 1-D or 2-D surface.
        radii: sharpness radii (α-β units); one below the grid step is skipped, with the reason.
        factor: the basin is where L <= factor · L(θ*).
        window: half-width of the curvature fit in grid steps.
        estimates: the `landscape.analysis.errors.measure` of this surface (or of the
            ensemble it is the first pair of), when the caller has it; else measured here.

    Returns:
        {'shape', 'extent', 'points': {total, done, not_done, diverged}, 'center',
        'sharpness' {str(r): {value, se, alpha, beta, skipped}}, 'basin' (with radius_se,
        area_se), 'local_minima', 'local_minima_se', 'curvature', 'convexity', 'roughness',
        'roughness_log10', 'roughness_log10_se', 'metrics' {name: {value, se, sd, n, error}},
        'notes'}: the `se` fields are the jackknife errors (NaN without block sums); `notes`
        say which point stood for θ*, what was skipped and why, and what is only a bound.
    """
    from landscape.analysis.errors import as_json, measure, metric_names

    done = np.asarray(surface.done, dtype=bool)
    diverged = _diverged(surface)
    c = surface.center_index
    cen = center(surface)
    sharp = sharpness(surface, radii)
    bas = basin(surface, factor)
    curv = curvature(surface, window=window)
    conv = convexity(surface)
    if estimates is None:
        estimates = measure([surface], radii=radii, factor=factor, window=window)
    names = metric_names(radii, factor)
    err = {name: estimates[name].sampling for name in names}
    cen["loss_se"] = err[names[0]]
    cen["accuracy_se"] = err[names[1]] if cen["accuracy"] is not None else math.nan
    for k, r in enumerate(radii):
        sharp[float(r)]["se"] = err[names[2 + k]]
    nr = 2 + len(radii)
    bas["radius_se"], bas["area_se"] = err[names[nr]], err[names[nr + 1]]
    curv["eigenvalues_se"] = [err[names[nr + 2]], err[names[nr + 3]]][:len(curv["eigenvalues"])]
    conv["grid_se"], conv["se"] = conv["se"], err[names[nr + 4]]
    notes: list[str] = []
    if not cen["on_grid"]:
        where = (f"α = {cen['alpha']:.4g}" if cen["beta"] is None
                 else f"(α, β) = ({cen['alpha']:.4g}, {cen['beta']:.4g})")
        notes.append(f"θ* (the origin) is not a grid point: the nearest point, {where}, "
                     f"stands in for it in every metric")
    n_not_done = int((~done).sum())
    if n_not_done:
        notes.append(f"{n_not_done} of {done.size} points are not computed; every metric "
                     f"skipped them")
    if surface.filled.any():
        notes.append(f"{int(surface.filled.sum())} points are filled by interpolation "
                     f"(--refine): they count in every metric, and in the jackknife each one "
                     f"moves with the computed point nearest it")
    if diverged.any():
        notes.append(f"{int(diverged.sum())} points diverged (NaN/inf loss): counted as high "
                     f"for sharpness, basin and minima, left out of curvature, convexity and "
                     f"roughness")
    if not done[c]:
        notes.append("the centre point is not computed: centre values, sharpness and basin "
                     "are NaN")
    elif not cen["loss"] > 0:
        notes.append("the loss at the centre is not positive: the relative metrics (sharpness, "
                     "basin, curvature of ln L) are NaN")
    if surface.blocks is None:
        notes.append("the surface has no per-block sums (a reference file, an older file or "
                     "streamed data): no metric has an error; recompute it to get them")
    if _se(surface) is None:
        notes.append("the surface has no per-point standard errors: the non-convex share, "
                     "which needs them to tell a bend from noise, is not available")
    reach = _reach(surface)
    for r in radii:
        skipped = sharp[float(r)]["skipped"]
        if skipped and done[c] and cen["loss"] > 0:
            notes.append(f"sharpness at r={r:g} skipped: {skipped}")
        if r > reach * (1 + _TOL):
            notes.append(f"sharpness at r={r:g} uses a disc that leaves the grid "
                         f"(grid reaches {reach:g} from θ*)")
    if bas["radius_limited_by_grid"]:
        notes.append(f"the level {factor:g}·L(θ*) is not crossed before the edge of the "
                     f"computed grid: the basin radius is only a lower bound")
    return {
        "shape": list(surface.shape),
        "extent": _extent(surface),
        "points": {"total": int(done.size), "done": int(done.sum()),
                   "not_done": n_not_done, "diverged": int(diverged.sum())},
        "center": cen,
        "sharpness": {f"{r:g}": v for r, v in sharp.items()},
        "basin": bas,
        "local_minima": len(local_minima(surface)),
        "local_minima_se": err[names[nr + 5]],
        "curvature": curv,
        "convexity": conv,
        "roughness": roughness(surface),
        "roughness_log10": roughness(surface, log=True),
        "roughness_log10_se": err[names[nr + 6]],
        "metrics": as_json(estimates),
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


def _common(axes: list[np.ndarray]) -> list[np.ndarray]:
    """Index arrays into each axis of the coordinates they all share (to 1e-6 of a step)."""
    def tol(v: np.ndarray) -> float:
        return 1e-6 * (float(np.min(np.abs(np.diff(v)))) if v.size > 1 else 1.0)

    shared = axes[0]
    for other in axes[1:]:
        t = min(tol(shared), tol(other))
        shared = np.array([v for v in shared if np.min(np.abs(other - v)) <= t])
    return [np.array([int(np.argmin(np.abs(a - v))) for v in shared], dtype=np.int64)
            for a in axes]


def _crop(surface: Surface, ix: np.ndarray, iy: np.ndarray | None) -> Surface:
    def take(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        a = np.asarray(a)[ix]
        return a if iy is None else a[:, iy]

    return Surface(x=np.asarray(surface.x)[ix],
                   y=None if iy is None else np.asarray(surface.y)[iy],
                   loss=take(surface.loss), accuracy=take(surface.accuracy),
                   done=take(surface.done), meta=dict(surface.meta),
                   extras={k: take(v) for k, v in surface.extras.items()})


def common_region(surfaces: Sequence[Surface]) -> tuple[list[Surface], dict[str, Any]]:
    """The surfaces restricted to the grid points they all share, for a fair comparison.

    Returns:
        The surfaces (unchanged when their grids are equal) and {'cropped': bool, 'alpha':
        [first, last], 'beta': [first, last] or None, 'shape', 'message'}: `message` says what
        was left out, for a warning (empty when nothing was).

    Raises:
        ValueError: 1-D and 2-D surfaces mixed, or fewer than 3 shared coordinates on an axis.
    """
    surfaces = list(surfaces)
    if not surfaces:
        raise ValueError("no surfaces to compare")
    if len({s.ndim for s in surfaces}) > 1:
        raise ValueError("cannot compare a 1-D line with a 2-D surface; give surfaces of one kind")
    xs = _common([np.asarray(s.x, dtype=np.float64) for s in surfaces])
    ys = (None if surfaces[0].y is None
          else _common([np.asarray(s.y, dtype=np.float64) for s in surfaces]))
    shapes = [list(s.shape) for s in surfaces]
    for name, idx in (("α", xs), ("β", ys)):
        if idx is not None and len(idx[0]) < 3:
            grids = "; ".join(_grid_text(s) for s in surfaces)
            raise ValueError(f"the surfaces share only {len(idx[0])} {name} coordinates ({grids}):"
                             f" too few to compare; compute them on one grid (same --x and --y)")
    cropped = any(len(ix) != s.shape[0] for ix, s in zip(xs, surfaces, strict=True)) or (
        ys is not None and any(len(iy) != s.shape[1] for iy, s in zip(ys, surfaces, strict=True)))
    out = [_crop(s, xs[k], None if ys is None else ys[k]) if cropped else s
           for k, s in enumerate(surfaces)]
    info: dict[str, Any] = {"cropped": bool(cropped), **_extent(out[0]), "message": ""}
    if cropped:
        info["message"] = (f"the grids differ ({'; '.join(_grid_text(s) for s in surfaces)}): "
                           f"compared only on the {'x'.join(map(str, out[0].shape))} grid points "
                           f"they share, {_grid_text(out[0])}")
        info["original_shapes"] = shapes
    return out, info


def _grid_text(s: Surface) -> str:
    x = np.asarray(s.x, dtype=np.float64)
    text = f"α {x[0]:g}..{x[-1]:g} ({len(x)})"
    if s.y is not None:
        y = np.asarray(s.y, dtype=np.float64)
        text += f", β {y[0]:g}..{y[-1]:g} ({len(y)})"
    return text

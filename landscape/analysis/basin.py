"""The basin of a minimum on the interpolated surface: where ln L stays below a level, as a
radius and an area that move smoothly with the loss values (not in whole grid steps).

Between grid points ln L is interpolated bilinearly (linearly along a line), the way the
refining sampler fills a cell. The radius is the distance from θ* to the nearest crossing of
the level, found along 256 rays (2 on a line) and interpolated linearly between samples an
eighth of a grid step apart; the area is the part of the computed cells where the
interpolated ln L is at most the level, counted on 16 x 16 sub-cells per cell. Both move
continuously as L changes, which is what a jackknife error needs: a count of grid points
moves in jumps, so its replicates are either all equal (an error of 0) or a whole step apart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from landscape.engine.types import Surface

__all__ = ["basin_radius", "basin_area", "RAYS", "SUBCELLS"]

RAYS = 256        # directions searched for the nearest crossing (2-D)
SUBCELLS = 16     # sub-cells per cell and axis counted for the area (2-D; 256 on a line)
_STEP = 1 / 8     # ray samples per grid step


def _log_grid(surface: Surface) -> np.ndarray:
    """ln L: +inf where a computed point diverged or is not positive, NaN where there is no
    value (not computed, not filled)."""
    loss = surface.values("loss")
    has = surface.has_value
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(loss > 0, np.log(np.where(loss > 0, loss, 1.0)), np.inf)
    u = np.where(has & ~np.isfinite(loss), np.inf, u)
    return np.where(has, u, np.nan)


def _locate(axis: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i = np.clip(np.searchsorted(axis, p, side="right") - 1, 0, len(axis) - 2)
    t = (p - axis[i]) / (axis[i + 1] - axis[i])
    return i, np.clip(t, 0.0, 1.0)


def _interpolate(u: np.ndarray, x: np.ndarray, y: np.ndarray | None, px: np.ndarray,
                 py: np.ndarray | None) -> np.ndarray:
    """Bilinear (linear) interpolation of `u` at the points; inf when a corner is inf, NaN when
    a corner has no value."""
    i, tx = _locate(x, px)
    if y is None or py is None:
        a, b = u[i], u[i + 1]
        corners = [a, b]
        with np.errstate(invalid="ignore"):
            out = (1 - tx) * a + tx * b
    else:
        j, ty = _locate(y, py)
        corners = [u[i, j], u[i + 1, j], u[i, j + 1], u[i + 1, j + 1]]
        with np.errstate(invalid="ignore"):
            out = ((1 - tx) * (1 - ty) * corners[0] + tx * (1 - ty) * corners[1]
                   + (1 - tx) * ty * corners[2] + tx * ty * corners[3])
    stacked = np.stack(corners)
    out = np.where(np.isinf(stacked).any(0), np.inf, out)
    return np.where(np.isnan(stacked).any(0), np.nan, out)


def basin_radius(surface: Surface, level: float) -> tuple[float, bool]:
    """Distance from θ* (the centre point) to the nearest point where the interpolated loss
    exceeds `level`, and whether the grid (or a point not computed) limits it, so that it is
    only a lower bound.

    For a bowl L = c + a r² the crossing is at sqrt((level − c) / a), up to the interpolation
    of ln L between grid points. A diverged point counts as above the level; the crossing
    next to it is put at the last sample below.
    """
    if not (np.isfinite(level) and level > 0):
        return math.nan, False
    u = _log_grid(surface)
    target = math.log(level)
    x = np.asarray(surface.x, dtype=np.float64)
    y = None if surface.y is None else np.asarray(surface.y, dtype=np.float64)
    c = surface.center_index
    ox = x[c[0]]
    steps = [np.min(np.diff(x))] + ([] if y is None else [np.min(np.diff(y))])
    ds = _STEP * float(min(steps))
    if y is None:
        dirs = np.array([[-1.0], [1.0]])
        oy = 0.0
    else:
        angles = 2 * np.pi * np.arange(RAYS) / RAYS
        dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        oy = y[c[1]]
    reach = np.array([_reach(ox, x, d[0]) if y is None else
                      min(_reach(ox, x, d[0]), _reach(oy, y, d[1])) for d in dirs])
    count = int(np.ceil(reach.max() / ds)) + 2
    s = np.minimum(np.arange(count)[None, :] * ds, reach[:, None])  # (rays, samples)
    px = ox + s * dirs[:, :1]
    py = None if y is None else oy + s * dirs[:, 1:]
    v = _interpolate(u, x, y, px.ravel(), None if py is None else py.ravel()).reshape(s.shape)
    over = ~(v <= target)  # above, diverged or unknown
    rows = np.arange(len(dirs))
    k = np.where(over.any(1), np.argmax(over, axis=1), count - 1)
    prev = np.maximum(k - 1, 0)
    vk, vp = v[rows, k], v[rows, prev]
    sk, sp = s[rows, k], s[rows, prev]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((target - vp) / (vk - vp), 0.0, 1.0)
    dist = np.where(np.isfinite(vk) & (k > 0), sp + frac * (sk - sp), sp)
    dist = np.where(over.any(1), dist, reach)
    edge = ~over.any(1) | np.isnan(vk)
    best = int(np.argmin(dist))
    return float(dist[best]), bool(edge[best])


def _reach(origin: float, axis: np.ndarray, direction: float) -> float:
    if direction > 1e-12:
        return float((axis[-1] - origin) / direction)
    if direction < -1e-12:
        return float((axis[0] - origin) / direction)
    return math.inf


def basin_area(surface: Surface, level: float) -> float:
    """Area (length on a line) in α-β units of the computed cells where the interpolated loss
    is at most `level`; cells with a corner not computed are left out."""
    if not (np.isfinite(level) and level > 0):
        return math.nan
    u = _log_grid(surface)
    target = math.log(level)
    x = np.asarray(surface.x, dtype=np.float64)
    mid = (np.arange(SUBCELLS ** (2 if surface.y is None else 1)) + 0.5) / (
        SUBCELLS ** (2 if surface.y is None else 1))
    if surface.y is None:
        a, b = u[:-1, None], u[1:, None]
        with np.errstate(invalid="ignore"):
            v = (1 - mid) * a + mid * b
        v = np.where(np.isinf(a) | np.isinf(b), np.inf, v)
        ok = np.isfinite(a[:, 0]) | np.isinf(a[:, 0])
        ok &= np.isfinite(b[:, 0]) | np.isinf(b[:, 0])
        share = (v <= target).mean(axis=1)
        return float((share * np.diff(x))[ok].sum())
    y = np.asarray(surface.y, dtype=np.float64)
    tx, ty = np.meshgrid(mid, mid, indexing="ij")
    tx, ty = tx.ravel(), ty.ravel()
    c00, c10 = u[:-1, :-1, None], u[1:, :-1, None]
    c01, c11 = u[:-1, 1:, None], u[1:, 1:, None]
    with np.errstate(invalid="ignore"):
        v = ((1 - tx) * (1 - ty) * c00 + tx * (1 - ty) * c10 + (1 - tx) * ty * c01
             + tx * ty * c11)
    corners = np.stack([c00[..., 0], c10[..., 0], c01[..., 0], c11[..., 0]])
    v = np.where(np.isinf(corners).any(0)[..., None], np.inf, v)
    ok = ~np.isnan(corners).any(0)
    share = (v <= target).mean(axis=-1)
    cells = np.diff(x)[:, None] * np.diff(y)[None, :]
    return float((share * cells)[ok].sum())


def describe() -> dict[str, Any]:
    """The resolution settings, for a report."""
    return {"rays": RAYS, "subcells": SUBCELLS, "ray_step_of_grid_step": _STEP}

"""Training trajectories: PCA directions of the optimization path, the path projected on them,
and the surface they span (the pictures are in `landscape.pictures.trajectory`).

Li et al. 2018 (arXiv:1712.09913, Sec. 7): random directions are nearly orthogonal to the low
dimensional path SGD takes, so the path looks like noise in a random plane. Instead, stack the
checkpoints as rows θ_i − θ_n (θ_n the final weights), take the two leading principal directions
of that matrix (by SVD), project the path on them and draw the loss surface spanned by them
around θ_n with the path over its contours. The explained-variance ratios say how much of the
path lives in the plane.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from landscape.engine.directions import IGNORES, Ignore
from landscape.engine.evaluate import LossFn, evaluate_points
from landscape.engine.grid import Axis, Grid
from landscape.engine.params import dot, get_params, state_tensors
from landscape.engine.placement import as_data, resolve_device
from landscape.engine.surface import compute_surface
from landscape.engine.types import Params, Surface

if TYPE_CHECKING:
    pass

__all__ = ["Trajectory", "pca_directions", "project_path", "path_grid", "trajectory_surface"]


@dataclass(frozen=True)
class Trajectory:
    """A path projected on its PCA plane, with the surface of that plane around θ_n."""

    directions: list[Params]         # the PCA directions (unit norm, orthogonal)
    explained: np.ndarray            # (k,) explained-variance ratio of each direction
    coords: np.ndarray               # (n, k) the checkpoints' coordinates; the last is θ_n = 0
    surface: Surface | None          # the loss on a grid spanned by the first two directions
    path_loss: np.ndarray | None     # (n,) loss at each projected point of the path


def _moving_keys(final: Params, ignore: Ignore) -> list[str]:
    if ignore not in IGNORES:
        raise ValueError(f"ignore must be one of {list(IGNORES)}, got {ignore!r}")
    return [k for k, t in final.items() if t.is_floating_point() and
            (ignore == "none" or t.dim() > 1)]


def pca_directions(path: Sequence[Params], final: Params | None = None, *,
                   n_components: int = 2, ignore: Ignore = "biasbn", center: bool = True
                   ) -> tuple[list[Params], np.ndarray]:
    """Principal directions of a training path (Li et al. 2018, Sec. 7).

    Args:
        path: the checkpoints' weights in training order (named tensors, all alike).
        final: θ_n, the point the surface is drawn around; default `path[-1]`, which is then
            not a row (its row would be zero).
        n_components: how many directions.
        ignore: `biasbn` leaves 1-D tensors (biases, BN) out of the PCA and gives them zero
            directions, as random directions do; `none` keeps them.
        center: subtract the mean row before the SVD (PCA proper, as the reference code's
            scikit-learn PCA); False takes the SVD of the rows θ_i − θ_n themselves.

    Returns:
        `n_components` orthonormal directions keyed like `final` (float64 math, cast back to
        each tensor's dtype) and their explained-variance ratios s_i² / Σ_j s_j². A direction's
        sign is chosen so that the first checkpoint has a non-negative coordinate on it.

    Raises:
        ValueError: fewer rows than components, or checkpoints that do not match by name/shape.
    """
    if final is None:
        if len(path) < 2:
            raise ValueError(f"a path needs at least 2 checkpoints, got {len(path)}")
        final, rows_from = path[-1], list(path[:-1])
    else:
        rows_from = list(path)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if len(rows_from) < n_components + (1 if center else 0):
        raise ValueError(f"{len(rows_from)} checkpoints (besides the final one) cannot give "
                         f"{n_components} {'centred ' if center else ''}principal directions; "
                         f"save checkpoints more often")
    keys = _moving_keys(final, ignore)
    for i, theta in enumerate(rows_from):
        bad = [k for k in keys if k not in theta or theta[k].shape != final[k].shape]
        if bad:
            raise ValueError(f"checkpoint {i} does not match the final weights: {bad[:5]}")
    matrix = torch.stack([torch.cat([(theta[k].double().cpu() - final[k].double().cpu())
                                     .reshape(-1) for k in keys]) for theta in rows_from])
    centred = matrix - matrix.mean(0, keepdim=True) if center else matrix
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    power = s.pow(2)
    total = float(power.sum())
    explained = (power / total).numpy() if total > 0 else np.zeros(len(s))
    sizes = [final[k].numel() for k in keys]
    directions = []
    for i in range(n_components):
        v = vh[i]
        if float(matrix[0] @ v) < 0:
            v = -v
        parts = dict(zip(keys, v.split(sizes), strict=True))
        directions.append({k: (parts[k].reshape(t.shape).to(t) if k in parts
                               else torch.zeros_like(t)) for k, t in final.items()})
    return directions, explained[:n_components].copy()


def project_path(path: Sequence[Params], final: Params, directions: Sequence[Params]
                 ) -> np.ndarray:
    """(n, k) coordinates c_i minimizing ‖θ_i − θ_n − Σ_j c_ij d_j‖ (least squares).

    For orthonormal directions (from `pca_directions`) this is c_ij = <θ_i − θ_n, d_j>; the
    Gram matrix handles any other linearly independent directions.
    """
    gram = np.array([[dot(a, b) for b in directions] for a in directions])
    out = []
    for theta in path:
        delta = {k: theta[k].double().cpu() - final[k].double().cpu() for k in final}
        rhs = np.array([dot(delta, {k: d[k].double().cpu() for k in final})
                        for d in directions])
        out.append(np.linalg.solve(gram, rhs))
    return np.asarray(out)


def path_grid(coords: np.ndarray, *, num: int = 21, margin: float = 0.25) -> Grid:
    """A `num` x `num` grid covering the path's coordinates and the origin, with a margin."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    axes = []
    for j in range(2):
        lo, hi = min(float(coords[:, j].min()), 0.0), max(float(coords[:, j].max()), 0.0)
        pad = margin * (hi - lo) if hi > lo else 1.0
        axes.append(Axis(lo - pad, hi + pad, num))
    return Grid(axes[0], axes[1])


def trajectory_surface(model: nn.Module, path: Sequence[Params], data: Any, *,
                       num: int = 21, margin: float = 0.25, ignore: Ignore = "biasbn",
                       center: bool = True, loss_fn: LossFn | None = None,
                       batch_size: int = 256, device: str | torch.device | None = None,
                       out: str | os.PathLike[str] | None = None, resume: bool = False,
                       overwrite: bool = False, meta: dict[str, Any] | None = None,
                       progress: bool = True) -> Trajectory:
    """PCA directions of `path`, the path's coordinates, and the surface around the final point.

    Args:
        model: the network at its final weights θ_n = `path[-1]` (its buffers, e.g. BN
            statistics, are those used); it is not modified.
        path: the checkpoints' parameters in training order, the final one last.
        data: evaluation data, as for `compute_surface`.
        num, margin: the grid (`path_grid`).
        ignore, center: as for `pca_directions`.
        out: HDF5 file for the surface (None: memory only); resume/overwrite as usual.
        (others as for `compute_surface`)
    """
    final = path[-1]
    params = get_params(model)
    missing = sorted(params.keys() ^ final.keys())
    if missing:
        raise ValueError(f"the final checkpoint does not fit the model: {missing[:5]}")
    directions, explained = pca_directions(path, ignore=ignore, center=center)
    coords = project_path(path, final, directions)
    grid = path_grid(coords, num=num, margin=margin)
    dev = resolve_device(device)
    base = {k: t.detach().to(dev) for k, t in final.items()}
    info = {"directions": "pca", "explained_variance": [float(e) for e in explained],
            "path_points": len(path), **(meta or {})}
    surface = compute_surface(model, data, grid, directions=directions, base=base,
                              loss_fn=loss_fn, batch_size=batch_size, device=dev,
                              path=out, resume=resume, overwrite=overwrite, meta=info,
                              progress=progress)
    static = {k: t.to(dev) for k, t in state_tensors(model).items() if k not in base}
    stats = evaluate_points(model, base, [{k: t.to(dev) for k, t in d.items()}
                                          for d in directions], coords, as_data(data, dev),
                            static=static, loss_fn=loss_fn, batch_size=batch_size)
    return Trajectory(directions=directions, explained=explained, coords=coords,
                      surface=surface, path_loss=stats.loss)

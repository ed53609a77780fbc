"""Directions in weight space: random Gaussian, normalized (filter-wise by default), interpolation.

Filter normalization follows Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets",
arXiv:1712.09913, Sec. 4): for every filter j of layer i, δ_ij ← δ_ij / ‖δ_ij‖ · ‖θ_ij‖, so that a
step of 1 along δ moves every filter by its own size and the scale invariance of ReLU + BN
networks no longer distorts the picture.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from landscape.engine.params import cosine
from landscape.engine.types import Params

__all__ = ["Norm", "Ignore", "NORMS", "IGNORES", "random_direction", "normalize_direction",
           "create_directions", "interpolation_direction", "plane_directions", "match_directions",
           "variance_clamped"]

Norm = Literal["filter", "layer", "model", "none"]
Ignore = Literal["biasbn", "none"]
NORMS = ("filter", "layer", "model", "none")
IGNORES = ("biasbn", "none")
_EPS = 1e-10


def random_direction(params: Params, *, generator: torch.Generator | None = None) -> Params:
    """Gaussian N(0, 1) direction with the names, shapes, dtypes and devices of `params`.

    The numbers are drawn on the CPU from `generator`, so a seed gives the same direction on
    any device.
    """
    return {k: torch.randn(p.shape, generator=generator, dtype=torch.float64)
            .to(device=p.device, dtype=p.dtype)
            for k, p in params.items()}


def normalize_direction(direction: Params, params: Params, norm: Norm = "filter",
                        ignore: Ignore = "biasbn") -> Params:
    """Rescale `direction` to the size of `params` (new tensors; the inputs are not changed).

    Args:
        direction: the raw direction, same names and shapes as `params`.
        params: θ*, the weights the direction is normalized against.
        norm: `filter` (each output filter, i.e. each slice along dim 0, gets the norm of the
            matching filter of θ*), `layer` (each tensor), `model` (the whole direction), `none`.
        ignore: `biasbn` gives every 1-D tensor (biases, BN γ/β, running statistics) a zero
            direction, as in Li et al.; `none` keeps them, and a 1-D tensor is then normalized
            as one filter (rescaled to the norm of the whole tensor), never copied from θ*.

    Raises:
        ValueError: on an unknown `norm`/`ignore` or on tensors that do not match.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    if ignore not in IGNORES:
        raise ValueError(f"ignore must be one of {list(IGNORES)}, got {ignore!r}")
    if direction.keys() != params.keys():
        raise ValueError("direction and parameters do not match by name: "
                         f"{sorted(direction.keys() ^ params.keys())[:5]}")
    out: Params = {}
    for k, d in direction.items():
        p = params[k].to(d)
        if d.shape != p.shape:
            raise ValueError(f"direction {k!r} has shape {tuple(d.shape)}, "
                             f"parameter has {tuple(p.shape)}")
        if d.dim() <= 1 and ignore == "biasbn":
            out[k] = torch.zeros_like(d)
        elif norm == "filter" and d.dim() > 1:
            out[k] = _rescale(d.flatten(1), p.flatten(1), dim=1).view_as(d)
        elif norm in ("filter", "layer"):
            out[k] = _rescale(d.reshape(1, -1), p.reshape(1, -1), dim=1).view_as(d)
        else:
            out[k] = d.clone()
    if norm == "model":
        moved = [k for k in out if out[k].dim() > 1 or ignore == "none"]
        d_norm = sum(float(out[k].double().pow(2).sum()) for k in moved) ** 0.5
        p_norm = sum(float(params[k].double().pow(2).sum()) for k in moved) ** 0.5
        for k in moved:
            out[k] = out[k] * (p_norm / (d_norm + _EPS))
    return out


def _rescale(d: Tensor, p: Tensor, dim: int) -> Tensor:
    d_norm = d.double().norm(dim=dim, keepdim=True)
    p_norm = p.double().norm(dim=dim, keepdim=True)
    return (d.double() * (p_norm / (d_norm + _EPS))).to(d.dtype)


def create_directions(params: Params, *, ndim: int = 2, seed: int = 0, norm: Norm = "filter",
                      ignore: Ignore = "biasbn") -> tuple[list[Params], dict[str, float]]:
    """Draw `ndim` independent normalized random directions around `params`.

    The directions come from one `torch.Generator` seeded with `seed`, drawn one after the
    other, so the same seed gives the same directions (on any device).

    Returns:
        The directions and facts about them: `cosine_xy` (cosine between the first two; for
        large models it is close to 0, the directions are nearly orthogonal).
    """
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    generator = torch.Generator().manual_seed(seed)
    dirs = [normalize_direction(random_direction(params, generator=generator), params, norm,
                                ignore) for _ in range(ndim)]
    info = {"cosine_xy": cosine(dirs[0], dirs[1])} if ndim == 2 else {}
    return dirs, info


def interpolation_direction(theta1: Params, theta2: Params) -> Params:
    """θ2 − θ1, so that θ1 + α(θ2 − θ1) walks from θ1 (α = 0) to θ2 (α = 1)."""
    theta2 = match_directions(theta2, theta1)
    return {k: (theta2[k].to(theta1[k]) - theta1[k]) for k in theta1}


def plane_directions(theta0: Params, theta1: Params, theta2: Params) -> list[Params]:
    """The plane through three points with θ0 at (0, 0), θ1 at (1, 0) and θ2 at (0, 1)."""
    return [interpolation_direction(theta0, theta1), interpolation_direction(theta0, theta2)]


def match_directions(direction: Params, params: Params) -> Params:
    """Key `direction` by the names of `params`, checking every shape.

    A direction keyed '0', '1', ... (the 2018 reference code's direction files list tensors
    in `parameters()` order) is matched by position.

    Raises:
        ValueError: naming the tensors that are missing, extra or of the wrong shape.
    """
    if direction.keys() != params.keys() and all(k.isdigit() for k in direction):
        ordered = [direction[str(i)] for i in range(len(direction))]
        if len(ordered) != len(params):
            raise ValueError(f"the direction file holds {len(ordered)} tensors but the model has "
                             f"{len(params)}; was it made for another model or dir type?")
        direction = dict(zip(params, ordered, strict=True))
    missing = sorted(params.keys() - direction.keys())
    unexpected = sorted(direction.keys() - params.keys())
    wrong = [f"{k}: direction {tuple(direction[k].shape)} vs model {tuple(p.shape)}"
             for k, p in params.items() if k in direction and direction[k].shape != p.shape]
    if missing or unexpected or wrong:
        raise ValueError("the directions do not fit the model: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"shape mismatches {wrong[:5]}; were they made for another model "
                         "or another --dir-type?")
    return {k: direction[k].to(device=p.device, dtype=p.dtype) for k, p in params.items()}


def variance_clamped(base: Params, directions: list[Params], coordinates: np.ndarray
                     ) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Where moving BN running statistics along `directions` makes a variance negative.

    With `dir_type='states'` an interpolation moves every `running_var` linearly too; outside
    [0, 1] (extrapolation) an entry that shrinks from θ_A to θ_B goes below zero at some α,
    where BN is undefined.

    Args:
        base: the origin (states, keyed like the model's `state_dict`).
        directions: one or two directions keyed like `base`.
        coordinates: (points, len(directions)) grid coordinates (`Grid.coordinates()`).

    Returns:
        A bool array (points,): True where some running variance is negative; and for one
        direction the interval [lo, hi] of α where every variance is >= 0 (None otherwise).
    """
    keys = [k for k in base if k.endswith("running_var")]
    coords = np.asarray(coordinates, dtype=np.float64).reshape(len(coordinates), -1)
    bad = np.zeros(len(coords), dtype=bool)
    lo, hi = -np.inf, np.inf
    for k in keys:
        v = base[k].detach().double().cpu().numpy().ravel()
        ds = [d[k].detach().double().cpu().numpy().ravel() for d in directions]
        values = v[None, :] + sum(coords[:, i:i + 1] * d[None, :] for i, d in enumerate(ds))
        bad |= (values < 0).any(axis=1)
        if len(ds) == 1:
            d = ds[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = -v / d
            if (d > 0).any():
                lo = max(lo, float(cross[d > 0].max()))
            if (d < 0).any():
                hi = min(hi, float(cross[d < 0].min()))
    valid = None
    if len(directions) == 1 and keys:
        valid = (float(lo), float(hi))
    return bad, valid

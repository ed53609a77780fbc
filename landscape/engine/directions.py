"""Directions in weight space: random Gaussian, normalized (filter-wise by default), interpolation.

Filter normalization follows Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets",
arXiv:1712.09913, Sec. 4): for every filter j of layer i, δ_ij ← δ_ij / ‖δ_ij‖ · ‖θ_ij‖, so that a
step of 1 along δ moves every filter by its own size and the scale invariance of ReLU + BN
networks no longer distorts the picture.

For transformers a filter is an output row of a linear layer (a column of a Hugging Face
`Conv1D`, which stores its weight transposed) and a token's row of an embedding; `norm="head"`
makes one attention head's block of a query/key/value or output projection the unit instead.
`parameter_units` reads that layout off a model. The exact rule: docs/concepts/normalization.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from landscape.engine.params import cosine
from landscape.engine.types import Params

__all__ = ["Norm", "Ignore", "NORMS", "IGNORES", "Unit", "random_direction",
           "normalize_direction", "create_directions", "parameter_units",
           "interpolation_direction", "plane_directions", "match_directions", "variance_clamped"]

Norm = Literal["filter", "head", "layer", "model", "none"]
Ignore = Literal["biasbn", "none"]
NORMS = ("filter", "head", "layer", "model", "none")
Unit = tuple[int, int]
"""(axis, size) of a tensor's normalization unit: `size` consecutive slices along `axis`.
The default, a filter, is (0, 1)."""
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
                        ignore: Ignore = "biasbn", *, units: Mapping[str, Unit] | None = None
                        ) -> Params:
    """Rescale `direction` to the size of `params` (new tensors; the inputs are not changed).

    Norms are accumulated in float64 whatever the dtype (a sum of squares of more than about
    65k fp16 entries of size 1 would overflow fp16); the result has the direction's dtype.

    Args:
        direction: the raw direction, same names and shapes as `params`.
        params: θ*, the weights the direction is normalized against.
        norm: `filter` (each unit of a tensor gets the norm of the matching unit of θ*: by
            default each output filter, the slices along dim 0; see `units`), `head` (the same;
            the name records that `units` hold attention heads), `layer` (each tensor), `model`
            (the whole direction), `none`.
        ignore: `biasbn` gives every 1-D tensor (biases, BN and LayerNorm γ/β, running
            statistics) a zero direction, as in Li et al.; `none` keeps them, and a 1-D tensor
            is then normalized as one filter (rescaled to the norm of the whole tensor), never
            copied from θ*.
        units: for `filter`/`head`, a tensor's unit where it is not the filter (0, 1):
            `(axis, size)` makes each run of `size` slices along `axis` one unit
            (`parameter_units` finds them in a model).

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
    units = units or {}
    out: Params = {}
    for k, d in direction.items():
        p = params[k].to(d)
        if d.shape != p.shape:
            raise ValueError(f"direction {k!r} has shape {tuple(d.shape)}, "
                             f"parameter has {tuple(p.shape)}")
        if d.dim() <= 1 and ignore == "biasbn":
            out[k] = torch.zeros_like(d)
        elif norm in ("filter", "head") and d.dim() > 1:
            axis, size = units.get(k, (0, 1))
            out[k] = _rescale_units(d, p, axis, size)
        elif norm in ("filter", "head", "layer"):
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


def _rescale_units(d: Tensor, p: Tensor, axis: int, size: int) -> Tensor:
    """`d` with each unit (`size` consecutive slices along `axis`) rescaled to `p`'s norm."""
    if d.shape[axis] % size:
        raise ValueError(f"a unit of {size} slices does not divide axis {axis} of length "
                         f"{d.shape[axis]}")
    moved_d, moved_p = d.movedim(axis, 0), p.movedim(axis, 0)
    groups = d.shape[axis] // size
    scaled = _rescale(moved_d.reshape(groups, -1), moved_p.reshape(groups, -1), dim=1)
    return scaled.reshape(moved_d.shape).movedim(0, axis).contiguous()


def _rescale(d: Tensor, p: Tensor, dim: int) -> Tensor:
    d_norm = d.double().norm(dim=dim, keepdim=True)
    p_norm = p.double().norm(dim=dim, keepdim=True)
    return (d.double() * (p_norm / (d_norm + _EPS))).to(d.dtype)


def create_directions(params: Params, *, ndim: int = 2, seed: int = 0, norm: Norm = "filter",
                      ignore: Ignore = "biasbn", units: Mapping[str, Unit] | None = None
                      ) -> tuple[list[Params], dict[str, float]]:
    """Draw `ndim` independent normalized random directions around `params`.

    The directions come from one `torch.Generator` seeded with `seed`, drawn one after the
    other, so the same seed gives the same directions (on any device). `units` as for
    `normalize_direction`.

    Returns:
        The directions and facts about them: `cosine_xy` (cosine between the first two; for
        large models it is close to 0, the directions are nearly orthogonal).
    """
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim}")
    generator = torch.Generator().manual_seed(seed)
    dirs = [normalize_direction(random_direction(params, generator=generator), params, norm,
                                ignore, units=units) for _ in range(ndim)]
    info = {"cosine_xy": cosine(dirs[0], dirs[1])} if ndim == 2 else {}
    return dirs, info


_HEAD_COUNTS = ("heads", "num_heads", "n_head", "n_heads", "num_attention_heads")
_IN_PROJECTIONS = ("qkv", "c_attn", "q_proj", "k_proj", "v_proj", "query", "key", "value",
                   "Wqkv", "query_key_value")
_OUT_PROJECTIONS = ("proj", "c_proj", "out_proj", "o_proj", "dense", "out")


def _weight_axes(module: nn.Module) -> tuple[int, int] | None:
    """(output axis, input axis) of a layer's 2-D weight: Linear (out, in), a Hugging Face
    Conv1D (in, out); None for other modules."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        return None
    if type(module).__name__ == "Conv1D" and getattr(module, "nf", None) == weight.shape[1]:
        return 1, 0
    return 0, 1


def parameter_units(model: nn.Module, params: Params, *, per_head: bool = False
                    ) -> dict[str, Unit]:
    """The normalization unit of each tensor of `params` that is not a filter along dim 0.

    A Hugging Face `Conv1D` (GPT-2's linear layers) stores its weight as (in, out): its filters
    are slices along dim 1. With `per_head`, in every module that states its number of heads
    (`heads`, `num_heads`, `n_head`, ...) or its `head_dim` (which then decides), the weight of
    a query/key/value projection (`qkv`,
    `c_attn`, `q_proj`, ...) is cut into blocks of head_dim output rows, one per head (of q,
    k and v each), and the weight of the output projection (`proj`, `c_proj`, `out_proj`,
    `o_proj`, ...) into blocks of head_dim input columns, the part that reads one head;
    `nn.MultiheadAttention`'s `in_proj_weight` likewise.

    Args:
        model: the network `params` are named after.
        params: the tensors a direction moves (its names select what is returned).
        per_head: attention projections by head.

    Returns:
        name -> (axis, size) for the tensors whose unit differs from (0, 1).
    """
    units: dict[str, Unit] = {}
    for prefix, module in model.named_modules():
        axes = _weight_axes(module)
        name = f"{prefix}.weight" if prefix else "weight"
        if axes is not None and axes[0] != 0 and name in params:
            units[name] = (axes[0], 1)
    if not per_head:
        return units
    for prefix, module in model.named_modules():
        heads = next((getattr(module, a) for a in _HEAD_COUNTS
                      if isinstance(getattr(module, a, None), int)), None)
        head_dim = getattr(module, "head_dim", None)
        head_dim = head_dim if isinstance(head_dim, int) and head_dim > 0 else None
        if not (heads or head_dim) or isinstance(module, nn.Linear):
            continue
        dot = f"{prefix}." if prefix else ""
        inner = getattr(module, "in_proj_weight", None)
        if isinstance(inner, Tensor) and f"{dot}in_proj_weight" in params:
            units[f"{dot}in_proj_weight"] = (0, head_dim or inner.shape[1] // heads)
        for child_name, child in module.named_children():
            axes = _weight_axes(child)
            name = f"{dot}{child_name}.weight"
            if axes is None or name not in params:
                continue
            out_axis, in_axis = axes
            if child_name in _IN_PROJECTIONS:
                size = head_dim or child.weight.shape[in_axis] // heads
                units[name] = (out_axis, size)
            elif child_name in _OUT_PROJECTIONS:
                size = head_dim or child.weight.shape[in_axis] // heads
                units[name] = (in_axis, size)
    return units


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

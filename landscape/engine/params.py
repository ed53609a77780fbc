"""Parameters as named tensors (`Params`) and the few vector operations the engine needs."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from landscape.engine.types import Params
from toolkit import tensors_sha256

__all__ = ["Params", "DirType", "get_params", "state_tensors", "dot", "norm", "combine",
           "cosine", "clone", "tensors_on", "tensors_sha256"]

DirType = Literal["weights", "states"]
DIR_TYPES = ("weights", "states")


def get_params(model: nn.Module, dir_type: DirType = "weights") -> Params:
    """Detached views of what a direction moves.

    `weights`: the parameters (`named_parameters()`); `states`: the parameters and the float
    buffers of `state_dict()` (BN running mean and variance), never `num_batches_tracked`.
    """
    if dir_type == "weights":
        return {k: p.detach() for k, p in model.named_parameters()}
    if dir_type == "states":
        return {k: t for k, t in state_tensors(model).items() if t.is_floating_point()}
    raise ValueError(f"dir_type must be one of {DIR_TYPES}, got {dir_type!r}")


def state_tensors(model: nn.Module) -> Params:
    """Every tensor of `state_dict()` once, detached: a tensor tied under two names (a language
    model's head that is its token embedding) keeps only its first name, as in
    `named_parameters()`. `functional_call` ties the other names to it, and a direction or a
    norm counts it once."""
    seen: set[int] = set()
    out: Params = {}
    for k, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            out[k] = t.detach()
    return out


def clone(params: Params) -> Params:
    return {k: t.detach().clone() for k, t in params.items()}


def dot(a: Params, b: Params) -> float:
    """Σ_k <a_k, b_k> in float64."""
    _check_same_keys(a, b)
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def norm(a: Params) -> float:
    return dot(a, a) ** 0.5


def cosine(a: Params, b: Params) -> float:
    """Cosine of the angle between two directions (NaN when one is zero)."""
    na, nb = norm(a), norm(b)
    return dot(a, b) / (na * nb) if na > 0 and nb > 0 else float("nan")


def combine(base: Params, directions: list[Params], coefficients: list[float]) -> Params:
    """θ = base + Σ_i c_i d_i, as new tensors."""
    out = {k: t.detach().clone() for k, t in base.items()}
    keys = list(out)
    for d, c in zip(directions, coefficients, strict=True):
        _check_same_keys(base, d)
        torch._foreach_add_([out[k] for k in keys], [d[k].to(out[k]) for k in keys], alpha=c)
    return out


def _check_same_keys(a: Params, b: Params) -> None:
    if a.keys() != b.keys():
        missing, extra = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
        raise ValueError(f"tensors do not match by name: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")


def tensors_on(params: Params, device: torch.device | str, dtype: torch.dtype | None = None
               ) -> Params:
    return {k: t.detach().to(device=device, dtype=dtype if t.is_floating_point() else None)
            for k, t in params.items()}

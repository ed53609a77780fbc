"""Curvature of the diagonal blocks of the Hessian: per layer, per residual block, per stage.

A block H_bb is the Hessian of the loss with respect to one group of parameter tensors, the
others held fixed. For each group this gives its largest eigenvalue (Lanczos on H_bb, which
converges to the top of the block's spectrum within a few steps) and its trace. The traces all
come from the same Hutchinson probes: for a Rademacher vector z over every parameter,
E[z_bᵀ(Hz)_b] = tr(H_bb), because the off-diagonal blocks average out; so one Hessian-vector
product per probe gives every block's trace at once (PyHessian's per-layer trace, without a
pass per layer). Groups are read off the parameter names, so a ResNet and its no-skip twin,
which share their names except for the projection shortcuts, compare block by block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape.analysis.hessian import _point, hessian_rows
from landscape.analysis.spectrum import lanczos_quadrature, rademacher
from landscape.engine.evaluate import Data, LossFn
from landscape.engine.types import Params

__all__ = ["BlockCurvature", "Level", "LEVELS", "parameter_groups", "block_curvature"]

Level = Literal["layer", "block", "stage"]
LEVELS = ("layer", "block", "stage")


@dataclass(frozen=True)
class BlockCurvature:
    """The curvature of one diagonal block H_bb of the Hessian."""

    name: str
    parameters: int          # n_b, the size of the block
    tensors: list[str]       # the parameter tensors it covers
    top_eigenvalue: float    # largest Ritz value of H_bb after `steps` Lanczos steps
    steps: int               # Lanczos steps run (fewer when the block is exhausted)
    trace: float             # Hutchinson's tr(H_bb)
    trace_stderr: float      # its standard error over the probes (NaN for one probe)
    probes: int

    def record(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        out = asdict(self)
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in out.items()}


def parameter_groups(names: Iterable[str], level: Level) -> dict[str, list[str]]:
    """Group parameter names by layer (their module), residual block or stage, in order.

    A block is the name up to its first numeric part (`layer1.0.conv1.weight` -> `layer1.0`,
    `transformer.h.3.attn.c_attn.weight` -> `transformer.h.3`), a stage the name before it
    (`layer1`, `transformer.h`); a name with no numeric part (a stem or a head, `conv1.weight`,
    `linear.bias`) is its own block and stage by its first part.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    groups: dict[str, list[str]] = {}
    for name in names:
        parts = name.split(".")
        if level == "layer":
            key = ".".join(parts[:-1]) or name
        else:
            index = next((i for i, p in enumerate(parts[:-1]) if p.isdigit()), None)
            if index is None:
                key = parts[0]
            else:
                key = ".".join(parts[:index + 1] if level == "block" else parts[:index]) \
                    or parts[0]
        groups.setdefault(key, []).append(name)
    return groups


def block_curvature(model: nn.Module, data: Data, groups: Mapping[str, Sequence[str]], *,
                    steps: int = 20, probes: int = 20, params: Params | None = None,
                    loss_fn: LossFn | None = None, seed: int = 0, batch_size: int = 256,
                    progress: bool = False) -> list[BlockCurvature]:
    """Top eigenvalue and trace of the diagonal Hessian block of each group of tensors.

    All groups advance together, sharing one gradient graph per data batch; groups holding the
    same tensors (a layer that is also a block) are computed once.

    Args:
        model, data, loss_fn, batch_size: as for `landscape.hessian.hvp`.
        groups: name -> parameter tensor names (e.g. from `parameter_groups`).
        steps: Lanczos steps on each block (one product of the block each).
        probes: Hutchinson probes for the traces (one full product each, shared by all blocks).
        params: the point θ (default: the model's parameters); every grouped tensor must be
            among them.
        seed: seeds the starting vectors and the probes.
        progress: a tqdm bar over the steps.

    Returns:
        One `BlockCurvature` per group, in the order of `groups`.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if probes < 1:
        raise ValueError(f"probes must be >= 1, got {probes}")
    point = _point(model, params)
    products, keys = hessian_rows(model, point, data, loss_fn, batch_size)
    index = {k: i for i, k in enumerate(keys)}
    supports: dict[tuple[int, ...], list[str]] = {}
    for name, tensors in groups.items():
        missing = [t for t in tensors if t not in index]
        if missing or not tensors:
            raise ValueError(f"group {name!r} names tensors that are not parameters of the "
                             f"point: {missing[:3] or '(none)'}; group the names of "
                             f"model.named_parameters()")
        supports.setdefault(tuple(index[t] for t in tensors), []).append(name)
    order = list(supports)
    sizes = [point[k].numel() for k in keys]
    like = next(iter(point.values()))
    generator = torch.Generator().manual_seed(seed)
    starts = [rademacher(sum(sizes[i] for i in s), like, generator) for s in order]
    from tqdm.auto import tqdm

    with tqdm(total=steps + 1, desc="blocks", unit="step", disable=not progress,
              dynamic_ncols=True) as bar:
        nodes, _, _ = lanczos_quadrature(
            lambda active, vectors: products(vectors, [order[r] for r in active]), starts,
            steps, progress=bar)
        zs = [rademacher(sum(sizes), like, generator) for _ in range(probes)]
        hz = products(zs, [None] * probes)
        bar.update(1)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out: dict[str, BlockCurvature] = {}
    for row, support in enumerate(order):
        samples = np.array([sum(float(torch.dot(z[offsets[i]:offsets[i + 1]],
                                                h[offsets[i]:offsets[i + 1]]))
                                for i in support) for z, h in zip(zs, hz, strict=True)])
        se = float(samples.std(ddof=1) / np.sqrt(probes)) if probes > 1 else float("nan")
        for name in supports[support]:
            out[name] = BlockCurvature(
                name=name, parameters=sum(sizes[i] for i in support),
                tensors=[keys[i] for i in support],
                top_eigenvalue=float(np.nanmax(nodes[row])),
                steps=int(np.isfinite(nodes[row]).sum()), trace=float(samples.mean()),
                trace_stderr=se, probes=probes)
    return [out[name] for name in groups]

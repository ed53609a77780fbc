"""Curvature of the loss: Hessian-vector products, extreme eigenvalues, trace, eigenvalue maps.

Everything is matrix-free: the Hessian H = ∇²L(θ) of the mean loss over the data is only ever
applied to a vector, by double backward through `torch.func.functional_call` (Pearlmutter's
trick), with the model in eval mode (BN uses its running statistics, as the surface does). The
model itself is never changed.

- `hvp`, `hessian_rows`: H v; many vectors (or vectors of diagonal blocks H_bb) on one
  gradient graph per batch, as the spectral density (`spectrum`) and the blocks (`blocks`) use.
- `top_eigenvalues`: the k largest eigenvalues, by Lanczos with full re-orthogonalization (default)
  or by power iteration with deflation.
- `min_eigenvalue`: the most negative eigenvalue (Lanczos on the bottom end, or power iteration
  on the shifted operator σI − H).
- `hutchinson_trace`: tr(H) ≈ mean of zᵀHz over Rademacher vectors z.
- `eigen_map`: λ_min and λ_max at every point θ* + αδ + βη of a grid, written into the surface
  file as `min_eig` and `max_eig` (the names of the 2018 reference code), with `eig_converged`
  saying whether the Lanczos run met its tolerance there; resumable. The map of |λ_min/λ_max|
  is Li et al. 2018 (arXiv:1712.09913), Sec. 6: blue where the landscape is convex (positive
  curvature dominates), yellow where there is significant negative curvature.
- `hessian_directions`: the top-2 eigenvectors, usable as `directions=` for `compute_surface`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape.engine import store
from landscape.engine.directions import (
    Ignore,
    Norm,
    create_directions,
    match_directions,
    normalize_direction,
    parameter_units,
)
from landscape.engine.evaluate import Data, LossFn, default_loss, eval_mode
from landscape.engine.grid import Grid
from landscape.engine.params import combine, get_params
from landscape.engine.placement import as_data, check_basis_memory, resolve_device
from landscape.engine.provenance import check_recorded
from landscape.engine.surface import compute_surface
from landscape.engine.types import Params, Surface

__all__ = ["Eigen", "TraceEstimate", "Method", "METHODS", "hvp", "hessian_rows",
           "top_eigenvalues", "min_eigenvalue", "hutchinson_trace", "hessian_directions",
           "eigen_map", "eigen_ratio", "EIGEN_DATASETS", "RATIO_MAX"]

Method = Literal["lanczos", "power"]
METHODS = ("lanczos", "power")
EIGEN_DATASETS = ("min_eig", "max_eig", "eig_done", "eig_converged")
RATIO_MAX = 0.5
"""The top of the |λ_min/λ_max| colour scale by default, as in Li et al. 2018, Fig. 7."""
_Which = Literal["largest", "smallest", "both"]
MatVec = Callable[[Tensor], Tensor]
Products = Callable[[Sequence[Tensor], Sequence[Sequence[int] | None]], list[Tensor]]


@dataclass(frozen=True)
class Eigen:
    """Eigenpairs of the Hessian found by an iterative method."""

    values: np.ndarray       # (k,) float64; largest first (top) or smallest first (min)
    vectors: list[Params]    # k unit-norm eigenvectors keyed like the parameters
    matvecs: int             # Hessian-vector products spent
    converged: bool          # every value met the tolerance within the iteration budget


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of tr(H) with the standard error of the mean over the probes."""

    trace: float
    stderr: float            # NaN for a single probe
    samples: int


# ------------------------------------------------------------------ Hessian-vector products

def _batches(data: Data, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        inputs, targets = data
        for s in range(0, len(inputs), batch_size):
            yield inputs[s:s + batch_size], targets[s:s + batch_size]
    else:
        yield from data


def _loss_sum(model: nn.Module, weights: Params, x: Tensor, y: Tensor, loss_fn: LossFn) -> Tensor:
    """Σ of per-sample losses over the batch (a reduced loss is scaled back by the batch size)."""
    losses = loss_fn(functional_call(model, weights, (x,)), y)
    return losses * len(y) if losses.dim() == 0 else losses.sum()


def hessian_rows(model: nn.Module, point: Params, data: Data, loss_fn: LossFn | None,
                 batch_size: int) -> tuple[Products, list[str]]:
    """Products of many vectors with H, or with its diagonal blocks, sharing one gradient graph.

    Returns `(products, keys)`: `products(vectors, supports)` gives one product per vector.
    Vector r lives on the parameter tensors `supports[r]` (indices into `keys`, the order of
    its flat entries; None: all tensors), and its product is the block of H on those tensors
    times it: H_bb v_b (with every tensor: H v). For each data batch the gradient graph is
    built once and every vector takes one second backward pass through it (`retain_graph`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not point:
        raise ValueError("no parameters to take the Hessian with respect to")
    loss_fn = loss_fn or default_loss
    keys = list(point)
    base = [point[k].detach() for k in keys]
    everything = list(range(len(keys)))

    def products(vectors: Sequence[Tensor], supports: Sequence[Sequence[int] | None]
                 ) -> list[Tensor]:
        if len(vectors) != len(supports):
            raise ValueError(f"{len(vectors)} vectors for {len(supports)} supports")
        where = [list(s) if s is not None else everything for s in supports]
        parts = [[t.view(base[i].shape) for t, i in
                  zip(v.split([base[i].numel() for i in idx]), idx, strict=True)]
                 for v, idx in zip(vectors, where, strict=True)]
        out = [torch.zeros_like(v) for v in vectors]
        n = 0
        # attention on its math kernel: the fused ones have no double backward
        with eval_mode(model), torch.enable_grad(), sdpa_kernel([SDPBackend.MATH]):
            for x, y in _batches(data, batch_size):
                ps = [p.clone().requires_grad_(True) for p in base]
                loss = _loss_sum(model, dict(zip(keys, ps, strict=True)), x, y, loss_fn)
                grads = torch.autograd.grad(loss, ps, create_graph=True, allow_unused=True)
                n += len(y)
                for r, (idx, vs) in enumerate(zip(where, parts, strict=True)):
                    terms = [(grads[i] * v.to(grads[i])).sum() for i, v in zip(idx, vs,
                                                                              strict=True)
                             if grads[i] is not None and grads[i].requires_grad]
                    if not terms:  # the loss is at most linear in these tensors: H_bb = 0
                        continue
                    hv = torch.autograd.grad(torch.stack(terms).sum(), [ps[i] for i in idx],
                                             allow_unused=True, retain_graph=r + 1 < len(where))
                    out[r] += torch.cat([h.detach().reshape(-1) if h is not None else
                                         torch.zeros(base[i].numel(), dtype=out[r].dtype,
                                                     device=out[r].device)
                                         for h, i in zip(hv, idx, strict=True)]).to(out[r])
        if n == 0:
            raise ValueError("the data is empty; pass at least one sample")
        return [o / n for o in out]

    return products, keys



def _operator(model: nn.Module, point: Params, data: Data, loss_fn: LossFn | None,
              batch_size: int) -> tuple[MatVec, list[str], list[torch.Size]]:
    """H as a function on flat vectors, for the mean loss at `point` over all of `data`."""
    products, keys = hessian_rows(model, point, data, loss_fn, batch_size)
    return (lambda v: products([v], [None])[0]), keys, [point[k].shape for k in keys]


def _point(model: nn.Module, params: Params | None) -> Params:
    return {k: t.detach() for k, t in (params if params is not None
                                       else get_params(model)).items()}


def _flat(params: Params, keys: list[str]) -> Tensor:
    return torch.cat([params[k].reshape(-1) for k in keys])


def _unflat(v: Tensor, keys: list[str], shapes: list[torch.Size]) -> Params:
    parts = v.split([s.numel() for s in shapes])
    return {k: p.reshape(s).clone() for k, p, s in zip(keys, parts, shapes, strict=True)}


def hvp(model: nn.Module, params: Params | None, data: Data, v: Params,
        loss_fn: LossFn | None = None, *, batch_size: int = 256) -> Params:
    """The Hessian-vector product H v of the mean loss over `data` at `params`.

    Args:
        model: any `nn.Module`; evaluated in eval mode through `functional_call`, not modified.
        params: the point θ (named tensors; a subset of the parameters takes the Hessian with
            respect to that subset, the others stay at the model's values); None: the model's
            own parameters.
        data: `(inputs, targets)` tensors (sliced into batches) or an iterable of batches.
        v: the vector, keyed like `params`.
        loss_fn: per-sample loss `(outputs, targets) -> (B,)` (or a batch mean); default
            cross-entropy.
        batch_size: samples per double-backward pass; the result does not depend on it.

    Returns:
        H v keyed like `params`.
    """
    point = _point(model, params)
    if v.keys() != point.keys():
        raise ValueError(f"v and params differ in names: {sorted(v.keys() ^ point.keys())[:5]}")
    matvec, keys, shapes = _operator(model, point, data, loss_fn, batch_size)
    flat_v = torch.cat([v[k].to(point[k]).reshape(-1) for k in keys])
    return _unflat(matvec(flat_v), keys, shapes)


# ------------------------------------------------------------------ eigen solvers (flat vectors)

def _random_unit(n: int, like: Tensor, generator: torch.Generator) -> Tensor:
    v = torch.randn(n, generator=generator, dtype=torch.float64).to(like)
    return v / v.norm()


def _lanczos(matvec: MatVec, n: int, like: Tensor, k: int, which: _Which, iters: int,
             tol: float, generator: torch.Generator
             ) -> tuple[np.ndarray, np.ndarray, Tensor, int, bool]:
    """Lanczos with full re-orthogonalization; restarts orthogonally on an invariant subspace.

    Returns Ritz values, their coefficient vectors in the basis, the basis (m, n), the number of
    matrix-vector products and whether the wanted values converged: a wanted Ritz pair (θ, y)
    counts as converged when its residual ‖Hy − θy‖ = |β_m s_m| is at most
    `tol`·max(|θ|, 0.01·max|θ_i|) and θ moved by less than that in the last step. The bound is
    relative to θ itself because the bottom of a network's spectrum is a bulk near zero: a Ritz
    value inside the bulk has a small residual long before the most negative eigenvalue shows.
    """
    m_max = min(iters, n)
    check_basis_memory(m_max, n, like)
    basis = torch.zeros(m_max, n, dtype=like.dtype, device=like.device)
    alphas: list[float] = []
    betas: list[float] = []   # betas[j] couples q_j and q_{j+1}; 0 marks a restart
    q = _random_unit(n, like, generator)
    theta = s = np.zeros(0)
    converged = False
    previous: np.ndarray | None = None
    for j in range(m_max):
        basis[j] = q
        w = matvec(q)
        a = float(torch.dot(w, q))
        w = w - a * q
        if j > 0 and betas[-1] != 0.0:
            w = w - betas[-1] * basis[j - 1]
        for _ in range(2):  # twice is enough (Parlett's "twice is enough")
            w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)
        b = float(w.norm())
        alphas.append(a)
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        theta, s = np.linalg.eigh(t)
        scale = max(float(np.abs(theta).max()), np.finfo(np.float64).tiny)
        residual = np.abs(b * s[-1, :])
        wanted = _wanted(len(theta), k, which)
        bound = tol * np.maximum(np.abs(theta[wanted]), 0.01 * scale)
        stable = previous is not None and len(previous) == len(wanted) and bool(
            np.all(np.abs(theta[wanted] - previous) <= bound))
        exact = len(theta) == n  # the Krylov space is the whole space
        converged = len(theta) >= _needed(k, which) and (stable or exact) and bool(
            np.all(residual[wanted] <= bound))
        previous = theta[wanted].copy()
        breakdown = b <= 1e-10 * scale
        # At a breakdown the Krylov space is invariant and every residual is 0, but an
        # eigenvalue of multiplicity > 1 appears in it only once: look on in the complement.
        if (converged and not breakdown) or j + 1 == m_max:
            break
        if breakdown:  # restart orthogonally to the basis so far
            betas.append(0.0)
            q = _random_unit(n, like, generator)
            for _ in range(2):
                q = q - basis[:j + 1].T @ (basis[:j + 1] @ q)
            q = q / q.norm()
        else:
            betas.append(b)
            q = w / b
    m = len(alphas)
    return theta, s, basis[:m], m, converged


def _needed(k: int, which: _Which) -> int:
    return 2 * k if which == "both" else k


def _wanted(m: int, k: int, which: _Which) -> np.ndarray:
    k = min(k, m)
    if which == "largest":
        return np.arange(m - k, m)
    if which == "smallest":
        return np.arange(0, k)
    return np.unique(np.r_[np.arange(0, k), np.arange(m - k, m)])


def _power(matvec: MatVec, n: int, like: Tensor, k: int, iters: int, tol: float,
           generator: torch.Generator, shift: float = 0.0
           ) -> tuple[np.ndarray, list[Tensor], int, bool]:
    """Power iteration on (shift·I − H if shift else H) with Hotelling deflation, k times.

    Finds the eigenvalues of largest magnitude; converged when the Rayleigh quotient changes by
    at most `tol` relative between two steps.
    """
    def op(v: Tensor) -> Tensor:
        hv = matvec(v)
        return shift * v - hv if shift else hv

    values: list[float] = []
    vectors: list[Tensor] = []
    count, all_converged = 0, True
    for _ in range(k):
        v = _random_unit(n, like, generator)
        lam, ok = 0.0, False
        for step in range(iters):
            w = op(v)
            count += 1
            for val, u in zip(values, vectors, strict=True):
                w = w - val * torch.dot(u, v) * u
            new = float(torch.dot(w, v))
            norm = float(w.norm())
            if norm == 0.0:
                lam, ok = 0.0, True
                break
            v = w / norm
            if step > 0 and abs(new - lam) <= tol * max(abs(new), np.finfo(float).tiny):
                lam, ok = new, True
                break
            lam = new
        values.append(lam)
        vectors.append(v)
        all_converged &= ok
    return np.asarray(values), vectors, count, all_converged


def _check(method: str, k: int, iters: int, tol: float) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")


def _ritz(theta: np.ndarray, s: np.ndarray, basis: Tensor, index: np.ndarray, keys: list[str],
          shapes: list[torch.Size]) -> list[Params]:
    out = []
    for i in index:
        y = torch.from_numpy(s[:, i]).to(basis)
        v = y @ basis
        out.append(_unflat(v / v.norm(), keys, shapes))
    return out


def top_eigenvalues(model: nn.Module, data: Data, k: int = 1, *, params: Params | None = None,
                    loss_fn: LossFn | None = None, method: Method = "lanczos", iters: int = 100,
                    tol: float = 1e-3, seed: int = 0, batch_size: int = 256) -> Eigen:
    """The k largest (algebraic) eigenvalues of the Hessian of the mean loss, with eigenvectors.

    Args:
        model, data, loss_fn, batch_size: as for `hvp`.
        k: how many eigenvalues.
        params: the point θ (default: the model's parameters); the Hessian is with respect to
            exactly these tensors.
        method: `lanczos` (full re-orthogonalization; converges to the algebraic top) or
            `power` (power iteration with deflation; finds the k of largest magnitude, which at
            a minimum are the top ones).
        iters: the most Lanczos steps (i.e. Hessian-vector products), or power steps per value.
        tol: relative tolerance: Ritz residual ‖Hy − λy‖ ≤ tol·max(|λ|, 0.01·max|λ_i|) and
            a last step that moved λ by less (Lanczos; the error of λ itself is usually far
            smaller), or relative change of the Rayleigh quotient between two steps (power).
        seed: seeds the random start vector(s).

    Returns:
        `Eigen` with values largest first.
    """
    _check(method, k, iters, tol)
    point = _point(model, params)
    matvec, keys, shapes = _operator(model, point, data, loss_fn, batch_size)
    like = _flat(point, keys)
    n = like.numel()
    if k > n:
        raise ValueError(f"k must be at most the number of parameters ({n}), got {k}")
    generator = torch.Generator().manual_seed(seed)
    if method == "power":
        values, vecs, count, ok = _power(matvec, n, like, k, iters, tol, generator)
        order = np.argsort(-values, kind="stable")
        return Eigen(values=values[order], vectors=[_unflat(vecs[i], keys, shapes) for i in order],
                     matvecs=count, converged=ok)
    theta, s, basis, count, ok = _lanczos(matvec, n, like, k, "largest", iters, tol, generator)
    index = np.argsort(-theta, kind="stable")[:k]
    return Eigen(values=theta[index].copy(), vectors=_ritz(theta, s, basis, index, keys, shapes),
                 matvecs=count, converged=ok)


def min_eigenvalue(model: nn.Module, data: Data, *, params: Params | None = None,
                   loss_fn: LossFn | None = None, method: Method = "lanczos", iters: int = 100,
                   tol: float = 1e-3, seed: int = 0, batch_size: int = 256) -> Eigen:
    """The smallest (most negative) eigenvalue of the Hessian, with its eigenvector.

    `lanczos` runs Lanczos towards the bottom of the spectrum. `power` first finds σ = |λ| of
    largest magnitude, then runs power iteration on σI − H, whose eigenvalues σ − λ_i are all
    ≥ 0, so its dominant one is σ − λ_min (the shift used by the 2018 reference code); its
    absolute error is about `tol`·σ.

    Args and Returns: as for `top_eigenvalues`, with k = 1.
    """
    _check(method, 1, iters, tol)
    point = _point(model, params)
    matvec, keys, shapes = _operator(model, point, data, loss_fn, batch_size)
    like = _flat(point, keys)
    n = like.numel()
    generator = torch.Generator().manual_seed(seed)
    if method == "power":
        dominant, _, c1, ok1 = _power(matvec, n, like, 1, iters, tol, generator)
        sigma = abs(float(dominant[0]))
        if sigma == 0.0:
            return Eigen(values=np.zeros(1), vectors=[_unflat(_random_unit(n, like, generator),
                                                               keys, shapes)],
                         matvecs=c1, converged=ok1)
        mu, vecs, c2, ok2 = _power(matvec, n, like, 1, iters, tol, generator, shift=sigma)
        return Eigen(values=np.array([sigma - mu[0]]), vectors=[_unflat(vecs[0], keys, shapes)],
                     matvecs=c1 + c2, converged=ok1 and ok2)
    theta, s, basis, count, ok = _lanczos(matvec, n, like, 1, "smallest", iters, tol, generator)
    index = np.array([int(np.argmin(theta))])
    return Eigen(values=theta[index].copy(), vectors=_ritz(theta, s, basis, index, keys, shapes),
                 matvecs=count, converged=ok)


def _extremes(model: nn.Module, point: Params, data: Data, loss_fn: LossFn | None,
              iters: int, tol: float, seed: int, batch_size: int) -> tuple[float, float, bool]:
    """(λ_min, λ_max, converged) from one Lanczos run that watches both ends of the spectrum."""
    matvec, keys, _ = _operator(model, point, data, loss_fn, batch_size)
    like = _flat(point, keys)
    generator = torch.Generator().manual_seed(seed)
    theta, _, _, _, converged = _lanczos(matvec, like.numel(), like, 1, "both", iters, tol,
                                         generator)
    return float(theta.min()), float(theta.max()), bool(converged)


def hutchinson_trace(model: nn.Module, data: Data, *, params: Params | None = None,
                     loss_fn: LossFn | None = None, samples: int = 100, seed: int = 0,
                     batch_size: int = 256) -> TraceEstimate:
    """Hutchinson's estimate tr(H) ≈ (1/S) Σ_s z_sᵀ H z_s with Rademacher z_s (±1 entries).

    Unbiased; exact for a diagonal H. Costs one Hessian-vector product per probe.

    Args:
        samples: the number of probes S.
        seed: seeds the probes.
        (others as for `hvp`)
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    point = _point(model, params)
    matvec, keys, _ = _operator(model, point, data, loss_fn, batch_size)
    like = _flat(point, keys)
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(samples):
        z = (torch.randint(0, 2, (like.numel(),), generator=generator) * 2 - 1).to(like)
        values.append(float(torch.dot(z, matvec(z))))
    arr = np.asarray(values)
    stderr = float(arr.std(ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return TraceEstimate(trace=float(arr.mean()), stderr=stderr, samples=samples)


def hessian_directions(model: nn.Module, data: Data, *, params: Params | None = None,
                       loss_fn: LossFn | None = None, iters: int = 100, tol: float = 1e-3,
                       seed: int = 0, batch_size: int = 256, norm: Norm = "none",
                       ignore: Ignore = "none", eigen: Eigen | None = None) -> list[Params]:
    """The top-2 Hessian eigenvectors as two directions for `compute_surface(directions=...)`.

    They are keyed by every parameter of the model (zero for a tensor outside `params`), have
    unit norm (so a grid coordinate is a Euclidean distance in weight space) and a fixed sign
    (the entry of largest magnitude is positive). With `norm='filter'` they are rescaled as
    random directions are (Li et al.); they are then no longer exact eigenvectors. `eigen`:
    reuse the first two vectors of an earlier `top_eigenvalues(k >= 2)` instead of computing.
    """
    if eigen is None:
        eigen = top_eigenvalues(model, data, 2, params=_point(model, params), loss_fn=loss_fn,
                                iters=iters, tol=tol, seed=seed, batch_size=batch_size)
    if len(eigen.vectors) < 2:
        raise ValueError(f"two eigenvectors are needed, got {len(eigen.vectors)}; use k >= 2")
    eig = Eigen(values=eigen.values[:2], vectors=eigen.vectors[:2], matvecs=eigen.matvecs,
                converged=eigen.converged)
    full = get_params(model)
    out = []
    for vec in eig.vectors:
        flat = torch.cat([t.reshape(-1) for t in vec.values()])
        sign = 1.0 if float(flat[flat.abs().argmax()]) >= 0 else -1.0
        d = {k: (sign * vec[k]).to(t) if k in vec else torch.zeros_like(t)
             for k, t in full.items()}
        if norm != "none" or ignore != "none":
            d = normalize_direction(d, full, norm, ignore,
                                    units=parameter_units(model, full, per_head=norm == "head"))
        out.append(d)
    return out


# ------------------------------------------------------------------ eigenvalue maps over a grid

def eigen_map(model: nn.Module, data: Any, grid: Grid, directions: list[Params] | None = None, *,
              base: Params | None = None, path: str | os.PathLike[str] | None = None,
              resume: bool = False, overwrite: bool = False, seed: int = 0,
              norm: Norm = "filter", ignore: Ignore = "biasbn", loss_fn: LossFn | None = None,
              batch_size: int = 256, iters: int = 60, tol: float = 1e-2,
              device: str | torch.device | None = None, split: str = "train",
              meta: dict[str, Any] | None = None, progress: bool = True) -> Surface:
    """λ_min and λ_max of the Hessian at every grid point θ* + αδ (+ βη) (Li et al. 2018, Sec. 6).

    First the loss surface itself is computed (or resumed) with `compute_surface`, so the file
    is a complete surface file; then, point by point, one Lanczos run gives both ends of the
    spectrum, and each finished point is written at once into `path` as `min_eig`, `max_eig`,
    `eig_done` (1.0 when computed) and `eig_converged` (1.0 when the run met `tol` within
    `iters` steps, 0.0 when the values are only the best found so far: with too few steps
    λ_min is often still in the bulk near 0, even of the wrong sign). A rerun with
    `resume=True` skips points already done; a diverged point holds NaN and counts as done.

    Args:
        model, data, grid, directions, base, seed, norm, ignore, loss_fn, batch_size, device,
            split, meta, path, resume, overwrite, progress: as for `compute_surface` (when
            resuming, the directions stored in `path` are used).
        iters, tol: the Lanczos budget per point and its relative tolerance.

    Returns:
        The `Surface` with extras `min_eig`, `max_eig` (NaN where not computed), `eig_done` and
        `eig_converged` (NaN where not known: not computed, or computed by an older version).
    """
    dev = resolve_device(device)
    params = get_params(model)
    origin = {k: t.detach().to(dev) for k, t in (base if base is not None else params).items()}
    resuming = path is not None and resume and Path(path).exists()
    recipe: dict[str, Any] = {}
    if resuming:  # the eigenvalues there were computed with the budget the file records
        check_recorded(store.load_surface(path).meta,  # type: ignore[arg-type]
                       {"eig_iters": iters, "eig_tol": tol}, path, "Lanczos budget")
        directions = store.load_directions(path)  # type: ignore[arg-type]
    elif directions is None:
        directions, _ = create_directions(
            origin, ndim=grid.ndim, seed=seed, norm=norm, ignore=ignore,
            units=parameter_units(model, origin, per_head=norm == "head"))
        recipe = {"directions_drawn": {"seed": seed, "norm": norm, "ignore": ignore}}
    surface = compute_surface(model, data, grid, directions=directions, base=origin,
                              loss_fn=loss_fn, batch_size=batch_size, device=dev, path=path,
                              resume=resume, overwrite=overwrite, split=split,
                              progress=progress,
                              meta={**(meta or {}), **recipe, "eig_iters": iters,
                                    "eig_tol": tol, "eig_method": "lanczos"})
    if path is not None:
        surface = store.load_surface(path)
        directions = store.load_directions(path)
    directions = [match_directions(d, origin) for d in directions[:grid.ndim]]
    maps = {name: surface.extras.get(name, np.full(grid.shape, np.nan)).reshape(-1).copy()
            for name in EIGEN_DATASETS}
    done = maps["eig_done"] == 1.0
    todo = np.flatnonzero(~done)
    coords = grid.coordinates()
    tensors = as_data(data, dev)
    bar = _progress_bar(done.size, int(done.sum()), progress)
    lock = store.writer_lock(path) if path is not None else contextlib.nullcontext()
    with lock:
        for index in todo:
            point = combine(origin, directions, [float(c) for c in coords[index]])
            try:
                lo, hi, ok = _extremes(model, point, tensors, loss_fn, iters, tol, seed,
                                       batch_size)
            except (RuntimeError, np.linalg.LinAlgError):  # NaN/inf weights: a diverged point
                lo = hi = float("nan")
                ok = False
            maps["min_eig"][index], maps["max_eig"][index] = lo, hi
            maps["eig_done"][index] = 1.0
            maps["eig_converged"][index] = float(ok)
            if path is not None:
                store.write_points(path, split, np.array([index]),
                                   {"min_eig": np.array([lo]), "max_eig": np.array([hi]),
                                    "eig_done": np.array([1.0]),
                                    "eig_converged": np.array([float(ok)])})
            bar.update(1)
    bar.close()
    extras = {**surface.extras, **{k: v.reshape(grid.shape) for k, v in maps.items()}}
    return Surface(x=surface.x, y=surface.y, loss=surface.loss, accuracy=surface.accuracy,
                   done=surface.done, meta=surface.meta, extras=extras)


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="eigenvalues", disable=not enabled,
                dynamic_ncols=True)


def eigen_ratio(surface: Surface) -> np.ndarray:
    """|λ_min/λ_max| at every point (NaN where not computed or λ_max = 0)."""
    if "min_eig" not in surface.extras or "max_eig" not in surface.extras:
        raise ValueError("this surface has no eigenvalue maps (min_eig, max_eig); compute them "
                         "with eigen_map or `landscape hessian --x ... --y ...`")
    lo = np.asarray(surface.extras["min_eig"], dtype=np.float64)
    hi = np.asarray(surface.extras["max_eig"], dtype=np.float64)
    done = np.asarray(surface.extras.get("eig_done", np.isfinite(lo)), dtype=np.float64) == 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(lo / hi)
    ratio[~done | ~np.isfinite(ratio)] = np.nan
    return ratio

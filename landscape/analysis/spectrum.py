"""The spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

The n eigenvalues λ_i of the Hessian H of the mean loss are summarised by their density
φ(t) = (1/n) Σ_i δ(t − λ_i), broadened by a Gaussian of width σ. SLQ (Lin, Saad & Yang 2016;
for networks Ghorbani, Krishnan & Xiao 2019 and PyHessian, Yao et al. 2020) estimates it
without forming H: from a random unit vector v, m steps of Lanczos give a tridiagonal T_m whose
eigenvalues θ_j (Ritz values, the nodes) and squared first eigenvector components τ_j (the
weights, summing to 1) form a Gauss quadrature rule: Σ_j τ_j f(θ_j) = vᵀf(H)v exactly for every
polynomial f of degree below 2m, and for any smooth f approximately. With v a normalised
Rademacher vector, E[n·vᵀf(H)v] = tr f(H); averaging the rules of several runs with independent
starts gives the density, and n·Σ_j τ_j θ_j^k of each run an unbiased estimate of
tr(H^k) = Σ λ^k, with a standard error from the spread over the runs.

All runs advance in lockstep: at each Lanczos step one forward and first backward pass per
data batch builds the gradient graph, and every run's Hessian-vector product is a second
backward through that same graph, which is cheaper than one full product per run. Each run
keeps its Lanczos basis and re-orthogonalises fully (twice) at every step, so the Ritz values
carry no spurious copies; a run whose Krylov space becomes invariant stops early, its rule then
being exact. Negative eigenvalues (a saddle, a point off the minimum) need no special care: the
rule places nodes wherever the spectrum is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.analysis.hessian import _flat, _point, hessian_rows
from landscape.engine.evaluate import Data, LossFn
from landscape.engine.types import Params

__all__ = ["Spectrum", "spectral_density", "lanczos_quadrature", "gaussian_density",
           "wasserstein_distance", "default_sigma", "spectrum_record", "spectrum_from_record",
           "rademacher", "DENSITY_POINTS"]

Apply = Callable[[list[int], list[Tensor]], list[Tensor]]
DENSITY_POINTS = 10_000
"""Points of the grid the broadened density is evaluated on, as PyHessian's bins."""


@dataclass(frozen=True)
class Spectrum:
    """The quadrature rules of R Lanczos runs: the SLQ estimate of the Hessian's spectrum."""

    nodes: np.ndarray    # (R, m) Ritz values of each run, ascending; NaN past an early stop
    weights: np.ndarray  # (R, m) their weights τ_j (each row sums to 1); 0 past an early stop
    dimension: int       # n, the number of parameters (and of eigenvalues)
    steps: int           # m, the Lanczos steps asked of each run
    matvecs: int         # Hessian-vector products spent
    seed: int

    @property
    def runs(self) -> int:
        return len(self.nodes)

    def moment(self, power: int) -> tuple[float, float]:
        """Σ_i λ_i^power = tr(H^power) and its standard error over the runs (NaN for one run).

        Each run's n·Σ_j τ_j θ_j^power is an unbiased (Hutchinson) estimate, exact in its
        quadrature for a power below 2m: power 1 is the trace, power 2 the sum of squares
        (the squared Frobenius norm of H).
        """
        nodes = np.nan_to_num(self.nodes, nan=0.0)
        per_run = self.dimension * (self.weights * nodes ** power).sum(axis=1)
        se = float(per_run.std(ddof=1) / np.sqrt(len(per_run))) if len(per_run) > 1 \
            else float("nan")
        return float(per_run.mean()), se

    def extremes(self) -> tuple[float, float]:
        """The smallest and the largest Ritz value of all runs: inner bounds of λ_min, λ_max."""
        return float(np.nanmin(self.nodes)), float(np.nanmax(self.nodes))

    def density(self, *, sigma: float | None = None, points: int = DENSITY_POINTS
                ) -> tuple[np.ndarray, np.ndarray, float]:
        """The Gaussian-broadened density on an even grid: `(grid, density, sigma)`.

        The grid spans the Ritz values with a margin of 1% of their range plus 5σ on each
        side, so each Gaussian lies within it and the density integrates to 1.

        Args:
            sigma: the Gaussian's standard deviation; default `default_sigma` (PyHessian's).
            points: grid points.
        """
        if points < 2:
            raise ValueError(f"points must be >= 2, got {points}")
        low, high = self.extremes()
        width = sigma if sigma is not None else default_sigma(low, high)
        if not width > 0:
            raise ValueError(f"sigma must be > 0, got {width}")
        pad = 0.01 * (high - low) + 5 * width
        grid = np.linspace(low - pad, high + pad, points)
        return grid, gaussian_density(self.nodes, self.weights, grid, width), width


def spectrum_record(spectrum: Spectrum, *, sigma: float | None = None,
                    points: int = DENSITY_POINTS) -> dict[str, Any]:
    """A JSON-ready record: `grid` and `density`, each run's Ritz `nodes` and `weights`, the
    number of `runs` and `steps`, σ, n, the moments with their errors, the extremes and
    `negative_mass`, the estimated share of eigenvalues below −σ."""
    grid, density, width = spectrum.density(sigma=sigma, points=points)
    trace, trace_se = spectrum.moment(1)
    squares, squares_se = spectrum.moment(2)
    low, high = spectrum.extremes()
    # the share of eigenvalues below −σ: negative beyond the picture's resolution (the bulk
    # near 0 holds Ritz values of either sign that say nothing about negative curvature)
    below = float(np.nansum(np.where(spectrum.nodes < -width, spectrum.weights, 0.0))
                  / spectrum.runs)

    def finite(value: float) -> float | None:
        return value if np.isfinite(value) else None

    return {
        "method": "stochastic Lanczos quadrature, full re-orthogonalization, Rademacher starts",
        "runs": spectrum.runs, "steps": spectrum.steps, "seed": spectrum.seed,
        "dimension": spectrum.dimension, "matvecs": spectrum.matvecs, "sigma": width,
        "trace": trace, "trace_stderr": finite(trace_se),
        "sum_squares": squares, "sum_squares_stderr": finite(squares_se),
        "ritz_min": low, "ritz_max": high, "negative_mass": below,
        "grid": grid.tolist(), "density": density.tolist(),
        "ritz": [{"nodes": [float(v) for v in n[np.isfinite(n)]],
                  "weights": [float(w) for w, v in zip(ws, n, strict=True) if np.isfinite(v)]}
                 for n, ws in zip(spectrum.nodes, spectrum.weights, strict=True)],
    }


def spectrum_from_record(record: dict[str, Any]) -> Spectrum:
    """The `Spectrum` a `spectrum_record` (e.g. read back from spectrum.json) was made of."""
    try:
        runs = record["ritz"]
        width = max(len(r["nodes"]) for r in runs)
        nodes = np.full((len(runs), width), np.nan)
        weights = np.zeros((len(runs), width))
        for i, r in enumerate(runs):
            nodes[i, :len(r["nodes"])] = r["nodes"]
            weights[i, :len(r["weights"])] = r["weights"]
        return Spectrum(nodes=nodes, weights=weights, dimension=int(record["dimension"]),
                        steps=int(record["steps"]), matvecs=int(record["matvecs"]),
                        seed=int(record["seed"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not a spectrum record ({type(err).__name__}: {err}); it is the "
                         f"JSON that `landscape hessian --spectrum` writes") from err


def default_sigma(low: float, high: float) -> float:
    """σ = sqrt(1e-5 · max(1, high − low)): PyHessian's variance of 1e-5 of the spectrum's
    range (at least 1e-5), so that isolated outliers stay sharp spikes on a log axis."""
    return float(np.sqrt(1e-5 * max(1.0, high - low)))


def gaussian_density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray,
                     sigma: float) -> np.ndarray:
    """(1/R) Σ_r Σ_j τ_rj N(t; θ_rj, σ²) at every t of `grid`: the runs' rules broadened.

    Args:
        nodes, weights: (R, m) as in `Spectrum` (NaN nodes with weight 0 are ignored).
        grid: (G,) where to evaluate.
        sigma: the Gaussian's standard deviation.
    """
    nodes = np.atleast_2d(np.asarray(nodes, dtype=np.float64))
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    keep = np.isfinite(nodes) & (weights > 0)
    theta, tau = nodes[keep], weights[keep] / len(nodes)
    out = np.zeros(len(grid))
    norm = 1.0 / (sigma * np.sqrt(2 * np.pi))
    for start in range(0, len(theta), 64):  # (G, 64) at a time: bounded memory
        z = (grid[:, None] - theta[None, start:start + 64]) / sigma
        out += (np.exp(-0.5 * z * z) * tau[None, start:start + 64]).sum(axis=1) * norm
    return out


def wasserstein_distance(values_a: np.ndarray, weights_a: np.ndarray | None,
                         values_b: np.ndarray, weights_b: np.ndarray | None) -> float:
    """W1 between two discrete distributions on the line: ∫ |F_a(t) − F_b(t)| dt.

    Weights need not be normalised (None: equal weights); NaN values are dropped.
    """
    def clean(values: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        w = np.ones_like(v) if weights is None else \
            np.asarray(weights, dtype=np.float64).reshape(-1)
        keep = np.isfinite(v) & (w > 0)
        if not keep.any():
            raise ValueError("a distribution has no value with positive weight")
        return v[keep], w[keep] / w[keep].sum()

    va, wa = clean(values_a, weights_a)
    vb, wb = clean(values_b, weights_b)
    points = np.union1d(va, vb)

    def cdf(v: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(v)
        cumulative = np.concatenate([[0.0], np.cumsum(w[order])])
        return cumulative[np.searchsorted(v[order], points[:-1], side="right")]

    cdf_a, cdf_b = cdf(va, wa), cdf(vb, wb)
    return float((np.abs(cdf_a - cdf_b) * np.diff(points)).sum())


# ------------------------------------------------------------------ Lanczos quadrature

def lanczos_quadrature(apply: Apply, starts: Sequence[Tensor], steps: int, *,
                       progress: Any = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Gauss quadrature rules of symmetric operators from R starting vectors, in lockstep.

    Args:
        apply: `apply(runs, vectors)` gives the operator of each run in `runs` (indices into
            `starts`; only those still running) times its vector in `vectors`.
        starts: R starting vectors (normalised here); their lengths may differ (each run may
            have its own operator, e.g. a diagonal block of the Hessian).
        steps: m, the most Lanczos steps per run; a run stops early when its Krylov space is
            invariant (β below 1e-10 of its largest |α|, β), where its rule is exact.
        progress: an object with `update(1)`, called after each step (a tqdm bar).

    Returns:
        nodes (R, m) ascending, NaN past a run's end; weights (R, m), 0 past its end; and the
        number of operator applications spent.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    runs = len(starts)
    m_max = min(steps, max(len(v) for v in starts))
    bases = [torch.zeros(min(steps, len(v)), len(v), dtype=v.dtype, device=v.device)
             for v in starts]
    alphas = np.zeros((runs, m_max))
    betas = np.zeros((runs, m_max))
    length = np.zeros(runs, dtype=int)
    scale = np.zeros(runs)
    active = list(range(runs))
    q = [v / v.norm() for v in starts]
    spent = 0
    for j in range(m_max):
        for i, r in enumerate(active):
            bases[r][j] = q[i]
        w = apply(active, q)
        spent += len(active)
        still, nxt = [], []
        for i, r in enumerate(active):
            v = w[i]
            a = float(torch.dot(v, q[i]))
            v = v - a * q[i]
            if j > 0:
                v = v - betas[r, j - 1] * bases[r][j - 1]
            done = bases[r][:j + 1]
            for _ in range(2):  # full re-orthogonalisation, twice
                v = v - done.T @ (done @ v)
            b = float(v.norm())
            alphas[r, j], length[r] = a, j + 1
            scale[r] = max(scale[r], abs(a), b)
            if j + 1 < len(bases[r]) and b > 1e-10 * max(scale[r], np.finfo(np.float64).tiny):
                betas[r, j] = b
                still.append(r)
                nxt.append(v / b)
        if progress is not None:
            progress.update(1)
        if not still:
            break
        active, q = still, nxt
    nodes = np.full((runs, m_max), np.nan)
    weights = np.zeros((runs, m_max))
    for r in range(runs):
        m = length[r]
        t = np.diag(alphas[r, :m]) + np.diag(betas[r, :m - 1], 1) + np.diag(betas[r, :m - 1], -1)
        theta, s = np.linalg.eigh(t)
        nodes[r, :m] = theta
        weights[r, :m] = s[0] ** 2
    return nodes, weights, spent


def rademacher(n: int, like: Tensor, generator: torch.Generator) -> Tensor:
    """A vector of n random signs ±1 in the dtype and on the device of `like`."""
    return (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(like)


def spectral_density(model: nn.Module, data: Data, *, runs: int = 10, steps: int = 50,
                     params: Params | None = None, loss_fn: LossFn | None = None,
                     seed: int = 0, batch_size: int = 256, progress: bool = False) -> Spectrum:
    """The SLQ estimate of the spectrum of the Hessian of the mean loss over `data`.

    Args:
        model: any `nn.Module`; evaluated in eval mode (BN running statistics), not modified.
        data: `(inputs, targets)` tensors (sliced into batches) or an iterable of batches.
        runs: R, Lanczos runs from independent normalised Rademacher starts (PyHessian: 1 by
            default, Ghorbani et al.: 10); more runs shrink the error of the density and of the
            moments as 1/√R.
        steps: m, Lanczos steps (Hessian-vector products) per run; the rule resolves about m
            distinct parts of the spectrum and is exact for moments below 2m.
        params: the point θ, or a subset of the parameters to take the Hessian with respect to
            (the others stay at the model's values); default: all the model's parameters.
        loss_fn: per-sample loss `(outputs, targets) -> (B,)` (or a batch mean); default
            cross-entropy.
        seed: seeds the starting vectors.
        batch_size: samples per pass; the result does not depend on it.
        progress: show a tqdm bar over the steps.

    Returns:
        The `Spectrum`: every run's nodes and weights, `moment(1)` the trace and `moment(2)`
        Σλ² with standard errors, `density()` the broadened density.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    point = _point(model, params)
    products, keys = hessian_rows(model, point, data, loss_fn, batch_size)
    like = _flat(point, keys)
    generator = torch.Generator().manual_seed(seed)
    starts = [rademacher(like.numel(), like, generator) for _ in range(runs)]
    from tqdm.auto import tqdm

    with tqdm(total=min(steps, like.numel()), desc="spectrum", unit="step",
              disable=not progress, dynamic_ncols=True) as bar:
        nodes, weights, spent = lanczos_quadrature(
            lambda active, vectors: products(vectors, [None] * len(vectors)), starts, steps,
            progress=bar)
    return Spectrum(nodes=nodes, weights=weights, dimension=like.numel(), steps=steps,
                    matvecs=spent, seed=seed)

"""Errors of any number drawn from surfaces: the delete-a-block jackknife over the sample blocks
all points share, paired differences of surfaces on the same blocks, and the spread of an
ensemble of direction pairs.

Every point of a surface averages the same samples, so the errors of neighbouring points are
strongly correlated; a metric built from several points (a rise, a curvature, a basin) has an
error that no per-point formula gets right. The jackknife gets it by construction: each
leave-one-block-out replicate drops the same samples from every point at once, the metric is
recomputed on it, and the spread of the B replicates is the metric's sampling error
(Efron & Stein 1981; Shao & Tu 1995, Sec. 2.3 for the delete-a-group form):

    se² = (B − 1) / B · Σ_b (m_b − m̄)²

It covers the samples (which images the loss is averaged over). It does not cover the choice
of directions: a second pair of random directions through the same θ* gives another slice and
other values. An ensemble of N pairs measures that spread (`sd`), and a mean over N pairs has
the combined error sqrt(se² + sd² / N), se the jackknife of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.engine.types import Surface

__all__ = ["leave_one_out", "replicates", "jackknife_se", "jackknife", "shares_blocks",
           "Estimate", "combine_pairs", "difference"]

Metrics = Callable[[Surface], Mapping[str, float]]


def _nearest_computed(has: np.ndarray) -> np.ndarray:
    """For every grid point, the flat index of a nearest point where `has` is True (by grid
    steps, growing one neighbour ring at a time); -1 where there is none."""
    owner = np.where(has.ravel(), np.arange(has.size), -1).reshape(has.shape)
    while (owner < 0).any():
        grown = owner.copy()
        for axis in range(owner.ndim):
            for shift in (1, -1):
                moved = np.roll(owner, shift, axis=axis)
                edge = [slice(None)] * owner.ndim
                edge[axis] = slice(0, 1) if shift == 1 else slice(-1, None)
                moved[tuple(edge)] = -1
                grown = np.where((grown < 0) & (moved >= 0), moved, grown)
        if (grown == owner).all():
            break
        owner = grown
    return owner


def leave_one_out(surface: Surface) -> tuple[np.ndarray, np.ndarray | None]:
    """The loss (and accuracy) of every point with each block left out in turn.

    A computed point's replicate b is its mean over the samples of the other blocks. A point
    that read no sample of block b (an early stop) keeps its value. A point filled by
    interpolation (`--refine`) moves with the computed point nearest it, by the same factor
    (loss) or the same shift (accuracy): the filled value is an interpolation of computed
    neighbours that share its samples. Points without block sums (diverged, not computed, a
    loss reduced per batch) keep their value.

    Returns:
        (loss (B, *shape), accuracy (B, *shape) or None).

    Raises:
        ValueError: the surface has no block sums.
    """
    blocks = surface.blocks
    if blocks is None:
        raise ValueError("this surface has no per-block sums (written by an older version, "
                         "another program, or from streamed data): its metrics have no "
                         "jackknife error; recompute it with `landscape surface`")
    loss = np.asarray(surface.loss, dtype=np.float64)
    reps = _drop_each(loss, blocks.loss, blocks.n, scale=1.0)
    acc = None
    if surface.accuracy is not None and blocks.correct is not None:
        acc = _drop_each(np.asarray(surface.accuracy, dtype=np.float64), blocks.correct,
                         blocks.n, scale=100.0)
    filled = surface.filled & ~np.asarray(surface.done, dtype=bool)
    if filled.any():
        computed = np.asarray(surface.done, dtype=bool) & np.isfinite(loss)
        owner = _nearest_computed(computed).ravel()
        where = np.flatnonzero(filled.ravel())
        where = where[owner[where] >= 0]
        src = owner[where]
        flat = reps.reshape(len(reps), -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = flat[:, src] / loss.ravel()[src]
        flat[:, where] = loss.ravel()[where] * np.where(np.isfinite(ratio), ratio, 1.0)
        if acc is not None:
            flat_acc = acc.reshape(len(acc), -1)
            base = np.asarray(surface.accuracy, dtype=np.float64).ravel()
            flat_acc[:, where] = base[where] + (flat_acc[:, src] - base[src])
    return reps, acc


def _drop_each(values: np.ndarray, sums: np.ndarray, counts: np.ndarray,
               scale: float) -> np.ndarray:
    total = sums.sum(-1)
    n = counts.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = (total[..., None] - sums) / (n[..., None] - counts) * scale
    rest = np.moveaxis(rest, -1, 0)
    keep = ~np.isfinite(rest) | (np.moveaxis(counts, -1, 0) == 0) | ~np.isfinite(values)
    return np.where(keep, values[None], rest)


def replicates(surface: Surface) -> list[Surface]:
    """The B leave-one-block-out surfaces (see `leave_one_out`), each without block sums."""
    loss, acc = leave_one_out(surface)
    return [Surface(x=surface.x, y=surface.y, loss=loss[b],
                    accuracy=None if acc is None else acc[b], done=surface.done,
                    meta=surface.meta, extras=surface.extras) for b in range(len(loss))]


def jackknife_se(values: np.ndarray) -> np.ndarray:
    """Jackknife standard error from replicates along axis 0: sqrt((B−1)/B Σ (m_b − m̄)²).

    NaN where any replicate is not finite (an infinite or undefined metric has no error), or
    where there are fewer than 2 replicates.
    """
    values = np.asarray(values, dtype=np.float64)
    count = values.shape[0]
    if count < 2:
        return np.full(values.shape[1:], np.nan)
    finite = np.isfinite(values).all(axis=0)
    safe = np.where(finite, values, 0.0)
    dev = safe - safe.mean(axis=0)
    se = np.sqrt((count - 1) / count * (dev ** 2).sum(axis=0))
    return np.where(finite, se, np.nan)


def jackknife(metrics: Metrics, surface: Surface) -> tuple[dict[str, float], dict[str, float],
                                                           np.ndarray]:
    """`metrics(surface)` (a dict of numbers), the jackknife error of each, and the replicate
    values (B, len(metrics)) in the dict's order, for pairing with another surface."""
    value = {k: float(v) for k, v in metrics(surface).items()}
    reps = np.array([[float(m.get(k, math.nan)) for k in value]
                     for m in (metrics(r) for r in replicates(surface))])
    se = jackknife_se(reps) if reps.size else np.full(len(value), np.nan)
    return value, dict(zip(value, (float(s) for s in se), strict=True)), reps


def shares_blocks(a: Surface, b: Surface) -> bool:
    """Whether two surfaces' blocks hold the same samples: the same data (by hash), the same
    order seed and the same number of blocks. Their differences then pair block by block."""
    if a.blocks is None or b.blocks is None:
        return False
    if (a.blocks.count, a.blocks.seed) != (b.blocks.count, b.blocks.seed):
        return False
    ha, hb = (_data_hash(s) for s in (a, b))
    return ha is not None and ha == hb


def _data_hash(surface: Surface) -> str | None:
    spec = surface.meta.get("spec")
    return spec.get("data_sha256") if isinstance(spec, dict) else None


@dataclass(frozen=True)
class Estimate:
    """One number over an ensemble of direction pairs, with its errors.

    `value` is the mean over the `n` pairs, `se` the jackknife error of that mean (samples),
    `grid_se` a part no resampling of the samples shows (a share of grid points: which points
    the slice holds; 0 for the other metrics), `sd` the standard deviation across the pairs
    (NaN for one pair), and `error` the combined standard error
    sqrt(se² + grid_se² + sd²/n) (without the directions' part for one pair: it is unknown).
    """

    value: float
    se: float
    sd: float
    n: int
    replicates: np.ndarray | None  # (B,) the mean's jackknife replicates, for pairing
    grid_se: float = 0.0

    @property
    def sampling(self) -> float:
        """The error from the samples (and the grid points): sqrt(se² + grid_se²)."""
        return math.hypot(self.se, self.grid_se)

    @property
    def error(self) -> float:
        if self.n < 2 or not math.isfinite(self.sd):
            return self.sampling
        return math.sqrt(self.sampling ** 2 + self.sd ** 2 / self.n)

    def as_dict(self) -> dict[str, Any]:
        """{value, se (samples and grid), sd (NaN for one pair), n, error (combined)}."""
        return {"value": self.value, "se": self.sampling, "sd": self.sd, "n": self.n,
                "error": self.error}


def combine_pairs(values: Sequence[float], reps: Sequence[np.ndarray] | None) -> Estimate:
    """The `Estimate` of a metric from its value on each direction pair and, per pair, its B
    jackknife replicates (all pairs on the same blocks): the replicates of the mean are the
    means of the replicates, so the samples' error of the mean counts the pairs' shared
    samples once, not as if they were independent."""
    vals = np.asarray(values, dtype=np.float64)
    n = int(vals.size)
    mean = float(vals.mean()) if n else math.nan
    sd = float(vals.std(ddof=1)) if n > 1 and np.isfinite(vals).all() else math.nan
    mean_reps = None
    se = math.nan
    if reps is not None and len(reps) == n and n:
        stacked = np.stack([np.asarray(r, dtype=np.float64) for r in reps])
        if stacked.ndim == 2 and stacked.shape[1] >= 2:
            mean_reps = stacked.mean(axis=0)
            se = float(jackknife_se(mean_reps[:, None])[0])
    if not math.isfinite(mean):
        se = math.nan
    return Estimate(value=mean, se=se, sd=sd, n=n, replicates=mean_reps)


def difference(a: Estimate, b: Estimate, *, paired: bool) -> dict[str, float]:
    """a − b with its errors: the samples' part paired block by block when `paired` (both on
    the same blocks), else the two errors added in quadrature; the directions' part
    sd_a²/n_a + sd_b²/n_b (the pairs of the two are drawn independently).

    Returns:
        {'value', 'se' (samples), 'sd_part' (directions, NaN with a single pair on either
        side), 'error' (combined)}.
    """
    value = a.value - b.value
    if paired and a.replicates is not None and b.replicates is not None \
            and len(a.replicates) == len(b.replicates):
        se = float(jackknife_se((a.replicates - b.replicates)[:, None])[0])
    else:
        se = math.hypot(a.se, b.se)
    se = math.hypot(se, a.grid_se, b.grid_se)
    if a.n > 1 and b.n > 1 and math.isfinite(a.sd) and math.isfinite(b.sd):
        sd_part = math.sqrt(a.sd ** 2 / a.n + b.sd ** 2 / b.n)
        error = math.hypot(se, sd_part)
    else:
        sd_part = math.nan
        error = se
    if not math.isfinite(value):
        se = error = math.nan
    return {"value": value, "se": se, "sd_part": sd_part, "error": error}

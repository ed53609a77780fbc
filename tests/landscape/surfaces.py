"""Analytic surfaces whose metrics are known in closed form, shared by the analysis and
pictures tests."""

from __future__ import annotations

import math

import numpy as np

from landscape.engine.types import Blocks, Surface


def grid_surface(fn, n: int = 21, span: float = 1.0, accuracy: bool = True, se=None,
                 **meta) -> Surface:
    x = np.linspace(-span, span, n)
    y = np.linspace(-span, span, n)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = np.asarray(fn(A, B), dtype=np.float64)
    acc = 100 * np.exp(-loss) if accuracy else None
    extras = {} if se is None else {"train_loss_se": np.broadcast_to(se(loss), loss.shape)
                                    .astype(np.float64).copy()}
    return Surface(x=x, y=y, loss=loss, accuracy=acc, done=np.ones(loss.shape, bool), meta=meta,
                   extras=extras)


def line_surface(fn, n: int = 21, span: float = 1.0, se=None) -> Surface:
    x = np.linspace(-span, span, n)
    loss = np.asarray(fn(x), dtype=np.float64)
    extras = {} if se is None else {"train_loss_se": se(loss)}
    return Surface(x=x, y=None, loss=loss, accuracy=None, done=np.ones(n, bool), extras=extras)


def with_not_done(s: Surface, mask: np.ndarray) -> Surface:
    loss = s.loss.copy()
    loss[mask] = np.nan
    return Surface(x=s.x, y=s.y, loss=loss, accuracy=s.accuracy, done=~mask, meta=s.meta)


A, C = 2.0, 0.5  # bowl C + A r²: a minimum at height C


def bowl(a, b):
    return C + A * (a ** 2 + b ** 2)


def saddle(a, b):
    return 5 + A * (a ** 2 - b ** 2)


def rippled(a, b):
    return bowl(a, b) - 0.05 * np.cos(9 * np.pi * a) * np.cos(9 * np.pi * b)


def decades(r):
    return math.log10(1 + A * r ** 2 / C)


def ensemble(fn, pairs: int = 3, noise: float = 0.01, n: int = 41, skip=None, seed: int = 0,
             blocks: int = 8) -> list[Surface]:
    """`pairs` slices of one landscape (each pair tilts it a little), with block sums of 10
    samples per block whose noise every point, pair and surface of one seed shares, and the
    per-point errors those samples give."""
    eps = np.random.default_rng(seed).normal(0, 1, blocks)
    out = []
    for k in range(pairs):
        s = grid_surface(lambda a, b, k=k: fn(a, b) * (1 + 0.03 * (k - 1) * a), n=n,
                         skip=skip, spec={"data_sha256": f"data{seed}"})
        sums = s.loss[..., None] * 10 + noise * s.loss[..., None] * eps
        loss = sums.sum(-1) / (10 * blocks)
        se = np.full(loss.shape, noise * eps.std(ddof=1) / np.sqrt(10 * blocks)) * loss
        out.append(Surface(x=s.x, y=s.y, loss=loss, accuracy=s.accuracy, done=s.done,
                           meta=s.meta, extras={"train_loss_se": se},
                           blocks=Blocks(loss=sums, n=np.full(sums.shape, 10))))
    return out

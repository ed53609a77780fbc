"""Analytic surfaces whose metrics are known in closed form, shared by the analysis and
pictures tests."""

from __future__ import annotations

import math

import numpy as np

from landscape.engine.types import Surface


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

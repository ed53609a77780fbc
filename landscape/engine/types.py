"""Plain data shared by the engine, the store and the pictures: `Params` and `Surface`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Params", "Surface", "Blocks", "skip_flag", "log10_positive"]

Params = dict[str, Tensor]
"""Named tensors keyed by `named_parameters()` (or `state_dict()`) names: weights or directions."""



def log10_positive(values: np.ndarray) -> np.ndarray:
    """log10 of `values` where they are positive, NaN elsewhere (no warnings)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def skip_flag(meta: dict[str, Any]) -> bool | None:
    """Whether the model a file records has its skip connections: True, False, or None when
    the file does not say ("skip" in its metadata, as a bool or as text such as "true")."""
    value = meta.get("skip")
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "skip")
    return bool(value)


@dataclass(frozen=True)
class Blocks:
    """Each point's sums over B sample blocks (`landscape.engine.sums.SampleBlocks`): the
    data's samples in one seeded order, cut into B blocks that every point shares.

    A computed point's mean loss is `loss.sum(-1) / n.sum(-1)`. Leaving block b out of every
    point at once gives the jackknife replicate b of the whole surface. Points not computed,
    filled by interpolation, or with a loss reduced per batch hold NaN sums and 0 counts; an
    early-stopped point holds 0 in the blocks it never read.
    """

    loss: np.ndarray                 # (*shape, B) sum of per-sample losses in each block
    n: np.ndarray                    # (*shape, B) samples of each block the point read
    correct: np.ndarray | None = None  # (*shape, B) correct predictions, or None
    seed: int = 0                    # the seed of the sample order the blocks are cut from

    @property
    def count(self) -> int:
        """B, the number of blocks."""
        return int(self.loss.shape[-1])


@dataclass(frozen=True)
class Surface:
    """A loss surface L(θ* + αδ + βη) sampled on a grid (or a 1-D line when `y` is None).

    `loss[i, j]` is the value at `(x[i], y[j])`. Accuracy is in percent (0-100), as in the
    2018 reference code's files. A point that is not computed yet has `done == False` and NaN
    in `loss` (after a coarse-to-fine run it may instead hold an interpolated value, marked in
    `extras["filled"]`); a diverged point has `done == True` and NaN/inf in `loss`.
    """

    x: np.ndarray                    # (nx,)
    y: np.ndarray | None             # (ny,), or None for a 1-D line
    loss: np.ndarray                 # (nx,) or (nx, ny), float64
    accuracy: np.ndarray | None      # same shape as loss, percent; None when not measured
    done: np.ndarray                 # same shape as loss, bool
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. loss_se, acc_se, filled
    blocks: Blocks | None = None     # per-point sums over sample blocks, for jackknife errors

    def __post_init__(self) -> None:
        shape = (len(self.x),) if self.y is None else (len(self.x), len(self.y))
        for name in ("loss", "accuracy", "done"):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"Surface.{name} must have shape {shape}, got {value.shape}")
        for name, value in self.extras.items():
            if value.shape != shape:
                raise ValueError(f"Surface.extras[{name!r}] must have shape {shape}, "
                                 f"got {value.shape}")
        if self.blocks is not None:
            for name in ("loss", "n", "correct"):
                value = getattr(self.blocks, name)
                if value is not None and value.shape[:-1] != shape:
                    raise ValueError(f"Surface.blocks.{name} must have shape {shape} + (B,), "
                                     f"got {value.shape}")

    @property
    def ndim(self) -> int:
        """1 for a line, 2 for a plane."""
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        return self.loss.shape

    @property
    def split(self) -> str:
        """'train' or 'test': which split the loss was measured on (names the HDF5 datasets)."""
        return str(self.meta.get("split", "train"))

    @property
    def is_complete(self) -> bool:
        return bool(self.done.all())

    @property
    def center_index(self) -> tuple[int, ...]:
        """Index of the grid point nearest the origin (α, β) = (0, 0).

        That point is θ* itself only when the origin is on the grid (see `origin_index`); on
        a grid without it (e.g. an even number of points on a symmetric axis) it is merely the
        point closest to θ*.
        """
        ix = int(np.argmin(np.abs(self.x)))
        if self.y is None:
            return (ix,)
        return (ix, int(np.argmin(np.abs(self.y))))

    @property
    def origin_index(self) -> tuple[int, ...] | None:
        """Index of the grid point at the origin (α, β) = (0, 0), i.e. at θ*; None when no
        grid point lies there (to within a millionth of the grid step)."""
        return self.index_of(0.0, None if self.y is None else 0.0)

    def index_of(self, alpha: float, beta: float | None = None) -> tuple[int, ...] | None:
        """Index of the grid point at (α, β) (α alone on a line); None when no grid point
        lies there (to within a millionth of the grid step)."""
        axes = [(self.x, alpha)] if self.y is None else [(self.x, alpha), (self.y, beta)]
        index = []
        for axis, at in axes:
            values = np.asarray(axis, dtype=np.float64)
            i = int(np.argmin(np.abs(values - at)))
            step = float(np.min(np.abs(np.diff(values)))) if values.size > 1 else 1.0
            if abs(values[i] - at) > 1e-6 * (step if step > 0 else 1.0):
                return None
            index.append(i)
        return tuple(index)

    @property
    def star_alpha(self) -> float | None:
        """α of θ*, the trained weights that pictures star and `landscape info` names: 0 on a
        surface around one checkpoint (θ* + αδ + βη); on a line through two checkpoints
        (meta kind 'interpolation'), the end of the later epoch (meta 'star_alpha', 0 or 1),
        and None where the epochs do not tell, or on a plane through three checkpoints."""
        if self.meta.get("kind") != "interpolation":
            return 0.0
        star = self.meta.get("star_alpha")
        return None if star is None or self.y is not None else float(star)

    def values(self, quantity: str = "loss") -> np.ndarray:
        """`loss` or `accuracy` (or an extra) as float64 with points not done set to NaN."""
        if quantity == "loss":
            data = self.loss
        elif quantity in ("accuracy", "acc"):
            if self.accuracy is None:
                raise ValueError("this surface has no accuracy; it was computed without one")
            data = self.accuracy
        elif quantity in self.extras:
            data = self.extras[quantity]
        else:
            raise ValueError(f"quantity must be 'loss', 'accuracy' or one of "
                             f"{sorted(self.extras)}, got {quantity!r}")
        out = np.asarray(data, dtype=np.float64).copy()
        out[~self.has_value] = np.nan
        return out

    @property
    def filled(self) -> np.ndarray:
        """Points not computed but interpolated by a coarse-to-fine run (`--refine`)."""
        filled = self.extras.get("filled")
        return np.zeros(self.shape, dtype=bool) if filled is None else filled.astype(bool)

    @property
    def has_value(self) -> np.ndarray:
        """Computed or filled: the points a picture can draw."""
        return self.done | self.filled

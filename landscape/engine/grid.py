"""Grid specs: `Axis(start, stop, num)` and `Grid(x, y=None)`, point order and shards."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Axis", "Grid"]


@dataclass(frozen=True)
class Axis:
    """`num` evenly spaced coordinates from `start` to `stop`, both included."""

    start: float
    stop: float
    num: int

    def __post_init__(self) -> None:
        if not isinstance(self.num, (int, np.integer)) or isinstance(self.num, bool):
            raise TypeError(f"Axis.num must be an integer, got {self.num!r}")
        if self.num < 1:
            raise ValueError(f"Axis.num must be >= 1 (a grid needs points), got {self.num}")
        if not (np.isfinite(self.start) and np.isfinite(self.stop)):
            raise ValueError(f"Axis bounds must be finite, got {self.start}:{self.stop}")
        if self.num > 1 and not self.start < self.stop:
            raise ValueError(f"Axis needs min < max, got min={self.start} max={self.stop}; "
                             f"write it as MIN:MAX:NUM, e.g. -1:1:51")
        if self.num == 1 and self.start != self.stop:
            raise ValueError(f"an Axis with one point needs min == max, got "
                             f"{self.start}:{self.stop}:1; use NUM >= 2 for a range")

    @classmethod
    def parse(cls, text: str) -> Axis:
        """Parse 'MIN:MAX:NUM' (e.g. '-1:1:51'); 'V' alone is the single point V."""
        parts = text.strip().split(":")
        try:
            if len(parts) == 1:
                value = float(parts[0])
                return cls(value, value, 1)
            if len(parts) != 3:
                raise ValueError
            start, stop, num_text = float(parts[0]), float(parts[1]), parts[2]
            num = int(num_text)
            if str(num) != num_text.strip().lstrip("+"):
                raise ValueError
        except ValueError:
            raise ValueError(f"cannot read axis {text!r}: expected MIN:MAX:NUM with a whole "
                             f"number of points, e.g. -1:1:51") from None
        return cls(start, stop, num)

    @property
    def values(self) -> np.ndarray:
        """(num,) float64 coordinates."""
        return np.linspace(self.start, self.stop, self.num, dtype=np.float64)

    def __str__(self) -> str:
        return f"{self.start:g}:{self.stop:g}:{self.num}"


@dataclass(frozen=True)
class Grid:
    """A 2-D grid `x` by `y`, or a 1-D line along `x` when `y` is None.

    Points are numbered row-major over the shape `(nx, ny)`: point `k` is
    `(x[k // ny], y[k % ny])`, which is also its flat index into `loss.ravel()`.
    """

    x: Axis
    y: Axis | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.x, Axis) or not (self.y is None or isinstance(self.y, Axis)):
            raise TypeError("Grid(x, y) takes Axis objects; build them with Axis(start, stop, num) "
                            "or Axis.parse('-1:1:51')")

    @property
    def ndim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.x.num,) if self.y is None else (self.x.num, self.y.num)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def coordinates(self) -> np.ndarray:
        """(size, ndim) float64 array: the (α,) or (α, β) of every point, in point order."""
        if self.y is None:
            return self.x.values[:, None]
        a, b = np.meshgrid(self.x.values, self.y.values, indexing="ij")
        return np.stack([a.ravel(), b.ravel()], axis=1)

    def shard(self, indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
        """The points of `indices` that rank `rank` of `world_size` evaluates (round robin)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        return np.asarray(indices)[rank::world_size]

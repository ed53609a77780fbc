"""Which way round a surface file holds a 2-D grid: schema 2 stores `[j, i]` at (x[i], y[j])
(meshgrid order, as the reference's square files), schema 1 stored `[i, j]`, and the reference's
own files hold their values x-fastest whatever shape they declare. In memory a `Surface` keeps
`[i, j]`; these helpers translate."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = ["Layout", "file_shapes", "to_file_order", "to_memory", "file_index"]

Layout = Literal["yx", "xy", "reference"]  # schema 2, schema 1, the 2018 code's files


def file_shapes(nx: int, ny: int | None, layout: Layout) -> list[tuple[int, ...]]:
    """The shapes a dataset of this grid may have in a file of this layout (first: expected)."""
    if ny is None:
        return [(nx,)]
    if layout == "yx":
        return [(ny, nx)]
    if layout == "xy":
        return [(nx, ny)]
    return [(nx, ny), (ny, nx)]  # the reference declares (nx, ny); its values are x-fastest


def to_file_order(array: Any, layout: Layout = "yx") -> np.ndarray:
    """An in-memory (nx, ny) array in the file's orientation."""
    array = np.asarray(array)
    return np.ascontiguousarray(array.T) if array.ndim == 2 and layout == "yx" else array


def to_memory(data: np.ndarray, nx: int, ny: int | None, layout: Layout) -> np.ndarray:
    """A dataset as read from a file, as an in-memory (nx, ny) array (`[i, j]` at (x[i], y[j]))."""
    if ny is None:
        return data.reshape(nx)
    if layout == "yx":
        return np.ascontiguousarray(data.T)
    if layout == "xy":
        return data
    return np.ascontiguousarray(data.reshape(-1).reshape(ny, nx).T)  # x fastest, any shape


def file_index(index: np.ndarray, shape: tuple[int, ...], layout: Layout) -> np.ndarray:
    """Flat indices in memory order (i * ny + j) as flat indices into the file's dataset."""
    if layout != "yx" or len(shape) != 2:
        return index
    ny, nx = shape
    i, j = np.divmod(index, ny)
    return j * nx + i

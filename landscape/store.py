"""The HDF5 surface file: writing chunk by chunk, reading ours and the 2018 reference code's.

Layout (root datasets keep the reference code's names so that its readers keep working):

    xcoordinates (nx,)  ycoordinates (ny,)       ny absent for a 1-D line
    {split}_loss, {split}_acc  (nx, ny) or (nx,)  split = train | test; acc in percent
    done (same shape, bool)                       computed or not; NaN in loss = diverged
    <extras> (same shape)                         e.g. train_loss_se
    directions/x/<param>, directions/y/<param>    the directions, keyed by parameter name
    attrs: schema, provenance (model, skip, checkpoint, sha256, dataset, seed, norm, ...)

`loss[i, j]` is the value at (x[i], y[j]). The reference code wrote its values in meshgrid
order (x fastest) into arrays declared (nx, ny), and -1 for unfinished points; `load_surface`
undoes both.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.types import Params, Surface

__all__ = ["SCHEMA", "FileBusyError", "save_surface", "load_surface", "load_directions",
           "create_surface_file", "write_points", "write_filled", "read_progress", "writer_lock",
           "is_surface_file", "export_vtk"]

SCHEMA = "loss-landscape-toolkit/1"
_STANDARD = {"xcoordinates", "ycoordinates", "done", "directions", "xdirection", "ydirection",
             "dir_file"}


class FileBusyError(RuntimeError):
    """Another process holds the writer lock of a surface file."""


def _h5py() -> Any:
    import h5py

    return h5py


def _open(path: str | os.PathLike[str], mode: str) -> Any:
    h5py = _h5py()
    try:
        # Our own lock file guards writers (see writer_lock); HDF5's lock would make a reader
        # (`landscape info` during a run, a notebook) break the writer.
        return h5py.File(path, mode, locking=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such surface file: {path}") from None
    except OSError as err:
        raise ValueError(f"cannot open {path} as an HDF5 surface file: it is not HDF5, or it is "
                         f"truncated or damaged ({err}). Recompute it, or remove it and rerun "
                         f"with --resume to keep nothing of it.") from None


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on `path` for writing; a second writer gets a clear error.

    The lock is a `flock` on `<path>.lock`, so the kernel releases it if the process dies.
    """
    lock_path = f"{os.fspath(path)}.lock"
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise FileBusyError(f"{path} is being written by another process (pid {other}); "
                               f"wait for it to finish, or write to another file") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:  # held by us: gone on every exit, an error's included
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
    finally:
        os.close(fd)


def _encode_attr(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, str):
        return str(value)  # plain str: h5py refuses subclasses such as torch's TorchVersion
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return "json:" + json.dumps(value, default=str)


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        if value == "null":
            return None
        if value.startswith("json:"):
            return json.loads(value[5:])
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def create_surface_file(path: str | os.PathLike[str], surface: Surface, *,
                        directions: list[Params] | None = None, overwrite: bool = False) -> None:
    """Write `surface` (done or not) as a new file, with its directions.

    Raises:
        FileExistsError: when `path` exists and `overwrite` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it or --resume to "
                              f"continue it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with _open(tmp, "w") as f:
        f.attrs["schema"] = SCHEMA
        for key, value in surface.meta.items():
            f.attrs[key] = _encode_attr(value)
        f["xcoordinates"] = np.asarray(surface.x, dtype=np.float64)
        if surface.y is not None:
            f["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
        split = surface.split
        f[f"{split}_loss"] = np.asarray(surface.loss, dtype=np.float64)
        if surface.accuracy is not None:
            f[f"{split}_acc"] = np.asarray(surface.accuracy, dtype=np.float64)
        f["done"] = np.asarray(surface.done, dtype=bool)
        for name, value in surface.extras.items():
            f[name] = np.asarray(value)
        if directions:
            for axis, d in zip("xy", directions, strict=False):
                group = f.create_group(f"directions/{axis}")
                for name, tensor in d.items():
                    group[name] = tensor.detach().cpu().numpy()
    os.replace(tmp, path)  # a file is either whole or absent: nothing half-written is left


def save_surface(path: str | os.PathLike[str], surface: Surface, *,
                 directions: list[Params] | None = None, overwrite: bool = False) -> None:
    """Save a `Surface` (e.g. one computed in a notebook without a file) to HDF5."""
    create_surface_file(path, surface, directions=directions, overwrite=overwrite)


def write_points(path: str | os.PathLike[str], split: str, index: np.ndarray,
                 values: dict[str, np.ndarray]) -> None:
    """Write computed points (flat indices into the grid) and mark them done; then close.

    `values` maps `loss`, `acc` and extra names (e.g. `loss_se`) to arrays aligned with
    `index`. The file is closed (and so flushed) before returning, so a process killed later
    loses nothing written here.
    """
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return
    with _open(path, "r+") as f:
        done = f["done"]
        shape = done.shape
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}.get(key, key)
            if name not in f:
                f.create_dataset(name, shape=shape, dtype=np.float64, fillvalue=np.nan)
            _scatter(f[name], shape, index, np.asarray(array, dtype=np.float64))
        _scatter(done, shape, index, np.ones(index.shape, dtype=bool))


def write_filled(path: str | os.PathLike[str], split: str, filled: np.ndarray,
                 values: dict[str, np.ndarray]) -> None:
    """Store interpolated values at the points of the `filled` mask (never over computed ones).

    `values` maps `loss`/`acc` to full arrays of the grid's shape.
    """
    with _open(path, "r+") as f:
        done = f["done"][()]
        filled = np.asarray(filled, dtype=bool) & ~done
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}[key]
            if name not in f:
                continue
            full = f[name][()]
            full[filled] = np.asarray(array, dtype=np.float64)[filled]
            f[name][...] = full
        if "filled" in f:
            f["filled"][...] = filled
        else:
            f["filled"] = filled


def _scatter(dataset: Any, shape: tuple[int, ...], index: np.ndarray, values: np.ndarray) -> None:
    full = dataset[()]
    full.reshape(-1)[index] = values
    dataset[...] = full.reshape(shape)


def is_surface_file(path: str | os.PathLike[str]) -> bool:
    """True when `path` is one of our surface files (not a reference file, not something else)."""
    with _open(path, "r") as f:
        return f.attrs.get("schema") == SCHEMA


def load_surface(path: str | os.PathLike[str]) -> Surface:
    """Read a surface file written by this toolkit or by the 2018 reference code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not HDF5, truncated, or HDF5 without a surface in it.
    """
    with _open(path, "r") as f:
        if "xcoordinates" not in f:
            raise ValueError(f"{path} is HDF5 but holds no surface (no 'xcoordinates'); is it a "
                             f"direction file or another kind of file?")
        x = f["xcoordinates"][()].astype(np.float64)
        y = f["ycoordinates"][()].astype(np.float64) if "ycoordinates" in f else None
        shape = (len(x),) if y is None else (len(x), len(y))
        ours = f.attrs.get("schema") == SCHEMA
        meta = {k: _decode_attr(v) for k, v in f.attrs.items()} if ours else {"format": "reference"}
        split = _find_split(f, path)
        meta.setdefault("split", split)
        arrays = {}
        for name, item in f.items():
            if name in _STANDARD or not hasattr(item, "shape") or item.shape != shape:
                continue
            arrays[name] = (item[()].astype(bool) if name == "filled"
                            else _read_values(item, shape, ours))
        if ours:
            done = f["done"][()].astype(bool)
        else:
            # The reference marks unfinished points with -1 (a loss is never negative).
            done = ~np.isclose(arrays[f"{split}_loss"], -1.0)
            if "dir_file" in f:
                meta["dir_file"] = _decode_attr(f["dir_file"][()])
    loss = arrays.pop(f"{split}_loss")
    accuracy = arrays.pop(f"{split}_acc", None)
    known = done | arrays.get("filled", np.zeros(shape, dtype=bool))
    loss[~known] = np.nan
    if accuracy is not None:
        accuracy[~known] = np.nan
    return Surface(x=x, y=y, loss=loss, accuracy=accuracy, done=done, meta=meta, extras=arrays)


def _find_split(f: Any, path: Any) -> str:
    for split in ("train", "test"):
        if f"{split}_loss" in f:
            return split
    losses = [k for k in f if k.endswith("_loss")]
    if losses:
        return losses[0][: -len("_loss")]
    raise ValueError(f"{path} has coordinates but no loss dataset (train_loss or test_loss)")


def _read_values(item: Any, shape: tuple[int, ...], ours: bool) -> np.ndarray:
    data = np.asarray(item[()], dtype=np.float64)
    if ours or len(shape) == 1:
        return data.reshape(shape)
    # Reference layout: flat meshgrid order with x varying fastest, i.e. Z[iy, ix].
    nx, ny = shape
    return data.reshape(-1).reshape(ny, nx).T.copy()


def load_directions(path: str | os.PathLike[str]) -> list[Params]:
    """The directions stored in one of our surface files or in a reference direction file.

    Reference direction files key tensors '0', '1', ... in `parameters()` order; pass the
    result through `landscape.directions.match_directions` to key them by name.
    """
    with _open(path, "r") as f:
        if "directions" in f:
            groups = [f["directions"][axis] for axis in ("x", "y") if axis in f["directions"]]
        elif "xdirection" in f:
            groups = [f[name] for name in ("xdirection", "ydirection") if name in f]
        else:
            raise ValueError(f"{path} holds no directions (neither 'directions/x' nor "
                             f"'xdirection'); pass a surface file written by `landscape surface` "
                             f"or a reference direction file")
        return [{name: torch.from_numpy(np.asarray(g[name][()])) for name in g} for g in groups]


def read_progress(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(points done, points in all) of a surface file."""
    surface = load_surface(path)
    return int(surface.done.sum()), int(surface.done.size)


def export_vtk(surface: Surface, path: str | os.PathLike[str], *, quantity: str = "loss",
               log: bool = False, zmax: float | None = None) -> None:
    """Write a 2-D surface as a legacy-VTK structured grid for ParaView (z = the quantity)."""
    if surface.y is None:
        raise ValueError("VTK export needs a 2-D surface; this one is a 1-D line")
    z = surface.values(quantity)
    if zmax is not None:
        z = np.minimum(z, zmax)
    if log:
        z = np.log(np.clip(z, 1e-12, None))
    nx, ny = z.shape
    lines = ["# vtk DataFile Version 3.0", f"loss surface ({quantity})", "ASCII",
             "DATASET STRUCTURED_GRID", f"DIMENSIONS {nx} {ny} 1", f"POINTS {nx * ny} double"]
    for j in range(ny):
        for i in range(nx):
            value = z[i, j] if np.isfinite(z[i, j]) else 0.0
            lines.append(f"{surface.x[i]:.8g} {surface.y[j]:.8g} {value:.8g}")
    lines += [f"POINT_DATA {nx * ny}", f"SCALARS {quantity} double 1", "LOOKUP_TABLE default"]
    lines += [f"{z[i, j]:.8g}" if np.isfinite(z[i, j]) else "nan"
              for j in range(ny) for i in range(nx)]
    Path(path).write_text("\n".join(lines) + "\n")

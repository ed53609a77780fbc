"""The HDF5 surface file: writing chunk by chunk, reading ours and the 2018 reference code's,
and exporting to the reference's layouts, VTK/VTP (ParaView), CSV and NPZ.

Layout (schema `loss-landscape-toolkit/2`; root datasets keep the reference code's names, so its
readers keep working):

    xcoordinates (nx,)  ycoordinates (ny,)        ycoordinates absent for a 1-D line
    {split}_loss, {split}_acc  (ny, nx) or (nx,)   split = train | test; acc in percent
    done (same shape, bool)                        computed or not; NaN in loss = diverged
    <extras> (same shape)                          e.g. train_loss_se, filled, min_eig
    directions/x/<param>, directions/y/<param>     the directions, keyed by parameter name
    directions/order (strings)                     the parameter names in the model's order
    attrs: schema, provenance (model, skip, checkpoint, sha256, dataset, seed, norm, ...)

Every 2-D dataset holds the value at (x[i], y[j]) at `[j, i]`: row = y, column = x, the order of
`meshgrid(x, y)` in numpy, matplotlib and plotly, and of the reference's square files, so their
readers draw our files without a transpose. In memory a `Surface` keeps `loss[i, j]` at
(x[i], y[j]), shape (nx, ny); this module translates, flat indices of `write_points` included.

Also read: schema-1 files (2-D datasets stored (nx, ny) with `[i, j]` at (x[i], y[j])) and the
reference's own files, which hold their values in meshgrid order (x fastest) whatever shape they
declare, with -1 for unfinished points.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from landscape.types import Params, Surface, log10_positive

__all__ = ["SCHEMA", "FileBusyError", "save_surface", "load_surface", "load_directions",
           "direction_order", "create_surface_file", "write_points", "write_filled",
           "read_progress", "writer_lock", "is_surface_file", "export_vtk", "export_vtp",
           "export_csv", "export_npz", "export_reference", "export_reference_directions"]

SCHEMA = "loss-landscape-toolkit/2"
_SCHEMA_1 = "loss-landscape-toolkit/1"
_STANDARD = {"xcoordinates", "ycoordinates", "done", "directions", "xdirection", "ydirection",
             "dir_file", "names"}
_SPLITS = ("train", "test")
# Attributes that code reads back, and the types they must have (None is always allowed).
_META_TYPES: dict[str, tuple[type, ...]] = {
    "schema": (str,), "split": (str,), "model": (str,), "dir_type": (str,), "norm": (str,),
    "ignore": (str,), "dataset": (str,), "normalize": (str,), "seed": (int,), "samples": (int,),
    "data_seed": (int,), "skip": (bool,),
}
Layout = Literal["yx", "xy", "reference"]  # schema 2, schema 1, the 2018 code's files


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
        if mode == "r" and Path(path).is_file() and Path(path).stat().st_size == 0:
            raise ValueError(f"cannot open {path} as an HDF5 surface file: it is empty (0 "
                             f"bytes); recompute it (rerun the command that wrote it with "
                             f"--overwrite)") from None
        raise ValueError(f"cannot open {path} as an HDF5 surface file: it is not HDF5, or it is "
                         f"truncated or damaged ({err}); recompute it (rerun the command that "
                         f"wrote it with --overwrite)") from None


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


def _create(path: str | os.PathLike[str]) -> Any:
    return _h5py().File(path, "w", locking=False)


def _encode_attr(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, str):
        return str(value)  # plain str: h5py refuses subclasses such as torch's TorchVersion
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return "json:" + json.dumps(value, default=str)


def _damaged(path: Any, name: str, why: str) -> ValueError:
    return ValueError(f"{path} has damaged metadata: attribute {name!r} {why}. Its provenance "
                      f"cannot be trusted: recompute the surface (or, if you know the right "
                      f"value, rewrite the attribute with h5py)")


def _decode_attr(value: Any, name: str = "?", path: Any = "the file") -> Any:
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise _damaged(path, name, "is not valid UTF-8 text") from None
    if isinstance(value, str):
        if any("\udc80" <= c <= "\udcff" for c in value):  # h5py's escape for invalid UTF-8
            raise _damaged(path, name, "is not valid UTF-8 text")
        if value == "null":
            return None
        if value.startswith("json:"):
            try:
                return json.loads(value[5:])
            except json.JSONDecodeError as err:
                raise _damaged(path, name, f"holds JSON that does not parse ({err.msg} at "
                                           f"character {err.pos})") from None
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _read_meta(f: Any, path: Any, split: str) -> dict[str, Any]:
    meta = {}
    for name in f.attrs:
        try:
            raw = f.attrs[name]
        except (OSError, TypeError, ValueError) as err:
            raise _damaged(path, name, f"cannot be read ({err})") from None
        meta[name] = _decode_attr(raw, name, path)
    for name, types in _META_TYPES.items():
        value = meta.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
            raise _damaged(path, name, f"should be {types[0].__name__}, got "
                                       f"{type(value).__name__} {value!r}")
    if meta.get("split", split) != split:
        raise _damaged(path, "split", f"says {meta['split']!r} but the file holds {split}_loss")
    return meta


# ---------------------------------------------------------------- in-file orientation

def _layout(f: Any, path: Any) -> Layout:
    schema = f.attrs.get("schema")
    if schema is None:
        return "reference"
    schema = _decode_attr(schema, "schema", path)
    if schema == SCHEMA:
        return "yx"
    if schema == _SCHEMA_1:
        return "xy"
    if isinstance(schema, str) and schema.startswith("loss-landscape-toolkit/"):
        raise ValueError(f"{path} was written by a newer version of the toolkit ({schema}); "
                         f"this version reads {_SCHEMA_1} and {SCHEMA}: update the package")
    raise _damaged(path, "schema", f"is {schema!r}, not {SCHEMA!r}")


def _ours(f: Any, path: Any) -> Layout:
    layout = _layout(f, path)
    if layout == "reference" or "done" not in f:
        raise ValueError(f"{path} is not a surface file written by this toolkit (no schema "
                         f"attribute or no 'done' dataset), so points cannot be added to it; "
                         f"write a new file instead")
    return layout


def _file_shapes(nx: int, ny: int | None, layout: Layout) -> list[tuple[int, ...]]:
    """The shapes a dataset of this grid may have in a file of this layout (first: expected)."""
    if ny is None:
        return [(nx,)]
    if layout == "yx":
        return [(ny, nx)]
    if layout == "xy":
        return [(nx, ny)]
    return [(nx, ny), (ny, nx)]  # the reference declares (nx, ny); its values are x-fastest


def _to_file(array: Any, layout: Layout = "yx") -> np.ndarray:
    """An in-memory (nx, ny) array in the file's orientation."""
    array = np.asarray(array)
    return np.ascontiguousarray(array.T) if array.ndim == 2 and layout == "yx" else array


def _to_memory(data: np.ndarray, nx: int, ny: int | None, layout: Layout) -> np.ndarray:
    """A dataset as read from a file, as an in-memory (nx, ny) array (`[i, j]` at (x[i], y[j]))."""
    if ny is None:
        return data.reshape(nx)
    if layout == "yx":
        return np.ascontiguousarray(data.T)
    if layout == "xy":
        return data
    return np.ascontiguousarray(data.reshape(-1).reshape(ny, nx).T)  # x fastest, any shape


def _file_index(index: np.ndarray, shape: tuple[int, ...], layout: Layout) -> np.ndarray:
    """Flat indices in memory order (i * ny + j) as flat indices into the file's dataset."""
    if layout != "yx" or len(shape) != 2:
        return index
    ny, nx = shape
    i, j = np.divmod(index, ny)
    return j * nx + i


# ---------------------------------------------------------------- writing

def create_surface_file(path: str | os.PathLike[str], surface: Surface, *,
                        directions: list[Params] | None = None, overwrite: bool = False) -> None:
    """Write `surface` (done or not) as a new file, with its directions.

    The directions' names are recorded in the order of `directions[0]` (`directions/order`;
    the model's order when `compute_surface` writes), so that they can be exported in the
    reference's positional layout without the model.

    Raises:
        FileExistsError: when `path` exists and `overwrite` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it or --resume to "
                              f"continue it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with _create(tmp) as f:
        f.attrs["schema"] = SCHEMA
        for key, value in surface.meta.items():
            if key != "schema":
                f.attrs[key] = _encode_attr(value)
        f["xcoordinates"] = np.asarray(surface.x, dtype=np.float64)
        if surface.y is not None:
            f["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
        for name, value in _columns(surface).items():
            f[name] = _to_file(value)
        if directions:
            group = f.create_group("directions")
            group["order"] = np.array(list(directions[0]), dtype=_h5py().string_dtype())
            for axis, d in zip("xy", directions, strict=False):
                sub = group.create_group(axis)
                for name, tensor in d.items():
                    sub[name] = tensor.detach().cpu().numpy()
    os.replace(tmp, path)  # a file is either whole or absent: nothing half-written is left


def save_surface(path: str | os.PathLike[str], surface: Surface, *,
                 directions: list[Params] | None = None, overwrite: bool = False) -> None:
    """Save a `Surface` (e.g. one computed in a notebook without a file) to HDF5."""
    create_surface_file(path, surface, directions=directions, overwrite=overwrite)


def write_points(path: str | os.PathLike[str], split: str, index: np.ndarray,
                 values: dict[str, np.ndarray]) -> None:
    """Write computed points and mark them done; then close.

    `index` holds flat indices into the in-memory grid (i * ny + j for the point
    (x[i], y[j])); they are translated to the file's orientation here. `values` maps `loss`,
    `acc` and extra names (e.g. `train_loss_se`) to arrays aligned with `index`. The file is
    closed (and so flushed) before returning, so a process killed later loses nothing written
    here. A schema-1 file being resumed is written in its own orientation.
    """
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return
    with _open(path, "r+") as f:
        layout = _ours(f, path)
        done = f["done"]
        shape = done.shape
        flat = _file_index(index, shape, layout)
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}.get(key, key)
            if name not in f:
                f.create_dataset(name, shape=shape, dtype=np.float64, fillvalue=np.nan)
            _scatter(f[name], shape, flat, np.asarray(array, dtype=np.float64))
        _scatter(done, shape, flat, np.ones(index.shape, dtype=bool))


def write_filled(path: str | os.PathLike[str], split: str, filled: np.ndarray,
                 values: dict[str, np.ndarray]) -> None:
    """Store interpolated values at the points of the `filled` mask (never over computed ones).

    `filled` and the arrays of `values` (`loss`/`acc`) have the in-memory shape (nx, ny).
    """
    with _open(path, "r+") as f:
        layout = _ours(f, path)
        done = f["done"][()]
        filled = _to_file(np.asarray(filled, dtype=bool), layout) & ~done
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}[key]
            if name not in f:
                continue
            full = f[name][()]
            full[filled] = _to_file(np.asarray(array, dtype=np.float64), layout)[filled]
            f[name][...] = full
        if "filled" in f:
            f["filled"][...] = filled
        else:
            f["filled"] = filled


def _scatter(dataset: Any, shape: tuple[int, ...], index: np.ndarray, values: np.ndarray) -> None:
    full = dataset[()]
    full.reshape(-1)[index] = values
    dataset[...] = full.reshape(shape)


# ---------------------------------------------------------------- reading

def is_surface_file(path: str | os.PathLike[str]) -> bool:
    """True when `path` is one of our surface files (not a reference file, not something else)."""
    with _open(path, "r") as f:
        return f.attrs.get("schema") in (SCHEMA, _SCHEMA_1)


def load_surface(path: str | os.PathLike[str]) -> Surface:
    """Read a surface file written by this toolkit (schema 1 or 2) or by the 2018 reference code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming what is wrong and what to do: not HDF5, empty, truncated
            or damaged; no coordinates or no loss; a dataset whose shape does not fit the
            coordinates (or a 2-D loss without `ycoordinates`); our file without `done`;
            metadata that does not decode or has the wrong type.
    """
    try:
        with _open(path, "r") as f:
            return _read_surface(f, path)
    except (FileNotFoundError, ValueError):
        raise
    except (OSError, KeyError, RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot read {path}: part of it is damaged or cut off ({first}); "
                         f"recompute it") from None


def _dataset(f: Any, name: str, path: Any) -> Any:
    item = f[name]
    if not isinstance(item, _h5py().Dataset):
        raise ValueError(f"{path}: '{name}' is a group, not a dataset; is it a surface file?")
    return item


def _coordinates(f: Any, name: str, path: Any) -> np.ndarray:
    item = _dataset(f, name, path)
    if item.ndim != 1 or item.shape[0] < 1 or item.dtype.kind not in "fiu":
        raise ValueError(f"{path}: '{name}' must be a non-empty 1-D list of numbers, got shape "
                         f"{item.shape} of {item.dtype}; the file is damaged: recompute it")
    values = item[()].astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: '{name}' holds NaN or inf; the file is damaged: recompute it")
    return values


def _read_surface(f: Any, path: Any) -> Surface:
    layout = _layout(f, path)
    if "xcoordinates" not in f:
        raise ValueError(f"{path} is HDF5 but holds no surface (no 'xcoordinates'); is it a "
                         f"direction file or another kind of file?")
    x = _coordinates(f, "xcoordinates", path)
    y = _coordinates(f, "ycoordinates", path) if "ycoordinates" in f else None
    nx, ny = len(x), None if y is None else len(y)
    split = _find_split(f, path)
    shapes = _file_shapes(nx, ny, layout)
    for name in (f"{split}_loss", f"{split}_acc"):
        if name not in f:
            continue
        item = _dataset(f, name, path)
        if y is None and item.ndim == 2:
            raise ValueError(f"{path}: '{name}' is 2-D {item.shape} but the file has no "
                             f"'ycoordinates'; the file is damaged or incomplete: recompute it")
        if item.shape not in shapes:
            grid = f"{nx} x values" + ("" if ny is None else f" and {ny} y values")
            raise ValueError(f"{path}: '{name}' has shape {item.shape}, but its coordinates "
                             f"({grid}) call for {shapes[0]}; the file is damaged or was "
                             f"written by another program: recompute it")
    file_shape = f[f"{split}_loss"].shape
    if layout == "reference":
        meta: dict[str, Any] = {"format": "reference"}
    else:
        meta = _read_meta(f, path, split)
        if "done" not in f:
            raise ValueError(f"{path} has no 'done' dataset, so computed and missing points "
                             f"cannot be told apart; the file is damaged or incomplete: "
                             f"recompute it")
        if _dataset(f, "done", path).shape != file_shape:
            raise ValueError(f"{path}: 'done' has shape {f['done'].shape}, not {file_shape} "
                             f"like '{split}_loss'; the file is damaged: recompute it")
    meta.setdefault("split", split)
    arrays = {}
    for name, item in f.items():
        if (name in _STANDARD or not isinstance(item, _h5py().Dataset)
                or item.shape != file_shape):
            continue
        data = item[()]
        arrays[name] = (_to_memory(data.astype(bool), nx, ny, layout) if name == "filled"
                        else _to_memory(np.asarray(data, dtype=np.float64), nx, ny, layout))
    if layout == "reference":
        # The reference marks unfinished points with -1 (a loss is never negative).
        done = ~np.isclose(arrays[f"{split}_loss"], -1.0)
        if "dir_file" in f:
            meta["dir_file"] = _decode_attr(f["dir_file"][()], "dir_file", path)
    else:
        done = _to_memory(f["done"][()].astype(bool), nx, ny, layout)
    loss = arrays.pop(f"{split}_loss")
    accuracy = arrays.pop(f"{split}_acc", None)
    known = done | arrays.get("filled", np.zeros(done.shape, dtype=bool))
    loss[~known] = np.nan
    if accuracy is not None:
        accuracy[~known] = np.nan
    return Surface(x=x, y=y, loss=loss, accuracy=accuracy, done=done, meta=meta, extras=arrays)


def _find_split(f: Any, path: Any) -> str:
    for split in _SPLITS:
        if f"{split}_loss" in f:
            return split
    losses = [k for k in f if k.endswith("_loss")]
    if losses:
        return losses[0][: -len("_loss")]
    raise ValueError(f"{path} has coordinates but no loss dataset (train_loss or test_loss); "
                     f"the file is incomplete: recompute it")


def _names(item: Any) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in item[()]]


def _numbered(group: Any) -> list[str]:
    names = list(group)
    return sorted(names, key=int) if all(n.isdigit() for n in names) else names


def load_directions(path: str | os.PathLike[str]) -> list[Params]:
    """The directions stored in one of our surface files or in a reference direction file.

    Ours come keyed by parameter name, in the recorded model order. A reference direction file
    keys its tensors '0', '1', ... in `parameters()` (or `state_dict()`) order; pass the result
    through `landscape.directions.match_directions` to key them by name. A reference-layout
    file written by `export_reference_directions` also carries the names and comes keyed by
    them (its zero entries for integer buffers, which no direction moves, left out).
    """
    with _open(path, "r") as f:
        if "directions" in f:
            root = f["directions"]
            groups = [root[axis] for axis in ("x", "y") if axis in root]
            order = _names(root["order"]) if "order" in root else []
            out = []
            for g in groups:
                names = [n for n in order if n in g] + sorted(n for n in g if n not in order)
                out.append({n: torch.from_numpy(np.asarray(g[n][()])) for n in names})
            return out
        if "xdirection" in f:
            groups = [f[name] for name in ("xdirection", "ydirection") if name in f]
            names = _names(f["names"]) if "names" in f else None
            if names is not None and all(len(g) == len(names) for g in groups):
                return [{n: torch.from_numpy(np.asarray(g[str(i)][()]))
                         for i, n in enumerate(names) if n} for g in groups]
            return [{n: torch.from_numpy(np.asarray(g[n][()])) for n in _numbered(g)}
                    for g in groups]
        raise ValueError(f"{path} holds no directions (neither 'directions/x' nor "
                         f"'xdirection'); pass a surface file written by `landscape surface` "
                         f"or a reference direction file")


def direction_order(path: str | os.PathLike[str]) -> list[str] | None:
    """The parameter names of the directions in `path` in the order recorded when it was written
    (the model's order), or None when the file records none (schema 1)."""
    with _open(path, "r") as f:
        if "directions/order" in f:
            return _names(f["directions/order"])
        return None


def read_progress(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(points done, points in all) of a surface file."""
    surface = load_surface(path)
    return int(surface.done.sum()), int(surface.done.size)


# ---------------------------------------------------------------- exports

def export_reference(surface: Surface, path: str | os.PathLike[str]) -> None:
    """Write `surface` in the 2018 reference code's exact surface layout.

    `xcoordinates`, `ycoordinates`, `{split}_loss` and `{split}_acc` declared (nx, ny) with the
    values in its meshgrid order (x fastest: the value at (x[i], y[j]) at flat position
    j * nx + i), -1 where no value is known; no `done`, no directions, no provenance. Filled
    (interpolated) points keep their values. For a square grid this is also our own
    orientation; for a non-square one the reference's own plot_2D.py cannot draw it (nor its own
    files of that shape), while it draws our schema-2 files.
    """
    with _create(path) as f:
        f["xcoordinates"] = np.asarray(surface.x, dtype=np.float64)
        if surface.y is not None:
            f["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
        for name, values in ((f"{surface.split}_loss", surface.loss),
                             (f"{surface.split}_acc", surface.accuracy)):
            if values is None:
                continue
            data = np.where(surface.has_value, np.asarray(values, dtype=np.float64), -1.0)
            f[name] = data if data.ndim == 1 else data.T.reshape(data.shape)


def export_reference_directions(path: str | os.PathLike[str], directions: Sequence[Params],
                                order: Sequence[str], *,
                                shapes: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """Write directions in the reference's direction-file layout, for its `--dir_file`.

    Groups `xdirection` (and `ydirection`), each with datasets '0' ... 'N-1', one per entry of
    `order`: the model's `parameters()` order for weight directions, its `state_dict()` order
    for states. An entry of `order` that no direction holds (an integer buffer such as
    `num_batches_tracked`, which no direction moves) is written as zeros of `shapes[name]`
    (default a scalar), as the reference's own files have it. A root dataset `names` keeps the
    names ('' for those zero entries); the reference's readers ignore it, `load_directions`
    uses it.

    Raises:
        ValueError: a direction holds a name that `order` lacks, or the directions differ.
    """
    if not directions:
        raise ValueError("no directions to export")
    names = set(directions[0])
    for d in directions[1:]:
        if set(d) != names:
            raise ValueError("the x and y directions hold different tensors; they cannot share "
                             "one positional list")
    unknown = sorted(names - set(order))
    if unknown:
        raise ValueError(f"the parameter order lacks {len(unknown)} direction tensors "
                         f"({unknown[:3]}); was it taken from another model?")
    shapes = shapes or {}
    with _create(path) as f:
        for group_name, d in zip(("xdirection", "ydirection"), directions, strict=False):
            group = f.create_group(group_name)
            for i, name in enumerate(order):
                group[str(i)] = (d[name].detach().cpu().numpy() if name in d
                                 else np.zeros(shapes.get(name, ()), dtype=np.float32))
        f["names"] = np.array([n if n in names else "" for n in order],
                              dtype=_h5py().string_dtype())


def _height(surface: Surface, quantity: str, log: bool, zmax: float | None) -> np.ndarray:
    values = surface.values(quantity)
    if zmax is not None:
        values = np.where(np.isfinite(values), np.minimum(values, zmax), values)
    return log10_positive(values) if log else values


def _mesh(surface: Surface, quantity: str, log: bool, zmax: float | None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Points (P, 3), quads (Q, 4) and the quantity at the points of a 2-D surface.

    Only points with a finite height are kept (not computed, diverged and, under `log`,
    non-positive points are left out), in meshgrid order (x fastest); a quad is kept when its
    four corners are.
    """
    if surface.y is None:
        raise ValueError("VTK/VTP export needs a 2-D surface and this one is a 1-D line; "
                         "export it as csv or npz")
    name = {"loss": f"{surface.split}_loss", "accuracy": f"{surface.split}_acc",
            "acc": f"{surface.split}_acc"}.get(quantity, quantity)
    raw = surface.values(quantity).T                       # (ny, nx): row = y, column = x
    height = _height(surface, quantity, log, zmax).T
    keep = np.isfinite(height)
    if not keep.any():
        raise ValueError(f"nothing to export: no point has a finite {quantity}"
                         + (" above 0 (needed on a log scale)" if log else ""))
    ids = np.where(keep, np.cumsum(keep.reshape(-1)).reshape(keep.shape) - 1, -1)
    X, Y = np.meshgrid(np.asarray(surface.x, float), np.asarray(surface.y, float))
    points = np.column_stack([X[keep], Y[keep], height[keep]])
    corners = np.stack([ids[:-1, :-1], ids[:-1, 1:], ids[1:, 1:], ids[1:, :-1]], axis=-1)
    quads = corners[(corners >= 0).all(axis=-1)]
    return points, quads.reshape(-1, 4), raw[keep], name


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.17g}" for v in np.asarray(values).reshape(-1))


def export_vtk(surface: Surface, path: str | os.PathLike[str], *, quantity: str = "loss",
               log: bool = False, zmax: float | None = None) -> tuple[int, int]:
    """Write a 2-D surface as legacy-VTK polygon data (ASCII) for ParaView.

    Points (x, y, z) with z the quantity (clipped at `zmax`, then log10 with `log`); one quad
    per grid cell whose four corners have a value; the unscaled quantity as point data named
    like the HDF5 dataset (`train_loss`, ...). Points not computed, diverged or (under `log`)
    not positive are left out, and so are the cells that touch them: holes, never zeros.

    Returns:
        (points, polygons) written.
    """
    points, quads, values, name = _mesh(surface, quantity, log, zmax)
    scale = "log10 " if log else ""
    lines = ["# vtk DataFile Version 3.0",
             f"loss-landscape-toolkit surface, z = {scale}{name}", "ASCII", "DATASET POLYDATA",
             f"POINTS {len(points)} double"]
    lines += [_fmt(p) for p in points]
    if len(quads):  # VTK's reader refuses an empty POLYGONS section
        lines.append(f"POLYGONS {len(quads)} {5 * len(quads)}")
        lines += [f"4 {a} {b} {c} {d}" for a, b, c, d in quads]
    lines += [f"POINT_DATA {len(points)}", f"SCALARS {name} double 1", "LOOKUP_TABLE default"]
    lines += [f"{v:.17g}" for v in values]
    Path(path).write_text("\n".join(lines) + "\n")
    return len(points), len(quads)


def export_vtp(surface: Surface, path: str | os.PathLike[str], *, quantity: str = "loss",
               log: bool = False, zmax: float | None = None) -> tuple[int, int]:
    """Write a 2-D surface as VTK XML polygon data (`.vtp`, ASCII) for ParaView.

    The same mesh as `export_vtk`: points (x, y, z), quads over the cells with four known
    corners, the unscaled quantity as point data.

    Returns:
        (points, polygons) written.
    """
    points, quads, values, name = _mesh(surface, quantity, log, zmax)
    offsets = 4 * np.arange(1, len(quads) + 1)
    text = "\n".join([
        '<?xml version="1.0"?>',
        '<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian">',
        "  <PolyData>",
        f'    <Piece NumberOfPoints="{len(points)}" NumberOfVerts="0" NumberOfLines="0" '
        f'NumberOfStrips="0" NumberOfPolys="{len(quads)}">',
        f'      <PointData Scalars="{name}">',
        f'        <DataArray type="Float64" Name="{name}" format="ascii">{_fmt(values)}'
        f"</DataArray>",
        "      </PointData>",
        "      <Points>",
        f'        <DataArray type="Float64" NumberOfComponents="3" format="ascii">'
        f"{_fmt(points)}</DataArray>",
        "      </Points>",
        "      <Polys>",
        f'        <DataArray type="Int64" Name="connectivity" format="ascii">{_fmt(quads)}'
        f"</DataArray>",
        f'        <DataArray type="Int64" Name="offsets" format="ascii">{_fmt(offsets)}'
        f"</DataArray>",
        "      </Polys>",
        "    </Piece>",
        "  </PolyData>",
        "</VTKFile>",
    ])
    Path(path).write_text(text + "\n")
    return len(points), len(quads)


def _columns(surface: Surface) -> dict[str, np.ndarray]:
    """The datasets of a surface file, in memory orientation, named as in the file."""
    split = surface.split
    columns = {f"{split}_loss": np.asarray(surface.loss, dtype=np.float64)}
    if surface.accuracy is not None:
        columns[f"{split}_acc"] = np.asarray(surface.accuracy, dtype=np.float64)
    columns["done"] = np.asarray(surface.done, dtype=bool)
    columns.update({k: np.asarray(v) for k, v in surface.extras.items()})
    return columns


def export_csv(surface: Surface, path: str | os.PathLike[str]) -> int:
    """Write one row per grid point: indices, coordinates and every dataset of the file.

    Columns `i, j, x, y` (no `j`, `y` for a line), then `{split}_loss`, `{split}_acc`, `done`
    (0/1) and the extras (`filled` 0/1, standard errors, eigenvalue maps, ...); rows in
    meshgrid order, x fastest. Values not known are `nan`.

    Returns:
        The number of rows.
    """
    columns = _columns(surface)
    nx = len(surface.x)
    ny = 1 if surface.y is None else len(surface.y)
    header = ["i", "x"] if surface.y is None else ["i", "j", "x", "y"]
    lines = [",".join(header + list(columns))]
    for j in range(ny):
        for i in range(nx):
            at = (i,) if surface.y is None else (i, j)
            row = ([str(i), f"{surface.x[i]:.17g}"] if surface.y is None
                   else [str(i), str(j), f"{surface.x[i]:.17g}", f"{surface.y[j]:.17g}"])
            for values in columns.values():
                value = values[at]
                row.append(str(int(value)) if values.dtype == bool else f"{float(value):.17g}")
            lines.append(",".join(row))
    Path(path).write_text("\n".join(lines) + "\n")
    return nx * ny


def export_npz(surface: Surface, path: str | os.PathLike[str]) -> None:
    """Write the surface as a numpy `.npz` archive in the HDF5 file's own layout.

    Arrays `xcoordinates`, `ycoordinates`, `{split}_loss`, `{split}_acc`, `done` and the
    extras, 2-D ones (ny, nx) with `[j, i]` at (x[i], y[j]); `meta` is the provenance as a JSON
    string. Loads with `np.load(path)` (no pickle needed).
    """
    arrays = {"xcoordinates": np.asarray(surface.x, dtype=np.float64)}
    if surface.y is not None:
        arrays["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
    arrays.update({k: _to_file(v) for k, v in _columns(surface).items()})
    arrays["meta"] = np.array(json.dumps({"schema": SCHEMA, **surface.meta}, default=str))
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a bare name
        np.savez(fh, **arrays)

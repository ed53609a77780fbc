"""The HDF5 surface file: writing it chunk by chunk, and reading ours and the 2018 reference
code's (exports to other layouts are in `landscape.engine.exports`).

Layout (schema `loss-landscape-toolkit/2`; root datasets keep the reference code's names, so its
readers keep working):

    xcoordinates (nx,)  ycoordinates (ny,)        ycoordinates absent for a 1-D line
    {split}_loss, {split}_acc  (ny, nx) or (nx,)   split = train | test; acc in percent
    done (same shape, bool)                        computed or not; NaN in loss = diverged
    <extras> (same shape)                          e.g. train_loss_se, filled, min_eig
    {split}_loss_blocks, {split}_correct_blocks    (ny, nx, B) or (nx, B): each point's sums
    {split}_block_n                                over B sample blocks, and its samples in
                                                   each (attr block_seed on the loss blocks)
    directions/x/<param>, directions/y/<param>     the directions, keyed by parameter name
    directions/order (strings)                     the parameter names in the model's order
    attrs: schema, provenance (model, skip, checkpoint, sha256, dataset, seed, norm, ...)
    ensemble/<k>/...                               pair k > 0 of an ensemble, laid out as the
                                                   root (pair 0, what the reference reads)

Every 2-D dataset holds the value at (x[i], y[j]) at `[j, i]`: row = y, column = x, the order of
`meshgrid(x, y)` in numpy, matplotlib and plotly, and of the reference's square files, so their
readers draw our files without a transpose. In memory a `Surface` keeps `loss[i, j]` at
(x[i], y[j]), shape (nx, ny); `landscape.engine.orientation` translates, flat indices of
`write_points` included.

Also read: schema-1 files (2-D datasets stored (nx, ny) with `[i, j]` at (x[i], y[j])) and the
reference's own files, which hold their values in meshgrid order (x fastest) whatever shape they
declare, with -1 for unfinished points.
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

from landscape.engine import guards
from landscape.engine.orientation import Layout, file_index, file_shapes, to_file_order, to_memory
from landscape.engine.types import Blocks, Params, Surface

__all__ = ["SCHEMA", "FileBusyError", "save_surface", "load_surface", "load_directions",
           "direction_order", "create_surface_file", "write_points", "write_filled",
           "read_progress", "writer_lock", "is_surface_file", "create_file", "string_dtype",
           "surface_columns", "to_file_order", "ENSEMBLE", "member_groups"]

SCHEMA = "loss-landscape-toolkit/2"
ENSEMBLE = "ensemble"  # the group of an ensemble's further direction pairs: ensemble/1, ...
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
        f = h5py.File(path, mode, locking=False)
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
    try:
        guards.refuse_outside_data(f, path, h5py)
    except BaseException:
        f.close()
        raise
    return f


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on `path` for writing; a second writer gets a clear error.

    The lock is a `flock` on `<path>.lock`, so the kernel releases it if the process dies.
    """
    lock_path = f"{os.fspath(guards.written(path))}.lock"
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    fd = guards.open_side_file(lock_path, path, exclusive=False)
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


def create_file(path: str | os.PathLike[str]) -> Any:
    """A new HDF5 file at `path` (replaced if it exists), open for writing."""
    return _h5py().File(path, "w", locking=False)


def string_dtype() -> Any:
    """The HDF5 dtype of variable-length UTF-8 strings."""
    return _h5py().string_dtype()


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


# ---------------------------------------------------------------- writing

def create_surface_file(path: str | os.PathLike[str], surface: Surface, *,
                        directions: list[Params] | None = None, overwrite: bool = False,
                        group: str = "") -> None:
    """Write `surface` (done or not) as a new file, with its directions; with `group`
    (`ensemble/<k>`), as that group of the existing file `path` (replacing it).

    The directions' names are recorded in the order of `directions[0]` (`directions/order`;
    the model's order when `compute_surface` writes), so that they can be exported in the
    reference's positional layout without the model.

    Raises:
        FileExistsError: when `path` exists and `overwrite` is False.
    """
    shown, path = path, guards.written(path)
    if group:
        with _open(path, "r+") as f:  # a further pair of an ensemble, beside the root
            _ours(f, path)
            if group in f:
                del f[group]
            _write_surface(f.create_group(group), surface, directions)
        return
    if path.exists() and not overwrite:
        raise FileExistsError(f"{shown} exists; pass --overwrite to replace it or --resume to "
                              f"continue it")
    if path.exists() and not path.is_file():
        raise ValueError(f"cannot write {shown}: it is not a regular file (a surface file is "
                         f"written point by point); choose another -o")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    if tmp.is_file() and not tmp.is_symlink():
        tmp.unlink()  # left by a run killed while it wrote the file
    os.close(guards.open_side_file(tmp, shown, exclusive=True))
    with create_file(tmp) as f:
        _write_surface(f, surface, directions)
    os.replace(tmp, path)  # a file is either whole or absent: nothing half-written is left


def _write_surface(f: Any, surface: Surface, directions: list[Params] | None) -> None:
    f.attrs["schema"] = SCHEMA
    for key, value in surface.meta.items():
        if key != "schema":
            f.attrs[key] = _encode_attr(value)
    f["xcoordinates"] = np.asarray(surface.x, dtype=np.float64)
    if surface.y is not None:
        f["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
    for name, value in surface_columns(surface).items():
        f[name] = to_file_order(value)
    if surface.blocks is not None:
        _write_blocks(f, surface)
    if directions:
        node = f.create_group("directions")
        node["order"] = np.array(list(directions[0]), dtype=_h5py().string_dtype())
        for axis, d in zip("xy", directions, strict=False):
            sub = node.create_group(axis)
            for name, tensor in d.items():
                sub[name] = tensor.detach().cpu().numpy()


def _write_blocks(f: Any, surface: Surface) -> None:
    blocks, split = surface.blocks, surface.split
    arrays = {"loss_blocks": blocks.loss, "correct_blocks": blocks.correct,  # type: ignore[union-attr]
              "block_n": blocks.n}  # type: ignore[union-attr]
    for key, value in arrays.items():
        if value is not None:
            value = np.asarray(value, dtype=np.float64)
            f[f"{split}_{key}"] = np.swapaxes(value, 0, 1).copy() if value.ndim == 3 else value
    f[f"{split}_loss_blocks"].attrs["block_seed"] = int(blocks.seed)  # type: ignore[union-attr]


def save_surface(path: str | os.PathLike[str], surface: Surface, *,
                 directions: list[Params] | None = None, overwrite: bool = False) -> None:
    """Save a `Surface` (e.g. one computed in a notebook without a file) to HDF5."""
    create_surface_file(path, surface, directions=directions, overwrite=overwrite)


BLOCK_NAMES = ("loss_blocks", "correct_blocks", "block_n")  # after "{split}_" in the file


def write_points(path: str | os.PathLike[str], split: str, index: np.ndarray,
                 values: dict[str, np.ndarray], *, block_seed: int | None = None,
                 group: str = "") -> None:
    """Write computed points and mark them done; then close.

    `index` holds flat indices into the in-memory grid (i * ny + j for the point
    (x[i], y[j])); they are translated to the file's orientation here. `values` maps `loss`,
    `acc` and extra names (e.g. `train_loss_se`) to arrays aligned with `index`; a (P, B)
    array (per-block sums, `BLOCK_NAMES`) goes to a dataset of the grid's shape + (B,), whose
    loss blocks record `block_seed`. The file is closed (and so flushed) before returning, so
    a process killed later loses nothing written here. A schema-1 file being resumed is
    written in its own orientation. `group` names an ensemble's further pair (`ensemble/<k>`).
    """
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return
    with _open(path, "r+") as root:
        f = root[group] if group else root
        layout = _ours(f, path)
        done = f["done"]
        shape = done.shape
        flat = file_index(index, shape, layout)
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}.get(key, key)
            array = np.asarray(array, dtype=np.float64)
            full_shape = shape + array.shape[1:]
            if name not in f:
                fill = 0.0 if name.endswith("block_n") else np.nan
                f.create_dataset(name, shape=full_shape, dtype=np.float64, fillvalue=fill)
                if name.endswith("loss_blocks") and block_seed is not None:
                    f[name].attrs["block_seed"] = int(block_seed)
            _scatter(f[name], shape, flat, array)
        _scatter(done, shape, flat, np.ones(index.shape, dtype=bool))


def write_filled(path: str | os.PathLike[str], split: str, filled: np.ndarray,
                 values: dict[str, np.ndarray], *, group: str = "") -> None:
    """Store interpolated values at the points of the `filled` mask (never over computed ones).

    `filled` and the arrays of `values` (`loss`/`acc`) have the in-memory shape (nx, ny).
    """
    with _open(path, "r+") as root:
        f = root[group] if group else root
        layout = _ours(f, path)
        done = f["done"][()]
        filled = to_file_order(np.asarray(filled, dtype=bool), layout) & ~done
        for key, array in values.items():
            name = {"loss": f"{split}_loss", "acc": f"{split}_acc"}[key]
            if name not in f:
                continue
            full = f[name][()]
            full[filled] = to_file_order(np.asarray(array, dtype=np.float64), layout)[filled]
            f[name][...] = full
        if "filled" in f:
            f["filled"][...] = filled
        else:
            f["filled"] = filled


def _scatter(dataset: Any, shape: tuple[int, ...], index: np.ndarray, values: np.ndarray) -> None:
    full = dataset[()]
    tail = full.shape[len(shape):]
    full.reshape(-1, *tail)[index] = values
    dataset[...] = full


# ---------------------------------------------------------------- reading

def is_surface_file(path: str | os.PathLike[str]) -> bool:
    """True when `path` is one of our surface files (not a reference file, not something else)."""
    with _open(path, "r") as f:
        return f.attrs.get("schema") in (SCHEMA, _SCHEMA_1)


def load_surface(path: str | os.PathLike[str], *, group: str = "") -> Surface:
    """Read a surface file written by this toolkit (schema 1 or 2) or by the 2018 reference code.

    Of an ensemble (`compute_ensemble`), the root holds the first direction pair; `group`
    (`ensemble/<k>`, see `member_groups`) reads another.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming what is wrong and what to do: not HDF5, empty, truncated
            or damaged; no coordinates or no loss; a dataset whose shape does not fit the
            coordinates (or a 2-D loss without `ycoordinates`); our file without `done`;
            metadata that does not decode or has the wrong type.
    """
    try:
        with _open(path, "r") as f:
            if group and group not in f:
                raise ValueError(f"{path} holds no direction pair {group!r}; its pairs: "
                                 f"the root and {member_groups(path) or 'no other'}")
            return _read_surface(f[group] if group else f, path)
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
    guards.check_declared_grid([_dataset(f, n, path).shape for n in ("xcoordinates",
                                "ycoordinates") if n in f], path)
    x = _coordinates(f, "xcoordinates", path)
    y = _coordinates(f, "ycoordinates", path) if "ycoordinates" in f else None
    nx, ny = len(x), None if y is None else len(y)
    split = _find_split(f, path)
    shapes = file_shapes(nx, ny, layout)
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
        arrays[name] = (to_memory(data.astype(bool), nx, ny, layout) if name == "filled"
                        else to_memory(np.asarray(data, dtype=np.float64), nx, ny, layout))
    if layout == "reference":
        # The reference marks unfinished points with -1 (a loss is never negative).
        done = ~np.isclose(arrays[f"{split}_loss"], -1.0)
        if "dir_file" in f:
            meta["dir_file"] = _decode_attr(f["dir_file"][()], "dir_file", path)
    else:
        done = to_memory(f["done"][()].astype(bool), nx, ny, layout)
    loss = arrays.pop(f"{split}_loss")
    accuracy = arrays.pop(f"{split}_acc", None)
    known = done | arrays.get("filled", np.zeros(done.shape, dtype=bool))
    loss[~known] = np.nan
    if accuracy is not None:
        accuracy[~known] = np.nan
    blocks = None if layout == "reference" else _read_blocks(f, split, file_shape, layout, path)
    return Surface(x=x, y=y, loss=loss, accuracy=accuracy, done=done, meta=meta, extras=arrays,
                   blocks=blocks)


def _read_blocks(f: Any, split: str, file_shape: tuple[int, ...], layout: Layout,
                 path: Any) -> Blocks | None:
    """The per-block sums of a surface file, in memory orientation; None when it has none."""
    names = [f"{split}_{key}" for key in BLOCK_NAMES]
    if names[0] not in f or names[2] not in f:
        return None
    arrays = []
    for name in names:
        if name not in f:
            arrays.append(None)
            continue
        item = _dataset(f, name, path)
        if item.shape[:-1] != file_shape or item.ndim != len(file_shape) + 1:
            raise ValueError(f"{path}: '{name}' has shape {item.shape}, not {file_shape} + "
                             f"(blocks,); the file is damaged: recompute it")
        data = np.asarray(item[()], dtype=np.float64)
        arrays.append(np.swapaxes(data, 0, 1).copy() if data.ndim == 3 and layout == "yx"
                      else data)
    seed = _decode_attr(f[names[0]].attrs.get("block_seed", 0), "block_seed", path)
    return Blocks(loss=arrays[0], n=arrays[2], correct=arrays[1], seed=int(seed))


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


def load_directions(path: str | os.PathLike[str], *, group: str = "") -> list[Params]:
    """The directions stored in one of our surface files or in a reference direction file.

    Ours come keyed by parameter name, in the recorded model order. A reference direction file
    keys its tensors '0', '1', ... in `parameters()` (or `state_dict()`) order; pass the result
    through `landscape.engine.directions.match_directions` to key them by name. A reference-layout
    file written by `export_reference_directions` also carries the names and comes keyed by
    them (its zero entries for integer buffers, which no direction moves, left out).
    `group` names an ensemble's further pair (`ensemble/<k>`).
    """
    with _open(path, "r") as root:
        f = root[group] if group else root
        if "directions" in f:
            root = f["directions"]
            groups = [root[axis] for axis in ("x", "y") if axis in root]
            guards.check_declared_size([i for g in groups for i in g.values()
                                        if isinstance(i, _h5py().Dataset)], path)
            order = _names(root["order"]) if "order" in root else []
            out = []
            for g in groups:
                names = [n for n in order if n in g] + sorted(n for n in g if n not in order)
                out.append({n: torch.from_numpy(np.asarray(g[n][()])) for n in names})
            return out
        if "xdirection" in f:
            groups = [f[name] for name in ("xdirection", "ydirection") if name in f]
            guards.check_declared_size([i for g in groups for i in g.values()
                                        if isinstance(i, _h5py().Dataset)], path)
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


def member_groups(path: str | os.PathLike[str]) -> list[str]:
    """The groups of an ensemble's further direction pairs (`ensemble/1`, ...), in order;
    [] for a file of one pair."""
    with _open(path, "r") as f:
        if ENSEMBLE not in f:
            return []
        return [f"{ENSEMBLE}/{k}" for k in sorted((k for k in f[ENSEMBLE] if k.isdigit()),
                                                  key=int)]


def surface_columns(surface: Surface) -> dict[str, np.ndarray]:
    """The datasets of a surface file, in memory orientation, named as in the file."""
    split = surface.split
    columns = {f"{split}_loss": np.asarray(surface.loss, dtype=np.float64)}
    if surface.accuracy is not None:
        columns[f"{split}_acc"] = np.asarray(surface.accuracy, dtype=np.float64)
    columns["done"] = np.asarray(surface.done, dtype=bool)
    columns.update({k: np.asarray(v) for k, v in surface.extras.items()})
    return columns

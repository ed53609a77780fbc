"""Tables of named 1-D columns in HDF5 (values along a path, e.g. `landscape connect`'s
curve.h5), beside the surface files of `landscape.engine.store`, whose file access they use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from landscape.engine.store import SCHEMA, _decode_attr, _encode_attr, _open, create_file

__all__ = ["save_columns", "load_columns", "COLUMNS_SCHEMA"]

COLUMNS_SCHEMA = SCHEMA + "/columns"


def save_columns(path: str | os.PathLike[str], columns: dict[str, np.ndarray],
                 meta: dict[str, Any] | None = None) -> None:
    """Write named 1-D datasets of one length (a table, e.g. values along a curve) and
    attributes, whole or not at all (written beside, then renamed)."""
    lengths = {name: len(np.asarray(v)) for name, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns must have one length, got {lengths}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with create_file(tmp) as f:
        f.attrs["schema"] = COLUMNS_SCHEMA
        for key, value in (meta or {}).items():
            f.attrs[key] = _encode_attr(value)
        for name, value in columns.items():
            f[name] = np.asarray(value, dtype=np.float64)
    os.replace(tmp, path)


def load_columns(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The datasets and attributes of a file `save_columns` wrote."""
    with _open(path, "r") as f:
        meta = {k: _decode_attr(v, k, path) for k, v in f.attrs.items()}
        if meta.get("schema") != COLUMNS_SCHEMA:
            raise ValueError(f"{path} is not a table of columns (schema "
                             f"{meta.get('schema')!r}); it is read with load_surface")
        return {name: np.asarray(f[name][()]) for name in f}, meta

"""Exports of a surface to other tools' layouts: the 2018 reference code's surface and
direction files, VTK/VTP (ParaView), CSV and NPZ."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from landscape.engine.store import SCHEMA, create_file, string_dtype, surface_columns, to_file_order
from landscape.engine.types import Params, Surface, log10_positive

__all__ = ["export_reference", "export_reference_directions", "export_vtk", "export_vtp",
           "export_csv", "export_npz"]


def export_reference(surface: Surface, path: str | os.PathLike[str]) -> None:
    """Write `surface` in the 2018 reference code's exact surface layout.

    `xcoordinates`, `ycoordinates`, `{split}_loss` and `{split}_acc` declared (nx, ny) with the
    values in its meshgrid order (x fastest: the value at (x[i], y[j]) at flat position
    j * nx + i), -1 where no value is known; no `done`, no directions, no provenance. Filled
    (interpolated) points keep their values. For a square grid this is also our own
    orientation; for a non-square one the reference's own plot_2D.py cannot draw it (nor its own
    files of that shape), while it draws our schema-2 files.
    """
    with create_file(path) as f:
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
    with create_file(path) as f:
        for group_name, d in zip(("xdirection", "ydirection"), directions, strict=False):
            group = f.create_group(group_name)
            for i, name in enumerate(order):
                group[str(i)] = (d[name].detach().cpu().numpy() if name in d
                                 else np.zeros(shapes.get(name, ()), dtype=np.float32))
        f["names"] = np.array([n if n in names else "" for n in order],
                              dtype=string_dtype())


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




def export_csv(surface: Surface, path: str | os.PathLike[str]) -> int:
    """Write one row per grid point: indices, coordinates and every dataset of the file.

    Columns `i, j, x, y` (no `j`, `y` for a line), then `{split}_loss`, `{split}_acc`, `done`
    (0/1) and the extras (`filled` 0/1, standard errors, eigenvalue maps, ...); rows in
    meshgrid order, x fastest. Values not known are `nan`.

    Returns:
        The number of rows.
    """
    columns = surface_columns(surface)
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
    string, whose `schema` names this layout (a schema-1 source's own label, whose arrays were
    (nx, ny), is kept as `source_schema`). Loads with `np.load(path)` (no pickle needed).
    """
    arrays = {"xcoordinates": np.asarray(surface.x, dtype=np.float64)}
    if surface.y is not None:
        arrays["ycoordinates"] = np.asarray(surface.y, dtype=np.float64)
    arrays.update({k: to_file_order(v) for k, v in surface_columns(surface).items()})
    meta = {k: v for k, v in surface.meta.items() if k != "schema"}
    if surface.meta.get("schema") not in (None, SCHEMA):
        meta["source_schema"] = surface.meta["schema"]
    arrays["meta"] = np.array(json.dumps({**meta, "schema": SCHEMA}, default=str))
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a bare name
        np.savez(fh, **arrays)

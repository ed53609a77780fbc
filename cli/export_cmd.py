"""`landscape export` and `landscape export-directions`: a surface file for other programs.

`export` writes the surface as ParaView's VTK or VTP polygon data, a CSV table, a numpy NPZ
archive, or an HDF5 file in the 2018 reference code's exact surface layout. `export-directions`
writes the file's directions as a reference direction file (`xdirection`/`ydirection`, tensors
'0' ... 'N-1' by position), which the reference's `--dir_file` reuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import options

FORMATS = {"vtk": ".vtk", "vtp": ".vtp", "csv": ".csv", "npz": ".npz", "reference": ".h5"}
_MESH = ("vtk", "vtp")


def _format_of(fmt: str | None, output: str) -> str:
    if fmt is not None:
        return fmt
    suffix = Path(output).suffix.lower()
    for name, ext in FORMATS.items():
        if suffix == ext or (name == "reference" and suffix in (".hdf5", ".hdf")):
            return name
    raise click.BadParameter(f"cannot tell the format from {output!r}; pass --format "
                             f"({'|'.join(FORMATS)}) or end -o with one of "
                             f"{', '.join(FORMATS.values())}", param_hint="--format")


def _check_output(source: str, output: str, overwrite: bool) -> None:
    from cli.outputs import prepare_output

    if Path(output).resolve() == Path(source).resolve():
        raise ValueError(f"-o {output} is the file being read; write the export to another file")
    prepare_output(output, overwrite=overwrite)


@click.command()
@click.argument("surface_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The file to write (- for standard output).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default=None,
              help="vtk/vtp: ParaView polygon data; csv: one row per point; npz: numpy arrays "
                   "as in the HDF5 file; reference: the 2018 code's surface layout "
                   "[default: from the suffix of OUTPUT].")
@click.option("--quantity", type=click.Choice(["loss", "accuracy"]), default=None,
              help="vtk/vtp: what the height shows [default: loss].")
@click.option("--log", is_flag=True, help="vtk/vtp: height = log10 of the quantity "
                                          "(points not above 0 are left out).")
@click.option("--zmax", type=float, default=None,
              help="vtk/vtp: heights above this value are drawn at it (before --log).")
@options.overwrite_opt
@options.errors_as_click
def export(surface_file: str, output: str, fmt: str | None, quantity: str | None, log: bool,
           zmax: float | None, overwrite: bool) -> None:
    """Write SURFACE_FILE (ours or the reference code's) in another format.

    VTK and VTP open in ParaView as a height field: one point per grid point with a value, one
    quad per cell whose four corners have one. Points not computed or diverged (and, with
    --log, not positive) are left out with the cells around them: holes, never zeros.

    \b
    Examples:
      landscape export r56.h5 -o r56.vtp --log
      landscape export r56.h5 -o r56_ref.h5 --format reference
    """
    from cli.outputs import atomic_path, is_stream
    from landscape.engine import exports, store

    fmt = _format_of(fmt, output)
    if fmt not in _MESH and (quantity is not None or log or zmax is not None):
        raise click.BadParameter(f"--quantity, --log and --zmax shape the vtk/vtp height field; "
                                 f"the {fmt} export holds every dataset as it is",
                                 param_hint="--format")
    _check_output(surface_file, output, overwrite)
    surface = store.load_surface(surface_file)
    with atomic_path(output) as tmp:
        if fmt in _MESH:
            writer = exports.export_vtk if fmt == "vtk" else exports.export_vtp
            points, polys = writer(surface, tmp, quantity=quantity or "loss", log=log, zmax=zmax)
            what = (f"{points} points, {polys} polygons"
                    + (f" ({surface.done.size - points} grid points left out)"
                       if points < surface.done.size else ""))
        elif fmt == "csv":
            what = f"{exports.export_csv(surface, tmp)} rows"
        elif fmt == "npz":
            exports.export_npz(surface, tmp)
            what = "numpy arrays, 2-D ones (ny, nx)"
        else:
            exports.export_reference(surface, tmp)
            what = "the 2018 reference code's layout, -1 where no value is known"
    click.echo(f"wrote {output}: {what}", err=is_stream(output))  # stdout may be the export


def _model_order(meta: dict[str, Any], model_name: str | None, dir_type: str
                 ) -> tuple[list[str], dict[str, tuple[int, ...]]]:
    """Tensor names in the model's `parameters()` or `state_dict()` order, and the shapes of the
    state_dict entries no direction moves (integer buffers), from a model rebuilt by name."""
    import torch

    from models import create_model, rebuild_model

    name = model_name or meta.get("model")
    if not name:
        raise ValueError("the file names no model; pass --model NAME (see `landscape models`)")
    with torch.device("meta"):  # shapes and order only: no memory, no initialisation cost
        if name != meta.get("model"):
            model = create_model(name)
        else:  # the file's own record: only the zoo's names, unless the user typed this one
            try:
                model = rebuild_model(name, meta.get("arch_kwargs") or {},
                                      allow_import=model_name is not None)
            except ValueError as err:
                raise ValueError(f"refused the model the file records: {err}; name the "
                                 f"architecture yourself: --model NAME") from None
    if dir_type == "weights":
        return [k for k, _ in model.named_parameters()], {}
    state = model.state_dict()
    return list(state), {k: tuple(v.shape) for k, v in state.items() if not v.is_floating_point()}


@click.command("export-directions")
@click.argument("surface_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The direction file to write (HDF5).")
@click.option("--model", "model_name", default=None,
              help="The architecture the surface was computed with, where the file does not "
                   "name it, e.g. resnet56 (see `landscape models`).")
@options.overwrite_opt
@options.errors_as_click
def export_directions(surface_file: str, output: str, model_name: str | None,
                      overwrite: bool) -> None:
    """Write the directions of SURFACE_FILE as a 2018 reference direction file.

    Groups xdirection and ydirection hold the tensors as datasets '0', '1', ... in the model's
    parameters() order (state_dict() order for a surface of dir type states, where the integer
    buffers that no direction moves are zeros), so that the reference code reuses them as its
    dir_file, and `landscape surface` reads them back with its directions option. Weight
    directions follow the order recorded in the surface file; states, and files that record
    none, rebuild the model named in the file (or given with the model option) to learn it.

    \b
    Example:
      landscape export-directions r56.h5 -o r56_dirs.h5
    """
    from cli.outputs import atomic_path, is_stream
    from landscape.engine import exports, store

    _check_output(surface_file, output, overwrite)
    directions = store.load_directions(surface_file)
    if all(k.isdigit() for k in directions[0]):
        raise ValueError(f"{surface_file} is a reference direction file already (tensors keyed "
                         f"by position); use it as it is")
    meta = store.load_surface(surface_file).meta
    dir_type = str(meta.get("dir_type") or "weights")
    order, shapes = store.direction_order(surface_file), {}
    if order is None or dir_type == "states":
        order, shapes = _model_order(meta, model_name, dir_type)
    lacking = [k for k in order if k not in directions[0] and k not in shapes]
    if lacking:
        raise ValueError(f"the model has {len(lacking)} tensors the directions lack "
                         f"({lacking[:3]}); pass the model the surface was computed with "
                         f"(--model NAME)")
    with atomic_path(output) as tmp:
        exports.export_reference_directions(tmp, directions, order, shapes=shapes)
    axes = "x and y directions" if len(directions) > 1 else "an x direction"
    click.echo(f"wrote {output}: {axes}, {len(order)} tensors each in "
               f"{'state_dict()' if dir_type == 'states' else 'parameters()'} order",
               err=is_stream(output))

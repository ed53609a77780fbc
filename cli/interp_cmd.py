"""`landscape interp`: the loss on the line through two checkpoints (or the plane through three)."""

from __future__ import annotations

import click

from cli import options


@click.command()
@click.argument("checkpoint_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("checkpoint_b", type=click.Path(exists=True, dir_okay=False))
@click.argument("checkpoint_c", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HDF5 file to write.")
@options.model_opt
@options.grid_opts(x_default="-0.5:1.5:21")
@click.option("--dir-type", type=click.Choice(["weights", "states"]), default="states",
              show_default=True, help="states also interpolates BN running statistics.")
@options.data_opts
@options.speed_opts
@click.option("--target-se", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="REL", help="Stop averaging a point once the standard error of its mean "
              "loss is below REL of the loss (see `landscape surface --help`).")
@options.device_opt
@click.option("--resume", is_flag=True, help="Continue an interrupted run of OUTPUT.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@options.errors_as_click
def interp(checkpoint_a: str, checkpoint_b: str, checkpoint_c: str | None, output: str,
           model_name: str | None, x_axis, y_axis, dir_type: str,  # noqa: ANN001
           dataset: str, data_root: str | None, download: bool, split: str,
           samples: int | None, data_seed: int, device: str | None, **tuning: object) -> None:
    """Loss and accuracy at θ_A + α(θ_B − θ_A) for α on --x (beyond [0, 1] allowed).

    With a third checkpoint C, the plane θ_A + α(θ_B − θ_A) + β(θ_C − θ_A) on --x by --y
    (A at (0, 0), B at (1, 0), C at (0, 1)).
    """
    from landscape import Grid, compute_surface
    from landscape.directions import interpolation_direction
    from landscape.grid import Axis
    from landscape.params import get_params
    from models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(checkpoint_a, model_name)
    arch = meta.get("arch") or model_name
    others = [load_checkpoint(p, arch)[0] for p in (checkpoint_b, checkpoint_c) if p]
    base = get_params(model, dir_type)  # type: ignore[arg-type]
    directions = [interpolation_direction(base, get_params(m, dir_type))  # type: ignore[arg-type]
                  for m in others]
    if checkpoint_c and y_axis is None:
        y_axis = Axis(-0.5, 1.5, x_axis.num)
    if not checkpoint_c and y_axis is not None:
        raise click.BadParameter("--y needs a third checkpoint (the plane through A, B, C)")
    data, data_meta = options.load_data(dataset, data_root, download, split, samples, data_seed)
    result = compute_surface(
        model, data, Grid(x_axis, y_axis), base=base, directions=directions,
        dir_type=dir_type, path=output, split=split, data_info=data_meta,  # type: ignore[arg-type]
        device=device, meta={**options.checkpoint_meta(meta), **data_meta,
                             "kind": "interpolation", "checkpoint_b": checkpoint_b,
                             "checkpoint_c": checkpoint_c}, **options.drop_none(**tuning))
    if options.main_process():
        click.echo(f"wrote {output}: {result.done.sum()} of {result.done.size} points")

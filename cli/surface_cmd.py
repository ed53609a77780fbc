"""`landscape surface`: the loss around a checkpoint on a 1-D or 2-D grid, into HDF5."""

from __future__ import annotations

import click

from cli import options, sources
from cli.outputs import prepare_output


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HDF5 surface file to write.")
@options.model_opt
@options.grid_opts()
@click.option("--norm", type=click.Choice(["filter", "head", "layer", "model", "none"]),
              default=None, help="Direction normalization: filter (a Linear layer's output "
              "row, an embedding's token row), head (filter, but one attention head's block of "
              "a q/k/v or output projection as the unit), layer, model, none [default: filter; "
              "docs/concepts/normalization.md].")
@click.option("--ignore", type=click.Choice(["biasbn", "none"]), default=None,
              help="biasbn: biases and BN parameters do not move [default: biasbn].")
@click.option("--dir-type", type=click.Choice(["weights", "states"]), default=None,
              help="states also moves BN running statistics [default: weights].")
@click.option("--seed", type=int, default=None,
              help="Seed of the random directions [default: 0; with --resume, the file's].")
@click.option("--ensemble", type=click.IntRange(min=1), default=None, metavar="N",
              help="Draw N direction pairs (seeds SEED, SEED+1, ...) into OUTPUT: the first at "
                   "its root (what the 2018 readers draw), the others in ensemble/<k>; compare "
                   "judges on their spread. --resume needs the same N [default: one pair].")
@click.option("--directions", "directions_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Reuse the directions of an earlier surface or direction file.")
@options.data_opts
@sources.source_opts
@options.speed_opts
@options.progress_opt
@click.option("--points-per-batch", type=click.IntRange(min=1), default=None,
              help="Grid points per forward pass [default: 1 on CPU, from memory on GPU].")
@click.option("--refine", type=click.FloatRange(min=0), default=None, metavar="TOL",
              help="Coarse to fine: compute only where interpolation misses by more than TOL "
                   "(log-loss), fill the rest.")
@click.option("--refine-scale", type=click.Choice(["log", "linear"]), default=None,
              help="Where --refine compares [default: log].")
@click.option("--target-se", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="REL", help="Stop averaging a point once the standard error of its mean "
              "loss is ≤ REL × the loss (about REL in log-loss), reading the samples in "
              "one seeded random order in blocks of 256, at least 512 [default: all samples].")
@click.option("--bn", type=click.Choice(["eval", "recompute"]), default="eval", show_default=True,
              help="recompute: re-estimate BN statistics at every point on training samples.")
@click.option("--bn-samples", type=click.IntRange(min=1), default=512, show_default=True,
              help="Training samples for --bn recompute.")
@options.device_opt
@options.nonfinite_opt
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run of OUTPUT: only with the same checkpoint, data, "
                   "directions, loss, precision and BN mode (any difference is refused).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@options.errors_as_click
def surface(checkpoint: str, output: str, model_name: str | None, x_axis, y_axis,  # noqa: ANN001
            directions_file: str | None, dataset: str, data_root: str | None, download: bool,
            split: str, samples: int | None, data_seed: int, normalize: str | None,
            device: str | None, bn: str, bn_samples: int, block_size: int | None,
            data_factory: str | None, loss: str | None, allow_nonfinite: bool,
            ensemble: int | None, **tuning: object) -> None:
    """Evaluate L(θ* + αδ + βη) around CHECKPOINT and write it to OUTPUT (HDF5).

    \b
    Example:
      landscape surface runs/r56/final.pt -o r56.h5 --x -1:1:51 --y -1:1:51 --samples 5000
      landscape surface runs/gpt/final.pt -o gpt.h5 --dataset tokens --samples 512
    """
    prepare_output(output, resume=bool(tuning.get("resume")),
                           overwrite=bool(tuning.get("overwrite")))
    if data_factory is None:
        options.check_samples(dataset, split, samples, "--samples")
    if bn == "recompute":
        options.check_samples(dataset, "train", bn_samples, "--bn-samples")
    from landscape import Grid, compute_ensemble, compute_surface, load_directions
    from landscape.engine.placement import check_grid_memory
    from models.checkpoint import load_checkpoint

    if directions_file:
        drawn = [f"--{name}" for name in ("seed", "norm", "ignore") if tuning.get(name) is not None]
        drawn += ["--ensemble"] if ensemble is not None else []
        if drawn:
            raise click.UsageError(f"{' and '.join(drawn)} shape random directions, but the "
                                   f"directions come from {directions_file}: leave "
                                   f"{' and '.join(drawn)} out")
    grid = Grid(x_axis, y_axis)
    check_grid_memory(grid)
    model, meta = load_checkpoint(checkpoint, model_name, allow_nonfinite=allow_nonfinite)
    directions = load_directions(directions_file) if directions_file else None
    options.note_reference_normalization(dataset, normalize, options.reference_sources(
        [(checkpoint, meta)], directions, directions_file))
    loss_fn = sources.resolve_loss(loss)
    source = {"block_size": block_size, "data_factory": data_factory}
    data, data_meta = sources.load_source(dataset, data_root, download, split, samples,
                                          data_seed, normalize, **source)
    bn_data = None
    if bn == "recompute":
        bn_data, _ = sources.load_source(dataset, data_root, download, "train", bn_samples,
                                         data_seed, normalize, **source)
    kwargs = dict(path=output, split=split, device=device, bn=bn, bn_data=bn_data,
                  data_info=data_meta, loss_fn=loss_fn,
                  meta={**options.checkpoint_meta(meta), **data_meta,
                        "directions_from": directions_file}, **options.drop_none(**tuning))
    if ensemble is not None:
        pairs = compute_ensemble(model, data, grid, ensemble=ensemble, **kwargs)
    else:
        pairs = [compute_surface(model, data, grid, directions=directions, **kwargs)]
    result = pairs[0]
    if not options.main_process():
        return
    filled = int(result.filled.sum())
    origin = result.origin_index
    if origin is not None:
        at = f"loss at θ* {result.loss[origin]:.4g}"
    else:
        c = result.center_index
        point = ", ".join(f"{v[i]:.4g}" for v, i in zip((result.x, result.y), c, strict=False))
        at = (f"θ* (the origin) is not a grid point; loss at the nearest point ({point}) "
              f"{result.loss[c]:.4g}")
    click.echo(f"wrote {output}: {result.done.sum()} of {result.done.size} points computed"
               + (f", {filled} filled by interpolation" if filled else "") + f", {at}")
    if ensemble is not None:
        seeds = [p.meta.get("seed") for p in pairs]
        click.echo(f"  an ensemble of {len(pairs)} direction pairs (seeds {seeds[0]}.."
                   f"{seeds[-1]}), the first at the root; {sum(int(p.done.sum()) for p in pairs)}"
                   f" of {sum(p.done.size for p in pairs)} points computed in all")

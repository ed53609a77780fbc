"""`landscape interp`: the loss on the line through two checkpoints (or the plane through three)."""

from __future__ import annotations

import math
from typing import Any

import click

from cli import options, sources
from cli.outputs import prepare_output


def clamp_bn_variance(model: Any) -> int:
    """Make every BatchNorm of `model` read its running variance as max(var, 0) in eval mode.

    Extrapolating BN statistics (α outside [0, 1] with `--dir-type states`) can make a
    variance negative, and normalising by the square root of a negative number gives NaN: not
    a diverged point, an undefined one. Clamped at 0, BN divides by sqrt(eps) instead. Each
    BN module is given a subclass of its own class that differs only there; parameter and
    buffer names do not change. Returns the number of modules changed.
    """
    import torch.nn.functional as F
    from torch import nn

    made: dict[type, type] = {}
    count = 0
    for module in model.modules():
        if not (isinstance(module, nn.modules.batchnorm._BatchNorm)
                and module.track_running_stats):
            continue
        base = type(module)
        if base not in made:
            def forward(self: Any, x: Any, _base: type = base) -> Any:
                if self.training or self.running_var is None:
                    return _base.forward(self, x)
                self._check_input_dim(x)
                return F.batch_norm(x, self.running_mean, self.running_var.clamp(min=0),
                                    self.weight, self.bias, False, 0.0, self.eps)

            made[base] = type(f"VarianceClamped{base.__name__}", (base,), {"forward": forward})
        module.__class__ = made[base]
        count += 1
    return count


def _star_alpha(meta_a: dict[str, Any], meta_b: dict[str, Any]) -> float | None:
    """α of the trained end of the line: the checkpoint of the later epoch (None: unknown)."""
    ea, eb = meta_a.get("epoch"), meta_b.get("epoch")
    if isinstance(ea, int) and isinstance(eb, int) and ea != eb:
        return 1.0 if eb > ea else 0.0
    return None


@click.command()
@click.argument("checkpoint_a", type=click.Path(exists=True))
@click.argument("checkpoint_b", type=click.Path(exists=True))
@click.argument("checkpoint_c", type=click.Path(exists=True), required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HDF5 file to write.")
@options.model_opt
@options.grid_opts(x_default="-0.5:1.5:21")
@click.option("--dir-type", type=click.Choice(["weights", "states"]), default="states",
              show_default=True,
              help="states also interpolates BN running statistics (a variance extrapolated "
                   "below 0 is read as 0, and the picture shades where).")
@options.data_opts
@sources.source_opts
@options.speed_opts
@options.progress_opt
@click.option("--target-se", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="REL", help="Stop averaging a point once the standard error of its mean "
              "loss is ≤ REL × the loss (see `landscape surface --help`).")
@options.device_opt
@options.nonfinite_opt
@click.option("--resume", is_flag=True, help="Continue an interrupted run of OUTPUT.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@options.errors_as_click
def interp(checkpoint_a: str, checkpoint_b: str, checkpoint_c: str | None, output: str,
           model_name: str | None, x_axis, y_axis, dir_type: str,  # noqa: ANN001
           dataset: str, data_root: str | None, download: bool, split: str,
           samples: int | None, data_seed: int, normalize: str | None, device: str | None,
           block_size: int | None, data_factory: str | None, loss: str | None,
           allow_nonfinite: bool, **tuning: object) -> None:
    """Loss and accuracy at θ_A + α(θ_B − θ_A) for α on --x (beyond [0, 1] allowed).

    With a third checkpoint C, the plane θ_A + α(θ_B − θ_A) + β(θ_C − θ_A) on --x by --y
    (A at (0, 0), B at (1, 0), C at (0, 1)). Checkpoints holding the same weights are refused.
    """
    from landscape import Grid, compute_surface
    from landscape.engine.directions import interpolation_direction, variance_clamped
    from landscape.engine.grid import Axis
    from landscape.engine.params import get_params
    from models.checkpoint import load_checkpoint

    prepare_output(output, resume=bool(tuning.get("resume")),
                           overwrite=bool(tuning.get("overwrite")))
    if data_factory is None:
        options.check_samples(dataset, split, samples, "--samples")
    loss_fn = sources.resolve_loss(loss)
    if checkpoint_c and y_axis is None:
        y_axis = Axis(-0.5, 1.5, x_axis.num)
    if not checkpoint_c and y_axis is not None:
        raise click.BadParameter("--y needs a third checkpoint (the plane through A, B, C)")
    from landscape.engine.placement import check_grid_memory

    check_grid_memory(Grid(x_axis, y_axis))  # before the weights and the grid's coordinates
    paths = [p for p in (checkpoint_a, checkpoint_b, checkpoint_c) if p]
    model, meta = load_checkpoint(checkpoint_a, model_name, allow_nonfinite=allow_nonfinite)
    arch = meta.get("arch") or model_name
    loaded = [load_checkpoint(p, arch, allow_nonfinite=allow_nonfinite) for p in paths[1:]]
    metas = [meta] + [m for _, m in loaded]
    options.note_reference_normalization(dataset, normalize, options.reference_sources(
        list(zip(paths, metas, strict=True))))
    for i in range(len(paths)):
        for j in range(i + 1, len(paths)):
            if metas[i].get("sha256") and metas[i].get("sha256") == metas[j].get("sha256"):
                raise click.ClickException(
                    f"{paths[i]} and {paths[j]} hold the same weights (sha256 "
                    f"{metas[i]['sha256'][:12]}...): the line between them is a single point. "
                    f"Pick two different checkpoints, e.g. epoch_000.pt (the initial weights) "
                    f"and final.pt")
    base = get_params(model, dir_type)  # type: ignore[arg-type]
    directions = [interpolation_direction(base, get_params(m, dir_type))  # type: ignore[arg-type]
                  for m, _ in loaded]
    grid = Grid(x_axis, y_axis)
    extra: dict[str, Any] = {}
    if dir_type == "states":
        clamped, valid = variance_clamped(base, directions, grid.coordinates())
        if clamped.any():
            clamp_bn_variance(model)
            extra["bn_variance_clamped_points"] = int(clamped.sum())
            if valid is not None:
                extra["bn_valid_alpha"] = [v if math.isfinite(v) else None for v in valid]
            click.echo(f"note: at {int(clamped.sum())} of {clamped.size} points an extrapolated "
                       f"BN running variance is negative; it is read as 0 there"
                       + (f" (α outside [{valid[0]:.3g}, {valid[1]:.3g}])"
                          if valid is not None else ""), err=True)
    data, data_meta = sources.load_source(dataset, data_root, download, split, samples,
                                          data_seed, normalize, block_size=block_size,
                                          data_factory=data_factory)
    star = _star_alpha(meta, metas[1]) if len(paths) == 2 else None
    result = compute_surface(
        model, data, grid, base=base, directions=directions,
        dir_type=dir_type, path=output, split=split, data_info=data_meta,  # type: ignore[arg-type]
        loss_fn=loss_fn,
        device=device, meta={**options.checkpoint_meta(meta), **data_meta,
                             "kind": "interpolation", "checkpoint_b": checkpoint_b,
                             "checkpoint_c": checkpoint_c, "epoch_b": metas[1].get("epoch"),
                             "star_alpha": star, **extra},
        **options.drop_none(**tuning))
    if options.main_process():
        click.echo(f"wrote {output}: {result.done.sum()} of {result.done.size} points")

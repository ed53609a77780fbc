"""`landscape hessian`: extreme eigenvalues and trace at a checkpoint, and eigenvalue maps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from cli import options, sources
from cli.curvature import check_curvature, curvature_opts, write_curvature
from cli.outputs import (
    atomic_path,
    output_folder,
    prepare_output,
    refuse_existing,
    save_figure,
    write_text,
)

log = logging.getLogger(__name__)


def _axis(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from landscape.engine.grid import Axis

    try:
        return Axis.parse(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@options.checkpoint_data_opts(model_help="Model name, for checkpoints without metadata.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding the data set (CIFAR, an ImageFolder, or nanoGPT's "
                   "train.bin and val.bin).")
@sources.source_opts
@click.option("--samples", type=click.IntRange(min=1), default=512, show_default=True,
              help="Samples the loss (and so the Hessian) is averaged over.")
@click.option("--k", "k", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many of the largest eigenvalues.")
@click.option("--method", type=click.Choice(["lanczos", "power"]), default=None)
@click.option("--iters", type=click.IntRange(min=1), default=None,
              help="Lanczos steps (or power steps) at most.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Relative tolerance.")
@click.option("--trace-samples", type=click.IntRange(min=0), default=20, show_default=True,
              help="Hutchinson probes for the trace (0: skip).")
@click.option("--x", "x", callback=_axis, default=None,
              help="MIN:MAX:NUM: also map λ_min, λ_max over this grid (e.g. -1:1:11).")
@click.option("--y", "y", callback=_axis, default=None, help="MIN:MAX:NUM, second axis.")
@click.option("--save-directions", is_flag=True,
              help="Also write the top-2 eigenvectors to OUTPUT/hessian_directions.h5, for "
                   "`landscape surface --directions`.")
@click.option("--ratio-max", type=click.FloatRange(min=0, min_open=True), default=0.5,
              show_default=True,
              help="Top of the |λ_min/λ_max| colour scale (Li et al. use 0.5, so that maps "
                   "compare).")
@click.option("--relative-ratio", is_flag=True,
              help="Scale the |λ_min/λ_max| colours to this map's largest ratio instead.")
@click.option("--resume", is_flag=True, help="Continue an interrupted eigenvalue map.")
@options.overwrite_opt
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@curvature_opts
@options.device_opt
@options.nonfinite_opt
@options.output_dir_opt
@options.progress_opt
@options.errors_as_click
def hessian(checkpoint: str, model: str | None, dataset: str, split: str, samples: int, k: int,
            method: str | None, iters: int | None, tol: float | None, trace_samples: int,
            x: Any, y: Any, save_directions: bool, ratio_max: float, relative_ratio: bool,
            resume: bool, overwrite: bool, batch_size: int | None, seed: int,
            device: str | None, allow_nonfinite: bool, output: str, progress: bool,
            data_root: str | None, block_size: int | None, data_factory: str | None,
            loss: str | None,
            **curvature: Any) -> None:
    """Hessian spectrum of CHECKPOINT: top-K and most negative eigenvalue, trace; with --x
    (and --y), λ_min/λ_max at every grid point and the |λ_min/λ_max| map (Li et al. Sec. 6).

    Writes OUTPUT/hessian.json, and with --x OUTPUT/eigen.h5 (written point by point, so that
    --resume continues it; `eig_converged` says where Lanczos met its tolerance) and
    OUTPUT/eigen_ratio.png (points that did not converge crossed out). --spectrum adds the
    spectral density (OUTPUT/spectrum.json, .png), --per-layer each block's curvature.
    """
    if save_directions and k < 2:
        raise click.BadParameter("--save-directions needs --k 2 or more", param_hint="--k")
    check_curvature(trace_samples, **curvature)
    if y is not None and x is None:
        raise click.BadParameter("--y is the second axis of the eigenvalue map; give --x too",
                                 param_hint="--y")
    if data_factory is None:
        options.check_samples(dataset, split, samples, "--samples")
    if x is not None:
        from landscape.engine.grid import Grid
        from landscape.engine.placement import check_grid_memory

        check_grid_memory(Grid(x, y))  # before the spectrum, not after it
        prepare_output(Path(output) / "eigen.h5", resume=resume, overwrite=overwrite)
    refuse_existing(output, ("hessian.json", "eigen_ratio.png", "hessian_directions.h5"),
                    overwrite=overwrite or resume)
    # a folder this run made goes again on failure, unless it holds an eigenvalue map to resume
    source = {"data_root": data_root, "block_size": block_size, "data_factory": data_factory,
              "loss": loss}
    with output_folder(output, keep="eigen.h5") as out:
        _run(checkpoint, model, dataset, split, samples, k, method, iters, tol, trace_samples,
             x, y, save_directions, None if relative_ratio else ratio_max, resume, overwrite,
             batch_size, seed, device, out, progress, curvature, allow_nonfinite, source)


def _run(checkpoint: str, model: str | None, dataset: str, split: str, samples: int, k: int,
         method: str | None, iters: int | None, tol: float | None, trace_samples: int, x: Any,
         y: Any, save_directions: bool, ratio_max: float | None, resume: bool, overwrite: bool,
         batch_size: int | None, seed: int, device: str | None, out: Path,
         progress: bool = True, curvature: dict[str, Any] | None = None,
         allow_nonfinite: bool = False, source: dict[str, Any] | None = None) -> None:
    from tqdm.auto import tqdm

    from landscape.analysis.hessian import (
        eigen_map,
        hutchinson_trace,
        min_eigenvalue,
        top_eigenvalues,
    )
    from landscape.engine.grid import Grid
    from landscape.engine.placement import as_data, resolve_device
    from landscape.pictures.hessian import eigen_map_figure
    from models.checkpoint import load_checkpoint

    source = dict(source or {})
    loss_fn = sources.resolve_loss(source.pop("loss", None))
    root = source.pop("data_root", None)
    dev = resolve_device(device)
    net, meta = load_checkpoint(checkpoint, model, map_location=dev,
                                allow_nonfinite=allow_nonfinite)
    tensors, data_meta = sources.load_source(dataset, root, False, split, samples, seed,
                                             **source)
    data = as_data(tensors, dev)
    solver = options.drop_none(method=method, iters=iters, tol=tol, batch_size=batch_size,
                               loss_fn=loss_fn)
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "arch": meta.get("arch"),
                              "dataset": data_meta["dataset"], "split": split,
                              "samples": samples, "seed": seed,
                              "loss": sources.loss_record(loss_fn)}
    steps = ["top", "min"] + (["trace"] if trace_samples > 0 else [])
    with tqdm(total=len(steps), desc="hessian", unit="step", disable=not progress) as bar:
        top = top_eigenvalues(net, data, k, seed=seed, **solver)
        result["top_eigenvalues"] = top.values.tolist()
        result["top_converged"] = top.converged
        bar.update(1)
        low = min_eigenvalue(net, data, seed=seed, **solver)
        result["min_eigenvalue"] = float(low.values[0])
        result["min_converged"] = low.converged
        result["ratio_min_max"] = abs(float(low.values[0]) / float(top.values[0]))
        bar.update(1)
        if trace_samples > 0:
            est = hutchinson_trace(net, data, samples=trace_samples, seed=seed,
                                   **options.drop_none(batch_size=batch_size,
                                                       loss_fn=loss_fn))
            result["trace"], result["trace_stderr"] = est.trace, est.stderr
            bar.update(1)
    write_curvature(net, data, out, result, seed=seed, batch_size=batch_size,
                    trace_samples=trace_samples, progress=progress, loss_fn=loss_fn,
                    **(curvature or {}))
    if save_directions:
        _save_directions(net, data, top, out / "hessian_directions.h5", result, loss_fn)
        result["directions"] = str(out / "hessian_directions.h5")
    if x is not None:
        grid = Grid(x, y)
        surface = eigen_map(net, data, grid, path=out / "eigen.h5", resume=resume,
                            overwrite=overwrite, seed=seed, device=dev, split=split,
                            progress=progress,
                            meta={"checkpoint": str(checkpoint), **data_meta,
                                  "sha256": meta.get("sha256")},
                            **options.drop_none(iters=iters, tol=tol, batch_size=batch_size,
                                                loss_fn=loss_fn))
        save_figure(eigen_map_figure(surface, vmax=ratio_max), out / "eigen_ratio.png",
                    dpi=120)
        result["eigen_map"] = str(out / "eigen.h5")
        done = surface.extras["eig_done"] == 1.0
        loose = done & (surface.extras["eig_converged"] == 0.0)
        result["eigen_map_points"] = int(done.sum())
        result["eigen_map_not_converged"] = int(loose.sum())
        if loose.any():
            click.echo(f"Warning: Lanczos did not converge at {int(loose.sum())} of "
                       f"{int(done.sum())} grid points (crossed out in eigen_ratio.png); "
                       f"raise --iters", err=True)
    write_text(out / "hessian.json", json.dumps(result, indent=2) + "\n")
    click.echo(f"λ_max {result['top_eigenvalues'][0]:.6g}  λ_min {result['min_eigenvalue']:.6g}"
               + (f"  trace {result['trace']:.6g}" if "trace" in result else "")
               + f"  -> {out / 'hessian.json'}")


def _save_directions(net: Any, data: Any, top: Any, path: Path, info: dict[str, Any],
                     loss_fn: Any = None) -> None:
    """The top-2 eigenvectors in a surface file of one (empty) point: a direction file."""
    import numpy as np

    from landscape.analysis.hessian import hessian_directions
    from landscape.engine.store import save_surface
    from landscape.engine.types import Surface

    dirs = hessian_directions(net, data, eigen=top, loss_fn=loss_fn)
    empty = Surface(x=np.zeros(1), y=None, loss=np.full(1, np.nan), accuracy=None,
                    done=np.zeros(1, dtype=bool),
                    meta={"dir_type": "hessian", "eigenvalues": info["top_eigenvalues"][:2],
                          "checkpoint": info["checkpoint"], "samples": info["samples"]})
    with atomic_path(path) as tmp:
        save_surface(tmp, empty, directions=dirs, overwrite=True)

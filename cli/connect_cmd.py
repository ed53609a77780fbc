"""`landscape connect`: train a Bezier curve between two minima and compare it with the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import output_folder, prepare_output, refuse_existing, save_figure, write_text

_RESULTS = ("curve.pt", "curve.h5", "curve.png", "plane.h5", "connect.json")


@click.command()
@click.argument("checkpoint_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("checkpoint_b", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Folder for curve.pt, curve.h5, curve.png, plane.h5 and connect.json.")
@options.model_opt
@options.data_opts
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Training epochs of the bend.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05,
              show_default=True, help="Peak learning rate (cosine schedule, SGD + momentum).")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.9,
              show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=5e-4, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True,
              help="Mini-batch of the training; each draws its own t.")
@click.option("--points", type=click.IntRange(min=2), default=21, show_default=True,
              help="Values of t in [0, 1] where the curve and the line are evaluated.")
@click.option("--plane", type=click.IntRange(min=0), default=9, show_default=True,
              help="Points per axis of the plane through A, the bend and B (plane.h5); 0: none.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the shuffling and of each batch's t.")
@options.device_opt
@options.progress_opt
@click.option("--resume", is_flag=True,
              help="Continue the training in OUTPUT/curve.pt (and an unfinished plane).")
@click.option("--overwrite", is_flag=True, help="Replace the results in OUTPUT.")
@options.errors_as_click
def connect(checkpoint_a: str, checkpoint_b: str, output: str, model_name: str | None,
            dataset: str, data_root: str | None, download: bool, split: str,
            samples: int | None, data_seed: int, normalize: str | None, epochs: int, lr: float,
            momentum: float, weight_decay: float, batch_size: int, points: int, plane: int,
            seed: int, device: str | None, progress: bool, resume: bool,
            overwrite: bool) -> None:
    """Train a quadratic Bezier curve from A to B (one bend; Garipov et al. 2018) and compare
    the loss along it with the loss along the straight line.

    Each mini-batch of the training draws its own t; at every evaluated t the BN statistics
    are recomputed on the training samples. Writes OUTPUT/curve.pt (the bend; --resume
    continues it), OUTPUT/curve.h5 (t, curve_loss, line_loss, accuracy, standard errors),
    OUTPUT/curve.png and OUTPUT/plane.h5, the plane with A at (0, 0), B at (1, 0) and the
    bend at (0, 1), which `landscape plot` and `view` draw with the curve and the line on it.
    """
    prepare_output(output, folder=True, keep="curve.pt")
    if not resume:
        refuse_existing(output, _RESULTS, overwrite=overwrite,
                                fix="pass --resume to continue the curve, --overwrite to "
                                    "start again")
    options.check_samples(dataset, "train", samples, "--samples")
    with output_folder(output, keep="curve.pt") as out:
        _run(checkpoint_a, checkpoint_b, out, model_name,
             (dataset, data_root, download, split, samples, data_seed, normalize),
             {"epochs": epochs, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
              "batch_size": batch_size, "seed": seed}, points, plane, device, progress,
             resume)


def _run(checkpoint_a: str, checkpoint_b: str, out: Path, model_name: str | None,
         data_args: tuple[Any, ...], training: dict[str, Any], points: int, plane: int,
         device: str | None, progress: bool, resume: bool) -> None:
    import numpy as np

    from landscape.analysis.curves import (
        curve_coordinates,
        evaluate_curve,
        line_coordinates,
        load_curve,
        plane_directions_of,
        train_curve,
    )
    from landscape.engine.columns import save_columns
    from landscape.engine.grid import Axis, Grid
    from landscape.engine.params import get_params
    from landscape.engine.placement import resolve_device
    from landscape.engine.surface import compute_surface
    from landscape.pictures.curves import curve_figure
    from models.checkpoint import load_checkpoint

    dev = resolve_device(device)
    model, meta_a = load_checkpoint(checkpoint_a, model_name)
    other, meta_b = load_checkpoint(checkpoint_b, model_name)
    if meta_a.get("arch") and meta_b.get("arch") and meta_a["arch"] != meta_b["arch"]:
        raise click.ClickException(
            f"{checkpoint_a} holds a {meta_a['arch']} and {checkpoint_b} a {meta_b['arch']}: a "
            f"curve joins two checkpoints of the same architecture")
    a, b = get_params(model), get_params(other)
    dataset, data_root, download, split, samples, data_seed, normalize = data_args
    train_data, data_meta = options.load_data(dataset, data_root, download, "train", samples,
                                              data_seed, normalize)
    eval_data = train_data if split == "train" else options.load_data(
        dataset, data_root, download, split, samples, data_seed, normalize)[0]
    state = load_curve(out / "curve.pt") if resume and (out / "curve.pt").exists() else None
    state = train_curve(model, a, b, train_data, state=state, path=out / "curve.pt",
                        device=dev, progress=progress, **training)
    bend = state.bend
    t = np.linspace(0.0, 1.0, points)
    bn = tuple(x.to(dev) for x in train_data)
    values = evaluate_curve(model, a, bend, b, tuple(x.to(dev) for x in eval_data), t,
                            bn_data=bn, device=dev)
    columns = values.columns()
    ends = tuple("/".join(Path(p).resolve().parts[-3:]) for p in (checkpoint_a, checkpoint_b))
    save_columns(out / "curve.h5", columns,
                 meta={"kind": "bezier-curve", "checkpoint": str(checkpoint_a),
                       "checkpoint_b": str(checkpoint_b), "split": split,
                       "bn": "recompute", **data_meta, **training,
                       "train_history": state.history})
    save_figure(curve_figure(columns, labels=("A", "B"),
                             title=f"Loss from A = {ends[0]} to B = {ends[1]} (bands: ± 2 "
                                   f"standard errors)"), out / "curve.png", dpi=120)
    summary = {"train_loss_by_epoch": state.history, **values.summary()}
    summary.update({"checkpoint_a": str(checkpoint_a), "checkpoint_b": str(checkpoint_b),
                    "split": split, **data_meta, **training})
    if plane > 0:
        origin = {k: v.to(dev) for k, v in a.items()}
        directions = plane_directions_of(origin, {k: v.to(dev) for k, v in bend.items()},
                                         {k: v.to(dev) for k, v in b.items()})
        axis = Axis(-0.2, 1.2, plane)
        curve_xy, line_xy = curve_coordinates(t), line_coordinates(t)
        compute_surface(
            model, eval_data, Grid(axis, axis), base=origin, directions=directions,
            bn="recompute", bn_data=bn, path=out / "plane.h5", resume=resume,
            overwrite=not resume, split=split, device=dev, progress=progress,
            data_info=data_meta,
            meta={**options.checkpoint_meta(meta_a), **data_meta, "kind": "interpolation",
                  "checkpoint_b": str(checkpoint_b), "checkpoint_c": str(out / "curve.pt"),
                  "paths": {"Bezier curve (trained)": {"x": curve_xy[:, 0].tolist(),
                                                       "y": curve_xy[:, 1].tolist(),
                                                       "loss": columns["curve_loss"].tolist()},
                            "straight line": {"x": line_xy[:, 0].tolist(),
                                              "y": line_xy[:, 1].tolist(),
                                              "loss": columns["line_loss"].tolist()}}})
        summary["plane"] = str(out / "plane.h5")
    write_text(out / "connect.json", json.dumps(summary, indent=2) + "\n")
    click.echo(f"max loss on the curve {summary['curve']['max_loss']:.4g}, on the line "
               f"{summary['line']['max_loss']:.4g} (barriers {summary['curve']['barrier']:.4g} "
               f"and {summary['line']['barrier']:.4g}) -> {out}")


"""`landscape demo`: the whole story on the embedded data, in a few minutes on a laptop CPU.

Train a deep ResNet and its no-skip twin, compute both loss surfaces around their minima with
the same directions seed, draw them, compare them in numbers and write the interactive viewer.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from cli import options


@click.command()
@click.option("-o", "--output", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="Folder for checkpoints, surfaces and pictures.")
@click.option("--depth", type=click.Choice(["20", "32", "44", "56", "110"]), default="56",
              show_default=True, help="Depth of the CIFAR ResNet pair.")
@click.option("--width", type=click.FloatRange(min=0.125), default=0.25, show_default=True,
              help="Width multiplier of the 16/32/64 channels (1 is He et al.'s).")
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True, help="Peak learning rate (cosine schedule, SGD + momentum).")
@click.option("--train-samples", type=click.IntRange(min=64), default=2000, show_default=True)
@click.option("--eval-samples", type=click.IntRange(min=16), default=256, show_default=True,
              help="Training samples the loss is averaged over at each grid point.")
@click.option("--grid", "points", type=click.IntRange(min=3), default=21, show_default=True,
              help="Points per axis of the square grid.")
@click.option("--range", "extent", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="The grid spans [-RANGE, RANGE] on α and β.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initialization, the data order and the directions.")
@options.device_opt
@click.option("--resume", is_flag=True,
              help="Reuse finished checkpoints and continue unfinished surfaces in OUTPUT.")
@click.pass_context
@options.errors_as_click
def demo(ctx: click.Context, output: str, depth: str, width: float, epochs: int, lr: float,
         train_samples: int, eval_samples: int, points: int, extent: float, seed: int,
         device: str | None, resume: bool) -> None:
    """Train ResNet-DEPTH with and without skip connections on the embedded data, compute both
    loss surfaces, draw and compare them, and write the interactive viewer.
    """
    import torch

    from cli.compare_cmd import compare
    from cli.plot_cmd import plot
    from landscape import Axis, Grid, compute_surface
    from models import create_model
    from models.checkpoint import load_checkpoint
    from models.data import embedded_dataset, evaluation_tensors
    from models.train import train_model

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    train_set = embedded_dataset("train", train_samples, seed=seed)
    test_set = embedded_dataset("test", 500, seed=seed)
    data = evaluation_tensors("embedded", "train", samples=eval_samples, seed=seed)
    axis = Axis(-extent, extent, points)
    files = []
    for skip in (True, False):
        name = f"resnet{depth}" + ("" if skip else "-noskip")
        final = out / name / "final.pt"
        if resume and final.exists():
            model, _ = load_checkpoint(final)
            click.echo(f"[{name}] reusing {final}")
        else:
            click.echo(f"[{name}] training {epochs} epochs on {train_samples} images")
            torch.manual_seed(seed)
            model = create_model(name, width=width)
            history = train_model(model, train_set, test_set, epochs=epochs, lr=lr, seed=seed,
                                  checkpoint_dir=out / name, device=device,
                                  save_every=max(1, epochs // 4),
                                  meta={"dataset": "embedded", "demo": True})
            click.echo(f"[{name}] train loss {history['train_loss'][-1]:.3f}, test accuracy "
                       f"{history['test_acc'][-1]:.1f}%")
            model, _ = load_checkpoint(final)
        path = out / f"{name}.h5"
        click.echo(f"[{name}] surface {points}x{points} on {eval_samples} images")
        _, meta = load_checkpoint(final)
        compute_surface(model, data, Grid(axis, axis), seed=seed, path=path, device=device,
                        resume=resume, overwrite=not resume,
                        meta={**options.checkpoint_meta(meta), "dataset": "embedded",
                              "data_seed": seed})
        files.append(str(path))
        ctx.invoke(plot, file=str(path), output=str(out / "pictures"), fmt="png",
                   quantity="loss", kind="all", vmin=None, vmax=None, levels=None, log=True,
                   zmax=None, dpi=120)
    ctx.invoke(compare, file_a=files[0], file_b=files[1], output=str(out / "compare"),
               labels=f"ResNet-{depth},ResNet-{depth} no skip", eps=None, radii=None,
               window=None, kind="contourf", vmin=None, vmax=None, levels=None, log=True,
               zmax=None)
    minutes = (time.monotonic() - started) / 60
    click.echo(f"\ndone in {minutes:.1f} min. Open {out / 'compare' / 'compare.html'} in a "
               f"browser; pictures in {out / 'pictures'}, numbers in "
               f"{out / 'compare' / 'compare.md'}.")

"""`landscape trajectory`: PCA plane of a training path, the surface on it, the path drawn over."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from cli import options, sources
from cli.outputs import atomic_path, prepare_output, refuse_existing, save_figure, write_text


def _expand(paths: tuple[str, ...]) -> list[Path]:
    """Checkpoint files in order; a folder stands for its epoch_*.pt files, then final.pt."""
    out: list[Path] = []
    for text in paths:
        p = Path(text)
        if p.is_dir():
            epochs = sorted(p.glob("epoch_*.pt"),
                            key=lambda f: int(re.sub(r"\D", "", f.stem) or 0))
            out += epochs + ([p / "final.pt"] if (p / "final.pt").exists() else [])
        else:
            out.append(p)
    return out


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True))
@options.checkpoint_data_opts()
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Evaluation samples (the embedded set has at most 50,000 train and 10,000 "
                   "test images, CIFAR as many).")
@click.option("--num", type=click.IntRange(min=2), default=None,
              help="Grid points per axis (library default 21).")
@click.option("--margin", type=click.FloatRange(min=0), default=None,
              help="Grid margin around the path, as a fraction of its extent.")
@click.option("--ignore", type=click.Choice(["biasbn", "none"]), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the samples.")
@click.option("--log", is_flag=True, help="Logarithmic contour levels (losses spanning decades).")
@click.option("--html/--no-html", default=True, show_default=True,
              help="Also write the interactive viewer.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding the data set (CIFAR, an ImageFolder, or nanoGPT's "
                   "train.bin and val.bin).")
@sources.source_opts
@click.option("--resume", is_flag=True, help="Continue an interrupted OUTPUT/trajectory.h5.")
@options.overwrite_opt
@options.device_opt
@options.nonfinite_opt
@options.output_dir_opt
@options.progress_opt
@options.errors_as_click
def trajectory(checkpoints: tuple[str, ...], model: str | None, dataset: str, split: str,
               samples: int, num: int | None, margin: float | None, ignore: str | None,
               batch_size: int | None, seed: int, log: bool, html: bool, resume: bool,
               overwrite: bool, data_root: str | None, block_size: int | None,
               data_factory: str | None, loss: str | None, device: str | None,
               allow_nonfinite: bool,
               output: str, progress: bool) -> None:
    """Training path through CHECKPOINTS (in order, the final one last, 4 or more; a folder
    stands for its epoch_*.pt and final.pt) on its PCA plane (Li et al. Sec. 7).

    Writes OUTPUT/trajectory.h5 (the surface), trajectory.json (explained variance,
    coordinates), trajectory.png and, with --html, trajectory.html.
    """
    out = Path(output)
    prepare_output(out / "trajectory.h5", resume=resume, overwrite=overwrite)
    refuse_existing(out, ("trajectory.json", "trajectory.png", "trajectory.html"),
                    overwrite=overwrite or resume)
    if data_factory is None:
        options.check_samples(dataset, split, samples, "--samples")
    loss_fn = sources.resolve_loss(loss)
    files = _expand(checkpoints)
    if len(files) < 4:
        raise click.BadParameter(f"need at least 4 checkpoints for a PCA plane (the final one "
                                 f"and 3 before it), got {len(files)}", param_hint="CHECKPOINTS")
    from landscape.analysis.trajectory import trajectory_surface
    from landscape.engine.params import get_params
    from landscape.engine.placement import resolve_device
    from landscape.pictures.trajectory import trajectory_figure, trajectory_view
    from models.checkpoint import load_checkpoint, state_dict_sha256

    dev = resolve_device(device)
    path, labels = [], []
    for f in files:
        net, meta = load_checkpoint(f, model, map_location="cpu",
                                    allow_nonfinite=allow_nonfinite)
        path.append({k: t.clone() for k, t in get_params(net).items()})
        if len(path) > 1 and _shapes(path[-1]) != _shapes(path[0]):
            raise ValueError(f"{str(f)!r} is not the same network as {str(files[0])!r} (their "
                             f"parameters differ in names or shapes); a training path is one "
                             f"network's checkpoints")
        epoch = meta.get("epoch")
        labels.append(str(epoch) if isinstance(epoch, int) else options.picture_text(f.stem))
    distinct = len({state_dict_sha256(theta) for theta in path[:-1]})
    if distinct < 3:
        raise ValueError(f"the checkpoints before the final one hold only {distinct} distinct "
                         f"set{'' if distinct == 1 else 's'} of weights; a PCA plane needs 3 or "
                         f"more (the same file given twice, or epochs saved without training?)")
    out.mkdir(parents=True, exist_ok=True)
    net.to(dev)  # the final checkpoint's model: θ_n and its BN statistics
    data, data_meta = sources.load_source(dataset, data_root, False, split, samples, seed,
                                          block_size=block_size, data_factory=data_factory)
    traj = trajectory_surface(
        net, path, data, device=dev, out=out / "trajectory.h5", resume=resume,
        overwrite=overwrite, progress=progress, loss_fn=loss_fn,
        meta={"checkpoint": str(files[-1]), **data_meta},
        **options.drop_none(num=num, margin=margin, ignore=ignore, batch_size=batch_size))
    summary = {"checkpoints": [str(f) for f in files], "labels": labels,
               "explained_variance": traj.explained.tolist(), "coords": traj.coords.tolist(),
               "path_loss": traj.path_loss.tolist(), "surface": str(out / "trajectory.h5")}
    write_text(out / "trajectory.json", json.dumps(summary, indent=2) + "\n")
    drawn = [label.replace("$", r"\$") for label in labels]  # `$..$` would be mathtext
    save_figure(trajectory_figure(traj.surface, traj.coords, explained=traj.explained,
                                  labels=drawn, log=log), out / "trajectory.png", dpi=120)
    if html:
        from landscape.pictures.viewer import write_html

        with atomic_path(out / "trajectory.html") as tmp:
            write_html(trajectory_view(traj.surface, traj.coords, traj.path_loss, labels=labels),
                       tmp)
    click.echo(f"explained variance {100 * traj.explained[0]:.1f}% + "
               f"{100 * traj.explained[1]:.1f}%  -> {out / 'trajectory.png'}")


def _shapes(params: dict) -> dict:
    return {k: tuple(t.shape) for k, t in params.items()}

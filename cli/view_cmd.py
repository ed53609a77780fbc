"""`landscape view`: one self-contained interactive HTML page of one or more surface files."""

from __future__ import annotations

from pathlib import Path

import click

from cli import options


def labels_for(surfaces: list, paths: list[str], labels: str | None) -> list[str]:
    """--labels a,b or, by default, 'model, skip / no skip' from the files, else file names."""
    if labels is not None:
        names = [v.strip() for v in labels.split(",")]
        if len(names) != len(paths):
            raise click.BadParameter(f"{len(paths)} files need {len(paths)} labels, got "
                                     f"{len(names)}: {labels!r}", param_hint="--labels")
        return names
    names = []
    for surface, path in zip(surfaces, paths, strict=True):
        meta = surface.meta
        parts = [str(meta["model"])] if meta.get("model") else []
        if meta.get("skip") is not None:
            parts.append("skip" if meta["skip"] in (True, 1, "true", "True") else "no skip")
        names.append(" ".join(parts) or Path(path).stem)
    if len(set(names)) < len(names):  # two runs of one model: tell them apart by file name
        names = [f"{Path(p).stem} ({n})" if n != Path(p).stem else n
                 for p, n in zip(paths, names, strict=True)]
    return names


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="view.html",
              show_default=True, help="HTML file to write.")
@click.option("--labels", default=None, metavar="A,B,...",
              help="A title per file (default: model and skip / no skip from the files).")
@click.option("--quantity", type=click.Choice(["loss", "accuracy"]), default="loss",
              show_default=True, help="The view shown first (the page's menu switches it).")
@click.option("--log", is_flag=True, help="Start with a log10 z axis.")
@click.option("--zmax", type=float, default=None, help="Draw losses above this as this value.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in a browser.")
@options.errors_as_click
def view(files: tuple[str, ...], output: str, labels: str | None, quantity: str, log: bool,
         zmax: float | None, open_page: bool) -> None:
    """Write an interactive 3-D page of FILES: side by side on one scale when several.

    The page embeds plotly.js and works offline. Drag one surface and the others follow.
    """
    from landscape import viewer
    from landscape.store import load_surface

    surfaces = [load_surface(f) for f in files]
    names = labels_for(surfaces, list(files), labels)
    fig = viewer.compare_figure(surfaces, names, quantity=quantity, log=log, zmax=zmax)
    path = viewer.write_html(fig, output)
    click.echo(str(path))
    if open_page:
        click.launch(str(path.resolve()))

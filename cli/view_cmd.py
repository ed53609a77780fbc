"""`landscape view`: one self-contained interactive HTML page of one or more surface files."""

from __future__ import annotations

from pathlib import Path

import click

from cli import options
from cli.outputs import atomic_path, is_stream, output_folder, prepare_output


def _label(text: str) -> str:
    return options.printable(text, longest=None)


def labels_for(surfaces: list, paths: list[str], labels: str | None) -> list[str]:
    """--labels a,b or, by default, the model (and "no skip") from the files, else file names;
    control characters are shown as escapes."""
    from landscape.pictures.plot import display_name

    if labels is not None:
        names = [_label(v.strip()) for v in labels.split(",")]
        if len(names) != len(paths):
            raise click.BadParameter(f"{len(paths)} files need {len(paths)} labels, got "
                                     f"{len(names)}: {labels!r}", param_hint="--labels")
        if len(set(names)) < len(names):
            raise click.BadParameter(f"the labels must differ, got {labels!r}",
                                     param_hint="--labels")
        return names
    stems = [_label(Path(p).stem) for p in paths]
    names = [_label(display_name(s.meta)) or stem
             for s, stem in zip(surfaces, stems, strict=True)]
    if len(set(names)) < len(names):  # two runs of one model: tell them apart by file name
        names = [f"{stem} ({n})" if n != stem else n
                 for stem, n in zip(stems, names, strict=True)]
    if len(set(names)) < len(names):  # the same file name in two folders
        names = [f"{n} [{k + 1}]" for k, n in enumerate(names)]
    return names


def common_surfaces(surfaces: list) -> list:
    """The surfaces on the grid points they share; a warning (stderr) says what was left out."""
    from landscape.analysis.metrics import common_region

    surfaces, region = common_region(surfaces)
    if region["cropped"]:
        click.echo(f"Warning: {region['message']}", err=True)
    return surfaces


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="view.html",
              show_default=True, help="HTML file to write (- for standard output).")
@click.option("--labels", default=None, metavar="A,B,...",
              help="A title per file (default: model and no skip from the files).")
@click.option("--quantity", type=click.Choice(["loss", "accuracy"]), default="loss",
              show_default=True, help="The view shown first (the page's menu switches it).")
@click.option("--log/--linear", "log", default=None,
              help="Start with a log or a linear z axis (the page's menu switches it) "
                   "[default: log when the values span more than 2 decades, as plot and "
                   "compare choose].")
@click.option("--zmax", type=float, default=None, help="Draw losses above this as this value.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in a browser.")
@options.errors_as_click
def view(files: tuple[str, ...], output: str, labels: str | None, quantity: str,
         log: bool | None,
         zmax: float | None, overwrite: bool, open_page: bool) -> None:
    """Write an interactive 3-D page of FILES: side by side on one scale when several.

    The page embeds plotly.js and works offline. Drag one surface and the others follow.
    Surfaces on different grids are shown on the grid points they share (with a warning).
    A file of an ensemble (`surface --ensemble N`) shows its first direction pair, and a menu
    on the page shows the others.
    """
    from landscape.engine.ensemble import load_ensemble
    from landscape.pictures import viewer

    prepare_output(output, overwrite=overwrite)
    panels = [load_ensemble(f) for f in files]
    names = labels_for([pairs[0] for pairs in panels], list(files), labels)
    if len(panels) > 1:
        flat = iter(common_surfaces([s for pairs in panels for s in pairs]))
        panels = [[next(flat) for _ in pairs] for pairs in panels]
    fig = viewer.compare_figure([pairs if len(pairs) > 1 else pairs[0] for pairs in panels],
                                names, quantity=quantity, log=log, zmax=zmax)
    path = Path(output)
    with output_folder(path.parent), atomic_path(path) as tmp:
        viewer.write_html(fig, tmp)
    click.echo(str(path), err=is_stream(output))  # stdout may be the page
    if open_page:
        click.launch(str(path.resolve()))

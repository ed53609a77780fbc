"""`landscape compare`: two surfaces side by side, in pictures and in numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import options
from cli.plot_cmd import parse_floats, scale_opts
from cli.view_cmd import labels_for


@click.command()
@click.argument("file_a", type=click.Path(dir_okay=False))
@click.argument("file_b", type=click.Path(dir_okay=False))
@options.output_dir_opt
@click.option("--labels", default=None, metavar="A,B",
              help="Names of the two surfaces (default: model and skip / no skip).")
@click.option("--eps", type=float, default=None,
              help="Basin level above L(θ*), in loss units (default 0.1).")
@click.option("--radii", default=None, callback=parse_floats, metavar="R1,R2,...",
              help="Sharpness radii in α-β units (default 0.1,0.25,0.5).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Half-width of the curvature fit, in grid steps (default 2).")
@click.option("--kind", type=click.Choice(["contour", "contourf", "heatmap", "3d"]),
              default="contourf", show_default=True, help="Picture of the 2-D surfaces.")
@scale_opts
@options.errors_as_click
def compare(file_a: str, file_b: str, output: str, labels: str | None, eps: float | None,
            radii: tuple[float, ...] | None, window: int | None, kind: str,
            vmin: float | None, vmax: float | None, levels: Any, log: bool,
            zmax: float | None) -> None:
    """Compare FILE_A with FILE_B (e.g. a ResNet and its no-skip twin).

    Writes compare.png (same levels and colour scale), compare.html (interactive, linked
    cameras), compare.json and compare.md (the metrics) into the output folder, and prints
    the table and the files.
    """
    from landscape import metrics, viewer
    from landscape import plot as pictures
    from landscape.store import load_surface

    surfaces = [load_surface(file_a), load_surface(file_b)]
    names = labels_for(surfaces, [file_a, file_b], labels)
    result = metrics.compare(*surfaces, names, **options.drop_none(radii=radii, eps=eps,
                                                                    window=window))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    scale = options.drop_none(vmin=vmin, vmax=vmax, levels=levels, zmax=zmax, log=log or None)
    written = [out / "compare.png", out / "compare.html", out / "compare.json",
               out / "compare.md"]
    pictures.side_by_side(surfaces, names, kind=kind, **scale).savefig(written[0], dpi=150,
                                                                    bbox_inches="tight")
    viewer.write_html(viewer.compare_figure(surfaces, names, log=log, zmax=zmax), written[1])
    written[2].write_text(metrics.to_json(result), encoding="utf-8")
    title = f"# {names[0]} vs {names[1]}\n\n"
    written[3].write_text(title + metrics.format_markdown(result), encoding="utf-8")
    click.echo(metrics.format_table(result))
    click.echo("")
    for path in written:
        click.echo(str(path))

"""`landscape compare`: two surfaces side by side, in pictures and in numbers, with a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import atomic_path, output_folder, refuse_existing, save_figure, write_text
from cli.plot_cmd import parse_floats, scale_opts
from cli.view_cmd import common_surfaces, labels_for

COMPARE_FILES = ("compare.png", "compare.html", "compare.json", "compare.md")


def write_comparison(surfaces: list[Any], names: list[str], out: Path, *,
                     kind: str = "contourf", metric_args: dict[str, Any] | None = None,
                     scale: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """compare.png, compare.html, compare.json and compare.md of two surfaces, or two
    ensembles (a list of direction pairs each), in `out` (each file whole or not at all);
    returns the comparison (`landscape.analysis.verdict.compare`, which `metric_args` go to)
    and the files. The picture shows each side's first pair, the page too, with a menu for the
    others. Surfaces on different grids are compared on the points they share."""
    from landscape.analysis.verdict import compare
    from landscape.pictures import plot as pictures
    from landscape.pictures import report, viewer

    result = compare(*surfaces, names, **(metric_args or {}))
    panels = [list(s) if isinstance(s, list) else [s] for s in surfaces]
    flat = iter(common_surfaces([s for pairs in panels for s in pairs]))
    panels = [[next(flat) for _ in pairs] for pairs in panels]
    surfaces = [pairs[0] for pairs in panels]
    scale = scale or {}
    written = [out / name for name in COMPARE_FILES]
    fig = pictures.side_by_side(surfaces, names, kind=kind, **scale)  # type: ignore[arg-type]
    save_figure(fig, written[0], dpi=150, bbox_inches="tight")
    page_log, _ = pictures.resolve_log(surfaces, "loss", scale.get("log"), scale.get("zmax"))
    page = viewer.compare_figure([pairs if len(pairs) > 1 else pairs[0] for pairs in panels],
                                 names, log=page_log, zmax=scale.get("zmax"))
    with atomic_path(written[1]) as tmp:
        viewer.write_html(page, tmp)
    write_text(written[2], report.to_json(result))
    title = (f"# {report.markdown_escape(names[0])} vs {report.markdown_escape(names[1])}"
             f"\n\n")
    write_text(written[3], title + report.format_markdown(result))
    return result, written


@click.command()
@click.argument("file_a", type=click.Path(dir_okay=False))
@click.argument("file_b", type=click.Path(dir_okay=False))
@options.output_dir_opt
@click.option("--labels", default=None, metavar="A,B",
              help="Names of the two surfaces (default: the model, and no skip, from the "
                   "files).")
@click.option("--factor", type=click.FloatRange(min=1, min_open=True), default=None,
              help="The basin is where L <= FACTOR · L(θ*) (default 2).")
@click.option("--radii", default=None, callback=parse_floats, metavar="R1,R2,...",
              help="Sharpness radii in α-β units (default 0.1,0.25,0.5).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Half-width of the curvature fit, in grid steps (default 2).")
@click.option("--kind", type=click.Choice(["contour", "contourf", "heatmap", "3d"]),
              default="contourf", show_default=True, help="Picture of the 2-D surfaces.")
@scale_opts
@options.overwrite_opt
@options.errors_as_click
def compare(file_a: str, file_b: str, output: str, labels: str | None, factor: float | None,
            radii: tuple[float, ...] | None, window: int | None, kind: str,
            vmin: float | None, vmax: float | None, levels: Any, log: bool | None,
            zmax: float | None, overwrite: bool) -> None:
    """Compare FILE_A with FILE_B (e.g. a ResNet and its no-skip twin).

    A file of an ensemble (`surface --ensemble N`) is judged on all its direction pairs:
    every metric is their mean, with its spread over the pairs and the combined error.

    Writes compare.png (same levels and colour scale), compare.html (interactive, linked
    cameras), compare.json and compare.md (the metrics, ending with a verdict: which metrics
    support "the no-skip surface is sharper / less convex" and which do not) into the output
    folder, and prints the table and the files. Surfaces on different grids are compared on
    the grid points they share (with a warning). The files of an earlier comparison in the
    folder are replaced only with --overwrite.
    """
    from landscape.engine.ensemble import load_ensemble

    refuse_existing(output, COMPARE_FILES, overwrite=overwrite)

    surfaces = [load_ensemble(file_a), load_ensemble(file_b)]
    for path, pairs in zip((file_a, file_b), surfaces, strict=True):
        if not pairs[0].done.any():  # no number to compare: no verdict either
            raise ValueError(f"{path} has no computed point (0 of {pairs[0].done.size}): "
                             f"nothing to draw or compare; finish it first (rerun the command "
                             f"that wrote it with --resume)")
    names = labels_for([s[0] for s in surfaces], [file_a, file_b], labels)
    metric_args = options.drop_none(radii=radii, factor=factor, window=window)
    scale = options.drop_none(vmin=vmin, vmax=vmax, levels=levels, zmax=zmax, log=log)
    with output_folder(output) as out:
        result, written = write_comparison(surfaces, names, out, kind=kind,
                                           metric_args=metric_args, scale=scale)
    from landscape.pictures import report

    click.echo(report.format_table(result))
    click.echo("")
    for path in written:
        click.echo(str(path))

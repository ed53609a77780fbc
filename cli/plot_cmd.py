"""`landscape plot`: static pictures (PNG, PDF or SVG) of a surface file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import output_folder, refuse_existing, save_figure

KIND_CHOICES = ["contour", "contourf", "heatmap", "3d", "error", "all"]


def parse_levels(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """click callback: '20' -> 20 levels; '0.5,1,2,5' -> those levels; None stays None."""
    if value is None:
        return None
    try:
        levels: Any = (int(value) if "," not in value
                       else [float(v) for v in value.split(",") if v.strip()])
    except ValueError:
        raise click.BadParameter(f"expected a number of levels (e.g. 20) or levels separated "
                                 f"by commas (e.g. 0.5,1,2,5), got {value!r}", ctx=ctx,
                                 param=param) from None
    count = levels if isinstance(levels, int) else len(levels)
    if not 1 <= count <= MOST_LEVELS:
        raise click.BadParameter(f"{count:,} levels: a contour plot takes 1 to {MOST_LEVELS} "
                                 f"(each is a line drawn across the whole grid)", ctx=ctx,
                                 param=param)
    return levels


MOST_LEVELS = 1000
MOST_DPI = 1200  # a 6 x 5 inch figure at 1200 dpi is 7200 x 6000 pixels


def parse_floats(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """click callback: '0.1,0.25' -> (0.1, 0.25); None stays None."""
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas, e.g. 0.1,0.25,0.5, "
                                 f"got {value!r}", ctx=ctx, param=param) from None


def scale_opts(func: Any) -> Any:
    """--vmin --vmax --levels --log/--linear --zmax, shared by plot and compare."""
    for option in reversed([
        click.option("--vmin", type=float, default=None, help="Bottom of the colour scale."),
        click.option("--vmax", type=float, default=None, help="Top of the colour scale."),
        click.option("--levels", default=None, callback=parse_levels, metavar="N|L1,L2,...",
                     help="About N contour levels (round values), or the levels themselves."),
        click.option("--log/--linear", "log", default=None,
                     help="Logarithmic or linear colour / z scale [default: log when the "
                          "values span more than 2 decades; the colour bar says so]."),
        click.option("--zmax", type=float, default=None,
                     help="Draw values above this as this value (clip)."),
    ]):
        func = option(func)
    return func


def write_pictures(surface: Any, folder: Path, stem: str, *, fmt: str = "png",
                   quantity: str = "loss", kind: str = "all", vmin: float | None = None,
                   vmax: float | None = None, levels: Any = None, log: bool | None = None,
                   zmax: float | None = None, dpi: int = 150) -> list[Path]:
    """Draw `surface` into `folder` as STEM_KIND[_log].FMT (each file written whole or not at
    all) and return the paths; `_log` marks the pictures drawn on a log scale."""
    from landscape.pictures import plot as pictures

    scale = options.drop_none(vmin=vmin, vmax=vmax, zmax=zmax)
    written = []
    for name, path in picture_paths(surface, folder, stem, fmt=fmt, quantity=quantity,
                                    kind=kind, log=log, zmax=zmax).items():
        if name == "line":
            fig = pictures.line(surface, log=log, **scale)
        elif name == "error":
            fig = pictures.error_map(surface)
        else:
            fig = pictures.draw(surface, name, quantity=quantity, log=log,
                                **options.drop_none(levels=levels, **scale))
        written.append(save_figure(fig, path, dpi=dpi, bbox_inches="tight"))
    return written


def picture_paths(surface: Any, folder: Path, stem: str, *, fmt: str = "png",
                  quantity: str = "loss", kind: str = "all", log: bool | None = None,
                  zmax: float | None = None) -> dict[str, Path]:
    """The files `write_pictures` writes, by kind of picture, before anything is drawn."""
    from landscape.pictures import plot as pictures

    stem = stem + ("_accuracy" if quantity == "accuracy" else "")
    has_se = f"{surface.split}_loss_se" in surface.extras
    kinds = (["line"] if surface.y is None
             else [k for k in KIND_CHOICES[:-1] if k != "error" or has_se] if kind == "all"
             else [kind])
    used_log, _ = pictures.resolve_log([surface], "loss" if surface.y is None else quantity,
                                       log, zmax)
    suffix = ("_log" if used_log else "") + f".{fmt}"
    return {name: folder / (f"{stem}_error.{fmt}" if name == "error"
                            else f"{stem}_{name}{suffix}") for name in kinds}


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@options.output_dir_opt
@click.option("--format", "fmt", type=click.Choice(["png", "pdf", "svg"]), default="png",
              show_default=True, help="Picture file format.")
@click.option("--quantity", type=click.Choice(["loss", "accuracy"]), default="loss",
              show_default=True, help="What to draw (2-D surfaces).")
@click.option("--kind", type=click.Choice(KIND_CHOICES), default="all", show_default=True,
              help="Which picture; a 1-D file always gives the loss/accuracy line.")
@scale_opts
@click.option("--dpi", type=click.IntRange(min=20, max=MOST_DPI), default=150, show_default=True,
              help="Resolution of PNG files.")
@click.option("--pair", type=click.IntRange(min=0), default=0, show_default=True, metavar="K",
              help="Of an ensemble file (surface --ensemble N), the direction pair to draw: 0 "
                   "is the first (at the root), K the one in ensemble/K.")
@options.overwrite_opt
@options.errors_as_click
def plot(file: str, output: str, fmt: str, quantity: str, kind: str, vmin: float | None,
         vmax: float | None, levels: Any, log: bool | None, zmax: float | None,
         dpi: int, pair: int, overwrite: bool) -> None:
    """Draw the surface in FILE (ours or the 2018 reference code's) and print the files written.

    Points not computed or diverged are left blank and marked, never drawn as zeros. Files are
    named FILE_KIND.FMT, with _log before the suffix when drawn on a log scale (and _pairK
    after FILE for pair K > 0 of an ensemble); pictures of an earlier run are replaced only
    with --overwrite.
    """
    from landscape.engine.store import load_surface, member_groups

    groups = member_groups(file)
    if pair > len(groups):
        raise click.BadParameter(f"{file} holds {len(groups) + 1} direction pair(s), 0.."
                                 f"{len(groups)}; got {pair}", param_hint="--pair")
    surface = load_surface(file, group=groups[pair - 1] if pair else "")
    stem = Path(file).stem + (f"_pair{pair}" if pair else "")
    paths = picture_paths(surface, Path(output), stem, fmt=fmt, quantity=quantity,
                          kind=kind, log=log, zmax=zmax)
    refuse_existing(output, tuple(p.name for p in paths.values()), overwrite=overwrite)
    with output_folder(output) as out:
        written = write_pictures(surface, out, stem, fmt=fmt, quantity=quantity,
                                 kind=kind, vmin=vmin, vmax=vmax, levels=levels, log=log,
                                 zmax=zmax, dpi=dpi)
    for path in written:
        click.echo(str(path))

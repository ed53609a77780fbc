"""`landscape info`: what a surface file holds and how far it got."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from cli import options
from cli.options import printable


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@options.errors_as_click
def info(path: str) -> None:
    """Metadata and progress of a surface file (ours or the 2018 reference code's).

    The loss is given at θ*: the origin of a surface around one checkpoint, and on a line
    through two checkpoints (`landscape interp`) the trained end, the later epoch, as `plot`
    stars it; there the loss at the other end is given too.
    """
    from landscape.engine.store import load_surface

    s = load_surface(path)
    grid = f"{len(s.x)}" if s.y is None else f"{len(s.x)} x {len(s.y)}"
    done = int(s.done.sum())
    click.echo(printable(path))
    click.echo(f"  format      {printable(s.meta.get('format', 'toolkit'))}")
    click.echo(f"  grid        {grid}  (x {s.x[0]:g}..{s.x[-1]:g}"
               + ("" if s.y is None else f", y {s.y[0]:g}..{s.y[-1]:g}") + ")")
    click.echo(f"  progress    {done} of {s.done.size} points ({100 * done / s.done.size:.0f}%)")
    _ensemble_line(path, s)
    loss = s.values("loss")
    finite = np.isfinite(loss)
    if finite.any():
        at = (_at_ends(s, loss) if s.meta.get("kind") == "interpolation"
              else _at_theta_star(s, loss))
        click.echo(f"  loss        {at}, min {loss[finite].min():.4g}, "
                   f"max {loss[finite].max():.4g}")
    diverged = int((s.done & ~np.isfinite(s.loss)).sum())
    if diverged:
        click.echo(f"  diverged    {diverged} points (NaN/inf)")
    se = s.extras.get(f"{s.split}_loss_se")
    if se is not None and finite.any():
        rel = se[finite] / np.abs(loss[finite])
        click.echo(f"  std. error  median relative {np.nanmedian(rel):.2%} of the loss")
    counts = s.extras.get(f"{s.split}_loss_n")
    if counts is not None and s.done.any():
        n, total = counts[s.done], s.meta.get("samples") or np.nanmax(counts)
        click.echo(f"  samples/pt  min {n.min():.0f}, median {np.median(n):.0f}, max {n.max():.0f}"
                   f" of {total} ({total * n.size / n.sum():.1f}x fewer images: --target-se)")
    for key in sorted(s.meta, key=str):
        if key not in ("format",):
            click.echo(f"  {printable(key):<18} {printable(s.meta[key])}")


def _at_theta_star(s: Any, loss: np.ndarray) -> str:
    origin = s.origin_index
    c = s.center_index if origin is None else origin
    where = ("at θ*" if origin is not None else "nearest θ* (not a grid point) at ("
             + ", ".join(f"{v[i]:.4g}" for v, i in zip((s.x, s.y), c, strict=False)) + ")")
    return f"{where} {loss[c]:.4g}"


def _at_ends(s: Any, loss: np.ndarray) -> str:
    """The loss at each checkpoint of an interpolation on the grid; θ* is the trained one
    (`Surface.star_alpha`: the later epoch), and no end is called θ* when no epoch tells."""
    ends = [("checkpoint", (0.0, 0.0)), ("checkpoint_b", (1.0, 0.0)), ("checkpoint_c", (0.0, 1.0))]
    parts = []
    for key, (a, b) in ends[: 2 if s.y is None else 3]:
        if not s.meta.get(key):
            continue
        i = int(np.argmin(np.abs(s.x - a)))
        j = None if s.y is None else int(np.argmin(np.abs(s.y - b)))
        on_grid = abs(s.x[i] - a) < 1e-9 and (j is None or abs(s.y[j] - b) < 1e-9)
        at = f"α = {a:g}" if s.y is None else f"α = {a:g}, β = {b:g}"
        value = loss[(i,) if j is None else (i, j)] if on_grid else None
        name = printable(Path(str(s.meta[key])).name)
        star = "θ* = " if s.y is None and s.star_alpha == a else ""
        parts.append(f"at {star}{name} ({at}) "
                     + ("not on the grid" if value is None else f"{value:.4g}"))
    if s.y is None and s.star_alpha is None:
        parts.append("(no end is θ*: the checkpoints record no epochs that tell the trained one)")
    return ", ".join(parts)


def _ensemble_line(path: str, first: object) -> None:
    """The direction pairs of an ensemble file, with each one's progress (nothing for a file of
    one pair)."""
    from landscape.engine.ensemble import ensemble_size, load_ensemble

    size = ensemble_size(first)  # type: ignore[arg-type]
    if size is None:
        return
    pairs = load_ensemble(path)
    seeds = ", ".join(printable(p.meta.get("seed")) for p in pairs)
    done = ", ".join(f"{int(p.done.sum())}/{p.done.size}" for p in pairs)
    click.echo(f"  ensemble    {size} direction pairs, {len(pairs)} begun (seeds {seeds}; "
               f"points done {done}); the first at the root")

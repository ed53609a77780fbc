"""`landscape hessian --spectrum` and `--per-layer`: their options and the files they write."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.options import drop_none
from cli.outputs import save_figure, write_text

F = TypeVar("F", bound=Callable[..., Any])


def curvature_opts(func: F) -> F:
    """The options of the spectral density and of the per-block curvature."""
    for option in reversed([
        click.option("--spectrum", is_flag=True,
                     help="Also the spectral density by stochastic Lanczos quadrature: "
                          "OUTPUT/spectrum.json and OUTPUT/spectrum.png (log density axis)."),
        click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True,
                     help="--spectrum: Lanczos runs from independent random starts."),
        click.option("--steps", type=click.IntRange(min=1), default=50, show_default=True,
                     help="--spectrum: Lanczos steps (Hessian-vector products) per run."),
        click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="--spectrum: width of the Gaussian broadening [default: "
                          "sqrt(1e-5 · the spectrum's range), PyHessian's]."),
        click.option("--per-layer", is_flag=True,
                     help="Also the top eigenvalue and trace of each layer's, residual block's "
                          "and stage's diagonal Hessian block: hessian.json `layers`, `blocks`, "
                          "`stages`; OUTPUT/layers.png and OUTPUT/blocks.png."),
        click.option("--layer-steps", type=click.IntRange(min=1), default=20,
                     show_default=True,
                     help="--per-layer: Lanczos steps on each block (the traces use "
                          "--trace-samples probes, shared by all blocks)."),
    ]):
        func = option(func)
    return func


def check_curvature(trace_samples: int, *, per_layer: bool = False, **_: Any) -> None:
    """Refuse, before any work, options that cannot go together."""
    if per_layer and trace_samples < 2:
        raise click.BadParameter("--per-layer takes the blocks' traces (and their standard "
                                 "errors) from the trace probes: give --trace-samples 2 or more",
                                 param_hint="--trace-samples")


def write_curvature(net: Any, data: Any, out: Path, result: dict[str, Any], *, seed: int,
                    batch_size: int | None, trace_samples: int, progress: bool,
                    spectrum: bool = False, runs: int = 10, steps: int = 50,
                    sigma: float | None = None, per_layer: bool = False,
                    layer_steps: int = 20, loss_fn: Any = None) -> None:
    """Compute what the options ask for, write its files and add its summary to `result`
    (`loss_fn`: the per-sample loss, None for cross-entropy)."""
    if spectrum:
        from landscape.analysis.spectrum import spectral_density, spectrum_record
        from landscape.pictures.spectrum import spectrum_figure

        spec = spectral_density(net, data, runs=runs, steps=steps, seed=seed, progress=progress,
                                **drop_none(batch_size=batch_size, loss_fn=loss_fn))
        record = spectrum_record(spec, sigma=sigma)
        label = str(result.get("arch") or "")
        record = {"checkpoint": result.get("checkpoint"), "arch": result.get("arch"),
                  "samples": result.get("samples"), **record}
        write_text(out / "spectrum.json", json.dumps(record) + "\n")
        save_figure(spectrum_figure({label: record} if label else record),
                    out / "spectrum.png", dpi=120)
        result["spectrum"] = {k: v for k, v in record.items()
                              if k not in ("grid", "density", "ritz", "checkpoint", "arch",
                                           "samples")}
        result["spectrum"]["file"] = str(out / "spectrum.json")
    if per_layer:
        from landscape.analysis.blocks import LEVELS, block_curvature, parameter_groups
        from landscape.pictures.spectrum import blocks_figure

        names = [k for k, _ in net.named_parameters()]
        groups = {f"{level}:{name}": tensors for level in LEVELS
                  for name, tensors in parameter_groups(names, level).items()}
        rows = block_curvature(net, data, groups, steps=layer_steps, probes=trace_samples,
                               seed=seed, progress=progress,
                               **drop_none(batch_size=batch_size, loss_fn=loss_fn))
        for level in LEVELS:
            result[f"{level}s"] = [{**r.record(), "name": r.name.split(":", 1)[1]}
                                   for r in rows if r.name.startswith(level + ":")]
        label = str(result.get("arch") or "")
        for level, name in (("layer", "layers"), ("block", "blocks")):
            save_figure(blocks_figure({label: result[f"{level}s"]} if label
                                      else result[f"{level}s"],
                                      title=f"Hessian diagonal block of each {level}: "
                                            f"top eigenvalue and trace"),
                        out / f"{name}.png", dpi=120)

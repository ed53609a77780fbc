"""`landscape responses`: std of the 3x3 layer responses of plain and residual nets (Fig. 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import refuse_existing, save_figure, write_text


def _label(meta: dict[str, Any], path: str) -> str:
    """'plain-20' / 'resnet-20' from the checkpoint's architecture, else the file name (made
    printable, `$` escaped: it is a legend entry, and `$..$` would be mathtext)."""
    match = re.match(r"(?:resnet|wrn)(\d+)", str(meta.get("arch") or ""))
    if match:
        return f"{'resnet' if meta.get('skip', True) else 'plain'}-{match.group(1)}"
    stem = options.picture_text(Path(path).stem)
    return stem.replace("$", r"\$")


@click.command()
@click.argument("checkpoints", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@options.checkpoint_data_opts(split="test")
@click.option("--samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Images the responses are measured on (the embedded set has at most 50,000 "
                   "train and 10,000 test images, CIFAR as many).")
@click.option("--reduce", type=click.Choice(["all", "channel"]), default=None,
              help="std over all values (default) or per channel, averaged.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace the results of an earlier run.")
@options.device_opt
@options.nonfinite_opt
@options.output_dir_opt
@options.errors_as_click
def responses(checkpoints: tuple[str, ...], model: str | None, dataset: str, split: str,
              samples: int, reduce: str | None, batch_size: int | None, seed: int,
              overwrite: bool, device: str | None, allow_nonfinite: bool, output: str) -> None:
    """Std of each 3x3 layer's response (after BN, before the addition) for every checkpoint,
    e.g. plain and residual nets of the same depth (He et al. 2015, Fig. 7).

    Writes OUTPUT/responses.json and OUTPUT/responses.png.
    """
    refuse_existing(output, ("responses.json", "responses.png"), overwrite=overwrite)
    options.check_samples(dataset, split, samples, "--samples")
    import torch
    from tqdm.auto import tqdm

    from models.checkpoint import load_checkpoint
    from models.data import evaluation_tensors
    from models.studies.responses import layer_responses, responses_figure

    out = Path(output)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    nets = {}  # every checkpoint is loaded (and checked) before any data is built
    for path in checkpoints:
        net, meta = load_checkpoint(path, model, map_location=dev,
                                    allow_nonfinite=allow_nonfinite)
        label = _label(meta, path)
        while label in nets:
            label += "'"
        nets[label] = net
    x, _ = evaluation_tensors(dataset, split, samples=samples, seed=seed)
    x = x.to(dev)
    results: dict[str, dict[str, float]] = {}
    for label, net in tqdm(nets.items(), desc="responses", unit="net"):
        results[label] = layer_responses(
            net, x, **options.drop_none(reduce=reduce, batch_size=batch_size))
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "responses.json", json.dumps(
        {"checkpoints": list(checkpoints), "dataset": dataset, "split": split,
         "samples": samples, "reduce": reduce or "all", "responses": results}, indent=2) + "\n")
    save_figure(responses_figure(results), out / "responses.png", dpi=120)
    for label, stds in results.items():
        values = list(stds.values())
        click.echo(f"{label:>12}: {len(values)} layers, mean std {sum(values) / len(values):.3f}")
    click.echo(f"-> {out / 'responses.png'}")

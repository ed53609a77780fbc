"""`landscape responses`: std of the 3x3 layer responses of plain and residual nets (Fig. 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from cli.options import device_opt, drop_none, errors_as_click, output_dir_opt


def _label(meta: dict[str, Any], path: str) -> str:
    """'plain-20' / 'resnet-20' from the checkpoint's architecture, else the file name."""
    match = re.match(r"(?:resnet|wrn)(\d+)", str(meta.get("arch") or ""))
    if match:
        return f"{'resnet' if meta.get('skip', True) else 'plain'}-{match.group(1)}"
    return Path(path).stem


@click.command()
@click.argument("checkpoints", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("--model", default=None, help="Model name, for checkpoints without metadata.")
@click.option("--dataset", default="embedded", show_default=True)
@click.option("--split", type=click.Choice(["train", "test"]), default="test",
              show_default=True)
@click.option("--samples", type=int, default=500, show_default=True)
@click.option("--reduce", type=click.Choice(["all", "channel"]), default=None,
              help="std over all values (default) or per channel, averaged.")
@click.option("--batch-size", type=int, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@device_opt
@output_dir_opt
@errors_as_click
def responses(checkpoints: tuple[str, ...], model: str | None, dataset: str, split: str,
              samples: int, reduce: str | None, batch_size: int | None, seed: int,
              device: str | None, output: str) -> None:
    """Std of each 3x3 layer's response (after BN, before the addition) for every checkpoint,
    e.g. plain and residual nets of the same depth (He et al. 2015, Fig. 7).

    Writes OUTPUT/responses.json and OUTPUT/responses.png.
    """
    import torch
    from tqdm.auto import tqdm

    from models.checkpoint import load_checkpoint
    from models.data import evaluation_tensors
    from models.responses import layer_responses, responses_figure

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x, _ = evaluation_tensors(dataset, split, samples=samples, seed=seed)
    x = x.to(dev)
    results: dict[str, dict[str, float]] = {}
    for path in tqdm(checkpoints, desc="responses", unit="net"):
        net, meta = load_checkpoint(path, model, map_location=dev)
        label = _label(meta, path)
        while label in results:
            label += "'"
        results[label] = layer_responses(net, x, **drop_none(reduce=reduce,
                                                             batch_size=batch_size))
    (out / "responses.json").write_text(json.dumps(
        {"checkpoints": list(checkpoints), "dataset": dataset, "split": split,
         "samples": samples, "reduce": reduce or "all", "responses": results}, indent=2) + "\n")
    responses_figure(results).savefig(out / "responses.png", dpi=120)
    for label, stds in results.items():
        values = list(stds.values())
        click.echo(f"{label:>12}: {len(values)} layers, mean std {sum(values) / len(values):.3f}")
    click.echo(f"-> {out / 'responses.png'}")

"""`landscape degradation`: train plain and residual nets of two depths, draw their error curves."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import (
    DATASETS,
    check_samples,
    device_opt,
    drop_none,
    errors_as_click,
    output_dir_opt,
)
from cli.outputs import refuse_existing, save_figure, write_text


def _depths(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """'20,56' -> [20, 56], each a CIFAR ResNet depth 6n + 2."""
    try:
        depths = [int(d) for d in value.split(",") if d.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated depths, e.g. 20,56; got "
                                 f"{value!r}") from None
    wrong = [d for d in depths if d < 8 or (d - 2) % 6]
    if not depths or wrong:
        raise click.BadParameter(f"each depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, "
                                 f"56, 110, ...), got {value!r}")
    from models.cifar import DEEPEST

    if max(depths) > DEEPEST:
        raise click.BadParameter(f"depth {max(depths):,} is more than the {DEEPEST:,} layers "
                                 f"built here (He et al.'s deepest has 1,202); pass depths of "
                                 f"at most {DEEPEST:,}")
    return depths


@click.command()
@click.option("--depths", default="20,56", show_default=True, callback=_depths,
              help="Comma-separated CIFAR ResNet depths (6n+2).")
@click.option("--width", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Channel multiplier (library default 0.5; 1 is the paper's nets).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs per net (library default 8).")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Training items (library default 3000; the embedded set has at most "
                   "50,000, CIFAR as many).")
@click.option("--test-samples", type=click.IntRange(min=1), default=None,
              help="Test items (library default 1000; at most 10,000).")
@click.option("--dataset", type=click.Choice(DATASETS), default=None,
              help="Training and test data [default: embedded].")
@click.option("--data-root", "root", default=None)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default=None)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--zero-init-residual/--no-zero-init-residual", default=None,
              help="γ = 0 for each residual branch's last BN (library default: on; He et al.: "
                   "off).")
@click.option("--save-checkpoints", is_flag=True, help="Keep each net's checkpoints in OUTPUT.")
@click.option("--overwrite", is_flag=True, help="Replace the results of an earlier run.")
@device_opt
@output_dir_opt
@errors_as_click
def degradation(depths: list[int], width: float | None, epochs: int | None, samples: int | None,
                test_samples: int | None, dataset: str | None, root: str | None,
                lr: float | None, batch_size: int | None, schedule: str | None,
                weight_decay: float | None, seed: int, zero_init_residual: bool | None,
                save_checkpoints: bool, overwrite: bool,
                device: str | None, output: str) -> None:
    """Train plain-D and ResNet-D for each depth D on the same data (He et al. Fig. 1 and 6).

    Writes OUTPUT/degradation.json (the curves) and OUTPUT/degradation.png.
    """
    refuse_existing(output, ("degradation.json", "degradation.png", "checkpoints/*/*.pt"),
                    overwrite=overwrite)
    check_samples(dataset or "embedded", "train", samples, "--samples")
    check_samples(dataset or "embedded", "test", test_samples, "--test-samples")
    from models.studies.degradation import degradation_figure, run_degradation

    out = Path(output)
    result = run_degradation(
        depths=depths, seed=seed,
        checkpoint_dir=out / "checkpoints" if save_checkpoints else None,
        **drop_none(width=width, epochs=epochs, samples=samples, test_samples=test_samples,
                    dataset=dataset, root=root, lr=lr, batch_size=batch_size, schedule=schedule,
                    weight_decay=weight_decay, device=device,
                    zero_init_residual=zero_init_residual))
    write_text(out / "degradation.json", json.dumps(result, indent=2) + "\n")
    save_figure(degradation_figure(result), out / "degradation.png", dpi=120)
    for name, run in result["runs"].items():
        click.echo(f"{name:>10}: final train error {run['train_error'][-1]:5.1f}%  "
                   f"test error {run['test_error'][-1]:5.1f}%  ({run['seconds']:.0f} s)")
    click.echo(f"-> {out / 'degradation.json'}, {out / 'degradation.png'}")

"""`landscape degradation`: train plain and residual nets of two depths, draw their error curves."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import device_opt, drop_none, errors_as_click, output_dir_opt


@click.command()
@click.option("--depths", default="20,56", show_default=True,
              help="Comma-separated CIFAR ResNet depths (6n+2).")
@click.option("--width", type=float, default=None,
              help="Channel multiplier (library default 0.5; 1 is the paper's nets).")
@click.option("--epochs", type=int, default=None, help="Epochs per net (library default 8).")
@click.option("--samples", type=int, default=None, help="Training items (library default 3000).")
@click.option("--test-samples", type=int, default=None)
@click.option("--dataset", default=None, help="embedded (default), cifar10, cifar100, ...")
@click.option("--data-root", "root", default=None)
@click.option("--lr", type=float, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--zero-init-residual/--no-zero-init-residual", default=None,
              help="γ = 0 for each residual branch's last BN (library default: on; He et al.: "
                   "off).")
@click.option("--save-checkpoints", is_flag=True, help="Keep each net's checkpoints in OUTPUT.")
@device_opt
@output_dir_opt
@errors_as_click
def degradation(depths: str, width: float | None, epochs: int | None, samples: int | None,
                test_samples: int | None, dataset: str | None, root: str | None,
                lr: float | None, batch_size: int | None, schedule: str | None,
                weight_decay: float | None, seed: int, zero_init_residual: bool | None,
                save_checkpoints: bool,
                device: str | None, output: str) -> None:
    """Train plain-D and ResNet-D for each depth D on the same data (He et al. Fig. 1 and 6).

    Writes OUTPUT/degradation.json (the curves) and OUTPUT/degradation.png.
    """
    from models.degradation import degradation_figure, run_degradation

    try:
        depth_list = [int(d) for d in depths.split(",") if d.strip()]
    except ValueError as err:
        raise click.BadParameter(f"expected comma-separated integers, got {depths!r}") from err
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    result = run_degradation(
        depths=depth_list, seed=seed,
        checkpoint_dir=out / "checkpoints" if save_checkpoints else None,
        **drop_none(width=width, epochs=epochs, samples=samples, test_samples=test_samples,
                    dataset=dataset, root=root, lr=lr, batch_size=batch_size, schedule=schedule,
                    weight_decay=weight_decay, device=device,
                    zero_init_residual=zero_init_residual))
    (out / "degradation.json").write_text(json.dumps(result, indent=2) + "\n")
    degradation_figure(result).savefig(out / "degradation.png", dpi=120)
    for name, run in result["runs"].items():
        click.echo(f"{name:>10}: final train error {run['train_error'][-1]:5.1f}%  "
                   f"test error {run['test_error'][-1]:5.1f}%  ({run['seconds']:.0f} s)")
    click.echo(f"-> {out / 'degradation.json'}, {out / 'degradation.png'}")

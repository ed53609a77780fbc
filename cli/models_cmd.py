"""`landscape models`: the model zoo with parameter counts and the skip flag."""

from __future__ import annotations

import click


@click.command("models")
def models_cmd() -> None:
    """List the model zoo: name, parameters, skip connections, input size.

    \b
    Also accepted wherever a model name is: wrn<depth>-<k> (CIFAR ResNet with k times the
    channels, e.g. wrn56-2), torchvision:<name> (weights=None) and package.module:factory.
    """
    import torch

    from models import create_model, list_models

    click.echo(f"{'name':<18} {'parameters':>12}  {'skip':<5} input")
    for name in list_models():
        with torch.device("meta"):  # counts only: no memory, no initialisation cost
            model = create_model(name)
        count = sum(p.numel() for p in model.parameters())
        size = ("32x32 (CIFAR)" if hasattr(model, "linear") else
                f"{model.block_size} tokens of {model.vocab_size}" if hasattr(model, "block_size")
                else "224x224 (ImageNet)")
        skip = "yes" if getattr(model, "skip", True) else "no"
        click.echo(f"{name:<18} {count:>12,}  {skip:<5} {size}")

"""`landscape train`: train a zoo model and write its checkpoints (the θ* to study)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import options, sources
from cli.outputs import prepare_output, refuse_existing


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Folder for the checkpoints [default: runs/MODEL].")
@click.option("--dataset", type=click.Choice(options.DATASETS),
              default="embedded", show_default=True, help="Training data.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding the data set (CIFAR or an ImageFolder).")
@click.option("--download", is_flag=True, help="Download CIFAR if it is not there.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Train on this many samples [default: all; embedded: 5,000, at most "
                   "50,000].")
@click.option("--test-samples", type=click.IntRange(min=1), default=None,
              help="Evaluate each epoch on this many test samples [default: all; embedded: "
                   "1,000, at most 10,000].")
@click.option("--data-seed", type=int, default=0, show_default=True,
              help="Seed of the data subset (and of the embedded images).")
@click.option("--augment/--no-augment", default=None,
              help="Random crop and flip [default: on for CIFAR and image folders].")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Initial learning rate [default: 0.1].")
@click.option("--momentum", type=click.FloatRange(min=0, max=1, max_open=True), default=None,
              help="SGD momentum [default: 0.9].")
@click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum [default: off].")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=None,
              help="[default: 5e-4].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: 128].")
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default=None,
              help="Learning-rate schedule [default: cosine].")
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]), default=None,
              help="sgd (with --momentum) or adamw (β1 = --momentum, β2 = 0.95; for "
                   "transformers, with e.g. --lr 3e-3 --weight-decay 0.01) [default: sgd].")
@sources.source_opts
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights and the shuffling.")
@click.option("--save-every", type=click.IntRange(min=1), default=None,
              help="Write a checkpoint every this many epochs [default: 1].")
@click.option("--width", type=click.FloatRange(min=0, min_open=True), default=None,
              help="CIFAR nets: channel multiplier of 16/32/64 (e.g. 0.5 or 2).")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Outputs of the head, at least the data set's number of classes "
                   "[default: that number].")
@options.device_opt
@click.option("--resume", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Continue from a checkpoint written by `landscape train`.")
@options.nonfinite_opt
@click.option("--overwrite", is_flag=True,
              help="Delete the checkpoints of an earlier run in OUTPUT and start again.")
@options.progress_opt
@options.errors_as_click
def train(model_name: str, output: str | None, dataset: str, data_root: str | None,
          download: bool, samples: int | None, test_samples: int | None, data_seed: int,
          augment: bool | None, epochs: int, seed: int, width: float | None,
          num_classes: int | None, device: str | None, resume: str | None, overwrite: bool,
          progress: bool, block_size: int | None, data_factory: str | None, loss: str | None,
          allow_nonfinite: bool, **tuning: object) -> None:
    """Train MODEL (see `landscape models`) and write epoch_XXX.pt and final.pt checkpoints.

    MODEL may be an import path package.module:factory: that module is imported and the
    factory run, so name only code you trust.

    \b
    Example:
      landscape train resnet20 -o runs/r20 --epochs 10
      landscape train resnet56-noskip --dataset cifar10 --download --epochs 100
      landscape train gpt-mini --dataset tokens --optimizer adamw --lr 3e-3 --weight-decay 0.01
    """
    from models import check_model_memory, create_model
    from models.data import load_dataset
    from models.train import train_model

    if allow_nonfinite and not resume:
        raise click.UsageError("--allow-nonfinite lets --resume continue a checkpoint whose "
                               "weights hold NaN or inf; a new run starts from finite weights: "
                               "leave it out, or pass --resume CHECKPOINT")
    out = Path(output or Path("runs") / model_name)
    prepare_output(out, folder=True, keep="*.pt")  # a failed run keeps its checkpoints
    from landscape.engine.store import writer_lock

    # one run at a time in a folder (released when the command ends, however it ends)
    click.get_current_context().with_resource(writer_lock(out))
    if not resume:  # a new run's epochs must not mix with an earlier run's
        refuse_existing(out, ("epoch_*.pt", "final.pt"), overwrite=overwrite,
                                fix="pass --resume CHECKPOINT to continue it, --overwrite to "
                                    "start again (its checkpoints are deleted)")
        if overwrite:
            for old in [*out.glob("epoch_*.pt"), out / "final.pt"]:
                old.unlink(missing_ok=True)
    if num_classes is not None:
        options.check_classes(dataset, num_classes)
    if data_factory is None:
        options.check_samples(dataset, "train", samples, "--samples")
        options.check_samples(dataset, "test", test_samples, "--test-samples")
    loss_fn = sources.resolve_loss(loss)
    user_factory = ":" in model_name and not model_name.startswith("torchvision:")

    def build(classes: int | None) -> Any:
        kwargs = options.drop_none(width=width,
                                   num_classes=None if user_factory else num_classes or classes)
        check_model_memory(model_name, **kwargs)  # on the meta device: nothing allocated
        return create_model(model_name, seed=seed, **kwargs)

    # the model before the data where its head size is known, so a bad name costs nothing
    classes = None if data_factory else options.known_classes(dataset)
    model = (_resumed(resume, model_name, epochs, allow_nonfinite, width=width,
                      num_classes=num_classes)
             if resume else
             build(classes) if classes or user_factory else None)
    if data_factory is not None:
        train_set, test_set = (_factory_set(data_factory, split, n, data_seed, block_size)
                               for split, n in (("train", samples), ("test", test_samples)))
        augment, dataset = False, data_factory
        data: dict[str, Any] = {"factory": data_factory, "seed": data_seed}
    else:
        augment = dataset in ("cifar10", "cifar100", "imagefolder") if augment is None \
            else augment
        data = {"root": data_root, "download": download, "seed": data_seed}
        tokens = {"block_size": block_size} if block_size is not None else {}
        train_set = load_dataset(dataset, "train", augment=augment, n=samples, **data, **tokens)
        test_set = load_dataset(dataset, "test", n=test_samples, **data, **tokens)
    if model is None:
        model = build(max(len(getattr(s, "classes", ())) for s in (train_set, test_set)))
    if hasattr(train_set, "classes"):
        options.check_head(model, train_set, dataset)
    meta = {"dataset": dataset, "loss": sources.loss_record(loss_fn),
            "data": {**data, "n": samples, "test_n": test_samples, "augment": augment,
                     "download": None, "block_size": block_size}}
    history = train_model(model, train_set, test_set, epochs=epochs, seed=seed,
                          checkpoint_dir=out, device=device, progress=progress,
                          resume_from=resume, meta=meta, loss_fn=loss_fn,
                          allow_nonfinite=allow_nonfinite,
                          **options.drop_none(**tuning))
    saved = sorted(p.name for p in out.glob("epoch_*.pt"))
    click.echo(f"checkpoints in {out}/: {', '.join(saved + ['final.pt'])}")
    if history["epoch"]:
        click.echo(f"final: {out / 'final.pt'} (epoch {history['epoch'][-1]}, train loss "
                   f"{history['train_loss'][-1]:.4g}, acc {history['train_acc'][-1]:.1f}%, test "
                   f"loss {history['test_loss'][-1]:.4g}, acc {history['test_acc'][-1]:.1f}%)")


def _factory_set(path: str, split: str, n: int | None, seed: int, block_size: int | None
                 ) -> Any:
    """A split of the user's data factory as a TensorDataset."""
    from torch.utils.data import TensorDataset

    data = sources.call_factory(path, split=split, samples=n, seed=seed, block_size=block_size)
    if isinstance(data, tuple):
        return TensorDataset(*data)
    raise ValueError(f"--data {path!r} gave an iterable of batches for {split}; training "
                     f"needs (inputs, targets) tensors or a Dataset")


def _resumed(path: str, model_name: str, epochs: int, allow_nonfinite: bool, **arch: Any
             ) -> Any:
    """The model of a `landscape train` checkpoint to continue, refused unless it is MODEL's
    (with the --width and --num-classes given, if any), has epochs left to train and, unless
    `allow_nonfinite`, holds finite weights. Its loss, data and optimizer settings are checked
    against this run's by `models.train.check_resume`; the names the file records are compared,
    never imported."""
    from models.checkpoint import load_checkpoint, read_checkpoint

    blob = read_checkpoint(path)
    stored = blob.get("meta") if isinstance(blob, dict) else None
    stored = stored if isinstance(stored, dict) else {}
    if not stored.get("arch"):
        raise ValueError(f"--resume {path!r} was refused: it records no model, so it was not "
                         f"written by `landscape train`; resume only such checkpoints, or start "
                         f"a new run without --resume")
    if stored.get("arch") != model_name:
        raise ValueError(f"--resume {path!r} was refused: it holds a checkpoint of "
                         f"{stored.get('arch')!r:.80}, not of {model_name!r}; resume it with the "
                         f"MODEL it was trained as, or start a new run without --resume")
    kwargs = stored.get("arch_kwargs") if isinstance(stored.get("arch_kwargs"), dict) else {}
    changed = [f"--{k.replace('_', '-')} {kwargs.get(k)!r} in the checkpoint, {v!r} now"
               for k, v in arch.items() if v is not None and kwargs.get(k) != v]
    if changed:
        raise ValueError(f"--resume {path!r} was refused: it holds another network "
                         f"({'; '.join(changed)}); leave those options out to continue it, or "
                         f"start a new run without --resume")
    epoch = stored.get("epoch")
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= epochs:
        raise ValueError(f"--resume {path!r} is at epoch {epoch} already; pass --epochs "
                         f"{epoch + 1} or more to train further")
    model, _ = load_checkpoint(path, model_name, allow_nonfinite=allow_nonfinite)
    return model

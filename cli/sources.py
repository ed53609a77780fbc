"""The user's own data and loss on the command line: --data, --loss and --block-size.

`--data package.module:factory` names a function that returns the evaluation data: a pair of
`(inputs, targets)` tensors, a torch `Dataset` of such pairs, or an iterable of `(inputs,
targets)` batches (a DataLoader). It is called with those of `split`, `samples`, `seed` and
`block_size` that it takes as keywords. `--loss NAME|package.module:function` names a per-sample
loss. Import paths are imported from the current folder first (as under `python -m`); a name
read back from a file is never imported: files record the names, commands never take them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

LOSS_NAMES = ("cross-entropy", "token-cross-entropy", "mse")  # toolkit.losses.LOSSES

LOSS_HELP = ("Per-sample loss: cross-entropy (also of sequences, token by token), "
             "token-cross-entropy (each sequence's mean over its tokens), mse, or an import path "
             "package.module:function taking (outputs, targets) and returning one loss per "
             "sample; imported from the current folder first [default: cross-entropy].")
DATA_HELP = ("Your own evaluation data: an import path package.module:factory returning "
             "(inputs, targets) tensors, a Dataset or an iterable of batches; it is called with "
             "those of split, samples, seed and block_size it takes. Replaces --dataset. "
             "Imported from the current folder first: name only code you trust.")
BLOCK_HELP = "Token data (tokens, nanogpt): tokens per sequence [default: 32]."

loss_opt = click.option("--loss", "loss", default=None, metavar="NAME|MODULE:FN",
                        help=LOSS_HELP)
data_factory_opt = click.option("--data", "data_factory", default=None,
                                metavar="MODULE:FACTORY", help=DATA_HELP)
block_size_opt = click.option("--block-size", type=click.IntRange(min=2), default=None,
                              help=BLOCK_HELP)


def source_opts(func: F) -> F:
    """--data, --loss and --block-size."""
    return data_factory_opt(loss_opt(block_size_opt(func)))


def resolve_loss(text: str | None) -> Any:
    """The loss function `--loss` names: None for the default (cross-entropy, recorded as
    `cross_entropy`), a built-in, or a user's function (recorded as the path typed).

    Raises:
        ValueError: an unknown name, or an import path that does not give a callable.
    """
    if text is None or text == "cross-entropy":
        return None
    from models.imports import import_object, is_import_path
    from toolkit.losses import builtin_loss

    if not is_import_path(text):
        return builtin_loss(text)
    fn = import_object(text, "loss")
    if not callable(fn):
        raise ValueError(f"--loss {text!r} is not a function (a {type(fn).__name__})")
    return _NamedLoss(fn, text)


def loss_record(loss_fn: Any) -> str:
    """The name a file records for a loss from `resolve_loss`."""
    from landscape.engine.spec import loss_name

    return loss_name(loss_fn)


class _NamedLoss:
    """A user's loss function under the name the user typed (what a surface file records)."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn, self.loss_name = fn, name

    def __call__(self, outputs: Any, targets: Any) -> Any:
        return self.fn(outputs, targets)


def load_source(dataset: str, data_root: str | None, download: bool, split: str,
                samples: int | None, data_seed: int, normalize: str | None = None, *,
                block_size: int | None = None, data_factory: str | None = None
                ) -> tuple[Any, dict[str, Any]]:
    """The evaluation data and its provenance: from `data_factory` when given, else the named
    data set (`options.load_data`)."""
    from cli import options

    if data_factory is None:
        return options.load_data(dataset, data_root, download, split, samples, data_seed,
                                 normalize, block_size=block_size)
    data = call_factory(data_factory, split=split, samples=samples, seed=data_seed,
                        block_size=block_size)
    from landscape.engine.evaluate import sample_tensors

    tensors = sample_tensors(data)
    meta = {"dataset": data_factory, "data": data_factory, "data_seed": data_seed,
            "samples": None if tensors is None else len(tensors[0])}
    if block_size is not None:
        meta["block_size"] = block_size
    return data, meta


def call_factory(path: str, **offered: Any) -> Any:
    """Call the data factory `path` with the keywords of `offered` it takes, and bring what it
    returns into a form the engine reads: `(inputs, targets)` tensors (the first `samples`, if
    the factory does not take `samples`), or a list of batches.

    Raises:
        ValueError: an import path that does not give a callable, or a result of another kind.
    """
    import torch
    from torch.utils.data import Dataset

    from models.imports import import_object

    factory = import_object(path, "data")
    if not callable(factory):
        raise ValueError(f"--data {path!r} is not a function (a {type(factory).__name__})")
    params = inspect.signature(factory).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in offered.items()
              if v is not None and (takes_all or k in params)}
    result = factory(**kwargs)
    samples = offered.get("samples")
    cut = samples if "samples" not in kwargs else None
    if (isinstance(result, (tuple, list)) and len(result) == 2
            and all(isinstance(t, torch.Tensor) for t in result)):
        inputs, targets = result
        if len(inputs) != len(targets):
            raise ValueError(f"--data {path!r} returned {len(inputs)} inputs but "
                             f"{len(targets)} targets")
        return inputs[:cut].contiguous(), targets[:cut].contiguous()
    if isinstance(result, Dataset) and hasattr(result, "__len__"):
        count = len(result) if cut is None else min(cut, len(result))
        items = [result[i] for i in range(count)]
        if not items:
            raise ValueError(f"--data {path!r} returned an empty data set")
        inputs = torch.stack([torch.as_tensor(x) for x, _ in items])
        targets = torch.stack([torch.as_tensor(y) for _, y in items])
        return inputs, targets
    try:
        batches = iter(result)
    except TypeError:
        raise ValueError(f"--data {path!r} returned a {type(result).__name__}; return "
                         f"(inputs, targets) tensors, a Dataset, or an iterable of "
                         f"(inputs, targets) batches") from None
    if batches is result:  # a generator can be read only once: keep its batches
        return list(result)
    return result

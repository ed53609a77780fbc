"""The built-in per-sample losses, by name, and the accuracy that goes with them.

A loss here is `loss_fn(outputs, targets) -> (B,)`: one value per sample, never reduced over
the batch, so that every point of a surface carries the standard error of its mean. One sample
of a language model is one sequence, and its loss is the mean over the sequence's tokens.

    cross-entropy        classification: outputs (B, C), class labels (B,); for sequence
                         outputs (B, T, C) with labels (B, T), the same as token-cross-entropy
    token-cross-entropy  outputs (B, T, V), labels (B, T): cross-entropy of every token, averaged
                         over the T tokens of each sequence
    mse                  squared error averaged over each sample's entries; class labels (B,) or
                         (B, T) against outputs with one more dimension are taken one-hot
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "LossFn", "accuracy", "cross_entropy", "builtin_loss", "mse",
           "token_cross_entropy"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def _is_sequence(outputs: Tensor, targets: Tensor) -> bool:
    """Outputs (B, T, C) scored against labels (B, T): the class dimension is the last."""
    return (outputs.dim() == 3 and targets.dim() == 2 and not targets.is_floating_point()
            and outputs.shape[:2] == targets.shape)


def token_cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-sequence mean of the tokens' cross-entropy: logits (B, T, V), labels (B, T) -> (B,)."""
    if not _is_sequence(outputs, targets):
        raise ValueError(f"token-cross-entropy takes logits (B, T, V) and token labels (B, T), "
                         f"got outputs {tuple(outputs.shape)} and targets "
                         f"{tuple(targets.shape)} ({targets.dtype}); use --loss cross-entropy "
                         f"for classification")
    per_token = F.cross_entropy(outputs.flatten(0, 1), targets.flatten(), reduction="none")
    return per_token.view(targets.shape).mean(1)


def cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-sample cross-entropy: (B, C) logits and (B,) labels, or sequences as
    `token_cross_entropy` (the class dimension last)."""
    if _is_sequence(outputs, targets):
        return token_cross_entropy(outputs, targets)
    return F.cross_entropy(outputs, targets, reduction="none")


def mse(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-sample mean squared error; integer labels with one dimension fewer than the outputs
    are compared one-hot (the MSE classification loss)."""
    if not targets.is_floating_point() and targets.dim() == outputs.dim() - 1:
        targets = F.one_hot(targets, outputs.shape[-1])
    targets = targets.to(outputs.dtype)
    if targets.shape != outputs.shape:
        raise ValueError(f"mse compares outputs {tuple(outputs.shape)} with targets of the same "
                         f"shape (or class labels), got targets {tuple(targets.shape)}")
    return (outputs - targets).pow(2).flatten(1).mean(1)


LOSSES: dict[str, LossFn] = {"cross-entropy": cross_entropy,
                             "token-cross-entropy": token_cross_entropy, "mse": mse}
"""The built-in losses by their command-line names."""

for _name, _fn in LOSSES.items():
    _fn.loss_name = _name  # type: ignore[attr-defined] # the name a surface file records


def builtin_loss(name: str) -> LossFn:
    """The built-in loss called `name`.

    Raises:
        ValueError: an unknown name (the message lists the built-in ones).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; built in: {', '.join(LOSSES)}, or an import "
                         f"path package.module:function")
    return LOSSES[name]


def accuracy(outputs: Tensor, targets: Tensor) -> Tensor | None:
    """Per-sample top-1 accuracy (B,) in [0, 1]: 0 or 1 for a class label, the fraction of
    tokens predicted right for a sequence; None when `targets` are not class labels."""
    if targets.is_floating_point() or outputs.dim() != targets.dim() + 1:
        return None
    hits = (outputs.argmax(-1) == targets).to(torch.float64)
    return hits.flatten(1).mean(1) if hits.dim() > 1 else hits

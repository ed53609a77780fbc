"""The residual-response experiment of He et al. 2015 (arXiv:1512.03385, Sec. 4.2, Fig. 7).

The response of a 3x3 layer is its output after BN and before the nonlinearity and the
shortcut addition: in a `BasicBlock`, `bn1(conv1(x))` and `bn2(conv2(.))`; in the stem,
`bn1(conv1(x))`. He et al. report the standard deviation of every such response for plain and
residual nets of the same depth: the residual nets' responses are generally smaller, which
supports their argument that residual functions are closer to zero than unreferenced ones
(H(x) ≈ x, so F(x) = H(x) − x is small).

Responses are found by forward hooks on each BN that directly follows a 3x3 convolution in its
parent module, so any ResNet-like model built of `conv, bn` pairs works; the model is evaluated
in eval mode (running BN statistics) and left as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["response_layers", "layer_responses", "responses_figure", "Reduce"]

Reduce = Literal["all", "channel"]
_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)


def response_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, BN module) of every BN that directly follows a 3x3 conv in its parent.

    "Follows" is registration order among the parent's children (conv1, bn1, relu, conv2, bn2,
    shortcut in a `BasicBlock`), which is the order of the forward pass in these models.
    """
    out = []
    for parent_name, parent in model.named_modules():
        children = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and tuple(conv.kernel_size) == (3, 3) \
                    and isinstance(bn, _BN):
                out.append((f"{parent_name}.{bn_name}" if parent_name else bn_name, bn))
    return out


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _inputs(data: Any, batch_size: int) -> Iterator[Tensor]:
    if isinstance(data, Tensor):
        data = (data,)
    if isinstance(data, (tuple, list)) and data and isinstance(data[0], Tensor):
        inputs = data[0]
        for s in range(0, len(inputs), batch_size):
            yield inputs[s:s + batch_size]
    elif isinstance(data, Iterable):
        for batch in data:
            yield batch[0] if isinstance(batch, (tuple, list)) else batch
    else:
        raise TypeError(f"data must be inputs, (inputs, targets) or an iterable of batches, "
                        f"got {type(data).__name__}")


class _Moments:
    """Per-channel float64 sums of x and x² over (N, H, W)."""

    def __init__(self) -> None:
        self.n = 0
        self.s1: Tensor | None = None
        self.s2: Tensor | None = None

    def __call__(self, module: nn.Module, args: Any, output: Tensor) -> None:
        x = output.detach().double().transpose(0, 1).reshape(output.shape[1], -1)
        s1, s2 = x.sum(1).cpu(), x.pow(2).sum(1).cpu()
        self.s1 = s1 if self.s1 is None else self.s1 + s1
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.n += x.shape[1]

    def std(self, reduce: Reduce) -> float:
        if self.s1 is None or self.s2 is None or self.n < 2:
            return float("nan")
        if reduce == "channel":
            mean = self.s1 / self.n
            var = (self.s2 / self.n - mean.pow(2)).clamp_min(0) * self.n / (self.n - 1)
            return float(var.sqrt().mean())
        total = self.n * len(self.s1)
        mean = self.s1.sum() / total
        var = (self.s2.sum() / total - mean**2).clamp_min(0) * total / (total - 1)
        return float(var.sqrt())


def layer_responses(model: nn.Module, data: Any, *, batch_size: int = 256,
                    reduce: Reduce = "all") -> dict[str, float]:
    """Standard deviation of every 3x3 layer's response (after BN, before addition/ReLU).

    Args:
        model: a ResNet-like model (see `response_layers`); evaluated in eval mode, no
            gradients, and left as it was (hooks are removed afterwards).
        data: input tensor `(N, C, H, W)`, `(inputs, targets)` tensors, or an iterable of
            batches; targets are not used.
        batch_size: images per forward pass for tensor data.
        reduce: `all`: the std of all the response's values (samples, channels, positions);
            `channel`: the std of each channel over samples and positions, averaged over the
            channels (leaves out the spread of the channel means, i.e. BN's β).

    Returns:
        `{bn_name: std}` in forward order (the layer index of He et al. Fig. 7).

    Raises:
        ValueError: the model has no 3x3 conv + BN pair, or `reduce` is unknown.
    """
    if reduce not in ("all", "channel"):
        raise ValueError(f"reduce must be 'all' or 'channel', got {reduce!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    layers = response_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no 3x3 convolution followed by a BN; the "
                         f"residual-response experiment needs a ResNet-like model")
    moments = {name: _Moments() for name, _ in layers}
    order: list[str] = []

    def recorder(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Tensor) -> None:
            if name not in order:
                order.append(name)
            moments[name](module, args, output)
        return hook

    handles = [bn.register_forward_hook(recorder(name)) for name, bn in layers]
    try:
        with _eval_mode(model), torch.no_grad():
            for x in _inputs(data, batch_size):
                model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: moments[name].std(reduce) for name in order}


def responses_figure(results: dict[str, dict[str, float]], *,
                     title: str | None = None) -> Figure:
    """Std of the layer responses per layer index (top) and sorted by magnitude (bottom).

    As He et al. 2015, Fig. 7. `results` maps a label ("plain-20", "resnet-20", ...) to the
    output of `layer_responses`. Plain nets are drawn dashed, residual ones solid, by label.
    """
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("no responses to draw")
    fig = Figure(figsize=(8.0, 7.0), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    for i, (label, stds) in enumerate(results.items()):
        values = list(stds.values())
        style = "--" if "plain" in label.lower() or "noskip" in label.lower() else "-"
        index = range(1, len(values) + 1)
        top.plot(index, values, ls=style, marker="o", ms=3, color=f"C{i}", label=label)
        bottom.plot(index, sorted(values, reverse=True), ls=style, marker="o", ms=3,
                    color=f"C{i}", label=label)
    top.set_xlabel("layer index (original)")
    bottom.set_xlabel("layer index (sorted by magnitude)")
    for ax in (top, bottom):
        ax.set_ylabel("std")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Std of 3x3 layer responses after BN, before addition "
                 "(He et al. Fig. 7)")
    return fig

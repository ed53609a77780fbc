"""The hot loop: loss and accuracy of a model at many points θ = base + Σ_d c_d · direction_d.

The model is used only through `torch.func.functional_call`, in eval mode (BN running
statistics) and under inference mode; its parameters, buffers and `training` flags are left as
they were. For every point the per-sample losses are accumulated as a sum and a sum of squares
(float64), so each point also carries the standard error of its mean loss at no extra pass.

K points can share one forward pass (`points_per_batch`): their weights are stacked and the
model is vmapped over them. That pays on a GPU, where a small model leaves the device idle; on a
small CPU one point at a time is usually as fast (see benchmarks/).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape.types import Params

__all__ = ["LossFn", "Data", "Precision", "BnMode", "PRECISIONS", "PointStats", "evaluate_points",
           "eval_mode", "default_loss", "auto_points_per_batch"]

LossFn = Callable[[Tensor, Tensor], Tensor]
Precision = Literal["fp32", "bf16", "fp16", "tf32"]
BnMode = Literal["eval", "recompute"]
PRECISIONS = ("fp32", "bf16", "fp16", "tf32")
Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]


def default_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-sample cross-entropy (no reduction): the classification loss of Li et al."""
    return F.cross_entropy(outputs, targets, reduction="none")


@dataclass(frozen=True)
class PointStats:
    """Results for P points; standard errors are of the mean over the N samples."""

    loss: np.ndarray            # (P,) mean loss
    loss_se: np.ndarray         # (P,) standard error of the mean loss (NaN: loss_fn reduced)
    acc: np.ndarray | None      # (P,) accuracy in percent, None when not a classification
    acc_se: np.ndarray | None   # (P,) standard error of the accuracy, percent
    samples: int                # N


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode and restore each one's own flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def _precision(precision: str, device: torch.device | None) -> Iterator[None]:
    device_type = device.type if device is not None else "cpu"
    if precision == "fp32":
        yield
    elif precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        with torch.autocast(device_type=device_type, dtype=dtype):
            yield
    elif precision == "tf32":
        old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    else:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")


def auto_points_per_batch(device: torch.device, bytes_per_point: int) -> int:
    """K, the points per forward pass: 1 on a CPU; on CUDA from free memory, at most 16."""
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1, min(16, free // max(1, 4 * bytes_per_point))))


def evaluate_points(model: nn.Module, base: Params, directions: list[Params], coords: np.ndarray,
                    data: Data, *, static: Params | None = None, loss_fn: LossFn | None = None,
                    batch_size: int = 256, points_per_batch: int = 1,
                    accuracy: bool | None = None, precision: Precision = "fp32",
                    bn_data: Data | None = None) -> PointStats:
    """Mean loss (and accuracy) of `model` at each point base + Σ_d coords[p, d] · directions[d].

    Args:
        model: any `nn.Module`; it is not modified.
        base: θ*, the tensors the directions move (parameters, or parameters and BN statistics),
            on the device the data is on.
        directions: one or two directions keyed like `base`.
        coords: (P, len(directions)) coefficients of the points.
        data: `(inputs, targets)` tensors resident on the device (sliced into batches of
            `batch_size`), or any iterable of `(inputs, targets)` batches (streamed, once per
            group of `points_per_batch` points).
        static: other tensors to substitute (e.g. buffers moved to the device); anything not
            in `base` or `static` is taken from the model itself.
        loss_fn: `loss_fn(outputs, targets)` giving per-sample losses `(B,)`; a 0-d result is
            taken as the batch mean (standard errors are then NaN). Default: cross-entropy.
        points_per_batch: K, points evaluated in one (vmapped) forward pass.
        accuracy: measure top-1 accuracy; default: when targets are integer class labels.
        precision: `fp32`; `bf16` or `fp16` run the forward pass under autocast (the loss is
            still reduced in float64); `tf32` allows TF32 matmuls on CUDA.
        bn_data: when given, the BN running statistics are re-estimated at every point on these
            samples (train-mode passes, cumulative average) before the point is evaluated; the
            model's own statistics are untouched (a private copy holds the new ones). One point
            per pass (`points_per_batch` is taken as 1).

    Returns:
        `PointStats` with one entry per row of `coords`; a point whose loss overflows holds
        inf/NaN and the others are unaffected.
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
    if coords.shape[1] != len(directions):
        raise ValueError(f"coords has {coords.shape[1]} columns for {len(directions)} directions")
    if points_per_batch < 1:
        raise ValueError(f"points_per_batch must be >= 1, got {points_per_batch}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    loss_fn = loss_fn or default_loss
    static = dict(static or {})
    # Tensors no direction moves (1-D under `biasbn`) need no per-point update.
    moving = [k for k in base if any(bool(d[k].any()) for d in directions)]
    static.update({k: base[k] for k in base if k not in moving})
    base_m = [base[k] for k in moving]
    dirs_m = [[d[k].to(base[k]) for k in moving] for d in directions]

    device = next(iter(base.values())).device if base else None
    net = model
    if bn_data is not None:
        net = _bn_copy(model, device)
        static = {k: v for k, v in static.items() if k not in _bn_buffer_names(net)}
        points_per_batch = 1
    results: list[_Sums] = []
    theta = [t.clone() for t in base_m]
    # Built once: `theta` is updated in place, so this dict stays valid for every point.
    tensors = {**static, **dict(zip(moving, theta, strict=True))}
    with eval_mode(model), torch.inference_mode(), _precision(precision, device):
        for start in range(0, len(coords), points_per_batch):
            block = coords[start:start + points_per_batch]
            if points_per_batch > 1:
                stacked = dict(zip(moving, _stacked_weights(block, base_m, dirs_m), strict=True))
                forward = vmap(lambda w, x: functional_call(net, {**static, **w}, (x,)),
                               in_dims=(0, None))
            else:
                _set_point_(theta, block[0], base_m, dirs_m)  # buffers reused: no allocation
            sums = _Sums(len(block), device)
            if bn_data is not None:
                _recompute_bn(net, tensors, bn_data, batch_size, device)
            for x, y in _batches(data, batch_size, device):
                if points_per_batch > 1:
                    out = forward(stacked, x)
                else:
                    out = functional_call(net, tensors, (x,)).unsqueeze(0)
                sums.add(out, y, loss_fn, accuracy)
            results.append(sums)
    return _collect(results)


def _bn_copy(model: nn.Module, device: torch.device | None) -> nn.Module:
    """A private copy whose BN layers average their statistics over all batches they see."""
    net = copy.deepcopy(model).to(device)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    return net.eval()


def _bn_buffer_names(net: nn.Module) -> set[str]:
    return {f"{name}.{b}" for name, m in net.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for b in ("running_mean", "running_var", "num_batches_tracked")}


def _recompute_bn(net: nn.Module, tensors: Params, data: Data, batch_size: int,
                  device: torch.device | None) -> None:
    """Re-estimate the BN statistics of `net` at weights `tensors` (train-mode passes)."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.train()
    try:
        for x, _ in _batches(data, batch_size, device):
            functional_call(net, tensors, (x,))
    finally:
        for m in bns:
            m.eval()


def _set_point_(theta: list[Tensor], coefficients: np.ndarray, base: list[Tensor],
                dirs: list[list[Tensor]]) -> None:
    """θ ← base + Σ c_d · d_d, in place in the preallocated `theta`."""
    torch._foreach_copy_(theta, base)
    for d, c in zip(dirs, coefficients, strict=True):
        if c != 0.0:
            torch._foreach_add_(theta, d, alpha=float(c))


def _stacked_weights(block: np.ndarray, base: list[Tensor], dirs: list[list[Tensor]]
                     ) -> list[Tensor]:
    """The moving tensors at the K points of `block`, stacked: (K, *shape)."""
    out = [t.unsqueeze(0).repeat(len(block), *([1] * t.dim())) for t in base]
    for axis, d in enumerate(dirs):
        for k, c in enumerate(block[:, axis]):
            if c != 0.0:
                torch._foreach_add_([o[k] for o in out], d, alpha=float(c))
    return out


def _batches(data: Data, batch_size: int, device: torch.device | None
             ) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        inputs, targets = data
        for s in range(0, len(inputs), batch_size):
            yield inputs[s:s + batch_size], targets[s:s + batch_size]
    else:
        for x, y in data:
            yield (x.to(device, non_blocking=True), y.to(device, non_blocking=True)) \
                if device is not None else (x, y)


class _Sums:
    """Float64 running sums over samples for K points, kept on the device until collected."""

    def __init__(self, k: int, device: torch.device | None) -> None:
        self.n = 0
        self.loss = torch.zeros(k, dtype=torch.float64, device=device)
        self.loss_sq = torch.zeros(k, dtype=torch.float64, device=device)
        self.correct = torch.zeros(k, dtype=torch.float64, device=device)
        self.has_acc = False
        self.reduced = False

    def add(self, out: Tensor, y: Tensor, loss_fn: LossFn, accuracy: bool | None) -> None:
        k, b = out.shape[0], y.shape[0]
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()
        losses = torch.stack([loss_fn(out[i], y) for i in range(k)]).double()
        if losses.dim() == 1:  # loss_fn reduced each batch to its mean
            self.reduced = True
            self.loss += losses * b
        else:
            self.loss += losses.sum(1)
            self.loss_sq += losses.pow(2).sum(1)
        use_acc = (not y.is_floating_point() and out.dim() == 3) if accuracy is None else accuracy
        if use_acc:
            self.has_acc = True
            self.correct += (out.argmax(-1) == y).sum(1).double()
        self.n += b


def _collect(results: list[_Sums]) -> PointStats:
    n = results[0].n if results else 0
    if n == 0:
        raise ValueError("the evaluation data is empty; pass at least one sample")
    total = torch.cat([r.loss for r in results]).cpu().numpy()
    total_sq = torch.cat([r.loss_sq for r in results]).cpu().numpy()
    mean = total / n
    with np.errstate(invalid="ignore", over="ignore"):
        var = np.maximum(total_sq / n - mean**2, 0.0) * n / max(n - 1, 1)
        se = np.sqrt(var / n)
    if any(r.reduced for r in results):
        se = np.full_like(mean, np.nan)
    acc = acc_se = None
    if results[0].has_acc:
        p = torch.cat([r.correct for r in results]).cpu().numpy() / n
        acc = 100.0 * p
        acc_se = 100.0 * np.sqrt(p * (1 - p) / max(n - 1, 1))
    return PointStats(loss=mean, loss_se=se, acc=acc, acc_se=acc_se, samples=n)


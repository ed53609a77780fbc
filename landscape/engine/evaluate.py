"""The hot loop: loss and accuracy of a model at many points θ = base + Σ_d c_d · direction_d.

The model is used only through `torch.func.functional_call`, in eval mode (BN running
statistics) and under inference mode; its parameters, buffers and `training` flags are left as
they were. For every point the per-sample losses are accumulated as a sum and a sum of squares
(float64), so each point also carries the standard error of its mean loss at no extra pass.
With an `EarlyStop`, the samples are read in blocks and a point stops at the first block
boundary where that standard error is small enough (`stop_mask`), so it is averaged over
fewer samples than the data holds (the sums themselves: `landscape.engine.sums`).

Every point also keeps its sums per sample block (`SampleBlocks`): the samples fall into B
blocks by one seeded random order that every point, and every surface on the same data, shares.
Leaving one block out of every point at once gives the jackknife replicates from which
`landscape.analysis.statistics` takes the sampling error of any metric, the correlation
between points (they average the same samples) included.

`Evaluator` holds what does not change from point to point (weight buffers overwritten in
place, low-precision twins, the compiled forward pass); `evaluate_points` is its one-call form.
K points can share one forward pass (`points_per_batch`): their weights are stacked and the
model is vmapped over them. That may pay on a GPU, where a small model leaves the device idle;
on a small CPU one point at a time is faster (docs/how-to/speed.md).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape.engine.params import state_tensors
from landscape.engine.sums import (
    DEFAULT_BLOCKS,
    SAMPLE_ORDER_SEED,
    EarlyStop,
    PointStats,
    SampleBlocks,
    Sums,
    block_count,
    collect,
    sample_order,
    stop_mask,
)
from landscape.engine.types import Params
from toolkit.losses import cross_entropy

if TYPE_CHECKING:
    from landscape.engine.fold import FusedConvs

__all__ = ["LossFn", "Data", "Precision", "BnMode", "PRECISIONS", "LOW_DTYPES", "PointStats",
           "EarlyStop", "Evaluator", "evaluate_points", "eval_mode", "default_loss",
           "plan_batches", "probe_bytes_per_image", "low_precision_supported", "stop_mask",
           "sample_tensors", "SampleBlocks", "SAMPLE_ORDER_SEED", "DEFAULT_BLOCKS",
           "sample_order", "block_count"]

LossFn = Callable[[Tensor, Tensor], Tensor]
Precision = Literal["fp32", "bf16", "fp16", "tf32"]
BnMode = Literal["eval", "recompute"]
PRECISIONS = ("fp32", "bf16", "fp16", "tf32")
Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]


def default_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Per-sample cross-entropy (no reduction): the classification loss of Li et al.; for a
    language model's logits (B, T, V) and tokens (B, T), the mean over each sequence's tokens."""
    return cross_entropy(outputs, targets)


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


LOW_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def low_precision_supported(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether `device` computes in `dtype` natively (else it is emulated, and slower than fp32).

    CUDA: fp16 always, bf16 from sm80 (A100, H100). A CPU: bf16 with AVX512-BF16, AMX or
    AVX-NE-CONVERT; fp16 is taken as unsupported on a CPU.
    """
    if device.type == "cuda":
        return dtype != torch.bfloat16 or torch.cuda.is_bf16_supported()
    if device.type != "cpu" or dtype != torch.bfloat16:
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16", "avx_ne_convert"))


@contextlib.contextmanager
def _tf32(device: torch.device | None, enabled: bool) -> Iterator[None]:
    """On CUDA, TF32 exactly when asked: PyTorch lets cuDNN convolutions use TF32 by default,
    so without this `fp32` would not be fp32 on an A100 or H100."""
    if device is None or device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


CUDA_IMAGES_PER_PASS = 4096


def plan_batches(free: int, bytes_per_image: float, bytes_per_point: int, samples: int | None,
                 batch_size: int | None = None, points_per_batch: int | None = None
                 ) -> tuple[int, int]:
    """(batch size, K) for a CUDA device with `free` bytes; the ones given are kept.

    A small model on a big GPU is bound by kernel launches at CPU batch sizes, so a forward
    pass should carry thousands of images: up to `CUDA_IMAGES_PER_PASS`, as many as half the
    free memory holds at `bytes_per_image` (activations, from `probe_bytes_per_image`). They
    come from one point when the data has that many samples, else from K points sharing the
    pass (at most 16, their weights within a quarter of the free memory).
    """
    images = int(max(1, min(CUDA_IMAGES_PER_PASS, (free // 2) // max(bytes_per_image, 1.0))))
    batch = batch_size or max(1, min(images, samples or images))
    k = points_per_batch or int(max(1, min(16, images // batch,
                                           (free // 4) // max(1, bytes_per_point))))
    return batch, k


def probe_bytes_per_image(model: nn.Module, tensors: Params, x: Tensor) -> float:
    """Peak CUDA memory of one forward pass over the images `x`, per image (fp32, unfolded:
    an upper bound for the folded or low-precision passes)."""
    dev = x.device
    torch.cuda.synchronize(dev)
    before = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    with eval_mode(model), torch.inference_mode():
        functional_call(model, tensors, (x,))
    torch.cuda.synchronize(dev)
    return (torch.cuda.max_memory_allocated(dev) - before) / len(x)


class Evaluator:
    """Loss and accuracy of one model at points θ = base + Σ_d c_d · direction_d.

    What does not change from point to point is made once, here: the split into moving and
    fixed tensors, the weight buffers that each point overwrites in place, their low-precision
    twins, and the compiled forward pass. `compute_surface` makes one per surface, so its
    chunks share them; `evaluate_points` is the one-call form, and documents the arguments.

    Low precision (`bf16`, `fp16`) is real: θ is formed in fp32 (the axpy stays exact), then
    copied into bf16/fp16 buffers; the fixed tensors and the inputs are cast once; the logits
    are cast back to fp32 for the loss, which is summed in float64. (Autocast instead re-casts
    every weight at every layer of every batch.) With `bn_data` the BN re-estimation runs
    under autocast instead, since running statistics kept in bf16 would lose their precision.

    `compile=True` compiles the forward pass with the weights as inputs (no point recompiles);
    full batches of K points take the compiled graph, a last shorter batch or block the eager
    one. Should compiling fail (no C++ compiler, an unsupported model), it warns and runs eager.

    `fused` (`landscape.engine.fold.fuse_convolutions` of `model`) is a third way to run, one point
    per pass: the conv weights are packed for oneDNN at every point and each conv runs with
    its ReLU (and residual add) in one call. It is off until `configure(fused=True)`.
    """

    def __init__(self, model: nn.Module, base: Params, directions: list[Params], *,
                 static: Params | None = None, loss_fn: LossFn | None = None,
                 batch_size: int = 256, points_per_batch: int = 1, accuracy: bool | None = None,
                 precision: Precision = "fp32", bn_data: Data | None = None,
                 compile: bool = False, early_stop: EarlyStop | None = None,
                 fused: FusedConvs | None = None, blocks: SampleBlocks | None = None) -> None:
        if points_per_batch < 1:
            raise ValueError(f"points_per_batch must be >= 1, got {points_per_batch}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        self.loss_fn = loss_fn or default_loss
        self.batch_size, self.accuracy, self.precision = batch_size, accuracy, precision
        self.ndim = len(directions)
        self.device = next(iter(base.values())).device if base else None
        self.bn_data = bn_data
        self.early_stop = early_stop
        self.blocks = blocks
        if blocks is not None and self.device is not None:
            self.blocks = SampleBlocks(ids=blocks.ids.to(self.device), count=blocks.count)
        static = dict(static or {})
        # Tensors no direction moves (1-D under `biasbn`) need no per-point update.
        self.moving = [k for k in base if any(bool(d[k].any()) for d in directions)]
        static.update({k: base[k] for k in base if k not in self.moving})
        self.base = [base[k] for k in self.moving]
        self.dirs = [[d[k].to(base[k]) for k in self.moving] for d in directions]
        self.net = model
        if bn_data is not None:
            self.net = _bn_copy(model, self.device)
            static = {k: v for k, v in static.items() if k not in _bn_buffer_names(self.net)}
            points_per_batch = 1
        self.k = points_per_batch

        low = LOW_DTYPES.get(precision)
        self.autocast = low if bn_data is not None else None
        self.dtype = low if bn_data is None else None
        if low is not None and self.device is not None and \
                not low_precision_supported(self.device, low):
            warnings.warn(f"{self.device} has no native {precision}: it is emulated and will be "
                          f"slower than fp32 (see docs/how-to/speed.md)", stacklevel=3)
        if self.dtype is not None:  # every floating tensor in the low dtype, the model's own too
            own = {k: t.to(self.device) for k, t in state_tensors(self.net).items()
                   if k not in static and k not in base}
            static = {k: t.to(self.dtype) if t.is_floating_point() else t
                      for k, t in {**own, **static}.items()}
        self.static = static
        self.theta = [t.clone() for t in self.base]  # fp32 θ, overwritten per point
        self.cast = [t.to(self.dtype) for t in self.theta] if self.dtype else self.theta
        # Built once: the buffers are updated in place, so this dict stays valid.
        self.tensors = {**static, **dict(zip(self.moving, self.cast, strict=True))}

        # Closures over locals, not `self`: no reference cycle keeps the buffers alive.
        net = self.net
        if self.k > 1:
            self._eager = vmap(lambda w, x: functional_call(net, {**static, **w}, (x,)),
                               in_dims=(0, None))
        else:
            self._eager = lambda w, x: functional_call(net, w, (x,))
        self._compiled = torch.compile(self._eager, dynamic=False) if compile else None
        self.compile = compile
        self.fused = fused if self.k == 1 and bn_data is None else None
        self.use_fused = False
        self._fixed_packs: Params = {}  # packed once: conv weights no direction moves

    def configure(self, *, batch_size: int | None = None, compile: bool | None = None,
                  fused: bool | None = None) -> None:
        """Change the batch size, or switch the compiled or the fused forward on or off (the
        speed probe of `compute_surface` tries them on one evaluator). The fused forward, when
        on, takes precedence over the compiled one. Values are unaffected (up to rounding)."""
        if batch_size is not None:
            if batch_size < 1:
                raise ValueError(f"batch_size must be >= 1, got {batch_size}")
            self.batch_size = batch_size
        if compile is not None and compile != self.compile:
            self._compiled = torch.compile(self._eager, dynamic=False) if compile else None
            self.compile = compile
        if fused is not None and fused != self.use_fused:
            if fused and self.fused is None:
                raise ValueError("this evaluator has no fused forward (it needs a model from "
                                 "landscape.engine.fold.fuse_convolutions and one point per "
                                 "pass)")
            self.use_fused = fused
            if fused:
                from landscape.engine.fold import pack_weights

                fixed = {k: self.tensors[k] for k in self.fused.weights  # type: ignore[union-attr]
                         if k in self.tensors and k not in self.moving}
                self._fixed_packs = pack_weights(fixed, self.fused.weights)  # type: ignore[union-attr]
            else:
                self._fixed_packs = {}

    def __call__(self, coords: np.ndarray, data: Data) -> PointStats:
        """`PointStats` for each row of `coords` (P, number of directions) on `data`."""
        coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
        if coords.shape[1] != self.ndim:
            raise ValueError(f"coords has {coords.shape[1]} columns for {self.ndim} directions")
        stop = self.early_stop
        if stop is not None and sample_tensors(data) is None:
            raise ValueError("an early stop (target_se) reads the samples in blocks, so it needs "
                             "them as (inputs, targets) tensors; got an iterable of batches")
        blocks = self.blocks
        length = _length(data)
        if blocks is not None and length is None:
            raise ValueError("per-block sums need the samples as (inputs, targets) tensors (to "
                             "know which block each one is in); got an iterable of batches")
        if blocks is not None and length != len(blocks.ids):
            blocks = None  # a head of the data (the speed probe): no blocks wanted
        results: list[Sums] = []
        with eval_mode(self.net), torch.inference_mode(), \
                _tf32(self.device, self.precision == "tf32"):
            for start in range(0, len(coords), self.k):
                block = coords[start:start + self.k]
                if self.k > 1:
                    weights = dict(zip(self.moving, self._stacked(block), strict=True))
                else:
                    self._set_point(block[0])
                    weights = self._packed() if self.use_fused else self.tensors
                sums = Sums(len(block), self.device, blocks)
                if self.bn_data is not None:
                    with self._autocast():
                        _recompute_bn(self.net, self.tensors, self.bn_data, self.batch_size,
                                      self.device)
                with self._autocast():
                    for x, y, block_end, first in _batches(
                            data, self.batch_size, self.device,
                            stop.block if stop is not None else None):
                        if self.dtype is not None and x.is_floating_point():
                            x = x.to(self.dtype)
                        out = self._forward(weights, x, len(block))
                        sums.add(out if self.k > 1 else out.unsqueeze(0), y, self.loss_fn,
                                 self.accuracy, first)
                        if stop is not None and block_end and sums.check(stop):
                            break  # every point of the block has stopped
                results.append(sums)
        return collect(results, length)

    def _packed(self) -> Params:
        """This point's tensors, with the moved conv weights packed for the fused forward."""
        from landscape.engine.fold import pack_weights

        fused = self.fused
        if fused is None:
            raise RuntimeError("use_fused is set without a fused model")
        moved = {k: self.tensors[k] for k in fused.weights if k in self.moving}
        return {**self.tensors, **self._fixed_packs, **pack_weights(moved, fused.weights)}

    def _forward(self, weights: Params, x: Tensor, points: int) -> Tensor:
        if self.use_fused:
            return functional_call(self.fused.module, weights, (x,))  # type: ignore[union-attr]
        # One graph: a full batch of K points. Any other shape (the last batch, a last block
        # of fewer points) runs eager rather than compiling again.
        if self._compiled is None or len(x) != self.batch_size or points != self.k:
            return self._eager(weights, x)
        try:
            return self._compiled(weights, x)
        except Exception as err:  # noqa: BLE001 - any compile failure falls back to eager
            warnings.warn(f"torch.compile failed ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}); running eager",
                          stacklevel=2)
            self._compiled, self.compile = None, False
            return self._eager(weights, x)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast is None:
            return contextlib.nullcontext()
        device_type = self.device.type if self.device is not None else "cpu"
        return torch.autocast(device_type=device_type, dtype=self.autocast)

    def _set_point(self, coefficients: np.ndarray) -> None:
        """θ ← base + Σ c_d · d_d, in place in the preallocated buffers (no allocation)."""
        torch._foreach_copy_(self.theta, self.base)
        for d, c in zip(self.dirs, coefficients, strict=True):
            if c != 0.0:
                torch._foreach_add_(self.theta, d, alpha=float(c))
        if self.cast is not self.theta:
            torch._foreach_copy_(self.cast, self.theta)

    def _stacked(self, block: np.ndarray) -> list[Tensor]:
        """The moving tensors at the K points of `block`, stacked: (K, *shape)."""
        out = [t.unsqueeze(0).repeat(len(block), *([1] * t.dim())) for t in self.base]
        for axis, d in enumerate(self.dirs):
            for k, c in enumerate(block[:, axis]):
                if c != 0.0:
                    torch._foreach_add_([o[k] for o in out], d, alpha=float(c))
        return [o.to(self.dtype) for o in out] if self.dtype is not None else out


def evaluate_points(model: nn.Module, base: Params, directions: list[Params], coords: np.ndarray,
                    data: Data, *, static: Params | None = None, loss_fn: LossFn | None = None,
                    batch_size: int = 256, points_per_batch: int = 1,
                    accuracy: bool | None = None, precision: Precision = "fp32",
                    bn_data: Data | None = None, compile: bool = False,
                    early_stop: EarlyStop | None = None,
                    blocks: SampleBlocks | None = None) -> PointStats:
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
        precision: `fp32`; `bf16` or `fp16` run the forward pass in that dtype (weights and
            inputs cast; the loss is still reduced in float64); `tf32` allows TF32 on CUDA.
        bn_data: when given, the BN running statistics are re-estimated at every point on these
            samples (train-mode passes, cumulative average) before the point is evaluated; the
            model's own statistics are untouched (a private copy holds the new ones). One point
            per pass (`points_per_batch` is taken as 1).
        compile: compile the forward pass (`torch.compile`); pays on long runs only, since
            compiling takes seconds to a minute. Use an `Evaluator` to compile once for
            several calls.
        early_stop: average each point over only as many samples (in blocks, in the data's
            order) as its standard error needs (`EarlyStop`); the result's `n` holds the
            counts. Needs `(inputs, targets)` tensors, and per-sample losses.
        blocks: keep each point's sums per sample block (`SampleBlocks` of the data's length):
            the result's `block_loss`, `block_correct` and `block_n`. Needs `(inputs,
            targets)` tensors; with a loss reduced per batch there are none.

    Returns:
        `PointStats` with one entry per row of `coords`; a point whose loss overflows holds
        inf/NaN and the others are unaffected.
    """
    evaluator = Evaluator(model, base, directions, static=static, loss_fn=loss_fn,
                          batch_size=batch_size, points_per_batch=points_per_batch,
                          accuracy=accuracy, precision=precision, bn_data=bn_data,
                          compile=compile, early_stop=early_stop, blocks=blocks)
    return evaluator(coords, data)


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
        for x, _, _, _ in _batches(data, batch_size, device):
            functional_call(net, tensors, (x,))
    finally:
        for m in bns:
            m.eval()


def sample_tensors(data: Data) -> tuple[Tensor, Tensor] | None:
    """`(inputs, targets)` of data the evaluator slices itself: an `(inputs, targets)` pair, or
    an object holding them as `.inputs` and `.targets` (host memory, copied to the device batch
    by batch); None for an iterable of batches."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        return data
    inputs, targets = getattr(data, "inputs", None), getattr(data, "targets", None)
    if isinstance(inputs, Tensor) and isinstance(targets, Tensor):
        return inputs, targets
    return None


def _batches(data: Data, batch_size: int, device: torch.device | None,
             block: int | None = None) -> Iterator[tuple[Tensor, Tensor, bool, int]]:
    """`(inputs, targets, ends_a_block, position of its first sample)` batch by batch. With
    `block`, no batch crosses a multiple of `block` samples, and the batch that reaches one
    (or the end) ends a block."""
    tensors = sample_tensors(data)
    if tensors is None:
        seen = 0
        for x, y in data:  # type: ignore[misc]
            yield ((x.to(device, non_blocking=True), y.to(device, non_blocking=True), False,
                    seen) if device is not None else (x, y, False, seen))
            seen += len(y)
        return
    host = not isinstance(data, tuple)
    inputs, targets = tensors
    n = len(inputs)
    step = block or n or 1
    for first in range(0, n, step):
        last = min(first + step, n)
        for s in range(first, last, batch_size):
            e = min(s + batch_size, last)
            x, y = inputs[s:e], targets[s:e]
            if host and device is not None:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            yield x, y, e == last, s


def _length(data: Data) -> int | None:
    tensors = sample_tensors(data)
    return None if tensors is None else len(tensors[0])

"""The hot loop: loss and accuracy of a model at many points θ = base + Σ_d c_d · direction_d.

The model is used only through `torch.func.functional_call`, in eval mode (BN running
statistics) and under inference mode; its parameters, buffers and `training` flags are left as
they were. For every point the per-sample losses are accumulated as a sum and a sum of squares
(float64), so each point also carries the standard error of its mean loss at no extra pass.
With an `EarlyStop`, the samples are read in blocks and a point stops at the first block
boundary where that standard error is small enough (`stop_mask`), so it is averaged over
fewer samples than the data holds.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from landscape.engine.types import Params

if TYPE_CHECKING:
    from landscape.engine.fold import FusedConvs

__all__ = ["LossFn", "Data", "Precision", "BnMode", "PRECISIONS", "LOW_DTYPES", "PointStats",
           "EarlyStop", "Evaluator", "evaluate_points", "eval_mode", "default_loss",
           "plan_batches", "probe_bytes_per_image", "low_precision_supported", "stop_mask",
           "sample_tensors"]

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
    """Results for P points; standard errors are of each point's own mean (over `n` samples)."""

    loss: np.ndarray            # (P,) mean loss
    loss_se: np.ndarray         # (P,) standard error of the mean loss (NaN: loss_fn reduced)
    acc: np.ndarray | None      # (P,) accuracy in percent, None when not a classification
    acc_se: np.ndarray | None   # (P,) standard error of the accuracy, percent
    samples: int                # N, the samples the data holds
    n: np.ndarray | None = None  # (P,) samples each point is averaged over (N without a stop)


@dataclass(frozen=True)
class EarlyStop:
    """Average a point over only as many samples as its mean loss needs.

    The samples are read in blocks of `block`, in the data's order (`compute_surface` puts
    them in one seeded random order first, the same for every point). After each block, a
    point whose relative standard error se(L̄)/|L̄| is at most `target` (to first order that
    is its standard error in log-loss) stops, if it has seen at least `min_samples`; a point
    whose loss is already inf/NaN stops too (it cannot become finite again). The others go
    on, up to all N samples.

    Where each point stops depends only on its own losses at the block boundaries, never on
    the batch size or on how many points share a pass.
    """

    target: float           # relative standard error of the mean loss
    block: int = 256        # samples between two checks
    min_samples: int = 512  # no point stops before it has seen this many

    def __post_init__(self) -> None:
        if not self.target > 0:
            raise ValueError(f"EarlyStop.target (a relative standard error) must be > 0, "
                             f"got {self.target}")
        if self.block < 1:
            raise ValueError(f"EarlyStop.block must be >= 1, got {self.block}")
        if self.min_samples < 1:
            raise ValueError(f"EarlyStop.min_samples must be >= 1, got {self.min_samples}")


def stop_mask(n: np.ndarray | int, total: np.ndarray, total_sq: np.ndarray,
              stop: EarlyStop) -> np.ndarray:
    """Which points may stop after `n` samples whose losses sum to `total` (squares:
    `total_sq`): at least `stop.min_samples` seen, and a standard error of the mean within
    `stop.target` of the mean (or a loss already inf/NaN)."""
    n_arr = np.asarray(n, dtype=np.float64)
    mean, se = _mean_se(n_arr, total, total_sq)
    with np.errstate(invalid="ignore"):
        small = se <= stop.target * np.abs(mean)
    return (n_arr >= stop.min_samples) & (small | ~np.isfinite(total))


def _mean_se(n: np.ndarray, total: np.ndarray, total_sq: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean of `n` samples summing to `total` (squares:
    `total_sq`), with the unbiased variance."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean = total / n
        var = np.maximum(total_sq / n - mean**2, 0.0) * n / np.maximum(n - 1, 1)
        return mean, np.sqrt(var / n)


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
                 fused: FusedConvs | None = None) -> None:
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
            own = {k: t.detach().to(self.device) for k, t in
                   self.net.state_dict(keep_vars=True).items()
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
        results: list[_Sums] = []
        with eval_mode(self.net), torch.inference_mode(), \
                _tf32(self.device, self.precision == "tf32"):
            for start in range(0, len(coords), self.k):
                block = coords[start:start + self.k]
                if self.k > 1:
                    weights = dict(zip(self.moving, self._stacked(block), strict=True))
                else:
                    self._set_point(block[0])
                    weights = self._packed() if self.use_fused else self.tensors
                sums = _Sums(len(block), self.device)
                if self.bn_data is not None:
                    with self._autocast():
                        _recompute_bn(self.net, self.tensors, self.bn_data, self.batch_size,
                                      self.device)
                with self._autocast():
                    for x, y, block_end in _batches(data, self.batch_size, self.device,
                                                    stop.block if stop is not None else None):
                        if self.dtype is not None and x.is_floating_point():
                            x = x.to(self.dtype)
                        out = self._forward(weights, x, len(block))
                        sums.add(out if self.k > 1 else out.unsqueeze(0), y, self.loss_fn,
                                 self.accuracy)
                        if stop is not None and block_end and sums.check(stop):
                            break  # every point of the block has stopped
                results.append(sums)
        return _collect(results, _length(data))

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
                    early_stop: EarlyStop | None = None) -> PointStats:
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

    Returns:
        `PointStats` with one entry per row of `coords`; a point whose loss overflows holds
        inf/NaN and the others are unaffected.
    """
    evaluator = Evaluator(model, base, directions, static=static, loss_fn=loss_fn,
                          batch_size=batch_size, points_per_batch=points_per_batch,
                          accuracy=accuracy, precision=precision, bn_data=bn_data,
                          compile=compile, early_stop=early_stop)
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
        for x, _, _ in _batches(data, batch_size, device):
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
             block: int | None = None) -> Iterator[tuple[Tensor, Tensor, bool]]:
    """`(inputs, targets, ends_a_block)` batch by batch. With `block`, no batch crosses a
    multiple of `block` samples, and the batch that reaches one (or the end) ends a block."""
    tensors = sample_tensors(data)
    if tensors is None:
        for x, y in data:  # type: ignore[misc]
            yield ((x.to(device, non_blocking=True), y.to(device, non_blocking=True), False)
                   if device is not None else (x, y, False))
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
            yield x, y, e == last


class _Sums:
    """Float64 running sums over samples for K points, kept on the device until collected;
    with an early stop, each point's sums as they were when it stopped (on the host)."""

    def __init__(self, k: int, device: torch.device | None) -> None:
        self.n = 0
        self.loss = torch.zeros(k, dtype=torch.float64, device=device)
        self.loss_sq = torch.zeros(k, dtype=torch.float64, device=device)
        self.correct = torch.zeros(k, dtype=torch.float64, device=device)
        self.has_acc = False
        self.reduced = False
        self.active: np.ndarray | None = None  # points not stopped yet (None: no stop checked)
        self.stopped_n = np.zeros(k, dtype=np.int64)
        self.stopped = np.zeros((3, k))  # loss, loss_sq, correct at each point's stop

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

    def check(self, stop: EarlyStop) -> bool:
        """At a block boundary: keep the sums of the points that may stop now; True when no
        point is left running."""
        if self.reduced:
            raise ValueError("an early stop (target_se) needs the standard error of each "
                             "point's loss, but loss_fn returned one value per batch: make it "
                             "return one loss per sample (reduction='none')")
        host = torch.stack([self.loss, self.loss_sq, self.correct]).cpu().numpy()
        if self.active is None:
            self.active = np.ones(host.shape[1], dtype=bool)
        now = self.active & stop_mask(self.n, host[0], host[1], stop)
        self.stopped_n[now] = self.n
        self.stopped[:, now] = host[:, now]
        self.active &= ~now
        return not self.active.any()

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """(n (K,), sums (3, K): loss, loss_sq, correct) of each point where it ended."""
        host = torch.stack([self.loss, self.loss_sq, self.correct]).cpu().numpy()
        n = np.full(host.shape[1], self.n, dtype=np.int64)
        if self.active is not None:
            done = ~self.active
            n[done] = self.stopped_n[done]
            host[:, done] = self.stopped[:, done]
        return n, host


def _length(data: Data) -> int | None:
    tensors = sample_tensors(data)
    return None if tensors is None else len(tensors[0])


def _collect(results: list[_Sums], samples: int | None = None) -> PointStats:
    if not results or any(r.n == 0 for r in results):
        raise ValueError("the evaluation data is empty; pass at least one sample")
    parts = [r.totals() for r in results]
    n = np.concatenate([p[0] for p in parts])
    total, total_sq, correct = np.concatenate([p[1] for p in parts], axis=1)
    mean, se = _mean_se(n, total, total_sq)
    if any(r.reduced for r in results):
        se = np.full_like(mean, np.nan)
    acc = acc_se = None
    if results[0].has_acc:
        p = correct / n
        acc = 100.0 * p
        acc_se = 100.0 * np.sqrt(p * (1 - p) / np.maximum(n - 1, 1))
    return PointStats(loss=mean, loss_se=se, acc=acc, acc_se=acc_se,
                      samples=samples if samples is not None else max(r.n for r in results),
                      n=n)

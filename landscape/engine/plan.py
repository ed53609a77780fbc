"""How the forward pass runs on this model, data and machine: the evaluator with BN folded
and the fused or compiled forward, the batch size and points per pass, and the speed probe
that chooses among them; and the checks made before the first pass (the memory a pass needs,
labels the model can score). Nothing here changes a value."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from landscape.engine.evaluate import (
    LOW_DTYPES,
    Data,
    EarlyStop,
    Evaluator,
    LossFn,
    Precision,
    SampleBlocks,
    eval_mode,
    low_precision_supported,
    plan_batches,
    probe_bytes_per_image,
    sample_tensors,
)
from landscape.engine.fold import fold_batchnorm, fuse_convolutions, to_channels_last
from landscape.engine.placement import head_samples, sample_count
from landscape.engine.spec import RunOptions
from landscape.engine.types import Params

__all__ = ["build_evaluator", "plan_evaluation", "ForwardPlan", "should_probe", "probe_forward",
           "small_grid_forward", "SMALL_GRID_FORWARD", "PROBE_BATCH_SIZES", "PROBE_MIN_IMAGES",
           "PROBE_SECONDS", "PROBE_COMPILE_SECONDS", "check_pass_memory", "check_labels"]

log = logging.getLogger(__name__)


def build_evaluator(model: nn.Module, base: Params, directions: list[Params], static: Params,
                    data: Data, *, loss_fn: LossFn | None = None, batch_size: int = 128,
                    points_per_batch: int = 1, precision: Precision = "fp32",
                    bn_data: Data | None = None, fold_bn: bool = True, compile: bool = False,
                    early_stop: EarlyStop | None = None,
                    blocks: SampleBlocks | None = None) -> tuple[Evaluator, Data]:
    """The evaluator `compute_surface` runs, and the data in the form it wants.

    `base`, `directions`, `static` and resident `data` are on the device already. With `fold_bn`
    (and no BN moved by a direction), BN is folded into the convolutions once, and on a CPU the
    4-D tensors and inputs go channels_last (measured faster there), as on CUDA in bf16/fp16
    (the layout cuDNN's tensor-core convolutions want); a low precision casts resident inputs
    once. On a CPU the folded model is also fused for oneDNN (`fuse_convolutions`), a forward
    the evaluator runs once `configure(fused=True)` (the speed probe's choice).
    """
    net, e_base, e_dirs, e_static = model, base, directions, static
    folded = fold_batchnorm(model, base, directions, static) if fold_bn else None
    log.info("BN folded into convolutions: %s", folded is not None)
    dev = next(iter(base.values())).device if base else torch.device("cpu")
    fused = None
    if folded is not None:
        net, e_base, e_dirs, e_static = folded
        # oneDNN takes float32 and bfloat16 (not float64)
        single = all(t.dtype == torch.float32 for t in e_base.values() if t.is_floating_point())
        bf16 = precision == "bf16" and low_precision_supported(dev, torch.bfloat16)
        if dev.type == "cpu" and points_per_batch == 1 and bn_data is None \
                and (bf16 or (single and precision in ("fp32", "tf32"))):
            fused = fuse_convolutions(net)  # type: ignore[arg-type]
        if dev.type == "cpu" or (dev.type == "cuda" and precision in LOW_DTYPES):
            e_base, e_static = to_channels_last(e_base), to_channels_last(e_static)
            e_dirs = [to_channels_last(d) for d in e_dirs]
            if isinstance(data, tuple) and data[0].dim() == 4:
                data = (data[0].contiguous(memory_format=torch.channels_last), data[1])
    low = LOW_DTYPES.get(precision)
    if low is not None and bn_data is None and isinstance(data, tuple) \
            and data[0].is_floating_point():
        data = (data[0].to(low), data[1])  # cast once, not per batch
    evaluator = Evaluator(net, e_base, e_dirs, static=e_static, loss_fn=loss_fn,
                          batch_size=batch_size, points_per_batch=points_per_batch,
                          precision=precision, bn_data=bn_data, compile=compile,
                          early_stop=early_stop, fused=fused, blocks=blocks)
    return evaluator, data


def plan_evaluation(model: nn.Module, base: Params, static: Params, data: Data,
                    samples: int | None, dev: torch.device, batch_size: int | None,
                    points_per_batch: int | None) -> tuple[int, int]:
    """Batch size and points per pass: 128 and 1 on a CPU (before `probe_forward` times the
    alternatives on a long grid); on CUDA from free memory and one forward pass measuring the
    memory per image (`plan_batches`)."""
    if dev.type != "cuda":
        return batch_size or 128, points_per_batch or 1
    if batch_size is not None and points_per_batch is not None:
        return batch_size, points_per_batch
    x = data[0][:64] if isinstance(data, tuple) else next(iter(data))[0][:64].to(dev)
    per_image = probe_bytes_per_image(model, {**static, **base}, x)
    free, _ = torch.cuda.mem_get_info(dev)
    weights = sum(t.numel() * t.element_size() for t in base.values())
    batch_size, k = plan_batches(free, per_image, weights, samples, batch_size, points_per_batch)
    log.info("CUDA plan: %.0f KB per image, batch %d, %d points per pass",
             per_image / 1024, batch_size, k)
    return batch_size, k


@dataclasses.dataclass(frozen=True)
class ForwardPlan:
    """How the forward pass runs: nothing here changes a value."""

    batch_size: int
    points_per_batch: int
    compile: bool
    probe: dict[str, Any] | None = None  # what the probe measured; None when not probed
    fused: bool = False                  # conv+ReLU fused for oneDNN, weights packed per point


# A grid too small to probe runs what the probes rated best without compiling
# (benchmarks/grid_speed.py's `probe` records, CIFAR ResNets on 2-core CPUs): batch 64 in
# fp32, never slower than 128 there, with the fused forward (conv, add and ReLU in one oneDNN
# call; within 3% of eager either way in fp32); the fused forward at batch 128 in bf16, 7-15%
# faster than eager. Where oneDNN refuses it, eager.
SMALL_GRID_FORWARD: dict[str, tuple[int, bool]] = {"fp32": (64, True), "tf32": (64, False),
                                                   "bf16": (128, True), "fp16": (128, False)}
PROBE_BATCH_SIZES = (32, 64, 128, 256)
PROBE_MIN_IMAGES = 100_000      # a grid evaluating fewer images is not probed (a few seconds)
PROBE_SECONDS = 6.0             # about what the timed passes of the probe take
PROBE_COMPILE_SECONDS = 600.0   # compile is tried only when the grid would take this long


def small_grid_forward(evaluator: Evaluator, data: Data, precision: Precision, *,
                       batch_size: int | None, compile: bool) -> ForwardPlan:
    """Configure `evaluator` for a grid too small to repay the probe (`SMALL_GRID_FORWARD`):
    what the caller gave (`batch_size`) is kept; the fused forward only where the evaluator
    has one (a CPU, BN folded, one point per pass) and it runs one sample (oneDNN may lack
    an op or a dtype: then eager)."""
    size, fused = SMALL_GRID_FORWARD.get(precision, (64, False))
    evaluator.configure(batch_size=batch_size or size)
    if fused and evaluator.fused is not None and not compile and sample_tensors(data):
        _fused_runs(evaluator, data, 1)
    return ForwardPlan(evaluator.batch_size, evaluator.k, compile, fused=evaluator.use_fused)


def _fused_runs(evaluator: Evaluator, data: Data, samples: int) -> bool:
    """Switch `evaluator` to its fused forward and run it at θ* on the first `samples`; where
    it fails (oneDNN without this dtype or op), switch back to eager and say False."""
    evaluator.configure(fused=True)
    try:
        evaluator(np.zeros((1, evaluator.ndim)), head_samples(data, samples, evaluator.device))
    except RuntimeError as err:
        log.info("fused forward not available (%s); eager", err)
        evaluator.configure(fused=False)
        return False
    return True


def should_probe(opts: RunOptions, dev: torch.device, data: Data, k: int, bn_data: Any,
                  images: int) -> bool:
    if opts.probe is not None:
        return opts.probe and k == 1 and sample_tensors(data) is not None
    if dev.type != "cpu" or k != 1 or bn_data is not None or sample_tensors(data) is None:
        return False
    if opts.batch_size is not None and opts.compile is not None:
        return False  # nothing left to choose
    return images >= PROBE_MIN_IMAGES


def probe_forward(evaluator: Evaluator, data: Data, *, images: int,
                  batch_size: int | None = None, compile: bool | None = None,
                  block: int | None = None, sizes: tuple[int, ...] = PROBE_BATCH_SIZES,
                  seconds: float = PROBE_SECONDS,
                  compile_seconds: float = PROBE_COMPILE_SECONDS) -> ForwardPlan:
    """Time `evaluator` at θ* on the first samples of `data` and configure it to the fastest
    batch size and forward (eager, fused for oneDNN when it has one, or compiled); what the
    caller gave (`batch_size`, `compile`) is kept.

    Each candidate first runs one warm-up batch; then all of them run over the same samples
    in turn, twice, and the faster of each one's two times counts (a moment of load moves it
    least). Compile is tried only when the grid, `images` forward images in all, would take
    at least `compile_seconds` (compiling takes seconds to a minute), at the best eager batch
    size, timed in turn with the best so far. With an early stop of `block` samples, batch
    sizes that divide the block are preferred (a pass never crosses a block boundary).
    `compile=True` from the caller means compiled at the probed batch size.

    Returns:
        The plan, whose `probe` records each configuration's images/s and the probe's time.
    """
    start = time.perf_counter()
    n = sample_count(data) or 0
    zero = np.zeros((1, evaluator.ndim))
    if batch_size is not None:
        sizes = (batch_size,)
    else:
        fit = tuple(b for b in sizes if b <= n) or (max(1, n),)
        sizes = tuple(b for b in fit if block is None or block % b == 0) or fit
    modes = ["eager"] + (["fused"] if evaluator.fused is not None and not compile else [])

    def run(mode: str, bs: int, head: int) -> float:
        evaluator.configure(batch_size=bs, fused=mode == "fused", compile=mode == "compiled")
        t = time.perf_counter()
        evaluator(zero, head_samples(data, head, evaluator.device))
        return time.perf_counter() - t

    # The first call of a shape pays one-off costs (oneDNN primitives, caches): it is not
    # timed. The rate of the smallest size (the faster of two calls) drops the sizes whose one
    # batch would take half the budget (a big model on a small CPU).
    smallest = min(sizes)
    run("eager", smallest, smallest)
    if "fused" in modes and not _fused_runs(evaluator, data, smallest):
        modes.remove("fused")  # not a candidate
    rate = smallest / min(run("eager", smallest, smallest) for _ in range(2))
    kept = [bs for bs in sorted(sizes) if bs == smallest or bs / rate <= seconds / 2]
    for bs in kept[1:]:
        for mode in modes:
            run(mode, bs, bs)
    configs = [(mode, bs) for bs in kept for mode in modes]
    # timed samples: a multiple of every kept size, two batches of the biggest where the
    # data and the budget over 2 rounds allow (one batch alone times its first-call costs)
    biggest = max(kept)
    budget = int((rate or 1.0) * seconds / (2 * len(configs)))
    head = min(n, max(biggest, budget - budget % biggest, 1), 2 * biggest)
    times: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    for _ in range(2):
        for c in configs:
            times[c].append(run(*c, head))
    best = min(configs, key=lambda c: min(times[c]))
    extra: dict[str, Any] = {}
    eager_grid_s = images * min(times[best]) / head
    if compile or (compile is None and eager_grid_s >= compile_seconds):
        eager_bs = min(kept, key=lambda bs: min(times[("eager", bs)]))
        t0 = time.perf_counter()
        run("compiled", eager_bs, eager_bs)  # compiles
        extra["compile_s"] = round(time.perf_counter() - t0, 2)
        if evaluator.compile:  # did not fail
            times[("compiled", eager_bs)] = []
            for _ in range(2):
                times[best].append(run(*best, head))
                times[("compiled", eager_bs)].append(run("compiled", eager_bs, head))
            if compile or min(times[("compiled", eager_bs)]) < min(times[best]):
                best = ("compiled", eager_bs)
    mode, bs = best
    evaluator.configure(batch_size=bs, compile=mode == "compiled", fused=mode == "fused")
    speeds = {f"{m}, batch {b}": round(head / min(t), 1) for (m, b), t in times.items()}
    probe = {"images_per_s": speeds, "timed_images": head,
             "seconds": round(time.perf_counter() - start, 2), **extra,
             "chosen": f"{mode}, batch {bs}"}
    log.info("speed probe (%.1f s): %s; chosen: %s", probe["seconds"],
             ", ".join(f"{k} {v:.0f} images/s" for k, v in speeds.items()), probe["chosen"])
    return ForwardPlan(bs, 1, mode == "compiled", probe, fused=mode == "fused")


def _largest_activation(model: nn.Module, tensors: Params, x: torch.Tensor) -> int | None:
    """Elements of the largest output any module gives for the one sample `x`, found by a
    forward pass of that sample (a meta-device pass would allocate nothing, but costs
    seconds on first use: it loads torch's decompositions); None when the model cannot run."""
    largest = [0]

    def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            largest[0] = max(largest[0], output.numel())

    hooks = [m.register_forward_hook(record) for m in model.modules()]
    try:
        with eval_mode(model), torch.inference_mode():
            torch.func.functional_call(model, tensors, (x,))
    except Exception:  # noqa: BLE001 - a model that cannot run this sample: no estimate
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return largest[0] or None


def check_pass_memory(model: nn.Module, tensors: Params, data: Data, batch_size: int, k: int,
                      dev: torch.device, available: int | None = None) -> None:
    """Refuse, before a pass is run, batch and point counts whose pass cannot fit in the
    memory available (a CPU's): `k` copies of the weights, and for `batch_size` images at `k`
    points a few of the largest activation the model makes (measured on the meta device).

    Raises:
        ValueError: with the estimate, what is available, and the options to lower.
    """
    from toolkit import available_memory

    if dev.type != "cpu":
        return
    available = available_memory() if available is None else available
    pair = sample_tensors(data)
    if available is None or pair is None or not len(pair[0]):
        return
    x = pair[0][:1]
    images = min(batch_size, len(pair[0]))
    weights = sum(t.numel() * t.element_size() for t in tensors.values())
    largest = _largest_activation(model, tensors, x) or 0
    need = k * 2 * weights + 3 * images * k * largest * x.element_size()
    if need > available // 2:
        raise ValueError(f"a forward pass of {images:,} images at {k:,} grid point(s) needs "
                         f"about {need / 2**30:,.1f} GB, and {available / 2**30:,.1f} GB of "
                         f"memory is available: pass a smaller --batch-size or "
                         f"--points-per-batch (batch_size= / points_per_batch= in Python)")


def check_labels(model: nn.Module, tensors: Params, data: Data, loss_fn: LossFn | None) -> None:
    """Refuse, before the first point, class labels the model's head cannot score (the
    cross-entropy would fail at every point, and on a GPU with a device-side assert), and
    token ids beyond a language model's vocabulary (its embedding would fail likewise)."""
    samples = sample_tensors(data)
    if loss_fn is not None or samples is None:  # streamed: its labels are seen batch by batch
        return
    x, y = samples
    tokens = not x.is_floating_point() and y.dim() == 2 and x.shape == y.shape
    if y.is_floating_point() or len(y) == 0 or not (y.dim() == 1 or tokens):
        return
    dev = next(iter(tensors.values())).device if tensors else x.device
    probe = torch.zeros_like(x[:1]) if tokens else x[:1]  # token 0 exists in any vocabulary
    with eval_mode(model), torch.inference_mode():
        out = functional_call(model, tensors, (probe.to(dev),))
    if tokens and out.dim() == 3:
        vocab = out.shape[-1]
        low, high = min(int(x.min()), int(y.min())), max(int(x.max()), int(y.max()))
        if low < 0 or high >= vocab:
            raise ValueError(f"the data has token ids {low}..{high}, but the model scores "
                             f"{vocab} tokens (0..{vocab - 1}): evaluate it on tokens of its "
                             f"own vocabulary, or use a model built with vocab_size={high + 1}")
        return
    if out.dim() != 2 or y.dim() != 1:
        return
    classes, low, high = out.shape[1], int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise ValueError(f"the data has class labels {low}..{high}, but the model's head scores "
                         f"{classes} classes (0..{classes - 1}): evaluate it on data of "
                         f"{classes} classes, or use a model built with num_classes={high + 1}")

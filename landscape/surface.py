"""`compute_surface`: walk a grid in chunks, evaluate, write each chunk, resume, shard ranks."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import logging
import os
import platform
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import Dataset

from landscape import store
from landscape.directions import (
    IGNORES,
    NORMS,
    Ignore,
    Norm,
    create_directions,
    match_directions,
)
from landscape.evaluate import (
    LOW_DTYPES,
    PRECISIONS,
    BnMode,
    Data,
    EarlyStop,
    Evaluator,
    LossFn,
    PointStats,
    Precision,
    eval_mode,
    low_precision_supported,
    plan_batches,
    probe_bytes_per_image,
    sample_tensors,
)
from landscape.fold import fold_batchnorm, fuse_convolutions, to_channels_last
from landscape.grid import Grid
from landscape.params import DIR_TYPES, DirType, cosine, get_params, tensors_sha256
from landscape.refine import Scale, fill_from_leaves, refine_grid
from landscape.spec import (
    RunOptions,
    SurfaceSpec,
    canonical_json,
    data_sha256,
    directions_sha256,
    loss_name,
)
from landscape.types import Params, Surface

__all__ = ["compute_surface", "build_evaluator", "plan_evaluation", "probe_forward",
           "ForwardPlan", "resolve_device", "as_data", "HostBatches", "resident_budget",
           "check_grid_memory", "available_memory", "SAMPLE_ORDER_SEED"]

log = logging.getLogger(__name__)
SPLITS = ("train", "test")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` means CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class HostBatches:
    """`(inputs, targets)` kept in host memory and served batch by batch, as often as asked.

    The streaming fallback for data too large to keep on the device: every point reads the
    batches again, each copied to the device as it is used (from pinned memory on CUDA, so
    the copy overlaps the computation).
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> None:
        pin = torch.cuda.is_available()
        self.inputs = inputs.pin_memory() if pin else inputs
        self.targets = targets.pin_memory() if pin else targets
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for s in range(0, len(self.inputs), self.batch_size):
            yield self.inputs[s:s + self.batch_size], self.targets[s:s + self.batch_size]


def resident_budget(device: torch.device) -> int | None:
    """Bytes of evaluation data to keep on `device`: a quarter of free CUDA memory, leaving room
    for activations and weights; None (no limit) on a CPU, where the data is in RAM anyway."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free // 4


def as_data(data: Any, device: torch.device, *, budget: int | None = None,
            batch_size: int = 128) -> Data:
    """Evaluation data in the form the evaluator takes.

    `(inputs, targets)` tensors and map-style datasets become resident tensors on `device`, or,
    when they take more than `budget` bytes, `HostBatches` of `batch_size` streamed to it;
    any other iterable of `(inputs, targets)` batches (a DataLoader) is streamed as it is.
    """
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not items:
            raise ValueError("the evaluation dataset is empty")
        data = (torch.stack([torch.as_tensor(x) for x, _ in items]),
                torch.as_tensor([y for _, y in items]))
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        inputs, targets = data
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets differ in length: "
                             f"{len(inputs)} vs {len(targets)}")
        size = inputs.numel() * inputs.element_size()
        if budget is not None and size > budget and inputs.device.type == "cpu":
            log.warning("evaluation data (%.0f MB) exceeds the %.0f MB kept on %s: streaming "
                        "it from host memory each point", size / 2**20, budget / 2**20, device)
            return HostBatches(inputs, targets, batch_size)
        return inputs.to(device), targets.to(device)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"data must be (inputs, targets) tensors, a Dataset or an iterable of "
                    f"batches, got {type(data).__name__}")


def compute_surface(model: nn.Module, data: Any, grid: Grid, *,
                    directions: list[Params] | None = None, base: Params | None = None,
                    seed: int | None = None, norm: Norm | None = None,
                    ignore: Ignore | None = None, dir_type: DirType = "weights",
                    loss_fn: LossFn | None = None, batch_size: int | None = None,
                    points_per_batch: int | None = None,
                    device: str | torch.device | None = None,
                    path: str | os.PathLike[str] | None = None, resume: bool = False,
                    overwrite: bool = False, split: str = "train",
                    meta: dict[str, Any] | None = None,
                    data_info: dict[str, Any] | None = None, progress: bool = True,
                    precision: Precision = "fp32", refine: float | None = None,
                    refine_scale: Scale = "log", bn: BnMode = "eval", bn_data: Any = None,
                    bn_samples: int | None = None, fold_bn: bool = True,
                    compile: bool | None = None, target_se: float | None = None,
                    se_block: int = 256, se_min_samples: int = 512,
                    probe: bool | None = None) -> Surface:
    """Loss (and accuracy) of `model` on `data` at every grid point θ* + αδ (+ βη).

    Args:
        model: any `nn.Module` (left unchanged; evaluated in eval mode).
        data: `(inputs, targets)` tensors or a Dataset (made resident on `device`), or an
            iterable of batches (streamed, for data that does not fit the device).
        grid: the points; `Grid(Axis(-1, 1, 51), Axis(-1, 1, 51))`, 1-D when `grid.y` is None.
        directions: directions to use instead of random ones (e.g. from `load_directions`, or
            θ2 − θ1); keyed by name or by position, checked against the model.
        base: the origin θ*; default: the model's own parameters (or states).
        seed, norm, ignore: how random directions are drawn and normalized; default 0,
            `filter`, `biasbn` (Li et al. 2018). They shape only directions drawn here: giving
            one together with `directions` is an error, and when resuming each one given must
            equal what the file records (left out, the file's directions are reused).
        dir_type: `weights` (parameters) or `states` (parameters and BN running statistics).
        loss_fn: per-sample loss `loss_fn(outputs, targets) -> (B,)`; default cross-entropy.
        batch_size: images per forward pass (per point). Default: on a CPU, the fastest of
            32, 64, 128 and 256 in a short probe on this model, data and machine (`probe`),
            else 128; on CUDA, from free memory (`plan_batches`), up to 4096 per pass.
        points_per_batch: K grid points per forward pass (vmapped). Default: 1 on a CPU; on
            CUDA enough to fill a pass when the data has fewer samples than it holds.
        device: where to evaluate; default CUDA when available.
        path: HDF5 file to write chunk by chunk; None keeps the surface in memory only. Should
            the run fail before its first point is written, the file it created is removed.
        resume: continue `path`, only when it holds the same grid and its spec (weights, data,
            directions, loss, precision, BN mode: `landscape.spec.SurfaceSpec`) equals this
            run's; any difference is a ValueError naming each field, its old and new value.
            A missing file starts anew.
        overwrite: replace an existing `path`.
        split: `train` or `test`, names the datasets in the file.
        meta: provenance to record (checkpoint path, ...); it does not decide a value.
        data_info: how the data was made (data set, root, seed, normalization, ...): recorded
            in the spec, so a resumed run with other data is refused even when the samples
            cannot be hashed (streamed data).
        progress: show a tqdm bar.
        precision: `fp32` (default); `bf16`/`fp16` cast the weights and inputs and run the
            forward pass in that dtype (faster where the hardware has it: CUDA, bf16 CPUs;
            loss error in docs/how-to/speed.md); `tf32` allows TF32 on CUDA.
        refine: coarse-to-fine sampling with this tolerance (see `landscape.refine`): only the
            points where the interpolated surface misses by more than `refine` (in log-loss with
            `refine_scale='log'`) are computed, the rest is filled and marked `filled`.
        bn: `eval` uses the BN running statistics of θ* at every point (as Li et al.);
            `recompute` re-estimates them at every point on `bn_data` (train mode, cumulative
            average over its batches) before evaluating, as mode-connectivity work does.
        bn_data: the samples for `bn='recompute'` (default: the evaluation data).
        bn_samples: use only the first `bn_samples` of `bn_data`.
        fold_bn: when no direction moves a BN (the default `biasbn` + `weights`), fold each BN
            into the conv before it once for the whole grid and run channels-last on a CPU
            (`landscape.fold`); the values agree with the plain path to ~1e-7 relative in fp32.
            On a CPU the speed probe may also run the folded model fused for oneDNN.
        compile: compile the forward pass once for the whole surface (`torch.compile`, weights
            as inputs). Default: on CUDA when at least 64 points are to be computed; on a CPU,
            when the probe finds it faster, tried only for a grid long enough to repay the
            compile (`PROBE_COMPILE_SECONDS`). A failed compile warns and runs eager.
        target_se: stop averaging a point once the standard error of its mean loss is at most
            `target_se` of the loss (relative; to first order the standard error in log-loss):
            the samples are read in one seeded random order shared by all points, in blocks of
            `se_block`, at least `se_min_samples`, up to all of them (`EarlyStop`). Each
            point's count is kept as `<split>_loss_n`, its standard errors are of its own
            count. None (default): every point is averaged over all samples.
        se_block, se_min_samples: the early stop's block and least count (they decide the
            values, so they are part of the spec).
        probe: time the forward pass on this model and data before the grid and pick the
            batch size (and, on a long grid, compiled or eager) from it: a few seconds, logged
            and recorded in the file's `plan`. Default: on a CPU, unless both `batch_size`
            and `compile` are given or the grid is small (`PROBE_MIN_IMAGES`).

    Under `torchrun` (torch.distributed initialized, or WORLD_SIZE > 1 in the environment) the
    points are sharded over the ranks, rank 0 gathers and writes; every rank returns the surface.

    Returns:
        The `Surface`; a diverged point is NaN/inf and the run goes on.

    Raises:
        ValueError: a bad option, a grid too large for memory, labels the model's head cannot
            score, or a `resume` whose file holds another grid or another spec.
        FileExistsError: `path` exists and neither `resume` nor `overwrite` is set.
    """
    _check_choice("norm", norm, NORMS, optional=True)
    _check_choice("ignore", ignore, IGNORES, optional=True)
    _check_choice("dir_type", dir_type, DIR_TYPES)
    _check_choice("split", split, SPLITS)
    _check_choice("bn", bn, ("eval", "recompute"))
    _check_choice("precision", precision, PRECISIONS)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if bn == "recompute" and dir_type == "states":
        raise ValueError("bn='recompute' re-estimates the BN statistics, so they cannot also be "
                         "moved by the direction; use dir_type='weights'")
    if refine is not None and refine < 0:
        raise ValueError(f"refine (the tolerance) must be >= 0, got {refine}")
    if target_se is not None and not target_se > 0:
        raise ValueError(f"target_se (a relative standard error, e.g. 0.01) must be > 0, "
                         f"got {target_se}")
    if se_block < 1 or se_min_samples < 1:
        raise ValueError(f"se_block and se_min_samples must be >= 1, got {se_block} and "
                         f"{se_min_samples}")
    if directions is not None:
        drawn = [name for name, v in (("seed", seed), ("norm", norm), ("ignore", ignore))
                 if v is not None]
        if drawn:
            raise ValueError(f"{' and '.join(drawn)} shape directions drawn here, but "
                             f"directions are given: leave {' and '.join(drawn)} out")
    check_grid_memory(grid)
    if path is not None and Path(path).exists() and not (resume or overwrite):
        raise FileExistsError(f"{path} exists; pass --resume to continue it or --overwrite to "
                              f"replace it")
    dev = resolve_device(device)
    rank, world = _init_distributed(dev)
    if world > 1 and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    opts = RunOptions(device=dev, batch_size=batch_size, points_per_batch=points_per_batch,
                      compile=compile, fold_bn=fold_bn,
                      path=Path(path) if path is not None else None, resume=resume,
                      overwrite=overwrite, progress=progress and rank == 0, refine=refine,
                      refine_scale=refine_scale, probe=probe)
    request = _Request(directions=directions, seed=seed, norm=norm, ignore=ignore,
                       dir_type=dir_type, loss_fn=loss_fn, split=split, precision=precision,
                       bn_data=(bn_data if bn_data is not None else data)
                       if bn == "recompute" else None, bn_samples=bn_samples,
                       data_info=dict(data_info or {}),
                       early_stop=EarlyStop(target_se, se_block, se_min_samples)
                       if target_se is not None else None)
    with contextlib.ExitStack() as stack:
        if rank == 0 and opts.path is not None:
            stack.enter_context(store.writer_lock(opts.path))
        inputs, spec, existing = _prepare(model, data, base, grid, request, opts, rank, world)
        return _compute(model, grid, inputs, spec, existing, opts, meta or {}, rank, world)


@dataclasses.dataclass(frozen=True)
class _Request:
    """What the caller asked for that decides values, before it is resolved into a spec."""

    directions: list[Params] | None
    seed: int | None
    norm: Norm | None
    ignore: Ignore | None
    dir_type: DirType
    loss_fn: LossFn | None
    split: str
    precision: Precision
    bn_data: Any
    bn_samples: int | None
    data_info: dict[str, Any]
    early_stop: EarlyStop | None


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """The tensors a spec describes, on the device: what the hot loop reads."""

    base: Params
    static: Params
    directions: list[Params]
    data: Data
    bn_data: Data | None
    loss_fn: LossFn | None
    info: dict[str, float]  # facts about the directions (cosine_xy)
    early_stop: EarlyStop | None


def _prepare(model: nn.Module, data: Any, base: Params | None, grid: Grid, request: _Request,
             opts: RunOptions, rank: int, world: int
             ) -> tuple[_Inputs, SurfaceSpec, Surface | None]:
    """Resolve the request into tensors on the device and a spec; check it against the file
    being resumed. Nothing is written here."""
    # The file being resumed (read on rank 0, shared with the others, errors included).
    found: tuple[Surface | None, list[Params] | None, str | None] = (None, None, None)
    if rank == 0 and opts.resume and opts.path is not None and opts.path.exists():
        try:
            existing = store.load_surface(opts.path)
            _check_same_grid(existing, grid, request.split, opts.path)
            _recorded_spec(existing, opts.path)
            found = (existing, store.load_directions(opts.path), None)
        except ValueError as err:
            found = (None, None, str(err))
    if world > 1:
        found = _broadcast(found)
    existing, file_directions, error = found
    if error is not None:
        raise ValueError(error)

    dev = opts.device
    params = get_params(model, request.dir_type)
    base = {k: t.detach().to(dev) for k, t in (base if base is not None else params).items()}
    static = {k: t.detach().to(dev) for k, t in model.state_dict().items() if k not in base}
    data = as_data(data, dev, budget=resident_budget(dev), batch_size=opts.batch_size or 128)
    _check_labels(model, {**static, **base}, data, request.loss_fn)
    data_hash = _data_hash(data)  # of the samples as given, before any reordering
    order = None
    if request.early_stop is not None:
        data, order = _in_sample_order(data)
    bn_data = None
    if request.bn_data is not None:
        bn_data = as_data(request.bn_data, dev)
        if isinstance(bn_data, tuple) and request.bn_samples is not None:
            bn_data = (bn_data[0][:request.bn_samples], bn_data[1][:request.bn_samples])

    drawn = existing is None and request.directions is None
    seed, norm, ignore = request.seed, request.norm, request.ignore
    info: dict[str, float] = {}
    if drawn:
        seed, norm, ignore = (0 if seed is None else seed, norm or "filter", ignore or "biasbn")
        directions, info = create_directions(base, ndim=grid.ndim, seed=seed, norm=norm,
                                             ignore=ignore)
    else:
        chosen = request.directions if request.directions is not None else file_directions
        if chosen is None or len(chosen) < grid.ndim:
            raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} directions, "
                             f"got {0 if chosen is None else len(chosen)}")
        directions = [match_directions(d, base) for d in chosen[:grid.ndim]]
        if grid.ndim == 2:
            info = {"cosine_xy": cosine(directions[0], directions[1])}

    spec = SurfaceSpec(
        model=_model_name(model), model_kwargs=canonical_json(_model_kwargs(model)),
        weights_sha256=tensors_sha256({**static, **base}), dir_type=request.dir_type,
        directions="random" if drawn else "given",
        directions_sha256=directions_sha256(directions), seed=seed, norm=norm, ignore=ignore,
        split=request.split, samples=_count(data), data_sha256=data_hash,
        data=canonical_json(request.data_info), loss=loss_name(request.loss_fn),
        precision=request.precision, bn="eval" if bn_data is None else "recompute",
        bn_samples=None if bn_data is None else _count(bn_data),
        bn_data_sha256=None if bn_data is None else _data_hash(bn_data),
        **_early_stop_fields(request.early_stop, order))
    if existing is not None:
        spec = _check_same_spec(existing, spec, request, opts.path)
    inputs = _Inputs(base=base, static=static, directions=directions, data=data,
                     bn_data=bn_data, loss_fn=request.loss_fn, info=info,
                     early_stop=request.early_stop)
    return inputs, spec, existing


def _compute(model: nn.Module, grid: Grid, inputs: _Inputs, spec: SurfaceSpec,
             existing: Surface | None, opts: RunOptions, meta: dict[str, Any], rank: int,
             world: int) -> Surface:
    dev, path = opts.device, opts.path
    data = inputs.data
    samples = spec.samples
    if inputs.early_stop is not None and samples is not None:  # a pass never crosses a block
        samples = min(samples, inputs.early_stop.block)
    batch_size, k = plan_evaluation(model, inputs.base, inputs.static, data, samples, dev,
                                    opts.batch_size, opts.points_per_batch)
    if inputs.bn_data is not None:
        k = 1
    todo = int(existing.done.size - existing.done.sum()) if existing is not None else grid.size
    compile = opts.compile if opts.compile is not None else dev.type == "cuda" and todo >= 64
    # The file keeps the directions as drawn; the hot loop may run on a folded, faster twin.
    evaluator, data = build_evaluator(
        model, inputs.base, inputs.directions, inputs.static, data,
        loss_fn=inputs.loss_fn, batch_size=batch_size, points_per_batch=k,
        precision=spec.precision, bn_data=inputs.bn_data,
        fold_bn=opts.fold_bn and inputs.bn_data is None, compile=compile,
        early_stop=inputs.early_stop)
    plan = ForwardPlan(batch_size, k, compile)
    if _should_probe(opts, dev, data, k, inputs.bn_data, todo * (spec.samples or 0)):
        plan = probe_forward(evaluator, data, images=todo * (spec.samples or 0),
                             batch_size=opts.batch_size, compile=opts.compile,
                             block=inputs.early_stop.block if inputs.early_stop else None)
        if world > 1:  # every rank runs rank 0's choice
            plan = _broadcast(plan)
            evaluator.configure(batch_size=plan.batch_size, compile=plan.compile,
                                fused=plan.fused)
    if isinstance(data, HostBatches):
        data.batch_size = plan.batch_size
    if rank == 0:
        log.info("batch size %d, %d point(s) per pass, forward pass compiled: %s, fused: %s",
                 plan.batch_size, plan.points_per_batch, plan.compile, plan.fused)
    full_meta = _provenance(model, grid, spec, plan, opts, inputs.info, meta)
    surface = existing if existing is not None else _empty_surface(grid, full_meta)

    created = False
    if existing is None and rank == 0 and path is not None:
        store.create_surface_file(path, surface, directions=inputs.directions, overwrite=True)
        created = True
    try:
        return _evaluate_grid(grid, evaluator, data, spec, surface, opts, plan.points_per_batch,
                              rank, world)
    except BaseException:
        # A file with no computed point holds nothing worth keeping, and would block the
        # next plain run: remove it (one with points stays, for --resume).
        if created and path is not None and _holds_no_point(path):
            path.unlink(missing_ok=True)
        raise


def _holds_no_point(path: Path) -> bool:
    try:
        return store.read_progress(path)[0] == 0
    except Exception:  # noqa: BLE001 - unreadable: leave it for the user to look at
        return False


def _evaluate_grid(grid: Grid, evaluator: Evaluator, data: Data, spec: SurfaceSpec,
                   surface: Surface, opts: RunOptions, k: int, rank: int,
                   world: int) -> Surface:
    """The grid walk: evaluate the points not done, in chunks, writing each chunk."""
    path, split = opts.path, spec.split
    stop = evaluator.early_stop
    loss = surface.loss.reshape(-1).copy()
    acc = (surface.accuracy.reshape(-1).copy() if surface.accuracy is not None
           else np.full(loss.shape, np.nan))
    extras = {name: surface.extras.get(f"{split}_{name}", np.full(surface.shape, np.nan))
              .reshape(-1).copy() for name in ("loss_se", "acc_se", "loss_n")}
    done = surface.done.reshape(-1).copy()
    coords = grid.coordinates()
    has_acc = surface.accuracy is not None and bool(np.isfinite(surface.accuracy).any())
    bar = _progress_bar(done.size, int(done.sum()), opts.progress)

    def run(indices: np.ndarray) -> np.ndarray:
        """Compute the points of `indices` not done yet (sharded, written); return their loss."""
        nonlocal has_acc
        todo = indices[~done[indices]]
        # A few points per call and per write: the call's setup (buffers, moving-tensor scan)
        # is shared by them, and a killed run loses at most this chunk.
        step = k * max(1, 4 // k) * world
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            mine = chunk[rank::world]
            stats = evaluator(coords[mine], data) if len(mine) else None
            for index, part in _gather((mine, stats), world):
                has_acc = part.acc is not None
                loss[index] = part.loss
                extras["loss_se"][index] = part.loss_se
                if part.acc is not None:
                    acc[index] = part.acc
                    extras["acc_se"][index] = part.acc_se
                if stop is not None:
                    extras["loss_n"][index] = part.n
                done[index] = True
                if rank == 0 and path is not None:
                    values = {"loss": part.loss, f"{split}_loss_se": part.loss_se}
                    if stop is not None:
                        values[f"{split}_loss_n"] = part.n
                    if part.acc is not None:
                        values.update({"acc": part.acc, f"{split}_acc_se": part.acc_se})
                    store.write_points(path, split, index, values)
            bar.update(len(chunk))
        return loss[indices]

    shape = grid.shape
    result_extras: dict[str, np.ndarray] = {}
    if opts.refine is None:
        run(np.arange(done.size))
    else:
        leaves = refine_grid(shape, run, tol=opts.refine, scale=opts.refine_scale)
        computed = done.reshape(shape)
        loss_full, filled = fill_from_leaves(loss.reshape(shape), computed, leaves,
                                             scale=opts.refine_scale)
        acc_full, _ = fill_from_leaves(acc.reshape(shape), computed, leaves, scale="linear")
        loss, acc = loss_full.reshape(-1), acc_full.reshape(-1)
        result_extras["filled"] = filled
        if rank == 0 and path is not None:
            store.write_filled(path, split, filled, {"loss": loss_full, "acc": acc_full})
    bar.close()

    result_extras.update({f"{split}_{name}": v.reshape(shape) for name, v in extras.items()
                          if name == "loss_se" or (name == "acc_se" and has_acc)
                          or (name == "loss_n" and stop is not None)})
    if stop is not None and rank == 0:
        counts = extras["loss_n"][done]
        log.info("early stop: %d images evaluated over %d points, %.2fx fewer than all %s",
                 int(counts.sum()), counts.size,
                 counts.size * (spec.samples or 0) / max(counts.sum(), 1), spec.samples)
    return Surface(x=surface.x, y=surface.y, loss=loss.reshape(shape),
                   accuracy=acc.reshape(shape) if has_acc else None, done=done.reshape(shape),
                   meta=surface.meta, extras=result_extras)


def build_evaluator(model: nn.Module, base: Params, directions: list[Params], static: Params,
                    data: Data, *, loss_fn: LossFn | None = None, batch_size: int = 128,
                    points_per_batch: int = 1, precision: Precision = "fp32",
                    bn_data: Data | None = None, fold_bn: bool = True, compile: bool = False,
                    early_stop: EarlyStop | None = None) -> tuple[Evaluator, Data]:
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
                          early_stop=early_stop, fused=fused)
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


PROBE_BATCH_SIZES = (32, 64, 128, 256)
PROBE_MIN_IMAGES = 100_000      # a grid evaluating fewer images is not probed (a few seconds)
PROBE_SECONDS = 6.0             # about what the timed passes of the probe take
PROBE_COMPILE_SECONDS = 600.0   # compile is tried only when the grid would take this long


def _should_probe(opts: RunOptions, dev: torch.device, data: Data, k: int, bn_data: Any,
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
    n = _count(data) or 0
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
        evaluator(zero, _head(data, head, evaluator.device))
        return time.perf_counter() - t

    # The first call of a shape pays one-off costs (oneDNN primitives, caches): it is not
    # timed. The rate of the smallest size (the faster of two calls) drops the sizes whose one
    # batch would take half the budget (a big model on a small CPU).
    smallest = min(sizes)
    for mode in list(modes):
        try:
            run(mode, smallest, smallest)
        except RuntimeError as err:  # oneDNN without this dtype or op: not a candidate
            if mode != "fused":
                raise
            log.info("fused forward not available (%s); not probed", err)
            modes.remove("fused")
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


def _head(data: Data, n: int, device: torch.device | None = None) -> Data:
    """The first `n` samples as `(inputs, targets)` on `device` (host-kept ones are copied)."""
    x, y = sample_tensors(data)  # type: ignore[misc]
    x, y = x[:n], y[:n]
    return (x.to(device), y.to(device)) if device is not None else (x, y)


SAMPLE_ORDER_SEED = 0  # the one random order an early stop reads the samples in


def _in_sample_order(data: Data) -> tuple[Data, str]:
    """The samples in one seeded random order (the same for every point and every run), and
    the permutation's hash: a prefix of data sorted by class would not be a sample of it."""
    tensors = sample_tensors(data)
    if tensors is None:
        raise ValueError("target_se reads the samples in one random order, so it needs them "
                         "as (inputs, targets) tensors or a Dataset, not an iterable of batches")
    x, y = tensors
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SAMPLE_ORDER_SEED))
    digest = hashlib.sha256(perm.numpy().astype("<i8").tobytes()).hexdigest()
    x, y = x[perm.to(x.device)], y[perm.to(y.device)]
    if isinstance(data, HostBatches):
        return HostBatches(x, y, data.batch_size), digest
    return (x, y), digest


def _early_stop_fields(stop: EarlyStop | None, order: str | None) -> dict[str, Any]:
    if stop is None:
        return {}
    return {"target_se": stop.target, "se_block": stop.block,
            "se_min_samples": stop.min_samples, "sample_order": order}


def _empty_surface(grid: Grid, meta: dict[str, Any]) -> Surface:
    nan = np.full(grid.shape, np.nan)
    return Surface(x=grid.x.values, y=None if grid.y is None else grid.y.values, loss=nan.copy(),
                   accuracy=nan.copy(), done=np.zeros(grid.shape, dtype=bool), meta=meta)


def _check_same_grid(existing: Surface, grid: Grid, split: str, path: Any) -> None:
    same_x = np.allclose(existing.x, grid.x.values) if len(existing.x) == grid.x.num else False
    same_y = (existing.y is None and grid.y is None) or (
        existing.y is not None and grid.y is not None and len(existing.y) == grid.y.num
        and np.allclose(existing.y, grid.y.values))
    if not (same_x and same_y):
        raise ValueError(f"cannot resume {path}: it holds another grid "
                         f"(x {len(existing.x)} points, y "
                         f"{'none' if existing.y is None else len(existing.y)}); pass the grid "
                         f"it was started with, or --overwrite to start anew")
    if existing.split != split:
        raise ValueError(f"cannot resume {path}: it holds the {existing.split} split, not {split}")


def _check_same_spec(existing: Surface, spec: SurfaceSpec, request: _Request,
                     path: Any) -> SurfaceSpec:
    """The spec of this run resumed into `existing`, or a ValueError naming every difference."""
    recorded = _recorded_spec(existing, path)
    if request.directions is None:  # the file's own directions go on: its recipe stands,
        spec = dataclasses.replace(   # unless this run names one of its parts
            spec, directions=recorded.directions,
            seed=recorded.seed if request.seed is None else request.seed,
            norm=recorded.norm if request.norm is None else request.norm,
            ignore=recorded.ignore if request.ignore is None else request.ignore)
    differences = spec.differences(recorded)
    if differences:
        listed = "; ".join(f"{name}: {_short(old)} in the file, {_short(new)} now"
                           for name, new, old in differences)
        raise ValueError(f"cannot resume {path}: this run would compute other values than the "
                         f"file holds ({listed}). Rerun with what the file was made with, or "
                         f"--overwrite to start anew")
    return spec


def _recorded_spec(existing: Surface, path: Any) -> SurfaceSpec:
    try:
        return SurfaceSpec.from_dict(existing.meta.get("spec"))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise ValueError(f"cannot resume {path}: it records no fingerprint of what decided its "
                         f"values (written by another program or an older version, or damaged), "
                         f"so this run cannot be checked against its points; start anew with "
                         f"--overwrite") from None


def _short(value: Any) -> str:
    text = repr(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return repr(value[:12] + "...")  # a sha256
    return text if len(text) <= 80 else text[:77] + "..."


def _provenance(model: nn.Module, grid: Grid, spec: SurfaceSpec, plan: ForwardPlan,
                opts: RunOptions, info: dict[str, float], meta: dict[str, Any]
                ) -> dict[str, Any]:
    """What the file records: the spec (and its fingerprint), how it was run, and `meta`.

    `seed`, `norm` and `ignore` are the spec's: None when the directions were not drawn here.
    """
    out: dict[str, Any] = {
        "model": spec.model, "grid_x": str(grid.x),
        "grid_y": None if grid.y is None else str(grid.y),
        "seed": spec.seed, "norm": spec.norm, "ignore": spec.ignore, "dir_type": spec.dir_type,
        "split": spec.split, "samples": spec.samples, "precision": spec.precision,
        "bn": spec.bn, "bn_samples": spec.bn_samples, "loss": spec.loss,
        "batch_size": plan.batch_size, "points_per_batch": plan.points_per_batch,
        "compiled": plan.compile, "fused": plan.fused, "plan": plan.probe,
        "device": str(opts.device),
        "target_se": spec.target_se,
        "refine_tol": opts.refine,
        "refine_scale": opts.refine_scale if opts.refine is not None else None,
        "torch_version": torch.__version__, "python_version": platform.python_version(),
        "package_version": _package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if spec.target_se is not None:
        out.update({"se_block": spec.se_block, "se_min_samples": spec.se_min_samples,
                    "sample_order_seed": SAMPLE_ORDER_SEED})
    kwargs = _model_kwargs(model)
    if "skip" in kwargs:
        out["skip"] = bool(kwargs["skip"])
    out.update(info)
    out.update(meta)
    out.update({"spec": spec.to_dict(), "fingerprint": spec.fingerprint})
    return out


def _model_name(model: nn.Module) -> str:
    arch = getattr(model, "arch", None)
    if isinstance(arch, dict) and arch.get("name"):
        return str(arch["name"])
    return type(model).__name__


def _model_kwargs(model: nn.Module) -> dict[str, Any]:
    arch = getattr(model, "arch", None)
    return dict(arch.get("kwargs") or {}) if isinstance(arch, dict) else {}


def _count(data: Data) -> int | None:
    tensors = sample_tensors(data)
    return None if tensors is None else len(tensors[0])


def _data_hash(data: Data) -> str | None:
    tensors = sample_tensors(data)
    return None if tensors is None else data_sha256(*tensors)


def _check_labels(model: nn.Module, tensors: Params, data: Data, loss_fn: LossFn | None) -> None:
    """Refuse, before the first point, class labels the model's head cannot score (the
    cross-entropy would fail at every point, and on a GPU with a device-side assert)."""
    samples = sample_tensors(data)
    if loss_fn is not None or samples is None:  # streamed: its labels are seen batch by batch
        return
    x, y = samples
    if y.is_floating_point() or y.dim() != 1 or len(y) == 0:
        return
    dev = next(iter(tensors.values())).device if tensors else x.device
    with eval_mode(model), torch.inference_mode():
        out = functional_call(model, tensors, (x[:1].to(dev),))
    if out.dim() != 2:
        return
    classes, low, high = out.shape[1], int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise ValueError(f"the data has class labels {low}..{high}, but the model's head scores "
                         f"{classes} classes (0..{classes - 1}): evaluate it on data of "
                         f"{classes} classes, or use a model built with num_classes={high + 1}")


_BYTES_PER_POINT = 128  # loss, accuracy, their errors, done, coordinates and their copies


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_grid_memory(grid: Grid, available: int | None = None) -> None:
    """Refuse, before anything is allocated, a grid whose results alone would take more than
    half the memory available.

    Raises:
        ValueError: with the estimate, what is available, and a grid that would fit.
    """
    available = available_memory() if available is None else available
    need = grid.size * _BYTES_PER_POINT
    if available is None or need <= available // 2:
        return
    fits = int((available // 2 // _BYTES_PER_POINT) ** (1 / grid.ndim))
    raise ValueError(f"a grid of {grid.size:,} points needs about {need / 2**30:,.1f} GB for its "
                     f"results alone, and {available / 2**30:,.1f} GB of memory is available: "
                     f"use fewer points per axis (at most about {fits:,} here)")


def _check_choice(name: str, value: Any, choices: tuple[str, ...], *,
                  optional: bool = False) -> None:
    if not (optional and value is None) and value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("loss-landscape-toolkit")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        return "unknown"


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="surface", disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)


def _init_distributed(dev: torch.device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("joined process group: rank %d of %d (%s)", dist.get_rank(),
                 dist.get_world_size(), backend)
    return dist.get_rank(), dist.get_world_size()


def _broadcast(obj: Any) -> Any:
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _gather(obj: tuple[np.ndarray, PointStats | None], world: int
            ) -> list[tuple[np.ndarray, PointStats]]:
    if world == 1:
        return [obj] if obj[1] is not None else []  # type: ignore[list-item]
    import torch.distributed as dist

    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return [o for o in out if o[1] is not None]


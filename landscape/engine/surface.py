"""`compute_surface`: the grid walk. Evaluate the points not done, in chunks, and write each
chunk as it is done, so that a killed run resumes where it stopped."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.engine import store
from landscape.engine.directions import (
    IGNORES,
    NORMS,
    Ignore,
    Norm,
    create_directions,
    match_directions,
    parameter_units,
)
from landscape.engine.distributed import broadcast, gather, init_distributed
from landscape.engine.evaluate import (
    PRECISIONS,
    BnMode,
    Data,
    EarlyStop,
    Evaluator,
    LossFn,
    PointStats,
    Precision,
    SampleBlocks,
)
from landscape.engine.grid import Grid
from landscape.engine.params import DIR_TYPES, DirType, cosine, get_params, state_tensors
from landscape.engine.placement import (
    HostBatches,
    as_data,
    check_grid_memory,
    in_sample_order,
    resident_budget,
    resolve_device,
    sample_count,
)
from landscape.engine.plan import (
    ForwardPlan,
    build_evaluator,
    check_labels,
    check_pass_memory,
    plan_evaluation,
    probe_forward,
    should_probe,
    small_grid_forward,
)
from landscape.engine.provenance import (
    check_same_grid,
    check_same_spec,
    data_hash,
    early_stop_fields,
    model_kwargs,
    model_name,
    provenance,
    recorded_spec,
)
from landscape.engine.refine import Scale, fill_from_leaves, refine_grid
from landscape.engine.spec import (
    RunOptions,
    SurfaceSpec,
    canonical_json,
    directions_sha256,
    loss_name,
)
from landscape.engine.sums import DEFAULT_BLOCKS, SAMPLE_ORDER_SEED
from landscape.engine.types import Blocks, Params, Surface
from toolkit import tensors_sha256

__all__ = ["compute_surface", "SPLITS"]

log = logging.getLogger(__name__)


SPLITS = ("train", "test")


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
                    probe: bool | None = None,
                    member: tuple[int, int] | None = None) -> Surface:
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
            32, 64, 128 and 256 in a short probe on this model, data and machine (`probe`);
            a grid too small for the probe runs 64 in fp32, 128 in bf16, fused
            (`landscape.engine.plan.SMALL_GRID_FORWARD`); on CUDA, from free memory
            (`plan_batches`), up to 4096 per pass.
        points_per_batch: K grid points per forward pass (vmapped). Default: 1 on a CPU; on
            CUDA enough to fill a pass when the data has fewer samples than it holds.
        device: where to evaluate; default CUDA when available.
        path: HDF5 file to write chunk by chunk; None keeps the surface in memory only. Should
            the run fail before its first point is written, the file it created is removed.
        resume: continue `path`, only when it holds the same grid and its spec (weights, data,
            directions, loss, precision, BN mode: `landscape.engine.spec.SurfaceSpec`) equals this
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
        refine: coarse-to-fine sampling with this tolerance (see `landscape.engine.refine`): only
            the points where the interpolated surface misses by more than `refine` (in log-loss with
            `refine_scale='log'`) are computed, the rest is filled and marked `filled`.
        bn: `eval` uses the BN running statistics of θ* at every point (as Li et al.);
            `recompute` re-estimates them at every point on `bn_data` (train mode, cumulative
            average over its batches) before evaluating, as mode-connectivity work does.
        bn_data: the samples for `bn='recompute'` (default: the evaluation data).
        bn_samples: use only the first `bn_samples` of `bn_data`.
        fold_bn: when no direction moves a BN (the default `biasbn` + `weights`), fold each BN
            into the conv before it once for the whole grid and run channels-last on a CPU
            (`landscape.engine.fold`); the values agree with the plain path to ~1e-7 relative in
            fp32. On a CPU the speed probe may also run the folded model fused for oneDNN.
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
        member: `(k, N)`: this is direction pair k of an ensemble of N (`compute_ensemble` sets
            it): pair 0 is written at the file's root, pair k in its group `ensemble/<k>`; N is
            part of the spec, so a resume must name the same N.

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
    rank, world = init_distributed(dev)
    if world > 1 and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    opts = RunOptions(device=dev, batch_size=batch_size, points_per_batch=points_per_batch,
                      compile=compile, fold_bn=fold_bn,
                      path=Path(path) if path is not None else None, resume=resume,
                      overwrite=overwrite, progress=progress and rank == 0, refine=refine,
                      refine_scale=refine_scale, probe=probe,
                      group=f"{store.ENSEMBLE}/{member[0]}" if member and member[0] else "")
    request = _Request(directions=directions, seed=seed, norm=norm, ignore=ignore,
                       dir_type=dir_type, loss_fn=loss_fn, split=split, precision=precision,
                       bn_data=(bn_data if bn_data is not None else data)
                       if bn == "recompute" else None, bn_samples=bn_samples,
                       data_info=dict(data_info or {}),
                       early_stop=EarlyStop(target_se, se_block, se_min_samples)
                       if target_se is not None else None,
                       ensemble=member[1] if member else None)
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
    ensemble: int | None = None


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
    blocks: SampleBlocks | None  # which sample block each sample of `data` falls in


def _prepare(model: nn.Module, data: Any, base: Params | None, grid: Grid, request: _Request,
             opts: RunOptions, rank: int, world: int
             ) -> tuple[_Inputs, SurfaceSpec, Surface | None]:
    """Resolve the request into tensors on the device and a spec; check it against the file
    being resumed. Nothing is written here."""
    # The file being resumed (read on rank 0, shared with the others, errors included).
    found: tuple[Surface | None, list[Params] | None, str | None] = (None, None, None)
    if rank == 0 and opts.resume and opts.path is not None and opts.path.exists() and (
            not opts.group or opts.group in store.member_groups(opts.path)):
        try:
            existing = store.load_surface(opts.path, group=opts.group)
            check_same_grid(existing, grid, request.split, opts.path)
            recorded_spec(existing, opts.path)
            found = (existing, store.load_directions(opts.path, group=opts.group), None)
        except ValueError as err:
            found = (None, None, str(err))
    if world > 1:
        found = broadcast(found)
    existing, file_directions, error = found
    if error is not None:
        raise ValueError(error)

    dev = opts.device
    params = get_params(model, request.dir_type)
    base = {k: t.detach().to(dev) for k, t in (base if base is not None else params).items()}
    static = {k: t.to(dev) for k, t in state_tensors(model).items() if k not in base}
    data = as_data(data, dev, budget=resident_budget(dev), batch_size=opts.batch_size or 128)
    check_labels(model, {**static, **base}, data, request.loss_fn)
    samples_hash = data_hash(data)  # of the samples as given, before any reordering
    order = None
    if request.early_stop is not None:
        data, order = in_sample_order(data)
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
        directions, info = create_directions(
            base, ndim=grid.ndim, seed=seed, norm=norm, ignore=ignore,
            units=parameter_units(model, base, per_head=norm == "head"))
    else:
        chosen = request.directions if request.directions is not None else file_directions
        if chosen is None or len(chosen) < grid.ndim:
            raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} directions, "
                             f"got {0 if chosen is None else len(chosen)}")
        directions = [match_directions(d, base) for d in chosen[:grid.ndim]]
        if grid.ndim == 2:
            info = {"cosine_xy": cosine(directions[0], directions[1])}

    spec = SurfaceSpec(
        model=model_name(model), model_kwargs=canonical_json(model_kwargs(model)),
        weights_sha256=tensors_sha256({**static, **base}), dir_type=request.dir_type,
        directions="random" if drawn else "given",
        directions_sha256=directions_sha256(directions), seed=seed, norm=norm, ignore=ignore,
        split=request.split, samples=sample_count(data), data_sha256=samples_hash,
        data=canonical_json(request.data_info), loss=loss_name(request.loss_fn),
        precision=request.precision, bn="eval" if bn_data is None else "recompute",
        bn_samples=None if bn_data is None else sample_count(bn_data),
        bn_data_sha256=None if bn_data is None else data_hash(bn_data),
        ensemble=request.ensemble, **early_stop_fields(request.early_stop, order))
    if existing is not None:
        spec = check_same_spec(existing, spec, request, opts.path)
    inputs = _Inputs(base=base, static=static, directions=directions, data=data,
                     bn_data=bn_data, loss_fn=request.loss_fn, info=info,
                     early_stop=request.early_stop,
                     blocks=_sample_blocks(data, existing, request.early_stop is not None, dev))
    return inputs, spec, existing


def _sample_blocks(data: Data, existing: Surface | None, permuted: bool,
                   dev: torch.device) -> SampleBlocks | None:
    """The sample blocks of this run: B from the file being resumed (none when it has points
    but no block sums: its old points could not be jackknifed with the new), else the
    default; none for streamed data, whose samples are not known by position."""
    samples = sample_count(data)
    if samples is None:
        return None
    count = DEFAULT_BLOCKS
    if existing is not None and existing.done.any():
        if existing.blocks is None:
            log.warning("the file being resumed has no per-block sums: its new points get none "
                        "either, and its metrics no jackknife errors")
            return None
        count = existing.blocks.count
    return SampleBlocks.make(samples, blocks=count, seed=SAMPLE_ORDER_SEED, permuted=permuted,
                             device=dev)


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
    k = max(1, min(k, todo))  # more points per pass than there are points changes nothing
    check_pass_memory(model, {**inputs.static, **inputs.base}, data, batch_size, k, dev)
    compile = opts.compile if opts.compile is not None else dev.type == "cuda" and todo >= 64
    # The file keeps the directions as drawn; the hot loop may run on a folded, faster twin.
    evaluator, data = build_evaluator(
        model, inputs.base, inputs.directions, inputs.static, data,
        loss_fn=inputs.loss_fn, batch_size=batch_size, points_per_batch=k,
        precision=spec.precision, bn_data=inputs.bn_data,
        fold_bn=opts.fold_bn and inputs.bn_data is None, compile=compile,
        early_stop=inputs.early_stop, blocks=inputs.blocks)
    plan = ForwardPlan(batch_size, k, compile)
    if should_probe(opts, dev, data, k, inputs.bn_data, todo * (spec.samples or 0)):
        plan = probe_forward(evaluator, data, images=todo * (spec.samples or 0),
                             batch_size=opts.batch_size, compile=opts.compile,
                             block=inputs.early_stop.block if inputs.early_stop else None)
        if world > 1:  # every rank runs rank 0's choice
            plan = broadcast(plan)
            evaluator.configure(batch_size=plan.batch_size, compile=plan.compile,
                                fused=plan.fused)
    elif dev.type == "cpu" and k == 1 and inputs.bn_data is None:
        plan = small_grid_forward(evaluator, data, spec.precision, batch_size=opts.batch_size,
                                  compile=compile)
    if isinstance(data, HostBatches):
        data.batch_size = plan.batch_size
    if rank == 0:
        log.info("batch size %d, %d point(s) per pass, forward pass compiled: %s, fused: %s",
                 plan.batch_size, plan.points_per_batch, plan.compile, plan.fused)
    full_meta = provenance(model, grid, spec, plan, opts, inputs.info, meta)
    surface = existing if existing is not None else _empty_surface(grid, full_meta)

    created = False
    if existing is None and rank == 0 and path is not None:
        store.create_surface_file(path, surface, directions=inputs.directions, overwrite=True,
                                  group=opts.group)
        created = True
    try:
        return _evaluate_grid(grid, evaluator, data, spec, surface, opts, plan.points_per_batch,
                              rank, world)
    except BaseException:
        # A file with no computed point holds nothing worth keeping, and would block the
        # next plain run: remove it (one with points stays, for --resume).
        if created and path is not None and not opts.group and _holds_no_point(path):
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
    blocks = _block_arrays(surface, evaluator.blocks)
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
            for index, part in gather((mine, stats), world):
                has_acc = part.acc is not None
                loss[index] = part.loss
                extras["loss_se"][index] = part.loss_se
                if part.acc is not None:
                    acc[index] = part.acc
                    extras["acc_se"][index] = part.acc_se
                if stop is not None:
                    extras["loss_n"][index] = part.n
                done[index] = True
                sums = _part_blocks(part) if blocks is not None else {}
                for name, value in sums.items():
                    blocks[name][index] = value  # type: ignore[index]
                if rank == 0 and path is not None:
                    values = {"loss": part.loss, f"{split}_loss_se": part.loss_se}
                    if stop is not None:
                        values[f"{split}_loss_n"] = part.n
                    if part.acc is not None:
                        values.update({"acc": part.acc, f"{split}_acc_se": part.acc_se})
                    values.update({f"{split}_{name}": v for name, v in sums.items()})
                    store.write_points(path, split, index, values, block_seed=SAMPLE_ORDER_SEED,
                                       group=opts.group)
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
            store.write_filled(path, split, filled, {"loss": loss_full, "acc": acc_full},
                               group=opts.group)
    bar.close()

    result_extras.update({f"{split}_{name}": v.reshape(shape) for name, v in extras.items()
                          if name == "loss_se" or (name == "acc_se" and has_acc)
                          or (name == "loss_n" and stop is not None)})
    if stop is not None and rank == 0:
        counts = extras["loss_n"][done]
        log.info("early stop: %d images evaluated over %d points, %.2fx fewer than all %s",
                 int(counts.sum()), counts.size,
                 counts.size * (spec.samples or 0) / max(counts.sum(), 1), spec.samples)
    found = None
    if blocks is not None:
        b = blocks["loss_blocks"].shape[-1]
        found = Blocks(loss=blocks["loss_blocks"].reshape(*shape, b),
                       n=blocks["block_n"].reshape(*shape, b),
                       correct=blocks["correct_blocks"].reshape(*shape, b) if has_acc else None,
                       seed=SAMPLE_ORDER_SEED)
    return Surface(x=surface.x, y=surface.y, loss=loss.reshape(shape),
                   accuracy=acc.reshape(shape) if has_acc else None, done=done.reshape(shape),
                   meta=surface.meta, extras=result_extras, blocks=found)


def _block_arrays(surface: Surface, blocks: SampleBlocks | None
                  ) -> dict[str, np.ndarray] | None:
    """Flat (P, B) per-block sums to fill: the resumed file's, or NaN (counts 0)."""
    if blocks is None:
        return None
    size, b = surface.done.size, blocks.count
    old = surface.blocks
    if old is not None and old.count == b:
        correct = old.correct if old.correct is not None else np.full(old.loss.shape, np.nan)
        return {"loss_blocks": old.loss.reshape(size, b).copy(),
                "correct_blocks": correct.reshape(size, b).copy(),
                "block_n": old.n.reshape(size, b).copy()}
    return {"loss_blocks": np.full((size, b), np.nan),
            "correct_blocks": np.full((size, b), np.nan), "block_n": np.zeros((size, b))}


def _part_blocks(part: PointStats) -> dict[str, np.ndarray]:
    """The per-block sums of evaluated points, by their names in the file (none when the
    loss was reduced per batch)."""
    if part.block_loss is None or part.block_n is None:
        return {}
    out = {"loss_blocks": part.block_loss, "block_n": part.block_n}
    if part.block_correct is not None:
        out["correct_blocks"] = part.block_correct
    return out


def _empty_surface(grid: Grid, meta: dict[str, Any]) -> Surface:
    nan = np.full(grid.shape, np.nan)
    return Surface(x=grid.x.values, y=None if grid.y is None else grid.y.values, loss=nan.copy(),
                   accuracy=nan.copy(), done=np.zeros(grid.shape, dtype=bool), meta=meta)


def _check_choice(name: str, value: Any, choices: tuple[str, ...], *,
                  optional: bool = False) -> None:
    if not (optional and value is None) and value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="surface", disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)

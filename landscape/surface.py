"""`compute_surface`: walk a grid in chunks, evaluate, write each chunk, resume, shard ranks."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import platform
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
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
    Evaluator,
    LossFn,
    PointStats,
    Precision,
    plan_batches,
    probe_bytes_per_image,
)
from landscape.fold import fold_batchnorm, to_channels_last
from landscape.grid import Grid
from landscape.params import DIR_TYPES, DirType, cosine, get_params
from landscape.refine import Scale, fill_from_leaves, refine_grid
from landscape.types import Params, Surface

__all__ = ["compute_surface", "build_evaluator", "plan_evaluation", "resolve_device", "as_data",
           "HostBatches", "resident_budget"]

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
                    seed: int = 0, norm: Norm = "filter", ignore: Ignore = "biasbn",
                    dir_type: DirType = "weights", loss_fn: LossFn | None = None,
                    batch_size: int | None = None, points_per_batch: int | None = None,
                    device: str | torch.device | None = None,
                    path: str | os.PathLike[str] | None = None, resume: bool = False,
                    overwrite: bool = False, split: str = "train",
                    meta: dict[str, Any] | None = None, progress: bool = True,
                    precision: Precision = "fp32", refine: float | None = None,
                    refine_scale: Scale = "log", bn: BnMode = "eval", bn_data: Any = None,
                    bn_samples: int | None = None, fold_bn: bool = True,
                    compile: bool | None = None) -> Surface:
    """Loss (and accuracy) of `model` on `data` at every grid point θ* + αδ (+ βη).

    Args:
        model: any `nn.Module` (left unchanged; evaluated in eval mode).
        data: `(inputs, targets)` tensors or a Dataset (made resident on `device`), or an
            iterable of batches (streamed, for data that does not fit the device).
        grid: the points; `Grid(Axis(-1, 1, 51), Axis(-1, 1, 51))`, 1-D when `grid.y` is None.
        directions: directions to use instead of random ones (e.g. from `load_directions`, or
            θ2 − θ1); keyed by name or by position, checked against the model.
        base: the origin θ*; default: the model's own parameters (or states).
        seed, norm, ignore: how random directions are drawn and normalized (Li et al. 2018:
            `filter`, `biasbn`).
        dir_type: `weights` (parameters) or `states` (parameters and BN running statistics).
        loss_fn: per-sample loss `loss_fn(outputs, targets) -> (B,)`; default cross-entropy.
        batch_size: images per forward pass (per point). Default: 128 on a CPU (measured
            best there); on CUDA, from free memory (`plan_batches`), up to 4096 per pass.
        points_per_batch: K grid points per forward pass (vmapped). Default: 1 on a CPU; on
            CUDA enough to fill a pass when the data has fewer samples than it holds.
        device: where to evaluate; default CUDA when available.
        path: HDF5 file to write chunk by chunk; None keeps the surface in memory only.
        resume: continue `path` (same grid; its directions are reused); a missing file starts anew.
        overwrite: replace an existing `path`.
        split: `train` or `test`, names the datasets in the file.
        meta: provenance to record (model name, checkpoint, data set, ...).
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
        compile: compile the forward pass once for the whole surface (`torch.compile`, weights
            as inputs). Default: on CUDA when at least 64 points are to be computed; off on a
            CPU, where it gave 7 to 14% for a 6 to 60 s compile (docs/how-to/speed.md). A
            failed compile warns and runs eager.

    Under `torchrun` (torch.distributed initialized, or WORLD_SIZE > 1 in the environment) the
    points are sharded over the ranks, rank 0 gathers and writes; every rank returns the surface.

    Returns:
        The `Surface`; a diverged point is NaN/inf and the run goes on.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    if ignore not in IGNORES:
        raise ValueError(f"ignore must be one of {list(IGNORES)}, got {ignore!r}")
    if dir_type not in DIR_TYPES:
        raise ValueError(f"dir_type must be one of {list(DIR_TYPES)}, got {dir_type!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if bn not in ("eval", "recompute"):
        raise ValueError(f"bn must be 'eval' or 'recompute', got {bn!r}")
    if bn == "recompute" and dir_type == "states":
        raise ValueError("bn='recompute' re-estimates the BN statistics, so they cannot also be "
                         "moved by the direction; use dir_type='weights'")
    if refine is not None and refine < 0:
        raise ValueError(f"refine (the tolerance) must be >= 0, got {refine}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if path is not None and Path(path).exists() and not (resume or overwrite):
        raise FileExistsError(f"{path} exists; pass --resume to continue it or --overwrite to "
                              f"replace it")
    dev = resolve_device(device)
    rank, world = _init_distributed(dev)
    if world > 1 and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    with contextlib.ExitStack() as stack:
        if rank == 0 and path is not None:
            stack.enter_context(store.writer_lock(path))
        return _compute(model, data, grid, directions, base, seed, norm, ignore, dir_type,
                        loss_fn, batch_size, points_per_batch, dev, path, resume, split,
                        meta or {}, progress, precision, refine, refine_scale,
                        (bn_data if bn_data is not None else data, bn_samples)
                        if bn == "recompute" else None, fold_bn, compile, rank, world)


def _compute(model: nn.Module, data: Any, grid: Grid, directions: list[Params] | None,
             base: Params | None, seed: int, norm: Norm, ignore: Ignore, dir_type: DirType,
             loss_fn: LossFn | None, batch_size: int | None, points_per_batch: int | None,
             dev: torch.device, path: Any, resume: bool, split: str, meta: dict[str, Any],
             progress: bool, precision: Precision, refine: float | None, refine_scale: Scale,
             bn_spec: tuple[Any, int | None] | None, fold_bn: bool, compile: bool | None,
             rank: int, world: int) -> Surface:
    params = get_params(model, dir_type)
    base = {k: t.detach().to(dev) for k, t in (base if base is not None else params).items()}
    static = {k: t.detach().to(dev) for k, t in model.state_dict().items() if k not in base}

    existing = None
    if rank == 0 and path is not None and resume and Path(path).exists():
        existing = store.load_surface(path)
        _check_resumable(existing, grid, split, path)
        directions = store.load_directions(path)
    if world > 1:
        existing, directions = _broadcast((existing, directions))

    info: dict[str, float] = {}
    if directions is None:
        directions, info = create_directions(base, ndim=grid.ndim, seed=seed, norm=norm,
                                             ignore=ignore)
    else:
        if len(directions) < grid.ndim:
            raise ValueError(f"a {grid.ndim}-D grid needs {grid.ndim} directions, "
                             f"got {len(directions)}")
        directions = [match_directions(d, base) for d in directions[:grid.ndim]]
        if grid.ndim == 2:
            info = {"cosine_xy": cosine(directions[0], directions[1])}

    data = as_data(data, dev, budget=resident_budget(dev), batch_size=batch_size or 128)
    samples = (len(data[0]) if isinstance(data, tuple)
               else len(data) if isinstance(data, HostBatches) else None)
    batch_size, k = plan_evaluation(model, base, static, data, samples, dev, batch_size,
                                    points_per_batch)
    if isinstance(data, HostBatches):
        data.batch_size = batch_size
    full_meta = _provenance(model, grid, seed, norm, ignore, dir_type, split, samples,
                            batch_size, k, dev, info, meta)
    full_meta.update({"precision": precision, "refine_tol": refine,
                      "refine_scale": refine_scale if refine is not None else None,
                      "bn": "eval" if bn_spec is None else "recompute"})
    bn_data = None
    if bn_spec is not None:
        bn_data = as_data(bn_spec[0], dev)
        if isinstance(bn_data, tuple) and bn_spec[1] is not None:
            bn_data = (bn_data[0][:bn_spec[1]], bn_data[1][:bn_spec[1]])
        full_meta["bn_samples"] = len(bn_data[0]) if isinstance(bn_data, tuple) else None
        k = 1
    if existing is not None:
        surface = existing
    else:
        surface = _empty_surface(grid, full_meta)
        if rank == 0 and path is not None:
            store.create_surface_file(path, surface, directions=directions, overwrite=True)

    # The file keeps the directions as drawn; the hot loop may run on a folded, faster twin.
    todo = int((~surface.done).sum())
    if compile is None:
        compile = dev.type == "cuda" and todo >= 64
    evaluator, data = build_evaluator(
        model, base, directions, static, data, loss_fn=loss_fn, batch_size=batch_size,
        points_per_batch=k, precision=precision, bn_data=bn_data,
        fold_bn=fold_bn and bn_spec is None, compile=compile)
    if rank == 0:
        log.info("forward pass compiled: %s", compile)

    loss = surface.loss.reshape(-1).copy()
    acc = (surface.accuracy.reshape(-1).copy() if surface.accuracy is not None
           else np.full(loss.shape, np.nan))
    extras = {name: surface.extras.get(f"{split}_{name}", np.full(surface.shape, np.nan))
              .reshape(-1).copy() for name in ("loss_se", "acc_se")}
    done = surface.done.reshape(-1).copy()
    coords = grid.coordinates()
    has_acc = surface.accuracy is not None and bool(np.isfinite(surface.accuracy).any())
    bar = _progress_bar(done.size, int(done.sum()), progress and rank == 0)

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
                done[index] = True
                if rank == 0 and path is not None:
                    values = {"loss": part.loss, f"{split}_loss_se": part.loss_se}
                    if part.acc is not None:
                        values.update({"acc": part.acc, f"{split}_acc_se": part.acc_se})
                    store.write_points(path, split, index, values)
            bar.update(len(chunk))
        return loss[indices]

    shape = grid.shape
    result_extras: dict[str, np.ndarray] = {}
    if refine is None:
        run(np.arange(done.size))
    else:
        leaves = refine_grid(shape, run, tol=refine, scale=refine_scale)
        computed = done.reshape(shape)
        loss_full, filled = fill_from_leaves(loss.reshape(shape), computed, leaves,
                                             scale=refine_scale)
        acc_full, _ = fill_from_leaves(acc.reshape(shape), computed, leaves, scale="linear")
        loss, acc = loss_full.reshape(-1), acc_full.reshape(-1)
        result_extras["filled"] = filled
        if rank == 0 and path is not None:
            store.write_filled(path, split, filled, {"loss": loss_full, "acc": acc_full})
    bar.close()

    result_extras.update({f"{split}_{name}": v.reshape(shape) for name, v in extras.items()
                          if name == "loss_se" or has_acc})
    return Surface(x=surface.x, y=surface.y, loss=loss.reshape(shape),
                   accuracy=acc.reshape(shape) if has_acc else None, done=done.reshape(shape),
                   meta=surface.meta if existing is not None else full_meta, extras=result_extras)


def build_evaluator(model: nn.Module, base: Params, directions: list[Params], static: Params,
                    data: Data, *, loss_fn: LossFn | None = None, batch_size: int = 128,
                    points_per_batch: int = 1, precision: Precision = "fp32",
                    bn_data: Data | None = None, fold_bn: bool = True, compile: bool = False
                    ) -> tuple[Evaluator, Data]:
    """The evaluator `compute_surface` runs, and the data in the form it wants.

    `base`, `directions`, `static` and resident `data` are on the device already. With `fold_bn`
    (and no BN moved by a direction), BN is folded into the convolutions once, and on a CPU the
    4-D tensors and inputs go channels_last (measured faster there), as on CUDA in bf16/fp16
    (the layout cuDNN's tensor-core convolutions want); a low precision casts resident inputs
    once.
    """
    net, e_base, e_dirs, e_static = model, base, directions, static
    folded = fold_batchnorm(model, base, directions, static) if fold_bn else None
    log.info("BN folded into convolutions: %s", folded is not None)
    dev = next(iter(base.values())).device if base else torch.device("cpu")
    if folded is not None:
        net, e_base, e_dirs, e_static = folded
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
                          precision=precision, bn_data=bn_data, compile=compile)
    return evaluator, data


def plan_evaluation(model: nn.Module, base: Params, static: Params, data: Data,
                    samples: int | None, dev: torch.device, batch_size: int | None,
                    points_per_batch: int | None) -> tuple[int, int]:
    """Batch size and points per pass: 128 and 1 on a CPU; on CUDA from free memory and a
    probe of one forward pass (`plan_batches`)."""
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


def _empty_surface(grid: Grid, meta: dict[str, Any]) -> Surface:
    nan = np.full(grid.shape, np.nan)
    return Surface(x=grid.x.values, y=None if grid.y is None else grid.y.values, loss=nan.copy(),
                   accuracy=nan.copy(), done=np.zeros(grid.shape, dtype=bool), meta=meta)


def _check_resumable(existing: Surface, grid: Grid, split: str, path: Any) -> None:
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


def _provenance(model: nn.Module, grid: Grid, seed: int, norm: str, ignore: str, dir_type: str,
                split: str, samples: int | None, batch_size: int, k: int, dev: torch.device,
                info: dict[str, float], meta: dict[str, Any]) -> dict[str, Any]:
    arch = getattr(model, "arch", None)
    out: dict[str, Any] = {
        "model": (arch or {}).get("name", type(model).__name__) if isinstance(arch, dict)
        else type(model).__name__,
        "grid_x": str(grid.x), "grid_y": None if grid.y is None else str(grid.y),
        "seed": seed, "norm": norm, "ignore": ignore, "dir_type": dir_type, "split": split,
        "samples": samples, "batch_size": batch_size, "points_per_batch": k,
        "device": str(dev), "torch_version": torch.__version__,
        "python_version": platform.python_version(), "package_version": _package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if isinstance(arch, dict) and "skip" in arch.get("kwargs", {}):
        out["skip"] = bool(arch["kwargs"]["skip"])
    out.update(info)
    out.update(meta)
    return out


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


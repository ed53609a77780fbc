"""What a surface file records of how its values were made (provenance), and the checks that
let a run resume a file only when it would compute the same values."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.engine.evaluate import Data, EarlyStop, sample_tensors
from landscape.engine.grid import Grid
from landscape.engine.placement import SAMPLE_ORDER_SEED
from landscape.engine.plan import ForwardPlan
from landscape.engine.spec import RunOptions, SurfaceSpec, data_sha256
from landscape.engine.types import Surface

__all__ = ["provenance", "check_same_grid", "check_same_spec", "check_recorded", "recorded_spec",
           "early_stop_fields", "model_name", "model_kwargs", "data_hash", "package_version"]


GRID_RTOL = 1e-12  # resumed coordinates equal the file's to this relative tolerance


def _same_axis(stored: np.ndarray | None, values: np.ndarray | None) -> bool:
    if stored is None or values is None:
        return stored is None and values is None
    scale = max(float(np.abs(values).max(initial=0.0)), 1.0)
    return len(stored) == len(values) and bool(
        np.all(np.abs(np.asarray(stored) - values) <= GRID_RTOL * scale))


def _axis_text(values: np.ndarray | None) -> str:
    if values is None:
        return "none"
    return f"{values[0]:.15g}:{values[-1]:.15g}:{len(values)}"


def check_same_grid(existing: Surface, grid: Grid, split: str, path: Any) -> None:
    """Refuse to resume a file of another grid: coordinates must agree to `GRID_RTOL`."""
    wanted = [grid.x.values, None if grid.y is None else grid.y.values]
    stored = [np.asarray(existing.x), None if existing.y is None else np.asarray(existing.y)]
    if not all(map(_same_axis, stored, wanted)):
        raise ValueError(f"cannot resume {path}: it holds another grid (x {_axis_text(stored[0])}"
                         f", y {_axis_text(stored[1])} in the file; x {_axis_text(wanted[0])}, "
                         f"y {_axis_text(wanted[1])} now); pass the grid it was started with, "
                         f"or --overwrite to start anew")
    if existing.split != split:
        raise ValueError(f"cannot resume {path}: it holds the {existing.split} split, not {split}")


def check_same_spec(existing: Surface, spec: SurfaceSpec, request: Any,
                     path: Any) -> SurfaceSpec:
    """The spec of this run resumed into `existing`, or a ValueError naming every difference."""
    recorded = recorded_spec(existing, path)
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


def check_recorded(meta: dict[str, Any], wanted: dict[str, Any], path: Any, what: str) -> None:
    """Refuse to resume a file whose metadata records other values of `wanted` (a setting
    beside the spec that decided the values, e.g. an eigen map's Lanczos budget); a value
    the file does not record is not compared."""
    changed = [f"{k} {meta[k]!r} in the file, {v!r} now" for k, v in wanted.items()
               if meta.get(k, v) != v]
    if changed:
        raise ValueError(f"cannot resume {path}: its values were computed with another {what} "
                         f"({'; '.join(changed)}); rerun with the file's, or --overwrite to "
                         f"start anew")


def recorded_spec(existing: Surface, path: Any) -> SurfaceSpec:
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


def early_stop_fields(stop: EarlyStop | None, order: str | None) -> dict[str, Any]:
    if stop is None:
        return {}
    return {"target_se": stop.target, "se_block": stop.block,
            "se_min_samples": stop.min_samples, "sample_order": order}


def provenance(model: nn.Module, grid: Grid, spec: SurfaceSpec, plan: ForwardPlan,
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
        "package_version": package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if spec.target_se is not None:
        out.update({"se_block": spec.se_block, "se_min_samples": spec.se_min_samples,
                    "sample_order_seed": SAMPLE_ORDER_SEED})
    kwargs = model_kwargs(model)
    if "skip" in kwargs:
        out["skip"] = bool(kwargs["skip"])
    out.update(info)
    out.update(meta)
    out.update({"spec": spec.to_dict(), "fingerprint": spec.fingerprint})
    return out


def model_name(model: nn.Module) -> str:
    arch = getattr(model, "arch", None)
    if isinstance(arch, dict) and arch.get("name"):
        return str(arch["name"])
    return type(model).__name__


def model_kwargs(model: nn.Module) -> dict[str, Any]:
    arch = getattr(model, "arch", None)
    return dict(arch.get("kwargs") or {}) if isinstance(arch, dict) else {}


def data_hash(data: Data) -> str | None:
    tensors = sample_tensors(data)
    return None if tensors is None else data_sha256(*tensors)


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("loss-landscape-toolkit")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        return "unknown"

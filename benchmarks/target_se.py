"""Fewer images for the same picture: --refine, --target-se and both against the full surface.

    python benchmarks/target_se.py --model resnet20 --samples 5000 --grid 21 --json out.json

Trains the model on the embedded data set (seeded; or takes --checkpoint), then computes the
same surface four times with `landscape.compute_surface`, in one process, with the same
directions, images and engine plan:

  full       every point over all N images;
  refine     coarse to fine (--refine TOL, log-loss): the rest of the grid is interpolated;
  target_se  every point stops once its relative standard error is at most --target-se
             (each value given);
  both       the two together (each value).

For each: wall time, images evaluated (a point's count is N, or its own `*_loss_n`), and the
error against the full surface: the largest |Δ log-loss| over the grid and, for the points
that stopped early (fewer than all N images), |Δ loss| in units of the point's own standard
error (the target is every point within 2 of them). It also reports where the early stop
does not pay: the points that needed all N images, by the loss they have.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from record import add_record_options, cpu_name, load_average, run_config, write_json  # noqa: E402

from landscape import Axis, Grid, compute_surface  # noqa: E402
from landscape.engine.types import Surface  # noqa: E402
from models import create_model  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.data import embedded_dataset, evaluation_tensors  # noqa: E402
from models.train import train_model  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"config": run_config(args, torch=torch.__version__,
                                                threads_used=torch.get_num_threads(),
                                                cpu=cpu_name())}
    model, train_info = _model(args)
    out["training"] = train_info
    data = evaluation_tensors("embedded", "train", samples=args.samples, seed=args.seed)
    axis = Axis(-args.extent, args.extent, args.grid)
    grid = Grid(axis, axis)
    common = dict(seed=0, device="cpu", progress=False, batch_size=args.batch_size,
                  compile=False if args.no_compile else None)
    runs: dict[str, dict[str, float]] = {"full": {}, "refine": {"refine": args.refine}}
    for target in args.target_se:
        runs[f"target_se {target:g}"] = {"target_se": target}
        runs[f"both {target:g}"] = {"refine": args.refine, "target_se": target}
    surfaces: dict[str, Surface] = {}
    results: dict[str, Any] = {}
    for name, extra in runs.items():
        start = time.perf_counter()
        s = compute_surface(model, data, grid, **common, **extra)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        surfaces[name] = s
        results[name] = {"seconds": seconds, **_counts(s, args.samples),
                         "plan": s.meta.get("plan"), "batch_size": s.meta["batch_size"],
                         "fused": s.meta.get("fused"), "compiled": s.meta.get("compiled")}
        _say(f"{name:15s} {seconds:8.1f} s, {results[name]['images']:>10,} images, "
             f"{results[name]['points_computed']} points computed")
    full = surfaces["full"]
    for name, s in surfaces.items():
        r = results[name]
        r.update(_errors(s, full, args.samples))
        r["images_fewer"] = results["full"]["images"] / r["images"]
        r["time_fewer"] = results["full"]["seconds"] / r["seconds"]
        _say(f"{name:15s} {r['images_fewer']:5.2f}x fewer images, {r['time_fewer']:5.2f}x "
             f"faster, largest |d log-loss| {r['max_abs_dlog']:.4f}"
             + (f", largest |d loss|/se {r['max_z']:.2f} ({r['beyond_2se']} points beyond 2)"
                if "max_z" in r else ""))
    out["runs"] = results
    out["where_it_does_not_pay"] = {name: _where(s, args.samples)
                                    for name, s in surfaces.items() if name.startswith("target")}
    out["grids"] = {name: {"loss": s.loss.tolist(),
                           "n": s.extras["train_loss_n"].tolist()
                           if "train_loss_n" in s.extras else None}
                    for name, s in surfaces.items()}
    out["config"]["load_end"] = load_average()
    _say(f"where it does not pay: {json.dumps(out['where_it_does_not_pay'])}")
    write_json(args.json, out, indent=1)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20", help="a models.create_model name")
    ap.add_argument("--checkpoint", help="evaluate this checkpoint instead of training one")
    ap.add_argument("--epochs", type=int, default=6, help="training epochs (no --checkpoint)")
    ap.add_argument("--train-samples", type=int, default=5000,
                    help="embedded training images (no --checkpoint)")
    ap.add_argument("--samples", type=int, default=5000, help="N evaluation images per point")
    ap.add_argument("--grid", type=int, default=21, help="points per axis")
    ap.add_argument("--extent", type=float, default=1.0, help="the grid spans [-E, E]^2")
    ap.add_argument("--target-se", type=float, nargs="+", default=[0.02, 0.05],
                    help="one run of --target-se alone and one with --refine per value")
    ap.add_argument("--refine", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the engine's probe")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    add_record_options(ap)
    return ap.parse_args(argv)


def _say(text: str) -> None:
    print(text, flush=True)


def _model(args: argparse.Namespace) -> tuple[torch.nn.Module, dict[str, Any]]:
    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint, args.model)
        return model.eval(), {"checkpoint": args.checkpoint, "sha256": meta.get("sha256")}
    model = create_model(args.model, seed=args.seed)
    train = embedded_dataset("train", args.train_samples, seed=args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        history = train_model(model, train, epochs=args.epochs, seed=args.seed, device="cpu",
                              progress=False, checkpoint_dir=tmp, save_every=args.epochs)
    info = {"epochs": args.epochs, "train_samples": args.train_samples,
            "seconds": time.perf_counter() - start,
            "train_loss": history["train_loss"][-1], "train_acc": history["train_acc"][-1]}
    _say(f"trained {args.model}: {info}")
    return model.eval(), info


def _counts(s: Surface, samples: int) -> dict[str, Any]:
    computed = s.done
    n = s.extras.get("train_loss_n")
    images = int(n[computed].sum()) if n is not None else int(computed.sum()) * samples
    return {"images": images, "points_computed": int(computed.sum()),
            "points_filled": int(s.filled.sum())}


def _errors(s: Surface, full: Surface, samples: int) -> dict[str, Any]:
    """The error against the full surface; |Δ loss| / se over the points that stopped early
    (fewer than all N samples), the only ones whose mean can differ from the full one's."""
    dlog = np.abs(np.log(s.loss) - np.log(full.loss))
    res: dict[str, Any] = {"max_abs_dlog": float(dlog.max()),
                           "median_abs_dlog": float(np.median(dlog))}
    if s.filled.any():
        res["max_abs_dlog_filled"] = float(dlog[s.filled].max())
    n = s.extras.get("train_loss_n")
    if n is not None:
        computed = s.done
        early = computed & (n < samples)
        res.update({"points_stopped_early": int(early.sum()),
                    "max_abs_dlog_computed": float(dlog[computed].max())})
        if early.any():
            z = np.abs(s.loss[early] - full.loss[early]) / s.extras["train_loss_se"][early]
            res.update({"max_z": float(z.max()), "beyond_2se": int((z > 2).sum())})
    return res


def _where(s: Surface, samples: int) -> dict[str, Any]:
    """Points that needed all N, by their loss relative to the lowest loss of the grid."""
    n = s.extras["train_loss_n"]
    ratio = s.loss / np.nanmin(s.loss)
    bands = [(1, 2), (2, 5), (5, 20), (20, np.inf)]
    out = {}
    for lo, hi in bands:
        inside = (ratio >= lo) & (ratio < hi)
        if inside.any():
            out[f"loss {lo}-{hi}x min"] = {
                "points": int(inside.sum()), "mean_n": float(n[inside].mean()),
                "share_at_full_n": float((n[inside] >= samples).mean())}
    return out


if __name__ == "__main__":
    main()

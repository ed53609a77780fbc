"""Which depth the demo's deep pair needs: the smallest at which the plain net trains worse
than plain-20 on the embedded data, in the demo's own training budget.

    python benchmarks/demo_depth.py --depths 20,32,44,56 --json out.json

Trains `resnet<D>-noskip` for every depth D with the training settings `landscape demo` uses
by default (width, epochs of the no-skip twins, batch size, learning rate, training samples,
seed; `cli.demo_cmd.train_net`, the demo's own function), two nets at a time in processes of
one thread each, and records each net's training and held-out error per epoch and its final
training error (eval mode, on its training set). A depth *degrades* when its final training
error exceeds plain-20's by at least `--margin` percentage points (He et al. 2015, Fig. 1: the
deeper plain net has the higher training error). `--skip` trains the ResNets too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

from record import add_record_options, load_average, run_config, write_json  # noqa: E402


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The demo's defaults (read from its command), as `train_net` takes them."""
    from cli.demo_cmd import demo

    d = {p.name: p.default for p in demo.params}
    return {"width": d["width"], "epochs": 2 * d["epochs"], "lr": d["lr"],
            "batch_size": d["batch_size"], "train_samples": d["train_samples"],
            "seed": args.seed, "device": "cpu", "threads": 1, "resume": False}


def _train(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from cli.demo_cmd import train_net

    torch.set_num_threads(1)
    tick = time.perf_counter()
    cpu = time.process_time()
    _, _, info = train_net(job, say=lambda _: None)
    h = info["history"]
    return {"name": job["name"], "epochs": info["epochs"],
            "final_train_error": 100.0 - info["accuracy"], "final_train_loss": info["loss"],
            "train_error": [100.0 - a for a in h["train_acc"]],
            "test_error": [None if a is None else 100.0 - a for a in h["test_acc"]],
            "seconds": time.perf_counter() - tick, "cpu_seconds": time.process_time() - cpu}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    settings = _settings(args)
    out: dict[str, Any] = {"config": run_config(args, settings=settings)}
    depths = sorted({20, *args.depths})
    names = [f"resnet{d}-noskip" for d in depths]
    if args.skip:
        names += [f"resnet{d}" for d in depths]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [{"name": n, "out": tmp, **settings,
                 "epochs": settings["epochs"] // (1 if n.endswith("-noskip") else 2)}
                for n in names]
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.processes) as pool:
            runs = {r["name"]: r for r in pool.map(_train, jobs, chunksize=1)}
    out["runs"] = runs
    base = runs["resnet20-noskip"]["final_train_error"]
    degrades = {d: runs[f"resnet{d}-noskip"]["final_train_error"] >= base + args.margin
                for d in depths if d != 20}
    out["degrades"] = {str(d): v for d, v in degrades.items()}
    out["smallest_degrading_depth"] = next((d for d in sorted(degrades) if degrades[d]), None)
    out["load_end"] = load_average()
    for name, r in runs.items():
        print(f"{name:18s} {r['epochs']} epochs: final training error "
              f"{r['final_train_error']:5.1f}%  ({r['cpu_seconds']:.0f} s CPU)")
    print(f"smallest depth whose plain net trains worse than plain-20 by >= {args.margin} "
          f"points: {out['smallest_degrading_depth']}")
    write_json(args.json, out)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=lambda v: [int(x) for x in v.split(",")],
                   default=[20, 32, 44, 56])
    p.add_argument("--seed", type=int, default=0, help="the demo's --seed")
    p.add_argument("--margin", type=float, default=5.0,
                   help="percentage points of training error above plain-20's")
    p.add_argument("--skip", action="store_true", help="train the ResNets too")
    p.add_argument("--processes", type=int, default=2)
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

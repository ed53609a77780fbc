"""Speed-up of `compute_surface` sharded over N torch.distributed ranks on one machine.

    python benchmarks/ranks_speed.py --model resnet56 --samples 512 --grid 5x5 --ranks 2

Runs the same surface twice, each in fresh processes: one process with all the machine's cores
as threads, then `torchrun --nproc-per-node N` with cores/N threads per rank (gloo on a CPU, nccl
with `--device cuda`, one GPU per rank). Times `compute_surface` alone (between barriers, so
imports and process start-up are left out and reported apart), checks that the two files hold
the same losses, and prints the speed-up. `--json` writes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
sys.path.insert(0, str(_HERE))

from record import load_average, run_config, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    if args.child:
        return _child(args)
    cores = os.cpu_count() or 1
    common = ["--model", args.model, "--samples", str(args.samples), "--grid", args.grid,
              "--device", args.device, "--batch-size", str(args.batch_size), "--child"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    out: dict[str, Any] = {"config": run_config(args, stamp=False, cores=cores)}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "1 rank": ([sys.executable, __file__], max(1, cores)),
            f"{args.ranks} ranks": ([sys.executable, "-m", "torch.distributed.run",
                                     "--standalone", f"--nproc-per-node={args.ranks}", __file__],
                                    max(1, cores // args.ranks)),
        }
        for name, (launch, threads) in runs.items():
            path = Path(tmp) / f"{name.replace(' ', '_')}.h5"
            start = time.perf_counter()
            proc = subprocess.run([*launch, *common, "--threads", str(threads), "--out",
                                   str(path)], env={**env, "OMP_NUM_THREADS": str(threads)},
                                  capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            out[name] = {**result, "threads_per_rank": threads, "wall_s": wall}
            print(f"{name:8s} ({threads} threads each): surface {result['seconds']:.1f} s, "
                  f"{result['points'] / result['seconds']:.3f} points/s; whole command "
                  f"{wall:.1f} s", flush=True)
        from landscape.engine.store import load_surface

        one, many = (load_surface(Path(tmp) / f"{n.replace(' ', '_')}.h5") for n in runs)
        out["max_abs_loss_difference"] = float(abs(one.loss - many.loss).max())
    single, sharded = (out[n] for n in runs)
    out["speedup"] = single["seconds"] / sharded["seconds"]
    out["speedup_whole_command"] = single["wall_s"] / sharded["wall_s"]
    out["config"]["load_end"] = load_average()
    print(f"speed-up {out['speedup']:.2f}x (whole command {out['speedup_whole_command']:.2f}x); "
          f"largest loss difference between the files {out['max_abs_loss_difference']:.2g}")
    write_json(args.json, out)
    return out


def _child(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch
    import torch.distributed as dist

    from landscape import Axis, Grid, compute_surface
    from models import create_model

    torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = torch.device(args.device)
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    nx, ny = (int(v) for v in args.grid.lower().split("x"))
    model = create_model(args.model, seed=0)
    gen = np.random.default_rng(0)
    x = torch.as_tensor(gen.standard_normal((args.samples, 3, 32, 32), dtype=np.float32))
    y = torch.as_tensor(gen.integers(0, 10, args.samples))
    grid = Grid(Axis(-1.0, 1.0, nx), Axis(-1.0, 1.0, ny))
    if world > 1:
        dist.barrier()
    start = time.perf_counter()
    compute_surface(model, (x, y), grid, device=dev, path=args.out, overwrite=True,
                    batch_size=args.batch_size, progress=False)
    if world > 1:
        dist.barrier()
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "points": grid.size, "world": world}
    if world == 1 or dist.get_rank() == 0:
        print(json.dumps(result), flush=True)
    if world > 1:
        dist.destroy_process_group()
    return result


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet56", help="a models.create_model name")
    ap.add_argument("--samples", type=int, default=512, help="N evaluation images per point")
    ap.add_argument("--grid", default="5x5", help="NXxNY points over [-1, 1]^2")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


if __name__ == "__main__":
    main()

"""One spectral density (SLQ, runs × steps Hessian-vector products) against as many plain products.

    python benchmarks/spectrum_speed.py --model resnet20 --samples 512 --runs 10 --steps 50 \\
        --json out.json

In one process, on one model (a checkpoint, or a seeded untrained one with --width) and the same
N seeded embedded images:

  spectrum  `landscape.analysis.spectrum.spectral_density(runs, steps)`, what
            `landscape hessian --spectrum` runs: the runs advance in lockstep, and each step
            builds the gradient graph once per batch and takes every run's product as a second
            backward pass through it; plus full re-orthogonalisation;
  plain     `landscape.analysis.hessian.hvp` on one random vector after another, each a forward,
            a backward and a double backward of its own: the way a loop of single products
            (PyHessian's `hessian.eigenvalues`/`density` per vector) computes them.

`--plain-products K` times only K plain products and projects runs × steps from their mean
(recorded as projected); by default all runs × steps are timed. Both use the same batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from record import json_name  # noqa: E402

from landscape.analysis.hessian import hvp  # noqa: E402
from landscape.analysis.spectrum import spectral_density  # noqa: E402
from models import create_model  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.data import evaluation_tensors  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint, args.model)
    else:
        model = create_model(args.model, width=args.width, seed=0)
    model.eval()
    data = evaluation_tensors("embedded", "train", samples=args.samples, seed=0)
    products = args.runs * args.steps
    # a path of this machine means nothing elsewhere: the checkpoint by its last two parts
    shown = "/".join(Path(args.checkpoint).parts[-2:]) if args.checkpoint else None
    out: dict[str, Any] = {"config": {**vars(args), **json_name(args), "checkpoint": shown,
                                      "cpu": _cpu(),
                                      "threads": torch.get_num_threads(),
                                      "torch": torch.__version__,
                                      "parameters": sum(p.numel() for p in model.parameters()),
                                      "load_start": os.getloadavg()[0]}}
    g = torch.Generator().manual_seed(1)
    params = dict(model.named_parameters())
    hvp(model, None, data, {k: torch.randn(p.shape, generator=g) for k, p in params.items()},
        batch_size=args.batch_size)  # warm-up: first-call allocations count for neither
    tick = time.perf_counter()
    spec = spectral_density(model, data, runs=args.runs, steps=args.steps, seed=0,
                            batch_size=args.batch_size)
    slq = time.perf_counter() - tick
    out["spectrum"] = {"seconds": slq, "products": spec.matvecs,
                       "seconds_per_product": slq / spec.matvecs,
                       "trace": spec.moment(1)[0], "ritz_max": spec.extremes()[1]}
    count = args.plain_products or products
    times = []
    for _ in range(count):
        v = {k: torch.randn(p.shape, generator=g) for k, p in params.items()}
        tick = time.perf_counter()
        hvp(model, None, data, v, batch_size=args.batch_size)
        times.append(time.perf_counter() - tick)
    per = float(np.mean(times))
    out["plain"] = {"products_timed": count, "seconds_timed": float(np.sum(times)),
                    "seconds_per_product": per, "seconds": per * products,
                    "projected": count < products}
    out["speedup"] = out["plain"]["seconds"] / slq
    out["config"]["load_end"] = os.getloadavg()[0]
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--width", type=float, default=1.0, help="without --checkpoint")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--plain-products", type=int, default=None,
                   help="time only this many plain products and project the rest")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--note", default=None)
    return p.parse_args(argv)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()

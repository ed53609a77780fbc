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

The two are interleaved, so that a machine whose load changes during the run slows both
alike: after each Lanczos step of the spectrum, `--plain-per-step` plain products (default:
one per run, so all runs × steps) are timed, and their time is taken out of the spectrum's.
With fewer per step the plain total is projected from their mean (recorded as projected).
The spectrum is `spectral_density`'s own code (`hessian_rows` + `lanczos_quadrature`), called
here directly to interleave. Both use the same batch size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from record import add_record_options, cpu_name, load_average, run_config, write_json  # noqa: E402

from landscape.analysis.hessian import hessian_rows, hvp  # noqa: E402
from landscape.analysis.spectrum import Spectrum, lanczos_quadrature, rademacher  # noqa: E402
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
    out: dict[str, Any] = {"config": run_config(
        args, stamp=False, checkpoint=shown, cpu=cpu_name(), threads=torch.get_num_threads(),
        torch=torch.__version__, parameters=sum(p.numel() for p in model.parameters()))}
    g = torch.Generator().manual_seed(1)
    params = dict(model.named_parameters())
    point = {k: p.detach() for k, p in params.items()}

    def random_vector() -> dict[str, torch.Tensor]:
        return {k: torch.randn(p.shape, generator=g) for k, p in params.items()}

    hvp(model, None, data, random_vector(), batch_size=args.batch_size)  # warm-up
    per_step = args.runs if args.plain_per_step is None else args.plain_per_step
    plain: list[float] = []

    class Interleave:
        """Called after every Lanczos step: time `per_step` plain products there."""

        def update(self, _: int) -> None:
            for _ in range(per_step):
                tick = time.perf_counter()
                hvp(model, None, data, random_vector(), batch_size=args.batch_size)
                plain.append(time.perf_counter() - tick)

    products_fn, keys = hessian_rows(model, point, data, None, args.batch_size)
    like = torch.cat([point[k].reshape(-1) for k in keys])
    seeded = torch.Generator().manual_seed(0)  # as spectral_density(seed=0) draws its starts
    starts = [rademacher(like.numel(), like, seeded) for _ in range(args.runs)]
    tick = time.perf_counter()
    nodes, weights, spent = lanczos_quadrature(
        lambda active, vectors: products_fn(vectors, [None] * len(vectors)), starts,
        args.steps, progress=Interleave())
    slq = time.perf_counter() - tick - float(np.sum(plain))
    spec = Spectrum(nodes=nodes, weights=weights, dimension=like.numel(), steps=args.steps,
                    matvecs=spent, seed=0)
    out["spectrum"] = {"seconds": slq, "products": spent, "seconds_per_product": slq / spent,
                       "trace": spec.moment(1)[0], "ritz_max": spec.extremes()[1]}
    per = float(np.mean(plain))
    out["plain"] = {"products_timed": len(plain), "seconds_timed": float(np.sum(plain)),
                    "seconds_per_product": per, "seconds": per * products,
                    "projected": len(plain) < products}
    out["speedup"] = out["plain"]["seconds"] / slq
    out["config"]["load_end"] = load_average()
    print(write_json(args.json, out))
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
    p.add_argument("--plain-per-step", type=int, default=None,
                   help="plain products timed after each Lanczos step [default: --runs, all]; "
                        "fewer: the rest is projected from their mean")
    p.add_argument("--threads", type=int, default=None)
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

"""The jackknife errors of a surface's metrics against an image bootstrap, on a trained net.

    python benchmarks/jackknife_check.py --demo demo-out --nets resnet20 --resamples 400 \
        --json out.json

For each net of a `landscape demo` run (its `final.pt` and the first direction pair of its
surface file), this script recomputes, with its own code, the per-sample loss and correctness of
every evaluation image at every grid point (`torch.func.functional_call` at θ* + αδ + βη, the
file's directions, the demo's images), and checks that their means equal the file's losses.
Then, for every metric `landscape compare` judges:

  jackknife  the error the toolkit reports: the delete-a-block jackknife over the file's B
             sample blocks (`landscape.analysis.errors.measure`, samples only);
  bootstrap  the standard deviation of the metric over R image-bootstrap surfaces: N images
             drawn with replacement, one draw shared by every grid point (as the images are
             shared), each point's loss and accuracy the mean over the drawn images.

The ratio jackknife / bootstrap should lie near 1 (the target: 0.8 to 1.25). The per-point
standard errors that the non-convex share thresholds on are the file's in both, as in the
jackknife's replicates: the check is of the spread of the metric as computed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from record import add_record_options, load_average, run_config, write_json  # noqa: E402
from torch.func import functional_call  # noqa: E402

from landscape.analysis.errors import measure, metric_values  # noqa: E402
from landscape.engine.directions import match_directions  # noqa: E402
from landscape.engine.store import load_directions, load_surface  # noqa: E402
from landscape.engine.types import Surface  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.data import evaluation_tensors  # noqa: E402


def per_sample(model: torch.nn.Module, surface: Surface, directions: list[dict[str, Any]],
               x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(loss, correct) of every image at every grid point, shape (nx, ny, N), float64."""
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    dx, dy = (match_directions(d, params) for d in directions[:2])
    loss = np.empty((*surface.shape, len(y)))
    correct = np.empty_like(loss)
    with torch.inference_mode():
        for i, a in enumerate(surface.x):
            for j, b in enumerate(surface.y):
                theta = {k: p + float(a) * dx[k].to(p) + float(b) * dy[k].to(p)
                         for k, p in params.items()}
                out = torch.cat([functional_call(model, {**buffers, **theta}, (x[s:s + 256],))
                                 for s in range(0, len(x), 256)])
                loss[i, j] = torch.nn.functional.cross_entropy(
                    out.double(), y, reduction="none").numpy()
                correct[i, j] = (out.argmax(1) == y).double().numpy()
    return loss, correct


def bootstrap(surface: Surface, loss: np.ndarray, correct: np.ndarray, names: list[str],
              values: Any, resamples: int, seed: int) -> np.ndarray:
    """(R, metrics): each metric on R surfaces of images drawn with replacement."""
    rng = np.random.default_rng(seed)
    n = loss.shape[-1]
    out = np.empty((resamples, len(names)))
    for r in range(resamples):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64) / n
        s = Surface(x=surface.x, y=surface.y, loss=loss @ w, accuracy=100.0 * (correct @ w),
                    done=surface.done, meta=surface.meta, extras=surface.extras)
        m = values(s)
        out[r] = [m[k] for k in names]
    return out


def check(demo: Path, net: str, resamples: int, seed: int) -> dict[str, Any]:
    path = demo / f"{net}.h5"
    surface = load_surface(path)
    model, _ = load_checkpoint(demo / net / "final.pt")
    meta = surface.meta
    x, y = evaluation_tensors("embedded", "train", samples=int(meta["samples"]),
                              seed=int(meta.get("data_seed", 0)))
    tick = time.perf_counter()
    loss, correct = per_sample(model, surface, load_directions(path), x, y)
    agree = float(np.max(np.abs(loss.mean(-1) - surface.loss) / surface.loss))
    step = float(np.min(np.diff(surface.x)))
    radii = tuple(round(k * step, 12) for k in (1, 2, 4))  # the demo's: 1, 2, 4 grid steps

    def values(s: Surface) -> dict[str, float]:
        return metric_values(s, radii=radii, factor=2.0, window=2)

    est = measure([surface], radii=radii, factor=2.0, window=2)
    names = list(est)
    boot = bootstrap(surface, loss, correct, names, values, resamples, seed)
    rows = {}
    for k, name in enumerate(names):
        column = boot[:, k]
        finite = np.isfinite(column)
        sd = float(column[finite].std(ddof=1)) if finite.sum() > 2 else math.nan
        jk = est[name].se
        rows[name] = {"value": est[name].value, "jackknife": jk, "bootstrap": sd,
                      "ratio": jk / sd if sd > 0 and math.isfinite(jk) else math.nan,
                      "bootstrap_finite": int(finite.sum()),
                      "bootstrap_distinct": int(len(np.unique(column[finite])))}
    return {"net": net, "file": path.name, "samples": int(len(y)),
            "blocks": surface.blocks.count if surface.blocks is not None else None,
            "grid": list(surface.shape), "radii": list(radii), "resamples": resamples,
            "max_relative_difference_to_file": agree,
            "seconds": time.perf_counter() - tick, "metrics": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"config": run_config(args, demo=Path(args.demo).name,
                                                torch=torch.__version__)}
    out["nets"] = [check(Path(args.demo), net, args.resamples, args.seed) for net in args.nets]
    out["load_end"] = load_average()
    for result in out["nets"]:
        print(f"{result['net']}: {result['grid']} grid, {result['samples']} images, "
              f"{result['blocks']} blocks, {result['resamples']} bootstrap resamples "
              f"(file agrees to {result['max_relative_difference_to_file']:.1e})")
        for name, row in result["metrics"].items():
            print(f"  {name:34s} jackknife {row['jackknife']:.4g}  bootstrap "
                  f"{row['bootstrap']:.4g}  ratio {row['ratio']:.2f}")
    write_json(args.json, out)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", required=True, help="the output folder of `landscape demo`")
    p.add_argument("--nets", nargs="+", default=["resnet20"])
    p.add_argument("--resamples", type=int, default=400)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    p.add_argument("--threads", type=int, default=1)
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

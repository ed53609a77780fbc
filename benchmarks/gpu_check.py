"""The engine on one GPU, in one JSON: equality with the CPU, speed per precision, the projection.

    python benchmarks/gpu_check.py --device cuda --json gpu-check.json    # (gpu_check.sh)
    python benchmarks/gpu_check.py --device cpu --quick                   # the same code, tiny

On `--device` (one H100/H200 in about 5 minutes) it measures, for a seeded CIFAR ResNet-56 with
trained-like BN statistics on N = 10,000 seeded images:

  equality   a small grid (ResNet-20, 3x3, 256 images) by `compute_surface` on the CPU and on
             the device, fp32 (TF32 off): the largest relative loss difference (target 1e-5);
             and the TF32 and bf16 errors against the CPU fp32 values;
  engine     images/s of the engine (`build_evaluator` as `compute_surface` builds it) per
             precision (fp32, TF32, bf16), eager and compiled, at the planned batch size and K
             (`plan_evaluation`) and at K = 1 with a CPU-sized batch (256), with the peak
             device memory of each;
  limit      images/s of a fixed-weight forward (BN folded, channels_last), eager and compiled,
             per precision at the planned batch size: the engine's fraction of it;
  projection the wall time of a 51x51 grid on 50,000 images at the best rate of each precision
             (targets: 5 minutes bf16, 20 minutes fp32).

The configurations run in that order of priority within `--budget` seconds; what the budget
leaves out is listed as skipped. The JSON goes to stdout (and to --json); progress to stderr.
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from record import run_config, write_json  # noqa: E402

from landscape import Axis, Grid, compute_surface, create_directions, get_params  # noqa: E402
from landscape.engine.fold import fold_batchnorm  # noqa: E402
from landscape.engine.plan import build_evaluator, plan_evaluation  # noqa: E402
from models import create_model  # noqa: E402

_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}
FULL_POINTS, FULL_IMAGES = 51 * 51, 50_000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    dev = torch.device(args.device)
    quick = args.quick
    started = time.perf_counter()
    out: dict[str, Any] = {"config": _config(args, dev), "skipped": []}

    def left() -> float:
        return args.budget - (time.perf_counter() - started)

    out["equality"] = _equality(dev, samples=32 if quick else 256)
    _log(f"equality: {out['equality']}")

    model_name, samples = ("resnet20", 128) if quick else ("resnet56", args.samples)
    model, x, y = _setup(model_name, samples, dev, args.seed)
    base = {k: t.detach().clone() for k, t in get_params(model).items()}
    static = {k: t.detach() for k, t in model.state_dict().items() if k not in base}
    dirs, _ = create_directions(base, ndim=2, seed=args.seed)
    bs, k = plan_evaluation(model, base, static, (x, y), samples, dev, None, None)
    small = min(256, samples)
    out["plan"] = {"batch_size": bs, "points_per_batch": k}
    points = 2 if quick else args.points

    # (what, precision, compiled, batch, K), most wanted first: a short budget drops the end
    compiles = (False,) if quick else (False, True)
    tasks = [("engine", p, False, bs, k) for p in ("bf16", "fp32", "tf32")]
    tasks += [("limit", p, False, bs, 1) for p in ("bf16", "fp32", "tf32")]
    if True in compiles:
        tasks += [(w, p, True, bs, k if w == "engine" else 1) for p in ("bf16", "fp32")
                  for w in ("engine", "limit")]
    tasks += [("engine", p, False, small, 1) for p in ("bf16", "fp32") if (small, 1) != (bs, k)]
    if samples >= 4 * small:  # what K = 4 points per pass gives at a CPU-sized batch
        tasks += [("engine", p, False, small, 4) for p in ("bf16", "fp32")]
    if True in compiles:
        tasks += [(w, "tf32", True, bs, k if w == "engine" else 1) for w in ("engine", "limit")]
    engine: dict[str, Any] = {}
    limit: dict[str, Any] = {}
    coords = Grid(Axis(-1, 1, 5), Axis(-1, 1, 5)).coordinates()
    for what, precision, compiled, b, kk in tasks:
        name = f"{precision}, {'compiled' if compiled else 'eager'}, batch {b}" \
            + (f", K {kk}" if what == "engine" else "")
        if left() < (120 if compiled else 15):
            out["skipped"].append(f"{what} {name}")
            continue
        if what == "engine":
            engine[name] = _engine(model, base, dirs, static, (x, y), coords, dev, precision,
                                   compiled, b, kk, points)
        else:
            limit[name] = _limit(model, base, dirs, static, x, dev, precision, compiled, b)
        _log(f"{what} {name}: {(engine if what == 'engine' else limit)[name]}")
    out["engine"] = engine
    out["limit"] = limit
    out["summary"] = _summary(engine, limit)
    out["seconds"] = time.perf_counter() - started
    print(write_json(args.json, out, indent=1), flush=True)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--samples", type=int, default=10_000, help="N images per point")
    ap.add_argument("--points", type=int, default=3, help="timed grid points per configuration")
    ap.add_argument("--budget", type=float, default=420.0,
                    help="seconds for all of it; configurations past it are skipped")
    ap.add_argument("--quick", action="store_true",
                    help="ResNet-20 on 128 images, 2 points, nothing compiled: seconds on a "
                         "CPU, for testing the script")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the JSON here")
    return ap.parse_args(argv)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _config(args: argparse.Namespace, dev: torch.device) -> dict[str, Any]:
    info = run_config(args, torch=torch.__version__)
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update({"device_name": props.name, "memory_gb": props.total_memory / 2**30,
                     "capability": f"{props.major}.{props.minor}",
                     "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()})
    else:
        info["device_name"] = "cpu"
    return info


def _setup(name: str, samples: int, dev: torch.device, seed: int
           ) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    from grid_speed import _trained_like_bn_

    model = create_model(name, seed=seed)
    _trained_like_bn_(model, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (samples,), generator=g)
    return model.eval().to(dev), x.to(dev), y.to(dev)


def _equality(dev: torch.device, samples: int) -> dict[str, Any]:
    """The same 3x3 surface on the CPU (fp32) and on `dev` (fp32, TF32, bf16)."""
    model, x, y = _setup("resnet20", samples, torch.device("cpu"), 0)
    grid = Grid(Axis(-1, 1, 3), Axis(-1, 1, 3))
    kwargs = dict(seed=0, progress=False, batch_size=min(64, samples), compile=False)
    cpu = compute_surface(model, (x, y), grid, device="cpu", **kwargs)  # type: ignore[arg-type]
    res: dict[str, Any] = {}
    for precision in ("fp32", "tf32", "bf16"):
        on = compute_surface(copy.deepcopy(model), (x, y), grid, device=dev,
                             precision=precision, **kwargs)  # type: ignore[arg-type]
        rel = np.abs(on.loss - cpu.loss) / np.abs(cpu.loss)
        res[f"{precision}_vs_cpu_fp32_max_rel"] = float(rel.max())
    res["fp32_within_1e-5"] = res["fp32_vs_cpu_fp32_max_rel"] <= 1e-5
    return res


def _engine(model: torch.nn.Module, base: dict, dirs: list, static: dict, data: tuple,
            coords: np.ndarray, dev: torch.device, precision: str, compiled: bool, bs: int,
            k: int, points: int) -> dict[str, Any]:
    _reset_peak(dev)
    start = time.perf_counter()
    evaluator, d = build_evaluator(model, base, dirs, static, data, batch_size=bs,
                                   points_per_batch=k, precision=precision,  # type: ignore[arg-type]
                                   compile=compiled)
    warm = _timed(dev, lambda: evaluator(coords[:k], d))
    setup = time.perf_counter() - start
    # whole blocks of K points, `points` blocks
    times = [_timed(dev, lambda s=s: evaluator(coords[s:s + k], d)) / k
             for s in range(k, k + k * points, k)]
    n = len(data[0])
    return {"images_per_s": n / min(times), "seconds_per_point": min(times),
            "setup_s": setup, "first_block_s": warm, "peak_memory_gb": _peak(dev),
            "projected_51x51_50k_min": FULL_POINTS * FULL_IMAGES / (n / min(times)) / 60}


def _limit(model: torch.nn.Module, base: dict, dirs: list, static: dict, x: torch.Tensor,
           dev: torch.device, precision: str, compiled: bool, bs: int) -> dict[str, Any]:
    """A fixed-weight forward over the same images: folded BN, channels_last, `bs` a pass."""
    from landscape.engine.evaluate import _tf32

    folded = fold_batchnorm(model, base, dirs, static)
    net = (folded[0] if folded is not None else copy.deepcopy(model)).eval()
    dtype = _DTYPES[precision]
    net = net.to(dtype=dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]
    xs = x.to(dtype).contiguous(memory_format=torch.channels_last)
    fn: Callable[[torch.Tensor], Any] = torch.compile(net, dynamic=False) if compiled else net
    full = (len(xs) // bs) * bs

    def run() -> None:
        for s in range(0, full, bs):
            fn(xs[s:s + bs])

    _reset_peak(dev)
    with torch.inference_mode(), _tf32(dev, precision == "tf32"):
        start = time.perf_counter()
        fn(xs[:bs])  # warm-up (and compile)
        setup = time.perf_counter() - start
        best = min(_timed(dev, run) for _ in range(3))
    return {"images_per_s": full / best, "setup_s": setup, "peak_memory_gb": _peak(dev)}


def _summary(engine: dict[str, Any], limit: dict[str, Any]) -> dict[str, Any]:
    """Per precision: the best engine configuration, its fraction of the best limit, and the
    projected 51x51 / 50,000-image wall time against its target."""
    out: dict[str, Any] = {}
    targets = {"bf16": 5.0, "fp32": 20.0, "tf32": 20.0}
    for precision, target in targets.items():
        mine = {k: v for k, v in engine.items() if k.startswith(precision + ",")}
        lims = {k: v for k, v in limit.items() if k.startswith(precision + ",")}
        if not mine:
            continue
        best = max(mine, key=lambda c: mine[c]["images_per_s"])
        row: dict[str, Any] = {"best": best, "images_per_s": mine[best]["images_per_s"],
                               "projected_51x51_50k_min": mine[best]["projected_51x51_50k_min"],
                               "target_min": target}
        row["meets_target"] = row["projected_51x51_50k_min"] <= target
        if lims:
            top = max(lims, key=lambda c: lims[c]["images_per_s"])
            row.update({"limit": top, "limit_images_per_s": lims[top]["images_per_s"],
                        "fraction_of_limit": mine[best]["images_per_s"]
                        / lims[top]["images_per_s"]})
        out[precision] = row
    return out


def _timed(dev: torch.device, fn: Callable[[], Any]) -> float:
    _sync(dev)
    start = time.perf_counter()
    fn()
    _sync(dev)
    return time.perf_counter() - start


def _reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def _peak(dev: torch.device) -> float:
    """Peak device memory (CUDA) or peak resident memory of the process (CPU), GB."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    main()

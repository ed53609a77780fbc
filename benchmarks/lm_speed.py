"""Grid throughput of a language model: ours against the fixed-weight forward limit.

    python benchmarks/grid_speed.py --model gpt-mini --samples 256 --grid 5x5 --json out.json

What `grid_speed.py` runs for a token model (the reference method and loss-landscapes read
images only): the same N sequences of the embedded token corpus (--block-size tokens each), the
same grid and directions for both methods.

  (a)  ours: `landscape.compute_surface` with its defaults, one-off costs included; then the
       engine (`build_evaluator`) built once and configured by the speed probe as for a long
       grid, timed point by point (the median), in fp32 and in the low precision;
  (d)  the limit: the model's forward pass over the N sequences with fixed weights, eager at
       batch 32 to 256 and (unless --no-compile) compiled at the best eager batch, in fp32 and
       the low precision; the best is "the limit". Its loss is not computed: the limit is an
       upper bound.

Paired rounds (one point of ours, one limit pass, in turn) give the ratio on a busy machine.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape import Axis, Grid, compute_surface, create_directions, get_params
from landscape.engine.directions import parameter_units
from landscape.engine.evaluate import low_precision_supported
from landscape.engine.params import state_tensors
from landscape.engine.plan import build_evaluator, plan_evaluation, probe_forward
from models import create_model
from models.tokens import token_corpus

_LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}


def is_language_model(name: str) -> bool:
    """Whether `name` is a zoo model that reads tokens (gpt-mini and its twin)."""
    return name.startswith("gpt-")


def run(args: argparse.Namespace, say: Callable[[str], None],
        timed: Callable[[torch.device, Callable[[], Any]], tuple[float, Any]],
        paired: Callable[..., dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """The benchmark for a language model; the helpers come from grid_speed.py."""
    dev = torch.device(args.device)
    nx, ny = (int(v) for v in args.grid.lower().split("x"))
    grid = Grid(Axis(-1.0, 1.0, nx), Axis(-1.0, 1.0, ny))
    coords = grid.coordinates()
    model = create_model(args.model, seed=args.seed).eval().to(dev)
    x, y = (t.to(dev) for t in token_corpus("train", args.samples, seed=args.seed,
                                             block_size=args.block_size).tensors)
    base = {k: t.detach().clone() for k, t in get_params(model).items()}
    static = {k: t for k, t in state_tensors(model).items() if k not in base}
    dirs, _ = create_directions(base, ndim=2, seed=args.seed,
                                units=parameter_units(model, base))
    n, p = args.samples, grid.size
    out: dict[str, Any] = {"config": {**config, "block_size": args.block_size,
                                      "tokens_per_point": n * args.block_size},
                           "methods": {}}
    methods = out["methods"]

    def record(name: str, seconds: float, points: int, **extra: Any) -> None:
        methods[name] = {"seconds": seconds, "points": points, "points_per_s": points / seconds,
                         "sequences_per_s": points * n / seconds, **extra}
        say(f"{name:28s} {points / seconds:8.3f} points/s {points * n / seconds:9.1f} "
            f"sequences/s  ({seconds:.1f} s for {points} points)")

    say(f"{args.model}, {n} sequences of {args.block_size} tokens, grid {nx}x{ny}, device "
        f"{dev}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    compile_opt = False if args.no_compile else None
    seconds, surface = timed(dev, lambda: compute_surface(
        model, (x, y), grid, directions=dirs, batch_size=args.batch_size, device=dev,
        progress=False, compile=compile_opt))
    record("ours", seconds, p, batch_size=surface.meta["batch_size"],
           compiled=surface.meta["compiled"])

    bs, k = plan_evaluation(model, base, static, (x, y), n, dev, args.batch_size, None)
    engines: dict[str, Any] = {}
    for precision in ("fp32", args.low):
        hardware = precision == "fp32" or low_precision_supported(dev, _LOW[precision])
        index = np.arange(p) if hardware else np.array([0, p // 2, p - 1])
        prep, (engine, data) = timed(dev, lambda precision=precision: build_evaluator(
            model, base, dirs, static, (x, y), batch_size=bs, points_per_batch=k,
            precision=precision, compile=dev.type == "cuda" and not args.no_compile))
        plan = None
        if dev.type == "cpu" and hardware:
            plan = probe_forward(engine, data, images=args.plan_images,
                                 batch_size=args.batch_size, compile=compile_opt).probe
            say(f"  probe {precision}: {plan}")
        timed(dev, lambda e=engine, d=data: e(coords[:1], d))  # warm-up
        times = [timed(dev, lambda e=engine, d=data, i=i: e(coords[i:i + 1], d))[0]
                 for i in index]
        engines[precision] = (engine, data)
        name = "ours_steady" if precision == "fp32" else f"ours_{precision}"
        record(name, float(np.median(times)) * len(index), len(index), build_s=prep,
               hardware_support=hardware, point_times_s=times, batch_size=engine.batch_size,
               compiled=engine.compile, probe=plan)

    best_fns: dict[str, tuple[Callable[[Tensor], Any], int]] = {}
    for precision in ("fp32", args.low):
        if precision != "fp32" and not methods[f"ours_{precision}"]["hardware_support"]:
            continue
        dtype = torch.float32 if precision == "fp32" else _LOW[precision]
        limit, fn, size = _limit(model, x, dev, dtype, args.no_compile, say, timed)
        name = "limit" if precision == "fp32" else f"limit_{precision}"
        out[name] = limit
        best = max(limit.values(), key=lambda r: r["sequences_per_s"])
        methods[name] = {**best, "points_per_s": best["sequences_per_s"] / n}
        best_fns[name] = (fn, size)
        say(f"{name + ' (' + best['how'] + ')':28s} {best['sequences_per_s'] / n:8.3f} points/s "
            f"{best['sequences_per_s']:9.1f} sequences/s")

    engine, data = engines["fp32"]
    rounds = {"ours": lambda c, e=engine, d=data: e(c, d),
              "limit": _limit_pass(*best_fns["limit"], x, dev)}
    out["paired"] = {"fp32": paired(rounds, coords, dev, args.pair_rounds)}
    ratios = {f"{ours}/limit": methods[ours]["points_per_s"] / methods["limit"]["points_per_s"]
              for ours in ("ours", "ours_steady")}
    ratios["ours/limit (paired)"] = out["paired"]["fp32"]["ours/limit"]
    low = f"limit_{args.low}"
    if low in methods:
        ratios[f"ours_{args.low}/{low}"] = (methods[f"ours_{args.low}"]["points_per_s"]
                                            / methods[low]["points_per_s"])
    out["ratios"] = ratios
    out["config"]["load_end"] = os.getloadavg()[0]
    for key, value in ratios.items():
        say(f"ratio {key:32s} {value:7.3f}")
    return out


def _limit(model: nn.Module, x: Tensor, dev: torch.device, dtype: torch.dtype,
           no_compile: bool, say: Callable[[str], None],
           timed: Callable[[torch.device, Callable[[], Any]], tuple[float, Any]]
           ) -> tuple[dict[str, dict[str, Any]], Callable[[Tensor], Any], int]:
    """Fixed-weight forward throughput over `x` in `dtype`, eager at batch 32 to 256, then
    compiled at the best eager batch. Returns the results, the fastest forward and its batch."""
    net = copy.deepcopy(model).to(dtype).eval()
    res: dict[str, dict[str, Any]] = {}
    fns: dict[str, tuple[Callable[[Tensor], Any], int]] = {}

    def add(key: str, how: str, fn: Callable[[Tensor], Any], bs: int) -> None:
        full = (len(x) // bs) * bs

        def sweep() -> None:
            with torch.inference_mode():
                for s in range(0, full, bs):
                    fn(x[s:s + bs])

        sweep()  # warm-up (and the compile)
        seconds = min(timed(dev, sweep)[0] for _ in range(3))
        res[key] = {"how": how, "batch_size": bs, "sequences_per_s": full / seconds}
        fns[key] = (fn, bs)
        say(f"  limit {how:34s} {full / seconds:9.1f} sequences/s")

    sizes = [bs for bs in (32, 64, 128, 256) if bs <= len(x)]
    tag = "" if dtype == torch.float32 else f"{str(dtype).split('.')[-1]}, "
    for bs in sizes:
        add(f"eager_bs{bs}", f"{tag}eager, batch {bs}", net, bs)
    if not no_compile:
        best = max(sizes, key=lambda b: res[f"eager_bs{b}"]["sequences_per_s"])
        start = time.perf_counter()
        add(f"compiled_bs{best}", f"{tag}compiled, batch {best}",
            torch.compile(copy.deepcopy(net), dynamic=False), best)
        res[f"compiled_bs{best}"]["with_compile_s"] = time.perf_counter() - start
    key = max(res, key=lambda k: res[k]["sequences_per_s"])
    return res, *fns[key]


def _limit_pass(fn: Callable[[Tensor], Any], bs: int, x: Tensor, dev: torch.device
                ) -> Callable[[np.ndarray], Any]:
    """One limit pass over the full batches, as a function of a point (for the paired
    rounds); its time is scaled to all N sequences."""
    full = (len(x) // bs) * bs

    def one(_: np.ndarray) -> None:
        with torch.inference_mode():
            for s in range(0, full, bs):
                fn(x[s:s + bs])

    one.scale = len(x) / full  # type: ignore[attr-defined]
    return one

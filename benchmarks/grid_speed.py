"""Grid throughput side by side: ours, the 2018 reference method, loss-landscapes, the limit.

    python benchmarks/grid_speed.py --model resnet56 --samples 512 --grid 5x5 --json out.json

For a language model (`--model gpt-mini`) it runs benchmarks/lm_speed.py: ours against the
fixed-weight forward limit on token sequences.

One process, one model, the same N images, the same grid and the same two direction tensors for
every method:

  (a)  ours: `landscape.compute_surface` (what `landscape surface` runs) with its defaults;
       then the same engine (`landscape.engine.plan.build_evaluator`) built once, configured by
       the speed probe as for a long grid (`probe_forward`, --plan-images) and timed without
       its one-off costs, in fp32 and in the low precision (--low);
  (b)  the reference method (benchmarks/reference_method.py): new weight tensors per point and a
       DataLoader pass with per-image ToTensor/Normalize, batch 128;
  (c)  the `loss-landscapes` package's `random_plane`, given our directions;
  (d)  the limit: forward throughput with fixed weights (folded BN, channels_last), in fp32
       and in the low precision: eager at batch 32 to 256, oneDNN-fused with weights packed
       once, compiled, compiled with freezing; the best of them is "the limit".

`--tricks` also times each trick on its own (see benchmarks/README.md). The model gets
synthetic "trained-like" BN statistics (seeded) so that folding is not a no-op, and the images are
seeded uint8 noise; speed does not depend on either. Works with `--device cuda` (timings
synchronize the device).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lm_speed import is_language_model  # noqa: E402
from lm_speed import run as run_lm  # noqa: E402
from record import add_record_options, cpu_name, load_average, run_config, write_json  # noqa: E402
from reference_method import eval_loss, normalize_batch, reference_loader, set_weights  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from landscape import Axis, Grid, compute_surface, create_directions, get_params  # noqa: E402
from landscape.engine.evaluate import Evaluator, evaluate_points, low_precision_supported  # noqa: E402
from landscape.engine.fold import fold_batchnorm, fuse_convolutions, pack_weights  # noqa: E402
from landscape.engine.plan import build_evaluator, plan_evaluation, probe_forward  # noqa: E402
from models import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    nx, ny = (int(v) for v in args.grid.lower().split("x"))
    grid = Grid(Axis(-1.0, 1.0, nx), Axis(-1.0, 1.0, ny))
    coords = grid.coordinates()
    if is_language_model(args.model):  # tokens: ours against the limit (benchmarks/lm_speed.py)
        out = run_lm(args, _say, _timed, _paired, _config(args, dev, grid))
        write_json(args.json, out)
        return out

    model = create_model(args.model, seed=args.seed)
    _trained_like_bn_(model, args.seed)
    model = model.eval().to(dev)
    gen = np.random.default_rng(args.seed)
    images = gen.integers(0, 256, (args.samples, 32, 32, 3), dtype=np.uint8)
    labels = gen.integers(0, 10, args.samples)
    x = normalize_batch(images).to(dev)
    y = torch.as_tensor(labels).to(dev)
    base = {k: t.detach().clone() for k, t in get_params(model).items()}
    static = {k: t.detach() for k, t in model.state_dict().items() if k not in base}
    dirs, _ = create_directions(base, ndim=2, seed=args.seed)

    out: dict[str, Any] = {"config": _config(args, dev, grid), "methods": {}}
    methods = out["methods"]
    n, p = args.samples, grid.size

    def record(name: str, seconds: float, points: int, **extra: Any) -> None:
        methods[name] = {"seconds": seconds, "points": points,
                         "points_per_s": points / seconds, "images_per_s": points * n / seconds,
                         **extra}
        _say(f"{name:28s} {points / seconds:8.3f} points/s {points * n / seconds:9.1f} "
             f"images/s  ({seconds:.1f} s for {points} points)")

    _say(f"{args.model}, {n} images, grid {nx}x{ny}, device {dev}, "
         f"{torch.get_num_threads()} threads, load {load_average():.1f}")

    # (a) ours, through the public API: one-off costs (fold, plan, compile) included
    compile_opt = False if args.no_compile else None
    seconds, surface = _timed(dev, lambda: compute_surface(
        model, (x, y), grid, directions=dirs, batch_size=args.batch_size, device=dev,
        progress=False, compile=compile_opt))
    ours_loss = surface.loss.reshape(-1)
    record("ours", seconds, p, batch_size=surface.meta["batch_size"],
           points_per_batch=surface.meta["points_per_batch"],
           compiled=surface.meta["compiled"], fused=surface.meta["fused"])

    # (a) the same engine built once, configured as compute_surface configures it for a long
    # grid (--plan-images in all: the speed probe, compile tried), then timed point by point
    bs, k = plan_evaluation(model, base, static, (x, y), n, dev, args.batch_size, None)
    engines: dict[str, tuple[Evaluator, Any]] = {}
    low_loss: tuple[np.ndarray, np.ndarray] | None = None
    for precision in ("fp32", args.low):
        hardware = precision == "fp32" or low_precision_supported(dev, _LOW[precision])
        # Without hardware support (e.g. an AVX2-only CPU) bf16 is emulated and slow: time it
        # on three points only, for its speed and its loss error.
        index = np.arange(p) if hardware else np.array([0, p // 2, p - 1])
        prep, (engine, data) = _timed(dev, lambda precision=precision: build_evaluator(
            model, base, dirs, static, (x, y), batch_size=bs, points_per_batch=k,
            precision=precision,  # type: ignore[arg-type]
            compile=dev.type == "cuda" and not args.no_compile))
        plan = None
        if dev.type == "cpu" and hardware:
            plan = probe_forward(engine, data, images=args.plan_images,
                                 batch_size=args.batch_size, compile=compile_opt).probe
            _say(f"  probe {precision}: {plan}")
        warm, _ = _timed(dev, lambda e=engine, d=data: e(coords[:1], d))
        # block by block of K points, the median per point: a transient load moves it least
        blocks = [index[s:s + k] for s in range(0, len(index), k)]
        timed = [_timed(dev, lambda e=engine, d=data, b=b: e(coords[b], d)) for b in blocks]
        times = [t / len(b) for (t, _), b in zip(timed, blocks, strict=True)]
        engines[precision] = (engine, data)
        name = "ours_steady" if precision == "fp32" else f"ours_{precision}"
        if precision != "fp32":
            low_loss = (index, np.concatenate([stats.loss for _, stats in timed]))
        record(name, float(np.median(times)) * len(index), len(index), build_s=prep,
               first_point_s=warm, hardware_support=hardware, point_times_s=times,
               batch_size=engine.batch_size, compiled=engine.compile, fused=engine.use_fused,
               probe=plan)

    # (b) the reference method
    if not args.skip_reference:
        seconds, ref_loss = _timed(dev, lambda: _reference(model, base, dirs, coords, images,
                                                           labels, dev, args.ref_workers))
        record("reference", seconds, p, workers=args.ref_workers, batch_size=128)
    else:
        ref_loss = None

    # (c) loss-landscapes
    peer = None if args.skip_peer else _loss_landscapes(model, base, dirs, x, y, nx, dev)
    if peer is not None and "error" not in peer:
        record("loss_landscapes", peer.pop("seconds"), nx * nx, **{
            k: v for k, v in peer.items() if k not in ("loss", "coords")})
    elif peer is not None:
        methods["loss_landscapes"] = peer
        _say(f"loss_landscapes: not run: {peer['error']}")

    # (d) the limit: fixed weights, every configuration below, in fp32 and the low precision
    limit_fns: dict[str, tuple[Callable[[Tensor], Any], int]] = {}
    for precision in ("fp32", args.low):
        if precision != "fp32" and not methods[f"ours_{precision}"]["hardware_support"]:
            continue
        dtype = torch.float32 if precision == "fp32" else _LOW[precision]
        limit, best_fn = _limit(model, base, dirs, static, x, dev, args, dtype)
        name = "limit" if precision == "fp32" else f"limit_{precision}"
        out[name] = limit
        best = max(limit.values(), key=lambda r: r["images_per_s"])
        methods[name] = {**best, "points_per_s": best["images_per_s"] / n}
        limit_fns[name] = (best_fn, best["batch_size"])
        _say(f"{name + ' (' + best['how'] + ')':28s} {best['images_per_s'] / n:8.3f} points/s "
             f"{best['images_per_s']:9.1f} images/s")

    # paired rounds: one point of each in turn, in fp32 and in the low precision
    ref_point = None if args.skip_reference else _reference_point(
        model, base, dirs, images, labels, dev, args.ref_workers)
    pairs: dict[str, dict[str, Callable[[np.ndarray], Any]]] = {"fp32": {}}
    engine, data = engines["fp32"]
    pairs["fp32"]["ours"] = lambda c, e=engine, d=data: e(c, d)
    pairs["fp32"]["limit"] = _limit_pass(*limit_fns["limit"], x, dev, torch.float32)
    if ref_point is not None:
        pairs["fp32"]["reference"] = ref_point
    if f"limit_{args.low}" in limit_fns:
        engine, data = engines[args.low]
        pairs[args.low] = {
            f"ours_{args.low}": lambda c, e=engine, d=data: e(c, d),
            f"limit_{args.low}": _limit_pass(*limit_fns[f"limit_{args.low}"], x, dev,
                                             _LOW[args.low]),
            "ours": pairs["fp32"]["ours"]}
    out["paired"] = {name: _paired(fns, coords, dev, args.pair_rounds)
                     for name, fns in pairs.items()}

    if args.tricks:
        out["tricks"] = _tricks(model, base, dirs, static, x, y, coords, dev, args)

    out["agreement"] = _agreement(ours_loss, ref_loss, low_loss, args.low, peer, model, base,
                                  dirs, static, x, y)
    out["ratios"] = _ratios(methods)
    for rounds in out["paired"].values():
        for k, v in rounds.items():
            if "/" in k:
                out["ratios"][f"{k} (paired)"] = v
    out["config"]["load_end"] = load_average()
    for k, v in out["ratios"].items():
        _say(f"ratio {k:32s} {v:7.3f}")
    for k, v in out["agreement"].items():
        if not isinstance(v, list):
            _say(f"agreement {k:28s} {v:.3g}")
    write_json(args.json, out)
    return out


_LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet56", help="a models.create_model name")
    ap.add_argument("--samples", type=int, default=512,
                    help="N evaluation images (sequences, for gpt-mini) per point")
    ap.add_argument("--block-size", type=int, default=32,
                    help="tokens per sequence, for a language model (gpt-mini)")
    ap.add_argument("--grid", default="5x5", help="NXxNY points over [-1, 1]^2")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="ours (default: the engine's: probed on a CPU, planned on CUDA)")
    ap.add_argument("--plan-images", type=int, default=51 * 51 * 5000,
                    help="images of the grid the steady engine is planned for (default: a "
                         "51x51 grid of 5,000 images, long enough for the probe to try "
                         "compiling)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--low", choices=sorted(_LOW), default="bf16", help="the low precision")
    ap.add_argument("--ref-workers", type=int, default=2,
                    help="DataLoader workers of the reference method (its --threads, default 2)")
    ap.add_argument("--no-compile", action="store_true", help="ours and the limit without compile")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--skip-peer", action="store_true", help="skip loss-landscapes")
    ap.add_argument("--tricks", action="store_true", help="also time each trick on its own")
    ap.add_argument("--trick-points", type=int, default=3)
    ap.add_argument("--pair-rounds", type=int, default=5,
                    help="rounds of one point of each method in turn (for busy machines)")
    ap.add_argument("--seed", type=int, default=0)
    add_record_options(ap)
    return ap.parse_args(argv)


def _say(text: str) -> None:
    print(text, flush=True)


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA timings are asynchronous otherwise)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(dev: torch.device, fn: Callable[[], Any]) -> tuple[float, Any]:
    sync(dev)
    start = time.perf_counter()
    value = fn()
    sync(dev)
    return time.perf_counter() - start, value


def _config(args: argparse.Namespace, dev: torch.device, grid: Grid) -> dict[str, Any]:
    cpu = cpu_name()
    return run_config(args, grid_points=grid.size, torch=torch.__version__,
                      threads_used=torch.get_num_threads(), cpu=cpu, cpu_count=os.cpu_count(),
                      device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu)


def _trained_like_bn_(model: nn.Module, seed: int) -> None:
    """Seeded BN statistics and affine parameters away from their init (zero-init γ included)."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                    m.bias.copy_(torch.randn(c, generator=g) * 0.05)


def _reference(model: nn.Module, base: dict[str, Tensor], dirs: list[dict[str, Tensor]],
               coords: np.ndarray, images: np.ndarray, labels: np.ndarray, dev: torch.device,
               workers: int) -> np.ndarray:
    net = copy.deepcopy(model)
    names = [k for k, _ in net.named_parameters()]
    weights = [base[k] for k in names]
    directions = [[d[k] for k in names] for d in dirs]
    loader = reference_loader(images, labels, batch_size=128, workers=workers)
    losses = []
    for c in coords:
        set_weights(net, weights, directions, tuple(float(v) for v in c))
        loss, _ = eval_loss(net, loader, dev)
        losses.append(loss)
    return np.array(losses)


def _reference_point(model: nn.Module, base: dict[str, Tensor], dirs: list[dict[str, Tensor]],
                     images: np.ndarray, labels: np.ndarray, dev: torch.device,
                     workers: int) -> Callable[[np.ndarray], Any]:
    """The reference method as a function of one point's coordinates (for `_paired`)."""
    net = copy.deepcopy(model)
    names = [k for k, _ in net.named_parameters()]
    weights = [base[k] for k in names]
    directions = [[d[k] for k in names] for d in dirs]
    loader = reference_loader(images, labels, batch_size=128, workers=workers)

    def point(c: np.ndarray) -> float:
        set_weights(net, weights, directions, tuple(float(v) for v in c[0]))
        return eval_loss(net, loader, dev)[0]

    return point


def _loss_landscapes(model: nn.Module, base: dict[str, Tensor], dirs: list[dict[str, Tensor]],
                     x: Tensor, y: Tensor, steps: int, dev: torch.device) -> dict[str, Any]:
    """random_plane with our two directions in place of its random ones (its loop unchanged)."""
    try:
        import loss_landscapes
        import loss_landscapes.main as ll_main
        import loss_landscapes.metrics
        from loss_landscapes.model_interface.model_parameters import ModelParameters
    except Exception as err:  # noqa: BLE001 - report why the peer cannot run
        return {"error": f"import failed: {type(err).__name__}: {err}"}
    names = [k for k, _ in model.named_parameters()]
    d1 = [dirs[0][k].clone() for k in names]
    d2 = [dirs[1][k].clone() for k in names]
    norm = _l2([base[k] for k in names])
    n1, n2 = _l2(d1), _l2(d2)
    unit = 2.0 / steps  # its grid: (i - steps/2) · unit along each direction
    distance = norm / (steps * unit * n1)
    patched = (ll_main.rand_u_like, ll_main.orthogonal_to)
    ll_main.rand_u_like = lambda _start: ModelParameters([t.clone() for t in d1])
    ll_main.orthogonal_to = lambda _d: ModelParameters([t.clone() for t in d2])
    try:
        metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), x, y)
        seconds, values = _timed(dev, lambda: loss_landscapes.random_plane(
            model, metric, distance=distance, steps=steps, normalization=None,
            deepcopy_model=True))
    except Exception as err:  # noqa: BLE001
        return {"error": f"random_plane failed: {type(err).__name__}: {err}"}
    finally:
        ll_main.rand_u_like, ll_main.orthogonal_to = patched
    # Its loop walks the columns back and forth; even rows end one step further along dir two.
    u1, u2 = unit, unit * n1 / n2
    c = np.array([[(i - steps / 2) * u1, (j - steps / 2 + (1 if i % 2 == 0 else 0)) * u2]
                  for i in range(steps) for j in range(steps)])
    return {"seconds": seconds, "loss": np.asarray(values, dtype=np.float64).reshape(-1),
            "coords": c, "version": _version("loss-landscapes"), "batch": len(x)}


def _l2(tensors: list[Tensor]) -> float:
    return float(sum(t.double().pow(2).sum() for t in tensors)) ** 0.5


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _images_per_s(fn: Callable[[Tensor], Any], x: Tensor, bs: int, dev: torch.device,
                  repeats: int = 2) -> float:
    with torch.inference_mode():
        fn(x[:bs])  # warm-up (and compile)
        best = float("inf")
        for _ in range(repeats):
            sync(dev)
            start = time.perf_counter()
            for s in range(0, len(x) - bs + 1, bs):
                fn(x[s:s + bs])
            sync(dev)
            best = min(best, time.perf_counter() - start)
    return (len(x) // bs) * bs / best


def _limit(model: nn.Module, base: dict[str, Tensor], dirs: list[dict[str, Tensor]],
           static: dict[str, Tensor], x: Tensor, dev: torch.device, args: argparse.Namespace,
           dtype: torch.dtype) -> tuple[dict[str, dict[str, Any]], Callable[[Tensor], Any]]:
    """Fixed-weight inference throughput in `dtype`: BN folded, channels_last; eager at batch
    32 to 256; on a CPU the oneDNN-fused model with its weights packed once, at the same
    sizes; compiled, and compiled with inductor freezing (weights as constants: prepacked
    oneDNN weights on a CPU), at the two best eager batch sizes.

    Returns the results and the fastest forward (for the paired rounds).
    """
    folded = fold_batchnorm(model, base, dirs, static)
    net = (folded[0] if folded is not None else copy.deepcopy(model)).eval()
    net = net.to(dtype=dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]
    xcl = x.to(dtype).contiguous(memory_format=torch.channels_last)
    tag = "" if dtype == torch.float32 else f"{str(dtype).split('.')[-1]}, "
    res: dict[str, dict[str, Any]] = {}
    fns: dict[str, Callable[[Tensor], Any]] = {}

    def add(key: str, how: str, fn: Callable[[Tensor], Any], bs: int, **extra: Any) -> None:
        start = time.perf_counter()
        ips = _images_per_s(fn, xcl, bs, dev)
        res[key] = {"how": tag + how, "images_per_s": ips, "batch_size": bs,
                    "seconds": time.perf_counter() - start, **extra}
        fns[key] = fn

    sizes = [bs for bs in (32, 64, 128, 256) if bs <= len(x)]
    for bs in sizes:
        add(f"eager_bs{bs}", f"eager, batch {bs}", net, bs)
    fused = fuse_convolutions(net) if dev.type == "cpu" else None
    if fused is not None:  # the fused forward of the engine, its weights packed once
        module = fused.module
        for key, w in pack_weights(dict(module.state_dict()), fused.weights).items():
            parent, _, field = key.rpartition(".")
            owner = module.get_submodule(parent)
            delattr(owner, field)
            setattr(owner, field, w)
        for bs in sizes:
            add(f"fused_bs{bs}", f"fused, packed once, batch {bs}", module, bs)
    eager = sorted(sizes, key=lambda b: -res[f"eager_bs{b}"]["images_per_s"])[:2]
    if not args.no_compile:
        import torch._inductor.config as inductor_config

        for bs in eager:
            add(f"compiled_bs{bs}", f"compiled, batch {bs}",
                torch.compile(copy.deepcopy(net), dynamic=False), bs)
            with inductor_config.patch(freezing=True):
                add(f"frozen_bs{bs}", f"compiled+frozen, batch {bs}",
                    torch.compile(copy.deepcopy(net), dynamic=False), bs)
    for r in res.values():
        _say(f"  limit {r['how']:34s} {r['images_per_s']:9.1f} images/s")
    best = max(res, key=lambda k: res[k]["images_per_s"])
    return res, fns[best]


def _limit_pass(fn: Callable[[Tensor], Any], bs: int, x: Tensor, dev: torch.device,
                dtype: torch.dtype) -> Callable[[np.ndarray], Any]:
    """One limit pass over the N images, as a function of a point (for the paired rounds);
    it covers the full batches only, so its time is scaled to all N."""
    xcl = x.to(dtype).contiguous(memory_format=torch.channels_last)
    full = (len(x) // bs) * bs

    def run(_c: np.ndarray) -> None:
        with torch.inference_mode():
            for s in range(0, full, bs):
                fn(xcl[s:s + bs])

    run.scale = len(x) / full  # type: ignore[attr-defined]
    return run


def _paired(methods: dict[str, Callable[[np.ndarray], Any]], coords: np.ndarray,
            dev: torch.device, rounds: int) -> dict[str, Any]:
    """One point of each method in turn, `rounds` times; the best time of each.

    On a machine whose load changes during the run, methods timed minutes apart are not
    comparable; taken in turn, point against point, each round sees nearly the same load.
    The first method is "ours"; the ratios are the others' best times over its best.
    """
    times: dict[str, list[float]] = {k: [] for k in methods}
    names = list(methods)
    for i in range(rounds):
        c = coords[(i + 1) % len(coords)][None]
        # the order turns each round: no method always follows the same one (the reference
        # method's DataLoader workers are still exiting when the next method starts)
        for name in names[i % len(names):] + names[:i % len(names)]:
            fn = methods[name]
            seconds = _timed(dev, lambda fn=fn, c=c: fn(c))[0]
            times[name].append(seconds * getattr(fn, "scale", 1.0))
    best = {k: min(v) for k, v in times.items()}
    ours = next(iter(methods))
    res: dict[str, Any] = {"seconds_per_point": best, "times": times}
    for other in list(methods)[1:]:
        res[f"{ours}/{other}"] = best[other] / best[ours]
    _say("paired, best s/point: " + ", ".join(f"{k} {v:.3f}" for k, v in best.items()))
    return res


def _tricks(model: nn.Module, base: dict[str, Tensor], dirs: list[dict[str, Tensor]],
            static: dict[str, Tensor], x: Tensor, y: Tensor, coords: np.ndarray,
            dev: torch.device, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The engine with each trick switched on in turn, timed on a few points after a warm-up."""
    pts = coords[1:1 + args.trick_points]
    n = len(x)
    res: dict[str, dict[str, Any]] = {}

    def trick(name: str, k: int = 1, fused: bool = False, **kw: Any) -> None:
        kw = {"batch_size": args.batch_size or 128, "compile": False, "fold_bn": True, **kw}
        build, (engine, data) = _timed(dev, lambda: build_evaluator(
            model, base, dirs, static, (x, y), points_per_batch=k, **kw))
        if fused:
            engine.configure(fused=True)
        first, _ = _timed(dev, lambda: engine(coords[:k], data))
        # the median over blocks of each block's own time: robust to a busy machine
        times = [_timed(dev, lambda s=s: engine(pts[s:s + k], data))[0] / len(pts[s:s + k])
                 for s in range(0, len(pts), k)]
        seconds = float(np.median(times))
        res[name] = {"points_per_s": 1 / seconds, "images_per_s": n / seconds,
                     "point_times_s": times, "build_s": build, "first_point_s": first}
        _say(f"  trick {name:40s} {1 / seconds:7.3f} points/s {n / seconds:8.1f} images/s")

    trick("plain: no fold, eager", fold_bn=False)
    for bs in (64, 128, 256):
        trick(f"fold + channels_last, batch {bs}", batch_size=bs)
    trick("fold + channels_last + compile", compile=True)
    if dev.type == "cpu":
        trick("fold + channels_last + fused (oneDNN, packed per point)", fused=True)
    trick("fold + channels_last, K=4 (vmap)", k=4)
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        try:
            trick("fold + channels_last, 1 thread")
        finally:
            torch.set_num_threads(threads)
    trick(f"fold + channels_last, {args.low}", precision=args.low)
    return res


def _agreement(ours: np.ndarray, ref: np.ndarray | None,
               low: tuple[np.ndarray, np.ndarray] | None, low_name: str,
               peer: dict[str, Any] | None, model: nn.Module, base: dict[str, Tensor],
               dirs: list[dict[str, Tensor]], static: dict[str, Tensor], x: Tensor,
               y: Tensor) -> dict[str, Any]:
    """Largest relative loss differences between methods on the points they share (and, for
    the low precision, the difference at every point)."""

    def rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)

    res: dict[str, Any] = {}
    if ref is not None:
        res["ours_vs_reference"] = float(rel(ours, ref).max())
    if low is not None:
        per_point = rel(low[1], ours[low[0]])
        res[f"ours_{low_name}_vs_ours"] = float(per_point.max())
        res[f"ours_{low_name}_vs_ours_per_point"] = [float(v) for v in per_point]
    if peer is not None and "loss" in peer:
        # The peer's grid points differ from ours; evaluate ours at three of its points.
        pick = [0, len(peer["loss"]) // 2, len(peer["loss"]) - 2]
        stats = evaluate_points(model, base, dirs, peer["coords"][pick], (x, y), static=static,
                                batch_size=128)
        res["ours_vs_loss_landscapes"] = float(rel(stats.loss, peer["loss"][pick]).max())
    return res


def _ratios(methods: dict[str, dict[str, Any]]) -> dict[str, float]:
    out = {}
    for ours in ("ours", "ours_steady"):
        for other in ("reference", "loss_landscapes", "limit"):
            if other in methods and "points_per_s" in methods[other]:
                out[f"{ours}/{other}"] = (methods[ours]["points_per_s"]
                                          / methods[other]["points_per_s"])
    for low in ("bf16", "fp16"):
        if f"ours_{low}" in methods:
            out[f"ours_{low}/ours_steady"] = (methods[f"ours_{low}"]["points_per_s"]
                                              / methods["ours_steady"]["points_per_s"])
        if f"limit_{low}" in methods:
            out[f"ours_{low}/limit_{low}"] = (methods[f"ours_{low}"]["points_per_s"]
                                              / methods[f"limit_{low}"]["points_per_s"])
    return out


if __name__ == "__main__":
    main()

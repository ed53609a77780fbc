"""The whole process, ours against the 2018 reference code itself, on one checkpoint.

    git clone https://github.com/tomgoldstein/loss-landscape ../loss-landscape
    python benchmarks/versus_2018.py --reference-code ../loss-landscape --json out.json

Both programs start from nothing (a new Python process each) and end with a surface file: the
2018 code's `plot_surface.py` (unmodified, `--threads 2` DataLoader workers and batch 128, its
defaults) and `landscape surface` with its defaults. They get the same checkpoint, a seeded
ResNet with trained-like BN statistics written in the 2018 code's `.t7` format (its CIFAR
ResNets use our parameter names), and the same N CIFAR-10 images in torchvision's on-disk
format, random pixels (`--samples` in all, spread over the five training files); or, with
`--checkpoint`, a `.t7` of the 2018 code's own. They run in turn, `--rounds` times, theirs
first, each in a fresh work folder; the median and the best of each side, and their ratios, are
reported. `--precisions fp32,bf16` also runs ours with `--precision bf16` in each round (its
losses differ from fp32 by about 1%).

Two things are changed around the 2018 code, not in it, by a `sitecustomize.py` on its
PYTHONPATH: it asks torchvision for CIFAR-10 with `download=True`, and torchvision checks the
files' MD5 sums, which random pixels cannot match, so it would try to download: the check
passes. And it gives `numpy.linspace` a float count of points, which NumPy refuses since 1.18:
the count is made an int. Nothing else differs from a run on the real data. The 2018 code
also imports seaborn, scikit-learn and mpi4py at the top: install them where it runs (`pip
install seaborn scikit-learn mpi4py`), or name a folder that holds them with `--reference-path`
(e.g. one made by `pip install --target DIR`).
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from grid_speed import _trained_like_bn_  # noqa: E402
from record import add_record_options, cpu_name, load_average, run_config, write_json  # noqa: E402

from models import create_model  # noqa: E402

_SHIM = """# written by benchmarks/versus_2018.py, for the 2018 code on today's libraries
import numpy
import torchvision.datasets.cifar

# random pixels cannot match CIFAR-10's MD5 sums
torchvision.datasets.cifar.check_integrity = lambda *args, **kwargs: True

# the 2018 code counts grid points in floats, which NumPy took until 1.18
_linspace = numpy.linspace


def _linspace_of_a_float_count(start, stop, num=50, *args, **kwargs):
    return _linspace(start, stop, int(num), *args, **kwargs)


numpy.linspace = _linspace_of_a_float_count
"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    code = Path(args.reference_code).resolve()
    if not (code / "plot_surface.py").is_file():
        raise SystemExit(f"{code} has no plot_surface.py: pass a checkout of "
                         f"tomgoldstein/loss-landscape as --reference-code")
    root = Path(tempfile.mkdtemp(prefix="versus-2018-"))
    try:
        return _run(args, code, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _run(args: argparse.Namespace, code: Path, root: Path) -> dict[str, Any]:
    shared = root / "shared"
    if args.checkpoint:  # a checkpoint in the 2018 layout, e.g. one the 2018 code trained
        checkpoint = shared / "model.t7"
        shared.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.checkpoint, checkpoint)
    else:
        checkpoint = _write_checkpoint(shared / "model.t7", args.model, args.seed)
    data = _write_cifar(shared / "cifar10" / "data", args.samples, args.seed)
    (shared / "shim").mkdir()
    (shared / "shim" / "sitecustomize.py").write_text(_SHIM, encoding="utf-8")
    n = args.grid
    sides = {
        "reference": lambda work: _timed(
            [sys.executable, str(code / "plot_surface.py"), "--model", args.model,
             "--model_file", str(_copy(checkpoint, work)), "--dataset", "cifar10",
             "--datapath", str(data), f"--x=-1:1:{n}", f"--y=-1:1:{n}",
             "--xnorm", "filter", "--xignore", "biasbn", "--ynorm", "filter",
             "--yignore", "biasbn"],
            cwd=shared, env={"PYTHONPATH": os.pathsep.join(
                [str(shared / "shim"), *([args.reference_path] if args.reference_path else [])])}),
    }
    for precision in args.precisions.split(","):
        sides["ours" if precision == "fp32" else f"ours_{precision}"] = (
            lambda work, precision=precision: _timed(
                [str(Path(sys.executable).with_name("landscape")), "surface",
                 str(_copy(checkpoint, work)), "--model", args.model, "-o",
                 str(work / "ours.h5"), f"--x=-1:1:{n}", f"--y=-1:1:{n}", "--dataset",
                 "cifar10", "--data-root", str(data), "--normalize", "reference",
                 "--precision", precision, "--no-progress"],
                cwd=work, env={}))
    config = run_config(args, reference_commit=_commit(code), cpu=cpu_name(),
                        cpu_count=os.cpu_count(), torch=torch.__version__,
                        python=platform.python_version())
    out: dict[str, Any] = {
        "config": {k: v for k, v in config.items()  # not the paths of this machine
                   if k not in ("reference_code", "reference_path")},
        "seconds": {name: [] for name in sides}}
    print(f"{args.model}, {args.samples} images, {n}x{n} grid, {args.rounds} rounds, load "
          f"{load_average():.1f}", flush=True)
    for k in range(args.rounds):
        for name, run in sides.items():
            work = root / f"{name}-{k}"
            work.mkdir()
            seconds = run(work)
            out["seconds"][name].append(seconds)
            print(f"round {k}: {name} {seconds:.1f} s", flush=True)
    summary = {name: {"median": statistics.median(t), "best": min(t)}
               for name, t in out["seconds"].items()}
    out["summary"] = summary
    ref = summary["reference"]
    for name in (n for n in sides if n != "reference"):
        key = "ratio_reference_over_" + name
        out[key] = {"median": ref["median"] / summary[name]["median"],
                    "best": ref["best"] / summary[name]["best"],
                    "per_round": [r / o for r, o in zip(out["seconds"]["reference"],
                                                        out["seconds"][name], strict=True)]}
        print(f"{name} {summary[name]['median']:.1f} s, the 2018 code {ref['median']:.1f} s "
              f"(medians): {out[key]['median']:.2f}x; best of each {out[key]['best']:.2f}x",
              flush=True)
    out["config"]["load_end"] = load_average()
    write_json(args.json, out)
    return out


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one process, start to exit; its output is kept only on failure."""
    environment = {**os.environ, **env}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def _copy(checkpoint: Path, work: Path) -> Path:
    """The checkpoint in this round's folder: the 2018 code writes its direction and surface
    files beside it, and would resume them in a later round."""
    target = work / checkpoint.name
    shutil.copyfile(checkpoint, target)
    return target


def _write_checkpoint(path: Path, model_name: str, seed: int) -> Path:
    """A seeded model of ours with trained-like BN statistics, saved as the 2018 code saves
    its models: {'acc', 'epoch', 'state_dict'}."""
    model = create_model(model_name, seed=seed)
    _trained_like_bn_(model, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"acc": 0.0, "epoch": 0, "state_dict": model.state_dict()}, path)
    return path


def _write_cifar(folder: Path, samples: int, seed: int) -> Path:
    """`samples` random images in CIFAR-10's python format (five training files), and a small
    test file; returns the folder that holds `cifar-10-batches-py`."""
    rng = np.random.default_rng(seed)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)

    def dump(name: str, n: int) -> None:
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": [int(c) for c in rng.integers(0, 10, n)],
                 "batch_label": name.encode(),
                 "filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
        with open(batches / name, "wb") as f:
            pickle.dump(entry, f)

    sizes = [samples // 5 + (i < samples % 5) for i in range(5)]
    for i, n in enumerate(sizes, start=1):
        dump(f"data_batch_{i}", n)
    dump("test_batch", 100)
    with open(batches / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return folder


def _commit(code: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference-code", required=True,
                   help="a checkout of tomgoldstein/loss-landscape")
    p.add_argument("--reference-path", default=None,
                   help="a folder added to the 2018 code's PYTHONPATH (its extra imports)")
    p.add_argument("--model", default="resnet56", help="a CIFAR ResNet both programs know")
    p.add_argument("--checkpoint", default=None,
                   help="a .t7 of --model in the 2018 layout to use instead of a seeded one "
                        "(e.g. tests/fixtures/reference/model_1.t7, a resnet20 the 2018 "
                        "code wrote)")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--grid", type=int, default=3, help="points per axis")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--precisions", default="fp32",
                   help="ours in each of these, comma-separated (e.g. fp32,bf16): `ours` is "
                        "fp32, `ours_bf16` bf16; the 2018 code has fp32 only")
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

"""Does the demo's verdict survive new directions? Its comparison rerun with disjoint seed sets.

    python benchmarks/seed_sets.py --demo demo-out --sets 3 --json out.json

A `landscape demo` run judges each depth's ResNet against its no-skip twin on an ensemble of N
direction pairs, seeds 0 .. N-1. This script computes, for every net of the run (its
`final.pt`, the same images and grid), the ensembles of the next disjoint seed sets, N .. 2N-1,
2N .. 3N-1, ... (`landscape.compute_ensemble`, into `--work`, resumable), two nets at a time in
processes of one thread each, and compares each depth's pair on each set as the demo does
(radii of 1, 2 and 4 grid steps). It reports each set's headline and counts per depth,
whether the headline is the same on every set, and (`pooled`) the comparison of all the sets'
pairs taken as one ensemble per net.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE.parent), str(_HERE)]

from record import add_record_options, load_average, run_config, write_json  # noqa: E402


def _compute(job: dict[str, Any]) -> str:
    """The ensemble of one net on one seed set, into its own file (resumed if begun)."""
    import torch

    from landscape import Axis, Grid, compute_ensemble, load_surface
    from models.checkpoint import load_checkpoint
    from models.data import evaluation_tensors

    torch.set_num_threads(1)
    demo, net, path = Path(job["demo"]), job["net"], Path(job["path"])
    first = load_surface(demo / f"{net}.h5")
    model, _ = load_checkpoint(demo / net / "final.pt")
    data = evaluation_tensors("embedded", "train", samples=int(first.meta["samples"]),
                              seed=int(first.meta.get("data_seed", 0)))
    grid = Grid(Axis(float(first.x[0]), float(first.x[-1]), len(first.x)),
                Axis(float(first.y[0]), float(first.y[-1]), len(first.y)))
    compute_ensemble(model, data, grid, ensemble=job["n"], seed=job["seed"], path=path,
                     resume=True, progress=False, device="cpu")
    return str(path)


def _headline(files: list[Path] | list[list[Path]], depth: int) -> dict[str, Any]:
    """The comparison of one depth's pair: `files` is [ResNet, no skip], each a file or a
    list of files whose direction pairs are pooled into one ensemble."""
    from landscape import load_ensemble
    from landscape.analysis.verdict import compare

    sides = [[s for f in side for s in load_ensemble(f)] if isinstance(side, list)
             else load_ensemble(side) for side in files]
    step = float(sides[0][0].x[1] - sides[0][0].x[0])
    result = compare(*sides, [f"ResNet-{depth}", f"ResNet-{depth} no skip"],
                     radii=tuple(round(k * step, 12) for k in (1, 2, 4)))
    v = result["verdict"]
    return {"headline": v["headline"],
            "parts": {claim: part["word"] for claim, part in v["parts"].items()},
            "counts": v["counts"], "seeds": [s.meta.get("seed") for s in sides[0]],
            "supports": [i["metric"] for i in v["supports"]],
            "contradicts": [i["metric"] for i in v["contradicts"]],
            "errors": {i["metric"]: round(i["errors"], 2)
                       for k in ("supports", "contradicts", "inconclusive") for i in v[k]},
            "hold_family_wise": v["family"]["supports"] + v["family"]["contradicts"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    from landscape import load_ensemble

    demo, work = Path(args.demo), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    depths = sorted(int(p.stem.removeprefix("resnet")) for p in demo.glob("resnet*.h5")
                    if "-" not in p.stem)
    n = len(load_ensemble(demo / f"resnet{depths[0]}.h5"))
    out: dict[str, Any] = {"config": run_config(args, demo=demo.name, work=work.name,
                                                pairs_per_set=n)}
    nets = [f"resnet{d}{s}" for d in depths for s in ("", "-noskip")]
    jobs = [{"demo": str(demo), "net": net, "n": n, "seed": k * n,
             "path": str(work / f"{net}-set{k}.h5")} for k in range(1, args.sets) for net in nets]
    tick = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.processes) as pool:
        pool.map(_compute, jobs, chunksize=1)
    out["seconds"] = time.perf_counter() - tick
    out["depths"] = {}
    for d in depths:
        files = [[demo / f"resnet{d}.h5", demo / f"resnet{d}-noskip.h5"]]
        files += [[work / f"resnet{d}-set{k}.h5", work / f"resnet{d}-noskip-set{k}.h5"]
                  for k in range(1, args.sets)]
        sets = [_headline(pair, d) for pair in files]
        # every set's pairs in one ensemble per net: what N * sets pairs say
        pooled = _headline([[pair[0] for pair in files], [pair[1] for pair in files]], d)
        out["depths"][str(d)] = {"sets": sets, "pooled": pooled,
                                 "same_headline": len({s["headline"] for s in sets}) == 1}
        for s in [*sets, pooled]:
            print(f"depth {d}, seeds {s['seeds']}: {s['headline']} {s['parts']} {s['counts']}")
    out["load_end"] = load_average()
    write_json(args.json, out)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--demo", required=True, help="the output folder of `landscape demo`")
    p.add_argument("--work", default="seed-sets", help="folder for the new ensembles")
    p.add_argument("--sets", type=int, default=3, help="seed sets, the demo's included")
    p.add_argument("--processes", type=int, default=2)
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

"""What the per-point block sums cost: the engine with and without them, paired point by point.

    python benchmarks/block_cost.py --model resnet20 --samples 512 --rounds 40 --json out.json

Builds the evaluator `compute_surface` runs (`landscape.engine.plan.build_evaluator`: BN
folded, channels_last, batch 128, eager) twice on the same model, directions and images: once
with the sample blocks (`SampleBlocks`, 32 blocks: what every surface now keeps) and once
without. Each round evaluates one grid point with each, in alternating order, after a warm-up;
the ratio of the two times per round is paired, so a change of the machine's load moves both.
Reports the median and the quartiles of time(with) / time(without) − 1 over the rounds, and
checks that both give the same loss.
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
from record import add_record_options, load_average, run_config, write_json  # noqa: E402

from landscape import create_directions, get_params  # noqa: E402
from landscape.engine.plan import build_evaluator  # noqa: E402
from landscape.engine.sums import SampleBlocks  # noqa: E402
from models import create_model  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"config": run_config(args, torch=torch.__version__,
                                                threads_used=torch.get_num_threads())}
    model = create_model(args.model, width=args.width, seed=args.seed).eval()
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.samples, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.samples,), generator=g)
    base = {k: v.detach() for k, v in get_params(model, "weights").items()}
    static = {k: v for k, v in model.state_dict().items() if k not in base}
    dirs, _ = create_directions(base, ndim=2, seed=args.seed)
    blocks = SampleBlocks.make(args.samples)
    engines = {}
    for name, b in (("with", blocks), ("without", None)):
        engines[name] = build_evaluator(model, base, dirs, static, (x, y), batch_size=128,
                                        blocks=b)
    coords = np.array([[0.3, -0.2]])
    losses = {name: float(ev(coords, data).loss[0]) for name, (ev, data) in engines.items()}
    for _ in range(args.warmup):
        for ev, data in engines.values():
            ev(coords, data)
    ratios, times = [], {"with": [], "without": []}
    for r in range(args.rounds):
        order = ("with", "without") if r % 2 == 0 else ("without", "with")
        spent = {}
        for name in order:
            ev, data = engines[name]
            tick = time.perf_counter()
            ev(coords, data)
            spent[name] = time.perf_counter() - tick
            times[name].append(spent[name])
        ratios.append(spent["with"] / spent["without"] - 1.0)
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    out.update({"losses": losses, "times": times, "cost_per_round": ratios,
                "cost_median": float(median), "cost_quartiles": [float(q1), float(q3)],
                "cost_best": float(min(times["with"]) / min(times["without"]) - 1.0),
                "load_end": load_average()})
    print(f"{args.model}, {args.samples} images, {blocks.count} blocks: the block sums cost "
          f"{100 * median:+.1f}% per point (median of {args.rounds} paired rounds, quartiles "
          f"{100 * q1:+.1f}% and {100 * q3:+.1f}%; best against best "
          f"{100 * out['cost_best']:+.1f}%); losses {losses['with']:.7g} and "
          f"{losses['without']:.7g}")
    write_json(args.json, out)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    add_record_options(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    main()

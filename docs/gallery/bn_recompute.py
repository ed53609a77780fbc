"""The gallery's BN section: eval-mode BN against BN statistics recomputed at every point.

    python docs/gallery/bn_recompute.py demo-out docs/gallery/demo

Takes the ResNet-20 pair's checkpoints a `landscape demo -o demo-out` wrote, computes four
surfaces with the `landscape` command (ResNet and no-skip twin, `--bn eval` and `--bn
recompute`: 11x11 grid over [-1, 1]², 256 training images per point, BN statistics
re-estimated on 512 training images, the same directions seed), draws them side by side on one
colour scale into OUT/bn_recompute.png and prints the table the gallery quotes.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from landscape import load_surface, plot


def main(demo: Path, out: Path) -> None:
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("resnet20", "resnet20-noskip"):
            for bn in ("eval", "recompute"):
                path = Path(tmp) / f"{model}-{bn}.h5"
                subprocess.run(["landscape", "surface", str(demo / model / "final.pt"),
                                "-o", str(path), "--x", "-1:1:11", "--y", "-1:1:11",
                                "--samples", "256", "--seed", "0", "--bn", bn,
                                "--bn-samples", "512"], check=True)
                runs[model, bn] = load_surface(path)
        names = {model: plot.display_name(runs[model, "eval"].meta) for model, _ in runs}
        labels = [f"{names[model]}, BN {'recomputed' if bn == 'recompute' else 'eval'}"
                  for model, bn in runs]
        fig = plot.side_by_side(list(runs.values()), labels, kind="contourf")
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / "bn_recompute.png", dpi=110, bbox_inches="tight")
    print("| | loss at θ*, eval BN | recomputed | largest loss, eval BN | recomputed "
          "| median ratio eval/recomputed |")
    print("|---|---:|---:|---:|---:|---:|")
    for model in sorted({m for m, _ in runs}):
        ev, rec = runs[model, "eval"].loss, runs[model, "recompute"].loss
        centre = tuple(n // 2 for n in ev.shape)
        print(f"| {names[model]} | {ev[centre]:.3g} | {rec[centre]:.3g} | {np.nanmax(ev):,.4g} "
              f"| {np.nanmax(rec):,.4g} | {np.nanmedian(ev / rec):.3g} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))

"""No memory growth per grid point: peak RSS after 200 points is that after 20.

The measurement runs in a fresh subprocess, so nothing else the test session allocated counts.
Within one 200-point surface it reads the peak resident set size (VmHWM) once 20 points are
written and again at the end (and the same for one evaluator over 20, then 200 points). Within
one run, so that objects of an earlier surface the garbage collector has not reached yet (an fx
graph of the folded model is a reference cycle) do not count as growth. The model holds a 4 MB
weight, so keeping one copy of θ (or of its activations) per point would add about 0.8 GB and
fail the test by far.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_CHILD = r"""
import json, sys
import numpy as np
import torch
from torch import nn
from landscape import Axis, Grid, compute_surface, store
from landscape.engine.evaluate import Evaluator, evaluate_points
from landscape.engine.params import get_params
from landscape.engine.directions import create_directions

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
data = (torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))
out = sys.argv[1]

written = {"points": 0}
peaks = {}
write_points = store.write_points

def counting_write(path, split, index, values, **kwargs):
    write_points(path, split, index, values, **kwargs)
    written["points"] += len(index)
    if written["points"] >= 20 and "surface_20" not in peaks:
        peaks["surface_20"] = peak_kib()

store.write_points = counting_write

def surface(nx, ny, path):
    grid = Grid(Axis(-1.0, 1.0, nx), Axis(-1.0, 1.0, ny))
    compute_surface(model, data, grid, seed=0, batch_size=16, device="cpu", progress=False,
                    path=path, overwrite=True)

base = {k: t.detach() for k, t in get_params(model).items()}
dirs, _ = create_directions(base, ndim=2, seed=0)
coords = np.linspace(-1, 1, 400).reshape(200, 2)
# warm-up with the same calls: lazy imports, h5py/HDF5 caches, first-call allocations
surface(2, 2, out + "/warm.h5")
evaluate_points(model, base, dirs, coords[:2], data, batch_size=16)
written["points"] = 0
surface(20, 10, out + "/s200.h5")
after_200 = peak_kib()
evaluator = Evaluator(model, base, dirs, batch_size=16)
evaluator(coords[:20], data)
after_eval_20 = peak_kib()
for start in range(20, 200, 20):
    evaluator(coords[start:start + 20], data)
after_eval_200 = peak_kib()
print(json.dumps({"surface_20": peaks["surface_20"], "surface_200": after_200,
                  "eval_20": after_eval_20, "eval_200": after_eval_200}))
"""


@pytest.mark.slow  # 200 points in a child process
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_rss_does_not_grow_with_the_number_of_points(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    peak = json.loads(run.stdout.strip().splitlines()[-1])
    # "a few percent" of a ~300 MB process, and far below one θ copy (4 MB) per extra point
    for small, large in (("surface_20", "surface_200"), ("eval_20", "eval_200")):
        growth = peak[large] - peak[small]
        assert growth <= 0.03 * peak[small], (
            f"peak RSS grew by {growth} KiB from 20 to 200 points ({peak})")

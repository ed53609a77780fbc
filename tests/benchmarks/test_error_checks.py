"""benchmarks/jackknife_check.py and benchmarks/seed_sets.py run end to end on a tiny demo
folder and report what they promise: the script's own per-sample recomputation equals the
file, every judged metric has a jackknife error, a bootstrap spread and their ratio, and each
seed set gets a headline."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import Axis, Grid, compute_ensemble
from models import create_model
from models.checkpoint import save_checkpoint
from models.data import evaluation_tensors

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its processes (spawned) find their function by this name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A folder laid out as `landscape demo` writes it: one depth, two pairs each."""
    folder = tmp_path / "demo"
    data = evaluation_tensors("embedded", "train", samples=64, seed=0)
    grid = Grid(Axis(-1, 1, 5), Axis(-1, 1, 5))
    for name in ("resnet20", "resnet20-noskip"):
        torch.manual_seed(0)
        model = create_model(name, width=0.125, seed=0)
        save_checkpoint(folder / name / "final.pt", model, meta={"dataset": "embedded"})
        compute_ensemble(model.eval(), data, grid, ensemble=2, path=folder / f"{name}.h5",
                         progress=False, device="cpu",
                         meta={"samples": 64, "data_seed": 0, "dataset": "embedded"})
    return folder


def test_the_jackknife_check_recomputes_the_file_and_reports_every_ratio(demo, tmp_path):
    out = _script("jackknife_check").main(["--demo", str(demo), "--nets", "resnet20",
                                           "--resamples", "30", "--json",
                                           str(tmp_path / "jk.json")])
    (net,) = out["nets"]
    assert net["max_relative_difference_to_file"] < 1e-6  # independent code, same losses
    assert net["blocks"] == 8 and net["resamples"] == 30
    rows = net["metrics"]
    assert "curvature of ln L, λmax" in rows and "basin area (L ≤ 2·L*)" in rows
    for row in rows.values():
        if np.isfinite(row["ratio"]):
            assert row["ratio"] == pytest.approx(row["jackknife"] / row["bootstrap"])
    assert rows["loss at θ*"]["jackknife"] > 0 and rows["loss at θ*"]["bootstrap"] > 0
    saved = json.loads((tmp_path / "jk.json").read_text())
    assert saved["config"]["demo"] == "demo"  # a name, not a path of this machine


@pytest.mark.slow  # two spawned processes compute two more seed sets
def test_seed_sets_judge_each_disjoint_set(demo, tmp_path):
    out = _script("seed_sets").main(["--demo", str(demo), "--work", str(tmp_path / "w"),
                                     "--sets", "2", "--json", str(tmp_path / "s.json")])
    sets = out["depths"]["20"]["sets"]
    assert [s["seeds"] for s in sets] == [[0, 1], [2, 3]]
    assert all(s["headline"] in ("supported", "contradicted", "inconclusive") for s in sets)
    assert out["depths"]["20"]["same_headline"] == (sets[0]["headline"] == sets[1]["headline"])

"""`landscape hessian --spectrum` and `--per-layer` through click's CliRunner on a thin ResNet
(the numbers themselves are checked against dense Hessians in tests/landscape)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from landscape.analysis.spectrum import spectrum_from_record
from models import create_model
from models.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "r20.pt"
    save_checkpoint(path, create_model("resnet20", width=0.25, seed=0),
                    meta={"dataset": "embedded"})
    return path


def test_spectrum_and_per_layer_write_their_files(tmp_path, checkpoint):
    out = tmp_path / "h"
    r = run("hessian", checkpoint, "-o", out, "--samples", "6", "--k", "1", "--iters", "3",
            "--trace-samples", "3", "--spectrum", "--runs", "2", "--steps", "4",
            "--per-layer", "--layer-steps", "2", "--no-progress")
    assert r.exit_code == 0, r.output
    record = json.loads((out / "spectrum.json").read_text())
    assert record["runs"] == 2 and record["steps"] == 4 and len(record["ritz"]) == 2
    assert all(len(run_["nodes"]) == 4 for run_ in record["ritz"])
    grid, density = np.array(record["grid"]), np.array(record["density"])
    assert grid.shape == density.shape and len(grid) >= 1000
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-3)
    # the record holds what made it: the density is recomputed from the Ritz values
    spec = spectrum_from_record(record)
    again = spec.density(sigma=record["sigma"], points=len(grid))
    np.testing.assert_allclose(again[1], density, rtol=1e-9, atol=1e-12)
    assert record["ritz_min"] <= record["ritz_max"]
    for name in ("spectrum.png", "layers.png", "blocks.png"):
        assert (out / name).stat().st_size > 0
    result = json.loads((out / "hessian.json").read_text())
    assert result["spectrum"]["runs"] == 2 and "grid" not in result["spectrum"]
    names = [k for k, _ in create_model("resnet20", width=0.25).named_parameters()]
    layers, blocks, stages = result["layers"], result["blocks"], result["stages"]
    assert [b["name"] for b in blocks][:3] == ["conv1", "bn1", "layer1.0"]
    assert [s["name"] for s in stages] == ["conv1", "bn1", "layer1", "layer2", "layer3",
                                          "linear"]
    # each level covers every parameter once, and its traces (the same probes) add up alike
    for rows in (layers, blocks, stages):
        assert sorted(t for row in rows for t in row["tensors"]) == sorted(names)
        assert sum(row["parameters"] for row in rows) == result["spectrum"]["dimension"]
    totals = [sum(row["trace"] for row in rows) for rows in (layers, blocks, stages)]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-4, atol=1e-6)
    assert all(row["steps"] == 2 and row["probes"] == 3 for row in blocks)


def test_per_layer_needs_trace_probes(tmp_path, checkpoint):
    r = run("hessian", checkpoint, "-o", tmp_path / "h", "--samples", "4", "--per-layer",
            "--trace-samples", "1")
    assert r.exit_code != 0 and "--trace-samples 2 or more" in r.output
    assert not (tmp_path / "h").exists()

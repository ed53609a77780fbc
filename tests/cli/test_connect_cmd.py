"""`landscape connect` through click's CliRunner on two thin ResNets (the numbers are checked in
tests/landscape/test_curves.py; here: files, their contents, resume and refusals)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from landscape.engine.columns import load_columns
from models import create_model
from models.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def ends(tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"seed{seed}.pt"
        save_checkpoint(path, create_model("resnet20", width=0.25, seed=seed),
                        meta={"dataset": "embedded"})
        paths.append(path)
    return paths


def test_connect_writes_the_curve_the_line_and_the_plane(tmp_path, ends):
    out = tmp_path / "c"
    args = ("connect", *ends, "-o", out, "--samples", "24", "--epochs", "2", "--batch-size", "8",
            "--points", "3", "--plane", "3", "--no-progress")
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert "max loss on the curve" in r.output
    bend = torch.load(out / "curve.pt", weights_only=True)
    assert bend["epoch"] == 2 and len(bend["history"]) == 2
    columns, meta = load_columns(out / "curve.h5")
    np.testing.assert_allclose(columns["t"], [0.0, 0.5, 1.0])
    for name in ("curve_loss", "line_loss", "curve_loss_se", "line_acc", "curve_acc_se"):
        assert columns[name].shape == (3,) and np.isfinite(columns[name]).all()
    # the ends are the same two models on both paths
    np.testing.assert_allclose(columns["curve_loss"][[0, -1]], columns["line_loss"][[0, -1]])
    assert meta["bn"] == "recompute" and meta["epochs"] == 2
    summary = json.loads((out / "connect.json").read_text())
    assert summary["curve"]["max_loss"] == pytest.approx(columns["curve_loss"].max())
    plane = load_surface(out / "plane.h5")
    assert plane.loss.shape == (3, 3) and plane.done.all()
    paths = plane.meta["paths"]
    assert set(paths) == {"Bezier curve (trained)", "straight line"}
    np.testing.assert_allclose(paths["Bezier curve (trained)"]["y"], [0.0, 0.5, 0.0])
    assert (out / "curve.png").stat().st_size > 0
    # plot and view draw the plane (with the paths on it)
    assert run("plot", out / "plane.h5", "-o", tmp_path / "figs").exit_code == 0
    r = run("view", out / "plane.h5", "-o", tmp_path / "plane.html")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "plane.html").read_text()
    assert "Bezier curve (trained)" in html and "scatter3d" in html
    # a second run refuses to mix with the first, unless told to resume (nothing left to train)
    again = run(*args)
    assert again.exit_code != 0 and "--resume" in again.output
    resumed = run(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert load_columns(out / "curve.h5")[0]["curve_loss"].tolist() == \
        columns["curve_loss"].tolist()


def test_connect_refuses_two_architectures(tmp_path, ends):
    other = tmp_path / "r32.pt"
    save_checkpoint(other, create_model("resnet32", width=0.25), meta={"dataset": "embedded"})
    r = run("connect", ends[0], other, "-o", tmp_path / "c", "--samples", "8", "--epochs", "1")
    assert r.exit_code != 0
    assert "holds a resnet20" in r.output and "same architecture" in r.output

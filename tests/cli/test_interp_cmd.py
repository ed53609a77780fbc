"""`landscape interp` through click's CliRunner: the trained end, BN statistics extrapolated
below zero, and checkpoints that hold the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from landscape.pictures import plot as pictures
from models import create_model
from models.checkpoint import save_checkpoint

SMALL = ["--samples", "16", "--batch-size", "16"]
pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def pair(tmp_path):
    """A (epoch 0, BN variance 1) and B (epoch 5, BN variance 0.1, other weights)."""
    a = create_model("resnet20", width=0.125, seed=0)
    b = create_model("resnet20", width=0.125, seed=1)
    with torch.no_grad():
        for name, buf in b.named_buffers():
            if name.endswith("running_var"):
                buf.fill_(0.1)
    pa, pb = tmp_path / "epoch_000.pt", tmp_path / "epoch_005.pt"
    save_checkpoint(pa, a, meta={"dataset": "embedded", "epoch": 0})
    save_checkpoint(pb, b, meta={"dataset": "embedded", "epoch": 5})
    return pa, pb


def test_extrapolated_bn_variance_is_clamped_not_diverged(tmp_path, pair):
    out = tmp_path / "line.h5"
    # var(α) = 1 - 0.9 α: negative from α = 1/0.9 on, i.e. at α = 1.5 and 2
    r = run("interp", *pair, "-o", out, "--x", "-0.5:2:6", *SMALL)
    assert r.exit_code == 0, r.output
    assert "at 2 of 6 points an extrapolated BN running variance is negative" in r.output
    s = load_surface(out)
    assert s.done.all() and np.isfinite(s.loss).all()  # clamped: no NaN from sqrt(var < 0)
    lo, hi = s.meta["bn_valid_alpha"]
    assert lo is None and hi == pytest.approx(1 / 0.9)
    assert s.meta["star_alpha"] == 1.0  # B is the later epoch
    ax = pictures.line(s).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "BN variance clamped at 0 (extrapolated < 0)" in labels
    assert "diverged" not in labels
    assert "epoch_005.pt (α = 1), trained" in labels[-1]
    assert ax.get_title().startswith("interpolation ") and "epoch_000.pt → " in ax.get_title()


def test_weights_interpolation_needs_no_clamp(tmp_path, pair):
    out = tmp_path / "w.h5"
    r = run("interp", *pair, "-o", out, "--x", "0:1:3", "--dir-type", "weights", *SMALL)
    assert r.exit_code == 0, r.output
    assert "bn_valid_alpha" not in load_surface(out).meta


def test_interp_of_one_checkpoint_with_itself_is_refused(tmp_path, pair):
    out = tmp_path / "same.h5"
    r = run("interp", pair[0], pair[0], "-o", out)
    assert r.exit_code == 1
    assert "hold the same weights" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("star", [1.0, 0.0, None])
def test_info_names_theta_star_on_a_line_as_the_picture_stars_it(tmp_path, star):
    """θ* on a line through two checkpoints is the trained end (the later epoch), in `info` as
    in `plot`; when no epoch tells, neither end is called θ*."""
    from landscape.engine.store import save_surface
    from landscape.engine.types import Surface

    x = np.linspace(-0.5, 1.5, 5)
    loss = 1.0 + (x - 1.0) ** 2  # 1.0 at α = 1, 2.0 at α = 0
    meta = {"kind": "interpolation", "checkpoint": "runs/epoch_001.pt",
            "checkpoint_b": "runs/final.pt", "star_alpha": star}
    save_surface(tmp_path / "line.h5", Surface(x=x, y=None, loss=loss, accuracy=None,
                                               done=np.ones(5, bool), meta=meta))
    r = run("info", tmp_path / "line.h5")
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.strip().startswith("loss "))
    a = "epoch_001.pt (α = 0) 2"
    b = "final.pt (α = 1) 1"
    if star == 1.0:
        assert f"at θ* = {b}" in row and f"at {a}" in row
    elif star == 0.0:
        assert f"at θ* = {a}" in row and f"at {b}" in row
    else:
        assert "θ* =" not in row and "no end is θ*" in row
    labels = [t.get_text() for t in pictures.line(load_surface(tmp_path / "line.h5"))
              .axes[0].get_legend().get_texts()]
    assert sum(label.endswith(", trained") for label in labels) == (star is not None)
    if star is not None:
        trained = next(label for label in labels if label.endswith(", trained"))
        assert trained == ("runs/final.pt (α = 1), trained" if star == 1.0
                           else "runs/epoch_001.pt (α = 0), trained")

"""Every command on a small language model (gpt-mini's twins, shrunk) through CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface

TOKENS = ["--dataset", "tokens", "--block-size", "8"]


def run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three epochs of each twin on 64 sequences: epoch_000..003.pt and final.pt."""
    root = tmp_path_factory.mktemp("lm")
    from models import create_model
    from models.checkpoint import save_checkpoint
    from models.data import load_dataset
    from models.train import train_model

    for name in ("gpt-mini", "gpt-mini-noskip"):
        net = create_model(name, seed=0, depth=2, width=16, heads=2, block_size=8)
        train_model(net, load_dataset("tokens", n=64, block_size=8), epochs=3, lr=3e-3,
                    optimizer="adamw", batch_size=16, checkpoint_dir=root / name,
                    progress=False, meta={"dataset": "tokens"})
        assert (root / name / "final.pt").exists()
        save_checkpoint  # noqa: B018 - written by train_model
    return root


def test_surface_plot_view_compare(runs, tmp_path):
    files = []
    for name in ("gpt-mini", "gpt-mini-noskip"):
        out = tmp_path / f"{name}.h5"
        r = run("surface", runs / name / "final.pt", "-o", out, "--x", "-1:1:3", "--y",
                "-1:1:3", "--samples", "16", *TOKENS, "--no-progress")
        assert "9 of 9 points computed" in r.output
        s = load_surface(out)
        assert s.meta["model"] == name and s.meta["block_size"] == 8
        assert np.isfinite(s.loss).all() and (s.accuracy >= 0).all() and (s.accuracy <= 100).all()
        files.append(out)
    run("plot", files[0], "-o", tmp_path / "figs")
    assert list((tmp_path / "figs").glob("*.png"))
    run("view", files[0], "-o", tmp_path / "v.html")
    assert (tmp_path / "v.html").stat().st_size > 1000
    run("compare", *files, "-o", tmp_path / "cmp")
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(json.dumps(report)) > 100


def test_interp_plane_and_bf16(runs, tmp_path):
    d = runs / "gpt-mini"
    run("interp", d / "epoch_000.pt", d / "final.pt", "-o", tmp_path / "line.h5", "--x",
        "0:1:3", "--samples", "8", *TOKENS, "--no-progress")
    line = load_surface(tmp_path / "line.h5")
    assert line.loss[-1] < line.loss[0]                         # training lowered the loss
    run("interp", d / "epoch_000.pt", d / "epoch_001.pt", d / "final.pt", "-o",
        tmp_path / "plane.h5", "--x", "0:1:2", "--y", "0:1:2", "--samples", "8", *TOKENS,
        "--no-progress")
    plane = load_surface(tmp_path / "plane.h5")
    assert plane.shape == (2, 2) and np.isclose(plane.loss[0, 1], line.loss[-1])  # C at (0, 1)
    run("surface", d / "final.pt", "-o", tmp_path / "bf.h5", "--x", "-1:1:3", "--samples", "8",
        *TOKENS, "--precision", "bf16", "--no-progress")
    fp32 = tmp_path / "fp.h5"
    run("surface", d / "final.pt", "-o", fp32, "--x", "-1:1:3", "--samples", "8", *TOKENS,
        "--no-progress")
    np.testing.assert_allclose(load_surface(tmp_path / "bf.h5").loss, load_surface(fp32).loss,
                               rtol=0.05)


def test_hessian_with_eigen_map_and_trajectory(runs, tmp_path):
    d = runs / "gpt-mini-noskip"
    run("hessian", d / "final.pt", *TOKENS, "--samples", "8", "--k", "2", "--iters", "6",
        "--trace-samples", "2", "--x", "-1:1:2", "-o", tmp_path / "h", "--no-progress")
    result = json.loads((tmp_path / "h" / "hessian.json").read_text())
    assert result["loss"] == "cross_entropy" and len(result["top_eigenvalues"]) == 2
    assert result["eigen_map_points"] == 2 and (tmp_path / "h" / "eigen_ratio.png").exists()
    run("trajectory", d, *TOKENS, "--samples", "8", "--num", "3", "--no-html", "-o",
        tmp_path / "t")
    traj = json.loads((tmp_path / "t" / "trajectory.json").read_text())
    assert len(traj["coords"]) == 5 and np.isfinite(traj["path_loss"]).all()


def test_train_and_surface_on_nanogpt_files(tmp_path):
    """nanoGPT's layout: train.bin and val.bin of uint16 token ids, written here."""
    stream = np.random.default_rng(0).integers(0, 100, 4000).astype(np.uint16)
    stream.tofile(tmp_path / "train.bin")
    stream[:1000].tofile(tmp_path / "val.bin")
    data = ["--dataset", "nanogpt", "--data-root", tmp_path, "--block-size", "16"]
    run("train", "gpt-mini", "-o", tmp_path / "run", *data, "--samples", "32",
        "--test-samples", "8", "--epochs", "1", "--optimizer", "adamw", "--lr", "1e-3",
        "--batch-size", "16", "--no-progress")
    from models.checkpoint import load_checkpoint

    net, meta = load_checkpoint(tmp_path / "run" / "final.pt")
    assert net.vocab_size == 100 and meta["dataset"] == "nanogpt"   # ids 0..99 in the files
    run("surface", tmp_path / "run" / "final.pt", "-o", tmp_path / "s.h5", "--x", "-1:1:3",
        "--samples", "8", "--split", "test", *data, "--no-progress")
    s = load_surface(tmp_path / "s.h5")
    assert s.meta["dataset"] == "nanogpt" and s.meta["block_size"] == 16
    assert np.isfinite(s.loss).all()
    r = CliRunner().invoke(cli, ["surface", str(tmp_path / "run" / "final.pt"), "-o",
                                 str(tmp_path / "x.h5"), "--block-size", "8"])
    assert r.exit_code == 1 and "holds images" in r.output


def test_token_ids_beyond_the_vocabulary_are_refused_before_the_first_point(tmp_path):
    import torch

    from models import create_model
    from models.checkpoint import save_checkpoint

    net = create_model("gpt-mini", seed=0, depth=1, width=16, heads=2, vocab_size=32)
    save_checkpoint(tmp_path / "g.pt", net)
    r = CliRunner().invoke(cli, ["surface", str(tmp_path / "g.pt"), "-o", str(tmp_path / "s.h5"),
                                 "--x", "-1:1:3", "--samples", "8", *TOKENS])
    assert r.exit_code == 1 and "the model scores 32 tokens (0..31)" in r.output
    assert "vocab_size=" in r.output
    assert not (tmp_path / "s.h5").exists()
    del torch

"""`landscape surface/interp --target-se` and the `_n` line of `landscape info`."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from landscape.engine.spec import SurfaceSpec
from models import create_model
from models.checkpoint import save_checkpoint


@pytest.fixture
def ckpts(tmp_path):
    paths = []
    for seed in range(2):
        torch.manual_seed(seed)
        path = tmp_path / f"m{seed}.pt"
        save_checkpoint(path, create_model("resnet20", width=0.25), meta={"dataset": "embedded"})
        paths.append(str(path))
    return paths


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_surface_target_se_stops_points_and_info_shows_the_counts(tmp_path, ckpts):
    out = tmp_path / "s.h5"
    # 600 samples: a point stops at 512 (the least count) or reads all 600
    r = run("surface", ckpts[0], "-o", out, "--x", "-1:1:3", "--y", "-1:1:2", "--samples", "600",
            "--batch-size", "128", "--target-se", "0.05")
    assert r.exit_code == 0, r.output
    s = load_surface(out)
    n = s.extras["train_loss_n"]
    assert set(np.unique(n)) <= {512.0, 600.0} and (n == 512).any()
    assert SurfaceSpec.from_dict(s.meta["spec"]).target_se == 0.05
    info = run("info", out)
    assert info.exit_code == 0
    assert f"samples/pt  min 512, median {np.median(n):.0f}, max {n.max():.0f} of 600" \
        in info.output

    again = run("surface", ckpts[0], "-o", out, "--x", "-1:1:3", "--y", "-1:1:2", "--samples",
                "600", "--target-se", "0.1", "--resume")
    assert again.exit_code == 1 and "target_se: 0.05 in the file, 0.1 now" in again.output
    bad = run("surface", ckpts[0], "-o", tmp_path / "b.h5", "--target-se", "0")
    assert bad.exit_code == 2 and "--target-se" in bad.output


def test_interp_takes_target_se(tmp_path, ckpts):
    out = tmp_path / "line.h5"
    r = run("interp", ckpts[0], ckpts[1], "-o", out, "--x", "0:1:3", "--samples", "600",
            "--target-se", "0.05")
    assert r.exit_code == 0, r.output
    n = load_surface(out).extras["train_loss_n"]
    assert n.shape == (3,) and set(np.unique(n)) <= {512.0, 600.0}


def test_precision_help_states_the_bf16_error_the_benchmark_measured():
    import json
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    measured = json.loads((results / "2026-12-01-epyc-bf16-2core" / "grid-resnet56.json")
                          .read_text())["agreement"]["ours_bf16_vs_ours"]
    text = " ".join(run("surface", "--help").output.split())
    figure = f"{measured:.1e}".replace("e-0", "e-")  # e.g. 9.6e-3
    assert f"up to 1% ({figure} relative, ResNet-56) against fp32" in text

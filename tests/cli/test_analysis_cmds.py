"""`landscape hessian`, `trajectory`, `responses` and `degradation` through click's CliRunner,
on a tiny ResNet and a handful of samples (the numbers are checked in tests/landscape and
tests/models; here: exit codes, files and their contents)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_directions, load_surface
from models import create_model
from models.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def path_ckpts(tmp_path):
    """A fake training run of a thin ResNet-20: epoch_000..003 drifting along two directions."""
    model = create_model("resnet20", width=0.25, seed=0)
    g = torch.Generator().manual_seed(0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    u = {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in start.items()
         if v.is_floating_point()}
    folder = tmp_path / "run"
    for epoch in range(4):
        t = 1 - epoch / 3
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if k in u:
                    v.copy_(start[k] + t * u[k] + (t * t - t) * u[k].flip(-1))
        save_checkpoint(folder / f"epoch_{epoch:03d}.pt", model,
                        meta={"dataset": "embedded", "epoch": epoch})
    return folder


def test_hessian_writes_spectrum_and_an_eigen_map(tmp_path, path_ckpts):
    out = tmp_path / "h"
    r = run("hessian", path_ckpts / "epoch_003.pt", "-o", out, "--samples", "4", "--k", "2",
            "--iters", "3", "--tol", "0.1", "--trace-samples", "2", "--x", "-0.1:0.1:2",
            "--save-directions")
    assert r.exit_code == 0, r.output
    result = json.loads((out / "hessian.json").read_text())
    assert len(result["top_eigenvalues"]) == 2
    assert result["top_eigenvalues"][0] >= result["min_eigenvalue"]
    assert "trace" in result
    s = load_surface(out / "eigen.h5")
    assert s.done.all() and np.all(s.extras["eig_done"] == 1.0)
    # three Lanczos steps cannot meet the tolerance: every point says so, and so does the run
    assert np.all(s.extras["eig_converged"] == 0.0)
    assert result["eigen_map_points"] == 2 and result["eigen_map_not_converged"] == 2
    assert "Lanczos did not converge at 2 of 2 grid points" in r.output
    assert np.isfinite(s.extras["max_eig"]).all() and np.isfinite(s.extras["min_eig"]).all()
    assert (out / "eigen_ratio.png").stat().st_size > 0
    dirs = load_directions(out / "hessian_directions.h5")  # usable by `surface --directions`
    assert len(dirs) == 2
    flat = torch.cat([t.flatten() for t in dirs[0].values()])
    assert float(flat.norm()) == pytest.approx(1.0, rel=1e-5)
    again = run("hessian", path_ckpts / "epoch_003.pt", "-o", out, "--samples", "4", "--k", "1",
                "--iters", "1", "--trace-samples", "0", "--x", "-0.1:0.1:2")
    assert again.exit_code != 0 and "--resume" in again.output


def test_trajectory_draws_the_path_on_its_pca_plane(tmp_path, path_ckpts):
    out = tmp_path / "t"
    r = run("trajectory", path_ckpts, "-o", out, "--samples", "4", "--num", "3", "--no-html")
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "trajectory.json").read_text())
    assert len(summary["coords"]) == 4 and summary["labels"] == ["0", "1", "2", "3"]
    assert np.allclose(summary["coords"][-1], [0.0, 0.0])
    assert 0.0 < sum(summary["explained_variance"]) <= 1.0 + 1e-9
    s = load_surface(out / "trajectory.h5")
    assert s.shape == (3, 3) and s.done.all()
    assert (out / "trajectory.png").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == ["trajectory.h5", "trajectory.json",
                                                     "trajectory.png"]  # no temporary left
    assert "pt/s" in r.output  # its bar, as the other commands show theirs
    again = run("trajectory", path_ckpts, "-o", out, "--samples", "4", "--num", "3", "--no-html")
    assert again.exit_code == 1 and "--overwrite" in again.output  # an earlier run stays
    quiet = run("trajectory", path_ckpts, "-o", out, "--samples", "4", "--num", "3", "--no-html",
                "--overwrite", "--no-progress")
    assert quiet.exit_code == 0, quiet.output
    assert "pt/s" not in quiet.output and "it/s" not in quiet.output


def test_trajectory_labels_a_path_by_file_name_when_epochs_are_missing(tmp_path, path_ckpts):
    """Labels from file names stay as written: `$..$` is not read as (broken) mathtext."""
    folder = tmp_path / "named"
    folder.mkdir()
    names = [f"e{i}$\\frac{{$" for i in range(4)]  # matplotlib's mathtext cannot parse this
    for name, f in zip(names, sorted(path_ckpts.glob("epoch_*.pt")), strict=True):
        blob = torch.load(f, weights_only=True)
        blob["meta"]["epoch"] = None
        torch.save(blob, folder / f"{name}.pt")
    r = run("trajectory", *[folder / f"{n}.pt" for n in names], "-o", tmp_path / "t",
            "--samples", "4", "--num", "3")
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "t" / "trajectory.json").read_text())
    assert summary["labels"] == names
    assert (tmp_path / "t" / "trajectory.png").stat().st_size > 0


def test_responses_compares_plain_and_residual(tmp_path):
    paths = []
    for name in ("resnet20-noskip", "resnet20"):
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, create_model(name, width=0.25, seed=0))
        paths.append(path)
    out = tmp_path / "r"
    r = run("responses", *paths, "-o", out, "--samples", "8")
    assert r.exit_code == 0, r.output
    result = json.loads((out / "responses.json").read_text())
    assert list(result["responses"]) == ["plain-20", "resnet-20"]
    assert all(len(v) == 19 for v in result["responses"].values())
    assert (out / "responses.png").stat().st_size > 0
    # a second run neither mixes with nor silently replaces the first one's results
    again = run("responses", paths[1], "-o", out, "--samples", "8")
    assert again.exit_code == 1 and "pass --overwrite" in again.output
    assert list(json.loads((out / "responses.json").read_text())["responses"]) == [
        "plain-20", "resnet-20"]
    again = run("responses", paths[1], "-o", out, "--samples", "8", "--overwrite")
    assert again.exit_code == 0, again.output
    assert list(json.loads((out / "responses.json").read_text())["responses"]) == ["resnet-20"]
    assert sorted(p.name for p in out.iterdir()) == ["responses.json", "responses.png"]


def test_degradation_trains_both_kinds_and_writes_curves(tmp_path):
    out = tmp_path / "d"
    r = run("degradation", "--depths", "8", "--width", "0.25", "--epochs", "1", "--samples",
            "32", "--test-samples", "16", "--batch-size", "16", "-o", out)
    assert r.exit_code == 0, r.output
    result = json.loads((out / "degradation.json").read_text())
    assert set(result["runs"]) == {"plain-8", "resnet-8"}
    for run_ in result["runs"].values():
        assert len(run_["train_error"]) == 1 and 0 <= run_["train_error"][0] <= 100
    assert (out / "degradation.png").stat().st_size > 0
    bad = run("degradation", "--depths", "7", "-o", out)
    assert bad.exit_code != 0 and "6n + 2" in bad.output

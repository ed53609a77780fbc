"""`landscape surface`, `interp` and `info` through click's CliRunner."""

import json
from contextlib import nullcontext

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from models import create_model
from models.checkpoint import save_checkpoint
from tests.paths import REFERENCE

SMALL = ["--samples", "24", "--batch-size", "16"]


@pytest.fixture
def ckpts(tmp_path):
    paths = []
    for seed in range(3):
        import torch

        torch.manual_seed(seed)
        model = create_model("resnet20", width=0.25)
        path = tmp_path / f"m{seed}.pt"
        save_checkpoint(path, model, meta={"dataset": "embedded", "epoch": seed})
        paths.append(str(path))
    return paths


def _cpu_bf16() -> bool:
    import torch

    from landscape.engine.evaluate import low_precision_supported

    return low_precision_supported(torch.device("cpu"), torch.bfloat16)


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_surface_writes_a_2d_file_with_provenance(tmp_path, ckpts):
    out = tmp_path / "s.h5"
    r = run("surface", ckpts[0], "-o", out, "--x", "-1:1:3", "--y", "-0.5:0.5:2", "--seed", "4",
            *SMALL)
    assert r.exit_code == 0, r.output
    assert "6 of 6 points computed" in r.output
    s = load_surface(out)
    assert s.shape == (3, 2) and s.done.all() and np.isfinite(s.loss).all()
    assert s.meta["model"] == "resnet20" and s.meta["skip"] is True
    assert s.meta["seed"] == 4 and s.meta["samples"] == 24 and s.meta["dataset"] == "embedded"
    assert s.meta["checkpoint"].endswith("m0.pt") and len(s.meta["checkpoint_sha256"]) == 64
    with h5py.File(out) as f:
        assert "conv1.weight" in f["directions/x"] or any("conv" in k for k in f["directions/x"])

    info = run("info", out)
    assert info.exit_code == 0 and "6 of 6 points" in info.output and "resnet20" in info.output

    again = run("surface", ckpts[0], "-o", out, "--x", "-1:1:3", *SMALL)
    assert again.exit_code != 0 and "--overwrite" in again.output

    # the same directions reused from the file give the same values
    out2 = tmp_path / "s2.h5"
    r = run("surface", ckpts[0], "-o", out2, "--x", "-1:1:3", "--y", "-0.5:0.5:2",
            "--directions", out, *SMALL)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(load_surface(out2).loss, s.loss, rtol=1e-6)

    # the speed options: real bf16 (emulated on most CPUs, with a warning), no compile
    out3 = tmp_path / "s3.h5"
    with pytest.warns(UserWarning, match="no native bf16") if not _cpu_bf16() else nullcontext():
        r = run("surface", ckpts[0], "-o", out3, "--x", "-1:1:3", "--y", "-0.5:0.5:2",
                "--directions", out, "--precision", "bf16", "--no-compile", *SMALL)
    assert r.exit_code == 0, r.output
    low = load_surface(out3)
    assert low.meta["precision"] == "bf16"
    np.testing.assert_allclose(low.loss, s.loss, rtol=3e-2)


@pytest.mark.parametrize("args, message", [
    (["--x", "-1:1:0"], "a grid needs points"),
    (["--x", "1:-1:3"], "min < max"),
    (["--norm", "filterwise"], "filterwise"),
])
def test_bad_options_fail_without_writing(tmp_path, ckpts, args, message):
    out = tmp_path / "s.h5"
    r = run("surface", ckpts[0], "-o", out, *args, *SMALL)
    assert r.exit_code != 0 and message in r.output
    assert not out.exists()


def test_checkpoint_that_does_not_fit_and_missing_data(tmp_path, ckpts):
    out = tmp_path / "s.h5"
    r = run("surface", ckpts[0], "-o", out, "--model", "resnet56", *SMALL)
    assert r.exit_code != 0 and "missing keys" in r.output and not out.exists()
    r = run("surface", ckpts[0], "-o", out, "--dataset", "cifar10", "--data-root",
            tmp_path / "nowhere", *SMALL)
    assert r.exit_code != 0 and "--download" in r.output and not out.exists()
    r = run("surface", ckpts[0], "-o", out, "--directions", REFERENCE / "directions_2d.h5",
            "--y", "-1:1:2", *SMALL)
    assert r.exit_code != 0 and "another model" in r.output and not out.exists()


def test_reference_checkpoint_and_directions(tmp_path):
    out = tmp_path / "r.h5"
    r = run("surface", REFERENCE / "model_1.t7", "--model", "resnet20", "-o", out,
            "--directions", REFERENCE / "directions_2d.h5", "--x", "-1:1:3", "--y", "-1:1:3",
            *SMALL)
    assert r.exit_code == 0, r.output
    assert load_surface(out).done.all()


def test_interp_line_and_plane(tmp_path, ckpts):
    line = tmp_path / "line.h5"
    r = run("interp", ckpts[0], ckpts[1], "-o", line, "--x", "-0.5:1.5:5", *SMALL)
    assert r.exit_code == 0, r.output
    s = load_surface(line)
    assert s.y is None and s.shape == (5,) and s.meta["kind"] == "interpolation"
    # α = 0 and α = 1 are the two checkpoints themselves
    ends = tmp_path / "ends.h5"
    for i, ck in enumerate(ckpts[:2]):
        r = run("surface", ck, "-o", ends, "--x", "0:0:1", "--overwrite", *SMALL)
        assert r.exit_code == 0, r.output
        assert load_surface(ends).loss[0] == pytest.approx(s.loss[1 + 2 * i], rel=1e-5)
    plane = tmp_path / "plane.h5"
    r = run("interp", ckpts[0], ckpts[1], ckpts[2], "-o", plane, "--x", "0:1:2", "--y", "0:1:2",
            *SMALL)
    assert r.exit_code == 0, r.output
    assert load_surface(plane).shape == (2, 2)


def test_info_reads_reference_files():
    r = run("info", REFERENCE / "surf_partial_3x3.h5")
    assert r.exit_code == 0 and "5 of 9 points" in r.output and "reference" in r.output


def test_refine_and_bn_recompute_options(tmp_path, ckpts):
    out = tmp_path / "r.h5"
    r = run("surface", ckpts[0], "-o", out, "--x", "-1:1:9", "--refine", "100", *SMALL)
    assert r.exit_code == 0, r.output
    s = load_surface(out)
    assert "filled by interpolation" in r.output and s.filled.any() and not s.done.all()
    assert np.isfinite(s.values("loss")).all()
    out = tmp_path / "bn.h5"
    r = run("surface", ckpts[0], "-o", out, "--x", "0:0:1", "--bn", "recompute",
            "--bn-samples", "32", *SMALL)
    assert r.exit_code == 0, r.output
    assert load_surface(out).meta["bn"] == "recompute"


def test_no_progress_silences_the_bar_of_surface_interp_and_hessian(tmp_path, ckpts):
    commands = {
        "surface": ["surface", ckpts[0], "--x", "-1:1:3", *SMALL],
        "interp": ["interp", ckpts[0], ckpts[1], "--x", "0:1:3", *SMALL],
        "hessian": ["hessian", ckpts[0], "--samples", "16", "--k", "1", "--iters", "3",
                    "--trace-samples", "0", "--x", "-0.5:0.5:3"],
    }
    for name, args in commands.items():
        out = tmp_path / name / ("out" if name == "hessian" else "s.h5")
        shown = run(*args, "-o", out)
        assert shown.exit_code == 0, shown.output
        assert "it/s" in shown.output or "pt/s" in shown.output or "step/s" in shown.output
        quiet = run(*args, "-o", tmp_path / "quiet" / out.relative_to(tmp_path), "--no-progress")
        assert quiet.exit_code == 0, quiet.output
        assert not any(unit in quiet.output for unit in ("it/s", "pt/s", "step/s")), quiet.output


def test_reference_files_on_cifar10_say_once_which_normalization_is_used(tmp_path):
    """The 2018 code normalizes CIFAR-10 with its own constants; a run on its checkpoint or its
    direction file with the default constants says so once, and not when the user chose."""
    from tests.models.fakes import write_fake_cifar

    write_fake_cifar(tmp_path / "data", per_file=4)
    common = ["--model", "resnet20", "--x", "0:1:2", "--dataset", "cifar10", "--data-root",
              tmp_path / "data", "--split", "test", "--batch-size", "4"]
    r = run("surface", REFERENCE / "model_1.t7", "-o", tmp_path / "a.h5", *common,
            "--directions", REFERENCE / "directions_2d.h5")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("--normalize reference") == 1
    assert "the checkpoint model_1.t7 and the direction file directions_2d.h5 come" in r.stderr
    for chosen in ("reference", "torchvision"):
        r = run("surface", REFERENCE / "model_1.t7", "-o", tmp_path / f"{chosen}.h5", *common,
                "--normalize", chosen)
        assert r.exit_code == 0, r.output
        assert "2018 reference code" not in r.stderr
    r = run("interp", REFERENCE / "model_1.t7", REFERENCE / "model_1.t7", "-o",
            tmp_path / "line.h5", *common)  # refused (same weights), after the note
    assert r.stderr.count("the checkpoint model_1.t7 and the checkpoint model_1.t7") == 1


def test_an_ensemble_through_surface_info_plot_view_and_compare(tmp_path, ckpts):
    out = tmp_path / "e.h5"
    grid = ["--x", "-1:1:5", "--y", "-1:1:5"]
    r = run("surface", ckpts[0], "-o", str(out), *grid, *SMALL, "--ensemble", "3", "--seed", "4",
            "--no-progress")
    assert r.exit_code == 0, r.output
    assert "an ensemble of 3 direction pairs (seeds 4..6), the first at the root" in r.output
    again = run("surface", ckpts[0], "-o", str(out), *grid, *SMALL, "--ensemble", "3",
                "--resume", "--no-progress")
    assert again.exit_code == 0, again.output  # all done: nothing to compute
    other = run("surface", ckpts[0], "-o", str(out), *grid, *SMALL, "--resume", "--no-progress")
    assert other.exit_code != 0 and "ensemble: 3 in the file, None now" in other.output
    given = run("surface", ckpts[0], "-o", str(tmp_path / "g.h5"), *grid, *SMALL, "--ensemble",
                "2", "--directions", str(out))
    assert given.exit_code == 2 and "leave --ensemble out" in given.output

    info = run("info", str(out))
    assert info.exit_code == 0, info.output
    assert "ensemble    3 direction pairs, 3 begun (seeds 4, 5, 6; points done 25/25, " \
           "25/25, 25/25)" in info.output

    pics = run("plot", str(out), "-o", str(tmp_path / "p"), "--kind", "contour", "--pair", "2")
    assert pics.exit_code == 0, pics.output
    assert list((tmp_path / "p").glob("e_pair2_contour*.png"))
    bad = run("plot", str(out), "-o", str(tmp_path / "q"), "--pair", "3")
    assert bad.exit_code == 2 and "holds 3 direction pair(s), 0..2; got 3" in bad.output

    page = run("view", str(out), "-o", str(tmp_path / "v.html"))
    assert page.exit_code == 0, page.output
    html = (tmp_path / "v.html").read_text(encoding="utf-8")
    assert "direction pair 3 of 3, seed 6" in html

    plain = tmp_path / "plain.h5"
    assert run("surface", ckpts[1], "-o", str(plain), *grid, *SMALL, "--ensemble", "3",
               "--no-progress").exit_code == 0
    cmp = run("compare", str(out), str(plain), "-o", str(tmp_path / "cmp"), "--labels", "a,b",
              "--radii", "0.5")
    assert cmp.exit_code == 0, cmp.output
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text(encoding="utf-8"))
    assert data["settings"]["directions"] == 3 and data["settings"]["se_method"] == "jackknife"
    loss = data["summaries"]["a"]["metrics"]["loss at θ*"]
    first = load_surface(out)
    assert loss["n"] == 3 and loss["sd"] == 0.0  # θ* is one point, whatever the directions
    assert loss["value"] == pytest.approx(first.loss[2, 2])
    sharp = data["summaries"]["a"]["metrics"]["sharpness r=0.5 (decades)"]
    assert sharp["n"] == 3 and sharp["sd"] > 0 and sharp["error"] > sharp["se"]
    page = (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")
    assert "direction pair 3 of 3" in page  # the comparison's page shows every pair too

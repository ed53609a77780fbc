"""Options that would allocate without bound, resumes that would mix two runs, and messages
that did not say what is wrong: each refused in one line, before the work it would spoil.

Nothing here allocates what it asks for: the memory available is made small where a bound
depends on it, and the refusal comes before the allocation (the functions that would
allocate are checked not to have run).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import landscape.engine.placement
import toolkit
from landscape.engine.store import save_surface
from landscape.engine.types import Surface
from models import create_model
from models.checkpoint import save_checkpoint
from tests.cli.test_bad_inputs import GRID, Workspace
from tests.models.fakes import write_fake_cifar

pytestmark = pytest.mark.usefixtures("one_thread", "memory_ceiling")

GIB = 2**30


@pytest.fixture
def small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 GiB of memory available to grids, passes, Lanczos bases and models."""
    monkeypatch.setattr(landscape.engine.placement, "available_memory", lambda: GIB)
    monkeypatch.setattr(toolkit, "available_memory", lambda: GIB)


# ---------------------------------------------------------------- options that allocate

OPTIONS = [  # (what, arguments, fragment, exit code, the data may be built first)
    ("interp --x of 1e9 points", ["interp", "good.pt", "b.pt", "-o", "i.h5", "--x",
                                  "-1:1:1000000000"],
     "a grid of 1,000,000,000 points needs about", 1, False),
    ("hessian grid of 1e10 points", ["hessian", "good.pt", "-o", "h", "--x", "-1:1:100000",
                                     "--y", "-1:1:100000"],
     "a grid of 10,000,000,000 points", 1, False),
    ("surface --batch-size", ["surface", "good.pt", "-o", "o.h5", *GRID, "--samples", "5000",
                              "--batch-size", "100000", "--points-per-batch", "9"],
     "a forward pass of 5,000 images at 9 grid point(s) needs about 1.0 GB, and 1.0 GB of "
     "memory is available: pass a smaller --batch-size or --points-per-batch", 1, True),
    ("plot --dpi", ["plot", "s.h5", "--dpi", "10000"], "10000 is not in the range 20<=x<=1200",
     2, False),
    ("plot --levels", ["plot", "s.h5", "--levels", "1000000000"],
     "1,000,000,000 levels: a contour plot takes 1 to 1000", 2, False),
    ("compare --levels", ["compare", "s.h5", "s.h5", "--levels", "0"],
     "0 levels: a contour plot takes 1 to 1000", 2, False),
    ("train --width 1000", ["train", "resnet20", "-o", "t", "--width", "1000"],
     "'resnet20' has 269,828,208,031 weights (1,005.19 GB); training holds about 4 copies", 1,
     False),
    ("train --num-classes 1e40", ["train", "resnet20", "-o", "t", "--num-classes", "1" + "0" * 40],
     "cannot be built: its tensor sizes overflow", 1, False),
    ("train --width 1e9", ["train", "resnet20", "-o", "t", "--width", "1e9"],
     "cannot be built: its tensor sizes overflow", 1, False),
    ("train wrn100000004-1", ["train", "wrn100000004-1", "-o", "t"],
     "CIFAR ResNet depth 100,000,004 is more than the 2,000 layers built here", 1, False),
    ("degradation --depths 6000002", ["degradation", "-o", "d", "--depths", "20,6000002"],
     "depth 6,000,002 is more than the 2,000 layers built here", 2, False),
]


@pytest.mark.parametrize(("what", "args", "fragment", "code", "data_first"), OPTIONS,
                         ids=[case[0] for case in OPTIONS])
@pytest.mark.usefixtures("small_memory")
def test_an_option_that_would_allocate_is_refused(ws: Workspace, what: str, args: list[str],
                                                  fragment: str, code: int,
                                                  data_first: bool) -> None:
    ws.checkpoint()
    ws.checkpoint("b.pt", seed=1)
    _surface(ws, "s.h5")
    ws.refused(args, fragment, codes=(code,), data_built=data_first)


def test_hessian_iters_are_bounded_before_the_basis_is_allocated(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolkit, "available_memory", lambda: 2**20)
    ws.checkpoint()
    for iters in ("20000", "1000000"):  # a basis of min(iters, weights) vectors
        ws.refused(["hessian", "good.pt", "-o", "h", "--samples", "8", "--iters", iters],
                   "4,556 Lanczos steps keep as many vectors of 4,556 weights (79.2 MB), and "
                   "1.0 MB of memory is available: pass fewer --iters (at most about 28 here",
                   codes=(1,), data_built=True)


def test_more_points_per_pass_than_points_is_what_there_is(ws: Workspace) -> None:
    import h5py

    ws.checkpoint()
    result = ws.run(["surface", "good.pt", "-o", "s.h5", "--x", "-1:1:3", "--samples", "8",
                     "--points-per-batch", "100000", "--no-progress"])
    assert result.exit_code == 0, result.output
    with h5py.File(ws.path / "s.h5") as f:
        assert f.attrs["points_per_batch"] == 3


# ---------------------------------------------------------------- files that cannot be built

def test_a_recorded_size_that_overflows_is_named(ws: Workspace) -> None:
    save_checkpoint(ws.path / "huge.pt", create_model("resnet20", width=0.125),
                    meta={"arch_kwargs": {"width": 0.125, "num_classes": 10**400}})
    line = ws.refused(["surface", "huge.pt", "-o", "s.h5", *GRID], "cannot be built (its "
                      "sizes overflow); the file is damaged or was edited", codes=(1,))
    assert "frame #" not in line and len(line) < 600


def test_a_recorded_torchvision_keyword_it_cannot_build_is_named(ws: Workspace) -> None:
    net = create_model("torchvision:resnet18", num_classes=10)
    save_checkpoint(ws.path / "tv.pt", net,
                    meta={"arch_kwargs": {"num_classes": 10, "width_per_group": 10**9}})
    ws.refused(["surface", "tv.pt", "-o", "s.h5", *GRID], "the model its metadata records "
               "('torchvision:resnet18' with num_classes=10, width_per_group=1000000000) cannot "
               "be built (BasicBlock only supports groups=1 and base_width=64)", codes=(1,))


def test_a_cifar_batch_without_its_arrays_is_named(ws: Workspace) -> None:
    write_fake_cifar(ws.path / "fake", "cifar10", per_file=4)
    with open(ws.path / "fake/cifar-10-batches-py/data_batch_1", "wb") as f:
        pickle.dump({"labels": [0, 1]}, f)
    ws.checkpoint()
    ws.refused(["surface", "good.pt", "-o", "s.h5", *GRID, "--dataset", "cifar10",
                "--data-root", "fake"], "data_batch_1 is not a CIFAR batch file: it has no "
               "'data' entry (it has: 'labels'). Replace it with the original", codes=(1,))


# ---------------------------------------------------------------- hessian's options

HESSIAN = [  # (arguments after `hessian good.pt -o h`, fragment)
    (["--y", "-1:1:3"], "--y is the second axis of the eigenvalue map; give --x too"),
    (["--trace-samples", "-1"], "'--trace-samples': -1 is not in the range x>=0"),
    (["--samples", "0"], "'--samples': 0 is not in the range x>=1"),
    (["--samples", "99999999"], "pass --samples 50000 or fewer"),
    (["--k", "0"], "'--k': 0 is not in the range x>=1"),
    (["--batch-size", "0"], "'--batch-size': 0 is not in the range x>=1"),
    (["--iters", "0"], "'--iters': 0 is not in the range x>=1"),
    (["--tol", "-1"], "'--tol': -1.0 is not in the range x>0"),
    (["--dataset", "mnist"], "'mnist' is not one of"),
    (["--x", "1:1:5"], "'--x': Axis needs min < max"),
]


@pytest.mark.parametrize(("args", "fragment"), HESSIAN, ids=[" ".join(a) for a, _ in HESSIAN])
def test_hessian_options_are_checked_as_surface_does(ws: Workspace, args: list[str],
                                                     fragment: str) -> None:
    ws.checkpoint()
    ws.refused(["hessian", "good.pt", "-o", "h", *args], fragment, codes=(2,))


# ---------------------------------------------------------------- resumes never mix

def test_the_eigen_map_resumes_only_with_its_budget(ws: Workspace) -> None:
    ws.checkpoint()
    args = ["hessian", "good.pt", "-o", "h", "--samples", "8", "--k", "1", "--trace-samples",
            "0", "--x", "-1:1:2", "--no-progress"]
    result = ws.run([*args, "--iters", "4", "--tol", "0.1"])
    assert result.exit_code == 0, result.output
    before = (ws.path / "h/eigen.h5").read_bytes()
    for change, named in ((["--iters", "5", "--tol", "0.1"], "eig_iters 4 in the file, 5 now"),
                          (["--iters", "4", "--tol", "0.2"], "eig_tol 0.1 in the file, 0.2 now")):
        ws.refused([*args, *change, "--resume"], f"its values were computed with another "
                   f"Lanczos budget ({named})", codes=(1,), data_built=True)
    assert (ws.path / "h/eigen.h5").read_bytes() == before


def test_a_surface_resumes_only_on_its_own_grid(ws: Workspace) -> None:
    ws.checkpoint()
    args = ["surface", "good.pt", "-o", "s.h5", "--samples", "8", "--no-progress"]
    assert ws.run([*args, "--x", "-1:1:3"]).exit_code == 0
    before = (ws.path / "s.h5").read_bytes()
    ws.refused([*args, "--x", "-1.000001:1.000001:3", "--resume"],
               "it holds another grid (x -1:1:3, y none in the file; x -1.000001:1.000001:3, "
               "y none now)", codes=(1,), data_built=True)
    assert (ws.path / "s.h5").read_bytes() == before


def _surface(ws: Workspace, name: str, done: bool = True) -> str:
    x = y = np.linspace(-1, 1, 3)
    loss = np.add.outer(x ** 2, y ** 2) + 1
    save_surface(ws.path / name, Surface(x=x, y=y, loss=loss, accuracy=100 - loss,
                                         done=np.full((3, 3), done),
                                         meta={"model": "resnet20"}),
                 directions=[{"a.weight": torch.ones(2)}, {"a.weight": torch.zeros(2)}])
    return name


def test_compare_refuses_a_file_with_no_computed_point(ws: Workspace) -> None:
    _surface(ws, "a.h5")
    _surface(ws, "empty.h5", done=False)
    ws.refused(["compare", "a.h5", "empty.h5", "-o", "cmp"], "empty.h5 has no computed point "
               "(0 of 9): nothing to draw or compare; finish it first", codes=(1,))


# ---------------------------------------------------------------- the demo

@pytest.mark.parametrize(("args", "fragment"), [
    (["--eval-samples", "1000000000"], "'--eval-samples': 1,000,000,000 is more than the "
                                       "50,000 train images of the embedded data set"),
    (["--train-samples", "60000"], "'--train-samples': 60,000 is more than the 50,000"),
    (["--grid", "100001"], "'--grid': a grid of 10,000,200,001 points needs about"),
])
def test_demo_checks_every_option_before_training(ws: Workspace, args: list[str],
                                                  fragment: str) -> None:
    ws.refused(["demo", "-o", "d", *args], fragment, codes=(2,))


def test_a_demo_refusal_is_one_line_that_fits_the_demo(ws: Workspace, capfd) -> None:  # noqa: ANN001
    from cli.demo_cmd import demo

    depth = next(p.default for p in demo.params if p.name == "depth")
    for name in (f"resnet{depth}", f"resnet{depth}-noskip"):
        ws.checkpoint(f"d/{name}/final.pt", meta={"arch": "os:system", "arch_kwargs": {}})
    result = ws.run(["demo", "-o", "d", "--resume"])
    assert result.exit_code == 1
    printed = result.output + "".join(capfd.readouterr())  # the processes' own stderr too
    assert [ln for ln in printed.splitlines() if ln.strip()] == [
        ln for ln in printed.splitlines() if ln.startswith("Error: ")], printed
    assert f"the demo cannot reuse it: delete d/resnet{depth}" in printed
    assert "--model" not in printed and "--resume" not in printed
    assert "Exception ignored" not in printed and "Traceback" not in printed


# ---------------------------------------------------------------- warnings that leak

def test_known_warnings_are_said_once_under_verbose(caplog) -> None:  # noqa: ANN001
    import logging
    import warnings

    from cli.main import _known_warnings_logged

    shown: list[str] = []
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *a, **k: shown.append(str(message))
        with _known_warnings_logged(), caplog.at_level(logging.INFO, logger="landscape"):
            for _ in range(3):
                warnings.warn("There is a performance drop because we have not yet "
                              "implemented the batching rule for aten::as_strided_.",
                              UserWarning, stacklevel=1)
            warnings.warn("Glyph 19990 (\\N{CJK UNIFIED IDEOGRAPH-4E16}) missing from font(s) "
                          "DejaVu Sans.", UserWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert shown == ["something else"]
    notes = [r.getMessage() for r in caplog.records if r.name == "landscape"]
    assert len(notes) == 2 and "values are right, only slower" in notes[0]
    assert "they show as boxes" in notes[1]


@pytest.mark.slow  # a process of its own: pytest records warnings, a user sees them printed
def test_a_batched_surface_prints_no_torch_warning(ws: Workspace) -> None:
    import os
    import subprocess
    import sys

    ws.checkpoint()
    args = [sys.executable, "-m", "cli", "surface", "good.pt", "-o", "s.h5", "--x", "-1:1:3",
            "--samples", "8", "--points-per-batch", "3", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "OMP_NUM_THREADS": "1"}
    quiet = subprocess.run(args, cwd=ws.path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert "performance drop" not in quiet.stderr and "Warning" not in quiet.stderr
    loud = subprocess.run([*args[:3], "-v", *args[3:5], "-o", "t.h5", *args[7:]], cwd=ws.path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.count("note: torch evaluates some layers") == 1, loud.stderr

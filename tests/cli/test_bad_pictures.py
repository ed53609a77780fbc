"""What users get wrong, or what wrong data looks like, through the CLI: exit code, one clear
line, no traceback, and nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape.engine.store import save_surface
from landscape.engine.types import Surface
from models import create_model
from models.checkpoint import save_checkpoint

NASTY = r"$\frac{a_b^$ \x <b>bold</b> _under_ a|b"


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(r, *words: str) -> None:
    assert r.exit_code in (1, 2), r.output  # 2: refused while parsing the options
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1, r.output  # with exit code 2, click's usage lines come first
    for word in words:
        assert word in lines[0], lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def plane_file(path: Path, n: int = 9, span: float = 1.0, **meta) -> Path:
    x = np.linspace(-span, span, n)
    a, b = np.meshgrid(x, x, indexing="ij")
    loss = 0.1 * 10 ** (3 * (a ** 2 + b ** 2))  # three decades: drawn on a log scale
    s = Surface(x=x, y=x, loss=loss, accuracy=100 - loss / loss.max() * 90,
                done=np.ones(loss.shape, bool),
                meta={"model": "resnet20", "skip": True, "split": "train", **meta},
                extras={"train_loss_se": 0.05 * loss})
    save_surface(path, s)
    return path


# --------------------------------------------------------------------------- names that break

def test_mathtext_in_a_model_name_and_labels_draws(tmp_path):
    src = plane_file(tmp_path / "r$1_^.h5", model=NASTY)
    r = run("plot", src, "-o", tmp_path / "figs", "--dpi", "40")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "figs").glob("*.png"))) == 5  # 4 kinds and the error map
    other = plane_file(tmp_path / "b.h5", skip=False)
    out = tmp_path / "cmp"
    r = run("compare", src, other, "-o", out, "--labels", f"{NASTY},x\x1b[31m")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output  # no terminal control sequence gets through
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert "<b>" not in md and "\x1b" not in md and "&lt;b&gt;bold&lt;/b&gt;" in md
    assert r"\_under\_" in md and r"a\|b" in md
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;" in html and "&#36;\\\\frac" in html
    assert json.loads((out / "compare.json").read_text())["labels"][1] == r"x\x1b[31m"


# --------------------------------------------------------------------------- grids that differ

def test_compare_and_view_on_different_grids_use_the_common_points(tmp_path):
    fine = plane_file(tmp_path / "fine.h5", n=9)
    coarse = plane_file(tmp_path / "coarse.h5", n=5, skip=False)
    r = run("compare", fine, coarse, "-o", tmp_path / "cmp")
    assert r.exit_code == 0, r.output
    assert "compared only on the 5x5 grid points they share" in r.output
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["region"]["cropped"] and data["region"]["shape"] == [5, 5]
    for summary in data["summaries"].values():
        assert summary["extent"] == {"alpha": [-1.0, 1.0], "beta": [-1.0, 1.0],
                                     "shape": [5, 5]}
        assert summary["center"]["on_grid"] and summary["center"]["index"] == [2, 2]
    r = run("view", fine, coarse, "-o", tmp_path / "v.html")
    assert r.exit_code == 0 and "compared only on the 5x5" in r.output


def test_grids_without_common_points_are_refused(tmp_path):
    a = plane_file(tmp_path / "a.h5", n=9)
    b = plane_file(tmp_path / "b.h5", n=8)
    out = tmp_path / "new" / "cmp"
    one_line_error(run("compare", a, b, "-o", out), "share only 2", "same --x and --y")
    assert not (tmp_path / "new").exists()
    one_line_error(run("view", a, b, "-o", tmp_path / "new" / "v.html"), "share only 2")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- outputs

def test_view_does_not_replace_a_file_without_overwrite(tmp_path):
    a = plane_file(tmp_path / "a.h5")
    page = tmp_path / "v.html"
    page.write_text("mine")
    one_line_error(run("view", a, "-o", page), "exists", "--overwrite")
    assert page.read_text() == "mine"
    r = run("view", a, "-o", page, "--overwrite")
    assert r.exit_code == 0 and page.stat().st_size > 1_000_000


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, create_model("resnet20", width=0.125, seed=0),
                    meta={"dataset": "embedded", "epoch": 1})
    return path


def test_every_command_checks_its_output_before_any_work(tmp_path, checkpoint):
    a = plane_file(tmp_path / "a.h5")
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder is wanted")
    before = listing(tmp_path)
    bad = blocker / "out"
    cases = [
        ("plot", a, "-o", bad),
        ("compare", a, a, "-o", bad),
        ("view", a, "-o", bad / "v.html"),
        ("hessian", checkpoint, "-o", bad, "--samples", "4"),
        ("interp", checkpoint, checkpoint, "-o", bad / "line.h5"),
        ("demo", "-o", bad),
    ]
    for args in cases:
        one_line_error(run(*args), "is a file, not a folder")
        assert listing(tmp_path) == before, args


def test_a_failed_command_leaves_no_new_folder(tmp_path):
    x = np.linspace(-1, 1, 5)
    empty = Surface(x=x, y=x, loss=np.full((5, 5), np.nan), accuracy=None,
                    done=np.zeros((5, 5), bool), meta={"split": "train"})
    src = tmp_path / "empty.h5"
    save_surface(src, empty)
    before = listing(tmp_path)
    one_line_error(run("plot", src, "-o", tmp_path / "new" / "figs"), "nothing to draw")
    one_line_error(run("compare", src, src, "-o", tmp_path / "new" / "cmp"), "nothing to draw")
    one_line_error(run("view", src, "-o", tmp_path / "new" / "v.html"), "nothing to draw")
    assert listing(tmp_path) == before


# --------------------------------------------------------------------------- interp

def test_interp_refuses_two_files_with_the_same_weights(tmp_path):
    model = create_model("resnet20", width=0.125, seed=0)
    first, final = tmp_path / "epoch_001.pt", tmp_path / "final.pt"
    save_checkpoint(first, model, meta={"dataset": "embedded", "epoch": 1})
    save_checkpoint(final, model, meta={"dataset": "embedded", "epoch": 1, "final": True})
    out = tmp_path / "line.h5"
    one_line_error(run("interp", first, final, "-o", out), "hold the same weights",
                   "epoch_000.pt")
    assert not out.exists()


@pytest.mark.slow  # trains a thin ResNet-20 for one epoch (about 3 s)
def test_interp_after_a_one_epoch_training_as_in_the_readme(tmp_path):
    runs = tmp_path / "runs"
    r = run("train", "resnet20", "-o", runs, "--epochs", "1", "--width", "0.125", "--samples",
            "64", "--test-samples", "16", "--batch-size", "32", "--no-progress")
    assert r.exit_code == 0, r.output
    out = tmp_path / "line.h5"
    one_line_error(run("interp", runs / "epoch_001.pt", runs / "final.pt", "-o", out),
                   "hold the same weights")
    assert not out.exists()
    with torch.no_grad():  # and the README's next step works: the initial weights vs final
        r = run("interp", runs / "epoch_000.pt", runs / "final.pt", "-o", out, "--x",
                "0:1:2", "--samples", "8")
    assert r.exit_code == 0, r.output

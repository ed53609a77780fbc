"""--data, --loss and --block-size through click's CliRunner: a user's own module next to the
shell, provenance, --resume refusing a change, and no import of a name read from a file."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from models import create_model
from models.checkpoint import save_checkpoint

USER_MODULE = '''
import torch

CALLS = []

def data(split, samples, seed):
    CALLS.append((split, samples, seed))
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 64, (samples, 8), generator=g)
    return x, torch.roll(x, -1, dims=1)

def batches():
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 64, (12, 8), generator=g)
    return ((x[i:i + 4], x[i:i + 4]) for i in range(0, 12, 4))

def halved(outputs, targets):
    per_token = torch.nn.functional.cross_entropy(outputs.flatten(0, 1), targets.flatten(),
                                                  reduction="none")
    return per_token.view(targets.shape).mean(1) / 2
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder with the user's module `mine_{id}.py` as the current folder (not on sys.path)."""
    name = f"mine_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    torch.manual_seed(0)
    net = create_model("gpt-mini", depth=1, width=16, heads=2, block_size=16)
    save_checkpoint(tmp_path / "g.pt", net, meta={"dataset": "tokens"})
    yield tmp_path, name
    sys.modules.pop(name, None)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_own_data_and_loss_from_the_current_folder(here):
    folder, mod = here
    common = ["surface", "g.pt", "--x", "-1:1:3", "--samples", "10", "--no-progress"]
    r = run(*common, "-o", "mine.h5", "--data", f"{mod}:data", "--loss", f"{mod}:halved")
    assert r.exit_code == 0, r.output
    assert sys.modules[mod].CALLS == [("train", 10, 0)]
    mine = load_surface(folder / "mine.h5")
    assert mine.meta["data"] == f"{mod}:data" and mine.meta["dataset"] == f"{mod}:data"
    with h5py.File(folder / "mine.h5") as f:
        assert f.attrs["loss"] == f"{mod}:halved"
    # the same points with the built-in loss on the same samples: exactly twice as large
    r = run(*common, "-o", "full.h5", "--data", f"{mod}:data", "--loss", "token-cross-entropy")
    assert r.exit_code == 0, r.output
    full = load_surface(folder / "full.h5")
    np.testing.assert_allclose(full.loss, 2 * mine.loss, rtol=1e-12)
    np.testing.assert_allclose(full.accuracy, mine.accuracy)
    with h5py.File(folder / "full.h5") as f:
        assert f.attrs["loss"] == "token-cross-entropy"


def test_an_iterable_of_batches_and_mse(here):
    folder, mod = here
    r = run("interp", "g.pt", "g.pt", "-o", "line.h5", "--x", "0:1:2", "--data",
            f"{mod}:batches", "--loss", "mse", "--no-progress")
    # the same checkpoint twice is refused before any data is read
    assert r.exit_code != 0 and "same weights" in r.output
    torch.manual_seed(1)
    other = create_model("gpt-mini", depth=1, width=16, heads=2, block_size=16)
    save_checkpoint(folder / "h.pt", other, meta={"dataset": "tokens"})
    r = run("interp", "g.pt", "h.pt", "-o", "line.h5", "--x", "0:1:2", "--data",
            f"{mod}:batches", "--loss", "mse", "--dir-type", "weights", "--no-progress")
    assert r.exit_code == 0, r.output
    s = load_surface(folder / "line.h5")
    assert np.isfinite(s.loss).all() and s.meta["samples"] is None   # streamed


def test_resume_refuses_another_loss_and_never_imports_the_recorded_one(here):
    folder, mod = here
    args = ["surface", "g.pt", "-o", "s.h5", "--x", "-1:1:3", "--samples", "6",
            "--dataset", "tokens", "--block-size", "8", "--no-progress"]
    assert run(*args, "--loss", f"{mod}:halved").exit_code == 0
    sys.modules.pop(mod)
    (folder / f"{mod}.py").write_text("raise RuntimeError('imported')\n")
    r = CliRunner().invoke(cli, [*args, "--resume"])
    assert r.exit_code != 0 and "loss" in r.output and mod not in sys.modules
    r = CliRunner().invoke(cli, [*args, "--resume", "--block-size", "9"])
    assert r.exit_code != 0 and mod not in sys.modules


def test_bad_names_are_one_line_errors(here):
    _, mod = here
    r = CliRunner().invoke(cli, ["surface", "g.pt", "-o", "x.h5", "--loss", "hinge",
                                 "--dataset", "tokens"])
    assert r.exit_code == 1 and "built in: cross-entropy" in r.output
    r = CliRunner().invoke(cli, ["surface", "g.pt", "-o", "x.h5", "--data", "nosuch:data"])
    assert r.exit_code == 1 and "cannot import 'nosuch'" in r.output
    r = CliRunner().invoke(cli, ["surface", "g.pt", "-o", "x.h5", "--data", f"{mod}:CALLS"])
    assert r.exit_code == 1 and "not a function" in r.output


def test_train_with_own_data_and_loss(here):
    folder, mod = here
    r = run("train", "gpt-mini", "-o", "run", "--data", f"{mod}:data", "--samples", "16",
            "--test-samples", "8", "--loss", f"{mod}:halved", "--epochs", "1",
            "--optimizer", "adamw", "--lr", "1e-3", "--batch-size", "8", "--no-progress")
    assert r.exit_code == 0, r.output
    blob = torch.load(folder / "run" / "final.pt", weights_only=True)
    assert blob["meta"]["loss"] == f"{mod}:halved" and blob["meta"]["dataset"] == f"{mod}:data"
    assert blob["meta"]["train"]["optimizer"] == "adamw"
    assert sys.modules[mod].CALLS == [("train", 16, 0), ("test", 8, 0)]


def test_train_resume_refuses_another_loss(here):
    folder, mod = here
    args = ["train", "gpt-mini", "-o", "run", "--dataset", "tokens", "--block-size", "8",
            "--samples", "16", "--test-samples", "8", "--batch-size", "8", "--no-progress"]
    assert run(*args, "--epochs", "1", "--loss", "mse").exit_code == 0
    r = CliRunner().invoke(cli, [*args, "--epochs", "2", "--resume", "run/final.pt"])
    assert r.exit_code == 1 and "loss 'mse' in the checkpoint, 'cross_entropy' now" in r.output
    assert run(*args, "--epochs", "2", "--resume", "run/final.pt", "--loss", "mse").exit_code == 0

"""Malformed surface files through `landscape info` and `landscape plot`: exit code 1, one line
naming the problem and the fix, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape.engine.store import save_surface
from landscape.engine.types import Surface


def _good(path: Path) -> Path:
    x, y = np.linspace(-1, 1, 4), np.linspace(0, 1, 3)
    loss = np.add.outer(x ** 2, y) + 1
    surface = Surface(x=x, y=y, loss=loss, accuracy=100 - loss, done=np.ones((4, 3), bool),
                      meta={"model": "resnet20", "seed": 0, "history": [1, 2]})
    save_surface(path, surface, directions=[{"a.weight": torch.ones(2)}])
    return path


def _flip(path: Path, text: bytes, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(text)
    assert at >= 0
    data[at + offset] = value
    path.write_bytes(bytes(data))


def _edit(path: Path, change) -> None:  # noqa: ANN001
    with h5py.File(path, "r+") as f:
        change(f)


def _replace_loss(f) -> None:  # noqa: ANN001
    del f["train_loss"]
    f["train_loss"] = np.zeros((4, 4))


CASES = {
    "no_done": (lambda p: _edit(p, lambda f: f.__delitem__("done")), "no 'done' dataset"),
    "no_y": (lambda p: _edit(p, lambda f: f.__delitem__("ycoordinates")), "no 'ycoordinates'"),
    "shape": (lambda p: _edit(p, _replace_loss), "has shape (4, 4)"),
    "json": (lambda p: _flip(p, b"json:[1, 2]", 6, ord("{")), "JSON that does not parse"),
    "utf8": (lambda p: _flip(p, b"resnet20", 2, 0xFF), "is not valid UTF-8"),
    "type": (lambda p: _edit(p, lambda f: f.attrs.__setitem__("seed", "zero")),
             "'seed' should be int"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:2000]), "truncated"),
    "not_hdf5": (lambda p: p.write_text("train_loss,x\n1,2\n"), "not HDF5"),
    "empty": (lambda p: p.write_bytes(b""), "it is empty (0 bytes)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_gives_one_line_and_writes_nothing(tmp_path, case):
    damage, message = CASES[case]
    path = _good(tmp_path / f"{case}.h5")
    damage(path)
    runner = CliRunner()
    for args in (["info", str(path)], ["plot", str(path), "-o", str(tmp_path / "figs")]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 1, (args, r.output)
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
        assert message in lines[0] and "Traceback" not in r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not (tmp_path / "figs").exists()


def test_the_good_file_itself_passes(tmp_path):
    path = _good(tmp_path / "s.h5")
    r = CliRunner().invoke(cli, ["info", str(path)])
    assert r.exit_code == 0 and "12 of 12 points" in r.output

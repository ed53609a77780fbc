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


# ---------------------------------------------------------------- files that reach too far

READERS = {  # command -> its arguments given the surface file F (output under OUT)
    "info": lambda f, out: ["info", f],
    "plot": lambda f, out: ["plot", f, "-o", str(out / "figs")],
    "view": lambda f, out: ["view", f, "-o", str(out / "v.html")],
    "export": lambda f, out: ["export", f, "-o", str(out / "e.csv")],
    "compare": lambda f, out: ["compare", f, f, "-o", str(out / "cmp")],
}


def _refused(tmp_path: Path, path: Path, fragment: str) -> None:
    out = tmp_path / "out"
    for command, args in READERS.items():
        r = CliRunner().invoke(cli, args(str(path), out))
        assert r.exit_code == 1, (command, r.output)
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (command, r.output)
        assert fragment in lines[0], (command, lines[0])
        assert not out.exists(), command


def test_a_declared_grid_larger_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    import landscape.engine.placement

    monkeypatch.setattr(landscape.engine.placement, "available_memory", lambda: 100 * 2**20)
    path = tmp_path / "huge.h5"
    n = 3000  # 9 M points declared; about 100 kB on disk (compressed fill values)
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = "loss-landscape-toolkit/2"
        f["xcoordinates"] = np.linspace(-1, 1, n)
        f["ycoordinates"] = np.linspace(-1, 1, n)
        for name, dtype in (("train_loss", "f8"), ("done", "bool")):
            f.create_dataset(name, shape=(n, n), dtype=dtype, chunks=(n, 100),
                             compression="gzip")
    assert path.stat().st_size < 200_000
    _refused(tmp_path, path, f"cannot read {path}: a grid of 9,000,000 points needs about ")
    _refused(tmp_path, path, "GB for its results alone, and 0.1 GB of memory is available")


def _outside(path: Path, how: str, tmp_path: Path) -> None:
    _good(path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the user's secret" * 8)
    with h5py.File(path, "r+") as f:
        if how == "external storage":
            values = f["train_loss"][()]
            del f["train_loss"]
            f.create_dataset("train_loss", shape=values.shape, dtype="f8",
                             external=[(str(secret), 0, values.size * 8)])
        elif how == "virtual dataset":
            other = tmp_path / "other.h5"
            with h5py.File(other, "w") as g:
                g["x"] = np.linspace(-1, 1, 4)
            del f["xcoordinates"]
            layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(other), "x", shape=(4,))
            f.create_virtual_dataset("xcoordinates", layout)
        else:
            f["directions/z"] = h5py.ExternalLink(str(secret), "/")


@pytest.mark.parametrize(("how", "fragment"), [
    ("external storage", "'train_loss' keeps its values in external files"),
    ("virtual dataset", "'xcoordinates' is a virtual dataset"),
    ("external link", "'directions/z' is a link to"),
])
def test_a_file_that_reads_other_files_is_refused(tmp_path, how, fragment):
    path = tmp_path / "s.h5"
    _outside(path, how, tmp_path)
    _refused(tmp_path, path, fragment)
    r = CliRunner().invoke(cli, ["export-directions", str(path), "-o", str(tmp_path / "d.h5")])
    assert r.exit_code == 1 and fragment in r.output and not (tmp_path / "d.h5").exists()

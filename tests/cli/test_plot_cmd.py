"""`landscape plot` through click's CliRunner, on our files and the reference code's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from cli.main import cli
from landscape.engine.store import save_surface
from landscape.engine.types import Surface
from tests.paths import REFERENCE

PNG = b"\x89PNG\r\n\x1a\n"


def write_plane(path: Path, a: float = 1.0, n: int = 9, **meta) -> Path:
    x = np.linspace(-1, 1, n)
    y = np.linspace(-1, 1, n - 2)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = a * (A ** 2 + B ** 2) + 0.1
    done = np.ones(loss.shape, bool)
    done[-2:, -2:] = False
    loss[~done] = np.nan
    surface = Surface(x=x, y=y, loss=loss, accuracy=100 * np.exp(-loss), done=done,
                      meta={"model": "resnet20", "skip": True, "split": "train", **meta})
    save_surface(path, surface)
    return path


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_plot_all_kinds(tmp_path: Path):
    src = write_plane(tmp_path / "r20.h5")
    r = run("plot", src, "-o", tmp_path / "figs", "--dpi", "50")
    assert r.exit_code == 0, r.output
    paths = [Path(line) for line in r.output.split()]
    assert [p.name for p in paths] == ["r20_contour.png", "r20_contourf.png", "r20_heatmap.png",
                                       "r20_3d.png"]
    for p in paths:
        assert p.read_bytes().startswith(PNG)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(p.name for p in paths)


def test_plot_chooses_log_for_a_loss_spanning_decades(tmp_path: Path):
    src = write_plane(tmp_path / "steep.h5", a=3e4)  # 0.1 .. 6e4
    r = run("plot", src, "-o", tmp_path, "--kind", "contourf", "--dpi", "40")
    assert r.exit_code == 0, r.output
    assert Path(r.output.strip()).name == "steep_contourf_log.png"
    r = run("plot", src, "-o", tmp_path, "--kind", "contourf", "--linear", "--dpi", "40")
    assert Path(r.output.strip()).name == "steep_contourf.png"


def test_plot_options(tmp_path: Path):
    src = write_plane(tmp_path / "r20.h5")
    r = run("plot", src, "-o", tmp_path, "--kind", "contour", "--format", "svg", "--log",
            "--quantity", "accuracy", "--levels", "5", "--vmin", "20", "--zmax", "90")
    assert r.exit_code == 0, r.output
    (path,) = [Path(line) for line in r.output.split()]
    assert path.name == "r20_accuracy_contour_log.svg"
    assert "<svg" in path.read_text()
    r = run("plot", src, "-o", tmp_path, "--kind", "heatmap", "--levels", "0.2,0.5,1,2")
    assert r.exit_code == 0, r.output


def test_plot_reference_files(tmp_path: Path):
    r = run("plot", REFERENCE / "surf_5x3.h5", "-o", tmp_path, "--log", "--kind", "3d",
            "--dpi", "50")
    assert r.exit_code == 0, r.output
    assert Path(r.output.strip()).name == "surf_5x3_3d_log.png"
    r = run("plot", REFERENCE / "line_7.h5", "-o", tmp_path, "--log", "--dpi", "50")
    assert r.exit_code == 0, r.output
    assert Path(r.output.strip()).name == "line_7_line_log.png"


def test_plot_errors(tmp_path: Path):
    r = run("plot", tmp_path / "missing.h5", "-o", tmp_path)
    assert r.exit_code == 1 and "no such surface file" in r.output
    junk = tmp_path / "junk.h5"
    junk.write_text("not a surface")
    r = run("plot", junk, "-o", tmp_path)
    assert r.exit_code == 1 and "not HDF5" in r.output
    r = run("plot", write_plane(tmp_path / "p.h5"), "--levels", "a,b")
    assert r.exit_code == 2 and "levels" in r.output
    assert "Traceback" not in r.output

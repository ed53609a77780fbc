"""`landscape export` (VTK/VTP read back by VTK's own readers, CSV, NPZ, the reference layout) and
`landscape export-directions` (the reference's direction layout, reused both ways)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from landscape.engine.store import save_surface
from landscape.engine.types import Surface
from models import create_model
from models.checkpoint import load_checkpoint, save_checkpoint
from models.data import evaluation_tensors
from tests.paths import REFERENCE

SMALL = ["--samples", "24", "--batch-size", "16"]


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_masked(path: Path, nx: int, ny: int) -> Surface:
    """loss = 1 + x² + 10 y, with one point not computed, one diverged (NaN), one inf and one
    exactly 0 (drawn on a linear scale, left out on a log one)."""
    x, y = np.linspace(-1, 1, nx), np.linspace(0, 1, ny)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = 1 + A ** 2 + 10 * B
    done = np.ones(loss.shape, dtype=bool)
    done[nx - 1, ny - 1] = False
    loss[nx - 1, ny - 1] = np.nan
    loss[0, ny - 1] = np.nan      # diverged
    loss[1, 0] = np.inf           # diverged
    loss[nx - 1, 0] = 0.0
    surface = Surface(x=x, y=y, loss=loss, accuracy=100 - loss, done=done,
                      meta={"model": "resnet20", "split": "train"})
    save_surface(path, surface)
    return surface


def _expected_mesh(z: np.ndarray) -> tuple[int, int]:
    """Points with a finite height and cells whose four corners have one, counted by hand."""
    ok = np.isfinite(z)
    cells = sum(ok[i, j] and ok[i + 1, j] and ok[i, j + 1] and ok[i + 1, j + 1]
                for i in range(z.shape[0] - 1) for j in range(z.shape[1] - 1))
    return int(ok.sum()), int(cells)


def _read_vtk(path: Path):
    vtk = pytest.importorskip("vtk", reason="VTK's readers check the export: pip install vtk "
                                            "(the 'test' extra)")
    from vtk.util.numpy_support import vtk_to_numpy

    reader = vtk.vtkPolyDataReader() if path.suffix == ".vtk" else vtk.vtkXMLPolyDataReader()
    errors = []
    reader.AddObserver("ErrorEvent", lambda obj, event: errors.append(event))
    reader.SetFileName(str(path))
    reader.Update()
    assert not errors, f"VTK could not read {path.name}"
    data = reader.GetOutput()
    points = vtk_to_numpy(data.GetPoints().GetData()) if data.GetNumberOfPoints() else None
    scalars = data.GetPointData().GetArray(0)
    return data, points, (None if scalars is None else vtk_to_numpy(scalars)), scalars


@pytest.mark.parametrize("suffix", [".vtk", ".vtp"])
@pytest.mark.parametrize("shape", [(5, 5), (6, 3)])
@pytest.mark.parametrize("log", [False, True])
def test_vtk_and_vtp_open_in_vtk_with_the_right_mesh(tmp_path, suffix, shape, log):
    s = write_masked(tmp_path / "s.h5", *shape)
    out = tmp_path / f"s{suffix}"
    r = run("export", tmp_path / "s.h5", "-o", out, *(["--log"] if log else []))
    assert r.exit_code == 0, r.output
    with np.errstate(divide="ignore"):
        want = np.where(s.done, np.log10(s.loss) if log else s.loss, np.nan)
    want[~np.isfinite(want)] = np.nan
    n_points, n_polys = _expected_mesh(want)
    assert f"{n_points} points, {n_polys} polygons" in r.output
    data, points, scalars, array = _read_vtk(out)
    assert data.GetNumberOfPoints() == n_points and data.GetNumberOfPolys() == n_polys
    assert array.GetName() == "train_loss"
    for (px, py, pz), value in zip(points, scalars, strict=True):  # each at its own (x, y)
        i, j = int(np.argmin(abs(s.x - px))), int(np.argmin(abs(s.y - py)))
        assert (s.x[i], s.y[j]) == pytest.approx((px, py))
        assert pz == pytest.approx(want[i, j], rel=1e-12)
        assert value == pytest.approx(s.loss[i, j], rel=1e-12)
    corner = np.flatnonzero((points[:, 0] == -1) & (points[:, 1] == 0))
    assert len(corner) == 1 and points[corner[0], 2] == pytest.approx(np.log10(2) if log else 2)
    zero = (points[:, 0] == 1) & (points[:, 1] == 0)  # loss 0: kept linear, left out on log
    assert zero.sum() == (0 if log else 1)


def test_vtk_options_quantity_and_zmax(tmp_path):
    s = write_masked(tmp_path / "s.h5", 4, 4)
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "a.vtp", "--quantity", "accuracy",
            "--zmax", "95")
    assert r.exit_code == 0, r.output
    _, points, scalars, array = _read_vtk(tmp_path / "a.vtp")
    assert array.GetName() == "train_acc"
    acc = np.where(s.done & np.isfinite(s.accuracy), s.accuracy, np.nan)
    assert len(points) == np.isfinite(acc).sum()
    np.testing.assert_allclose(points[:, 2], np.minimum(scalars, 95))
    assert points[:, 2].max() == 95 and scalars.max() > 95


@pytest.mark.parametrize("suffix", [".vtk", ".vtp"])
def test_scattered_points_without_a_cell_still_read(tmp_path, suffix):
    x, y = np.linspace(-1, 1, 3), np.linspace(0, 1, 3)
    loss, done = np.full((3, 3), np.nan), np.zeros((3, 3), dtype=bool)
    loss[0, 0], loss[2, 2] = 1.0, 3.0
    done[0, 0] = done[2, 2] = True
    save_surface(tmp_path / "s.h5", Surface(x=x, y=y, loss=loss, accuracy=None, done=done))
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / f"s{suffix}")
    assert r.exit_code == 0 and "2 points, 0 polygons (7 grid points left out)" in r.output
    data, points, _, _ = _read_vtk(tmp_path / f"s{suffix}")
    assert data.GetNumberOfPolys() == 0
    np.testing.assert_array_equal(points, [[-1, 0, 1], [1, 1, 3]])


def test_export_refuses_what_it_cannot_do(tmp_path):
    write_masked(tmp_path / "s.h5", 3, 3)
    r = run("export", REFERENCE / "line_7.h5", "-o", tmp_path / "l.vtk")
    assert r.exit_code == 1 and "1-D line" in r.output and not (tmp_path / "l.vtk").exists()
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "s.txt")
    assert r.exit_code == 2 and "--format" in r.output
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "s.csv", "--log")
    assert r.exit_code == 2 and "vtk/vtp" in r.output and not (tmp_path / "s.csv").exists()
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "s.h5", "--format", "reference")
    assert r.exit_code == 1 and "being read" in r.output
    (tmp_path / "file").write_text("x")
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "file" / "s.vtk")
    assert r.exit_code == 1 and "is a file, not a folder" in r.output


@pytest.mark.parametrize("ny", [3, None])
def test_csv_and_npz_hold_every_point(tmp_path, ny):
    src = REFERENCE / ("surf_5x3.h5" if ny else "line_7.h5")
    s = load_surface(src)
    r = run("export", src, "-o", tmp_path / "s.csv")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "s.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[: 4 if ny else 2] == (["i", "j", "x", "y"] if ny else ["i", "x"])
    assert len(lines) == 1 + s.done.size
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        at = (int(row["i"]), int(row["j"])) if ny else (int(row["i"]),)
        assert float(row["x"]) == s.x[at[0]] and float(row["train_loss"]) == s.loss[at]
        assert int(row["done"]) == s.done[at]
    r = run("export", src, "-o", tmp_path / "s.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "s.npz") as z:  # no pickle needed
        if ny:
            X, Y = np.meshgrid(z["xcoordinates"], z["ycoordinates"])
            assert z["train_loss"].shape == X.shape
            np.testing.assert_array_equal(z["train_loss"], s.loss.T)
        else:
            np.testing.assert_array_equal(z["train_loss"], s.loss)
        assert '"format": "reference"' in str(z["meta"])


def test_reference_layout_export_reads_back_the_same(tmp_path):
    s = write_masked(tmp_path / "s.h5", 4, 3)
    r = run("export", tmp_path / "s.h5", "-o", tmp_path / "ref.h5", "--format", "reference")
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "ref.h5") as f:
        assert f["train_loss"].shape == (4, 3) and "done" not in f  # as the reference writes
        assert f["train_loss"][()].reshape(-1)[2 * 4 + 3] == -1.0  # (x[3], y[2]): not computed
    back = load_surface(tmp_path / "ref.h5")
    np.testing.assert_array_equal(back.done, s.done)
    np.testing.assert_array_equal(back.loss[s.done], s.loss[s.done])


# ---------------------------------------------------------------- directions

@pytest.fixture
def ckpt(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, create_model("resnet20", width=0.25), meta={"dataset": "embedded"})
    return path


def _reference_lists(path: Path) -> list[list[torch.Tensor]]:
    """The reference's reading rule: groups xdirection/ydirection, '0' ... len - 1 in order."""
    with h5py.File(path) as f:
        return [[torch.from_numpy(np.asarray(f[g][str(i)])) for i in range(len(f[g]))]
                for g in ("xdirection", "ydirection") if g in f]


def _loss_the_reference_way(ckpt: Path, lists, a: float, b: float, dir_type: str) -> float:
    """Move the model as the reference does (by position over parameters() or state_dict())."""
    model, _ = load_checkpoint(ckpt)
    with torch.no_grad():
        if dir_type == "weights":
            tensors = list(model.parameters())
        else:
            tensors = list(model.state_dict().values())
        assert len(tensors) == len(lists[0])
        for t, dx, dy in zip(tensors, *lists, strict=True):
            t.add_((a * dx + b * dy).to(t.dtype))
    inputs, targets = evaluation_tensors("embedded", "train", samples=24, seed=0)
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model.eval()(inputs), targets).item()


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_exported_directions_work_in_their_layout_and_in_ours(tmp_path, ckpt, dir_type):
    grid = ["--x", "-1:1:3", "--y", "-0.5:0.5:2", "--dir-type", dir_type, *SMALL]
    r = run("surface", ckpt, "-o", tmp_path / "s.h5", *grid)
    assert r.exit_code == 0, r.output
    s = load_surface(tmp_path / "s.h5")
    r = run("export-directions", tmp_path / "s.h5", "-o", tmp_path / "dir.h5")
    assert r.exit_code == 0, r.output
    order = "state_dict()" if dir_type == "states" else "parameters()"
    assert "x and y directions" in r.output and order in r.output
    lists = _reference_lists(tmp_path / "dir.h5")
    assert len(lists) == 2
    # the reference's rule puts each tensor on the right parameter: the same loss at (1, 0.5)
    assert _loss_the_reference_way(ckpt, lists, 1.0, 0.5, dir_type) == pytest.approx(
        s.loss[2, 1], rel=1e-5)
    # and `--directions` reads the file back: the same surface
    r = run("surface", ckpt, "-o", tmp_path / "again.h5", "--directions", tmp_path / "dir.h5",
            *grid)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(load_surface(tmp_path / "again.h5").loss, s.loss, rtol=1e-6)


def test_positional_directions_without_names_still_reused(tmp_path, ckpt):
    """A file with only the reference's groups (names dropped) matches by position."""
    grid = ["--x", "-1:1:2", "--y", "0:1:2", *SMALL]
    assert run("surface", ckpt, "-o", tmp_path / "s.h5", *grid).exit_code == 0
    assert run("export-directions", tmp_path / "s.h5", "-o", tmp_path / "d.h5").exit_code == 0
    with h5py.File(tmp_path / "d.h5", "r+") as f:
        del f["names"]
    r = run("surface", ckpt, "-o", tmp_path / "b.h5", "--directions", tmp_path / "d.h5", *grid)
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(load_surface(tmp_path / "b.h5").loss,
                               load_surface(tmp_path / "s.h5").loss, rtol=1e-6)


def test_export_directions_without_a_recorded_order_rebuilds_the_model(tmp_path, ckpt):
    assert run("surface", ckpt, "-o", tmp_path / "s.h5", "--x", "0:1:2", *SMALL).exit_code == 0
    assert run("export-directions", tmp_path / "s.h5", "-o", tmp_path / "a.h5").exit_code == 0
    with h5py.File(tmp_path / "s.h5", "r+") as f:  # as a schema-1 file: no order recorded
        del f["directions/order"]
    r = run("export-directions", tmp_path / "s.h5", "-o", tmp_path / "b.h5")
    assert r.exit_code == 0, r.output
    a, b = _reference_lists(tmp_path / "a.h5"), _reference_lists(tmp_path / "b.h5")
    assert len(a) == len(b) == 1 and all(torch.equal(u, v) for u, v in zip(a[0], b[0],
                                                                             strict=True))
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f.attrs["model"] = "resnet56"  # the wrong model: its tensors do not fit
    r = run("export-directions", tmp_path / "s.h5", "-o", tmp_path / "c.h5")
    assert r.exit_code == 1 and "--model" in r.output and not (tmp_path / "c.h5").exists()
    r = run("export-directions", REFERENCE / "directions_2d.h5", "-o", tmp_path / "d.h5")
    assert r.exit_code == 1 and "reference direction file already" in r.output


def test_export_directions_never_runs_a_model_named_in_the_file(tmp_path, ckpt, monkeypatch):
    """A surface file names its model; an import path there must not be imported and run."""
    monkeypatch.chdir(tmp_path)
    assert run("surface", ckpt, "-o", "s.h5", "--x", "0:1:2", *SMALL).exit_code == 0
    with h5py.File("s.h5", "r+") as f:  # no recorded order: the model would be rebuilt
        del f["directions/order"]
        f.attrs["model"] = "os:system"
        f.attrs["arch_kwargs"] = 'json:{"command": "touch pwned"}'
    r = run("export-directions", "s.h5", "-o", "d.h5")
    assert r.exit_code == 1, r.output
    assert "import path" in r.output and "--model" in r.output
    assert "Traceback" not in r.output
    assert not Path("pwned").exists() and not Path("d.h5").exists()


def test_npz_of_a_schema_1_file_is_labelled_with_the_layout_it_holds(tmp_path):
    """A schema-1 source stored (nx, ny); its NPZ holds (ny, nx) arrays and must say so, or a
    reader that trusts the label transposes a square grid without noticing."""
    x, y = np.linspace(-1, 1, 3), np.linspace(0, 1, 3)
    loss = np.arange(9.0).reshape(3, 3) + 1  # [i, j] at (x[i], y[j]); not symmetric
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f.attrs["schema"] = "loss-landscape-toolkit/1"
        f["xcoordinates"], f["ycoordinates"] = x, y
        f["train_loss"], f["done"] = loss, np.ones((3, 3), bool)
    r = run("export", tmp_path / "old.h5", "-o", tmp_path / "old.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "old.npz") as z:
        meta = json.loads(str(z["meta"]))
        assert meta["schema"] == "loss-landscape-toolkit/2"
        assert meta["source_schema"] == "loss-landscape-toolkit/1"
        np.testing.assert_array_equal(z["train_loss"], loss.T)  # (ny, nx), as schema 2 says

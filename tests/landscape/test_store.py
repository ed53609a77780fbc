import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape import Axis, Grid, compute_surface
from landscape.store import (
    FileBusyError,
    export_vtk,
    load_directions,
    load_surface,
    save_surface,
    writer_lock,
)
from landscape.types import Surface
from tests.paths import REFERENCE


def _surface(nx: int = 4, ny: int | None = 3) -> Surface:
    shape = (nx,) if ny is None else (nx, ny)
    rng = np.random.default_rng(0)
    done = np.ones(shape, dtype=bool)
    done.reshape(-1)[-1] = False
    loss = rng.uniform(0, 3, shape)
    loss.reshape(-1)[-1] = np.nan
    loss.reshape(-1)[0] = np.inf  # a diverged point is done and not finite
    return Surface(x=np.linspace(-1, 1, nx), y=None if ny is None else np.linspace(0, 2, ny),
                   loss=loss, accuracy=rng.uniform(0, 100, shape), done=done,
                   meta={"model": "resnet20", "skip": False, "seed": 3, "history": [1, 2]},
                   extras={"train_loss_se": rng.uniform(0, 0.1, shape)})


@pytest.mark.parametrize("ny", [3, None])
def test_round_trip(tmp_path, ny):
    s = _surface(ny=ny)
    dirs = [{"a.weight": torch.randn(2, 3)}, {"a.weight": torch.randn(2, 3)}]
    save_surface(tmp_path / "s.h5", s, directions=dirs)
    r = load_surface(tmp_path / "s.h5")
    np.testing.assert_array_equal(r.x, s.x)
    assert (r.y is None) == (ny is None)
    np.testing.assert_array_equal(r.done, s.done)
    np.testing.assert_array_equal(r.loss[r.done], s.loss[s.done])
    assert np.isnan(r.loss[~r.done]).all()
    np.testing.assert_array_equal(r.extras["train_loss_se"], s.extras["train_loss_se"])
    assert r.meta["model"] == "resnet20" and r.meta["skip"] is False
    assert r.meta["history"] == [1, 2] and r.meta["seed"] == 3
    loaded = load_directions(tmp_path / "s.h5")
    torch.testing.assert_close(loaded[1]["a.weight"], dirs[1]["a.weight"])
    with h5py.File(tmp_path / "s.h5") as f:  # the reference code's dataset names
        assert {"xcoordinates", "train_loss", "train_acc", "done"} <= set(f)


def test_existing_file_is_not_overwritten(tmp_path):
    save_surface(tmp_path / "s.h5", _surface())
    with pytest.raises(FileExistsError, match="--overwrite"):
        save_surface(tmp_path / "s.h5", _surface())
    save_surface(tmp_path / "s.h5", _surface(5, 2), overwrite=True)
    assert load_surface(tmp_path / "s.h5").shape == (5, 2)


def test_reference_surface_is_transposed_back():
    s = load_surface(REFERENCE / "surf_5x3.h5")
    assert s.shape == (5, 3) and s.done.all()
    assert s.center_index == (2, 1)
    assert np.nanargmin(s.loss) == np.ravel_multi_index((2, 1), (5, 3))
    assert s.loss[2, 1] == pytest.approx(2.388, abs=1e-3)
    with h5py.File(REFERENCE / "surf_5x3.h5") as f:
        flat = f["train_loss"][()].reshape(-1)
    for i in range(5):
        for j in range(3):
            assert s.loss[i, j] == flat[j * 5 + i]  # x varies fastest in the reference


def test_reference_partial_surface_marks_unfinished_points():
    s = load_surface(REFERENCE / "surf_partial_3x3.h5")
    # Five points done in the reference's order: (x0,y0) (x1,y0) (x2,y0) (x0,y1) (x1,y1).
    expected = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(s.done, expected)
    assert np.isnan(s.loss[~expected]).all() and (s.loss[expected] > 0).all()


def test_reference_line_and_directions():
    s = load_surface(REFERENCE / "line_7.h5")
    assert s.y is None and s.shape == (7,) and s.accuracy.max() <= 100
    dirs = load_directions(REFERENCE / "directions_2d.h5")
    assert len(dirs) == 2 and len(dirs[0]) == 65 and dirs[0]["0"].shape == (16, 3, 3, 3)


def test_reference_file_written_the_reference_way(tmp_path):
    # A small file in that layout, written here: x fastest, -1 for unfinished points.
    x, y = np.linspace(-1, 1, 4), np.linspace(-1, 1, 2)
    values = np.arange(8, dtype=float)  # value k at x[k % 4], y[k // 4]
    values[-1] = -1
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, y
        f["test_loss"] = values.reshape(4, 2)
        f["test_acc"] = np.full((4, 2), 50.0)
        f["xdirection/0"] = np.ones((2, 2), dtype=np.float32)
    s = load_surface(tmp_path / "ref.h5")
    assert s.split == "test"
    assert s.loss[1, 0] == 1 and s.loss[0, 1] == 4 and s.loss[2, 1] == 6
    assert not s.done[3, 1]
    assert load_directions(tmp_path / "ref.h5")[0]["0"].shape == (2, 2)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such surface file"):
        load_surface(tmp_path / "missing.h5")
    save_surface(tmp_path / "s.h5", _surface())
    data = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        load_surface(tmp_path / "cut.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not HDF5"):
        load_surface(tmp_path / "text.h5")
    shutil.copy(REFERENCE / "directions_2d.h5", tmp_path / "d.h5")
    with pytest.raises(ValueError, match="no surface"):
        load_surface(tmp_path / "d.h5")
    with pytest.raises(ValueError, match="holds no directions"):
        load_directions(REFERENCE / "line_7.h5")


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    model = torch.nn.Linear(3, 2)
    data = (torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    with writer_lock(path), pytest.raises(FileBusyError, match="another process"):
        compute_surface(model, data, Grid(Axis(0, 1, 2)), path=path, progress=False)
    compute_surface(model, data, Grid(Axis(0, 1, 2)), path=path, progress=False)  # free again
    assert not Path(f"{path}.lock").exists()


def test_vtk_export(tmp_path):
    s = _surface()
    export_vtk(s, tmp_path / "s.vtk", log=True)
    text = (tmp_path / "s.vtk").read_text().splitlines()
    assert text[4] == "DIMENSIONS 4 3 1" and len(text) == 6 + 12 + 3 + 12

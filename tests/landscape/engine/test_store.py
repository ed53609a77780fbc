import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape import Axis, Grid, compute_surface
from landscape.engine import exports, store
from landscape.engine.store import (
    SCHEMA,
    FileBusyError,
    direction_order,
    load_directions,
    load_surface,
    save_surface,
    write_filled,
    write_points,
    writer_lock,
)
from landscape.engine.types import Surface
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
        assert f.attrs["schema"] == SCHEMA
        if ny is not None:  # in the file: row = y, column = x
            for name in ("train_loss", "train_acc", "done", "train_loss_se"):
                assert f[name].shape == (ny, 4)
            np.testing.assert_array_equal(f["train_loss_se"][()].T, s.extras["train_loss_se"])
            np.testing.assert_array_equal(f["done"][()].T, s.done)


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


# ---------------------------------------------------------------- the orientation in the file

def _plane(nx: int, ny: int, func=lambda a, b: 100 * a + b) -> Surface:
    """A finished plane whose value tells where it is: loss(x, y) = func(x, y)."""
    x, y = np.linspace(-1, 1, nx), np.linspace(-0.4, 0.6, ny)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = func(A, B)
    return Surface(x=x, y=y, loss=loss, accuracy=np.full(loss.shape, 50.0),
                   done=np.ones(loss.shape, dtype=bool), meta={"split": "train"},
                   extras={"filled": np.zeros(loss.shape, dtype=bool)})


@pytest.mark.parametrize("shape", [(5, 5), (5, 3), (3, 6)])
def test_reference_reader_logic_finds_each_value_at_its_point(tmp_path, shape):
    """Their plot_2D.py and h52vtp.py: meshgrid(x, y), then the raw dataset as Z."""
    save_surface(tmp_path / "s.h5", _plane(*shape))
    with h5py.File(tmp_path / "s.h5") as f:
        X, Y = np.meshgrid(f["xcoordinates"][:], f["ycoordinates"][:])
        Z = np.array(f["train_loss"][:])
    assert Z.shape == X.shape  # contour(X, Y, Z) accepts it, square or not
    np.testing.assert_array_equal(Z, 100 * X + Y)
    x_array, y_array, z_array = X.ravel(), Y.ravel(), Z.ravel()  # h52vtp's flattening
    np.testing.assert_array_equal(z_array, 100 * x_array + y_array)


@pytest.mark.parametrize("shape", [(7, 7), (7, 4)])
def test_matplotlib_contour_of_the_raw_dataset_is_where_the_values_are(tmp_path, shape):
    from matplotlib.figure import Figure

    save_surface(tmp_path / "s.h5", _plane(*shape, func=lambda a, b: 2 + a))  # depends on x only
    with h5py.File(tmp_path / "s.h5") as f:
        X, Y = np.meshgrid(f["xcoordinates"][:], f["ycoordinates"][:])
        cs = Figure().add_subplot().contour(X, Y, f["train_loss"][:], levels=[2.5])
    vertices = np.concatenate([p.vertices for p in cs.get_paths() if len(p.vertices)])
    np.testing.assert_allclose(vertices[:, 0], 0.5, atol=1e-9)  # the line x = 0.5 ...
    assert np.ptp(vertices[:, 1]) == pytest.approx(1.0)        # ... across the whole y range


def test_schema_1_files_still_load_the_same(tmp_path):
    """Schema 1 stored 2-D datasets as (nx, ny), [i, j] at (x[i], y[j]); written here by hand."""
    s = _surface(4, 3)
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = "loss-landscape-toolkit/1"
        f.attrs["model"], f.attrs["seed"] = "resnet20", 3
        f["xcoordinates"], f["ycoordinates"] = s.x, s.y
        f["train_loss"], f["train_acc"] = s.loss, s.accuracy
        f["done"], f["train_loss_se"] = s.done, s.extras["train_loss_se"]
        f["directions/x/a.weight"] = np.ones((2, 3), dtype=np.float32)
    r = load_surface(path)
    assert r.shape == (4, 3) and r.meta["seed"] == 3
    np.testing.assert_array_equal(r.done, s.done)
    np.testing.assert_array_equal(r.loss[r.done], s.loss[s.done])
    np.testing.assert_array_equal(r.accuracy[r.done], s.accuracy[s.done])
    np.testing.assert_array_equal(r.extras["train_loss_se"], s.extras["train_loss_se"])
    assert direction_order(path) is None and list(load_directions(path)[0]) == ["a.weight"]
    # resuming an old file writes into it in its own orientation
    write_points(path, "train", np.array([11]), {"loss": np.array([7.0])})
    assert load_surface(path).loss[3, 2] == 7.0 and load_surface(path).done[3, 2]
    with h5py.File(path) as f:
        assert f["train_loss"].shape == (4, 3) and f["train_loss"][3, 2] == 7.0


def test_write_points_and_filled_take_memory_indices(tmp_path):
    nx, ny = 4, 3
    x, y = np.linspace(-1, 1, nx), np.linspace(0, 1, ny)
    nan = np.full((nx, ny), np.nan)
    empty = Surface(x=x, y=y, loss=nan.copy(), accuracy=nan.copy(),
                    done=np.zeros((nx, ny), dtype=bool), meta={"split": "train"})
    path = tmp_path / "s.h5"
    store.create_surface_file(path, empty)
    index = np.array([1, 5, 9])  # i * ny + j: (0, 1), (1, 2), (3, 0)
    write_points(path, "train", index, {"loss": np.array([1.0, 2.0, 3.0]),
                                        "train_loss_se": np.array([0.1, 0.2, 0.3])})
    s = load_surface(path)
    assert (s.loss[0, 1], s.loss[1, 2], s.loss[3, 0]) == (1.0, 2.0, 3.0)
    assert s.extras["train_loss_se"][1, 2] == 0.2 and s.done.sum() == 3
    with h5py.File(path) as f:  # in the file at [j, i]
        assert (f["train_loss"][1, 0], f["train_loss"][2, 1], f["train_loss"][0, 3]) == (1, 2, 3)
    filled = np.zeros((nx, ny), dtype=bool)
    filled[2, 2] = filled[0, 1] = True  # (0, 1) is computed: never overwritten
    write_filled(path, "train", filled, {"loss": np.full((nx, ny), 9.0),
                                         "acc": np.full((nx, ny), 90.0)})
    s = load_surface(path)
    assert s.loss[2, 2] == 9.0 and s.filled[2, 2] and not s.done[2, 2]
    assert s.loss[0, 1] == 1.0 and not s.filled[0, 1]


def test_reference_file_with_either_declared_shape(tmp_path):
    # The reference's values are x-fastest whatever the declared shape: (nx, ny) or (ny, nx).
    x, y = np.linspace(-1, 1, 4), np.linspace(-1, 1, 2)
    flat = np.array([100 * a + b for b in y for a in x])  # meshgrid order, x fastest
    for declared in ((4, 2), (2, 4)):
        with h5py.File(tmp_path / "ref.h5", "w") as f:
            f["xcoordinates"], f["ycoordinates"] = x, y
            f["train_loss"] = flat.reshape(declared)
        s = load_surface(tmp_path / "ref.h5")
        A, B = np.meshgrid(x, y, indexing="ij")
        np.testing.assert_array_equal(s.loss, 100 * A + B)


def test_directions_keep_the_model_order(tmp_path):
    names = ["conv.weight", "bn.weight", "bn.bias", "a.weight"]  # not alphabetical
    dirs = [{n: torch.full((2,), float(k)) for k, n in enumerate(names)} for _ in range(2)]
    save_surface(tmp_path / "s.h5", _surface(), directions=dirs)
    assert direction_order(tmp_path / "s.h5") == names
    assert [list(d) for d in load_directions(tmp_path / "s.h5")] == [names, names]


# ---------------------------------------------------------------- the reference's layouts

def _reference_read_list(f, name):
    """The reference's rule: group `name`, entries '0' ... len(group) - 1, a list in order."""
    group = f[name]
    return [np.asarray(group[str(i)]) for i in range(len(group))]


def test_reference_direction_export_follows_their_layout(tmp_path):
    names = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
             "bn.num_batches_tracked", "fc.weight"]
    moved = [n for n in names if n != "bn.num_batches_tracked"]
    gen = torch.Generator().manual_seed(0)
    dirs = [{n: torch.randn(3, 2, generator=gen) for n in moved} for _ in range(2)]
    path = tmp_path / "dir.h5"
    exports.export_reference_directions(path, dirs, names)
    with h5py.File(path) as f:
        assert set(f) == {"xdirection", "ydirection", "names"}
        for group, d in zip(("xdirection", "ydirection"), dirs, strict=True):
            listed = _reference_read_list(f, group)
            assert len(listed) == len(names)
            for name, value in zip(names, listed, strict=True):
                if name in d:
                    np.testing.assert_array_equal(value, d[name].numpy())
                else:  # an integer buffer: a zero scalar, as in the reference's own files
                    assert value.shape == () and value == 0
    back = load_directions(path)  # ours: keyed by name again, the zero entry left out
    assert [list(d) for d in back] == [moved, moved]
    torch.testing.assert_close(back[1]["fc.weight"], dirs[1]["fc.weight"])
    with pytest.raises(ValueError, match="lacks 1 direction tensors"):
        exports.export_reference_directions(tmp_path / "bad.h5", dirs, names[:-1])


def test_our_export_of_the_reference_directions_is_their_file(tmp_path):
    """Directions read from their file, stored in ours, exported again: the same datasets."""
    from landscape.engine.directions import match_directions
    from models import create_model

    with torch.device("meta"):
        params = dict(create_model("resnet20").named_parameters())
    theirs = load_directions(REFERENCE / "directions_2d.h5")
    dirs = [match_directions(d, {k: torch.empty(p.shape) for k, p in params.items()})
            for d in theirs]
    save_surface(tmp_path / "s.h5", _surface(), directions=dirs)
    ours = load_directions(tmp_path / "s.h5")
    exports.export_reference_directions(tmp_path / "dir.h5", ours,
                                        direction_order(tmp_path / "s.h5"))
    with h5py.File(tmp_path / "dir.h5") as a, h5py.File(REFERENCE / "directions_2d.h5") as b:
        for group in ("xdirection", "ydirection"):
            mine, ref = _reference_read_list(a, group), _reference_read_list(b, group)
            assert len(mine) == len(ref) == 65
            for m, r in zip(mine, ref, strict=True):
                np.testing.assert_array_equal(m, r)


@pytest.mark.parametrize("ny", [3, 2, None])
def test_reference_surface_export(tmp_path, ny):
    s = _surface(4, ny)
    exports.export_reference(s, tmp_path / "ref.h5")
    with h5py.File(tmp_path / "ref.h5") as f:
        assert set(f) == {"xcoordinates", "train_loss", "train_acc"} | (
            set() if ny is None else {"ycoordinates"})
        flat = f["train_loss"][()].reshape(-1)
        assert f["train_loss"].shape == s.shape  # declared (nx, ny), as the reference does
    if ny is not None:  # x fastest: (x[i], y[j]) at j * nx + i, -1 where not computed
        for i in range(4):
            for j in range(ny):
                want = s.loss[i, j] if s.done[i, j] else -1.0
                assert flat[j * 4 + i] == want or (np.isnan(want) and np.isnan(flat[j * 4 + i]))
    r = load_surface(tmp_path / "ref.h5")
    assert r.meta["format"] == "reference"
    np.testing.assert_array_equal(r.done, s.done)
    np.testing.assert_array_equal(r.loss[r.done], s.loss[s.done])


# ---------------------------------------------------------------- malformed files

def _good(tmp_path, name="s.h5"):
    path = tmp_path / name
    save_surface(path, _surface(4, 3), directions=[{"a.weight": torch.ones(2)}])
    return path


def test_malformed_files_each_give_one_clear_error(tmp_path):
    cases = {}
    path = _good(tmp_path, "no_done.h5")
    with h5py.File(path, "r+") as f:
        del f["done"]
    cases[path] = "no 'done' dataset"
    path = _good(tmp_path, "no_y.h5")
    with h5py.File(path, "r+") as f:
        del f["ycoordinates"]
    cases[path] = "no 'ycoordinates'"
    path = _good(tmp_path, "shape.h5")
    with h5py.File(path, "r+") as f:
        del f["train_loss"]
        f["train_loss"] = np.zeros((4, 4))
    cases[path] = r"shape \(4, 4\), but its coordinates .* call for \(3, 4\)"
    path = _good(tmp_path, "json.h5")
    data = bytearray(path.read_bytes())
    at = data.find(b"json:[1, 2]")
    assert at >= 0
    data[at + 6] = ord("{")  # a flipped byte in a JSON attribute
    path.write_bytes(bytes(data))
    cases[path] = "attribute 'history' holds JSON that does not parse"
    path = _good(tmp_path, "utf8.h5")
    data = bytearray(path.read_bytes())
    at = data.find(b"resnet20")
    assert at >= 0
    data[at + 2] = 0xFF
    path.write_bytes(bytes(data))
    cases[path] = "attribute 'model' is not valid UTF-8"
    path = _good(tmp_path, "type.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["seed"] = "three"
    cases[path] = "attribute 'seed' should be int, got str"
    path = _good(tmp_path, "split.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["split"] = "test"
    cases[path] = "attribute 'split' says 'test' but the file holds train_loss"
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    cases[path] = "it is empty"
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message) as err:
            load_surface(path)
        assert "\n" not in str(err.value) and "recompute" in str(err.value).lower(), path


def test_cut_or_bit_flipped_files_load_or_give_a_value_error(tmp_path):
    """Whatever the damage, `load_surface` succeeds or raises one ValueError, nothing else."""
    data = _good(tmp_path).read_bytes()
    rng = np.random.default_rng(0)
    damaged = [data[:cut] for cut in range(0, len(data), len(data) // 40)]
    for _ in range(150):
        flipped = bytearray(data)
        for k in rng.integers(0, len(data), 3):
            flipped[k] ^= 1 << int(rng.integers(8))
        damaged.append(bytes(flipped))
    errors = 0
    for k, content in enumerate(damaged):
        path = tmp_path / f"d{k}.h5"
        path.write_bytes(content)
        try:
            load_surface(path)
        except ValueError as err:
            errors += 1
            assert "\n" not in str(err)
    assert errors > 40  # every cut file and some flipped ones

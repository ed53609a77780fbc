"""The surface spec and its fingerprint: a resumed run never mixes results, provenance is true,
a failed run leaves no empty file, and impossible runs are refused before anything is written."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import Axis, Grid, compute_surface, load_surface
from landscape.engine.evaluate import default_loss
from landscape.engine.placement import check_grid_memory
from landscape.engine.spec import SurfaceSpec
from landscape.engine.store import load_directions
from models import create_model
from models.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import make_tiny

LINE = Grid(Axis(-1, 1, 3))


def _first(tmp_path: Path, model=None, data=None, **kwargs) -> Path:
    path = tmp_path / "s.h5"
    compute_surface(model or make_tiny(), data, LINE, path=path, progress=False, **kwargs)
    return path


def _resume(path: Path, model, data, **kwargs):
    return compute_surface(model, data, LINE, path=path, resume=True, progress=False, **kwargs)


def test_the_file_records_the_spec_and_its_fingerprint(tmp_path, tiny_data):
    path = _first(tmp_path, data=tiny_data, seed=3)
    meta = load_surface(path).meta
    spec = SurfaceSpec.from_dict(meta["spec"])
    assert meta["fingerprint"] == spec.fingerprint and len(spec.fingerprint) == 64
    assert (spec.directions, spec.seed, spec.norm, spec.ignore) == ("random", 3, "filter", "biasbn")
    assert spec.samples == 37 and spec.split == "train" and spec.loss == "cross_entropy"
    assert spec.precision == "fp32" and spec.bn == "eval" and len(spec.data_sha256) == 64
    # every field is in the fingerprint
    for field in dataclasses.fields(SurfaceSpec):
        other = dataclasses.replace(spec, **{field.name: "changed"})
        assert other.fingerprint != spec.fingerprint, field.name


def test_resume_with_the_same_spec_computes_nothing_again(tmp_path, tiny_data):
    path = _first(tmp_path, data=tiny_data, seed=3)
    calls = []

    def counting(out, y):
        calls.append(1)
        return default_loss(out, y)

    with pytest.raises(ValueError, match="loss:"):  # another loss function is another spec
        _resume(path, make_tiny(), tiny_data, loss_fn=counting)
    again = _resume(path, make_tiny(), tiny_data)  # seed left out: the file's directions go on
    assert again.is_complete and not calls
    np.testing.assert_array_equal(again.loss, load_surface(path).loss)
    _resume(path, make_tiny(), tiny_data, seed=3, norm="filter")  # named, and equal: fine


@pytest.mark.parametrize("change, fields", [
    ("weights", ["weights_sha256"]),
    ("samples", ["samples", "data_sha256"]),
    ("labels", ["data_sha256"]),
    ("seed", ["seed"]),
    ("norm", ["norm"]),
    ("precision", ["precision"]),
    ("directions", ["directions", "directions_sha256"]),
])
def test_resume_refuses_any_difference_and_names_each_field(tmp_path, tiny_data, change,
                                                            fields):
    path = _first(tmp_path, data=tiny_data, seed=3)
    before = load_surface(path)
    model, data, kwargs = make_tiny(), tiny_data, {}
    if change == "weights":
        model = make_tiny(seed=1)
    elif change == "samples":
        data = (tiny_data[0][:20], tiny_data[1][:20])
    elif change == "labels":
        data = (tiny_data[0], (tiny_data[1] + 1) % 4)
    elif change == "seed":
        kwargs = {"seed": 4}
    elif change == "norm":
        kwargs = {"norm": "layer"}
    elif change == "precision":
        kwargs = {"precision": "bf16"}
    elif change == "directions":
        kwargs = {"directions": [{k: -v for k, v in d.items()} for d in load_directions(path)]}
    with pytest.raises(ValueError, match="cannot resume") as err:
        _resume(path, model, data, **kwargs)
    message = str(err.value)
    for field in fields:
        assert f"{field}: " in message and "in the file" in message, message
    after = load_surface(path)  # refused: the file is as it was
    np.testing.assert_array_equal(after.loss, before.loss)
    assert after.meta["fingerprint"] == before.meta["fingerprint"]


def test_a_file_without_a_spec_is_not_resumed(tmp_path, tiny_data):
    import h5py

    path = _first(tmp_path, data=tiny_data)
    with h5py.File(path, "r+") as f:
        del f.attrs["spec"]
    with pytest.raises(ValueError, match="no fingerprint.*--overwrite"):
        _resume(path, make_tiny(), tiny_data)


def test_a_reference_file_is_not_resumed(tmp_path, tiny_data):
    import shutil

    from tests.paths import REFERENCE

    path = tmp_path / "partial.h5"
    shutil.copy(REFERENCE / "surf_partial_3x3.h5", path)
    grid = Grid(Axis(-1, 1, 3), Axis(-1, 1, 3))
    with pytest.raises(ValueError, match="no fingerprint.*another program"):
        compute_surface(make_tiny(), tiny_data, grid, path=path, resume=True, progress=False)


def test_given_directions_record_no_seed_norm_or_ignore(tmp_path, tiny_data):
    drawn = _first(tmp_path, data=tiny_data, seed=5)
    dirs = load_directions(drawn)
    s = compute_surface(make_tiny(), tiny_data, LINE, directions=dirs, progress=False)
    assert s.meta["seed"] is None and s.meta["norm"] is None and s.meta["ignore"] is None
    assert s.meta["spec"]["directions"] == "given"
    np.testing.assert_allclose(s.loss, load_surface(drawn).loss, rtol=1e-12)
    with pytest.raises(ValueError, match="seed.*directions are given"):
        compute_surface(make_tiny(), tiny_data, LINE, directions=dirs, seed=5, progress=False)


def test_a_run_failing_before_its_first_point_leaves_no_file_and_no_lock(tmp_path, tiny_data):
    path = tmp_path / "s.h5"
    calls = []

    def failing_after(n):
        def loss(out, y):
            calls.append(1)
            if len(calls) > n:
                raise RuntimeError("boom")
            return default_loss(out, y)
        return loss

    grid = Grid(Axis(-1, 1, 9))
    with pytest.raises(RuntimeError, match="boom"):
        compute_surface(make_tiny(), tiny_data, grid, path=path, loss_fn=failing_after(0),
                        progress=False)
    assert not path.exists() and not Path(f"{path}.lock").exists()
    # a failure after a chunk of 4 points was written keeps them, for --resume
    calls.clear()
    loss_fn = failing_after(5)
    with pytest.raises(RuntimeError, match="boom"):
        compute_surface(make_tiny(), tiny_data, grid, path=path, loss_fn=loss_fn,
                        progress=False, batch_size=64)
    assert int(load_surface(path).done.sum()) == 4 and not Path(f"{path}.lock").exists()


def test_labels_beyond_the_head_are_refused_before_anything_is_written(tmp_path, tiny_data):
    x, y = tiny_data
    bad = (x, torch.where(y == 3, torch.full_like(y, 9), y))  # TinyNet scores 4 classes
    path = tmp_path / "s.h5"
    with pytest.raises(ValueError, match=r"labels 0\.\.9.*4 classes.*num_classes=10"):
        compute_surface(make_tiny(), bad, LINE, path=path, progress=False)
    assert not path.exists()


def test_a_grid_too_large_for_memory_is_refused_up_front():
    huge = Grid(Axis(-1, 1, 10**6), Axis(-1, 1, 10**6))
    with pytest.raises(ValueError, match=r"10\^12|1,000,000,000,000 points.*fewer points"):
        check_grid_memory(huge)
    check_grid_memory(Grid(Axis(-1, 1, 51), Axis(-1, 1, 51)))
    with pytest.raises(ValueError, match="at most about 1,000"):
        check_grid_memory(Grid(Axis(-1, 1, 2000), Axis(-1, 1, 2000)),  # 896 bytes a point
                          available=2 * 896 * 10**6)


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet20", width=0.125)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model)
    other = tmp_path / "other.pt"
    torch.manual_seed(1)
    save_checkpoint(other, create_model("resnet20", width=0.125))
    return path, other


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_resume_with_another_checkpoint_or_samples_is_refused(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    common = ["-o", out, "--x", "-1:1:3", "--batch-size", "8"]
    first = _cli("surface", ckpt[0], *common, "--samples", "8")
    assert first.exit_code == 0, first.output
    weights = load_surface(out).meta["spec"]["weights_sha256"]
    _, meta = load_checkpoint(ckpt[0])
    assert weights == meta["sha256"]  # the engine's hash of θ* is the checkpoint's
    for args, field in (([ckpt[1], "--samples", "8"], "weights_sha256"),
                        ([ckpt[0], "--samples", "16"], "samples"),
                        ([ckpt[0], "--samples", "8", "--data-seed", "1"], "data_sha256"),
                        ([ckpt[0], "--samples", "8", "--seed", "2"], "seed")):
        r = _cli("surface", args[0], *common, *args[1:], "--resume")
        assert r.exit_code == 1 and f"{field}: " in r.output, r.output
        assert "Traceback" not in r.output and r.output.count("\n") == 1
    ok = _cli("surface", ckpt[0], *common, "--samples", "8", "--resume")
    assert ok.exit_code == 0, ok.output


def test_cli_refuses_seed_norm_ignore_with_a_direction_file(tmp_path, ckpt):
    first = tmp_path / "s.h5"
    assert _cli("surface", ckpt[0], "-o", first, "--x", "-1:1:3", "--samples", "8").exit_code == 0
    out = tmp_path / "t.h5"
    r = _cli("surface", ckpt[0], "-o", out, "--x", "-1:1:3", "--samples", "8",
             "--directions", first, "--seed", "3", "--norm", "layer")
    assert r.exit_code == 2 and "--seed and --norm" in r.output and not out.exists()


def test_cli_refuses_a_huge_grid_before_loading_anything(tmp_path, ckpt):
    out = tmp_path / "s.h5"
    r = _cli("surface", ckpt[0], "-o", out, "--x", "-1:1:1000000", "--y", "-1:1:1000000")
    assert r.exit_code == 1 and "fewer points per axis" in r.output and not out.exists()

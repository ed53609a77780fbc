"""An ensemble of direction pairs in one file: the first pair at the root equals a plain surface
of the same seed and is what the reference's readers draw, the others sit in ensemble/<k>, a
run interrupted in any pair resumes to the uninterrupted file, and N is part of the spec."""

import h5py
import numpy as np
import pytest

from landscape import (
    Axis,
    Grid,
    compute_ensemble,
    compute_surface,
    load_directions,
    load_ensemble,
    load_surface,
)
from landscape.analysis.statistics import shares_blocks
from landscape.engine import store
from landscape.engine.ensemble import ensemble_size
from tests.conftest import make_tiny, make_tiny_data

GRID = Grid(Axis(-1, 1, 4), Axis(-0.5, 0.5, 3))


def _same(a, b):
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    np.testing.assert_array_equal(a.done, b.done)
    np.testing.assert_array_equal(a.blocks.loss, b.blocks.loss)
    np.testing.assert_array_equal(a.blocks.n, b.blocks.n)
    np.testing.assert_array_equal(a.blocks.correct, b.blocks.correct)


def test_the_first_pair_is_the_plain_surface_of_its_seed_and_the_others_follow(tmp_path,
                                                                               tiny_data):
    path = tmp_path / "e.h5"
    pairs = compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=3, seed=5, path=path,
                             progress=False)
    plain = compute_surface(make_tiny(), tiny_data, GRID, seed=5, path=tmp_path / "p.h5",
                            progress=False)
    _same(pairs[0], plain)
    for da, db in zip(load_directions(path), load_directions(tmp_path / "p.h5"), strict=True):
        assert all(np.array_equal(da[k], db[k]) for k in da)
    # pair k is the plain surface of seed 5 + k, and all share their sample blocks
    third = compute_surface(make_tiny(), tiny_data, GRID, seed=7, progress=False)
    _same(pairs[2], third)
    assert not np.array_equal(pairs[1].loss, pairs[0].loss)
    assert all(shares_blocks(pairs[0], p) for p in pairs[1:])

    back = load_ensemble(path)
    assert len(back) == 3 and store.member_groups(path) == ["ensemble/1", "ensemble/2"]
    for a, b in zip(back, pairs, strict=True):
        _same(a, b)
    assert [s.meta["seed"] for s in back] == [5, 6, 7]
    assert [s.meta["pair"] for s in back] == [0, 1, 2]
    assert {ensemble_size(s) for s in back} == {3} and ensemble_size(plain) is None
    # N is in the fingerprint: the first pair's differs from the plain surface's
    assert back[0].meta["fingerprint"] != load_surface(tmp_path / "p.h5").meta["fingerprint"]
    _same(load_surface(path), pairs[0])  # load_surface reads the first pair
    d1 = load_directions(path, group="ensemble/1")
    assert not all(np.array_equal(d1[0][k], load_directions(path)[0][k]) for k in d1[0])


def test_the_reference_readers_draw_the_first_pair(tmp_path, tiny_data):
    """The 2018 code's plot_2D reads xcoordinates, ycoordinates and train_loss at the root and
    draws Z on meshgrid(x, y): Z[j, i] at (x[i], y[j])."""
    path = tmp_path / "e.h5"
    pairs = compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=2, path=path,
                             progress=False)
    with h5py.File(path, "r") as f:
        x, y = f["xcoordinates"][:], f["ycoordinates"][:]
        z = np.array(f["train_loss"][:])
        acc = np.array(f["train_acc"][:])
    assert z.shape == (len(y), len(x))
    np.testing.assert_array_equal(z, pairs[0].loss.T)
    np.testing.assert_array_equal(acc, pairs[0].accuracy.T)
    np.testing.assert_array_equal(x, GRID.x.values)


class _KilledError(Exception):
    pass


def test_an_ensemble_killed_in_a_later_pair_resumes_to_the_uninterrupted_file(
        tmp_path, tiny_data, monkeypatch):
    whole = tmp_path / "whole.h5"
    want = compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=3, seed=2, path=whole,
                            progress=False)
    part = tmp_path / "part.h5"
    writes = []
    real = store.write_points

    def write_then_die(*args, **kwargs):
        real(*args, **kwargs)  # each write closes the file: a kill after it loses nothing
        writes.append(kwargs.get("group"))
        if kwargs.get("group") == "ensemble/1":
            raise _KilledError

    monkeypatch.setattr(store, "write_points", write_then_die)
    with pytest.raises(_KilledError):
        compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=3, seed=2, path=part,
                         progress=False)
    monkeypatch.setattr(store, "write_points", real)
    begun = load_ensemble(part)
    assert len(begun) == 2 and begun[0].done.all()
    assert 0 < begun[1].done.sum() < begun[1].done.size

    # resumed without the seed: the file's, pair by pair
    got = compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=3, path=part, resume=True,
                           progress=False)
    for a, b, c in zip(got, load_ensemble(part), want, strict=True):
        _same(a, c)
        _same(b, c)


def test_n_is_part_of_what_a_resume_checks(tmp_path, tiny_data):
    path = tmp_path / "e.h5"
    compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=2, path=path, progress=False)
    with pytest.raises(ValueError, match=r"cannot resume .*ensemble: 2 in the file, 3 now"):
        compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=3, path=path, resume=True,
                         progress=False)
    with pytest.raises(ValueError, match=r"ensemble: 2 in the file, None now"):
        compute_surface(make_tiny(), tiny_data, GRID, path=path, resume=True, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=2, path=path, progress=False)
    # --overwrite starts anew, and leaves no pair of the old ensemble behind
    compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=1, path=path, overwrite=True,
                     progress=False)
    assert store.member_groups(path) == [] and ensemble_size(load_surface(path)) == 1


def test_bad_ensembles_are_refused(tiny_data):
    with pytest.raises(ValueError, match="integer >= 1, got 0"):
        compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=0)
    with pytest.raises(ValueError, match="draws its own random directions"):
        compute_ensemble(make_tiny(), tiny_data, GRID, directions=[{}, {}])


def test_an_ensemble_without_a_file_and_with_an_early_stop(tiny_data):
    pairs = compute_ensemble(make_tiny(), tiny_data, GRID, ensemble=2, target_se=0.5,
                             se_block=8, se_min_samples=8, progress=False)
    alone = compute_surface(make_tiny(), tiny_data, GRID, seed=1, target_se=0.5, se_block=8,
                            se_min_samples=8, progress=False)
    _same(pairs[1], alone)
    np.testing.assert_array_equal(pairs[1].extras["train_loss_n"], alone.extras["train_loss_n"])


def test_a_group_that_is_not_there_is_named(tmp_path, tiny_data):
    path = tmp_path / "p.h5"
    compute_surface(make_tiny(), tiny_data, GRID, path=path, progress=False)
    assert load_ensemble(path)[0].shape == (4, 3) and len(load_ensemble(path)) == 1
    with pytest.raises(ValueError, match="holds no direction pair 'ensemble/4'"):
        load_surface(path, group="ensemble/4")


@pytest.mark.slow  # one torchrun launch: three processes that import torch
def test_two_gloo_ranks_write_the_single_process_ensemble(tmp_path, one_thread):
    from tests.landscape.engine.test_surface import CHILD, ROOT, _child_env, _torchrun

    grid = Grid(Axis(-1, 1, 4), Axis(-1, 1, 3))  # CHILD's
    single = tmp_path / "single.h5"
    want = compute_ensemble(make_tiny(), make_tiny_data(), grid, ensemble=2, seed=7,
                            batch_size=64, path=single, progress=False)
    # interrupted in its second pair: half of that pair's points undone
    interrupted = tmp_path / "interrupted.h5"
    interrupted.write_bytes(single.read_bytes())
    with h5py.File(interrupted, "r+") as f:
        done = f["ensemble/1/done"][()]
        done.flat[::2] = False
        f["ensemble/1/done"][...] = done
    sharded = tmp_path / "sharded.h5"
    job = tmp_path / "job.py"
    job.write_text(CHILD)
    _torchrun(["--standalone", "--nproc-per-node", "2", "--max-restarts", "0", "--tee", "3",
               "--log-dir", str(tmp_path / "logs"), str(job), str(sharded), str(interrupted)],
              cwd=ROOT, env=_child_env(ENSEMBLE="2"), timeout=600)
    for path in (sharded, interrupted):
        got = load_ensemble(path)
        assert len(got) == 2
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
            np.testing.assert_allclose(a.blocks.loss, b.blocks.loss, rtol=1e-12)
            assert a.done.all()


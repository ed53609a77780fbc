"""Per-point block sums in the surface file: written beside train_loss as the grid is walked,
read back, kept over a resume, in read order under --target-se, absent from filled points and
from the reference export; surfaces on the same data share their blocks."""

import h5py
import numpy as np
import pytest

from landscape import Axis, Grid, compute_surface, load_surface
from landscape.analysis.statistics import shares_blocks
from landscape.engine.exports import export_reference
from landscape.engine.sums import SampleBlocks, block_count
from tests.conftest import make_tiny

GRID = Grid(Axis(-1, 1, 4), Axis(-0.5, 0.5, 3))


def test_the_file_holds_each_points_block_sums_and_they_add_up(tmp_path, tiny_data):
    path = tmp_path / "s.h5"
    s = compute_surface(make_tiny(), tiny_data, GRID, path=path, progress=False)
    b = block_count(len(tiny_data[0]))
    assert s.blocks.loss.shape == (4, 3, b) and s.blocks.count == b == 4
    np.testing.assert_allclose(s.blocks.loss.sum(-1) / s.blocks.n.sum(-1), s.loss, rtol=1e-12)
    np.testing.assert_allclose(100 * s.blocks.correct.sum(-1) / 37, s.accuracy, rtol=1e-12)
    ids = SampleBlocks.make(37).ids.numpy()
    np.testing.assert_array_equal(s.blocks.n[0, 0], np.bincount(ids))
    with h5py.File(path, "r") as f:
        assert f["train_loss_blocks"].shape == (3, 4, b)  # (ny, nx, B): the loss's own layout
        assert f["train_loss_blocks"].attrs["block_seed"] == 0
    back = load_surface(path)
    np.testing.assert_array_equal(back.blocks.loss, s.blocks.loss)
    np.testing.assert_array_equal(back.blocks.n, s.blocks.n)
    np.testing.assert_array_equal(back.blocks.correct, s.blocks.correct)


def test_an_early_stop_keeps_the_blocks_in_read_order(tmp_path, tiny_data):
    s = compute_surface(make_tiny(), tiny_data, GRID, target_se=0.5, se_block=8,
                        se_min_samples=8, progress=False)
    n = s.extras["train_loss_n"]
    assert (n < 37).any()
    np.testing.assert_array_equal(s.blocks.n.sum(-1), n)
    # read in the seeded order, a point stopped after n samples read the first blocks whole
    ids = SampleBlocks.make(37, permuted=True).ids.numpy()
    for i, j in np.ndindex(n.shape):
        np.testing.assert_array_equal(s.blocks.n[i, j], np.bincount(ids[:int(n[i, j])],
                                                                    minlength=4))
    full = compute_surface(make_tiny(), tiny_data, GRID, progress=False)
    assert shares_blocks(s, full)  # the same samples in the same blocks, read in any order
    whole = s.blocks.n == full.blocks.n  # a block read whole holds the full run's sum
    np.testing.assert_allclose(s.blocks.loss[whole], full.blocks.loss[whole], rtol=1e-10)


def test_filled_points_have_no_block_sums(tiny_data):
    grid = Grid(Axis(-1, 1, 9), Axis(-1, 1, 9))
    s = compute_surface(make_tiny(), tiny_data, grid, refine=10.0, progress=False)
    filled = s.filled & ~s.done
    assert filled.any()
    assert np.isnan(s.blocks.loss[filled]).all() and (s.blocks.n[filled] == 0).all()
    assert np.isfinite(s.blocks.loss[s.done]).all()


def test_two_models_on_the_same_data_share_their_blocks(tiny_data):
    a = compute_surface(make_tiny(0), tiny_data, GRID, progress=False)
    b = compute_surface(make_tiny(1), tiny_data, GRID, progress=False)
    other = compute_surface(make_tiny(1), (tiny_data[0][:30], tiny_data[1][:30]), GRID,
                            progress=False)
    assert shares_blocks(a, b) and not shares_blocks(a, other)


def test_the_reference_export_leaves_the_blocks_out(tmp_path, tiny_data):
    s = compute_surface(make_tiny(), tiny_data, GRID, progress=False)
    export_reference(s, tmp_path / "ref.h5")
    with h5py.File(tmp_path / "ref.h5", "r") as f:
        assert not any("block" in name for name in f)
    assert load_surface(tmp_path / "ref.h5").blocks is None


def test_streamed_batches_have_no_blocks(tiny_data):
    x, y = tiny_data
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 37, 10)]
    s = compute_surface(make_tiny(), batches, GRID, progress=False)
    assert s.blocks is None


@pytest.mark.parametrize("split", ["test"])
def test_blocks_follow_the_split_name(tmp_path, tiny_data, split):
    path = tmp_path / "t.h5"
    compute_surface(make_tiny(), tiny_data, GRID, path=path, split=split, progress=False)
    with h5py.File(path, "r") as f:
        assert f"{split}_loss_blocks" in f and f"{split}_block_n" in f
    assert load_surface(path).blocks is not None

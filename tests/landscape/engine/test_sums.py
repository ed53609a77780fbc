"""Per-sample-block sums: every point's losses and correct counts split over B blocks cut from one
seeded order of the samples, the same blocks whatever order the data is read in."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from landscape.engine.directions import create_directions
from landscape.engine.evaluate import (
    EarlyStop,
    SampleBlocks,
    block_count,
    evaluate_points,
    sample_order,
)
from landscape.engine.params import combine, get_params
from tests.conftest import make_tiny

COORDS = np.array([[0.0, 0.0], [0.4, -0.3], [-1.0, 0.5]])


def _per_sample(model, base, dirs, c, x, y):
    theta = combine(base, dirs, c)
    with torch.no_grad():
        out = functional_call(model, {**dict(model.named_buffers()), **theta}, (x,))
    losses = torch.nn.functional.cross_entropy(out, y, reduction="none").numpy()
    return losses, (out.argmax(1) == y).numpy().astype(float)


def test_block_count_keeps_blocks_of_at_least_eight_samples_and_two_for_a_jackknife():
    assert block_count(10_000) == 32
    assert block_count(100) == 12
    assert block_count(9) == 2 and block_count(2) == 2 and block_count(1) == 1
    assert block_count(10_000, 20) == 20
    with pytest.raises(ValueError, match="must be >= 2"):
        block_count(100, 1)


def test_blocks_are_cut_from_the_seeded_order_in_near_equal_sizes():
    blocks = SampleBlocks.make(37, blocks=4)
    sizes = np.bincount(blocks.ids.numpy(), minlength=4)
    assert sizes.sum() == 37 and sizes.max() - sizes.min() <= 1
    order = sample_order(37).numpy()
    # read in the seeded order, the blocks are contiguous and the same samples' blocks
    permuted = SampleBlocks.make(37, blocks=4, permuted=True).ids.numpy()
    assert (np.diff(permuted) >= 0).all()
    np.testing.assert_array_equal(permuted, blocks.ids.numpy()[order])


def test_block_sums_hold_each_points_samples_by_block(tiny_data):
    model = make_tiny()
    x, y = tiny_data
    base = get_params(model)
    dirs, _ = create_directions(base, seed=3)
    blocks = SampleBlocks.make(len(x), blocks=4)
    stats = evaluate_points(model, base, dirs, COORDS, (x, y), batch_size=5, blocks=blocks)
    ids = blocks.ids.numpy()
    assert stats.block_loss.shape == (3, 4)
    np.testing.assert_array_equal(stats.block_n, np.tile(np.bincount(ids), (3, 1)))
    for p, c in enumerate(COORDS):
        losses, hits = _per_sample(model, base, dirs, c, x, y)
        np.testing.assert_allclose(stats.block_loss[p], np.bincount(ids, losses), rtol=1e-12)
        np.testing.assert_allclose(stats.block_correct[p], np.bincount(ids, hits))
        assert stats.block_loss[p].sum() / len(x) == pytest.approx(stats.loss[p], rel=1e-12)


def test_block_sums_do_not_depend_on_read_order_batching_or_points_per_pass(tiny_data):
    model = make_tiny()
    x, y = tiny_data
    base = get_params(model)
    dirs, _ = create_directions(base, seed=3)
    plain = evaluate_points(model, base, dirs, COORDS, (x, y), batch_size=7,
                            blocks=SampleBlocks.make(len(x), blocks=5))
    order = sample_order(len(x))
    reordered = evaluate_points(model, base, dirs, COORDS, (x[order], y[order]), batch_size=4,
                                points_per_batch=2,
                                blocks=SampleBlocks.make(len(x), blocks=5, permuted=True))
    np.testing.assert_allclose(reordered.block_loss, plain.block_loss, rtol=1e-12)
    np.testing.assert_array_equal(reordered.block_correct, plain.block_correct)
    np.testing.assert_array_equal(reordered.block_n, plain.block_n)


def test_an_early_stopped_point_keeps_the_blocks_it_read(tiny_data):
    model = make_tiny()
    x, y = tiny_data
    order = sample_order(len(x))
    x, y = x[order], y[order]
    base = get_params(model)
    dirs, _ = create_directions(base, seed=3)
    blocks = SampleBlocks.make(len(x), blocks=4, permuted=True)  # sizes 10, 9, 9, 9
    stop = EarlyStop(target=0.5, block=8, min_samples=8)
    stats = evaluate_points(model, base, dirs, COORDS, (x, y), batch_size=8, early_stop=stop,
                            blocks=blocks)
    assert (stats.n < len(x)).any()
    ids = blocks.ids.numpy()
    for p, c in enumerate(COORDS):
        n = int(stats.n[p])
        np.testing.assert_array_equal(stats.block_n[p], np.bincount(ids[:n], minlength=4))
        losses, _ = _per_sample(model, base, dirs, c, x, y)
        np.testing.assert_allclose(stats.block_loss[p], np.bincount(ids[:n], losses[:n], 4),
                                   rtol=1e-12)


def test_blocks_need_sample_tensors_and_are_absent_for_a_loss_reduced_per_batch(tiny_data):
    model = make_tiny()
    x, y = tiny_data
    base = get_params(model)
    dirs, _ = create_directions(base, seed=3)
    blocks = SampleBlocks.make(len(x), blocks=4)
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, len(x), 10)]
    with pytest.raises(ValueError, match="per-block sums need the samples"):
        evaluate_points(model, base, dirs, COORDS, batches, blocks=blocks)
    reduced = evaluate_points(model, base, dirs, COORDS, (x, y), blocks=blocks,
                              loss_fn=torch.nn.functional.cross_entropy)
    assert reduced.block_loss is None
    none = evaluate_points(model, base, dirs, COORDS, (x, y))
    assert none.block_loss is None and none.block_n is None

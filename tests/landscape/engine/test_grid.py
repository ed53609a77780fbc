import numpy as np
import pytest

from landscape.engine.grid import Axis, Grid


def test_parse_and_values():
    axis = Axis.parse("-1:1:5")
    assert axis == Axis(-1.0, 1.0, 5)
    np.testing.assert_allclose(axis.values, [-1, -0.5, 0, 0.5, 1])
    assert str(axis) == "-1:1:5"
    assert Axis.parse("0.25").values.tolist() == [0.25]


@pytest.mark.parametrize("text, message", [
    ("-1:1:0", ">= 1"),
    ("1:-1:5", "min < max"),
    ("1:1:5", "min < max"),
    ("-1:1", "MIN:MAX:NUM"),
    ("-1:1:2.5", "whole number"),
    ("a:b:c", "MIN:MAX:NUM"),
])
def test_bad_axes_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        Axis.parse(text)


def test_point_order_is_row_major_over_nx_ny():
    grid = Grid(Axis(-1, 1, 3), Axis(0, 1, 2))
    assert grid.shape == (3, 2) and grid.size == 6
    coords = grid.coordinates()
    for k, (a, b) in enumerate(coords):
        assert a == grid.x.values[k // 2] and b == grid.y.values[k % 2]


def test_one_dimensional_grid_and_shards():
    grid = Grid(Axis(0, 1, 4))
    assert grid.ndim == 1 and grid.coordinates().shape == (4, 1)
    shards = [grid.shard(np.arange(4), r, 3) for r in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="rank"):
        grid.shard(np.arange(4), 3, 3)

"""A grid without the origin: nothing calls its nearest point θ*."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from landscape.engine.types import Surface
from models import create_model
from models.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_origin_index_is_the_grid_point_at_zero_or_none():
    odd = np.linspace(-1, 1, 5)
    even = np.linspace(-1, 1, 4)
    s = Surface(x=odd, y=odd, loss=np.ones((5, 5)), accuracy=None, done=np.ones((5, 5), bool))
    assert s.origin_index == s.center_index == (2, 2)
    s = Surface(x=odd, y=even, loss=np.ones((5, 4)), accuracy=None, done=np.ones((5, 4), bool))
    assert s.origin_index is None and s.center_index[0] == 2
    line = Surface(x=even, y=None, loss=np.ones(4), accuracy=None, done=np.ones(4, bool))
    assert line.origin_index is None
    shifted = Surface(x=odd + 0.5, y=None, loss=np.ones(5), accuracy=None,
                      done=np.ones(5, bool))
    assert shifted.origin_index == (1,)  # -0.5 + 0.5 = 0 is a grid point


def test_surface_and_info_name_the_point_they_report(tmp_path):
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, create_model("resnet20", width=0.125, seed=0),
                    meta={"dataset": "embedded"})
    out = tmp_path / "even.h5"
    r = run("surface", ckpt, "-o", out, "--x", "-1:1:2", "--y", "-1:1:2", "--samples", "8")
    assert r.exit_code == 0, r.output
    assert "θ* (the origin) is not a grid point; loss at the nearest point (" in r.output
    assert "loss at θ*" not in r.output
    info = run("info", out)
    assert info.exit_code == 0 and "nearest θ* (not a grid point) at (" in info.output
    odd = tmp_path / "odd.h5"
    r = run("surface", ckpt, "-o", odd, "--x", "-1:1:3", "--samples", "8")
    assert r.exit_code == 0 and "loss at θ* " in r.output
    assert "at θ* " in run("info", odd).output

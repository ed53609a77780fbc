"""compute_surface end to end: files, resume after SIGKILL, and two gloo ranks."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape import Axis, Grid, compute_surface, load_surface
from landscape.store import load_directions
from tests.conftest import make_tiny

ROOT = Path(__file__).resolve().parents[2]
GRID = "Grid(Axis(-1, 1, 4), Axis(-1, 1, 3))"
SCRIPT = textwrap.dedent(f"""
    import sys, time, torch
    from landscape import Axis, Grid, compute_surface
    from tests.conftest import make_tiny
    g = torch.Generator().manual_seed(1)
    x = torch.randn(37, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (37,), generator=g)
    def slow_loss(out, t):
        time.sleep(float(sys.argv[2]))
        return torch.nn.functional.cross_entropy(out, t, reduction="none")
    compute_surface(make_tiny(), (x, y), {GRID}, path=sys.argv[1], seed=7, loss_fn=slow_loss,
                    batch_size=64, progress=False, resume=True)
""")


def _run(path: Path, delay: float = 0.0, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(path), str(delay)], cwd=ROOT,
                            env=env, **kwargs)


def _done_count(path: Path) -> int:
    try:
        return int(load_surface(path).done.sum())
    except (ValueError, FileNotFoundError, KeyError, OSError):
        return 0


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole = tmp_path / "whole.h5"
    assert _run(whole).wait(timeout=120) == 0

    part = tmp_path / "part.h5"
    proc = _run(part, delay=0.3)
    deadline = time.monotonic() + 90
    while _done_count(part) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = load_surface(part)
    assert 3 <= interrupted.done.sum() < interrupted.done.size, "kill came too late to test"

    assert _run(part).wait(timeout=120) == 0  # --resume continues with the file's directions
    a, b = load_surface(whole), load_surface(part)
    assert b.done.all()
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    np.testing.assert_allclose(b.accuracy, a.accuracy)
    for da, db in zip(load_directions(whole), load_directions(part), strict=True):
        assert all(np.array_equal(da[k], db[k]) for k in da)


def test_resume_refuses_another_grid_and_existing_file_needs_a_flag(tmp_path, tiny_data):
    path = tmp_path / "s.h5"
    model = make_tiny()
    compute_surface(model, tiny_data, Grid(Axis(-1, 1, 3)), path=path, progress=False)
    with pytest.raises(FileExistsError, match="--resume.*--overwrite"):
        compute_surface(model, tiny_data, Grid(Axis(-1, 1, 3)), path=path, progress=False)
    with pytest.raises(ValueError, match="another grid"):
        compute_surface(model, tiny_data, Grid(Axis(-1, 1, 5)), path=path, resume=True,
                        progress=False)
    again = compute_surface(model, tiny_data, Grid(Axis(-1, 1, 5)), path=path, overwrite=True,
                            progress=False)
    assert again.shape == (5,) and load_surface(path).shape == (5,)


def test_notebook_use_without_a_file(tiny_data):
    s = compute_surface(make_tiny(), tiny_data, Grid(Axis(-1, 1, 3), Axis(-1, 1, 3)),
                        progress=False)
    assert s.is_complete and s.center_index == (1, 1)
    assert s.meta["norm"] == "filter" and s.meta["samples"] == 37
    assert np.nanargmin(s.loss) is not None


@pytest.mark.slow
def test_two_gloo_ranks_write_the_single_process_file(tmp_path):
    single = tmp_path / "single.h5"
    assert _run(single).wait(timeout=120) == 0
    sharded = tmp_path / "sharded.h5"
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", "29517", str(script), str(sharded), "0"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_surface(single), load_surface(sharded)
    assert b.done.all()
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    np.testing.assert_allclose(b.accuracy, a.accuracy)

    # --resume under torchrun: an interrupted file (half its points undone, one done point
    # marked) is finished by the two ranks, which skip the done points and equal the single run
    shutil.copy(single, sharded)
    with h5py.File(sharded, "r+") as f:
        done = f["done"][()]
        done.flat[::2] = False
        f["done"][...] = done
        loss = f["train_loss"][()]
        loss[~done] = np.nan
        loss.flat[1] = 123.0  # a done point (file [j=0, i=1]): recomputing would restore it
        f["train_loss"][...] = loss
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    c = load_surface(sharded)
    assert c.done.all() and c.loss[1, 0] == 123.0
    want = a.loss.copy()
    want[1, 0] = 123.0
    np.testing.assert_allclose(c.loss, want, rtol=1e-12)

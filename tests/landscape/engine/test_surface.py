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
from landscape.engine.store import load_directions
from landscape.engine.types import Surface
from tests.conftest import make_tiny, make_tiny_data

ROOT = Path(__file__).resolve().parents[3]
GRID = Grid(Axis(-1, 1, 4), Axis(-1, 1, 3))
# A child process (alone, or one rank under torchrun) computes the surface of each file named on
# its command line in turn, with resume=True, as `landscape surface --resume` does (an ensemble
# of ENSEMBLE pairs when that is set). With STALL_S set it sleeps that long after each write, so
# that a test can kill it between writes.
CHILD = textwrap.dedent("""
    import os, sys, time
    import torch
    from landscape import Axis, Grid, compute_ensemble, compute_surface, store
    from tests.conftest import make_tiny, make_tiny_data

    stall = float(os.environ.get("STALL_S", "0"))
    write_points = store.write_points

    def write_then_stall(*args, **kwargs):
        write_points(*args, **kwargs)
        time.sleep(stall)

    store.write_points = write_then_stall
    pairs = int(os.environ.get("ENSEMBLE", "0"))  # > 0: an ensemble of that many pairs
    for path in sys.argv[1:]:
        args = (make_tiny(), make_tiny_data(), Grid(Axis(-1, 1, 4), Axis(-1, 1, 3)))
        kwargs = dict(path=path, seed=7, batch_size=64, progress=False, resume=True)
        if pairs:
            compute_ensemble(*args, ensemble=pairs, **kwargs)
        else:
            compute_surface(*args, **kwargs)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    # Every file is written and closed. Leave without running C++ static destructors: one
    # aborted a rank (std::terminate) while a gloo thread wound down, after all its work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
""")


def _compute_here(path: Path) -> Surface:
    """What CHILD computes for `path`, in this process (on one thread, as the children)."""
    return compute_surface(make_tiny(), make_tiny_data(), GRID, path=path, seed=7, batch_size=64,
                           progress=False, resume=True)


def _child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _done_count(path: Path) -> int:
    try:
        return int(load_surface(path).done.sum())
    except (ValueError, FileNotFoundError, KeyError, OSError):
        return 0


@pytest.mark.slow  # a child process that imports torch
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, one_thread):
    whole = tmp_path / "whole.h5"
    _compute_here(whole)

    part = tmp_path / "part.h5"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(part)], cwd=ROOT,
                            env=_child_env(STALL_S="600"))
    try:  # the child writes its first points, then sleeps: kill it there
        deadline = time.monotonic() + 300
        while _done_count(part) == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    interrupted = load_surface(part)
    assert 0 < interrupted.done.sum() < interrupted.done.size, "the child wrote nothing in 300 s"

    _compute_here(part)  # resume continues with the file's directions
    a, b = load_surface(whole), load_surface(part)
    assert b.done.all()
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    np.testing.assert_allclose(b.accuracy, a.accuracy)
    np.testing.assert_allclose(b.blocks.loss, a.blocks.loss, rtol=1e-12)  # per-block sums too
    np.testing.assert_array_equal(b.blocks.n, a.blocks.n)
    np.testing.assert_array_equal(b.blocks.correct, a.blocks.correct)
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


def _torchrun(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run `torchrun ARGS`; on failure or timeout, fail with every rank's output."""
    cmd = [sys.executable, "-m", "torch.distributed.run", *args]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its ranks
        output, _ = proc.communicate()
        pytest.fail(f"torchrun took more than {timeout:.0f} s:\n{_ranks_first(output)}")
    if proc.returncode != 0:
        pytest.fail(f"torchrun exited with {proc.returncode}:\n{_ranks_first(output)}")
    return output


def _ranks_first(output: str) -> str:
    """The ranks' lines (`--tee` prefixes them `[defaultN]:`), then the launcher's last words."""
    ranks = [line for line in output.splitlines() if line.startswith("[default")]
    return "\n".join(ranks[-120:]) + "\n--- torchrun ---\n" + output[-3000:]


@pytest.mark.slow  # one torchrun launch: three processes that import torch
def test_two_gloo_ranks_write_the_single_process_file(tmp_path, one_thread):
    single = tmp_path / "single.h5"
    a = _compute_here(single)
    # An interrupted file for --resume under torchrun: half its points undone, and one done
    # point marked (recomputing it would restore the true value).
    interrupted = tmp_path / "interrupted.h5"
    shutil.copy(single, interrupted)
    with h5py.File(interrupted, "r+") as f:
        done = f["done"][()]
        done.flat[::2] = False
        f["done"][...] = done
        loss = f["train_loss"][()]
        loss[~done] = np.nan
        loss.flat[1] = 123.0  # a done point (file [j=0, i=1]): recomputing would restore it
        f["train_loss"][...] = loss

    # Both files in one launch: a fresh one, then the interrupted one with --resume. A free
    # port (--standalone), not a fixed one that another run on the machine may hold.
    sharded = tmp_path / "sharded.h5"
    job = tmp_path / "job.py"
    job.write_text(CHILD)
    _torchrun(["--standalone", "--nproc-per-node", "2", "--max-restarts", "0", "--tee", "3",
               "--log-dir", str(tmp_path / "logs"), str(job), str(sharded), str(interrupted)],
              cwd=ROOT, env=_child_env(), timeout=600)

    b = load_surface(sharded)
    assert b.done.all()
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-12)
    np.testing.assert_allclose(b.accuracy, a.accuracy)
    np.testing.assert_allclose(b.blocks.loss, a.blocks.loss, rtol=1e-12)  # per-block sums too
    np.testing.assert_array_equal(b.blocks.n, a.blocks.n)
    np.testing.assert_array_equal(b.blocks.correct, a.blocks.correct)

    # the two ranks skipped the done points and computed the others as the single run did
    c = load_surface(interrupted)
    assert c.done.all() and c.loss[1, 0] == 123.0
    want = a.loss.copy()
    want[1, 0] = 123.0
    np.testing.assert_allclose(c.loss, want, rtol=1e-12)


@pytest.mark.slow  # a torchrun launch
def test_a_failing_torchrun_shows_what_each_rank_said(tmp_path):
    job = tmp_path / "job.py"
    job.write_text("import os\nprint('rank', os.environ['RANK'], 'here', flush=True)\n"
                   "raise SystemExit(3) if os.environ['RANK'] == '1' else None\n")
    with pytest.raises(pytest.fail.Exception) as failed:
        _torchrun(["--standalone", "--nproc-per-node", "2", "--max-restarts", "0", "--tee", "3",
                   "--log-dir", str(tmp_path / "logs"), str(job)],
                  cwd=tmp_path, env=_child_env(), timeout=600)
    message = str(failed.value)
    assert "torchrun exited with 1" in message
    assert "[default0]:rank 0 here" in message and "[default1]:rank 1 here" in message

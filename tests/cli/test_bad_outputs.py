"""Outputs go where the user pointed, and nowhere else: a symbolic link is written through, a
FIFO or device is streamed into (never replaced), `-o -` is standard output, side files
(`.lock`, `.partial`) never follow links, long names are refused before any work, and files
are created with the permissions the umask allows."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import COMMANDS, cli
from landscape.engine.store import save_surface, writer_lock
from landscape.engine.types import Surface
from models import create_model
from models.checkpoint import save_checkpoint
from tests.cli.test_bad_inputs import GRID, Workspace

pytestmark = pytest.mark.usefixtures("one_thread")


def _surface(path: Path) -> Path:
    x, y = np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)
    loss = np.add.outer(x ** 2, y ** 2) + 1
    save_surface(path, Surface(x=x, y=y, loss=loss, accuracy=100 - loss,
                               done=np.ones((3, 3), bool), meta={"model": "resnet20"}),
                 directions=[{"a.weight": torch.ones(2)}, {"a.weight": torch.zeros(2)}])
    return path


def _run(args: list[str]):  # noqa: ANN202
    return CliRunner().invoke(cli, [str(a) for a in args])


# command -> (arguments given the source surface S and the output O, what the output starts with)
WRITERS = {
    "export csv": (lambda s, o: ["export", s, "-o", o, "--format", "csv"], b"i,j,x,y,"),
    "export vtk": (lambda s, o: ["export", s, "-o", o, "--format", "vtk"], b"# vtk"),
    "export-directions": (lambda s, o: ["export-directions", s, "-o", o], b"\x89HDF"),
    "view": (lambda s, o: ["view", s, "-o", o], b"<!doctype html>"),
}


@pytest.mark.parametrize("command", WRITERS)
def test_a_symbolic_link_is_written_through(tmp_path: Path, command: str) -> None:
    source = _surface(tmp_path / "s.h5")
    victim = tmp_path / "kept" / "target.out"
    victim.parent.mkdir()
    victim.write_text("old contents")
    victim.chmod(0o640)
    link = tmp_path / "link.out"
    link.symlink_to(victim)
    args, head = WRITERS[command]
    refused = _run(args(source, link))  # the link's target exists: replaced only when asked
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    assert victim.read_text() == "old contents"
    r = _run([*args(source, link), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_bytes().startswith(head)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert sorted(p.name for p in victim.parent.iterdir()) == ["target.out"]


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as f:
            into.append(f.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", WRITERS)
def test_a_fifo_is_streamed_into_not_replaced(tmp_path: Path, command: str) -> None:
    source = _surface(tmp_path / "s.h5")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    args, head = WRITERS[command]
    r = _run(args(source, fifo))
    if r.exit_code != 0:  # let the reader go before failing
        open(fifo, "wb").close()
    reader.join(10)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert got and got[0].startswith(head)


def test_a_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    device = tmp_path / "null"
    try:  # a private copy of /dev/null: the machine's own is never at risk here
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    r = _run(["export", _surface(tmp_path / "s.h5"), "-o", device, "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_dash_writes_to_standard_output(tmp_path: Path) -> None:
    source = _surface(tmp_path / "s.h5")
    r = CliRunner().invoke(cli, ["export", str(source), "-o", "-", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("i,j,x,y,") and "wrote -" not in r.stdout
    assert "wrote -: 9 rows" in r.stderr
    assert not (Path.cwd() / "-").exists()
    r = CliRunner().invoke(cli, ["view", str(source), "-o", "-"])
    assert r.exit_code == 0 and r.stdout.startswith("<!doctype html>"), r.stderr


def test_a_resumable_file_is_never_a_stream(ws: Workspace) -> None:
    ws.checkpoint()
    os.mkfifo(ws.path / "pipe")
    ws.refused(["surface", "good.pt", "-o", "pipe", *GRID], "it is a device or FIFO; this file "
               "is written point by point (to resume it), so it must be a regular file")
    ws.refused(["surface", "good.pt", "-o", "-", *GRID], "it is standard output")


def test_surface_overwrite_writes_through_a_link(ws: Workspace) -> None:
    ws.checkpoint()
    (ws.path / "real").mkdir()
    ws.file("real/s.h5", "old")
    (ws.path / "s.h5").symlink_to(ws.path / "real/s.h5")
    r = ws.run(["surface", "good.pt", "-o", "s.h5", "--x", "-1:1:2", "--samples", "8",
                "--overwrite"])
    assert r.exit_code == 0, r.output
    assert (ws.path / "s.h5").is_symlink()
    assert (ws.path / "real/s.h5").read_bytes().startswith(b"\x89HDF")
    assert sorted(p.name for p in (ws.path / "real").iterdir()) == ["s.h5"]


@pytest.mark.parametrize("side", [".lock", ".partial"])
def test_a_side_file_never_follows_a_link(ws: Workspace, side: str) -> None:
    ws.checkpoint()
    victim = ws.path / "victim.txt"
    victim.write_text("the user's file")
    (ws.path / f"s.h5{side}").symlink_to(victim)
    ws.refused(["surface", "good.pt", "-o", "s.h5", *GRID, "--samples", "8"],
               f"s.h5{side} is a symbolic link, and a side file is never written through one",
               codes=(1,), data_built=True)
    assert victim.read_text() == "the user's file"
    assert not (ws.path / "s.h5").exists()


def test_the_lock_refuses_a_link_directly(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (tmp_path / "e.h5.lock").symlink_to(victim)
    with pytest.raises(ValueError, match="is a symbolic link"), writer_lock(tmp_path / "e.h5"):
        pass
    assert victim.read_text() == "mine"


def test_a_lock_where_none_can_be_made_names_the_output() -> None:
    with pytest.raises(ValueError, match=r"^cannot write /proc/x.h5: No such file or directory "
                                         r"\(/proc/x.h5.lock\); choose another -o"), \
            writer_lock("/proc/x.h5"):
        pass


def test_a_name_too_long_for_the_side_files_is_refused_at_once(ws: Workspace) -> None:
    ws.checkpoint()
    name = "s" * 247 + ".h5"  # 250 bytes: legal, but not with '.partial' after it
    ws.refused(["surface", "good.pt", "-o", name, *GRID], "the file name of -o is 250 bytes "
               "long; a run also writes '.partial' and '.lock' files beside it, so it can be "
               "at most 247 here: use a shorter name")


def test_a_long_name_is_written_whole(tmp_path: Path) -> None:
    source = _surface(tmp_path / "s.h5")
    out = tmp_path / ("e" * 250 + ".csv")
    r = _run(["export", source, "-o", out])
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("i,j,x,y,")


def test_checkpoints_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.pt", create_model("resnet20", width=0.125))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o644


# every command that writes -> (its arguments given the output O, whether O is a folder)
OUTPUT_OF = {
    "surface": (lambda o: ["surface", "a.pt", *GRID, "--samples", "8", "-o", f"{o}.h5"], False),
    "interp": (lambda o: ["interp", "a.pt", "b.pt", "--x", "0:1:3", "--samples", "8",
                          "-o", f"{o}.h5"], False),
    "view": (lambda o: ["view", "s.h5", "-o", f"{o}.html"], False),
    "export": (lambda o: ["export", "s.h5", "-o", f"{o}.csv"], False),
    "export-directions": (lambda o: ["export-directions", "s.h5", "-o", f"{o}.h5"], False),
    "train": (lambda o: ["train", "resnet20", "--samples", "16", "--epochs", "1",
                         "--no-progress", "-o", o], True),
    "hessian": (lambda o: ["hessian", "a.pt", "--samples", "8", "-o", o], True),
    "trajectory": (lambda o: ["trajectory", "a.pt", "b.pt", "a.pt", "--samples", "8",
                              "-o", o], True),
    "responses": (lambda o: ["responses", "a.pt", "--samples", "8", "-o", o], True),
    "connect": (lambda o: ["connect", "a.pt", "b.pt", "--samples", "8", "-o", o], True),
    "degradation": (lambda o: ["degradation", "--depths", "8", "--epochs", "1",
                               "--samples", "16", "-o", o], True),
    "demo": (lambda o: ["demo", "-o", o], True),
    "plot": (lambda o: ["plot", "s.h5", "-o", o], True),
    "compare": (lambda o: ["compare", "s.h5", "s.h5", "-o", o], True),
}


def test_every_command_that_writes_is_checked_below() -> None:
    assert set(OUTPUT_OF) == set(COMMANDS) - {"models", "info"}


@pytest.fixture
def nothing_loaded(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace with two checkpoints and a surface, after which reading a checkpoint or
    an HDF5 file fails the test: an output is judged before any input is read."""
    ws.checkpoint("a.pt")
    ws.checkpoint("b.pt", seed=1)
    _surface(ws.path / "s.h5")

    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"an input was read before the output was checked: {args[:1]}")

    monkeypatch.setattr(torch, "load", loaded)
    monkeypatch.setattr(h5py, "File", loaded)
    return ws


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc file system here")
@pytest.mark.parametrize("command", OUTPUT_OF)
def test_an_output_on_a_file_system_that_takes_no_files(nothing_loaded: Workspace,
                                                          command: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    access = os.access  # to root, as access(2) says, /proc is writable: say so to anyone
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: True
                        if str(path).startswith("/proc") else access(path, mode, **kw))
    args, folder = OUTPUT_OF[command]
    line = nothing_loaded.refused(args("/proc/landscape-out"), "cannot write '/proc/landscape-out")
    assert line.endswith("'/proc' takes no new files (a virtual file system such as /proc?); "
                         "choose another -o")


@pytest.mark.parametrize("command", OUTPUT_OF)
def test_an_output_under_a_regular_file(nothing_loaded: Workspace, command: str) -> None:
    nothing_loaded.file("notes.txt", "mine")
    args, _ = OUTPUT_OF[command]
    nothing_loaded.refused(args("notes.txt/out"),
                           "'notes.txt' is a file, not a folder; choose another -o")
    assert (nothing_loaded.path / "notes.txt").read_text() == "mine"

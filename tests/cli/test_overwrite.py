"""One overwrite rule for every command (outputs of an earlier run are refused without
--overwrite), and a closed pipe ends a command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, cli
from tests.cli.test_plot_cmd import write_plane

ROOT = Path(__file__).resolve().parents[2]
READERS = {"info", "models"}  # they write nothing


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - READERS))
def test_every_command_that_writes_takes_overwrite(name: str):
    command = cli.get_command(click.Context(cli), name)
    assert "overwrite" in {p.name for p in command.params}, name


def test_plot_refuses_its_earlier_pictures_and_replaces_them_with_overwrite(tmp_path: Path):
    src = write_plane(tmp_path / "r20.h5")
    figs = tmp_path / "figs"
    first = run("plot", src, "-o", figs, "--kind", "contour", "--dpi", "30")
    assert first.exit_code == 0, first.output
    picture = Path(first.output.strip())
    before = picture.stat().st_mtime_ns
    again = run("plot", src, "-o", figs, "--kind", "contour", "--dpi", "30")
    assert again.exit_code == 1
    assert f"already holds {picture.name}" in again.output and "--overwrite" in again.output
    assert picture.stat().st_mtime_ns == before
    other = run("plot", src, "-o", figs, "--kind", "heatmap", "--dpi", "30")  # other files
    assert other.exit_code == 0, other.output
    forced = run("plot", src, "-o", figs, "--kind", "contour", "--dpi", "30", "--overwrite")
    assert forced.exit_code == 0, forced.output
    assert Path(forced.output.strip()) == picture


def test_compare_refuses_an_earlier_comparison(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    b = write_plane(tmp_path / "b.h5", a=3.0, skip=False)
    out = tmp_path / "cmp"
    assert run("compare", a, b, "-o", out).exit_code == 0
    page = (out / "compare.md").read_text()
    again = run("compare", b, a, "-o", out)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert "compare.html" in again.output and (out / "compare.md").read_text() == page
    forced = run("compare", b, a, "-o", out, "--overwrite")
    assert forced.exit_code == 0, forced.output
    assert (out / "compare.md").read_text() != page


@pytest.mark.parametrize("command", ["export", "export-directions"])
def test_exports_refuse_an_existing_file(tmp_path: Path, command: str):
    import torch

    from landscape.engine.store import load_surface, save_surface

    src = write_plane(tmp_path / "s.h5")
    if command == "export-directions":
        save_surface(src, load_surface(src), overwrite=True,
                     directions=[{"w": torch.ones(2, 3)}, {"w": torch.zeros(2, 3)}])
    target = tmp_path / "out.h5"
    target.write_text("earlier")
    refused = run(command, src, "-o", target)
    assert refused.exit_code == 1
    assert "exists; pass --overwrite to replace it" in refused.output
    assert target.read_text() == "earlier"
    args = ["--format", "reference"] if command == "export" else []
    done = run(command, src, "-o", target, *args, "--overwrite")
    assert done.exit_code == 0, done.output
    assert target.read_bytes().startswith(b"\x89HDF")


# ---------------------------------------------------------------- a closed pipe


def test_a_closed_pipe_ends_a_command_quietly_and_keeps_what_it_wrote(tmp_path: Path,
                                                                      monkeypatch):
    src = write_plane(tmp_path / "r20.h5")
    echo = click.echo

    def reader_gone(message=None, *args, **kwargs):  # `| head -1`: the first line only
        if reader_gone.lines >= 1:
            raise BrokenPipeError(32, "Broken pipe")
        reader_gone.lines += 1
        echo(message, *args, **kwargs)

    reader_gone.lines = 0
    monkeypatch.setattr("cli.plot_cmd.click.echo", reader_gone)
    result = run("plot", src, "-o", tmp_path / "figs", "--kind", "all", "--dpi", "30")
    assert result.exit_code == 1
    assert "Error" not in result.output and "Broken" not in result.output
    assert len(result.output.splitlines()) == 1
    assert len(list((tmp_path / "figs").glob("*.png"))) == 4  # the pictures stay


@pytest.mark.slow
def test_info_into_a_pipe_closed_by_its_reader_says_nothing():
    src = ROOT / "tests" / "fixtures" / "reference" / "surf_5x3.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "info", str(src)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line is written
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert stderr == ""

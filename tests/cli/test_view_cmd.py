"""`landscape view` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from tests.cli.test_plot_cmd import write_plane


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_view_one_and_two_files(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    b = write_plane(tmp_path / "b.h5", a=3.0, skip=False)
    r = run("view", a, "-o", tmp_path / "one.html")
    assert r.exit_code == 0, r.output
    assert Path(r.output.strip()).stat().st_size > 3_000_000  # plotly.js embedded
    r = run("view", a, b, "-o", tmp_path / "out" / "two.html", "--log")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "out" / "two.html").read_text(encoding="utf-8")
    assert '"name":"resnet20"' in html and '"name":"resnet20, no skip"' in html
    assert "data-cameras-linked" in html


def test_view_errors(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    r = run("view", a, "--labels", "x,y", "-o", tmp_path / "v.html")
    assert r.exit_code == 2 and "1 files need 1 labels" in r.output
    r = run("view", tmp_path / "nope.h5", "-o", tmp_path / "v.html")
    assert r.exit_code == 1 and "no such surface file" in r.output

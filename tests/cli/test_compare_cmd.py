"""`landscape compare` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.cli.test_plot_cmd import REFERENCE, write_plane


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_compare_writes_pictures_page_and_numbers(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    b = write_plane(tmp_path / "b.h5", a=3.0, skip=False)
    out = tmp_path / "cmp"
    r = run("compare", a, b, "-o", out, "--radii", "0.25,0.5", "--eps", "0.2")
    assert r.exit_code == 0, r.output
    assert "sharpness r=0.5" in r.output and "resnet20 no skip" in r.output
    for name in ("compare.png", "compare.html", "compare.json", "compare.md"):
        assert (out / name).exists() and str(out / name) in r.output
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["labels"] == ["resnet20 skip", "resnet20 no skip"]
    assert data["settings"] == {"radii": [0.25, 0.5], "eps": 0.2, "window": 2}
    sharp = {row[0]: row for row in data["rows"]}["sharpness r=0.5"]
    assert sharp[3] == pytest.approx(3.0)  # b is three times as sharp
    assert "points are not computed" in r.output  # the corner left out is reported
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert md.startswith("# resnet20 skip vs resnet20 no skip") and "| metric |" in md


def test_compare_reference_lines_with_labels(tmp_path: Path):
    line = REFERENCE / "line_7.h5"
    r = run("compare", line, line, "-o", tmp_path, "--labels", "first,second", "--log")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "compare.json").read_text())["labels"] == ["first", "second"]


def test_compare_errors(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    r = run("compare", a, tmp_path / "missing.h5", "-o", tmp_path)
    assert r.exit_code == 1 and "no such surface file" in r.output
    r = run("compare", a, a, "--radii", "x", "-o", tmp_path)
    assert r.exit_code == 2 and "numbers separated by commas" in r.output

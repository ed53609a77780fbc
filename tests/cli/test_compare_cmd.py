"""`landscape compare` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.cli.test_plot_cmd import REFERENCE, write_plane


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_compare_writes_pictures_page_numbers_and_a_verdict(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5")
    b = write_plane(tmp_path / "b.h5", a=3.0, skip=False)
    out = tmp_path / "cmp"
    r = run("compare", a, b, "-o", out, "--radii", "0.25,0.5", "--factor", "3")
    assert r.exit_code == 0, r.output
    assert "sharpness r=0.5 (decades)" in r.output and "resnet20, no skip" in r.output
    for name in ("compare.png", "compare.html", "compare.json", "compare.md"):
        assert (out / name).exists() and str(out / name) in r.output
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["labels"] == ["resnet20", "resnet20, no skip"]
    settings = data["settings"]
    assert {k: settings[k] for k in ("radii", "factor", "window", "se_method", "directions")} \
        == {"radii": [0.25, 0.5], "factor": 3.0, "window": 2, "se_method": "jackknife",
            "directions": 1}
    for summary in data["summaries"].values():  # each metric carries its errors (none here)
        assert all({"value", "se", "sd", "n"} <= set(m) for m in summary["metrics"].values())
    rows = {row[0]: row for row in data["rows"]}
    # b = 3 a² + 0.1 vs a² + 0.1: log10 of the rise at r = 0.5 (a grid point at 0.5)
    assert rows["sharpness r=0.5 (decades)"][1] == pytest.approx(np.log10(0.35 / 0.1))
    assert rows["sharpness r=0.5 (decades)"][3] == pytest.approx(np.log10(0.85 / 0.1))
    verdict = data["verdict"]
    assert verdict["candidate"] == "resnet20, no skip" and verdict["known_skip"]
    # files without per-block sums: every difference is shown, none is counted
    assert not verdict["supports"] and not verdict["contradicts"]
    assert {i["metric"]: i["why"] for i in verdict["not_available"]}[
        "sharpness r=0.5 (decades)"] == "no error: shown, not counted"
    assert verdict["headline"] == "inconclusive"
    assert "points are not computed" in r.output  # the corner left out is reported
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert md.startswith("# resnet20 vs resnet20, no skip") and "| metric |" in md
    tail = md[md.index("## Verdict"):]
    assert "Verdict: INCONCLUSIVE. Is the no-skip surface (resnet20, no skip) sharper and " \
        "less convex" in tail
    assert "Not judged \"sharper\": sharpness r=0.25 (decades)" in tail


def test_compare_chooses_a_log_scale_for_a_surface_spanning_decades(tmp_path: Path):
    a = write_plane(tmp_path / "a.h5", a=3e4)  # 0.1 .. 6e4
    out = tmp_path / "cmp"
    r = run("compare", a, a, "-o", out, "--labels", "one,two")
    assert r.exit_code == 0, r.output
    from matplotlib.image import imread

    assert imread(out / "compare.png").std() > 0.1  # not one flat colour
    from landscape.engine.store import load_surface
    from landscape.pictures import plot as pictures

    s = load_surface(a)
    fig = pictures.side_by_side([s, s], ["one", "two"])
    assert "log scale: the values span 5.8 decades" in fig.axes[-1].get_ylabel()


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


def test_compare_of_computed_files_pairs_their_jackknife_errors(tmp_path: Path):
    from landscape import Axis, Grid, compute_surface
    from tests.conftest import make_tiny, make_tiny_data

    grid = Grid(Axis(-1, 1, 7), Axis(-1, 1, 7))
    for seed, name in ((0, "a.h5"), (1, "b.h5")):
        compute_surface(make_tiny(seed), make_tiny_data(), grid, path=tmp_path / name,
                        progress=False)
    out = tmp_path / "cmp"
    r = run("compare", tmp_path / "a.h5", tmp_path / "b.h5", "-o", out, "--labels", "a,b",
            "--radii", "0.1,0.5")
    assert r.exit_code == 0, r.output
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["settings"]["paired"] and data["settings"]["blocks"] == 4
    metrics = data["summaries"]["a"]["metrics"]
    assert metrics["loss at θ*"]["se"] > 0 and metrics["curvature of ln L, λmax"]["se"] > 0
    assert metrics["sharpness r=0.1 (decades)"]["value"] is None  # below the step 1/3
    assert "r=0.1 skipped: r=0.1 is below the grid step 0.3333" in r.output
    assert data["verdict"]["headline"] == "inconclusive"  # one direction pair each

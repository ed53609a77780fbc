"""Two analytic surfaces, or ensembles of direction pairs, side by side: which metrics the
verdict counts and for which claim, with which errors, and the headline."""

from __future__ import annotations

import json

import pytest

from landscape.analysis import verdict
from landscape.pictures import report
from tests.landscape.surfaces import (
    C,
    bowl,
    decades,
    ensemble,
    grid_surface,
    rippled,
)


def test_compare_verdict_supports_a_sharper_rougher_candidate():
    a = ensemble(bowl, skip=True)
    b = ensemble(lambda x, y: 3 * rippled(x, y) - 2 * C, skip=False)
    result = verdict.compare(a, b, ["skip", "no skip"], radii=(0.5,))
    rows = {r[0]: r for r in result["rows"]}
    assert rows["sharpness r=0.5 (decades)"][1] == pytest.approx(decades(0.5), rel=0.05)
    assert rows["sharpness r=0.5 (decades)"][3] > rows["sharpness r=0.5 (decades)"][1]
    v = result["verdict"]
    assert v["candidate"] == "no skip" and v["known_skip"]
    supports = {i["metric"] for i in v["supports"]}
    assert {"sharpness r=0.5 (decades)", "curvature of ln L, λmax", "curvature of ln L, λmin",
            "non-convex share", "basin radius (L ≤ 2·L*)"} <= supports
    # the same count of minima in every pair and replicate: an error of 0, so not counted
    assert {i["metric"]: i["why"] for i in v["not_available"]}["local minima"] == \
        "no error: shown, not counted"
    assert not v["contradicts"]
    assert v["headline"] == "supported" and v["counts"]["supports"] == len(supports)
    assert v["text"].startswith("Verdict: SUPPORTED. Is the no-skip surface (no skip) sharper "
                                "and less convex than the skip surface")
    # the contract for scripts that read compare.json
    data = json.loads(report.to_json(result))
    assert data["settings"]["se_method"] == "jackknife" and data["settings"]["directions"] == 3
    assert data["settings"]["paired"] and data["settings"]["blocks"] == 8
    for summary in data["summaries"].values():
        assert summary["directions"] == 3
        for m in summary["metrics"].values():
            assert {"value", "se", "sd", "n", "error"} <= set(m) and m["n"] == 3


def test_one_direction_pair_never_gives_a_headline_other_than_inconclusive():
    a = ensemble(bowl, pairs=1, skip=True)
    b = ensemble(lambda x, y: 3 * rippled(x, y) - 2 * C, pairs=1, skip=False)
    v = verdict.compare(a, b, ["skip", "no skip"], radii=(0.5,))["verdict"]
    assert v["supports"] and not v["contradicts"]
    assert v["headline"] == "inconclusive" and "1 direction pair" in v["reason"]


def test_a_difference_without_an_error_is_shown_never_counted():
    a = grid_surface(bowl, n=41, skip=True)  # no block sums: no errors
    b = grid_surface(lambda x, y: 3 * rippled(x, y) - 2 * C, n=41, skip=False)
    v = verdict.compare(a, b, ["skip", "no skip"], radii=(0.5,))["verdict"]
    assert not v["supports"] and not v["contradicts"] and not v["inconclusive"]
    assert {i["why"] for i in v["not_available"]} <= {"no error: shown, not counted",
                                                      "not computed, or infinite, on one side"}
    assert v["headline"] == "inconclusive"


def test_a_radius_below_the_grid_step_is_skipped_with_the_reason():
    result = verdict.compare(ensemble(bowl), ensemble(rippled), ["A", "B"], radii=(0.01, 0.5))
    skipped = result["summaries"]["A"]["sharpness"]["0.01"]["skipped"]
    assert "below the grid step 0.05" in skipped
    assert any("r=0.01 skipped" in n for n in result["summaries"]["A"]["notes"])
    names = {i["metric"]: i["why"] for i in result["verdict"]["not_available"]}
    assert names["sharpness r=0.01 (decades)"] == "not computed, or infinite, on one side"


def test_paired_errors_are_smaller_than_unpaired_for_surfaces_on_the_same_samples():
    same = verdict.compare(ensemble(bowl, seed=1), ensemble(rippled, seed=1), ["A", "B"])
    other = verdict.compare(ensemble(bowl, seed=1), ensemble(rippled, seed=2), ["A", "B"])
    assert same["settings"]["paired"] and not other["settings"]["paired"]
    name = "loss at θ*"
    assert same["differences"][name]["se"] < 0.5 * other["differences"][name]["se"]
    assert any("do not share their sample blocks" in c for c in other["verdict"]["cautions"])


def test_compare_of_one_shape_at_two_heights_supports_nothing():
    a = ensemble(bowl, n=21)
    b = ensemble(lambda x, y: 4 * bowl(x, y), n=21)
    v = verdict.compare(a, b, ["A", "B"])["verdict"]
    assert v["candidate"] == "B" and not v["known_skip"]  # no flags: B is the candidate
    assert not v["supports"] and not v["contradicts"] and v["headline"] == "inconclusive"
    assert any("differ in height" in c for c in v["cautions"])


def test_compare_takes_the_noskip_surface_as_candidate_whichever_comes_first():
    a = grid_surface(rippled, skip=False)
    b = grid_surface(bowl, skip=True)
    v = verdict.compare(a, b, ["plain", "resnet"], radii=(0.5,))["verdict"]
    assert v["candidate"] == "plain" and v["reference"] == "resnet"

"""Two analytic surfaces, or ensembles of direction pairs, side by side: which metrics the
verdict counts and for which claim, with which errors, and the headline."""

from __future__ import annotations

import json

import numpy as np
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


def test_holm_holds_a_family_of_one_at_two_errors_and_steps_down_for_more():
    assert verdict.holm([2.01]) == [True] and verdict.holm([1.99]) == [False]
    # 3.0 errors passes α/2, then 2.1 passes α/1: both hold
    assert verdict.holm([2.1, -3.0]) == [True, True]
    # 2.1 errors alone in a family of two must pass α/2 (2.28 errors): nothing holds
    assert verdict.holm([2.1, 0.1]) == [False, False]
    # the walk stops at the first failure: 2.2 fails α/2, so 2.1 never gets its α/1
    assert verdict.holm([2.2, 2.1, 9.0]) == [False, False, True]


def test_holm_keeps_the_family_wise_rate_where_counting_any_crossing_does_not():
    rng = np.random.default_rng(0)
    families = rng.standard_normal((4000, 10))  # ten metrics, no real difference
    any_crossing = np.mean(np.any(np.abs(families) > verdict.Z, axis=1))
    by_holm = np.mean([any(verdict.holm(z)) for z in families])
    assert 0.33 < any_crossing < 0.42   # 1 - 0.9545**10 = 0.37
    assert by_holm <= verdict.FAMILY_ALPHA + 0.01


def _one_sided_result(errors: list[float]) -> dict:
    """A comparison of ten metrics whose differences (B − A) are `errors` combined errors."""
    names = ([f"sharpness r={r}" for r in (1, 2, 3)] + ["curvature of ln L, λmax",
             "curvature of ln L, λmin", "basin radius", "basin area", "non-convex share",
             "local minima", "roughness (log10 loss)"])
    center = {"loss": 0.1, "accuracy": 90.0, "on_grid": True}
    return {"labels": ["A", "B"], "rows": [[n, 1.0, 0.1, 1.0 + z, 0.1]
                                           for n, z in zip(names, errors, strict=True)],
            "differences": {n: {"value": z, "error": 1.0, "se": 1.0, "sd_part": 0.0}
                            for n, z in zip(names, errors, strict=True)},
            "summaries": {"A": {"center": center}, "B": {"center": center}},
            "region": {}, "settings": {"directions_per_surface": [3, 3], "paired": True}}


def test_one_crossing_among_ten_is_labelled_but_does_not_make_the_headline():
    v = verdict.verdict(_one_sided_result([0.5, -0.3, 0.2, 1.1, -2.1, 0.0, 0.4, 0.9, -1.2, 0.3]))
    assert v["counts"]["contradicts"] == 1  # λmin at 2.1 errors, as one metric
    assert v["contradicts"][0]["errors"] == pytest.approx(-2.1)
    assert not v["contradicts"][0]["holds"] and v["family"]["contradicts"] == []
    assert v["headline"] == "inconclusive"
    assert v["reason"].startswith("counting the metrics that hold family-wise (Holm over the "
                                  "10 judged, at 4.6%): \"sharper\" inconclusive (0 for, 0 "
                                  "against) and \"less convex\" inconclusive (0 for, 0 against)")
    # the same crossing at 3.5 errors holds with the nine others taken into account
    v = verdict.verdict(_one_sided_result([0.5, -0.3, 0.2, 1.1, -3.5, 0.0, 0.4, 0.9, -1.2, 0.3]))
    assert v["family"]["contradicts"] == ["curvature of ln L, λmin"]
    assert v["headline"] == "contradicted" and "holds family-wise" in v["text"]
    assert v["family"]["judged"] == 10 and v["family"]["method"] == "holm"


@pytest.mark.parametrize(("sharpness", "share", "parts", "headline"), [
    (+5.0, +5.0, ("supported", "supported"), "supported"),
    (-5.0, +5.0, ("contradicted", "supported"), "contradicted"),  # less convex, yet flatter
    (+5.0, 0.0, ("supported", "inconclusive"), "inconclusive"),  # sharper, convexity unknown
    (+5.0, -5.0, ("supported", "contradicted"), "contradicted"),
])
def test_the_headline_is_the_claim_of_both_parts(sharpness, share, parts, headline):
    errors = [0.0] * 10
    errors[1], errors[7] = sharpness, share  # sharpness r=2, non-convex share
    v = verdict.verdict(_one_sided_result(errors))
    assert (v["parts"]["sharper"]["word"], v["parts"]["less convex"]["word"]) == parts
    assert v["headline"] == headline


def test_a_larger_basin_contradicts_sharper():
    errors = [0.0] * 10
    errors[5] = +5.0  # basin radius grows in the candidate: flatter
    v = verdict.verdict(_one_sided_result(errors))
    assert v["parts"]["sharper"] == {"word": "contradicted", "supports": [],
                                     "contradicts": ["basin radius"]}
    assert v["headline"] == "contradicted"

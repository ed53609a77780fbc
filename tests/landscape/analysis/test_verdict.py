"""Two analytic surfaces side by side: which metrics the verdict counts, and for which claim."""

from __future__ import annotations

import pytest

from landscape.analysis import verdict
from tests.landscape.surfaces import (
    C,
    bowl,
    decades,
    grid_surface,
    rippled,
)


def test_compare_verdict_supports_a_sharper_rougher_candidate():
    se = lambda loss: 0.01 * loss  # noqa: E731 - 1% per point
    a = grid_surface(bowl, n=41, se=se, skip=True)
    b = grid_surface(lambda x, y: 3 * rippled(x, y) - 2 * C, n=41, se=se, skip=False)
    result = verdict.compare(a, b, ["skip", "no skip"], radii=(0.5,))
    rows = {r[0]: r for r in result["rows"]}
    assert rows["sharpness r=0.5 (decades)"][1] == pytest.approx(decades(0.5))
    assert rows["sharpness r=0.5 (decades)"][3] > rows["sharpness r=0.5 (decades)"][1]
    v = result["verdict"]
    assert v["candidate"] == "no skip" and v["known_skip"]
    supports = {i["metric"] for i in v["supports"]}
    assert {"sharpness r=0.5 (decades)", "curvature of ln L, λmax", "local minima",
            "non-convex share"} <= supports
    assert not v["contradicts"]
    assert "Is the no-skip surface (no skip) sharper and less convex than the skip surface" \
        in v["text"]


def test_compare_of_one_shape_at_two_heights_supports_nothing():
    se = lambda loss: 0.02 * loss  # noqa: E731
    a = grid_surface(bowl, se=se)
    b = grid_surface(lambda x, y: 4 * bowl(x, y), se=se)
    v = verdict.compare(a, b, ["A", "B"])["verdict"]
    assert v["candidate"] == "B" and not v["known_skip"]  # no flags: B is the candidate
    assert not v["supports"] and not v["contradicts"]
    assert any("differ in height" in c for c in v["cautions"])


def test_compare_takes_the_noskip_surface_as_candidate_whichever_comes_first():
    a = grid_surface(rippled, skip=False)
    b = grid_surface(bowl, skip=True)
    v = verdict.compare(a, b, ["plain", "resnet"], radii=(0.5,))["verdict"]
    assert v["candidate"] == "plain" and v["reference"] == "resnet"

"""benchmarks/grid_speed.py --model gpt-mini runs end to end on a tiny configuration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_grid_speed_on_gpt_mini_writes_ours_the_limit_and_the_paired_ratio(tmp_path,
                                                                          monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import grid_speed

    out = tmp_path / "lm.json"
    result = grid_speed.main(["--model", "gpt-mini", "--samples", "32", "--grid", "2x2",
                              "--batch-size", "32", "--no-compile", "--pair-rounds", "2",
                              "--plan-images", "64", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["config"]["block_size"] == 32 and saved["config"]["json"] == "lm.json"
    assert {"ours", "ours_steady", "ours_bf16", "limit"} <= set(result["methods"])
    assert result["methods"]["limit"]["how"].startswith("eager, batch 32")
    ratio = result["ratios"]["ours/limit (paired)"]
    assert 0 < ratio < 10 and ratio == saved["paired"]["fp32"]["ours/limit"]
    sys.modules.pop("grid_speed", None)

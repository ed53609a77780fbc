"""The report of a summary or comparison: text table, Markdown (labels escaped) and JSON."""

from __future__ import annotations

import json

import pytest

from landscape.analysis import metrics, verdict
from landscape.pictures import report
from tests.landscape.surfaces import (
    bowl,
    grid_surface,
    line_surface,
    rippled,
)


def test_compare_table_markdown_and_escaping():
    a = grid_surface(bowl)
    b = grid_surface(lambda x, y: 3 * rippled(x, y), n=41)
    nasty = "<script>x</script> *a*|b \x1b[31m"
    result = verdict.compare(a, b, ["skip", nasty], radii=(0.5,))
    assert result["region"]["cropped"]  # 41 vs 21 points: compared on the 21 shared
    table = report.format_table(result)
    assert table.splitlines()[0].split()[:2] == ["metric", "skip"]
    assert "sharpness r=0.5 (decades)" in table and "Caution:" in table
    md = report.format_markdown(result)
    assert md.startswith("| metric | skip | ")
    assert "<script>" not in md and "\x1b" not in md
    assert "&lt;script&gt;" in md and r"\*a\*\|b" in md and r"\\x1b\[31m" in md
    assert "\n## Verdict\n" in md and md.rstrip().splitlines()[-1].startswith("Caution:")
    # each sentence of the verdict its own paragraph, its metric lines one list
    section = md.split("## Verdict\n", 1)[1].strip().split("\n\n")
    assert section[0].startswith("Verdict: ") and section[1].startswith("A metric counts")
    items = [block for block in section if block.startswith("- ")]
    assert len(items) == 1 and all(line.startswith("- ") for line in items[0].splitlines())
    assert all("\n" not in block for block in section if not block.startswith("- "))
    json.loads(report.to_json(result))
    with pytest.raises(ValueError, match="two distinct labels"):
        verdict.compare(a, b, ["x", "x"])


def test_format_one_summary():
    text = report.format_table(metrics.summarize(line_surface(lambda a: a ** 2 + 1)))
    assert "loss at θ*" in text and "accuracy at θ* (%)" in text

"""`landscape demo --task lm` on a tiny configuration, in one process."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli

TINY = ["--processes", "1", "--train-samples", "64", "--eval-samples", "16", "--grid", "3",
        "--epochs", "1", "--batch-size", "32"]


@pytest.mark.slow  # trains two transformers, computes, draws and compares two 3x3 surfaces
def test_lm_demo_trains_both_twins_and_compares_them(tmp_path):
    out = tmp_path / "lm"
    r = CliRunner().invoke(cli, ["demo", "--task", "lm", "--blocks", "1", "-o", str(out),
                                 *TINY])
    assert r.exit_code == 0, r.output
    assert "gpt-mini-noskip: 1 epochs" in r.output and "unigram entropy 3.932" in r.output
    summary = json.loads((out / "demo.json").read_text())
    assert summary["task"] == "lm" and summary["settings"]["blocks"] == 1
    assert summary["settings"]["lr"] == 3e-3              # the LM's default, not the ResNet's
    assert summary["settings"]["train_samples"] == 64     # what was given is kept
    for name in ("gpt-mini", "gpt-mini-noskip"):
        assert (out / f"{name}.h5").exists() and (out / name / "final.pt").exists()
    assert (out / "compare" / "compare.png").exists()
    text = (out / "compare" / "compare.md").read_text()
    assert "gpt-mini, 1 block" in text


def test_blocks_belongs_to_the_lm_task(tmp_path):
    r = CliRunner().invoke(cli, ["demo", "--blocks", "2", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--blocks" in r.output

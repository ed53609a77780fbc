"""benchmarks/record.py: what every benchmark's JSON says of how it ran, and how it is written."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def record(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.delitem(sys.modules, "record", raising=False)
    import record

    return record


def test_the_config_holds_the_arguments_the_json_by_name_the_load_and_the_time(record, tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=64)
    record.add_record_options(parser)
    args = parser.parse_args(["--json", str(tmp_path / "deep" / "out.json")])
    config = record.run_config(args, torch="2.x", samples=128)
    assert config["json"] == "out.json"  # no folder of this machine
    assert config["samples"] == 128 and config["torch"] == "2.x" and config["note"] is None
    assert isinstance(config["load_start"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", config["time"])
    assert "time" not in record.run_config(args, stamp=False)
    assert record.run_config(argparse.Namespace(json=None))["json"] is None


def test_write_json_makes_the_folder_and_writes_what_it_returns(record, tmp_path):
    out = {"config": {"cpu": record.cpu_name()}, "seconds": np.float64(1.5), "n": [1, 2]}
    path = tmp_path / "a" / "b" / "out.json"
    text = record.write_json(str(path), out, indent=1)
    assert path.read_text(encoding="utf-8") == text + "\n"
    assert json.loads(text) == {"config": {"cpu": out["config"]["cpu"]}, "seconds": 1.5,
                                "n": [1, 2]}
    assert out["config"]["cpu"]  # a name, never empty
    assert json.loads(record.write_json(None, {"a": 1})) == {"a": 1}
    assert not (tmp_path / "None").exists()

"""`landscape models` through click's CliRunner."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from cli.main import cli
from models import create_model, list_models


def test_models_lists_the_zoo_with_counts_and_skip() -> None:
    result = CliRunner().invoke(cli, ["models"], catch_exceptions=False)
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert set(rows) == set(list_models())
    assert rows["resnet56"][1:3] == ["855,770", "yes"]
    assert rows["resnet56-noskip"][2] == "no"
    assert rows["resnet18"][1] == "11,689,512" and rows["resnet152"][1] == "60,192,808"


def test_models_is_registered_in_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "models" in result.output and "train" in result.output


def test_the_command_finds_a_model_module_of_the_current_folder(tmp_path, monkeypatch):
    """`landscape train mynets:small_cnn` from the folder holding mynets.py works as
    `python -m` would: the current folder is on the path, after everything installed."""
    (tmp_path / "mynets_for_the_path_test.py").write_text(
        "import torch.nn as nn\n\n\ndef small(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, num_classes))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    net = create_model("mynets_for_the_path_test:small")
    assert net[1].out_features == 10
    assert sys.path[-1] == str(tmp_path)  # last: it hides nothing installed
    sys.modules.pop("mynets_for_the_path_test", None)

"""`landscape models` through click's CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

from cli.main import cli
from models import list_models


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

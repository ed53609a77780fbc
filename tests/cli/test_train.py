"""`landscape train` through click's CliRunner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from models.checkpoint import load_checkpoint
from tests.models.fakes import write_fake_cifar

TINY = ["--width", "0.25", "--samples", "64", "--test-samples", "32", "--batch-size", "16",
        "--no-progress"]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny nets: one intra-op thread is as fast, and far faster on busy shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_train_writes_checkpoints_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run("train", "resnet20", "-o", out, "--epochs", "2", "--save-every", "1",
                 "--seed", "3", *TINY)
    assert result.exit_code == 0, result.output
    assert f"checkpoints in {out}/" in result.output and str(out / "final.pt") in result.output
    assert sorted(p.name for p in out.iterdir()) == ["epoch_000.pt", "epoch_001.pt",
                                                     "epoch_002.pt", "final.pt"]
    model, meta = load_checkpoint(out / "final.pt")
    assert meta["arch"] == "resnet20" and meta["arch_kwargs"]["width"] == 0.25
    assert meta["dataset"] == "embedded" and meta["epoch"] == 2
    assert meta["data"]["n"] == 64 and meta["train"]["seed"] == 3
    assert len(meta["history"]["test_acc"]) == 2


def test_train_noskip_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    assert run("train", "resnet20-noskip", "-o", out, "--epochs", "1", *TINY).exit_code == 0
    result = run("train", "resnet20-noskip", "-o", out, "--epochs", "2", "--resume",
                 out / "epoch_001.pt", *TINY)
    assert result.exit_code == 0, result.output
    _, meta = load_checkpoint(out / "final.pt")
    assert meta["skip"] is False and meta["epoch"] == 2 and meta["history"]["epoch"] == [1, 2]


def test_train_on_fake_cifar(tmp_path: Path) -> None:
    write_fake_cifar(tmp_path / "data", "cifar100", per_file=8)
    result = run("train", "resnet20", "-o", tmp_path / "c", "--dataset", "cifar100",
                 "--data-root", tmp_path / "data", "--epochs", "1", "--width", "0.25",
                 "--batch-size", "8", "--no-progress", "--schedule", "step", "--lr", "0.05")
    assert result.exit_code == 0, result.output
    model, meta = load_checkpoint(tmp_path / "c" / "final.pt")
    assert model.linear.out_features == 100 and meta["data"]["augment"] is True


def test_train_errors_are_clean(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "resnet5", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "unknown model 'resnet5'" in result.output
    result = CliRunner().invoke(cli, ["train", "resnet20", "--dataset", "cifar10",
                                      "--data-root", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert "--download" in result.output and "cifar-10-batches-py" in result.output


def test_a_new_run_never_mixes_with_an_earlier_one(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run("train", "resnet20", "-o", out, "--epochs", "2", *TINY).exit_code == 0
    result = CliRunner().invoke(cli, ["train", "resnet20", "-o", str(out), "--epochs", "1",
                                      *TINY])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "already holds epoch_000.pt, epoch_001.pt, epoch_002.pt, final.pt" in result.output
    assert load_checkpoint(out / "final.pt")[1]["epoch"] == 2  # untouched
    result = run("train", "resnet20", "-o", out, "--epochs", "1", "--overwrite", *TINY)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["epoch_000.pt", "epoch_001.pt",
                                                     "final.pt"]  # epoch_002 of the old run: gone
    assert load_checkpoint(out / "final.pt")[1]["epoch"] == 1

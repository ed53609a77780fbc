"""Runs never mix: `train --resume` continues only the run it was given (any other setting,
data or network is refused, naming it), and one training folder has one writer at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape.engine.store import writer_lock
from models.checkpoint import read_checkpoint, state_dict_sha256
from tests.cli.test_bad_inputs import Workspace
from tests.models.fakes import write_fake_cifar

pytestmark = pytest.mark.usefixtures("one_thread")

FIRST = ["train", "resnet20", "--width", "0.125", "--samples", "16", "--test-samples", "8",
         "--epochs", "1", "--batch-size", "8", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of a tiny run, trained once for the module."""
    folder = tmp_path_factory.mktemp("run") / "t"
    result = CliRunner().invoke(cli, [*FIRST, "-o", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def _resume(ws: Workspace, trained: Path) -> list[str]:
    shutil.copytree(trained, ws.path / "t")
    return ["train", "resnet20", "--resume", "t/epoch_001.pt", "-o", "t", "--epochs", "2",
            "--samples", "16", "--test-samples", "8", "--batch-size", "8", "--no-progress"]


CHANGES = [  # (options changed on resume, what the refusal names)
    (["--lr", "0.05"], "lr 0.1 in the checkpoint, 0.05 now"),
    (["--seed", "1"], "seed 0 in the checkpoint, 1 now"),
    (["--batch-size", "4"], "batch_size 8 in the checkpoint, 4 now"),
    (["--schedule", "step"], "schedule 'cosine' in the checkpoint, 'step' now"),
    (["--momentum", "0.5"], "momentum 0.9 in the checkpoint, 0.5 now"),
    (["--weight-decay", "0"], "weight_decay 0.0005 in the checkpoint, 0.0 now"),
    (["--nesterov"], "nesterov False in the checkpoint, True now"),
    (["--data-seed", "3"], "data seed 0 in the checkpoint, 3 now"),
    (["--samples", "24"], "data n 16 in the checkpoint, 24 now"),
    (["--test-samples", "4"], "data test_n 8 in the checkpoint, 4 now"),
    (["--dataset", "cifar10", "--data-root", "fake"],
     "dataset 'embedded' in the checkpoint, 'cifar10' now"),
]


@pytest.mark.parametrize(("change", "named"), CHANGES, ids=[" ".join(c) for c, _ in CHANGES])
def test_a_resume_with_other_settings_is_refused(ws: Workspace, trained: Path,
                                                 change: list[str], named: str) -> None:
    write_fake_cifar(ws.path / "fake", "cifar10", per_file=8)
    args = _resume(ws, trained)
    for option in change:  # the change replaces the option where the resume gives it
        if option.startswith("--") and option in args:
            at = args.index(option)
            del args[at:at + 2]
    line = ws.refused([*args, *change], named, codes=(1,), data_built=True)
    assert "this run would train differently from the one it continues" in line
    assert sorted(p.name for p in (ws.path / "t").iterdir()) == ["epoch_000.pt",
                                                                 "epoch_001.pt", "final.pt"]


@pytest.mark.parametrize(("change", "named"), [
    (["--width", "0.25"], "--width 0.125 in the checkpoint, 0.25 now"),
    (["--num-classes", "20"], "--num-classes 10 in the checkpoint, 20 now"),
])
def test_a_resume_of_another_network_is_refused(ws: Workspace, trained: Path,
                                                change: list[str], named: str) -> None:
    args = _resume(ws, trained)
    ws.refused([*args, *change], f"it holds another network ({named})", codes=(1,))


def test_the_same_settings_resume_and_record_the_epochs(ws: Workspace, trained: Path) -> None:
    args = _resume(ws, trained)
    result = ws.run([*args, "--lr", "0.1", "--width", "0.125"])
    assert result.exit_code == 0, result.output
    meta = read_checkpoint(ws.path / "t/final.pt")["meta"]
    assert meta["epoch"] == 2
    assert meta["runs"] == [{"from_epoch": 0, "epochs": 1, "save_every": 1},
                            {"from_epoch": 1, "epochs": 2, "save_every": 1}]


@pytest.mark.parametrize("extra", [[], ["--overwrite"]], ids=["new", "overwrite"])
def test_a_folder_being_trained_into_is_refused(ws: Workspace, trained: Path,
                                                extra: list[str]) -> None:
    shutil.copytree(trained, ws.path / "t")
    with writer_lock(ws.path / "t"):  # another run holds the folder
        before = {p.name: p.read_bytes() for p in (ws.path / "t").iterdir()}
        ws.refused([*FIRST, "-o", "t", *extra], "is being written by another process",
                   codes=(1,))
        assert {p.name: p.read_bytes() for p in (ws.path / "t").iterdir()} == before


def _diverged(path: Path) -> None:
    """Put NaN and inf into a weight of the checkpoint `path`, as a diverged run leaves it (the
    recorded hash updated, so that only the values are wrong)."""
    blob = read_checkpoint(path)
    weight = blob["state_dict"]["layer1.0.conv1.weight"]
    weight.view(-1)[:2] = torch.tensor([float("nan"), float("inf")])
    blob["meta"]["sha256"] = state_dict_sha256(blob["state_dict"])
    torch.save(blob, path)


def test_a_diverged_checkpoint_resumes_only_when_asked(ws: Workspace, trained: Path) -> None:
    args = _resume(ws, trained)
    _diverged(ws.path / "t/epoch_001.pt")
    line = ws.refused(args, "holds NaN or inf weights: layer1.0.conv1.weight has 2 of 36 "
                      "values that are not finite", codes=(1,))
    assert "pass --allow-nonfinite to go on anyway" in line
    result = ws.run([*args, "--allow-nonfinite"])
    assert result.exit_code == 0, result.output
    final = read_checkpoint(ws.path / "t/final.pt")
    assert final["meta"]["epoch"] == 2
    assert final["meta"]["runs"][-1] == {"from_epoch": 1, "epochs": 2, "save_every": 1}
    # trained on from the weights it was given: SGD spreads their NaN, nothing restarted
    assert not torch.isfinite(final["state_dict"]["layer1.0.conv1.weight"]).all()


def test_allow_nonfinite_needs_a_resume(ws: Workspace) -> None:
    ws.refused([*FIRST, "-o", "t", "--allow-nonfinite"], "--allow-nonfinite lets --resume "
               "continue a checkpoint whose weights hold NaN or inf", codes=(2,))

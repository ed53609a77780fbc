"""Checkpoints built to exhaust the machine or to waste a run: refused in one line, before the
model is built, its weights hashed or the data made.

The hostile files stay small (the largest here is about 1 MB); what they ask for is refused
before it is allocated, which the tests check by the refusal itself and by the functions that
must not have run.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
import torch

import models.checkpoint
from models import create_model
from models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from models.legacy import MAGIC, VERSION
from tests.cli.test_bad_inputs import GRID, Workspace

pytestmark = pytest.mark.usefixtures("one_thread", "memory_ceiling")

# command -> its arguments given the checkpoint BAD (and a good one where it needs two)
COMMANDS = {
    "surface": lambda ws, bad: ["surface", bad, "-o", "s.h5", *GRID, "--samples", "8"],
    "interp": lambda ws, bad: ["interp", ws.checkpoint(), bad, "-o", "i.h5", "--x", "0:1:3",
                               "--samples", "8"],
    "hessian": lambda ws, bad: ["hessian", bad, "-o", "h", "--samples", "8"],
    "responses": lambda ws, bad: ["responses", bad, "-o", "r", "--samples", "8"],
    "trajectory": lambda ws, bad: ["trajectory", ws.checkpoint("a.pt", seed=1),
                                   ws.checkpoint("b.pt", seed=2), ws.checkpoint("c.pt", seed=3),
                                   bad, "-o", "t", "--samples", "8", "--num", "3"],
    "train --resume": lambda ws, bad: ["train", "resnet20", "--resume", bad, "-o", "t",
                                       "--epochs", "2", "--samples", "16", "--no-progress"],
}


def _expanded(path: Path, classes: int) -> None:
    """A ResNet-20 checkpoint whose head is one stored zero expanded to `classes` rows."""
    net = create_model("resnet20", width=0.125)
    state = net.state_dict()
    features = state["linear.weight"].shape[1]
    state["linear.weight"] = torch.zeros(1).expand(classes, features)
    state["linear.bias"] = torch.zeros(1).expand(classes)
    torch.save({"format": models.checkpoint.FORMAT, "state_dict": state,
                "meta": {"arch": "resnet20", "arch_kwargs": {"width": 0.125, "skip": True,
                                                             "num_classes": classes},
                         "epoch": 1}}, path)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_expanded_tensor_is_refused_before_anything_is_built(ws: Workspace,
                                                                 command: str) -> None:
    _expanded(ws.path / "wide.pt", 1_000_000)  # 32 MB of logical weights in a 30 kB file
    assert (ws.path / "wide.pt").stat().st_size < 100_000
    ws.refused(COMMANDS[command](ws, "wide.pt"), "is stored in 4 bytes, so its elements "
               "overlap (an expanded view)", codes=(1,))


def test_a_huge_expanded_tensor_is_refused_at_once(tmp_path: Path) -> None:
    # 4e9 x 64 floats (1 TB) as a view of one float: refused by its storage, allocating nothing
    torch.save({"w": torch.zeros(1).expand(4_000_000_000, 64)}, tmp_path / "huge.pt")
    tick = time.perf_counter()
    with pytest.raises(ValueError, match=r"the tensor 'w' of shape \(4000000000, 64\) .* is "
                                         r"stored in 4 bytes"):
        read_checkpoint(tmp_path / "huge.pt")
    assert time.perf_counter() - tick < 5


def _refused_before_the_hash(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                             extra: torch.Tensor, message: str) -> None:
    """A bare ResNet-20 state dict with one more key, 'extra': `surface` refuses it with
    `message` before it hashes any weight."""
    hashed: list[int] = []
    real = models.checkpoint.state_dict_sha256
    monkeypatch.setattr(models.checkpoint, "state_dict_sha256",
                        lambda t: hashed.append(1) or real(t))
    state = create_model("resnet20", width=0.125).state_dict()
    torch.save({**state, "extra": extra}, ws.path / "bare.pt")
    ws.refused(["surface", "bare.pt", "--model", "resnet20", "-o", "s.h5", *GRID],
               message, codes=(1,))
    assert not hashed


def test_an_expanded_extra_key_is_refused_before_the_hash(ws: Workspace,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    _refused_before_the_hash(ws, monkeypatch, torch.zeros(1).expand(2**20, 2**10),
                             "'extra' of shape (1048576, 1024)")


def test_the_keys_are_checked_before_the_weights_are_hashed(ws: Workspace,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    _refused_before_the_hash(ws, monkeypatch, torch.zeros(1000), "unexpected keys (1): extra")


def test_records_larger_than_memory_are_refused_before_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_checkpoint(tmp_path / "c.pt", create_model("resnet20", width=0.125))
    read: list[int] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: read.append(1))
    monkeypatch.setattr(models.checkpoint, "available_memory", lambda: 20_000)
    with pytest.raises(ValueError, match=r"its records unpack to .* more than half of the "
                                         r"0.0 MiB of memory available"):
        read_checkpoint(tmp_path / "c.pt")
    assert not read


def _legacy(ws: Workspace, name: str = "legacy.pt") -> str:
    """A `landscape train`-style checkpoint written in torch's legacy (non-zip) format."""
    save_checkpoint(ws.path / "zip.pt", create_model("resnet20", width=0.125, seed=0),
                    meta={"epoch": 1})
    torch.save(read_checkpoint(ws.path / "zip.pt"), ws.path / name,
               _use_new_zipfile_serialization=False)
    (ws.path / "zip.pt").unlink()
    assert (ws.path / name).read_bytes()[:2] == b"\x80\x02"  # a pickle, not a zip archive
    return name


def test_a_legacy_checkpoint_loads(ws: Workspace) -> None:
    net, meta = load_checkpoint(ws.path / _legacy(ws))
    assert meta["epoch"] == 1
    assert all(torch.equal(a, b) for a, b in zip(
        net.state_dict().values(),
        create_model("resnet20", width=0.125, seed=0).state_dict().values(),
        strict=True))


def test_legacy_records_larger_than_memory_are_refused_before_reading(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _legacy(ws)
    size = sum(t.numel() * t.element_size()
               for t in create_model("resnet20", width=0.125).state_dict().values())
    read: list[int] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: read.append(1))
    monkeypatch.setattr(models.checkpoint, "available_memory", lambda: 2 * size - 2)
    with pytest.raises(ValueError, match=r"legacy.pt' was refused: its tensors take 0.0 MiB "
                                         r"\(in torch's legacy format\), more than half of the "
                                         r"0.0 MiB of memory available; it is not a checkpoint "
                                         r"this machine can load"):
        read_checkpoint(ws.path / name)
    ws.refused(COMMANDS["surface"](ws, name), "its tensors take 0.0 MiB (in torch's legacy "
               "format), more than half", codes=(1,))
    assert not read
    monkeypatch.setattr(models.checkpoint, "available_memory", lambda: 2 * size)
    read_checkpoint(ws.path / name)  # its tensors take exactly half: read
    assert read == [1]


def _declaring(path: Path, numel: int) -> None:
    """A legacy-format file of one tensor of 3 floats whose storage declares `numel`."""

    class Declaring(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return (("storage", torch.FloatStorage, "0", "cpu", numel, None)
                    if isinstance(obj, torch.storage.TypedStorage) else None)

    with open(path, "wb") as f:
        for part in (MAGIC, VERSION, {"protocol_version": VERSION, "little_endian": True}):
            pickle.dump(part, f, protocol=2)
        Declaring(f, protocol=2).dump({"w": torch.ones(3)})
        pickle.dump(["0"], f, protocol=2)
        f.write((3).to_bytes(8, "little") + torch.ones(3).numpy().tobytes())


def test_a_legacy_file_that_declares_more_than_it_holds_is_refused(ws: Workspace) -> None:
    _declaring(ws.path / "small.pt", 3)  # an honest one, for contrast: it is read
    assert torch.equal(read_checkpoint(ws.path / "small.pt")["w"], torch.ones(3))
    _declaring(ws.path / "huge.pt", 2**40)  # 4 TiB declared in a file of 300 bytes
    tick = time.perf_counter()
    ws.refused(COMMANDS["surface"](ws, "huge.pt"), "was refused: it declares tensors of "
               "4,096.00 GiB (in torch's legacy format), but the file holds only", codes=(1,))
    assert time.perf_counter() - tick < 5


@pytest.mark.parametrize(("cut", "where"), [(3000, "the pickle of its tensors"),
                                          (60, "its machine record")])
def test_a_damaged_legacy_file_is_refused_before_torch_reads_it(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, cut: int, where: str) -> None:
    whole = (ws.path / _legacy(ws)).read_bytes()
    (ws.path / "cut.pt").write_bytes(whole[:cut])
    read: list[int] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: read.append(1))
    ws.refused(COMMANDS["surface"](ws, "cut.pt"), "is not a readable torch checkpoint: it is "
               f"in torch's legacy (non-zip) format, and {where} is damaged",
               codes=(1,))
    assert not read


def test_a_recorded_model_larger_than_memory_is_refused_before_it_is_built(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    net = create_model("resnet20", width=1.0)  # 0.27 M weights, about 1.1 MB
    save_checkpoint(ws.path / "big.pt", net)
    size = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    file_size = (ws.path / "big.pt").stat().st_size
    assert file_size < 1.5 * size
    monkeypatch.setattr(models.checkpoint, "available_memory", lambda: 3 * size)
    built: list[int] = []
    real = models.rebuild_model
    monkeypatch.setattr(models, "rebuild_model",
                        lambda *a, **k: built.append(torch.empty(0).device.type) or real(*a, **k))
    ws.refused(["surface", "big.pt", "-o", "s.h5", *GRID], "would take about 4.2 MiB in the 4 "
               "copies a command holds, more than the 3.1 MiB of memory available", codes=(1,))
    assert built == ["meta"], "only the shell on the meta device was built"


def _with_nan(path: Path, name: str = "layer1.0.conv1.weight") -> None:
    net = create_model("resnet20", width=0.125)
    with torch.no_grad():
        dict(net.named_parameters())[name].view(-1)[:3] = torch.tensor([float("nan"),
                                                                         float("inf"), 1.0])
    save_checkpoint(path, net, meta={"epoch": 1})


@pytest.mark.parametrize("command", COMMANDS)
def test_nan_weights_are_refused_naming_the_tensor(ws: Workspace, command: str
                                                   ) -> None:
    _with_nan(ws.path / "nan.pt")
    ws.refused(COMMANDS[command](ws, "nan.pt"), "holds NaN or inf weights: "
               "layer1.0.conv1.weight has 2 of 36 values that are not finite", codes=(1,))


def test_nan_weights_load_when_the_user_asks(ws: Workspace) -> None:
    _with_nan(ws.path / "nan.pt")
    net, _ = load_checkpoint(ws.path / "nan.pt", allow_nonfinite=True)
    assert torch.isnan(net.layer1[0].conv1.weight).any()
    result = ws.run(["surface", "nan.pt", "-o", "s.h5", "--x", "-1:1:2", "--samples", "8",
                     "--allow-nonfinite"])
    assert result.exit_code == 0, result.output

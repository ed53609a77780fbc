"""Checkpoints: round trips, accepted formats, refusal of code-running pickles, misfit errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
import torchvision

from models import create_model
from models.checkpoint import (
    file_sha256,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    state_dict_sha256,
)
from tests.paths import REFERENCE as REFERENCE_DIR

REFERENCE = REFERENCE_DIR / "model_1.t7"


class RunsCode:
    """A pickle payload that would call a (harmless) function when unpickled."""

    def __reduce__(self):  # noqa: ANN204
        return (os.getcwd, ())


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_rebuilds_without_naming_the_model(tmp_path: Path) -> None:
    net = create_model("resnet20-noskip", width=0.5, num_classes=4, seed=0)
    history = {"epoch": [1], "train_loss": [2.0], "train_acc": [20.0]}
    save_checkpoint(tmp_path / "sub" / "a.pt", net,
                    meta={"dataset": "embedded", "epoch": 1, "history": history})
    loaded, meta = load_checkpoint(tmp_path / "sub" / "a.pt")
    assert same_weights(net, loaded) and not loaded.training
    assert meta["arch"] == "resnet20-noskip"
    assert meta["arch_kwargs"] == {"width": 0.5, "num_classes": 4, "skip": False}
    assert meta["skip"] is False and meta["dataset"] == "embedded" and meta["epoch"] == 1
    assert meta["history"] == history
    assert meta["sha256"] == state_dict_sha256(net.state_dict())
    assert meta["path"] == str((tmp_path / "sub" / "a.pt").resolve())
    assert len(file_sha256(tmp_path / "sub" / "a.pt")) == 64


def test_load_into_given_model_or_name(tmp_path: Path) -> None:
    net = create_model("resnet20", seed=0)
    save_checkpoint(tmp_path / "a.pt", net)
    target = create_model("resnet20", seed=1)
    loaded, _ = load_checkpoint(tmp_path / "a.pt", target)
    assert loaded is target and same_weights(net, target)
    by_name, meta = load_checkpoint(tmp_path / "a.pt", "resnet20")
    assert same_weights(net, by_name) and meta["arch"] == "resnet20"


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "f").write_bytes(b"abc" * 1000)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(b"abc" * 1000).hexdigest()


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "module.", "model.", "lightning",
                                  "model_state_dict"])
def test_accepted_formats(tmp_path: Path, wrap: str) -> None:
    net = create_model("resnet20", seed=0)
    sd = net.state_dict()
    blob = {
        "bare": sd,
        "state_dict": {"state_dict": sd, "epoch": 7},
        "module.": {f"module.{k}": v for k, v in sd.items()},
        "model.": {f"model.{k}": v for k, v in sd.items()},
        "lightning": {"state_dict": {f"model.{k}": v for k, v in sd.items()}, "epoch": 3,
                      "global_step": 30, "pytorch-lightning_version": "2.0"},
        "model_state_dict": {"model_state_dict": {f"module.{k}": v for k, v in sd.items()},
                             "optimizer_state_dict": {}},
    }[wrap]
    torch.save(blob, tmp_path / "c.pt")
    loaded, meta = load_checkpoint(tmp_path / "c.pt", "resnet20")
    assert same_weights(net, loaded)
    if wrap == "state_dict":
        assert meta["epoch"] == 7


def test_reference_t7(tmp_path: Path) -> None:
    model, meta = load_checkpoint(REFERENCE, "resnet20")
    assert meta["format"] == "reference-t7" and meta["epoch"] == 1 and meta["skip"] is True
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_torchvision_weights_through_key_map(tmp_path: Path) -> None:
    theirs = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    torch.save({"module." + k: v for k, v in theirs.state_dict().items()}, tmp_path / "tv.pt")
    ours, _ = load_checkpoint(tmp_path / "tv.pt", create_model("resnet18", num_classes=10))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5
    # and back: our weights into torchvision's naming
    save_checkpoint(tmp_path / "ours.pt", ours)
    back, _ = load_checkpoint(tmp_path / "ours.pt",
                              create_model("torchvision:resnet18", num_classes=10))
    with torch.no_grad():
        assert (back(x) - theirs(x)).abs().max() <= 1e-5


def test_missing_name_and_no_metadata(tmp_path: Path) -> None:
    torch.save(create_model("resnet20").state_dict(), tmp_path / "bare.pt")
    for path in (tmp_path / "bare.pt", REFERENCE):
        with pytest.raises(ValueError, match="pass a model name.*--model NAME"):
            load_checkpoint(path)


def test_code_running_pickle_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": create_model("resnet20").state_dict(), "extra": RunsCode()},
               tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a plain-tensor checkpoint") as err:
        load_checkpoint(tmp_path / "evil.pt", "resnet20")
    assert "getcwd" in str(err.value) and "run arbitrary code" in str(err.value)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"a": RunsCode()}, f)
    with pytest.raises(ValueError, match="not a plain-tensor checkpoint"):
        read_checkpoint(tmp_path / "evil.pkl")


def test_unreadable_and_absent_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"not a readable torch checkpoint: it is neither the zip "
                                         r"archive torch.save writes nor a pickle \(it starts "
                                         r"with b'not '\); pass a file written by torch.save"):
        load_checkpoint(tmp_path / "junk.pt", "resnet20")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"not a readable torch checkpoint: it is empty "
                                         r"\(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt", "resnet20")
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04xx")
    with pytest.raises(ValueError, match="not a readable torch checkpoint: torch.load failed"):
        load_checkpoint(tmp_path / "cut.pt", "resnet20")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt", "resnet20")
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="without a state_dict"):
        load_checkpoint(tmp_path / "odd.pt", "resnet20")


def test_mismatch_lists_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    sd = create_model("resnet20").state_dict()
    sd["extra.weight"] = torch.zeros(3)
    del sd["layer1.0.conv1.weight"]
    sd["linear.weight"] = torch.zeros(5, 64)
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path / "bad.pt", "resnet20")
    text = str(err.value)
    assert "missing keys (1): layer1.0.conv1.weight" in text
    assert "unexpected keys (1): extra.weight" in text
    assert "shape mismatches (1)" in text
    assert "linear.weight: checkpoint (5, 64) vs model (10, 64)" in text


def test_skip_checkpoint_does_not_fit_noskip_model(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "skip.pt", create_model("resnet20"))
    with pytest.raises(ValueError, match="unexpected keys.*shortcut"):
        load_checkpoint(tmp_path / "skip.pt", "resnet20-noskip")


def test_edited_weights_fail_the_recorded_hash(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "a.pt", create_model("resnet20"))
    blob = torch.load(tmp_path / "a.pt", weights_only=True)
    blob["state_dict"]["linear.bias"] += 1
    torch.save(blob, tmp_path / "a.pt")
    with pytest.raises(ValueError, match="do not match the sha256"):
        load_checkpoint(tmp_path / "a.pt")


def test_meta_must_be_plain_data(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="plain data"):
        save_checkpoint(tmp_path / "a.pt", create_model("resnet20"), meta={"x": object()})
    assert not (tmp_path / "a.pt").exists()


def test_map_location_and_optimizer_state(tmp_path: Path) -> None:
    net = create_model("resnet20")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "a.pt", net, optimizer=opt)
    blob = read_checkpoint(tmp_path / "a.pt")
    assert blob["optimizer"]["param_groups"][0]["momentum"] == 0.9
    loaded, _ = load_checkpoint(tmp_path / "a.pt", map_location=torch.device("cpu"))
    assert next(loaded.parameters()).device.type == "cpu"


@pytest.mark.parametrize(("arch", "kwargs", "field"), [
    ("os:system", {"command": "touch pwned"}, "arch: the model 'os:system' is an import path"),
    ("builtins:eval", {"source": "open('pwned', 'w')"}, "arch: the model 'builtins:eval'"),
    ("resnet20", {"width": "touch pwned"}, "arch_kwargs['width'] = 'touch pwned'"),
])
def test_recorded_code_is_refused_and_never_runs(tmp_path: Path, monkeypatch, arch, kwargs,
                                                 field) -> None:
    monkeypatch.chdir(tmp_path)
    save_checkpoint("evil.pt", create_model("resnet20", width=0.125),
                    meta={"arch": arch, "arch_kwargs": kwargs})
    with pytest.raises(ValueError) as err:
        load_checkpoint("evil.pt")
    assert str(err.value).startswith(f"checkpoint 'evil.pt' was refused: its metadata field "
                                     f"{field}")
    assert "--model NAME" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]


def test_import_path_loads_only_when_the_user_names_it(tmp_path: Path) -> None:
    name = "tests.models.test_registry:tiny_factory"
    net = create_model(name, num_classes=2, seed=0)
    save_checkpoint(tmp_path / "mine.pt", net)
    with pytest.raises(ValueError, match="import path"):
        load_checkpoint(tmp_path / "mine.pt")
    loaded, meta = load_checkpoint(tmp_path / "mine.pt", name)
    assert same_weights(net, loaded) and meta["arch_kwargs"] == {"num_classes": 2}
    # a user-named path still gets the file's keywords checked
    save_checkpoint(tmp_path / "odd.pt", net, meta={"arch_kwargs": {"num_classes": "2"}})
    with pytest.raises(ValueError, match=r"arch_kwargs\['num_classes'\] = '2'"):
        load_checkpoint(tmp_path / "odd.pt", name)


def test_recorded_sizes_are_checked_before_anything_is_allocated(tmp_path: Path) -> None:
    net = create_model("resnet20", width=0.125)
    save_checkpoint(tmp_path / "big.pt", net,
                    meta={"arch_kwargs": {"width": 0.125, "num_classes": 10**12}})
    with pytest.raises(ValueError, match=r"does not fit model 'resnet20': shape mismatches "
                                         r"\(2\): linear.weight: checkpoint \(10, 8\) vs model "
                                         r"\(1000000000000, 8\)"):
        load_checkpoint(tmp_path / "big.pt")


def test_file_arch_is_not_echoed_when_loading_into_a_given_model(tmp_path: Path) -> None:
    net = create_model("resnet20", width=0.125)
    save_checkpoint(tmp_path / "a.pt", net, meta={"arch": "os:system", "arch_kwargs": {}})
    target = torch.nn.Sequential()
    target.add_module("inner", create_model("resnet20", width=0.125))
    with pytest.raises(ValueError, match="does not fit model 'Sequential'"):
        load_checkpoint(tmp_path / "a.pt", target)
    plain = create_model("resnet20", width=0.125)
    del plain.arch
    _, meta = load_checkpoint(tmp_path / "a.pt", plain)
    assert meta["arch"] is None  # the file's claim is not passed on as if a user had typed it


def test_a_record_that_would_run_code_is_refused_even_under_another_name(tmp_path: Path,
                                                                          monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    net = create_model("resnet20", width=0.125)
    save_checkpoint("evil.pt", net, meta={"arch": "os:system",
                                          "arch_kwargs": {"command": "touch pwned"}})
    with pytest.raises(ValueError, match=r"^checkpoint 'evil.pt' was refused: its metadata "
                                         r"field arch: the model 'os:system' is an import path.*"
                                         r"load_checkpoint\(path, model\)$"):
        load_checkpoint("evil.pt", "resnet20")
    assert not (tmp_path / "pwned").exists()
    # a plain record of another zoo model is only ignored: the user's name decides
    save_checkpoint("other.pt", create_model("resnet20"), meta={"arch": "resnet56"})
    loaded, meta = load_checkpoint("other.pt", "resnet20")
    assert meta["arch"] == "resnet20" and loaded.linear.in_features == 64

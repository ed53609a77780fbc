"""CIFAR on disk: batch files pickled with protocol 0-2, hostile pickles, and the reference code's
normalization constants (the CLI's --normalize)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface
from models import create_model
from models.checkpoint import load_checkpoint, save_checkpoint
from models.data import cifar_stats, evaluation_tensors, load_dataset
from tests.models.fakes import write_fake_cifar

# The 2018 reference code's constants, written out here independently of models/data.py.
REF_MEAN = [125.3 / 255, 123.0 / 255, 113.9 / 255]
REF_STD = [63.0 / 255, 62.1 / 255, 66.7 / 255]


def _raw_test_batch(root: Path) -> tuple[np.ndarray, list[int]]:
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        entry = pickle.load(f, encoding="latin1")  # our own fake: safe to load plainly
    return entry["data"], entry["labels"]


def _torchvision_pipeline(data: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """What the reference's loader does: torchvision's CIFAR10 images, ToTensor, Normalize."""
    from PIL import Image
    from torchvision import transforms

    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # as torchvision's CIFAR10
    return torch.stack([pipeline(Image.fromarray(image)) for image in images])


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_batch_files_pickled_with_old_protocols_load(tmp_path, protocol):
    new = write_fake_cifar(tmp_path / "new", per_file=6).parent
    old = write_fake_cifar(tmp_path / "old", per_file=6, protocol=protocol).parent
    with open(old / "cifar-10-batches-py" / "test_batch", "rb") as f:
        assert b"_codecs" in f.read()  # bytes and arrays spelled through _codecs.encode
    for split in ("train", "test"):
        a, b = load_dataset("cifar10", split, root=new), load_dataset("cifar10", split, root=old)
        assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert load_dataset("cifar10", root=old).classes == [f"c{i}" for i in range(10)]


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (self.command,))


class _Call:
    def __init__(self, func, *args) -> None:  # noqa: ANN001
        self.func, self.args = func, args

    def __reduce__(self):  # noqa: ANN204
        return (self.func, self.args)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_hostile_batch_files_are_refused_and_run_nothing(tmp_path, protocol):
    import codecs

    marker = tmp_path / "ran"
    hostile = {
        "system": _System(f"touch {marker}"),
        "eval": _Call(eval, f"open({str(marker)!r}, 'w').close()"),
        "encode": _Call(codecs.encode, "x", "zlib_codec"),  # _codecs.encode, not latin-1
        "bytes": _Call(bytes, 10),                           # bytes(n) allocates
    }
    for name, payload in hostile.items():
        folder = write_fake_cifar(tmp_path / name, per_file=4)
        with open(folder / "test_batch", "wb") as f:
            pickle.dump({"data": payload, "labels": [0]}, f, protocol=protocol)
        with pytest.raises(ValueError, match=r"is not a CIFAR batch file: refusing") as err:
            load_dataset("cifar10", "test", root=tmp_path / name)
        assert "test_batch" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_a_batch_file_that_is_not_a_dict_is_refused(tmp_path):
    folder = write_fake_cifar(tmp_path, per_file=4)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=2)
    with pytest.raises(ValueError, match="holds a list, not a dict"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_reference_normalization_equals_the_reference_pipeline(tmp_path):
    write_fake_cifar(tmp_path, per_file=8)
    data, labels = _raw_test_batch(tmp_path)
    ref, targets = evaluation_tensors("cifar10", "test", root=tmp_path, normalize="reference")
    assert torch.equal(ref, _torchvision_pipeline(data, REF_MEAN, REF_STD))
    assert targets.tolist() == labels
    ours = evaluation_tensors("cifar10", "test", root=tmp_path)  # default: torchvision's
    assert torch.equal(ours[0], _torchvision_pipeline(data, [0.4914, 0.4822, 0.4465],
                                                      [0.2470, 0.2435, 0.2616]))
    assert not torch.allclose(ours[0], ref, rtol=1e-3)
    augmented = load_dataset("cifar10", root=tmp_path, augment=True, normalize="reference")
    assert torch.equal(augmented.mean.view(-1), torch.tensor(REF_MEAN))


def test_normalization_choices_and_their_errors(tmp_path):
    assert cifar_stats("cifar10", "reference") == (tuple(REF_MEAN), tuple(REF_STD))
    assert cifar_stats("cifar100") == cifar_stats("cifar100", "torchvision")
    with pytest.raises(ValueError, match="CIFAR-10 only.*--normalize torchvision"):
        cifar_stats("cifar100", "reference")
    with pytest.raises(ValueError, match="normalize must be one of"):
        cifar_stats("cifar10", "imagenet")
    with pytest.raises(ValueError, match="leave it out"):
        load_dataset("embedded", n=4, normalize="torchvision")


@pytest.fixture
def small_net(tmp_path) -> Path:
    torch.manual_seed(0)
    model = create_model("resnet20", width=0.25)
    with torch.no_grad():  # confident outputs, so that the loss depends on the inputs' scale
        model.linear.weight.mul_(30.0)
    path = tmp_path / "net.pt"
    save_checkpoint(path, model, meta={"dataset": "cifar10"})
    return path


def _run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_normalize_reference_reproduces_an_independent_computation(tmp_path, small_net):
    write_fake_cifar(tmp_path / "data", per_file=16)
    data, labels = _raw_test_batch(tmp_path / "data")
    model, _ = load_checkpoint(small_net)
    model.eval()
    results = {}
    for choice, (mean, std) in {"reference": (REF_MEAN, REF_STD),
                                "torchvision": ([0.4914, 0.4822, 0.4465],
                                                [0.2470, 0.2435, 0.2616])}.items():
        out = tmp_path / f"{choice}.h5"
        r = _run("surface", small_net, "-o", out, "--x", "0:0:1", "--dataset", "cifar10",
                 "--data-root", tmp_path / "data", "--split", "test", "--normalize", choice,
                 "--batch-size", "7")
        assert r.exit_code == 0, r.output
        s = load_surface(out)
        assert s.meta["normalize"] == choice
        with torch.no_grad():  # the independent computation: torchvision's pipeline, one pass
            logits = model(_torchvision_pipeline(data, mean, std))
        target = torch.tensor(labels)
        loss = torch.nn.functional.cross_entropy(logits, target).item()
        acc = 100.0 * (logits.argmax(1) == target).double().mean().item()
        assert s.loss[0] == pytest.approx(loss, rel=1e-5)
        assert s.accuracy[0] == pytest.approx(acc, abs=1e-9)
        results[choice] = s.loss[0]
    assert results["reference"] != pytest.approx(results["torchvision"], rel=1e-5)
    r = _run("surface", small_net, "-o", tmp_path / "x.h5", "--x", "0:0:1", "--normalize",
             "reference")  # the embedded set has its own normalization
    assert r.exit_code == 1 and "leave it out" in r.output and not (tmp_path / "x.h5").exists()

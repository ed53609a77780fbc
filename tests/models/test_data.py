"""Data: the embedded set, CIFAR from torchvision's on-disk format, ImageFolder, eval subsets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from models.data import (
    EMBEDDED_CLASSES,
    embedded_dataset,
    evaluation_tensors,
    load_dataset,
)
from tests.models.fakes import write_fake_cifar, write_image_folder


def test_embedded_shapes_defaults_and_balance() -> None:
    train, test = embedded_dataset("train"), embedded_dataset("test")
    assert len(train) == 5000 and len(test) == 1000
    x, y = train.tensors
    assert x.shape == (5000, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [500] * 10
    assert train.classes == list(EMBEDDED_CLASSES)
    assert abs(x.mean().item()) < 0.05 and 0.8 < x.std().item() < 1.2


def test_embedded_is_deterministic_nested_and_splits_are_disjoint() -> None:
    a, b = embedded_dataset("train", 600, seed=1), embedded_dataset("train", 600, seed=1)
    assert all(torch.equal(s, t) for s, t in zip(a.tensors, b.tensors, strict=True))
    small = embedded_dataset("train", 50, seed=1)
    assert torch.equal(small.tensors[0], a.tensors[0][:50])
    other = embedded_dataset("train", 600, seed=2)
    assert not torch.equal(other.tensors[0], a.tensors[0])
    test = embedded_dataset("test", 600, seed=1)
    flat_train, flat_test = a.tensors[0].flatten(1), test.tensors[0].flatten(1)
    assert torch.cdist(flat_test, flat_train).min() > 1.0  # no test image is a train image


def test_embedded_generation_is_fast() -> None:
    tick = time.perf_counter()
    embedded_dataset("train", 10_000, seed=5)
    seconds = time.perf_counter() - tick
    print(f"10,000 embedded images in {seconds:.2f} s")
    assert seconds < 10.0  # well under 2 s on 2 idle cores; slack for a busy machine


def test_embedded_is_not_linearly_separable() -> None:
    """Ridge regression on raw pixels stays near chance on held-out images (random phase)."""
    x, y = embedded_dataset("train", 2000).tensors
    xt, yt = embedded_dataset("test", 500).tensors
    X, Xt = x.flatten(1), xt.flatten(1)
    targets = torch.nn.functional.one_hot(y, 10).float()
    W = torch.linalg.solve(X.T @ X + 100.0 * torch.eye(X.shape[1], dtype=X.dtype), X.T @ targets)
    accuracy = (Xt @ W).argmax(1).eq(yt).float().mean().item()
    print(f"linear model on pixels: {100 * accuracy:.1f}% held-out")
    assert accuracy < 0.35


def test_embedded_errors() -> None:
    with pytest.raises(ValueError, match="split"):
        embedded_dataset("val")
    with pytest.raises(ValueError, match="no augmentation"):
        load_dataset("embedded", augment=True)
    with pytest.raises(ValueError, match="data set must be one of"):
        load_dataset("mnist")


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_fake_cifar_on_disk_loads(tmp_path: Path, name: str) -> None:
    write_fake_cifar(tmp_path, name, per_file=20)
    train = load_dataset(name, "train", root=tmp_path)
    test = load_dataset(name, "test", root=tmp_path)
    assert isinstance(train, TensorDataset) and len(train) == 100 and len(test) == 20
    x, y = train.tensors
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(train.classes) == (10 if name == "cifar10" else 100)
    assert -2.5 < x.min() < -1.5 and 1.5 < x.max() < 2.5  # normalized with CIFAR statistics
    augmented = load_dataset(name, "train", root=tmp_path, augment=True)
    image, label = augmented[0]
    assert image.shape == (3, 32, 32) and int(label) == int(y[0])


def test_cifar_subsets_are_seeded_and_nested(tmp_path: Path) -> None:
    write_fake_cifar(tmp_path, "cifar10", per_file=20)
    small = load_dataset("cifar10", root=tmp_path, n=10, seed=3).tensors[0]
    large = load_dataset("cifar10", root=tmp_path, n=40, seed=3).tensors[0]
    assert torch.equal(small, large[:10])
    assert not torch.equal(small, load_dataset("cifar10", root=tmp_path, n=10, seed=4).tensors[0])
    with pytest.raises(ValueError, match="asked for 101 samples, but the data set has 100; "
                                         "pass --samples 100 or fewer"):
        load_dataset("cifar10", root=tmp_path, n=101)


def test_absent_cifar_names_folder_and_download_flag(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in str(err.value)
    assert "--download" in str(err.value)
    with pytest.raises(FileNotFoundError, match="cifar-100-python.*--download"):
        load_dataset("cifar100", "test", root=tmp_path)


def test_cifar_reader_refuses_code_in_batch_files(tmp_path: Path) -> None:
    import os
    import pickle

    class RunsCode:
        def __reduce__(self):  # noqa: ANN204
            return (os.getcwd, ())

    folder = write_fake_cifar(tmp_path, "cifar10", per_file=5)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({"data": RunsCode(), "labels": []}, f)
    with pytest.raises(ValueError, match="refusing to load"):
        load_dataset("cifar10", root=tmp_path)


def test_image_folder(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "imgs", classes=3, per_class=4, size=40)
    data = load_dataset("imagefolder", root=root)
    assert len(data) == 12 and data.classes == ["class0", "class1", "class2"]
    image, label = data[5]
    assert image.shape == (3, 32, 32) and label == 1
    inputs, targets = evaluation_tensors("imagefolder", samples=5, root=root)
    assert inputs.shape == (5, 3, 32, 32) and targets.dtype == torch.int64
    big = load_dataset("imagefolder", root=root, image_size=48, augment=True)
    assert big[0][0].shape == (3, 48, 48)


def test_image_folder_splits_and_errors(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "split" / "train", classes=2, per_class=3)
    write_image_folder(tmp_path / "split" / "val", classes=2, per_class=1)
    assert len(load_dataset("imagefolder", "train", root=tmp_path / "split")) == 6
    assert len(load_dataset("imagefolder", "test", root=tmp_path / "split")) == 2
    with pytest.raises(ValueError, match="needs root"):
        load_dataset("imagefolder")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("imagefolder", root=tmp_path / "none")


def test_evaluation_tensors_embedded_is_a_subset_of_training_data() -> None:
    inputs, targets = evaluation_tensors("embedded", "train", samples=64)
    train_x, train_y = load_dataset("embedded", "train", n=2000).tensors
    assert inputs.shape == (64, 3, 32, 32) and inputs.dtype == torch.float32
    assert targets.shape == (64,) and targets.dtype == torch.int64
    assert torch.equal(inputs, train_x[:64]) and torch.equal(targets, train_y[:64])
    all_test = evaluation_tensors("embedded", "test")
    assert len(all_test[0]) == 1000


def test_evaluation_tensors_cifar(tmp_path: Path) -> None:
    write_fake_cifar(tmp_path, "cifar10", per_file=20)
    inputs, targets = evaluation_tensors("cifar10", "test", samples=8, seed=1, root=tmp_path)
    assert inputs.shape == (8, 3, 32, 32) and targets.dtype == torch.int64
    again = evaluation_tensors("cifar10", "test", samples=8, seed=1, root=tmp_path)
    assert torch.equal(inputs, again[0])


def test_embedded_set_has_a_stated_bound_checked_before_generating(monkeypatch) -> None:
    import models.data as data

    calls = []
    monkeypatch.setattr(data, "_generate_block", lambda gen: calls.append(gen))
    for split, limit in (("train", 50_000), ("test", 10_000)):
        assert data.EMBEDDED_LIMITS[split] == limit
        with pytest.raises(ValueError, match=f"at most {limit:,} {split} images, got a request "
                                             f"for 99,999,999; pass --samples {limit} or fewer"):
            evaluation_tensors("embedded", split, samples=99_999_999)
    assert calls == []  # refused before a single block was generated


def test_more_than_the_memory_available_is_refused_with_the_figures(tmp_path: Path,
                                                                     monkeypatch) -> None:
    import models.data as data

    monkeypatch.setattr(data, "available_memory", lambda: 10 * 2**20)  # 10 MiB
    monkeypatch.setattr(data, "_generate_block", lambda gen: pytest.fail("generated"))
    with pytest.raises(ValueError, match=r"2,000 embedded train images would take about 47 MiB "
                                         r"of memory, more than the 10 MiB available; use fewer "
                                         r"samples \(--samples\)"):
        embedded_dataset("train", 2000)
    with pytest.raises(ValueError, match=r"50,000 cifar10 train images would take about 732 MiB"):
        load_dataset("cifar10", root=tmp_path / "never-read")
    monkeypatch.setattr(data, "available_memory", lambda: None)  # no /proc/meminfo: no limit
    write_fake_cifar(tmp_path, "cifar10", per_file=4)
    assert len(load_dataset("cifar10", root=tmp_path)) == 20


def test_available_memory_reads_meminfo() -> None:
    import models.data as data

    available = data.available_memory()
    if Path("/proc/meminfo").exists():
        assert available is not None and 2**20 < available < 2**50
    else:
        assert available is None


def test_more_cifar_samples_than_a_split_holds_are_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="asked for 50,001 samples, but the data set has 50,000"):
        load_dataset("cifar10", "train", root=tmp_path / "absent", n=50_001)
    with pytest.raises(ValueError, match="asked for 10,001 samples, but the data set has 10,000"):
        load_dataset("cifar100", "test", root=tmp_path / "absent", n=10_001)

"""Tiny stand-ins for data on disk, written in the formats the real tools use."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_fake_cifar(root: Path, name: str = "cifar10", per_file: int = 20, seed: int = 0,
                     protocol: int | None = None) -> Path:
    """CIFAR-10 (`cifar-10-batches-py/`) or CIFAR-100 (`cifar-100-python/`) in torchvision's
    on-disk format: pickled dicts with a uint8 `data` array (N, 3072), label lists, and the
    batch label and file names as bytes, as in the original files.

    `protocol` is the pickle protocol (default: Python's); 2 is what many converters write
    from Python 3, and spells bytes and arrays through `_codecs.encode`.
    """
    rng = np.random.default_rng(seed)

    def dump(path: Path, entry: dict) -> None:
        with open(path, "wb") as f:
            pickle.dump(entry, f, protocol=protocol)

    def batch(n: int, labels_key: str, classes: int) -> dict:
        return {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                labels_key: [int(c) for c in rng.integers(0, classes, n)],
                "batch_label": b"fake", "filenames": [f"img_{i}.png".encode() for i in range(n)]}

    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for i in range(1, 6):
            dump(folder / f"data_batch_{i}", batch(per_file, "labels", 10))
        dump(folder / "test_batch", batch(per_file, "labels", 10))
        dump(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        for split, n in (("train", 5 * per_file), ("test", per_file)):
            entry = batch(n, "fine_labels", 100)
            entry["coarse_labels"] = [c // 5 for c in entry["fine_labels"]]
            dump(folder / split, entry)
        dump(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                               "coarse_label_names": [f"k{i}" for i in range(20)]})
    return folder


def write_image_folder(root: Path, classes: int = 3, per_class: int = 4, size: int = 40) -> Path:
    """PNG files in `root/<class>/<i>.png`, the layout torchvision's ImageFolder reads."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root

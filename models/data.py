"""Data sets that produce θ* and the evaluation batches: an embedded default generated in code,
CIFAR-10/100 (torchvision's on-disk format, downloaded only on request), ImageFolder, and token
sequences for language models (`models/tokens.py`: an embedded corpus and nanoGPT's files).

Every loader takes `n` and `seed`: the `n` items are nested as `n` grows (the first `n` of a
seeded permutation for files on disk; the first `n` of the generated stream for the embedded set),
so an evaluation subset of `samples <= n` items is part of a training set of `n` items drawn with
the same seed. No landscape logic lives here.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset

from toolkit import available_memory

__all__ = [
    "CIFAR_STATS",
    "DATASETS",
    "EMBEDDED_CLASSES",
    "EMBEDDED_LIMITS",
    "EMBEDDED_SIZES",
    "NORMALIZATIONS",
    "REFERENCE_CIFAR10_STATS",
    "TOKEN_DATASETS",
    "cifar_stats",
    "embedded_dataset",
    "evaluation_tensors",
    "load_dataset",
    "max_samples",
]

DATASETS = ("embedded", "cifar10", "cifar100", "imagefolder", "tokens", "nanogpt")
TOKEN_DATASETS = ("tokens", "nanogpt")
Split = Literal["train", "test"]

EMBEDDED_CLASSES = (
    "grating 0°", "grating 45°", "grating 90°", "grating 135°", "plaid +", "plaid x",
    "rings", "blob", "pinwheel", "texture",
)
EMBEDDED_SIZES = {"train": 5000, "test": 1000}
EMBEDDED_LIMITS = {"train": 50_000, "test": 10_000}
"""The most images the embedded set generates per split (CIFAR-10's sizes); more is refused."""
_BLOCK = 500          # images generated per seeded block (the stream is a sequence of blocks)
_SIZE = 32
_SCALE = 1.0 / 0.57   # brings the generated pixels to about unit variance

# channel mean and std of the training images (the usual normalization constants)
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
# The constants of the 2018 reference code (Li et al.), CIFAR-10 only: mean 125.3/255, ...
REFERENCE_CIFAR10_STATS = (tuple(v / 255 for v in (125.3, 123.0, 113.9)),
                           tuple(v / 255 for v in (63.0, 62.1, 66.7)))
NORMALIZATIONS = ("torchvision", "reference")
Normalization = Literal["torchvision", "reference"]
_CIFAR_SIZES = {"train": 50_000, "test": 10_000}  # images per split, CIFAR-10 and CIFAR-100
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", "label_names", "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names",
                 "fine_labels"),
}


# ---------------------------------------------------------------- the embedded data set

def _block_generator(seed: int, split: str, block: int) -> torch.Generator:
    digest = hashlib.sha256(f"embedded/{seed}/{split}/{block}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _grating(xx: Tensor, yy: Tensor, theta: Tensor, freq: Tensor, phase: Tensor) -> Tensor:
    """cos(2π f (x cos θ + y sin θ) + φ) for (n,) parameters on the (32, 32) coordinate grid."""
    along = xx * theta.cos()[:, None, None] + yy * theta.sin()[:, None, None]
    return torch.cos(2 * math.pi * freq[:, None, None] * along + phase[:, None, None])


def _patterns(label: int, n: int, xx: Tensor, yy: Tensor, gen: torch.Generator) -> Tensor:
    """(n, 32, 32) grey patterns of one class, each in about [-1, 1], with random nuisances."""
    jitter = _uniform(gen, n, -12.0, 12.0) * math.pi / 180
    freq = _uniform(gen, n, 2.0, 4.0)           # cycles per half image width
    phase = _uniform(gen, n, 0.0, 2 * math.pi)
    cx, cy = _uniform(gen, n, -0.5, 0.5), _uniform(gen, n, -0.5, 0.5)
    dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
    r = (dx.square() + dy.square()).sqrt()
    if label < 4:                                # oriented gratings
        return _grating(xx, yy, label * math.pi / 4 + jitter, freq, phase)
    if label < 6:                                # plaids: two orthogonal gratings
        theta = (label - 4) * math.pi / 4 + jitter
        other = _uniform(gen, n, 0.0, 2 * math.pi)
        return 0.6 * (_grating(xx, yy, theta, freq, phase)
                      + _grating(xx, yy, theta + math.pi / 2, freq, other))
    if label == 6:                               # concentric rings around a random centre
        return torch.cos(2 * math.pi * freq[:, None, None] * r + phase[:, None, None])
    if label == 7:                               # one Gaussian blob, either sign
        sigma = _uniform(gen, n, 0.15, 0.4)[:, None, None]
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)[:, None, None]
        blob = torch.exp(-r.square() / (2 * sigma.square()))
        return sign * 2.0 * (blob - blob.mean(dim=(1, 2), keepdim=True))
    if label == 8:                               # pinwheel: m arms around a random centre
        arms = torch.randint(3, 7, (n,), generator=gen).float()[:, None, None]
        return torch.cos(arms * torch.atan2(dy, dx) + phase[:, None, None])
    # band-limited noise texture: no orientation, no structure
    noise = torch.randn(n, 1, _SIZE, _SIZE, generator=gen)
    kernel = torch.exp(-torch.arange(-4, 5).float().square() / (2 * 1.5**2))
    kernel = kernel / kernel.sum()
    smooth = torch.nn.functional.conv2d(noise, kernel.view(1, 1, 1, 9), padding=(0, 4))
    smooth = torch.nn.functional.conv2d(smooth, kernel.view(1, 1, 9, 1), padding=(4, 0))[:, 0]
    return smooth / smooth.std(dim=(1, 2), keepdim=True)


def _generate_block(gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """One block of `_BLOCK` images (B, 3, 32, 32) float32 and balanced labels (B,) int64."""
    n = _BLOCK
    labels = (torch.arange(n) % len(EMBEDDED_CLASSES))[torch.randperm(n, generator=gen)]
    axis = (torch.arange(_SIZE, dtype=torch.float32) + 0.5) / _SIZE * 2 - 1
    yy, xx = (t.contiguous() for t in torch.meshgrid(axis, axis, indexing="ij"))  # views: slow
    grey = torch.empty(n, _SIZE, _SIZE)
    for label in range(len(EMBEDDED_CLASSES)):
        idx = (labels == label).nonzero().squeeze(1)
        grey[idx] = _patterns(label, len(idx), xx, yy, gen)
    # nuisances shared by all classes: aperture, colour, contrast, background, gradient, noise
    ax, ay = _uniform(gen, n, -0.6, 0.6), _uniform(gen, n, -0.6, 0.6)
    size = _uniform(gen, n, 0.8, 1.8)[:, None, None]
    aperture = torch.exp(-((xx - ax[:, None, None]).square() + (yy - ay[:, None, None]).square())
                         / (2 * size.square()))
    colour = torch.randn(n, 3, generator=gen)
    colour = colour / colour.norm(dim=1, keepdim=True)
    contrast = _uniform(gen, n, 1.0, 1.5)
    background = 0.3 * torch.randn(n, 3, generator=gen)
    slope = 0.2 * torch.randn(n, 2, generator=gen)
    gradient = slope[:, 0, None, None] * xx + slope[:, 1, None, None] * yy
    noise_level = _uniform(gen, n, 0.1, 0.3)[:, None, None, None]
    images = ((contrast[:, None] * colour)[:, :, None, None] * (grey * aperture)[:, None]
              + background[:, :, None, None] + gradient[:, None]
              + noise_level * torch.randn(n, 3, _SIZE, _SIZE, generator=gen))
    return (images * _SCALE).contiguous(), labels


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run small-tensor work on one intra-op thread (restored after): hundreds of tiny parallel
    regions gain nothing from more threads and stall badly when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_IMAGE_BYTES = 3 * _SIZE * _SIZE * 4   # one float32 (3, 32, 32) image


def _check_memory(nbytes: int, what: str) -> None:
    """Refuse, before anything is built, data that would not fit in the memory available."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise ValueError(f"{what} would take about {_size(nbytes)} of memory, more than the "
                         f"{_size(available)} available; use fewer samples (--samples)")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def embedded_dataset(split: str = "train", n: int | None = None, *, seed: int = 0
                     ) -> TensorDataset:
    """The embedded data set: CIFAR-shaped synthetic images generated in code, no download.

    Ten classes of structured patterns (see `EMBEDDED_CLASSES`): oriented gratings at four
    angles, two plaids, rings, a blob, a pinwheel and an unstructured noise texture. Each image
    has random nuisances: phase, frequency, ±12° orientation jitter, position, a Gaussian aperture,
    colour, contrast, background, a brightness gradient and pixel noise, so a classifier must learn
    local features (the phase alone makes the classes useless to a linear model on pixels).
    Pixels are about zero-mean, unit-variance. Images come as a deterministic stream of seeded
    blocks, so `n` items are the first `n` of the stream and train and test are disjoint draws.

    Args:
        split: "train" or "test".
        n: number of images; default 5,000 for train, 1,000 for test; at most
            `EMBEDDED_LIMITS` (50,000 and 10,000).
        seed: which data set; the same seed always gives the same images.

    Returns:
        TensorDataset of images (n, 3, 32, 32) float32 and labels (n,) int64, with a `classes`
        attribute.

    Raises:
        ValueError: an unknown split, `n` out of range, or more than the memory available.
    """
    if split not in EMBEDDED_SIZES:
        raise ValueError(f"split must be one of {sorted(EMBEDDED_SIZES)}, got {split!r}")
    n = EMBEDDED_SIZES[split] if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}")
    if n > EMBEDDED_LIMITS[split]:
        raise ValueError(f"the embedded data set has at most {EMBEDDED_LIMITS[split]:,} {split} "
                         f"images, got a request for {n:,}; pass --samples "
                         f"{EMBEDDED_LIMITS[split]} or fewer (n= in Python)")
    # the blocks and their concatenation are in memory together
    _check_memory(2 * n * _IMAGE_BYTES, f"{n:,} embedded {split} images")
    with _one_thread():
        blocks = [_generate_block(_block_generator(seed, split, b))
                  for b in range((n + _BLOCK - 1) // _BLOCK)]
    images = torch.cat([b[0] for b in blocks])[:n].contiguous()
    labels = torch.cat([b[1] for b in blocks])[:n].contiguous()
    dataset = TensorDataset(images, labels)
    dataset.classes = list(EMBEDDED_CLASSES)  # type: ignore[attr-defined]
    return dataset


# ---------------------------------------------------------------- CIFAR on disk

def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """`_codecs.encode` as pickles of protocol 0-2 use it for bytes: (str, 'latin1') only."""
    if not isinstance(text, str) or str(encoding).lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(text).__name__}, "
                                     f"{encoding!r}) in a CIFAR batch file: only latin-1 bytes "
                                     f"are expected there")
    return text.encode("latin-1")


def _empty_bytes(*args: Any) -> bytes:
    """`bytes()` as protocol-2 pickles spell an empty bytes object; nothing else."""
    if args:
        raise pickle.UnpicklingError("refusing bytes(...) with arguments in a CIFAR batch file")
    return b""


class _ArrayUnpickler(pickle.Unpickler):
    """Reads CIFAR batch files: numpy arrays, numbers, strings, bytes, lists and dicts, nothing
    else. Files pickled by Python 3 with protocol 0-2 spell bytes as `_codecs.encode(text,
    'latin1')` (and empty bytes as `bytes()`): both are allowed in exactly that form."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }
    _REPLACED = {
        ("_codecs", "encode"): _latin1_encode,
        ("__builtin__", "bytes"): _empty_bytes, ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if (module, name) in self._REPLACED:
            return self._REPLACED[module, name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch "
                                     f"file: such files hold only arrays, numbers, strings, "
                                     f"lists and dicts, and this one would call other code")


def _read_batch(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        try:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
            raise ValueError(f"{path} is not a CIFAR batch file: {err}. Replace it with the "
                             f"original (e.g. delete the folder and pass --download)") from err
    if not isinstance(entry, dict):
        raise ValueError(f"{path} is not a CIFAR batch file: it holds a "
                         f"{type(entry).__name__}, not a dict. Replace it with the original "
                         f"(e.g. delete the folder and pass --download)")
    return entry


def _not_a_batch(path: Path, entry: dict[str, Any], err: Exception) -> ValueError:
    what = (f"it has no {err.args[0]!r} entry (it has: "
            f"{', '.join(repr(k) for k in list(entry)[:8]) or 'nothing'})"
            if isinstance(err, KeyError) else
            f"its images or labels are not 32x32 RGB arrays and integers ({str(err)[:80]})")
    return ValueError(f"{path} is not a CIFAR batch file: {what}. Replace it with the original "
                      f"(e.g. delete the folder and pass --download)")


def _cifar_tensors(name: str, split: str, root: Path, download: bool
                   ) -> tuple[Tensor, Tensor, list[str]]:
    """uint8 images (N, 3, 32, 32), int64 labels (N,) and class names of a CIFAR split."""
    folder_name, train_files, test_files, meta_file, names_key, labels_key = _CIFAR_FILES[name]
    folder = root / folder_name
    files = train_files if split == "train" else test_files
    needed = [folder / f for f in [*files, meta_file]]
    if download and not all(p.is_file() for p in needed):
        import torchvision

        cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        cls(str(root), train=split == "train", download=True)
    absent = [p.name for p in needed if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{name} data not found in {str(folder)!r} (missing {', '.join(absent)}); pass "
            f"--download (download=True) to fetch it into {str(root)!r}, or point --data-root "
            f"(root=) at the folder that holds {folder_name}/")
    images, labels = [], []
    for file_name in files:
        entry = _read_batch(folder / file_name)
        try:
            images.append(torch.as_tensor(entry["data"], dtype=torch.uint8)
                          .reshape(-1, 3, 32, 32))
            labels.append(torch.as_tensor(entry[labels_key], dtype=torch.int64))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise _not_a_batch(folder / file_name, entry, err) from None
    meta = _read_batch(folder / meta_file)
    if names_key not in meta:
        raise _not_a_batch(folder / meta_file, meta, KeyError(names_key))
    classes = [str(c) for c in meta[names_key]]
    return torch.cat(images), torch.cat(labels), classes


class _AugmentedImages(Dataset):
    """uint8 images with per-item random crop (4-pixel zero padding) and horizontal flip, then
    normalization; random draws come from torch's global RNG (seeded per epoch by the trainer)."""

    def __init__(self, images: Tensor, labels: Tensor, mean: Tensor, std: Tensor) -> None:
        self.images, self.labels = images, labels
        self.mean, self.std = mean.view(3, 1, 1), std.view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = (self.images[index].float() / 255 - self.mean) / self.std
        padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
        top, left = torch.randint(0, 9, (2,)).tolist()
        image = padded[:, top:top + 32, left:left + 32]
        if torch.rand(()) < 0.5:
            image = image.flip(2)
        return image, self.labels[index]


def _subset_indices(total: int, n: int | None, seed: int) -> Tensor | None:
    """The first `n` of a seeded permutation of range(total) (nested in n), or None for all."""
    if n is None:
        return None
    if not 1 <= n <= total:
        raise ValueError(f"asked for {n:,} samples, but the data set has {total:,}; pass "
                         f"--samples {total} or fewer (n= in Python)" if n > total else
                         f"n must be a positive number of samples, got {n}")
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]


def cifar_stats(name: str, normalize: str = "torchvision"
                ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel mean and std that normalize a CIFAR data set's pixels (in [0, 1]).

    Args:
        name: "cifar10" or "cifar100".
        normalize: "torchvision" (the training set's statistics, e.g. 0.4914 / 0.2470 for
            CIFAR-10's red channel) or "reference" (the 2018 reference code's 125.3/255,
            123.0/255, 113.9/255 and 63.0/255, 62.1/255, 66.7/255; CIFAR-10 only), to reproduce
            its numbers.

    Raises:
        ValueError: an unknown name or normalization, or "reference" for CIFAR-100.
    """
    if name not in CIFAR_STATS:
        raise ValueError(f"name must be one of {sorted(CIFAR_STATS)}, got {name!r}")
    if normalize == "torchvision":
        return CIFAR_STATS[name]
    if normalize == "reference":
        if name != "cifar10":
            raise ValueError(f"the 2018 reference code normalizes CIFAR-10 only; it has no "
                             f"constants for {name}: use normalize='torchvision' "
                             f"(--normalize torchvision)")
        return REFERENCE_CIFAR10_STATS
    raise ValueError(f"normalize must be one of {list(NORMALIZATIONS)}, got {normalize!r}")


def _cifar(name: str, split: str, root: Path, download: bool, augment: bool, n: int | None,
           seed: int, normalize: str) -> Dataset:
    mean, std = (torch.tensor(s) for s in cifar_stats(name, normalize))
    images, labels, classes = _cifar_tensors(name, split, root, download)
    index = _subset_indices(len(labels), n, seed)
    if index is not None:
        images, labels = images[index], labels[index]
    if augment:
        dataset: Dataset = _AugmentedImages(images, labels, mean, std)
    else:
        normed = (images.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
        dataset = TensorDataset(normed.contiguous(), labels)
    dataset.classes = classes  # type: ignore[attr-defined]
    return dataset


# ---------------------------------------------------------------- ImageFolder

def _image_folder(split: str, root: Path, augment: bool, n: int | None, seed: int,
                  image_size: int) -> Dataset:
    import torchvision
    from torchvision import transforms as T

    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist; pass --data-root "
                                f"(root=) a folder with one subfolder of images per class")
    candidates = [root / split] + ([root / "val"] if split == "test" else [])
    folder = next((c for c in candidates if c.is_dir()), root)
    mean, std = _IMAGENET_STATS
    steps: list[Any] = [T.Resize(image_size), T.CenterCrop(image_size)]
    if augment:
        steps += [T.RandomCrop(image_size, padding=image_size // 8), T.RandomHorizontalFlip()]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    dataset = torchvision.datasets.ImageFolder(str(folder), transform=T.Compose(steps))
    index = _subset_indices(len(dataset), n, seed)
    if index is None:
        return dataset
    subset = Subset(dataset, index.tolist())
    subset.classes = dataset.classes  # type: ignore[attr-defined]
    return subset


# ---------------------------------------------------------------- public entry points

def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike[str] | None = None,
                 download: bool = False, augment: bool = False, n: int | None = None,
                 seed: int = 0, image_size: int = 32, normalize: Normalization | None = None,
                 block_size: int | None = None) -> Dataset:
    """A data set by name.

    Args:
        name: "embedded" (generated, no files), "cifar10", "cifar100" (torchvision's on-disk
            format under `root`, default "./data"), "imagefolder" (`root` = a folder with one
            subfolder per class, or with `train/` and `test/` (or `val/`) folders of those),
            "tokens" (the embedded token corpus) or "nanogpt" (`root` = a folder with
            `train.bin` and `val.bin`): see `models.tokens`.
        split: "train" or "test".
        root: where the files are.
        download: fetch CIFAR through torchvision if it is absent (never done otherwise).
        augment: CIFAR/ImageFolder: random crop (4-pixel padding) and horizontal flip. The
            embedded set has none (its classes depend on orientation) and refuses it.
        n: number of items: the first `n` of a seeded permutation (embedded: of the stream).
        seed: picks the `n` items; for the embedded set, generates the images.
        image_size: ImageFolder only: images are resized and centre-cropped to this size.
        normalize: CIFAR only: "torchvision" (default) or "reference" constants (see
            `cifar_stats`); other data sets refuse a value.
        block_size: token data only: tokens per sequence (default 32); others refuse a value.

    Returns:
        Without augmentation, CIFAR and embedded data come as a `TensorDataset` (images
        normalized float32 (N, 3, 32, 32), labels int64 (N,)), resident in memory. All data sets
        carry a `classes` attribute.

    Raises:
        ValueError: unknown name or split, bad `n` (more than the data set holds: the message
            gives its size), more images than the memory available, augmentation of the
            embedded set, or a normalization the data set does not have.
        FileNotFoundError: CIFAR absent (the message names the folder and `--download`), or no
            image folder.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if normalize is not None and name not in ("cifar10", "cifar100"):
        raise ValueError(f"normalize (--normalize) chooses CIFAR's constants; the {name} data "
                         f"set has its own, so leave it out")
    if block_size is not None and name not in TOKEN_DATASETS:
        raise ValueError(f"block_size (--block-size) sets the length of token sequences; the "
                         f"{name} data set holds images, so leave it out")
    if name in TOKEN_DATASETS:
        from models.tokens import token_corpus, token_files

        if augment:
            raise ValueError(f"the {name} data set has no augmentation; use augment=False")
        size = 32 if block_size is None else block_size
        if name == "tokens":
            return token_corpus(split, n, seed=seed, block_size=size)
        if root is None:
            raise ValueError("the nanogpt data set needs root= (--data-root): the folder holding "
                             "train.bin and val.bin")
        return token_files(root, split, n, seed=seed, block_size=size)
    if name == "embedded":
        if augment:
            raise ValueError("the embedded data set has no augmentation: flips would change its "
                             "oriented classes; use augment=False")
        return embedded_dataset(split, n, seed=seed)
    if name in ("cifar10", "cifar100"):
        total = _CIFAR_SIZES[split]
        if n is not None and n > total:
            _subset_indices(total, n, seed)  # raises: more than the whole split
        _check_memory(total * 3 * 32 * 32 + (n or total) * _IMAGE_BYTES,
                      f"{n or total:,} {name} {split} images")
        return _cifar(name, split, Path(root if root is not None else "data"), download,
                      augment, n, seed, normalize or "torchvision")
    if name == "imagefolder":
        if root is None:
            raise ValueError("the imagefolder data set needs root= (--data-root): a folder with "
                             "one subfolder of images per class")
        return _image_folder(split, Path(root), augment, n, seed, image_size)
    raise ValueError(f"data set must be one of {', '.join(DATASETS)}, got {name!r}")


def max_samples(name: str, split: str) -> int | None:
    """The most items `name`'s `split` can give: the embedded set's bound (`EMBEDDED_LIMITS`),
    a CIFAR split's size; None for an image folder (known once its files are listed)."""
    if name == "embedded":
        return EMBEDDED_LIMITS.get(split)
    if name == "tokens":
        from models.tokens import TOKEN_LIMITS

        return TOKEN_LIMITS.get(split)
    if name in ("cifar10", "cifar100"):
        return _CIFAR_SIZES.get(split)
    return None


def evaluation_tensors(name: str = "embedded", split: str = "train", *,
                       samples: int | None = None, seed: int = 0,
                       root: str | os.PathLike[str] | None = None, download: bool = False,
                       normalize: Normalization | None = None, block_size: int | None = None
                       ) -> tuple[Tensor, Tensor]:
    """A seeded evaluation subset as two stacked CPU tensors, without augmentation.

    The items are exactly those of `load_dataset(name, split, n=samples, seed=seed)`, so with the
    same seed they are a subset of a training set of `n >= samples` items. `normalize` picks
    CIFAR's constants (see `cifar_stats`).

    Returns:
        inputs float32 (N, 3, H, W) and targets int64 (N,); for token data, inputs and
        targets int64 (N, T).

    Raises:
        ValueError: as `load_dataset`: more samples than the data set holds (the message gives
            its size) or than the memory available (the message gives both figures).
    """
    dataset = load_dataset(name, split, root=root, download=download, augment=False,
                           n=samples, seed=seed, normalize=normalize, block_size=block_size)
    if name in TOKEN_DATASETS:
        inputs, targets = dataset.tensors  # type: ignore[attr-defined]
        return inputs.long().contiguous(), targets.long().contiguous()
    if isinstance(dataset, TensorDataset):
        inputs, targets = dataset.tensors[0], dataset.tensors[1]
    else:
        count = len(dataset)  # type: ignore[arg-type]
        if count:  # the decoded items and their stack are in memory together
            _check_memory(2 * count * dataset[0][0].numel() * 4, f"{count:,} {name} images")
        items = [dataset[i] for i in range(count)]
        inputs = torch.stack([x for x, _ in items])
        targets = torch.as_tensor([int(y) for _, y in items])
    return inputs.float().cpu().contiguous(), targets.long().cpu().contiguous()

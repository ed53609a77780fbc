"""Where evaluation data lives (resident on the device, or streamed from host memory), the
order its samples are read in, and whether a grid's results fit in memory."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset

from landscape.engine.evaluate import Data, sample_tensors
from landscape.engine.grid import Grid
from landscape.engine.sums import SAMPLE_ORDER_SEED, sample_order
from toolkit import available_memory

__all__ = ["resolve_device", "HostBatches", "resident_budget", "as_data", "sample_count",
           "head_samples", "in_sample_order", "SAMPLE_ORDER_SEED", "check_grid_memory",
           "check_shape_memory", "check_basis_memory"]

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` means CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class HostBatches:
    """`(inputs, targets)` kept in host memory and served batch by batch, as often as asked.

    The streaming fallback for data too large to keep on the device: every point reads the
    batches again, each copied to the device as it is used (from pinned memory on CUDA, so
    the copy overlaps the computation).
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> None:
        pin = torch.cuda.is_available()
        self.inputs = inputs.pin_memory() if pin else inputs
        self.targets = targets.pin_memory() if pin else targets
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for s in range(0, len(self.inputs), self.batch_size):
            yield self.inputs[s:s + self.batch_size], self.targets[s:s + self.batch_size]


def resident_budget(device: torch.device) -> int | None:
    """Bytes of evaluation data to keep on `device`: a quarter of free CUDA memory, leaving room
    for activations and weights; None (no limit) on a CPU, where the data is in RAM anyway."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free // 4


def as_data(data: Any, device: torch.device, *, budget: int | None = None,
            batch_size: int = 128) -> Data:
    """Evaluation data in the form the evaluator takes.

    `(inputs, targets)` tensors and map-style datasets become resident tensors on `device`, or,
    when they take more than `budget` bytes, `HostBatches` of `batch_size` streamed to it;
    any other iterable of `(inputs, targets)` batches (a DataLoader) is streamed as it is.
    """
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        if not items:
            raise ValueError("the evaluation dataset is empty")
        data = (torch.stack([torch.as_tensor(x) for x, _ in items]),
                torch.as_tensor([y for _, y in items]))
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        inputs, targets = data
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets differ in length: "
                             f"{len(inputs)} vs {len(targets)}")
        size = inputs.numel() * inputs.element_size()
        if budget is not None and size > budget and inputs.device.type == "cpu":
            log.warning("evaluation data (%.0f MB) exceeds the %.0f MB kept on %s: streaming "
                        "it from host memory each point", size / 2**20, budget / 2**20, device)
            return HostBatches(inputs, targets, batch_size)
        return inputs.to(device), targets.to(device)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"data must be (inputs, targets) tensors, a Dataset or an iterable of "
                    f"batches, got {type(data).__name__}")


def sample_count(data: Data) -> int | None:
    tensors = sample_tensors(data)
    return None if tensors is None else len(tensors[0])


def head_samples(data: Data, n: int, device: torch.device | None = None) -> Data:
    """The first `n` samples as `(inputs, targets)` on `device` (host-kept ones are copied)."""
    x, y = sample_tensors(data)  # type: ignore[misc]
    x, y = x[:n], y[:n]
    return (x.to(device), y.to(device)) if device is not None else (x, y)


def in_sample_order(data: Data) -> tuple[Data, str]:
    """The samples in one seeded random order (the same for every point and every run), and
    the permutation's hash: a prefix of data sorted by class would not be a sample of it."""
    tensors = sample_tensors(data)
    if tensors is None:
        raise ValueError("target_se reads the samples in one random order, so it needs them "
                         "as (inputs, targets) tensors or a Dataset, not an iterable of batches")
    x, y = tensors
    perm = sample_order(len(x), SAMPLE_ORDER_SEED)
    digest = hashlib.sha256(perm.numpy().astype("<i8").tobytes()).hexdigest()
    x, y = x[perm.to(x.device)], y[perm.to(y.device)]
    if isinstance(data, HostBatches):
        return HostBatches(x, y, data.batch_size), digest
    return (x, y), digest


# loss, accuracy, their errors, done, coordinates and their copies, and 3 x 32 block sums
_BYTES_PER_POINT = 128 + 3 * 8 * 32


def check_grid_memory(grid: Grid, available: int | None = None) -> None:
    """Refuse, before anything is allocated, a grid whose results alone would take more than
    half the memory available.

    Raises:
        ValueError: with the estimate, what is available, and a grid that would fit.
    """
    check_shape_memory(grid.shape, available)


def check_shape_memory(shape: tuple[int, ...], available: int | None = None) -> None:
    """`check_grid_memory` for a grid of this shape (e.g. the one a file declares)."""
    available = available_memory() if available is None else available
    size = math.prod(int(n) for n in shape)
    need = size * _BYTES_PER_POINT
    if available is None or need <= available // 2:
        return
    fits = int((available // 2 // _BYTES_PER_POINT) ** (1 / max(len(shape), 1)))
    raise ValueError(f"a grid of {size:,} points needs about {need / 2**30:,.1f} GB for its "
                     f"results alone, and {available / 2**30:,.1f} GB of memory is available: "
                     f"use fewer points per axis (at most about {fits:,} here)")


def check_basis_memory(steps: int, n: int, like: torch.Tensor, available: int | None = None
                       ) -> None:
    """Refuse (ValueError) before it is allocated a Lanczos basis of `steps` vectors of `n`
    weights taking over half the memory available (on a CUDA device, its free memory)."""
    import toolkit

    if available is None:
        available = (torch.cuda.mem_get_info(like.device)[0] if like.device.type == "cuda"
                     else toolkit.available_memory())
    need = steps * n * like.element_size()
    if available is None or need <= available // 2:
        return
    fits = max(1, available // 2 // max(1, n * like.element_size()))
    size = [f"{b / 2**30:,.1f} GB" if b >= 2**30 else f"{b / 2**20:,.1f} MB"
            for b in (need, available)]
    raise ValueError(f"{steps:,} Lanczos steps keep as many vectors of {n:,} weights "
                     f"({size[0]}), and {size[1]} of memory is available: pass fewer --iters "
                     f"(at most about {fits:,} here; iters= in Python)")

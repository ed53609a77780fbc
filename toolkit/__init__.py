"""What `models` and `landscape` both need and neither owns: the hash of named tensors and the
memory available to a new allocation (here), and the built-in per-sample losses
(`toolkit.losses`), which training and evaluation must share.

It imports only torch and the standard library, so either package may import it without tying
the two together.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import torch

__all__ = ["tensors_sha256", "available_memory"]


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex SHA-256 of named tensors: names, dtypes, shapes and bytes, in sorted name order.

    Independent of the device the tensors are on and of a file's container format. For a
    model's `state_dict()` it equals the `sha256` a checkpoint records.
    """
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())  # hashed in place, no copy
    return digest.hexdigest()


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None

"""Sharding a grid over the ranks of torch.distributed (under torchrun): joining the process
group, and sharing objects between ranks."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch

from landscape.engine.evaluate import PointStats

__all__ = ["init_distributed", "broadcast", "gather"]

log = logging.getLogger(__name__)


def init_distributed(dev: torch.device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("joined process group: rank %d of %d (%s)", dist.get_rank(),
                 dist.get_world_size(), backend)
    return dist.get_rank(), dist.get_world_size()


def broadcast(obj: Any) -> Any:
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: tuple[np.ndarray, PointStats | None], world: int
            ) -> list[tuple[np.ndarray, PointStats]]:
    if world == 1:
        return [obj] if obj[1] is not None else []  # type: ignore[list-item]
    import torch.distributed as dist

    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return [o for o in out if o[1] is not None]

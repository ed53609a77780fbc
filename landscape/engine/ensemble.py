"""An ensemble of direction pairs through one θ*: N random pairs, drawn with seeds s, s + 1, ...,
computed into one resumable file, so that a metric's spread over the pairs measures what the
choice of directions does to it.

The first pair sits at the file's root in the layout the 2018 reference code's readers draw
(a plain surface with seed s has the same values there); pair k > 0 sits beside it in the group
`ensemble/<k>`, laid out as the root: its own loss, accuracy, `done` mask, block sums and
directions. Every pair records N in its spec, so a resume continues only an ensemble of the
same size, and a killed run resumes pair by pair where it stopped.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from landscape.engine import store
from landscape.engine.grid import Grid
from landscape.engine.surface import compute_surface
from landscape.engine.types import Surface

__all__ = ["compute_ensemble", "load_ensemble", "ensemble_size"]


def compute_ensemble(model: nn.Module, data: Any, grid: Grid, *, ensemble: int = 3,
                     seed: int | None = None, path: str | os.PathLike[str] | None = None,
                     resume: bool = False, overwrite: bool = False,
                     meta: dict[str, Any] | None = None, **kwargs: Any) -> list[Surface]:
    """The surfaces of `ensemble` random direction pairs through the same θ*, on one grid.

    Pair k is drawn with seed `seed + k` and computed as `compute_surface` computes one
    surface (torchrun sharding, `target_se`, `refine` and the rest work pair by pair); with
    `path`, all go into that one file (see the module's docstring), each pair written chunk by
    chunk.

    Args:
        model, data, grid: as for `compute_surface`.
        ensemble: N, the number of direction pairs (>= 1).
        seed: the first pair's seed; default 0, or when resuming the file's.
        path, resume, overwrite, meta: as for `compute_surface`; `resume` continues every
            pair (pairs not begun yet start), only when the file records the same N.
        **kwargs: any other keyword of `compute_surface` but `directions` (an ensemble draws
            its own).

    Returns:
        The N surfaces, first pair first.

    Raises:
        ValueError: N < 1, `directions` given, or what `compute_surface` raises.
    """
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble (the number of direction pairs) must be an integer >= 1, "
                         f"got {ensemble!r}")
    if kwargs.get("directions") is not None:
        raise ValueError("an ensemble draws its own random directions (seeds seed, seed + 1, "
                         "...): leave directions out, or compute one surface with them")
    kwargs.pop("directions", None)
    surfaces: list[Surface] = []
    for k in range(ensemble):
        pair_seed = seed if k == 0 else int(surfaces[0].meta["seed"]) + k
        surfaces.append(compute_surface(
            model, data, grid, seed=pair_seed, path=path,
            # later pairs go into the file the first one made (or continued): a missing
            # group starts, a begun one continues
            resume=resume or k > 0, overwrite=overwrite and k == 0,
            meta={**(meta or {}), "ensemble": ensemble, "pair": k}, member=(k, ensemble),
            **kwargs))
    return surfaces


def load_ensemble(path: str | os.PathLike[str]) -> list[Surface]:
    """Every direction pair a file holds, the root's first: one surface for a plain file (or a
    reference file), N for an ensemble (fewer when a run stopped before it began the rest)."""
    return [store.load_surface(path),
            *(store.load_surface(path, group=g) for g in store.member_groups(path))]


def ensemble_size(surface: Surface) -> int | None:
    """N, the direction pairs of the ensemble `surface` belongs to; None for a plain surface."""
    spec = surface.meta.get("spec")
    size = spec.get("ensemble") if isinstance(spec, dict) else None
    return int(size) if size is not None else None

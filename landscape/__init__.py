"""The loss-landscape toolkit's library: directions, grids, batched evaluation, HDF5 surfaces,
metrics and pictures.

    >>> from landscape import Axis, Grid, compute_surface
    >>> surface = compute_surface(model, (inputs, targets), Grid(Axis(-1, 1, 21), Axis(-1, 1, 21)))

Model- and data-agnostic: any `nn.Module` and any `(inputs, targets)` data. Three layers, whose
imports run one way, pictures -> analysis -> engine:

- `landscape.engine`: what computes and stores values (the names here come from it);
- `landscape.analysis`: numbers derived from a model or a surface;
- `landscape.pictures`: figures and reports.

`landscape.plot`, `landscape.viewer`, `landscape.metrics`, `landscape.hessian`,
`landscape.trajectory` and `landscape.store` name those modules, loaded on first use so that
`import landscape` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from landscape.engine.directions import (
    create_directions,
    interpolation_direction,
    normalize_direction,
    plane_directions,
    random_direction,
)
from landscape.engine.ensemble import compute_ensemble, load_ensemble
from landscape.engine.evaluate import evaluate_points
from landscape.engine.grid import Axis, Grid
from landscape.engine.params import get_params
from landscape.engine.store import load_directions, load_surface, save_surface
from landscape.engine.surface import compute_surface
from landscape.engine.types import Params, Surface

__all__ = [
    "Axis", "Grid", "Params", "Surface", "compute_ensemble", "compute_surface",
    "create_directions", "load_ensemble",
    "evaluate_points", "get_params", "interpolation_direction", "load_directions",
    "load_surface", "normalize_direction", "plane_directions", "random_direction",
    "save_surface",
]

_MODULES = {
    "plot": "landscape.pictures.plot",
    "viewer": "landscape.pictures.viewer",
    "metrics": "landscape.analysis.metrics",
    "hessian": "landscape.analysis.hessian",
    "trajectory": "landscape.analysis.trajectory",
    "store": "landscape.engine.store",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])

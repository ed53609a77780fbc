"""The loss-landscape engine: directions, grids, batched evaluation, HDF5 surfaces, pictures.

    >>> from landscape import Axis, Grid, compute_surface
    >>> surface = compute_surface(model, (inputs, targets), Grid(Axis(-1, 1, 21), Axis(-1, 1, 21)))

Model- and data-agnostic: any `nn.Module` and any `(inputs, targets)` data. Pictures live in
`landscape.plot` (matplotlib) and `landscape.viewer` (plotly), imported on demand.
"""

from landscape.directions import (
    create_directions,
    interpolation_direction,
    normalize_direction,
    plane_directions,
    random_direction,
)
from landscape.evaluate import evaluate_points
from landscape.grid import Axis, Grid
from landscape.params import get_params
from landscape.store import load_directions, load_surface, save_surface
from landscape.surface import compute_surface
from landscape.types import Params, Surface

__all__ = [
    "Axis", "Grid", "Params", "Surface", "compute_surface", "create_directions",
    "evaluate_points", "get_params", "interpolation_direction", "load_directions",
    "load_surface", "normalize_direction", "plane_directions", "random_direction",
    "save_surface",
]

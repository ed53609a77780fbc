"""The engine: what computes and stores the values of a loss surface.

Model- and data-agnostic. It imports neither `landscape.analysis` nor `landscape.pictures`.

- `types` (`Params`, `Surface`), `grid` (`Axis`, `Grid`), `params` (named-tensor algebra)
- `directions`: random Gaussian directions, filter / layer / model normalization
- `spec`: the fingerprint of what decides a surface's values
- `evaluate`: the hot loop, K points per forward pass; `fold`: BN folded into convolutions
- `placement`: where the data lives; `plan`: batch size, fused or compiled forward, the probe
- `surface`: `compute_surface`, the grid walk; `refine`: coarse to fine
- `provenance`: what a file records and when a resume is allowed; `distributed`: torchrun ranks
- `store`: the HDF5 surface file; `exports`: the reference, VTK/VTP, CSV and NPZ layouts
"""

from landscape.engine.directions import (
    create_directions,
    interpolation_direction,
    normalize_direction,
    plane_directions,
    random_direction,
)
from landscape.engine.evaluate import evaluate_points
from landscape.engine.grid import Axis, Grid
from landscape.engine.params import get_params
from landscape.engine.store import load_directions, load_surface, save_surface
from landscape.engine.surface import compute_surface
from landscape.engine.types import Params, Surface

__all__ = [
    "Axis", "Grid", "Params", "Surface", "compute_surface", "create_directions",
    "evaluate_points", "get_params", "interpolation_direction", "load_directions",
    "load_surface", "normalize_direction", "plane_directions", "random_direction",
    "save_surface",
]

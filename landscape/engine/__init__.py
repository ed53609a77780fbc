"""The engine: what computes and stores the values of a loss surface.

Model- and data-agnostic. It imports neither `landscape.analysis` nor `landscape.pictures`.

- `types` (`Params`, `Surface`), `grid` (`Axis`, `Grid`), `params` (named-tensor algebra)
- `directions`: random Gaussian directions, filter / layer / model normalization
- `spec`: the fingerprint of what decides a surface's values
- `evaluate`: the hot loop, K points per forward pass; `fold`: BN folded into convolutions
- `placement`: where the data lives; `plan`: batch size, fused or compiled forward, the probe
- `surface`: `compute_surface`, the grid walk; `refine`: coarse to fine
- `ensemble`: N direction pairs in one file (`compute_ensemble`, `load_ensemble`)
- `provenance`: what a file records and when a resume is allowed; `distributed`: torchrun ranks
- `store`: the HDF5 surface file; `exports`: the reference, VTK/VTP, CSV and NPZ layouts;
  `guards`: what a file may make the store do (nothing outside it, nothing beyond memory);
  `orientation`: which way round a file holds a grid
- `columns`: tables of 1-D columns in HDF5 (values along a path)

The names a user needs (`Axis`, `Grid`, `compute_surface`, ...) are re-exported by `landscape`;
import a module here for the rest (`from landscape.engine import store`).
"""

__all__ = ["types", "grid", "params", "directions", "spec", "evaluate", "fold", "placement",
           "plan", "surface", "ensemble", "refine", "provenance", "distributed", "store",
           "exports", "columns", "guards", "orientation"]

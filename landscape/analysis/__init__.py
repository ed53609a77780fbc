"""Numbers derived from a model or a surface. Imports the engine, never the pictures.

- `metrics`: sharpness, basin, curvature, convexity, local minima, roughness of one surface
- `basin`: the basin's radius and area on the interpolated surface
- `statistics`: the jackknife over sample blocks, paired differences, ensembles of directions
- `errors`: every metric of a surface or an ensemble with its errors
- `verdict`: two surfaces side by side, and which metrics support "sharper, less convex"
- `hessian`: Hessian-vector products, extreme eigenvalues, trace, eigenvalue maps
- `spectrum`: the Hessian's spectral density by stochastic Lanczos quadrature
- `blocks`: top eigenvalue and trace of each layer's, residual block's and stage's Hessian block
- `curves`: a Bezier curve trained between two minima, against the straight line
- `trajectory`: PCA directions of a training path and the surface they span

Import the module you need (`from landscape.analysis import metrics`); nothing is loaded here.
"""

__all__ = ["metrics", "basin", "statistics", "errors", "verdict", "hessian", "spectrum",
           "blocks", "curves", "trajectory"]

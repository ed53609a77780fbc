"""What a person looks at: figures of surfaces and the report of a comparison. Builds them; the
caller saves them. Imports the engine and the analysis, which never import it back; matplotlib
and plotly are imported inside the functions.

- `plot`: contour, filled contour, heat map, 3-D, 1-D and side-by-side figures (matplotlib)
- `scales`: the values prepared for drawing, colour scales and round levels, titles
- `three_d`: the 3-D height field drawn back to front
- `viewer`: the interactive, offline plotly page
- `report`: a summary or comparison as a text table, Markdown and JSON
- `hessian`, `trajectory`: the eigenvalue map and the training path pictures
- `spectrum`: the Hessian's spectral density (log axis) and per-block curvature bars
- `curves`: loss and accuracy along a trained curve between two minima and along the line

Import the module you need (`from landscape.pictures import plot`); nothing is loaded here.
"""

__all__ = ["plot", "scales", "three_d", "viewer", "report", "hessian", "trajectory", "spectrum",
           "curves"]

"""Every metric of a surface, or of an ensemble of direction pairs through one θ*, with the
errors that matter: the samples' (jackknife over the blocks all points share), the
directions' (spread across pairs), and the two combined.

`measure` computes each metric on each pair and on each pair's B leave-one-block-out
replicates; `Estimate` (from `landscape.analysis.statistics`) holds the mean over pairs, its
jackknife error `se`, the spread `sd` and the combined `error`. `compare_measures` gives the
difference of two such sets, paired block by block when the surfaces share their samples.

A metric that counts grid points (the non-convex share) also has a part of its error that no
resampling of the samples shows: which grid points happen to lie in the slice. It is taken as
binomial over the judged points, with the Agresti-Coull correction (Agresti & Coull 1998), so
that a share of 0 out of m points still has an error, about 1 / (m + 4)^½ · ½, and is added in
quadrature to the jackknife's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from landscape.analysis.statistics import (
    Estimate,
    combine_pairs,
    difference,
    jackknife,
    shares_blocks,
)
from landscape.engine.types import Surface

__all__ = ["metric_values", "measure", "compare_measures", "metric_names", "SHARE"]

SHARE = "non-convex share"


def metric_names(radii: Sequence[float], factor: float) -> list[str]:
    """The metrics `metric_values` gives, in table order (radii as given)."""
    return ["loss at θ*", "accuracy at θ* (%)",
            *(f"sharpness r={float(r):g} (decades)" for r in radii),
            f"basin radius (L ≤ {factor:g}·L*)", f"basin area (L ≤ {factor:g}·L*)",
            "curvature of ln L, λmin", "curvature of ln L, λmax", SHARE, "local minima",
            "roughness (log10 loss)"]


def metric_values(surface: Surface, *, radii: Sequence[float], factor: float,
                  window: int) -> dict[str, float]:
    """Every metric of one surface as one number each (NaN where not available), keyed as in
    `metric_names`. Radii the grid cannot resolve are NaN (see `metrics.resolvable_radii`)."""
    from landscape.analysis import metrics

    names = metric_names(radii, factor)
    cen = metrics.center(surface)
    sharp = metrics.sharpness(surface, radii)
    bas = metrics.basin(surface, factor)
    curv = metrics.curvature(surface, window=window)
    conv = metrics.convexity(surface)
    values = [cen["loss"], math.nan if cen["accuracy"] is None else cen["accuracy"],
              *(sharp[float(r)]["value"] for r in radii), bas["radius"], bas["area"],
              curv["eigenvalues"][0], curv["eigenvalues"][-1], conv["nonconvex_fraction"],
              float(len(metrics.local_minima(surface))),
              metrics.roughness(surface, log=True)]
    return {name: float(v) for name, v in zip(names, values, strict=True)}


def _counts(surface: Surface) -> tuple[int, int]:
    from landscape.analysis import metrics

    conv = metrics.convexity(surface)
    return int(conv["nonconvex_points"]), int(conv["points"])


def measure(surfaces: Sequence[Surface], *, radii: Sequence[float], factor: float,
            window: int) -> dict[str, Estimate]:
    """Each metric over the direction pairs `surfaces` (one surface: one pair), as an
    `Estimate`. The jackknife needs block sums; a surface without them gives NaN `se`.

    Raises:
        ValueError: no surfaces.
    """
    if not surfaces:
        raise ValueError("measure needs at least one surface")

    def values(s: Surface) -> dict[str, float]:
        return metric_values(s, radii=radii, factor=factor, window=window)

    per_pair: list[dict[str, float]] = []
    reps: list[np.ndarray] | None = []
    for s in surfaces:
        if s.blocks is None or reps is None:
            per_pair.append(values(s))
            reps = None
            continue
        value, _, rep = jackknife(values, s)
        per_pair.append(value)
        reps.append(rep)
    names = list(per_pair[0])
    out: dict[str, Estimate] = {}
    for k, name in enumerate(names):
        est = combine_pairs([p[name] for p in per_pair],
                            None if reps is None else [r[:, k] for r in reps])
        out[name] = est
    bent, judged = (sum(c) for c in zip(*(_counts(s) for s in surfaces), strict=True))
    if judged and math.isfinite(out[SHARE].value):
        p = (bent + 2) / (judged + 4)
        grid = math.sqrt(p * (1 - p) / (judged + 4))
        out[SHARE] = replace(out[SHARE], grid_se=grid)
    return out


def compare_measures(a: dict[str, Estimate], b: dict[str, Estimate], *,
                     paired: bool) -> dict[str, dict[str, float]]:
    """b − a for every metric the two share (`statistics.difference`)."""
    return {name: difference(b[name], a[name], paired=paired) for name in a if name in b}


def paired_surfaces(a: Sequence[Surface], b: Sequence[Surface]) -> bool:
    """Whether every pair of `a` shares its blocks with every pair of `b` (same data, seed
    and B), so that their differences pair block by block."""
    return bool(a) and bool(b) and all(shares_blocks(s, t) for s in a for t in b)


def as_json(estimates: dict[str, Estimate]) -> dict[str, dict[str, Any]]:
    """{metric: {value, se, sd, n, error}} for a report."""
    return {name: est.as_dict() for name, est in estimates.items()}

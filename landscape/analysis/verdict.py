"""Two surfaces side by side, and the verdict drawn from them: which metrics support, contradict
or leave open the claim that one surface (the no-skip twin) is sharper and less convex."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.analysis.metrics import (
    DEFAULT_FACTOR,
    DEFAULT_RADII,
    DEFAULT_WINDOW,
    common_region,
    summarize,
)
from landscape.engine.types import Surface, skip_flag

__all__ = ["compare", "verdict", "metric_rows", "format_number"]

_Z = 2.0       # a difference counts when it exceeds this many standard errors
_MARGIN = 0.1  # ... or, without a standard error, this share of the larger value


def compare(a: Surface, b: Surface, labels: Sequence[str] = ("A", "B"), *,
            radii: Sequence[float] = DEFAULT_RADII, factor: float = DEFAULT_FACTOR,
            window: int = DEFAULT_WINDOW, cautions: Sequence[str] = ()) -> dict[str, Any]:
    """Summaries of two surfaces side by side, with a verdict: e.g. a ResNet and its no-skip
    twin. Surfaces on different grids are compared on the grid points they share.

    Args:
        a, b: the surfaces; b is the candidate for "sharper / less convex" unless their `skip`
            flags say that a is the one without skips.
        labels: their names.
        radii, factor, window: as for `summarize`.
        cautions: more caveats for the verdict (e.g. that a net did not learn).

    Returns:
        {'labels', 'summaries': {label: summarize(...)}, 'rows': [[metric, value_a, se_a,
        value_b, se_b]], 'region' (see `common_region`), 'settings', 'verdict' (see
        `verdict`)}; `rows` feed `format_table` and `format_markdown`.

    Raises:
        ValueError: labels not two distinct names; grids without enough shared points.
    """
    labels = [str(v) for v in labels]
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"compare needs two distinct labels, got {labels}")
    (a, b), region = common_region([a, b])
    sa = summarize(a, radii=radii, factor=factor, window=window)
    sb = summarize(b, radii=radii, factor=factor, window=window)
    rows = [[name, va, ea, vb, eb] for (name, va, ea), (_, vb, eb)
            in zip(metric_rows(sa), metric_rows(sb), strict=True)]
    result = {"labels": labels, "summaries": {labels[0]: sa, labels[1]: sb}, "rows": rows,
              "region": region,
              "settings": {"radii": [float(r) for r in radii], "factor": float(factor),
                           "window": int(window)}}
    result["verdict"] = verdict(result, skip=[skip_flag(a.meta), skip_flag(b.meta)],
                                cautions=cautions)
    return result


_SHARP = "sharper"


_BENT = "less convex"


def metric_rows(s: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(metric, value, standard error) in table order."""
    nan = math.nan
    rows: list[tuple[str, Any, Any]] = [
        ("loss at θ*", s["center"]["loss"], s["center"]["loss_se"]),
        ("accuracy at θ* (%)", s["center"]["accuracy"], None),
    ]
    for r, v in s["sharpness"].items():
        rows.append((f"sharpness r={r} (decades)", v["value"], v["se"]))
    f = s["basin"]["factor"]
    curv = s["curvature"]
    rows += [
        (f"basin radius (L ≤ {f:g}·L*)", s["basin"]["radius"], None),
        (f"basin area (L ≤ {f:g}·L*)", s["basin"]["area"], None),
        ("curvature of ln L, λmin", curv["eigenvalues"][0], curv["eigenvalues_se"][0]),
        ("curvature of ln L, λmax", curv["eigenvalues"][-1], curv["eigenvalues_se"][-1]),
        ("non-convex share", s["convexity"]["nonconvex_fraction"], s["convexity"]["se"]),
        ("local minima", s["local_minima"], None),
        ("roughness (log10 loss)", s["roughness_log10"], None),
        ("points not computed", s["points"]["not_done"], None),
    ]
    return [(n, v, nan if e is None else e) for n, v, e in rows]


# metric name prefix -> (claim it bears on, +1: larger in the candidate supports the claim)


_CLAIMS: list[tuple[str, str, int]] = [
    ("sharpness r=", _SHARP, +1),
    ("curvature of ln L, λmax", _SHARP, +1),
    ("basin radius", _SHARP, -1),
    ("basin area", _SHARP, -1),
    ("non-convex share", _BENT, +1),
    ("local minima", _BENT, +1),
    ("roughness (log10 loss)", _BENT, +1),
]


def verdict(result: dict[str, Any], skip: Sequence[bool | None] = (None, None),
            cautions: Sequence[str] = ()) -> dict[str, Any]:
    """Which metrics of a comparison support "the no-skip surface is sharper / less convex".

    The candidate is the surface whose `skip` flag is False while the other's is True; without
    such flags it is the second one (B). Each metric of `_CLAIMS` supports the claim when the
    candidate lies on the sharper / less convex side by more than 2 standard errors (of the
    difference, from both surfaces' errors), contradicts it when it lies on the other side by
    as much, and is inconclusive in between. A metric without a standard error (basin, local
    minima, roughness) counts when the difference exceeds 10% of the larger value, and says
    that it has no standard error.

    Returns:
        {'candidate', 'reference' (labels), 'supports', 'inconclusive', 'contradicts',
        'not_available' (lists of {'metric', 'claim', 'candidate', 'reference', 'difference',
        'se'}), 'cautions', 'text'}.
    """
    labels = result["labels"]
    cand = 0 if (skip[0] is False and skip[1] is True) else 1
    ref = 1 - cand
    groups: dict[str, list[dict[str, Any]]] = {"supports": [], "inconclusive": [],
                                               "contradicts": [], "not_available": []}
    for name, va, ea, vb, eb in result["rows"]:
        claim = next(((c, sign) for prefix, c, sign in _CLAIMS if name.startswith(prefix)), None)
        if claim is None:
            continue
        vals, ses = (va, vb), (ea, eb)
        vc, vr = vals[cand], vals[ref]
        item: dict[str, Any] = {"metric": name, "claim": claim[0], "candidate": vc,
                                "reference": vr, "difference": math.nan, "se": math.nan}
        if vc is None or vr is None or math.isnan(float(vc)) or math.isnan(float(vr)):
            groups["not_available"].append(item)
            continue
        if math.isinf(float(vc)) or math.isinf(float(vr)):
            diff = math.inf if float(vc) > float(vr) else -math.inf if float(vc) < float(vr) \
                else 0.0
            se = math.nan
        else:
            diff = float(vc) - float(vr)
            sc, sr = ses[cand], ses[ref]
            se = math.hypot(sc, sr) if np.isfinite(sc) and np.isfinite(sr) else math.nan
        item.update(difference=diff, se=se)
        signed = claim[1] * diff
        threshold = (_Z * se if np.isfinite(se)
                     else _MARGIN * max(abs(float(vc)), abs(float(vr))) if np.isfinite(diff)
                     else 0.0)
        if signed > threshold:
            groups["supports"].append(item)
        elif signed < -threshold:
            groups["contradicts"].append(item)
        else:
            groups["inconclusive"].append(item)
    cautions = [*cautions, *_cautions(result, cand, ref)]
    out = {"candidate": labels[cand], "reference": labels[ref], **groups, "cautions": cautions,
           "known_skip": skip[cand] is False and skip[ref] is True}
    out["text"] = _verdict_text(out)
    return out


def _cautions(result: dict[str, Any], cand: int, ref: int) -> list[str]:
    labels = result["labels"]
    s = [result["summaries"][labels[0]], result["summaries"][labels[1]]]
    out = []
    l_c, l_r = s[cand]["center"]["loss"], s[ref]["center"]["loss"]
    if np.isfinite(l_c) and np.isfinite(l_r) and l_c > 0 and l_r > 0 and (
            max(l_c, l_r) / min(l_c, l_r) > 2):
        out.append(f"the two minima differ in height (L(θ*) {l_c:.3g} for {labels[cand]} vs "
                   f"{l_r:.3g} for {labels[ref]}); the metrics are relative, but a net that "
                   f"trained less often sits in a flatter region")
    a_c, a_r = s[cand]["center"]["accuracy"], s[ref]["center"]["accuracy"]
    if a_c is not None and a_r is not None and np.isfinite(a_c) and np.isfinite(a_r) and (
            abs(a_c - a_r) > 20):
        low = labels[cand] if a_c < a_r else labels[ref]
        out.append(f"the two nets are not trained to a comparable point (accuracy at θ* "
                   f"{a_c:.1f}% vs {a_r:.1f}%): {low} may sit on a plateau, whose flatness "
                   f"is not a good wide minimum")
    if result.get("region", {}).get("cropped"):
        out.append(result["region"]["message"])
    for k in (cand, ref):
        if not s[k]["center"]["on_grid"]:
            out.append(f"{labels[k]}: θ* is not a grid point; the nearest point stood in")
    return out


def _fmt_item(item: dict[str, Any]) -> str:
    se = item["se"]
    diff = format_number(item["difference"])
    tail = f"{diff} ± {format_number(se)}" if np.isfinite(se) else f"{diff}, no standard error"
    values = f"{format_number(item['candidate'])} vs {format_number(item['reference'])}"
    return f"{item['metric']} ({values}: {tail})"


def _verdict_text(v: dict[str, Any]) -> str:
    cand, ref = v["candidate"], v["reference"]
    if v["known_skip"]:
        who, than = f"the no-skip surface ({cand})", f"the skip surface ({ref})"
    else:
        who, than = cand, ref
    lines = [f"Is {who} sharper and less convex than {than}? A metric supports the claim when "
             f"the difference lies on the sharper / less convex side by more than {_Z:g} "
             f"standard errors (without a standard error: by more than {100 * _MARGIN:g}% of "
             f"the larger value)."]
    for key, head in (("supports", "Support"), ("contradicts", "Contradict"),
                      ("inconclusive", "Inconclusive (within the noise)"),
                      ("not_available", "Not available")):
        items = v[key]
        for claim in (_SHARP, _BENT):
            chosen = [i for i in items if i["claim"] == claim]
            if chosen:
                lines.append(f"- {head} \"{claim}\": " + "; ".join(_fmt_item(i) for i in chosen))
    judged = len(v["supports"]) + len(v["contradicts"]) + len(v["inconclusive"])
    lines.append(f"In short, of {judged} metrics: {len(v['supports'])} support the claim, "
                 f"{len(v['contradicts'])} contradict it, {len(v['inconclusive'])} inconclusive.")
    lines += [f"Caution: {c}." for c in v["cautions"]]
    return "\n".join(lines)


def format_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"

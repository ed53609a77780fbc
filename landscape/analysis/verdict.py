"""Two surfaces (or two ensembles of direction pairs) side by side, and the verdict drawn from
them: does each metric, with its combined error, say that the no-skip
surface is sharper and less convex, and what do they say together (one headline)?

Every metric that bears on the claim is judged, λmin included, and the same way: the
difference between the candidate and the reference supports the claim when it lies on the
claimed side by more than 2 combined errors, contradicts it when it lies on the other side by
as much, and is inconclusive in between. The combined error is the samples' (the jackknife
over the sample blocks, paired when both surfaces share them) and the directions' (the spread
of an ensemble of direction pairs); a difference without an error (a file without block sums,
an error of 0 from a count that no replicate moved) is shown and never counted.

The headline weighs the metrics as one family. Judged one at a time at 2 errors, each has a
4.6% chance of crossing by chance, so among ten, one crossing somewhere is likely even when
nothing differs. The headline counts a metric only when it still crosses with the others taken
into account: Holm's step-down rule, at the family-wise rate that one metric alone has at 2
errors (4.55%, so a family of one is judged as before). Sorted by their two-sided normal
p-values p(1) ≤ … ≤ p(m), the metrics hold while p(k) ≤ α/(m − k + 1). The per-metric labels
(supports, contradicts, inconclusive) stay at 2 errors each.

The claim has two parts, "sharper" and "less convex", and each part gets its own word from
the metrics that hold: `supported` when those that bear on it all support it, `contradicted`
when they all contradict it, `inconclusive` when they disagree or none holds. The headline is
the claim of both: `supported` when both parts are, `contradicted` when either part is (a
surface that is less convex but flatter is not "sharper and less convex"), and
`inconclusive` otherwise.

With one direction pair on either side the headline is `inconclusive` whatever the metrics
say: a second random pair moves these metrics by several of their sampling errors, so one pair
cannot tell two networks from two slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.analysis.errors import compare_measures, measure, metric_names, paired_surfaces
from landscape.analysis.metrics import (
    DEFAULT_FACTOR,
    DEFAULT_RADII,
    DEFAULT_WINDOW,
    common_region,
    summarize,
)
from landscape.engine.types import Surface, skip_flag

__all__ = ["compare", "verdict", "metric_rows", "format_number", "holm", "CLAIMS", "Z",
           "FAMILY_ALPHA", "MIN_DIRECTIONS"]

Z = 2.0            # a difference counts when it exceeds this many combined errors
FAMILY_ALPHA = math.erfc(Z / math.sqrt(2))  # the headline's family-wise rate: one metric's at Z
MIN_DIRECTIONS = 2  # direction pairs per surface for a headline other than inconclusive
_SHARP = "sharper"
_BENT = "less convex"

# metric name prefix -> (claim it bears on, +1: larger in the candidate supports the claim)
CLAIMS: list[tuple[str, str, int]] = [
    ("sharpness r=", _SHARP, +1),
    ("curvature of ln L, λmax", _SHARP, +1),
    ("curvature of ln L, λmin", _SHARP, +1),  # the flattest direction's curvature
    ("basin radius", _SHARP, -1),
    ("basin area", _SHARP, -1),
    ("non-convex share", _BENT, +1),
    ("local minima", _BENT, +1),
    ("roughness (log10 loss)", _BENT, +1),
]


def compare(a: Surface | Sequence[Surface], b: Surface | Sequence[Surface],
            labels: Sequence[str] = ("A", "B"), *, radii: Sequence[float] = DEFAULT_RADII,
            factor: float = DEFAULT_FACTOR, window: int = DEFAULT_WINDOW,
            cautions: Sequence[str] = ()) -> dict[str, Any]:
    """Two surfaces, or two ensembles of direction pairs, side by side with a verdict: e.g. a
    ResNet and its no-skip twin. Surfaces on different grids are compared on the grid points
    they share.

    Every metric is the mean over a side's direction pairs, with its jackknife error over the
    sample blocks (`se`), its spread across the pairs (`sd`) and the two combined (`error`);
    the difference B − A has its samples' error paired block by block when the two sides
    share their blocks (the same data and order seed).

    Args:
        a, b: a surface, or the surfaces of an ensemble (one per direction pair, all on one
            grid); b is the candidate for "sharper / less convex" unless their `skip` flags
            say that a is the one without skips.
        labels: their names.
        radii, factor, window: as for `summarize`.
        cautions: more caveats for the verdict (e.g. that a net did not learn).

    Returns:
        {'labels', 'summaries': {label: summarize(first pair) with 'metrics' over the
        ensemble and 'directions'}, 'rows': [[metric, value_a, error_a, value_b, error_b]],
        'differences': {metric: {value, se, sd_part, error}} (B − A), 'region' (see
        `common_region`), 'settings' (radii, factor, window, se_method, directions, paired,
        blocks), 'verdict' (see `landscape.analysis.verdict.verdict`)}.

    Raises:
        ValueError: labels not two distinct names; an empty ensemble; grids without enough
            shared points.
    """
    labels = [str(v) for v in labels]
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"compare needs two distinct labels, got {labels}")
    sides = [[a] if isinstance(a, Surface) else list(a), [b] if isinstance(b, Surface) else
             list(b)]
    if not sides[0] or not sides[1]:
        raise ValueError("compare needs at least one surface on each side")
    cropped, region = common_region([*sides[0], *sides[1]])
    sides = [cropped[:len(sides[0])], cropped[len(sides[0]):]]
    measures = [measure(side, radii=radii, factor=factor, window=window) for side in sides]
    summaries = []
    for side, est in zip(sides, measures, strict=True):
        summary = summarize(side[0], radii=radii, factor=factor, window=window, estimates=est)
        summary["directions"] = len(side)
        summaries.append(summary)
    paired = paired_surfaces(sides[0], sides[1])
    diffs = compare_measures(measures[0], measures[1], paired=paired)
    rows = [[name, measures[0][name].value, measures[0][name].error, measures[1][name].value,
             measures[1][name].error] for name in metric_names(radii, factor)]
    rows.append(["points not computed", summaries[0]["points"]["not_done"], math.nan,
                 summaries[1]["points"]["not_done"], math.nan])
    counts = {len(side) for side in sides}
    blocks = {s.blocks.count for side in sides for s in side if s.blocks is not None}
    result = {"labels": labels, "summaries": {labels[0]: summaries[0], labels[1]: summaries[1]},
              "rows": rows, "differences": diffs, "region": region,
              "settings": {"radii": [float(r) for r in radii], "factor": float(factor),
                           "window": int(window), "se_method": "jackknife",
                           "directions": counts.pop() if len(counts) == 1 else
                           [len(side) for side in sides],
                           "directions_per_surface": [len(side) for side in sides],
                           "paired": paired,
                           "blocks": blocks.pop() if len(blocks) == 1 else sorted(blocks)}}
    result["verdict"] = verdict(result, skip=[skip_flag(sides[0][0].meta),
                                              skip_flag(sides[1][0].meta)], cautions=cautions)
    return result


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(metric, value, error) of one `summarize(...)` in table order."""
    rows = [(name, m["value"], m["error"]) for name, m in summary["metrics"].items()]
    return [*rows, ("points not computed", summary["points"]["not_done"], math.nan)]


def format_number(value: Any) -> str:
    """A number for a table: 4 significant digits, integers as they are, nan/inf spelled."""
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


def _claim(name: str) -> tuple[str, int] | None:
    return next(((c, sign) for prefix, c, sign in CLAIMS if name.startswith(prefix)), None)


def verdict(result: dict[str, Any], skip: Sequence[bool | None] = (None, None),
            cautions: Sequence[str] = ()) -> dict[str, Any]:
    """Which metrics of a comparison (`landscape.metrics.compare`) support "the no-skip
    surface is sharper / less convex", and the headline.

    The candidate is the surface whose `skip` flag is False while the other's is True; without
    such flags it is the second one (B).

    Returns:
        {'headline' ('supported', 'contradicted' or 'inconclusive'), 'reason', 'counts'
        (per metric at 2 errors), 'family' ({'method': 'holm', 'alpha', 'judged',
        'supports', 'contradicts'}: the metrics that hold as a family), 'parts' ({claim:
        {'word', 'supports', 'contradicts'}}: each part of the claim from the metrics that
        hold, which decide the headline), 'candidate', 'reference' (labels), 'directions',
        'supports', 'inconclusive', 'contradicts', 'not_available' (lists of {'metric', 'claim',
        'candidate', 'reference', 'difference', 'error', 'se', 'sd_part', 'why'; judged ones
        also 'errors', the signed difference in errors, positive for the claim, and 'holds'}),
        'cautions', 'text'}.
    """
    labels = result["labels"]
    cand = 0 if (skip[0] is False and skip[1] is True) else 1
    ref = 1 - cand
    diffs = result.get("differences", {})
    groups: dict[str, list[dict[str, Any]]] = {"supports": [], "inconclusive": [],
                                               "contradicts": [], "not_available": []}
    for name, va, _, vb, _ in result["rows"]:
        claim = _claim(name)
        if claim is None:
            continue
        vals = (va, vb)
        d = diffs.get(name, {})
        sign = 1.0 if cand == 1 else -1.0  # differences are B − A
        item: dict[str, Any] = {
            "metric": name, "claim": claim[0], "candidate": vals[cand], "reference": vals[ref],
            "difference": sign * d.get("value", math.nan), "error": d.get("error", math.nan),
            "se": d.get("se", math.nan), "sd_part": d.get("sd_part", math.nan), "why": None}
        if not all(_finite(v) for v in vals):
            item["why"] = "not computed, or infinite, on one side"
            groups["not_available"].append(item)
            continue
        err = item["error"]
        if not (_finite(err) and err > 0):
            item["why"] = "no error: shown, not counted"
            groups["not_available"].append(item)
            continue
        signed = claim[1] * item["difference"]
        item["errors"] = signed / err
        key = ("supports" if signed > Z * err else "contradicts" if signed < -Z * err
               else "inconclusive")
        groups[key].append(item)
    judged = [i for key in ("supports", "contradicts", "inconclusive") for i in groups[key]]
    holds = holm([i["errors"] for i in judged])
    for item, held in zip(judged, holds, strict=True):
        item["holds"] = held
    parts = {claim: _part([i for i in judged if i["claim"] == claim and i["holds"]])
             for claim in (_SHARP, _BENT)}
    directions = result.get("settings", {}).get("directions_per_surface", [1, 1])
    cautions = [*cautions, *_cautions(result, cand, ref)]
    counts = {k: len(v) for k, v in groups.items()}
    headline, reason = _headline(parts, len(judged), min(directions))
    out = {"headline": headline, "reason": reason, "counts": counts, "parts": parts,
           "family": {"method": "holm", "alpha": FAMILY_ALPHA, "judged": len(judged),
                      **{key: [i["metric"] for i in groups[key] if i["holds"]]
                         for key in ("supports", "contradicts")}},
           "candidate": labels[cand], "reference": labels[ref], "directions": directions,
           **groups, "cautions": cautions, "known_skip": skip[cand] is False and skip[ref] is True}
    out["text"] = _verdict_text(out)
    return out


def _finite(value: Any) -> bool:
    return value is not None and np.isfinite(float(value))


def holm(errors: Sequence[float], alpha: float = FAMILY_ALPHA) -> list[bool]:
    """Which of m differences, each given in its own errors (a z-score), hold as a family:
    Holm's step-down rule at family-wise rate `alpha` on the two-sided normal p-values. The
    smallest p-value must be ≤ α/m, the next ≤ α/(m − 1), and so on; the first that fails
    stops the walk, and it and all larger ones do not hold. Valid whatever the dependence
    between the metrics (sharpness at several radii moves together)."""
    p = [math.erfc(abs(z) / math.sqrt(2)) for z in errors]
    order = sorted(range(len(p)), key=p.__getitem__)
    holds = [False] * len(p)
    for rank, i in enumerate(order):
        if p[i] > alpha / (len(p) - rank):
            break
        holds[i] = True
    return holds


def _part(held: list[dict[str, Any]]) -> dict[str, Any]:
    """One part of the claim from the metrics bearing on it that hold family-wise."""
    supports = [i["metric"] for i in held if i["errors"] > 0]
    contradicts = [i["metric"] for i in held if i["errors"] < 0]
    word = ("supported" if supports and not contradicts else
            "contradicted" if contradicts and not supports else "inconclusive")
    return {"word": word, "supports": supports, "contradicts": contradicts}


def _headline(parts: dict[str, dict[str, Any]], judged: int,
              directions: int) -> tuple[str, str]:
    words = [p["word"] for p in parts.values()]
    head = ("contradicted" if "contradicted" in words else
            "supported" if all(w == "supported" for w in words) else "inconclusive")
    words = " and ".join(f"\"{claim}\" {p['word']} ({len(p['supports'])} for, "
                         f"{len(p['contradicts'])} against)" for claim, p in parts.items())
    why = (f"counting the metrics that hold family-wise (Holm over the {judged} judged, at "
           f"{100 * FAMILY_ALPHA:.2g}%): {words}; the claim of both is "
           + ("contradicted when either part is" if head == "contradicted" else
              "supported when both parts are" if head == "supported" else
              "supported when both parts are, contradicted when either is"))
    if directions < MIN_DIRECTIONS and head != "inconclusive":
        why = (f"{head} by the metrics, but each surface has {directions} direction pair: the "
               f"spread over directions, often several sampling errors, is not measured "
               f"(use --ensemble 3 or more)")
        head = "inconclusive"
    return head, why


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
    if not result.get("settings", {}).get("paired", False):
        out.append("the two surfaces do not share their sample blocks (other data, another "
                   "order seed, or no block sums): their sampling errors are added, not paired")
    for k in (cand, ref):
        if not s[k]["center"]["on_grid"]:
            out.append(f"{labels[k]}: θ* is not a grid point; the nearest point stood in")
    return out


def _fmt_item(item: dict[str, Any]) -> str:
    diff = format_number(item["difference"])
    if item["why"]:
        tail = f"{diff}: {item['why']}"
    else:
        ratio = abs(item["difference"]) / item["error"]
        held = ", holds family-wise" if item.get("holds") else ""
        tail = f"{diff} ± {format_number(item['error'])}, {ratio:.1f} errors{held}"
    cand, ref = format_number(item["candidate"]), format_number(item["reference"])
    return f"{item['metric']} ({cand} vs {ref}: {tail})"


def _verdict_text(v: dict[str, Any]) -> str:
    cand, ref = v["candidate"], v["reference"]
    if v["known_skip"]:
        who, than = f"the no-skip surface ({cand})", f"the skip surface ({ref})"
    else:
        who, than = cand, ref
    c = v["counts"]
    judged = c["supports"] + c["contradicts"] + c["inconclusive"]
    n = v["directions"]
    pairs = f"{n[0]}" if n[0] == n[1] else f"{n[0]} and {n[1]}"
    lines = [f"Verdict: {v['headline'].upper()}. Is {who} sharper and less convex than {than}? "
             f"Of {judged} metrics judged: {c['supports']} support, {c['contradicts']} "
             f"contradict, {c['inconclusive']} inconclusive; {c['not_available']} not judged. "
             f"{v['reason'][:1].upper()}{v['reason'][1:]}.",
             f"A metric counts when its difference exceeds {Z:g} combined errors (samples: "
             f"jackknife over sample blocks; directions: spread over {pairs} direction "
             f"pair(s)); the headline counts only those that hold family-wise (Holm's rule "
             f"over the {judged} judged, so that {judged} chances to cross do not make one "
             f"crossing evidence)."]
    for key, head in (("supports", "Support"), ("contradicts", "Contradict"),
                      ("inconclusive", "Inconclusive (within the errors)"),
                      ("not_available", "Not judged")):
        for claim in (_SHARP, _BENT):
            chosen = [i for i in v[key] if i["claim"] == claim]
            if chosen:
                lines.append(f"- {head} \"{claim}\": " + "; ".join(_fmt_item(i) for i in chosen))
    lines += [f"Caution: {c}." for c in v["cautions"]]
    return "\n".join(lines)

"""What the demo makes of its finished runs: comparisons, training curves, report and demo.json."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import click

from cli.outputs import write_text

STAGES = ("train", "surface", "pictures")
LEARNED = 50.0  # train accuracy (%) below which a net of the demo has not learned its task


def compare_depth(depth: int, by_name: dict[str, dict[str, Any]], out: Path,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """The comparison of ResNet-DEPTH with its no-skip twin over their ensembles, written into
    OUTPUT/compare/resnetDEPTH/; radii of 1, 2 and 4 grid steps."""
    from cli.compare_cmd import write_comparison
    from landscape.engine.ensemble import load_ensemble

    records = [by_name[f"resnet{depth}"], by_name[f"resnet{depth}-noskip"]]
    labels = [f"ResNet-{depth}", f"ResNet-{depth} no skip"]
    untrained = [f"{label} did not learn (train accuracy {r['train']['accuracy']:.0f}%, "
                 f"chance is 10%): its θ* is a plateau, not a minimum comparable with the other"
                 for label, r in zip(labels, records, strict=True)
                 if r["train"]["accuracy"] < LEARNED]
    step = 2 * settings["extent"] / (settings["points"] - 1)
    result, written = write_comparison(
        [load_ensemble(r["surface"]) for r in records], labels,
        out / "compare" / f"resnet{depth}",
        metric_args={"radii": tuple(round(k * step, 12) for k in (1, 2, 4)),
                     "cautions": untrained})
    result["written"] = [str(p) for p in written]
    return result


def draw_training(records: list[dict[str, Any]], out: Path,
                  settings: dict[str, Any]) -> dict[str, Any]:
    """OUTPUT/pictures/training.png: each net's training and held-out error per epoch, plain
    nets left and ResNets right (He et al. Fig. 1 and 6); returns the curves drawn."""
    from cli.outputs import save_figure
    from models.studies.degradation import degradation_figure, run_name

    runs = {}
    for r in records:
        depth = int(r["name"].removeprefix("resnet").split("-")[0])
        h = r["train"]["history"]
        runs[run_name(depth, not r["name"].endswith("-noskip"))] = {
            "depth": depth, "epoch": h["epoch"],
            "train_error": [100.0 - a for a in h["train_acc"]],
            "test_error": [None if a is None else 100.0 - a for a in h["test_acc"]],
            "final_train_error": 100.0 - r["train"]["accuracy"]}
    curves = {"runs": runs, "settings": {
        "dataset": "embedded", "samples": settings["train_samples"], "width": settings["width"],
        "epochs": f"{settings['epochs']} (ResNets) and {settings['noskip_epochs']} (plain)"}}
    save_figure(degradation_figure(curves), out / "pictures" / "training.png", dpi=120)
    return curves


def _degradation_line(curves: dict[str, Any]) -> str:
    """Whether the deepest plain net ends at a higher training error than plain-20."""
    runs = curves["runs"]
    depths = sorted({r["depth"] for r in runs.values()})
    if len(depths) < 2:
        return "Degradation: one depth only; pass --depth 56 to see it."
    shallow, deep = runs[f"plain-{depths[0]}"], runs[f"plain-{depths[-1]}"]
    e20, ed = shallow["final_train_error"], deep["final_train_error"]
    seen = "the deeper plain net trains worse" if ed > e20 else "no degradation in this budget"
    res = [runs.get(f"resnet-{d}", {}).get("final_train_error", math.nan) for d in depths]
    return (f"Degradation (He et al. Fig. 1): plain-{depths[-1]} ends at {ed:.1f}% training "
            f"error, plain-{depths[0]} at {e20:.1f}%: {seen}; with skips, "
            f"resnet-{depths[-1]} {res[-1]:.1f}% and resnet-{depths[0]} {res[0]:.1f}%.")


def _headline(depth: int, result: dict[str, Any]) -> str:
    """The verdict's headline and counts, and by how much: the rise within two grid steps
    and the non-convex share, no skip against skip, each ± its combined error."""
    from landscape.analysis.verdict import format_number as num

    v, c = result["verdict"], result["verdict"]["counts"]
    rows = {row[0]: row for row in result["rows"]}
    rises = [name for name in rows if name.startswith("sharpness r=")]
    amounts = [f"{name} {num(rows[name][3])} ± {num(rows[name][4])} vs {num(rows[name][1])} "
               f"± {num(rows[name][2])}" for name in (*rises[1:2], "non-convex share")
               if name in rows]
    parts = ", ".join(f"{claim} {p['word']}" for claim, p in v["parts"].items())
    return (f"ResNet-{depth} vs no skip: {v['headline'].upper()} that the no-skip landscape is "
            f"sharper and less convex ({parts}; metrics at 2 errors each: {c['supports']} for, "
            f"{c['contradicts']} against, {c['inconclusive']} within, {c['not_available']} not "
            f"judged; {min(v['directions'])} direction pairs each): "
            + "; ".join(amounts))


def write_report(records: list[dict[str, Any]], results: dict[int, dict[str, Any]],
                 curves: dict[str, Any], settings: dict[str, Any], processes: int,
                 compare_s: float, total: float, load_start: float, out: Path) -> None:
    """Print what the demo found and how long it took; write OUTPUT/demo.json."""
    from landscape.pictures import report

    click.echo("")
    for r in records:
        t = r["train"]
        click.echo(f"{r['name']}: {t['epochs']} epochs, train loss {t['loss']:.3f}, train "
                   f"accuracy {t['accuracy']:.1f}%")
    for result in results.values():
        click.echo(f"\n{result['verdict']['text']}")
    click.echo("")
    click.echo(_degradation_line(curves))
    for depth, result in results.items():
        click.echo(_headline(depth, result))
    click.echo("")
    click.echo(time_table(records, compare_s, total))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    threads = settings["threads"]
    click.echo(f"{processes} process(es) of {threads} thread(s), {os.cpu_count()} CPU cores, "
               f"load average {load_start:.1f} at the start and {load_end:.1f} at the end")
    summary = {"settings": {**settings, "processes": processes},
               "models": {r["name"]: {"train": {k: v for k, v in r["train"].items()
                                                if k != "history"}, "seconds": r["seconds"],
                                      "cpu_seconds": r.get("cpu_seconds")}
                          for r in records},
               "seconds": {"compare": compare_s, "total": total},
               "cpu_seconds": {"compare": curves.get("compare_cpu_seconds")},
               "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(),
                           "load_average_start": load_start, "load_average_end": load_end},
               "degradation": {name: run["final_train_error"]
                               for name, run in curves["runs"].items()},
               "depths": {str(d): {"headline": r["verdict"]["headline"],
                                   "counts": r["verdict"]["counts"],
                                   "parts": r["verdict"]["parts"],
                                   "family": r["verdict"]["family"],
                                   **{k: [i["metric"] for i in r["verdict"][k]]
                                      for k in ("supports", "contradicts", "inconclusive")}}
                          for d, r in results.items()}}
    write_text(out / "demo.json", report.to_json(summary))
    pages = " and ".join(r["written"][1] for r in results.values())
    click.echo(f"\nOpen {pages} in a browser; pictures in {out / 'pictures'} (training.png: "
               f"the training curves), numbers in {out / 'compare'}, timings in "
               f"{out / 'demo.json'}.")


def time_table(records: list[dict[str, Any]], compare_s: float, total_s: float) -> str:
    """The seconds of each stage of each model, of the comparison and in all, as a table."""
    names = [r["name"] for r in records]
    width = max(12, *(len(n) for n in names))
    lines = ["stage".ljust(10) + "".join(n.rjust(width + 2) for n in names)]
    for stage in STAGES:
        lines.append(stage.ljust(10) + "".join(f"{r['seconds'][stage]:.1f} s".rjust(width + 2)
                                               for r in records))
    lines.append("compare".ljust(10) + f"{compare_s:.1f} s".rjust(width + 2))
    lines.append(f"total     {total_s:.1f} s = {total_s / 60:.1f} min (wall clock, the models "
                 f"side by side)")
    return "\n".join(lines)

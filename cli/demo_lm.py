"""`landscape demo --task lm`: the skip story one architecture later, on the embedded tokens.

Train gpt-mini and its no-skip twin (the same transformer without its residual stream) on the
embedded token corpus, compute both loss surfaces with the same directions seed, draw and
compare them. By default both have 2 blocks: on this corpus and budget that is the shallowest
depth at which the no-skip twin no longer learns (with 1 block it does; docs/how-to/
transformers.md has the numbers), so the comparison is of a minimum against a plateau, and the
verdict says so. The models run side by side as in the ResNet demo (`cli.demo_cmd.run_jobs`).
"""

from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import output_folder, write_text

LM_DEFAULTS = {"epochs": 4, "lr": 3e-3, "batch_size": 64, "train_samples": 3000,
               "eval_samples": 256, "points": 17}
"""The demo's settings for the language models where the ResNet ones were left as they are."""
BLOCKS = 2
BLOCK_SIZE = 32
WEIGHT_DECAY = 0.01
LEARNED = 0.8  # a model whose train loss is above this fraction of the unigram entropy has
#                learned no more than token frequencies


def run_lm_model(job: dict[str, Any], report: Any = None) -> dict[str, Any]:
    """Train one language model of the demo, compute its surface and draw it (the contract of
    `cli.demo_cmd.run_model`)."""
    import torch

    from cli.plot_cmd import write_pictures
    from landscape import Axis, Grid, compute_surface
    from models import create_model
    from models.checkpoint import load_checkpoint
    from models.tokens import token_corpus
    from models.train import evaluate, train_model

    say = report or print
    torch.set_num_threads(int(job["threads"]))
    name, out, seed = job["name"], Path(job["out"]), int(job["seed"])
    seconds: dict[str, float] = {}
    final = out / name / "final.pt"
    train_set = token_corpus("train", job["train_samples"], seed=seed, block_size=BLOCK_SIZE)

    tick = time.perf_counter()
    if job["resume"] and final.exists():
        model, meta = load_checkpoint(final)
        history = meta.get("history") or {}
        test_loss = (history.get("test_loss") or [None])[-1]
        epochs, reused = meta.get("epoch"), True
        say(f"[{name}] reusing {final}")
    else:
        say(f"[{name}] training {job['epochs']} epochs on {job['train_samples']} sequences of "
            f"{BLOCK_SIZE} tokens")
        model = create_model(name, seed=seed, depth=job["blocks"])
        test_set = token_corpus("test", 500, seed=seed, block_size=BLOCK_SIZE)
        history = train_model(model, train_set, test_set, epochs=job["epochs"], lr=job["lr"],
                              weight_decay=WEIGHT_DECAY, optimizer="adamw",
                              batch_size=job["batch_size"], seed=seed,
                              checkpoint_dir=out / name, device=job["device"],
                              save_every=max(1, job["epochs"] // 4), progress=False,
                              meta={"dataset": "tokens", "demo": True})
        test_loss, epochs, reused = history["test_loss"][-1], job["epochs"], False
        model, meta = load_checkpoint(final)
    loss, acc = evaluate(model, train_set, device=job["device"])
    info = {"loss": loss, "accuracy": acc, "test_loss": test_loss, "epochs": epochs,
            "reused": reused}
    seconds["train"] = time.perf_counter() - tick
    say(f"[{name}] train loss {loss:.3f} nats/token, token accuracy {acc:.1f}% "
        f"({seconds['train']:.0f} s)")

    tick = time.perf_counter()
    path = out / f"{name}.h5"
    points, extent = job["points"], job["extent"]
    data = token_corpus("train", job["eval_samples"], seed=seed, block_size=BLOCK_SIZE).tensors
    axis = Axis(-extent, extent, points)
    surface = compute_surface(
        model, data, Grid(axis, axis), seed=seed, path=path, device=job["device"],
        resume=job["resume"], overwrite=not job["resume"], progress=False,
        **options.drop_none(refine=job["refine"]),
        meta={**options.checkpoint_meta(meta), "dataset": "tokens", "data_seed": seed,
              "samples": job["eval_samples"], "block_size": BLOCK_SIZE})
    seconds["surface"] = time.perf_counter() - tick
    say(f"[{name}] surface {points}x{points} on {job['eval_samples']} sequences: "
        f"{int(surface.done.sum())} points computed ({seconds['surface']:.0f} s)")

    tick = time.perf_counter()
    pictures = write_pictures(surface, out / "pictures", name, dpi=120)
    seconds["pictures"] = time.perf_counter() - tick
    return {"name": name, "train": info, "surface": str(path),
            "pictures": [str(p) for p in pictures], "seconds": seconds}


def lm_settings(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """The demo's settings: LM_DEFAULTS where the user left an option at its (ResNet) default."""
    settings = dict(params)
    for key, value in LM_DEFAULTS.items():
        if ctx.get_parameter_source(key) in (click.core.ParameterSource.DEFAULT, None):
            settings[key] = value
    settings["blocks"] = params.get("blocks") or BLOCKS
    return settings


def lm_demo(ctx: click.Context, params: dict[str, Any]) -> None:
    """The whole `--task lm` run: train, surfaces, pictures, comparison, timings."""
    from cli.demo_cmd import run_jobs
    from cli.demo_report import time_table
    from models.tokens import corpus_entropies

    started = time.monotonic()
    s = lm_settings(ctx, params)
    out = Path(s["output"])
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    job = {key: s[key] for key in ("epochs", "lr", "batch_size", "train_samples",
                                   "eval_samples", "points", "extent", "refine", "seed",
                                   "device", "threads", "resume", "blocks")}
    noskip_epochs = s.get("noskip_epochs") or s["epochs"]
    names = ["gpt-mini", "gpt-mini-noskip"]
    jobs = [{"task": "lm", "name": names[0], "out": str(out), **job},
            {"task": "lm", "name": names[1], "out": str(out), **job, "epochs": noskip_epochs}]
    try:
        with output_folder(out, keep="**/*.pt"):
            records = run_jobs(jobs, s["processes"])
    except BaseException:
        if out.exists():
            click.echo(f"(what is finished is kept in {out}; rerun with --resume to "
                       f"continue)", err=True)
        raise
    tick = time.perf_counter()
    from cli.compare_cmd import write_comparison
    from landscape.engine.store import load_surface
    from landscape.pictures import report

    entropy = corpus_entropies(s["seed"])
    step = 2 * s["extent"] / (s["points"] - 1)
    surfaces = [load_surface(r["surface"]) for r in records]
    blocks = f"{s['blocks']} block" + ("" if s["blocks"] == 1 else "s")
    labels = [f"gpt-mini, {blocks}", f"gpt-mini, {blocks}, no skip"]
    untrained = [f"{label} did not learn (train loss {r['train']['loss']:.2f} nats/token, the "
                 f"corpus's unigram entropy is {entropy['unigram']:.2f}): its θ* is a plateau "
                 f"of token frequencies, not a minimum comparable with the other"
                 for label, r in zip(labels, records, strict=True)
                 if r["train"]["loss"] > LEARNED * entropy["unigram"]]
    result, written = write_comparison(
        surfaces, labels, out / "compare",
        metric_args={"radii": tuple(round(k * step, 12) for k in (1, 2, 4)),
                     "cautions": untrained})
    compare_s = time.perf_counter() - tick
    total = time.monotonic() - started
    click.echo("")
    click.echo(f"corpus: unigram entropy {entropy['unigram']:.3f} nats/token, entropy rate of "
               f"its chain {entropy['chain']:.3f} (the copies bring it lower)")
    for r in records:
        t = r["train"]
        click.echo(f"{r['name']}: {t['epochs']} epochs, train loss {t['loss']:.3f}, test loss "
                   f"{t['test_loss'] or float('nan'):.3f}, token accuracy {t['accuracy']:.1f}%")
    click.echo("")
    click.echo(result["verdict"]["text"])
    click.echo("")
    click.echo(time_table(records, compare_s, total))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    click.echo(f"{s['processes']} process(es) of {s['threads']} thread(s), {os.cpu_count()} CPU "
               f"cores, load average {load_start:.1f} at the start and {load_end:.1f} at the end")
    summary = {"task": "lm", "settings": {**job, "noskip_epochs": noskip_epochs,
                                          "processes": s["processes"],
                                          "block_size": BLOCK_SIZE,
                                          "weight_decay": WEIGHT_DECAY},
               "corpus": entropy,
               "models": {r["name"]: {"train": r["train"], "seconds": r["seconds"]}
                          for r in records},
               "seconds": {"compare": compare_s, "total": total},
               "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(),
                           "load_average_start": load_start, "load_average_end": load_end},
               "verdict": {k: [i["metric"] for i in result["verdict"][k]]
                           for k in ("supports", "contradicts", "inconclusive")}}
    write_text(out / "demo.json", report.to_json(summary))
    click.echo(f"\nOpen {written[1]} in a browser; pictures in {out / 'pictures'}, numbers in "
               f"{written[3]}, timings in {out / 'demo.json'}.")

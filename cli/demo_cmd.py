"""`landscape demo`: the whole story on the embedded data, in minutes on 2 CPU cores.

Train ResNet-20 and a deeper ResNet, each with its no-skip twin; draw their training curves
(the deeper plain net trains worse: He et al.'s degradation problem); compute each net's loss
surfaces around its minimum over an ensemble of direction pairs (the same seeds for all); draw
them, compare each depth's pair in numbers with a verdict that counts the spread over the
directions, and write the interactive viewer. The no-skip twins learn more slowly, so they
train twice as many epochs by default: each pair's minima are then at a comparable training
loss, and their shapes can be compared.

The models run two at a time in processes of one thread each (the spawn start method, so
nothing of this process is inherited): on a shared CPU one thread per process is the robust
choice, and two processes beat one process of two threads. Everything is seeded: a second run
on the same machine gives the same numbers. The command ends with a headline per depth and a
table of the time each stage took, and writes the same into OUTPUT/demo.json.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from cli import options
from cli.demo_progress import ProgressLines, progress_line
from cli.demo_report import compare_depth, draw_training, write_report
from cli.outputs import check_writable, output_folder

DEEP = "44"        # the deep pair's depth (see --depth)
ENSEMBLE = 3       # direction pairs per surface
POINTS = 13        # grid points per axis
EVAL_SAMPLES = 256  # images per grid point


# --------------------------------------------------------------------------- one model

def model_job(name: str, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything `run_model` needs for one model, as plain data (it crosses processes)."""
    return {"name": name, "out": str(out), **settings}


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (killed), so that no orphan goes on computing."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def run_model(job: dict[str, Any], report: Any = None) -> dict[str, Any]:
    """Train one model, compute its surfaces (an ensemble of direction pairs) and draw the
    first; return what happened and how long.

    Args:
        job: from `model_job`: name, out, width, epochs, lr, batch_size, train_samples,
            eval_samples, points, extent, refine, ensemble, seed, device, threads, resume.
        report: called with one line of progress at a time (default: print).

    Returns:
        {'name', 'train': {loss, accuracy, test_accuracy, epochs, reused, history}, 'surface'
        (path), 'pictures' (paths), 'seconds' and 'cpu_seconds' (of this process): {train,
        surface, pictures}}.
    """
    if job.get("task") == "lm":
        from cli.demo_lm import run_lm_model

        return run_lm_model(job, report)
    import torch

    from cli.plot_cmd import write_pictures

    say = report or print
    torch.set_num_threads(int(job["threads"]))
    name, out = job["name"], Path(job["out"])
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # this process's CPU time: what the load does not change
    tick, tock = time.perf_counter(), time.process_time()
    model, meta, info = train_net(job, say)
    seconds["train"], cpu["train"] = time.perf_counter() - tick, time.process_time() - tock
    say(f"[{name}] train loss {info['loss']:.3f}, train accuracy {info['accuracy']:.1f}%, "
        f"held-out accuracy {info['test_accuracy'] or float('nan'):.1f}% "
        f"({seconds['train']:.0f} s)")

    tick, tock = time.perf_counter(), time.process_time()
    path = out / f"{name}.h5"
    pairs = _surfaces(model, meta, job, path)
    seconds["surface"], cpu["surface"] = time.perf_counter() - tick, time.process_time() - tock
    say(f"[{name}] {len(pairs)} surfaces (direction pairs) of {job['points']}x{job['points']} "
        f"on {job['eval_samples']} images: {sum(int(p.done.sum()) for p in pairs)} points "
        f"computed ({seconds['surface']:.0f} s)")

    tick, tock = time.perf_counter(), time.process_time()
    pictures = write_pictures(pairs[0], out / "pictures", name, dpi=120)
    seconds["pictures"], cpu["pictures"] = time.perf_counter() - tick, time.process_time() - tock
    return {"name": name, "train": info, "surface": str(path),
            "pictures": [str(p) for p in pictures], "seconds": seconds, "cpu_seconds": cpu}


def train_net(job: dict[str, Any], say: Any = print) -> tuple[Any, dict[str, Any],
                                                              dict[str, Any]]:
    """The trained model of `job` (its final checkpoint reused with `resume`), its checkpoint
    metadata, and {loss, accuracy (on the training set, eval mode), test_accuracy, epochs,
    reused, history (per epoch: epoch, train_acc, test_acc, train_loss)}."""
    from models import create_model
    from models.checkpoint import load_checkpoint
    from models.data import embedded_dataset
    from models.train import evaluate, train_model

    name, out, seed = job["name"], Path(job["out"]), int(job["seed"])
    final = out / name / "final.pt"
    train_set = embedded_dataset("train", job["train_samples"], seed=seed)
    reused = bool(job["resume"] and final.exists())
    if not reused:
        say(f"[{name}] training {job['epochs']} epochs on {job['train_samples']} images")
        model = create_model(name, width=job["width"], seed=seed)
        train_model(model, train_set, embedded_dataset("test", 500, seed=seed),
                    epochs=job["epochs"], lr=job["lr"], batch_size=job["batch_size"], seed=seed,
                    checkpoint_dir=out / name, device=job["device"],
                    save_every=max(1, job["epochs"] // 4), progress=bool(job.get("progress")),
                    meta={"dataset": "embedded", "demo": True})
    model, meta = _reused(final) if reused else load_checkpoint(final)
    if reused:
        say(f"[{name}] reusing {final}")
    history = meta.get("history") or {}
    loss, acc = evaluate(model, train_set, device=job["device"])
    curves = {k: list(history.get(k) or []) for k in ("epoch", "train_acc", "test_acc",
                                                      "train_loss")}
    info = {"loss": loss, "accuracy": acc, "test_accuracy": (curves["test_acc"] or [None])[-1],
            "epochs": meta.get("epoch"), "reused": reused, "history": curves}
    return model, meta, info


def _surfaces(model: Any, meta: dict[str, Any], job: dict[str, Any], path: Path) -> list[Any]:
    """The job's ensemble of direction pairs around the model, into `path` (resumed with
    `resume`)."""
    from landscape import Axis, Grid, compute_ensemble
    from models.data import evaluation_tensors

    seed = int(job["seed"])
    data = evaluation_tensors("embedded", "train", samples=job["eval_samples"], seed=seed)
    axis = Axis(-job["extent"], job["extent"], job["points"])
    return compute_ensemble(
        model, data, Grid(axis, axis), ensemble=job["ensemble"], seed=seed, path=path,
        device=job["device"], resume=job["resume"], overwrite=not job["resume"],
        progress=bool(job.get("progress")), **options.drop_none(refine=job["refine"]),
        meta={**options.checkpoint_meta(meta), "dataset": "embedded", "data_seed": seed,
              "samples": job["eval_samples"]})


def _reused(final: Path) -> Any:
    """`load_checkpoint(final)`, its refusal worded for the demo (which has no --model)."""
    from models.checkpoint import load_checkpoint

    try:
        return load_checkpoint(final)
    except ValueError as err:
        text = str(err)
        for advice in ("; if you trust the file", "; pass the architecture", "; name the "):
            text = text.split(advice)[0]
        raise ValueError(f"{text}; the demo cannot reuse it: delete {final} to train that "
                         f"model again, or choose another -o") from None


def _locked(send: Any) -> Any:
    lock = threading.Lock()

    def locked(message: Any) -> None:
        with lock:
            send(message)

    return locked


def _child(job: dict[str, Any], pipe: Any, parent: int) -> None:
    """The body of a model's process: run it, and send its lines, result or error home.

    Each process has a pipe of its own with no lock in it: a shared `multiprocessing.Queue`
    holds a lock across processes, and a process terminated while its feeder thread held it
    left the other one unable to exit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `finally`s, then go
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    send = _locked(pipe.send)  # tqdm's monitor thread may write a bar too
    if job.get("progress"):
        sys.stderr = ProgressLines(send)
    try:
        result = run_model(job, report=lambda line: send(("log", line)))
    except BaseException as err:  # noqa: BLE001 - everything goes home as one line
        # from here on a stop ends the process at once: raised inside the interpreter's exit
        # (atexit), SystemExit would print a traceback
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(OSError):  # the parent may be gone already
            send(("error", options.error_line(err)))
        raise SystemExit(1) from None
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    send(("done", result))


# --------------------------------------------------------------------------- the processes

def run_jobs(jobs: list[dict[str, Any]], processes: int) -> list[dict[str, Any]]:
    """`run_model` for every job, `processes` at a time (1: here, in this process).

    An error in one job stops the others and is raised here as one `click.ClickException`
    naming the model; Ctrl-C (KeyboardInterrupt) stops every process before it propagates.
    """
    if processes <= 1:
        results = []
        for job in jobs:
            try:
                results.append(run_model(job, report=click.echo))
            except (KeyboardInterrupt, click.ClickException):
                raise
            except Exception as err:
                if options.verbosity() > 0:
                    raise
                raise click.ClickException(f"[{job['name']}] {options.error_line(err)}") from err
        return results
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    pending = list(enumerate(jobs))
    running: dict[int, tuple[Any, Any]] = {}  # job index -> (process, the parent's end of its pipe)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    try:
        while pending or running:
            while pending and len(running) < processes:
                index, job = pending.pop(0)
                reader, writer = context.Pipe(duplex=False)
                proc = context.Process(target=_child, args=(job, writer, os.getpid()),
                                       name=f"landscape-demo-{job['name']}", daemon=True)
                proc.start()
                writer.close()  # the child holds the only writer: its end is the pipe's end
                running[index] = (proc, reader)
            for reader in wait([r for _, r in running.values()]):
                index = next(i for i, (_, r) in running.items() if r is reader)
                name = jobs[index]["name"]
                try:
                    kind, payload = reader.recv()
                except EOFError:  # gone without a word: killed, or out of memory
                    proc = running.pop(index)[0]
                    proc.join()
                    reader.close()
                    raise click.ClickException(
                        f"[{name}] its process ended with exit code {proc.exitcode} without "
                        "finishing (killed, or out of memory?)") from None
                if kind == "log":
                    click.echo(payload)
                elif kind == "progress":
                    click.echo(progress_line(jobs[index], payload), err=True)
                elif kind == "stderr":
                    click.echo(payload, err=True)
                elif kind == "error":
                    raise click.ClickException(f"[{name}] {payload}")
                else:
                    results[index] = payload
                    proc = running.pop(index)[0]
                    proc.join()
                    reader.close()
    finally:
        _stop([proc for proc, _ in running.values()])
        for _, reader in running.values():
            reader.close()
    return [r for r in results if r is not None]


def _stop(procs: list[Any]) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()


# --------------------------------------------------------------------------- the command

def _check_sizes(train_samples: int, eval_samples: int, points: int) -> None:
    """Refuse, before anything is trained, sample counts and a grid the demo cannot have."""
    from landscape.engine.grid import Axis, Grid
    from landscape.engine.placement import check_grid_memory

    options.check_samples("embedded", "train", train_samples, "--train-samples")
    options.check_samples("embedded", "train", eval_samples, "--eval-samples")
    axis = Axis(-1.0, 1.0, points)
    try:
        check_grid_memory(Grid(axis, axis))
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--grid'") from None


@click.command()
@click.option("-o", "--output", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="Folder for checkpoints, surfaces and pictures.")
@click.option("--depth", type=click.Choice(["20", "32", "44", "56", "110"]), default=DEEP,
              show_default=True,
              help="Depth of the deep pair, trained beside the ResNet-20 pair (20: that pair "
                   "alone); the default is the smallest depth whose plain net trains worse "
                   "than plain-20 in the demo's budget (docs/gallery/README.md).")
@click.option("--width", type=click.FloatRange(min=0.125), default=0.25, show_default=True,
              help="Width multiplier of the 16/32/64 channels (1 is He et al.'s).")
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True,
              help="Training epochs of the ResNets.")
@click.option("--noskip-epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs of the no-skip twins, which learn more slowly [default: "
                   "twice --epochs, so that they reach a comparable training loss].")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True,
              help="Mini-batch size of the training.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05,
              show_default=True, help="Peak learning rate (cosine schedule, SGD + momentum).")
@click.option("--train-samples", type=click.IntRange(min=64), default=2000, show_default=True)
@click.option("--eval-samples", type=click.IntRange(min=16), default=EVAL_SAMPLES,
              show_default=True,
              help="Training samples the loss is averaged over at each grid point.")
@click.option("--grid", "points", type=click.IntRange(min=3), default=POINTS, show_default=True,
              help="Points per axis of the square grid (odd, so that θ* is a grid point).")
@click.option("--range", "extent", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="The grid spans [-RANGE, RANGE] on α and β.")
@click.option("--ensemble", type=click.IntRange(min=1), default=ENSEMBLE, show_default=True,
              help="Direction pairs per surface (seeds SEED, SEED+1, ...): each comparison "
                   "judges on their spread (with 1 its headline stays inconclusive).")
@click.option("--refine", type=click.FloatRange(min=0), default=None, metavar="TOL",
              help="Coarse to fine: compute only where interpolation misses by more than TOL "
                   "in log-loss (the metrics then use interpolated points too).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initialization, the data, the data order and the directions.")
@click.option("--processes", type=click.IntRange(min=1, max=2), default=2, show_default=True,
              help="Models trained and evaluated side by side (1: one after the other, here).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per process (1 is the robust choice on a busy machine).")
@options.device_opt
@click.option("--resume", is_flag=True,
              help="Reuse finished checkpoints and continue unfinished surfaces in OUTPUT.")
@options.overwrite_opt
@click.option("--progress/--no-progress", default=True,
              help="Progress lines of each model's training and surface, with the time left "
                   "(on stderr).")
@click.option("--task", type=click.Choice(["resnet", "lm"]), default="resnet",
              show_default=True,
              help="lm: gpt-mini and its no-skip twin on the embedded tokens instead (AdamW; "
                   "options left at their defaults take the LM's: 4 epochs, --lr 3e-3, "
                   "--batch-size 64, 3,000 training and 256 evaluation sequences, a 17x17 "
                   "grid).")
@click.option("--blocks", type=click.IntRange(min=1), default=None,
              help="--task lm: transformer blocks of both twins [default: 2].")
@click.pass_context
@options.errors_as_click
def demo(ctx: click.Context, output: str, depth: str, width: float, epochs: int,
         noskip_epochs: int | None, batch_size: int, lr: float,
         train_samples: int, eval_samples: int, points: int, extent: float,
         refine: float | None, seed: int, processes: int, threads: int, device: str | None,
         resume: bool, overwrite: bool, progress: bool, task: str = "resnet",
         blocks: int | None = None, ensemble: int = ENSEMBLE) -> None:
    """Train ResNet-20 and ResNet-DEPTH, each with and without skip connections, on the
    embedded data; compute each one's surfaces over an ensemble of direction pairs; draw the
    training curves (degradation), the surfaces and the comparisons; say per depth whether the
    no-skip landscape is sharper and less convex, and how long each stage took. With --task
    lm, gpt-mini and its no-skip twin on the embedded tokens instead.
    """
    if points % 2 == 0:
        raise click.BadParameter(f"use an odd number of points, so that θ* is a grid point; got "
                                 f"{points}", param_hint="--grid")
    _check_sizes(train_samples, eval_samples, points)
    started = time.monotonic()
    check_writable(output, folder=True)
    out = Path(output)
    if out.exists() and not (resume or overwrite) and any(out.iterdir()):
        raise click.ClickException(f"{output} is not empty; pass --resume to reuse what is "
                                   f"there, --overwrite to replace it, or choose another -o")
    if task == "lm":
        from cli.demo_lm import lm_demo

        return lm_demo(ctx, dict(ctx.params))
    if blocks is not None:
        raise click.BadParameter("--blocks sets the depth of the language models of --task lm; "
                                 "the ResNet pair takes --depth", param_hint="--blocks")
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    settings = {"depth": int(depth), "width": width, "epochs": epochs, "lr": lr,
                "batch_size": batch_size, "train_samples": train_samples,
                "eval_samples": eval_samples, "points": points, "extent": extent,
                "ensemble": ensemble, "refine": refine, "seed": seed, "device": device,
                "threads": threads, "resume": resume, "progress": progress,
                "noskip_epochs": noskip_epochs or 2 * epochs}
    depths = sorted({20, int(depth)})
    try:
        with output_folder(out, keep="**/*.pt"):  # checkpoints are kept for --resume
            records = run_jobs(_jobs(depths, out, settings), processes)
    except BaseException as err:
        # a run stopped (Ctrl-C, a process killed) can go on; a refusal would only come again
        stopped = (not isinstance(err, (click.ClickException, ValueError))
                   or "without finishing" in str(err))
        if stopped and out.is_dir() and any(out.glob("**/*.pt")):
            click.echo(f"(what is finished is kept in {output}; rerun with --resume to "
                       f"continue)", err=True)
        raise
    tick, tock = time.perf_counter(), time.process_time()
    by_name = {r["name"]: r for r in records}
    results = {d: compare_depth(d, by_name, out, settings) for d in depths}
    curves = draw_training(records, out, settings)
    compare_s = time.perf_counter() - tick
    curves["compare_cpu_seconds"] = time.process_time() - tock
    write_report(records, results, curves, settings, processes, compare_s,
                 time.monotonic() - started, load_start, out)


def _jobs(depths: list[int], out: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One job per model, the deepest first (they take longest, so they start first)."""
    jobs = []
    for d in sorted(depths, reverse=True):
        jobs.append(model_job(f"resnet{d}-noskip", out,
                              {**settings, "epochs": settings["noskip_epochs"]}))
        jobs.append(model_job(f"resnet{d}", out, settings))
    return jobs

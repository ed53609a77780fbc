"""`landscape demo`: the whole story on the embedded data, in a few minutes on 2 CPU cores.

Train a ResNet and its no-skip twin, compute both loss surfaces around their minima with the
same directions seed, draw them, compare them in numbers and write the interactive viewer.
The no-skip twin learns more slowly (He et al.'s degradation problem), so it trains twice as
many epochs by default: the two minima are then at a comparable training loss, and their
shapes can be compared.

The two models run side by side in two processes of one thread each (the spawn start method,
so nothing of this process is inherited): on a shared CPU one thread per process is the robust
choice, and two processes beat one process of two threads. Everything is seeded: a second run
on the same machine gives the same numbers. The command ends with a table of the time each
stage took and writes the same into OUTPUT/demo.json.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import platform
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from cli import options
from cli.outputs import check_writable, output_folder, write_text

STAGES = ("train", "surface", "pictures")
LEARNED = 50.0  # train accuracy (%) below which a net of the demo has not learned its task


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
    """Train one model, compute its surface and draw it; return what happened and how long.

    Args:
        job: from `model_job`: name, out, depth, width, epochs, lr, batch_size,
            train_samples, eval_samples, points, extent, refine, seed, device, threads,
            resume.
        report: called with one line of progress at a time (default: print).

    Returns:
        {'name', 'train': {loss, accuracy, test_accuracy, epochs, reused}, 'surface' (path),
        'pictures' (paths), 'seconds': {train, surface, pictures}}.
    """
    if job.get("task") == "lm":
        from cli.demo_lm import run_lm_model

        return run_lm_model(job, report)
    import torch

    from cli.plot_cmd import write_pictures
    from landscape import Axis, Grid, compute_surface
    from models import create_model
    from models.checkpoint import load_checkpoint
    from models.data import embedded_dataset, evaluation_tensors
    from models.train import evaluate, train_model

    say = report or print
    torch.set_num_threads(int(job["threads"]))
    name, out, seed = job["name"], Path(job["out"]), int(job["seed"])
    seconds: dict[str, float] = {}
    final = out / name / "final.pt"
    train_set = embedded_dataset("train", job["train_samples"], seed=seed)

    tick = time.perf_counter()
    if job["resume"] and final.exists():
        model, meta = _reused(final)
        history = meta.get("history") or {}
        loss, acc = evaluate(model, train_set, device=job["device"])
        info = {"loss": loss, "accuracy": acc,
                "test_accuracy": (history.get("test_acc") or [None])[-1],
                "epochs": meta.get("epoch"), "reused": True}
        say(f"[{name}] reusing {final}")
    else:
        say(f"[{name}] training {job['epochs']} epochs on {job['train_samples']} images")
        model = create_model(name, width=job["width"], seed=seed)
        test_set = embedded_dataset("test", 500, seed=seed)
        history = train_model(model, train_set, test_set, epochs=job["epochs"], lr=job["lr"],
                              batch_size=job["batch_size"], seed=seed,
                              checkpoint_dir=out / name, device=job["device"],
                              save_every=max(1, job["epochs"] // 4),
                              progress=bool(job.get("progress")),
                              meta={"dataset": "embedded", "demo": True})
        loss, acc = evaluate(model, train_set, device=job["device"])
        info = {"loss": loss, "accuracy": acc, "test_accuracy": history["test_acc"][-1],
                "epochs": job["epochs"], "reused": False}
        model, meta = load_checkpoint(final)
    seconds["train"] = time.perf_counter() - tick
    say(f"[{name}] train loss {info['loss']:.3f}, train accuracy {info['accuracy']:.1f}%, "
        f"held-out accuracy {info['test_accuracy'] or float('nan'):.1f}% "
        f"({seconds['train']:.0f} s)")

    tick = time.perf_counter()
    path = out / f"{name}.h5"
    points, extent = job["points"], job["extent"]
    data = evaluation_tensors("embedded", "train", samples=job["eval_samples"], seed=seed)
    axis = Axis(-extent, extent, points)
    surface = compute_surface(
        model, data, Grid(axis, axis), seed=seed, path=path, device=job["device"],
        resume=job["resume"], overwrite=not job["resume"], progress=bool(job.get("progress")),
        **options.drop_none(refine=job["refine"]),
        meta={**options.checkpoint_meta(meta), "dataset": "embedded", "data_seed": seed,
              "samples": job["eval_samples"]})
    seconds["surface"] = time.perf_counter() - tick
    say(f"[{name}] surface {points}x{points} on {job['eval_samples']} images: "
        f"{int(surface.done.sum())} points computed ({seconds['surface']:.0f} s)")

    tick = time.perf_counter()
    pictures = write_pictures(surface, out / "pictures", name, dpi=120)
    seconds["pictures"] = time.perf_counter() - tick
    return {"name": name, "train": info, "surface": str(path),
            "pictures": [str(p) for p in pictures], "seconds": seconds}


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


# --------------------------------------------------------------------------- progress lines

PROGRESS_EVERY = 10.0
"""Seconds between two progress lines of one stage of one model (and one at its end)."""

_BAR = re.compile(r"^\s*(?P<stage>\w+):\s*\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)"
                  r"\s*\[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+)")


def _locked(send: Any) -> Any:
    lock = threading.Lock()

    def locked(message: Any) -> None:
        with lock:
            send(message)

    return locked


class ProgressLines(io.TextIOBase):
    """The stderr of a model's process: the tqdm bars of training and of the surface become a
    ("progress", {stage, n, total, elapsed, left}) message every `every` seconds and at the
    end of each stage, sent home by `send`; any other line goes home as ("stderr", line).
    Two processes' bars on one terminal would overwrite each other; lines do not."""

    def __init__(self, send: Any, every: float = PROGRESS_EVERY) -> None:
        super().__init__()
        self._send, self._every = send, every
        self._pending = ""
        self._last: dict[str, tuple[float, int]] = {}  # stage -> (when sent, n sent)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = re.split(r"[\r\n]", self._pending + text)
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, text: str) -> None:
        if not text.strip():
            return
        bar = _BAR.match(text)
        if bar is None:
            self._send(("stderr", text))
            return
        stage, n, total = bar["stage"], int(bar["n"]), int(bar["total"])
        now = time.monotonic()
        when, sent = self._last.setdefault(stage, (now, 0))
        if n == sent or (n < total and now - when < self._every):
            return
        self._last[stage] = (now, n)
        self._send(("progress", {"stage": stage, "n": n, "total": total,
                                 "elapsed": bar["elapsed"], "left": bar["left"]}))


def _seconds(clock: str) -> str:
    """tqdm's "01:05" (or "1:02:03") as "65 s"; "?" stays."""
    if not re.fullmatch(r"[\d:]+", clock):
        return clock
    value = 0
    for part in clock.split(":"):
        value = 60 * value + int(part)
    return f"{value} s"


def progress_line(job: dict[str, Any], info: dict[str, Any]) -> str:
    """One line of a model's progress, e.g. "[resnet20] training: epoch 4 of 8, 41 s, about
    68 s left" or "[resnet20] surface: 120 of 289 points, 30 s, about 42 s left"."""
    n, total = int(info["n"]), int(info["total"])
    timing = f"{_seconds(info['elapsed'])}" + ("" if n >= total else
                                               f", about {_seconds(info['left'])} left")
    if info["stage"] == "train":
        epochs = int(job["epochs"])
        epoch = min(epochs, n * epochs // total + 1)  # the one being trained
        return f"[{job['name']}] training: epoch {epoch} of {epochs}, {timing}"
    if info["stage"] == "surface":
        return f"[{job['name']}] surface: {n} of {total} points, {timing}"
    return f"[{job['name']}] {info['stage']}: {n} of {total}, {timing}"


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


def _time_table(records: list[dict[str, Any]], compare_s: float, total_s: float) -> str:
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


@click.command()
@click.option("-o", "--output", type=click.Path(file_okay=False), default="demo-out",
              show_default=True, help="Folder for checkpoints, surfaces and pictures.")
@click.option("--depth", type=click.Choice(["20", "32", "44", "56", "110"]), default="20",
              show_default=True, help="Depth of the CIFAR ResNet pair (at 56 and deeper the "
                                      "no-skip net does not train in the demo's budget).")
@click.option("--width", type=click.FloatRange(min=0.125), default=0.25, show_default=True,
              help="Width multiplier of the 16/32/64 channels (1 is He et al.'s).")
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True,
              help="Training epochs of the ResNet.")
@click.option("--noskip-epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs of the no-skip twin, which learns more slowly [default: "
                   "twice --epochs, so that both reach a comparable training loss].")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True,
              help="Mini-batch size of the training.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.05,
              show_default=True, help="Peak learning rate (cosine schedule, SGD + momentum).")
@click.option("--train-samples", type=click.IntRange(min=64), default=2000, show_default=True)
@click.option("--eval-samples", type=click.IntRange(min=16), default=512, show_default=True,
              help="Training samples the loss is averaged over at each grid point.")
@click.option("--grid", "points", type=click.IntRange(min=3), default=17, show_default=True,
              help="Points per axis of the square grid (odd, so that θ* is a grid point).")
@click.option("--range", "extent", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="The grid spans [-RANGE, RANGE] on α and β.")
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
                   "--batch-size 64, 3,000 training and 256 evaluation sequences).")
@click.option("--blocks", type=click.IntRange(min=1), default=None,
              help="--task lm: transformer blocks of both twins [default: 2].")
@click.pass_context
@options.errors_as_click
def demo(ctx: click.Context, output: str, depth: str, width: float, epochs: int,
         noskip_epochs: int | None, batch_size: int, lr: float,
         train_samples: int, eval_samples: int, points: int, extent: float,
         refine: float | None, seed: int, processes: int, threads: int, device: str | None,
         resume: bool, overwrite: bool, progress: bool, task: str = "resnet",
         blocks: int | None = None) -> None:
    """Train ResNet-DEPTH with and without skip connections on the embedded data, compute both
    loss surfaces, draw and compare them, write the interactive viewer, and say how long each
    stage took. With --task lm, the same for gpt-mini and its no-skip twin on the embedded
    tokens.
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
                "refine": refine, "seed": seed, "device": device, "threads": threads,
                "resume": resume}
    noskip_epochs = noskip_epochs or 2 * epochs
    settings["noskip_epochs"] = noskip_epochs
    names = [f"resnet{depth}", f"resnet{depth}-noskip"]
    jobs = [model_job(names[0], out, {**settings, "progress": progress}),
            model_job(names[1], out, {**settings, "epochs": noskip_epochs, "progress": progress})]
    try:
        with output_folder(out, keep="**/*.pt"):  # checkpoints are kept for --resume
            records = run_jobs(jobs, processes)
    except BaseException as err:
        # a run stopped (Ctrl-C, a process killed) can go on; a refusal would only come again
        stopped = (not isinstance(err, (click.ClickException, ValueError))
                   or "without finishing" in str(err))
        if stopped and out.is_dir() and any(out.glob("**/*.pt")):
            click.echo(f"(what is finished is kept in {output}; rerun with --resume to "
                       f"continue)", err=True)
        raise
    tick = time.perf_counter()
    from cli.compare_cmd import write_comparison
    from landscape.engine.store import load_surface
    from landscape.pictures import report

    step = 2 * extent / (points - 1)
    surfaces = [load_surface(r["surface"]) for r in records]
    labels = [f"ResNet-{depth}", f"ResNet-{depth} no skip"]
    untrained = [f"{label} did not learn (train accuracy {r['train']['accuracy']:.0f}%, "
                 f"chance is 10%): its θ* is a plateau, not a minimum comparable with the other"
                 for label, r in zip(labels, records, strict=True)
                 if r["train"]["accuracy"] < LEARNED]
    result, written = write_comparison(
        surfaces, labels, out / "compare",
        metric_args={"radii": tuple(round(k * step, 12) for k in (1, 2, 4)),
                     "cautions": untrained})
    compare_s = time.perf_counter() - tick
    total = time.monotonic() - started
    click.echo("")
    for r in records:
        t = r["train"]
        click.echo(f"{r['name']}: {t['epochs']} epochs, train loss {t['loss']:.3f}, train "
                   f"accuracy {t['accuracy']:.1f}%")
    click.echo("")
    click.echo(result["verdict"]["text"])
    click.echo("")
    click.echo(_time_table(records, compare_s, total))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    click.echo(f"{processes} process(es) of {threads} thread(s), {os.cpu_count()} CPU cores, "
               f"load average {load_start:.1f} at the start and {load_end:.1f} at the end")
    summary = {"settings": {**settings, "processes": processes},
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

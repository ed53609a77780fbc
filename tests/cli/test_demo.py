"""`landscape demo`: the models two at a time in two processes, the ensembles, the comparison and
headline per depth, the training curves, the time table, the seeded numbers, and what happens
when a process fails or the user presses Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.demo_cmd import model_job, run_model
from cli.main import cli
from landscape import load_ensemble
from landscape.analysis import metrics
from landscape.pictures import report

TINY = ["--depth", "20", "--width", "0.125", "--epochs", "1", "--train-samples", "64",
        "--eval-samples", "16", "--grid", "3", "--ensemble", "2"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.slow  # four models in two spawned processes that each import torch
def test_demo_runs_two_depths_with_ensembles_and_reports_a_headline_each(tmp_path):
    out = tmp_path / "demo"
    r = run("demo", "-o", out, *TINY[2:], "--depth", "32")
    assert r.exit_code == 0, r.output
    names = ("resnet20", "resnet20-noskip", "resnet32", "resnet32-noskip")
    for name in names:
        pairs = load_ensemble(out / f"{name}.h5")
        assert len(pairs) == 2 and all(p.shape == (3, 3) and p.done.all() for p in pairs)
        assert [p.meta["seed"] for p in pairs] == [0, 1]  # the same seeds for every net
        assert pairs[0].meta["skip"] is (not name.endswith("-noskip"))
        assert (out / name / "final.pt").exists()
        assert list((out / "pictures").glob(f"{name}_contour*.png"))
    # every net's loss and accuracy; the no-skip twins train twice as many epochs by default
    assert "resnet32: 1 epochs, train loss " in r.output
    assert "resnet32-noskip: 2 epochs, train loss " in r.output
    for depth in (20, 32):
        folder = out / "compare" / f"resnet{depth}"
        numbers = json.loads((folder / "compare.json").read_text())
        assert numbers["labels"] == [f"ResNet-{depth}", f"ResNet-{depth} no skip"]
        assert numbers["settings"]["radii"] == [1.0, 2.0, 4.0]  # 1, 2 and 4 grid steps
        assert numbers["settings"]["directions"] == 2  # judged on the ensembles
        assert numbers["summaries"][f"ResNet-{depth}"]["metrics"]["loss at θ*"]["n"] == 2
        md = (folder / "compare.md").read_text()
        assert "## Verdict" in md and "did not learn" in md  # one epoch on 64 images: nothing
        for f in ("compare.png", "compare.html", "compare.md"):
            assert (folder / f).stat().st_size > 0
        headline = numbers["verdict"]["headline"].upper()
        assert f"ResNet-{depth} vs no skip: {headline} that the no-skip landscape" in r.output
    # the training curves of the four nets (He et al. Fig. 1), and the degradation line
    assert (out / "pictures" / "training.png").stat().st_size > 0
    assert "Degradation (He et al. Fig. 1): plain-32 ends at " in r.output
    table = r.output[r.output.index("stage "):]
    for stage in ("train", "surface", "pictures", "compare", "total"):
        assert f"\n{stage} " in "\n" + table
    timing = json.loads((out / "demo.json").read_text())
    assert set(timing["models"]) == set(names)
    assert set(timing["models"]["resnet20"]["seconds"]) == {"train", "surface", "pictures"}
    assert timing["settings"]["processes"] == 2 and timing["seconds"]["total"] > 0
    assert set(timing["depths"]) == {"20", "32"} and set(timing["degradation"]) == {
        "plain-20", "plain-32", "resnet-20", "resnet-32"}


@pytest.mark.slow  # two spawned processes each import torch (5-10 s on a busy machine)
def test_one_depth_runs_and_resumes(tmp_path):
    out = tmp_path / "demo"
    r = run("demo", "-o", out, *TINY)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.glob("*.h5")) == ["resnet20-noskip.h5", "resnet20.h5"]
    assert "Degradation: one depth only" in r.output
    # what each process is doing, on stderr, one line at a time (not two bars fighting)
    assert "[resnet20] training: epoch 1 of 1" in r.stderr
    assert "[resnet20-noskip] training: epoch 2 of 2" in r.stderr
    assert "[resnet20-noskip] surface: 9 of 9 points" in r.stderr
    assert "training: epoch" not in r.stdout and "%|" not in r.stderr

    again = run("demo", "-o", out, *TINY, "--resume", "--processes", "1", "--no-progress")
    assert again.exit_code == 0 and "reusing" in again.output
    assert "pt/s" not in again.stderr and "surface:" not in again.stderr
    refused = run("demo", "-o", out, *TINY)
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert "--overwrite" in refused.output


@pytest.mark.slow  # trains, evaluates and draws a tiny net twice (about 4 s)
def test_two_runs_give_the_same_numbers(tmp_path, one_thread):
    """The demo is seeded: the same settings give the same surface, to the last bit here (the
    figure the docs quote: 0% difference; the brief allows 1%)."""
    settings = {"depth": 20, "width": 0.125, "epochs": 1, "lr": 0.05, "batch_size": 16,
                "train_samples": 64, "eval_samples": 16, "points": 3, "extent": 1.0,
                "refine": None, "seed": 3, "device": "cpu", "threads": 1, "resume": False,
                "ensemble": 2}
    runs = []
    for k in range(2):
        record = run_model(model_job("resnet20-noskip", tmp_path / str(k), settings),
                           report=lambda _: None)
        pairs = load_ensemble(record["surface"])
        runs.append({"train": record["train"]["loss"],
                     "pairs": [metrics.summarize(p, radii=(1.0, 2.0)) for p in pairs]})
    first, second = (json.loads(report.to_json(r)) for r in runs)
    assert first["train"] == second["train"] and len(first["pairs"]) == 2
    for a, b in zip(first["pairs"], second["pairs"], strict=True):
        assert a["sharpness"] == b["sharpness"]
        assert a["center"] == b["center"]
        assert a["curvature"] == b["curvature"]
    assert first["pairs"][0]["sharpness"] != first["pairs"][1]["sharpness"]  # two slices


@pytest.mark.slow  # two spawned processes each import torch before failing
def test_an_error_in_one_process_is_one_clear_error(tmp_path, monkeypatch):
    from cli import demo_cmd

    stopped = []

    def stop(procs):
        demo_cmd_stop(procs)
        stopped.extend(proc.exitcode for proc in procs)

    demo_cmd_stop = demo_cmd._stop
    monkeypatch.setattr(demo_cmd, "_stop", stop)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "resnet20").write_text("a file where the child writes its checkpoints")
    (out / "resnet20-noskip").write_text("and one where the other does: both fail at once")
    r = run("demo", "-o", out, *TINY, "--resume")
    assert r.exit_code == 1
    # the other process ended on the polite signal: none hung until it had to be killed
    assert stopped and -signal.SIGKILL not in stopped, stopped
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: [resnet20"), r.output
    assert not list(out.rglob("*.h5"))  # no half-made surface is left


def test_settings_are_checked_before_any_work(tmp_path):
    r = run("demo", "-o", tmp_path / "d", "--grid", "4")
    assert r.exit_code == 2 and "odd number of points" in r.output
    assert not (tmp_path / "d").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow  # starts the real command and its two processes
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table in /proc")
def test_ctrl_c_stops_both_processes(tmp_path):
    args = [sys.executable, "-m", "cli", "demo", "-o", str(tmp_path / "demo"), "--depth", "20",
            "--width", "0.125", "--epochs", "200", "--train-samples", "256", "--eval-samples",
            "16", "--grid", "3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # Ctrl-C reaches a program in the foreground of a terminal; a test run started as a
    # background job of a shell inherits SIGINT ignored, which the demo rightly keeps
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline:  # both models at work (past their start)
        workers = [c for c in _children(proc.pid) if "landscape-demo" in _cmdline(c)
                   or "multiprocessing" in _cmdline(c)]
        if len(workers) >= 2 and (tmp_path / "demo" / "resnet20" / "epoch_000.pt").exists():
            break
        time.sleep(0.5)
    assert len(workers) >= 2, proc.stdout.read() if proc.poll() is not None else workers
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Aborted" in output, output
    time.sleep(0.5)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and _state(w) != "Z"]
    assert not alive, output


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat[stat.rindex(")") + 2:].split()[0]

"""Hostile and careless inputs through the CLI: one clear error, nothing run, nothing left.

Each case runs `landscape ...` with click's CliRunner inside a folder of its own and checks:
the exit code (1: an error found while running, 2: a bad option or argument), exactly one
`Error:` line, printable, holding the expected fragment, no traceback, no `pwned` file (no code
recorded in a file ran), no embedded images generated (the data was not built), and the folder
exactly as it was before (no file, no folder, no `.lock` left).

The harness is for reuse: the `ws` fixture gives a `Workspace`; make the inputs in `ws.path`
(`ws.checkpoint(...)`, `ws.file(...)`), then `ws.refused([...args], "fragment")`.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner, Result

import models.data
from cli.main import cli
from models import create_model
from models.checkpoint import save_checkpoint
from tests.models.fakes import write_fake_cifar

pytestmark = pytest.mark.usefixtures("one_thread")

GRID = ["--x", "-1:1:3", "--y", "-1:1:3"]


# ---------------------------------------------------------------- the harness

def snapshot(folder: Path) -> set[str]:
    """Every file and folder under `folder`, as relative paths."""
    return {str(p.relative_to(folder)) + ("/" if p.is_dir() else "") for p in folder.rglob("*")}


@dataclass
class Workspace:
    """A folder to run `landscape` in, and a record of the embedded images generated in it."""

    path: Path
    blocks_built: list[int] = field(default_factory=list)

    def checkpoint(self, name: str = "good.pt", *, meta: dict[str, Any] | None = None,
                   seed: int = 0, model: str = "resnet20", **kwargs: Any) -> str:
        """A tiny checkpoint (ResNet-20 at width 0.125 unless told otherwise)."""
        kwargs = {"width": 0.125, **kwargs} if model.startswith(("resnet", "wrn")) else kwargs
        save_checkpoint(self.path / name, create_model(model, seed=seed, **kwargs), meta=meta)
        return name

    def file(self, name: str, text: str = "") -> str:
        (self.path / name).parent.mkdir(parents=True, exist_ok=True)
        (self.path / name).write_text(text)
        return name

    def run(self, args: Sequence[object]) -> Result:
        return CliRunner().invoke(cli, [str(a) for a in args])

    def refused(self, args: Sequence[object], fragment: str, *, codes: Sequence[int] = (1, 2),
                data_built: bool = False) -> str:
        """Run `landscape ARGS` and assert a clean refusal (see the module docstring).

        Args:
            args: the command line after `landscape`.
            fragment: a piece of the one `Error:` line.
            codes: the exit codes accepted.
            data_built: the command may build its data before it finds the problem.

        Returns:
            The error line.
        """
        before = snapshot(self.path)
        result = self.run(args)
        out = result.output
        unexpected = result.exception if not isinstance(result.exception, SystemExit) else None
        assert unexpected is None, f"an exception escaped: {unexpected!r}\n{out}"
        assert result.exit_code in codes, out
        assert "Traceback" not in out, out
        errors = [line for line in out.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, out
        assert errors[0].isprintable(), errors[0]
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
        assert not (self.path / "pwned").exists(), "recorded code ran"
        assert data_built or not self.blocks_built, "the data was built before the refusal"
        assert snapshot(self.path) == before, "the command left something behind"
        return errors[0]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    generate = models.data._generate_block

    def counted(gen: torch.Generator) -> Any:
        workspace.blocks_built.append(1)
        return generate(gen)

    monkeypatch.setattr(models.data, "_generate_block", counted)
    return workspace


# ---------------------------------------------------------------- no checkpoint runs code

HOSTILE = {  # what a file records -> a fragment of the refusal
    "os:system": ({"arch": "os:system", "arch_kwargs": {"command": "touch pwned"}},
                  "'os:system'"),
    "builtins:eval": ({"arch": "builtins:eval",
                       "arch_kwargs": {"source": "open('pwned', 'w')"}}, "'builtins:eval'"),
    "hostile kwarg": ({"arch": "resnet20", "arch_kwargs": {"width": "touch pwned"}},
                      "arch_kwargs['width'] = 'touch pwned'"),
}

# command -> (its arguments given the hostile checkpoint EVIL, may it build data first)
LOADERS: dict[str, tuple[Callable[[Workspace, str], list[str]], bool]] = {
    "surface": (lambda ws, evil: ["surface", evil, "-o", "out/s.h5", *GRID, "--samples", "8"],
                False),
    "interp A": (lambda ws, evil: ["interp", evil, ws.checkpoint(), "-o", "out/i.h5",
                                   "--x", "0:1:3", "--samples", "8"], False),
    "interp B": (lambda ws, evil: ["interp", ws.checkpoint(), evil, "-o", "out/i.h5",
                                   "--x", "0:1:3", "--samples", "8"], False),
    "trajectory": (lambda ws, evil: ["trajectory", ws.checkpoint("a.pt"), evil,
                                     ws.checkpoint("c.pt", seed=2),
                                     ws.checkpoint("d.pt", seed=3), "-o", "out/t",
                                     "--samples", "8", "--num", "3"], False),
    "hessian": (lambda ws, evil: ["hessian", evil, "-o", "out/h", "--samples", "8"], False),
    "responses": (lambda ws, evil: ["responses", ws.checkpoint(), evil, "-o", "out/r",
                                    "--samples", "8"], False),
    "train --resume": (lambda ws, evil: ["train", "resnet20", "--resume", evil, "-o", "out/t",
                                         "--epochs", "2", "--samples", "16", "--no-progress"],
                       False),
    # the demo builds its training data before it looks at the checkpoints it may reuse
    "demo --resume": (lambda ws, evil: ["demo", "-o", Path(evil).parent.parent, "--resume"],
                      True),
}


@pytest.mark.parametrize("variant", HOSTILE)
@pytest.mark.parametrize("command", LOADERS)
def test_no_checkpoint_runs_code(ws: Workspace, command: str, variant: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    meta, fragment = HOSTILE[variant]
    stopped: list[int | None] = []
    if command == "demo --resume":  # every checkpoint the demo might reuse is hostile
        from cli import demo_cmd
        from cli.demo_cmd import demo

        def stop(procs: list) -> None:
            stop_now(procs)
            stopped.extend(proc.exitcode for proc in procs)

        stop_now = demo_cmd._stop
        monkeypatch.setattr(demo_cmd, "_stop", stop)

        depth = next(p.default for p in demo.params if p.name == "depth")
        for name in (f"resnet{depth}", f"resnet{depth}-noskip"):
            evil = ws.checkpoint(f"demo/{name}/final.pt", meta=meta)
    else:
        evil = ws.checkpoint("evil.pt", meta=meta)
    args, data_first = LOADERS[command]
    line = ws.refused(args(ws, evil), fragment, codes=(1,), data_built=data_first)
    assert "refused" in line
    # both demo processes refuse at once: the one stopped ends on the polite signal, not killed
    assert -signal.SIGKILL not in stopped, stopped


def test_verbose_keeps_the_traceback_and_still_leaves_nothing(ws: Workspace) -> None:
    ws.checkpoint("evil.pt", meta=HOSTILE["os:system"][0])
    before = snapshot(ws.path)
    result = ws.run(["-v", "hessian", "evil.pt", "-o", "out/h", "--samples", "8"])
    assert isinstance(result.exception, ValueError), result.output  # raised, traceback and all
    assert "is an import path" in str(result.exception)
    assert snapshot(ws.path) == before and not (ws.path / "pwned").exists()


def test_an_import_path_runs_only_when_the_user_types_it(ws: Workspace) -> None:
    name = "tests.models.test_registry:tiny_factory"
    ckpt = ws.checkpoint("mine.pt", model=name, num_classes=10)
    ws.refused(["surface", ckpt, "-o", "s.h5", *GRID, "--samples", "8"], "is an import path",
               codes=(1,))
    result = ws.run(["surface", ckpt, "--model", name, "-o", "s.h5", *GRID, "--samples", "8"])
    assert result.exit_code == 0, result.output
    assert (ws.path / "s.h5").exists()


@pytest.mark.parametrize("command", ["surface", "interp", "trajectory", "responses"])
def test_model_help_says_an_import_path_runs_code(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert "imports that module and runs the factory" in " ".join(result.output.split())


# ---------------------------------------------------------------- devices

DEVICE_COMMANDS = {
    "surface": ["surface", "good.pt", "-o", "s.h5", *GRID],
    "interp": ["interp", "good.pt", "good.pt", "-o", "i.h5"],
    "hessian": ["hessian", "good.pt", "-o", "h"],
    "trajectory": ["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t"],
    "responses": ["responses", "good.pt", "-o", "r"],
    "degradation": ["degradation", "-o", "d"],
    "train": ["train", "resnet20", "-o", "t"],
    "demo": ["demo", "-o", "d"],
}
DEVICES = {  # --device -> (CUDA devices there are, fragment)
    "gpu": (0, "unknown device 'gpu'; available here: cpu"),
    "cuda": (0, "'cuda': CUDA is not available on this machine"),
    "cuda:7": (1, "'cuda:7': this machine has 1 CUDA device; available here: cpu, cuda, "
                  "cuda:0"),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_a_device_that_is_not_there(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                    command: str, device: str) -> None:
    count, fragment = DEVICES[device]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    ws.checkpoint()
    line = ws.refused([*DEVICE_COMMANDS[command], "--device", device], fragment, codes=(2,))
    assert "--device" in line


def test_the_device_check_accepts_the_cpu(ws: Workspace) -> None:
    from cli.options import check_device

    check_device("cpu")
    result = ws.run(["surface", ws.checkpoint(), "-o", "s.h5", "--x", "-1:1:2", "--samples",
                     "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- outputs that cannot be written

OUTPUTS = {  # command -> arguments before -o
    "surface": ["surface", "good.pt", *GRID, "--samples", "8"],
    "train": ["train", "resnet20", "--samples", "16", "--epochs", "1", "--no-progress"],
    "trajectory": ["trajectory", "good.pt", "good.pt", "good.pt", "--samples", "8"],
    "responses": ["responses", "good.pt", "--samples", "8"],
    "degradation": ["degradation", "--depths", "8", "--epochs", "1", "--samples", "16"],
}
FOLDER_OUTPUT = {"train", "trajectory", "responses", "degradation"}


@pytest.mark.parametrize("command", OUTPUTS)
def test_an_output_under_a_file(ws: Workspace, command: str) -> None:
    ws.checkpoint()
    ws.file("notes.txt", "mine")
    target = "notes.txt/out" + ("" if command in FOLDER_OUTPUT else ".h5")
    ws.refused([*OUTPUTS[command], "-o", target],
               "'notes.txt' is a file, not a folder; choose another -o")


@pytest.mark.parametrize("command", OUTPUTS)
def test_an_output_of_the_wrong_kind(ws: Workspace, command: str) -> None:
    ws.checkpoint()
    if command in FOLDER_OUTPUT:
        ws.file("notes.txt", "mine")
        ws.refused([*OUTPUTS[command], "-o", "notes.txt"], "it is a file, not a folder")
    else:
        (ws.path / "folder").mkdir()
        ws.refused([*OUTPUTS[command], "-o", "folder"], "is a directory")


@pytest.mark.parametrize("command", OUTPUTS)
def test_an_output_in_a_read_only_folder(ws: Workspace, command: str, monkeypatch) -> None:
    ws.checkpoint()
    locked = ws.path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anywhere: let the folder say no, as to anyone else
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False
                            if Path(path).resolve() == locked.resolve() and mode & os.W_OK
                            else access(path, mode, **kw))
    target = "locked/out" + ("" if command in FOLDER_OUTPUT else ".h5")
    ws.refused([*OUTPUTS[command], "-o", target], "no permission to write")


def test_an_existing_surface_needs_resume_or_overwrite(ws: Workspace) -> None:
    ws.checkpoint()
    ws.file("s.h5", "earlier work")
    ws.refused([*OUTPUTS["surface"], "-o", "s.h5"],
               "s.h5 exists; pass --resume to continue it or --overwrite to replace it")
    (ws.path / "t").mkdir()
    ws.file("t/trajectory.h5", "earlier work")
    ws.refused([*OUTPUTS["trajectory"], "-o", "t"], "trajectory.h5 exists; pass --resume")


# ---------------------------------------------------------------- sample counts

SAMPLES = [  # (arguments, fragment)
    (["surface", "good.pt", "-o", "s.h5", *GRID, "--samples", "99999999"],
     "99,999,999 is more than the 50,000 train images of the embedded data set; pass "
     "--samples 50000 or fewer"),
    (["surface", "good.pt", "-o", "s.h5", *GRID, "--split", "test", "--samples", "10001"],
     "10,000 test images of the embedded data set; pass --samples 10000"),
    (["surface", "good.pt", "-o", "s.h5", *GRID, "--bn", "recompute", "--bn-samples", "60000"],
     "pass --bn-samples 50000 or fewer"),
    (["interp", "good.pt", "good.pt", "-o", "i.h5", "--samples", "99999999"],
     "pass --samples 50000 or fewer"),
    (["train", "resnet20", "-o", "t", "--samples", "60000"], "pass --samples 50000 or fewer"),
    (["train", "resnet20", "-o", "t", "--test-samples", "20000"],
     "pass --test-samples 10000 or fewer"),
    (["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t", "--samples", "99999999"],
     "pass --samples 50000 or fewer"),
    (["responses", "good.pt", "-o", "r", "--samples", "99999999"],
     "pass --samples 10000 or fewer"),
    (["degradation", "-o", "d", "--samples", "60000"], "pass --samples 50000 or fewer"),
    (["degradation", "-o", "d", "--test-samples", "20000"],
     "pass --test-samples 10000 or fewer"),
    (["hessian", "good.pt", "-o", "h", "--samples", "99999999"], "pass --samples 50000"),
    (["surface", "good.pt", "-o", "s.h5", *GRID, "--dataset", "cifar10", "--data-root",
      "absent", "--samples", "50001"], "the 50,000 train images of the cifar10 data set"),
    (["surface", "good.pt", "-o", "s.h5", *GRID, "--dataset", "cifar10", "--data-root",
      "fake", "--samples", "101"],
     "asked for 101 samples, but the data set has 100; pass --samples 100 or fewer"),
]


@pytest.mark.parametrize(("args", "fragment"), SAMPLES, ids=lambda v: None)
def test_more_samples_than_the_data_set_holds(ws: Workspace, args: list[str],
                                              fragment: str) -> None:
    ws.checkpoint()
    write_fake_cifar(ws.path / "fake", "cifar10", per_file=20)  # 100 train images
    ws.refused(args, fragment)


@pytest.mark.parametrize("command", ["surface", "trajectory", "responses", "train"])
def test_more_samples_than_the_memory_available(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                command: str) -> None:
    monkeypatch.setattr(models.data, "available_memory", lambda: 10 * 2**20)
    for i, name in enumerate(("a.pt", "b.pt", "c.pt", "good.pt")):
        ws.checkpoint(name, seed=i)
    args = {"surface": ["surface", "good.pt", "-o", "s.h5", *GRID, "--samples", "2000"],
            "trajectory": ["trajectory", "a.pt", "b.pt", "c.pt", "good.pt", "-o", "t",
                           "--samples", "2000"],
            "responses": ["responses", "good.pt", "-o", "r", "--samples", "2000", "--split",
                          "train"],
            "train": ["train", "resnet20", "-o", "t", "--samples", "2000"]}[command]
    ws.refused(args, "2,000 embedded train images would take about 47 MiB of memory, more "
                     "than the 10 MiB available; use fewer samples (--samples)", codes=(1,))


@pytest.mark.parametrize("command", ["train", "surface", "trajectory", "responses",
                                     "degradation"])
def test_help_states_the_embedded_bound(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    text = " ".join(result.output.split())
    assert "50,000" in text and f"{models.data.EMBEDDED_LIMITS['train']:,}" == "50,000"


# ---------------------------------------------------------------- classes and heads

def test_a_head_smaller_than_the_classes(ws: Workspace) -> None:
    ws.refused(["train", "resnet20", "-o", "t", "--num-classes", "5"],
               "5 outputs cannot classify the 10 classes of embedded (its labels go up to 9); "
               "pass --num-classes 10 or more", codes=(2,))
    write_fake_cifar(ws.path / "fake", "cifar100", per_file=4)
    ws.refused(["train", "resnet20", "-o", "t", "--dataset", "cifar100", "--data-root", "fake",
                "--num-classes", "10"], "the 100 classes of cifar100", codes=(2,))
    ws.checkpoint("ten.pt", meta={"epoch": 1})  # a 10-class net, resumed on 100 classes
    ws.refused(["train", "resnet20", "--resume", "ten.pt", "-o", "t", "--epochs", "3",
                "--dataset", "cifar100", "--data-root", "fake", "--no-progress"],
               "the model gives (10,) outputs per image, but cifar100 has 100 classes",
               codes=(1,))
    ws.refused(["train", "tests.models.test_registry:tiny_factory", "-o", "t", "--samples",
                "16", "--no-progress"], "(3,) outputs per image, but embedded has 10 classes",
               codes=(1,), data_built=True)


# ---------------------------------------------------------------- careless inputs

CARELESS = [  # (what, arguments, fragment, exit code)
    ("text checkpoint", ["surface", "notes.txt", "-o", "s.h5", *GRID],
     "'notes.txt' is not a readable torch checkpoint: it is neither the zip archive", 1),
    ("empty checkpoint", ["surface", "empty.pt", "-o", "s.h5", *GRID],
     "'empty.pt' is not a readable torch checkpoint: it is empty (0 bytes)", 1),
    ("folder as checkpoint", ["surface", "folder", "-o", "s.h5", *GRID],
     "is a folder, not a checkpoint file; a folder is read only as a Hugging Face model", 1),
    ("missing checkpoint", ["surface", "nothing.pt", "-o", "s.h5", *GRID], "does not exist", 2),
    ("missing -o", ["surface", "good.pt", *GRID], "Missing option '-o'", 2),
    ("empty axis", ["surface", "good.pt", "-o", "s.h5", "--x", "1:1:5"], "min < max", 2),
    ("one-point range", ["surface", "good.pt", "-o", "s.h5", "--x", "-1:1:1"],
     "use NUM >= 2 for a range", 2),
    ("zero samples", ["surface", "good.pt", "-o", "s.h5", *GRID, "--samples", "0"],
     "0 is not in the range x>=1", 2),
    ("absent CIFAR", ["surface", "good.pt", "-o", "s.h5", *GRID, "--dataset", "cifar10",
                      "--data-root", "absent"], "pass --download", 1),
    ("absent image folder", ["surface", "good.pt", "-o", "s.h5", *GRID, "--dataset",
                             "imagefolder", "--data-root", "absent"],
     "image folder 'absent' does not exist", 1),
    ("misfit --model", ["surface", "good.pt", "--model", "resnet56", "-o", "s.h5", *GRID],
     "does not fit model 'resnet56': missing keys (180)", 1),
    ("trajectory of three", ["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t"],
     "need at least 4 checkpoints for a PCA plane (the final one and 3 before it), got 3", 2),
    ("trajectory of one file four times", ["trajectory", *["good.pt"] * 4, "-o", "t"],
     "hold only 1 distinct set of weights; a PCA plane needs 3 or more", 1),
    ("trajectory of two networks", ["trajectory", "a.pt", "b.pt", "c.pt", "wide.pt", "-o",
                                    "t"], "'wide.pt' is not the same network as 'a.pt'", 1),
    ("trajectory --num 1", ["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t", "--num",
                            "1"], "1 is not in the range x>=2", 2),
    ("trajectory negative samples", ["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t",
                                     "--samples", "-5"], "-5 is not in the range x>=1", 2),
    ("trajectory --margin -1", ["trajectory", "good.pt", "good.pt", "good.pt", "-o", "t",
                                "--margin", "-1"], "not in the range x>=0", 2),
    ("trajectory text checkpoint", ["trajectory", "a.pt", "notes.txt", "b.pt", "c.pt", "-o",
                                    "t"], "'notes.txt' is not a readable torch checkpoint", 1),
    ("responses --batch-size 0", ["responses", "good.pt", "-o", "r", "--batch-size", "0"],
     "0 is not in the range x>=1", 2),
    ("responses unknown data set", ["responses", "good.pt", "-o", "r", "--dataset", "mnist"],
     "'mnist' is not one of", 2),
    ("degradation --depths 21", ["degradation", "-o", "d", "--depths", "21"],
     "each depth must be 6n + 2", 2),
    ("degradation --depths 20,x", ["degradation", "-o", "d", "--depths", "20,x"],
     "expected comma-separated depths", 2),
    ("degradation --epochs 0", ["degradation", "-o", "d", "--epochs", "0"],
     "0 is not in the range x>=1", 2),
    ("train --width 0", ["train", "resnet20", "-o", "t", "--width", "0"],
     "0.0 is not in the range x>0", 2),
    ("train --lr -1", ["train", "resnet20", "-o", "t", "--lr", "-1"], "not in the range x>0",
     2),
    ("train unknown model", ["train", "resnet5", "-o", "t"], "unknown model 'resnet5'", 1),
    ("train --resume another model", ["train", "resnet56", "-o", "t", "--resume", "good.pt"],
     "holds a checkpoint of 'resnet20', not of 'resnet56'", 1),
    ("train --resume a finished run", ["train", "resnet20", "-o", "t", "--epochs", "3",
                                       "--resume", "done.pt"],
     "is at epoch 3 already; pass --epochs 4 or more", 1),
    ("train --resume a bare state_dict", ["train", "resnet20", "-o", "t", "--resume",
                                          "bare.pt"], "it records no model", 1),
    ("train over an earlier run", ["train", "resnet20", "-o", "run"],
     "run already holds epoch_000.pt, final.pt from an earlier run; pass --resume", 1),
    ("responses over earlier results", ["responses", "good.pt", "-o", "run"],
     "run already holds responses.json from an earlier run; pass --overwrite", 1),
    ("degradation over earlier results", ["degradation", "-o", "run"],
     "run already holds degradation.png from an earlier run; pass --overwrite", 1),
    ("info of a text file", ["info", "notes.txt"], "cannot open notes.txt", 1),
]


@pytest.mark.parametrize(("what", "args", "fragment", "code"), CARELESS,
                         ids=[c[0] for c in CARELESS])
def test_careless_input(ws: Workspace, what: str, args: list[str], fragment: str,
                        code: int) -> None:
    ws.checkpoint()
    for i, name in enumerate(("a.pt", "b.pt", "c.pt")):
        ws.checkpoint(name, seed=i + 1)
    ws.checkpoint("wide.pt", width=0.25)
    ws.checkpoint("done.pt", meta={"epoch": 3})
    torch.save(create_model("resnet20", width=0.125).state_dict(), ws.path / "bare.pt")
    ws.file("notes.txt", "not a checkpoint\n")
    ws.file("empty.pt")
    (ws.path / "folder").mkdir()
    for name in ("epoch_000.pt", "final.pt", "responses.json", "degradation.png"):
        ws.file(f"run/{name}", "earlier results")
    ws.refused(args, fragment, codes=(code,))


# ---------------------------------------------------------------- info prints nothing raw

def test_info_escapes_control_sequences_and_markup(ws: Workspace) -> None:
    import numpy as np

    from landscape.engine.store import save_surface
    from landscape.engine.types import Surface

    hostile = "\x1b[2J\x1b]0;pwned\x07<script>alert(1)</script>\r\u202eevil"
    surface = Surface(x=np.linspace(-1, 1, 3), y=None, loss=np.ones(3), accuracy=None,
                      done=np.ones(3, dtype=bool),
                      meta={"model": hostile, "note\x1b[31m": "x" * 5000})
    save_surface(ws.path / "odd\x1b[1m.h5", surface)
    result = ws.run(["info", "odd\x1b[1m.h5"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert all(ch.isprintable() for line in text.splitlines() for ch in line), repr(text)
    assert "\r" not in text and "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b]0;pwned\\x07<script>alert(1)</script>\\r\\u202eevil" in text
    assert "odd\\x1b[1m.h5" in text and "note\\x1b[31m" in text
    assert "... (5,000 characters)" in text


def test_error_lines_escape_what_a_file_put_in_them(ws: Workspace) -> None:
    ws.checkpoint("ctl.pt", meta={"arch": "resnet20\x1b[2J\n", "arch_kwargs": {}})
    line = ws.refused(["surface", "ctl.pt", "-o", "s.h5", *GRID],
                      r"unknown model 'resnet20\x1b[2J\n'", codes=(1,))
    assert "\x1b" not in line


# ---------------------------------------------------------------- a failed run leaves nothing

FAILING = {  # command -> (arguments, the function that fails, where it is looked up)
    "train": (["train", "resnet20", "-o", "new/run", "--samples", "16", "--epochs", "1",
               "--no-progress"], "models.train", "train_model"),
    "trajectory": (["trajectory", "a.pt", "b.pt", "c.pt", "d.pt", "-o", "new/traj",
                    "--samples", "8", "--num", "3"], "landscape.analysis.trajectory",
                   "trajectory_surface"),
    "responses": (["responses", "a.pt", "-o", "new/resp", "--samples", "8"],
                  "models.studies.responses", "layer_responses"),
    "degradation": (["degradation", "-o", "new/deg", "--depths", "8", "--epochs", "1",
                     "--samples", "16"], "models.studies.degradation", "run_degradation"),
}


@pytest.mark.parametrize("interrupt", [False, True], ids=["error", "ctrl-c"])
@pytest.mark.parametrize("command", FAILING)
def test_a_failed_run_leaves_no_new_folder(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                           command: str, interrupt: bool) -> None:
    import importlib

    for i, name in enumerate(("a.pt", "b.pt", "c.pt", "d.pt")):
        ws.checkpoint(name, seed=i)
    args, module, attr = FAILING[command]

    def fail(*_: Any, **__: Any) -> None:
        if interrupt:
            raise KeyboardInterrupt
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importlib.import_module(module), attr, fail)
    before = snapshot(ws.path)
    result = ws.run(args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert ("Aborted" if interrupt else "No space left on device") in result.output
    assert snapshot(ws.path) == before


def test_a_failed_train_keeps_the_checkpoints_it_wrote(ws: Workspace,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import models.train

    real = models.train.train_model

    def crash_after_saving(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(models.train, "train_model", crash_after_saving)
    result = ws.run(["train", "resnet20", "--width", "0.125", "-o", "new/run", "--samples",
                     "16", "--epochs", "1", "--no-progress"])
    assert result.exit_code == 1
    assert sorted(p.name for p in (ws.path / "new/run").iterdir()) == ["epoch_000.pt",
                                                                      "epoch_001.pt",
                                                                      "final.pt"]


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # vmap over 3 points
@pytest.mark.parametrize("after", [0, 1], ids=["before-any-point", "after-a-point"])
def test_a_failed_surface_releases_its_lock(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                            after: int) -> None:
    import landscape.engine.store

    real, calls = landscape.engine.store.write_points, []

    def write_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(landscape.engine.store, "write_points", write_then_fail)
    ws.checkpoint()
    result = ws.run(["surface", "good.pt", "-o", "new/s.h5", "--x", "-1:1:3", "--y",
                     "-1:1:3", "--samples", "8", "--points-per-batch", "3"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "No space left on device" in result.output
    assert not list(ws.path.rglob("*.lock"))
    if after:  # the points computed before the failure are kept, to --resume
        from landscape import load_surface

        assert load_surface(ws.path / "new/s.h5").done.sum() == 3

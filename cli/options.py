"""Options and helpers shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.outputs import prepare_output, remove_claimed_folders
from landscape.engine.store import FileBusyError

F = TypeVar("F", bound=Callable[..., Any])


def errors_as_click(func: F) -> F:
    """Turn any error of a command into one clean line and exit code 1; `-v` keeps the traceback.

    The library raises ValueError, TypeError, FileNotFoundError, FileExistsError, OSError, ...
    with a message that names the problem and the fix; a user sees that message, not a
    traceback. Under `landscape -v ...` the exception propagates, traceback and all. On any
    failure, the output folders the command created are removed again, unless they hold what
    a --resume continues (`cli.outputs.remove_claimed_folders`).

    A closed pipe (`landscape info f.h5 | head -1`) is not an error: the reader has all it
    wanted, so what was written stays and click ends the command quietly, as `cat` does.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            raise  # click's main pacifies stdout/stderr and exits without a word
        except BaseException as err:
            if not (isinstance(err, click.exceptions.Exit) and err.exit_code == 0):
                remove_claimed_folders()
            if (isinstance(err, (click.ClickException, click.exceptions.Exit, click.Abort))
                    or not isinstance(err, Exception) or verbosity() > 0):
                raise
            raise click.ClickException(error_line(err)) from err

    return wrapper  # type: ignore[return-value]


def error_line(err: BaseException) -> str:
    """The message a user sees for `err`: the library's own message for the errors it raises on
    purpose, the exception's type and first line (and where to find more) for anything else;
    always one line, with control characters escaped (`printable`)."""
    return printable(_message(err), longest=4000)


def _message(err: BaseException) -> str:
    if isinstance(err, (ValueError, TypeError, FileNotFoundError, FileExistsError,
                        FileBusyError)):
        return str(err)
    if isinstance(err, OSError) and err.filename is not None:
        return f"cannot use {str(err.filename)!r}: {err.strerror or err}"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return (f"{type(err).__name__}: {first} (rerun as `landscape -v ...` for the traceback)"
            if first else f"{type(err).__name__} (rerun as `landscape -v ...` for the traceback)")


def printable(value: Any, longest: int | None = 2000) -> str:
    """`value` as one line of text that is safe on a terminal: control and format characters
    (ESC, CR, newline, backspace, bidi overrides, ...) are shown as escapes like `\\x1b`,
    never sent, and text beyond `longest` characters (None: none) is cut."""
    text = str(value)
    cut = longest is not None and len(text) > longest
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[:longest])
    return shown + (f"... ({len(text):,} characters)" if cut else "")


def picture_text(text: str) -> str:
    """`text` for a legend or title: characters that are not printable become '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def verbosity() -> int:
    """How many -v the user gave (`landscape -v ...`)."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.find_root().params.get("verbose") or 0) if ctx is not None else 0


def drop_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ones left unset, so library defaults live in one place."""
    return {k: v for k, v in kwargs.items() if v is not None}


def available_devices() -> list[str]:
    """The torch devices this machine can run on, e.g. ['cpu', 'cuda', 'cuda:0']."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(text: str) -> None:
    """Raise ValueError, naming the devices there are, unless `text` is a usable torch device."""
    import torch

    where = f"available here: {', '.join(available_devices())}"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"unknown device {text!r}; {where}") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{text!r}: CUDA is not available on this machine (no GPU visible "
                             f"to torch, or a CPU-only torch); {where}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{text!r}: this machine has {count} CUDA device"
                             f"{'' if count == 1 else 's'}; {where}")
        return
    if dev.type == "mps" and "mps" in available_devices():
        return
    raise ValueError(f"device {text!r} is not available; {where}")


def _device_callback(ctx: click.Context, param: click.Parameter, value: str | None
                     ) -> str | None:
    if value is not None:
        try:
            check_device(value)
        except ValueError as err:
            raise click.BadParameter(str(err), ctx=ctx, param=param) from None
    return value


device_opt = click.option(
    "--device", default=None, callback=_device_callback,
    help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available).",
)


# ---------------------------------------------------------------- outputs

def _output_dir_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        prepare_output(value, folder=True)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None
    return value


def main_process() -> bool:
    """False on the ranks other than 0 of a torch.distributed job (they compute, rank 0 writes
    and reports)."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)


def speed_opts(func: F) -> F:
    """--batch-size, --precision and --compile: how fast, not what is computed."""
    func = click.option("--compile/--no-compile", "compile", default=None,
                        help="Compile the forward pass once per surface (torch.compile) "
                             "[default: on CUDA for 64 points or more; on a CPU when the "
                             "speed probe of a long grid finds it faster].")(func)
    func = click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "tf32"]),
                        default=None, help=PRECISION_HELP)(func)
    return click.option("--batch-size", type=click.IntRange(min=1), default=None,
                        help="Images per forward pass [default: on a CPU the fastest of "
                             "32-256 in a few-second probe (a small grid: 64, or 128 in "
                             "bf16, fused); on CUDA from free memory, up to 4096].")(func)


overwrite_opt = click.option("--overwrite", is_flag=True,
                             help="Replace the files of an earlier run (refused without it).")


progress_opt = click.option("--progress/--no-progress", default=True,
                            help="Show a progress bar (on stderr).")


PRECISION_HELP = (
    "Arithmetic of the forward pass [default: fp32]. bf16/fp16 cast weights and inputs: "
    "faster only where the hardware has them (CUDA; bf16 on CPUs with AVX512-BF16 or AMX: "
    "1.8x fp32 on one), and less accurate: in bf16 a point's mean loss moved by up to 1% "
    "(9.6e-3 relative, ResNet-56) against fp32, enough for a picture, not for sharpness at "
    "the 1e-2 level (docs/how-to/speed.md). tf32 is CUDA only.")


output_dir_opt = click.option(
    "-o", "--output", "output", type=click.Path(), default=".", show_default=True,
    callback=_output_dir_callback, help="Folder to write into (created if missing).",
)


def axis_type(text: str | None) -> Any:
    """click callback: MIN:MAX:NUM -> Axis (None stays None)."""
    from landscape.engine.grid import Axis

    return None if text is None else Axis.parse(text)


def _parse_axis(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    try:
        return axis_type(value)
    except (ValueError, TypeError) as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def grid_opts(x_default: str = "-1:1:21") -> Callable[[F], F]:
    """--x MIN:MAX:NUM and --y MIN:MAX:NUM (a 1-D line when --y is absent)."""

    def decorate(func: F) -> F:
        func = click.option("--y", "y_axis", default=None, callback=_parse_axis,
                            metavar="MIN:MAX:NUM",
                            help="β axis; leave it out for a 1-D line along x.")(func)
        return click.option("--x", "x_axis", default=x_default, show_default=True,
                            callback=_parse_axis, metavar="MIN:MAX:NUM", help="α axis.")(func)

    return decorate


# models.data.DATASETS, here without importing torch for `--help`
DATASETS = ("embedded", "cifar10", "cifar100", "imagefolder", "tokens", "nanogpt")

SAMPLES_HELP = ("Evaluate on a seeded subset of this many samples [default: all; the embedded "
                "set has at most 50,000 train and 10,000 test images, CIFAR as many].")


def data_opts(func: F) -> F:
    """The evaluation data: --dataset --data-root --download --split --samples --data-seed
    --normalize."""
    options = [
        click.option("--dataset", type=click.Choice(DATASETS), default="embedded",
                     show_default=True, help="Evaluation data set."),
        click.option("--data-root", type=click.Path(file_okay=False), default=None,
                     help="Folder holding the data set (CIFAR, an ImageFolder, or nanoGPT's "
                          "train.bin and val.bin)."),
        click.option("--download", is_flag=True, help="Download CIFAR if it is not there."),
        click.option("--split", type=click.Choice(["train", "test"]), default="train",
                     show_default=True, help="Which split the loss is measured on."),
        click.option("--samples", type=click.IntRange(min=1), default=None, help=SAMPLES_HELP),
        click.option("--data-seed", type=int, default=0, show_default=True,
                     help="Seed of the evaluation subset."),
        click.option("--normalize", type=click.Choice(["torchvision", "reference"]),
                     default=None,
                     help="CIFAR-10/100 pixel normalization: torchvision's constants "
                          "(0.4914, ...), or the 2018 reference code's (125.3/255, ...; "
                          "CIFAR-10) to reproduce its numbers [default: torchvision]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def note_reference_normalization(dataset: str, normalize: str | None,
                                 sources: list[str]) -> None:
    """Say once, on stderr, that a run on the 2018 reference code's files (`sources`: what was
    read from them, e.g. "the checkpoint model_1.t7") normalizes CIFAR-10 with torchvision's
    constants, not that code's, unless --normalize was given."""
    if dataset != "cifar10" or normalize is not None or not sources:
        return
    click.echo(f"note: {' and '.join(sources)} come{'s' if len(sources) == 1 else ''} from the "
               f"2018 reference code, which normalizes CIFAR-10 with its own constants "
               f"(125.3/255, ...); this run uses torchvision's (0.4914, ...), so its losses "
               f"differ from that code's. Pass --normalize reference to reproduce them, or "
               f"--normalize torchvision to keep these and silence this note.", err=True)


def reference_sources(checkpoints: list[tuple[str, dict[str, Any]]],
                      directions: list[Any] | None = None,
                      directions_file: str | None = None) -> list[str]:
    """What of a run was read from files of the 2018 reference code: `.t7` checkpoints (by their
    recorded format) and direction files whose tensors are keyed by position."""
    from pathlib import Path

    found = [f"the checkpoint {Path(path).name}" for path, meta in checkpoints
             if meta.get("format") == "reference-t7"]
    if directions and directions_file and all(str(k).isdigit() for k in directions[0]):
        found.append(f"the direction file {Path(directions_file).name}")
    return found


def check_samples(dataset: str, split: str, samples: int | None, option: str) -> None:
    """Refuse, before any data is built, more samples than `dataset`'s `split` can give."""
    from models.data import max_samples

    most = max_samples(dataset, split)
    if samples is not None and most is not None and samples > most:
        raise click.BadParameter(
            f"{samples:,} is more than the {most:,} {split} images of the {dataset} data set; "
            f"pass {option} {most} or fewer", param_hint=f"'{option}'")


_CLASSES = {"embedded": 10, "cifar10": 10, "cifar100": 100, "tokens": 64}


def known_classes(dataset: str) -> int | None:
    """The number of classes of `dataset`, where it is known without reading it."""
    return _CLASSES.get(dataset)


def check_classes(dataset: str, num_classes: int, option: str = "--num-classes") -> None:
    """Refuse, before any data is built, a head with fewer outputs than `dataset` has classes."""
    classes = _CLASSES.get(dataset)
    if classes is not None and num_classes < classes:
        raise click.BadParameter(
            f"{num_classes} outputs cannot classify the {classes} classes of {dataset} (its "
            f"labels go up to {classes - 1}); pass {option} {classes} or more, or leave it out",
            param_hint=f"'{option}'")


def check_head(model: Any, dataset: Any, name: str) -> None:
    """Refuse a model whose head has fewer outputs than `dataset` has classes (labels up to
    classes - 1 would index past it); one forward pass of one item, in eval mode."""
    import torch

    classes = len(getattr(dataset, "classes", ()))
    if not classes or not len(dataset):
        return
    x = dataset[0][0]
    param = next(iter(model.parameters()), None)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[None].to(param.device if param is not None else "cpu"))
    finally:
        model.train(training)
    sequence = x.dim() == 1 and out.ndim == 3  # a language model: (1, T, vocab) for tokens
    outputs = out.shape[-1] if out.ndim == 2 or sequence else None
    if sequence and outputs is not None and outputs < classes:
        raise ValueError(f"the model scores {outputs} tokens, but {name} has token ids up to "
                         f"{classes - 1}; build it with a vocabulary of at least {classes} "
                         f"(--num-classes {classes}, or vocab_size={classes} in your factory)")
    if outputs is None or outputs < classes:
        raise ValueError(f"the model gives {tuple(out.shape[1:])} outputs per image, but "
                         f"{name} has {classes} classes (labels up to {classes - 1}); build it "
                         f"with at least {classes} outputs (--num-classes {classes}, or "
                         f"num_classes={classes} in your factory)")


def load_data(dataset: str, data_root: str | None, download: bool, split: str,
              samples: int | None, data_seed: int, normalize: str | None = None, *,
              block_size: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The evaluation tensors and the provenance to record for them (for CIFAR, which
    normalization constants; for tokens, the block size)."""
    from models.data import TOKEN_DATASETS, evaluation_tensors

    data = evaluation_tensors(dataset, split, samples=samples, seed=data_seed, root=data_root,
                              download=download, normalize=normalize,  # type: ignore[arg-type]
                              block_size=block_size)
    meta = {"dataset": dataset, "data_seed": data_seed, "samples": len(data[0])}
    if dataset in TOKEN_DATASETS:
        meta["block_size"] = data[0].shape[1]
    if dataset in ("cifar10", "cifar100"):
        meta["normalize"] = normalize or "torchvision"
    return data, meta


def checkpoint_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """What a surface file records about the checkpoint its θ* came from."""
    return {"model": meta.get("arch"), "arch_kwargs": meta.get("arch_kwargs"),
            "skip": meta.get("skip"), "checkpoint": meta.get("path"),
            "checkpoint_sha256": meta.get("sha256"), "epoch": meta.get("epoch"),
            "trained_on": meta.get("dataset")}


MODEL_HELP = ("Architecture of the checkpoint, e.g. resnet56 (see `landscape models`); needed "
              "when the file records none. An import path package.module:factory imports that "
              "module and runs the factory: name only code you trust. A name recorded in a file "
              "is never imported.")

model_opt = click.option("--model", "model_name", default=None, help=MODEL_HELP)


def checkpoint_data_opts(split: str = "train", model_help: str = MODEL_HELP) -> Callable[[F], F]:
    """--model, --dataset and --split (default `split`): a command that loads checkpoints and
    measures them on a data set."""

    def decorate(func: F) -> F:
        func = click.option("--split", type=click.Choice(["train", "test"]), default=split,
                            show_default=True)(func)
        func = click.option("--dataset", type=click.Choice(DATASETS), default="embedded",
                            show_default=True)(func)
        return click.option("--model", default=None, help=model_help)(func)

    return decorate


nonfinite_opt = click.option(
    "--allow-nonfinite", is_flag=True,
    help="Load a checkpoint whose weights hold NaN or inf (refused otherwise: every loss "
         "computed from them would be NaN).")

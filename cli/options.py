"""Options and helpers shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from landscape.store import FileBusyError

F = TypeVar("F", bound=Callable[..., Any])


def errors_as_click(func: F) -> F:
    """Turn any error of a command into one clean line and exit code 1; `-v` keeps the traceback.

    The library raises ValueError, TypeError, FileNotFoundError, FileExistsError, OSError, ...
    with a message that names the problem and the fix; a user sees that message, not a
    traceback. Under `landscape -v ...` the exception propagates, traceback and all.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - every error becomes one line
            if _verbosity() > 0:
                raise
            raise click.ClickException(error_line(err)) from err

    return wrapper  # type: ignore[return-value]


def error_line(err: BaseException) -> str:
    """The message a user sees for `err`: the library's own message for the errors it raises on
    purpose, the exception's type and first line (and where to find more) for anything else."""
    if isinstance(err, (ValueError, TypeError, FileNotFoundError, FileExistsError,
                        FileBusyError)):
        return str(err)
    if isinstance(err, OSError) and err.filename is not None:
        return f"cannot use {str(err.filename)!r}: {err.strerror or err}"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return (f"{type(err).__name__}: {first} (rerun as `landscape -v ...` for the traceback)"
            if first else f"{type(err).__name__} (rerun as `landscape -v ...` for the traceback)")


def _verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    return int(ctx.find_root().params.get("verbose") or 0) if ctx is not None else 0


def drop_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ones left unset, so library defaults live in one place."""
    return {k: v for k, v in kwargs.items() if v is not None}


device_opt = click.option(
    "--device", default=None,
    help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available).",
)


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
                             "32-256 in a few-second probe (128 for a small grid); on CUDA "
                             "from free memory, up to 4096].")(func)


PRECISION_HELP = (
    "Arithmetic of the forward pass [default: fp32]. bf16/fp16 cast weights and inputs: "
    "faster only where the hardware has them (CUDA; bf16 on CPUs with AVX512-BF16 or AMX: "
    "1.8x fp32 on one), and less accurate: in bf16 a point's mean loss moved by up to 1% "
    "(9.6e-3 relative, ResNet-56) against fp32, enough for a picture, not for sharpness at "
    "the 1e-2 level (docs/how-to/speed.md). tf32 is CUDA only.")


output_dir_opt = click.option(
    "-o", "--output", "output", type=click.Path(file_okay=False), default=".", show_default=True,
    help="Folder to write into (created if missing).",
)


def axis_type(text: str | None) -> Any:
    """click callback: MIN:MAX:NUM -> Axis (None stays None)."""
    from landscape.grid import Axis

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


def data_opts(func: F) -> F:
    """The evaluation data: --dataset --data-root --download --split --samples --data-seed."""
    options = [
        click.option("--dataset", type=click.Choice(["embedded", "cifar10", "cifar100",
                                                     "imagefolder"]),
                     default="embedded", show_default=True, help="Evaluation data set."),
        click.option("--data-root", type=click.Path(file_okay=False), default=None,
                     help="Folder holding the data set (CIFAR or an ImageFolder)."),
        click.option("--download", is_flag=True, help="Download CIFAR if it is not there."),
        click.option("--split", type=click.Choice(["train", "test"]), default="train",
                     show_default=True, help="Which split the loss is measured on."),
        click.option("--samples", type=click.IntRange(min=1), default=None,
                     help="Evaluate on a seeded subset of this many samples (default: all)."),
        click.option("--data-seed", type=int, default=0, show_default=True,
                     help="Seed of the evaluation subset."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_data(dataset: str, data_root: str | None, download: bool, split: str,
              samples: int | None, data_seed: int) -> tuple[Any, dict[str, Any]]:
    """The evaluation tensors and the provenance to record for them."""
    from models.data import evaluation_tensors

    data = evaluation_tensors(dataset, split, samples=samples, seed=data_seed, root=data_root,
                              download=download)
    return data, {"dataset": dataset, "data_seed": data_seed, "samples": len(data[0])}


def checkpoint_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """What a surface file records about the checkpoint its θ* came from."""
    return {"model": meta.get("arch"), "arch_kwargs": meta.get("arch_kwargs"),
            "skip": meta.get("skip"), "checkpoint": meta.get("path"),
            "checkpoint_sha256": meta.get("sha256"), "epoch": meta.get("epoch"),
            "trained_on": meta.get("dataset")}


model_opt = click.option("--model", "model_name", default=None,
                         help="Architecture name for a checkpoint without metadata, e.g. "
                              "resnet56 (see `landscape models`).")

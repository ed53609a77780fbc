"""The `landscape` command group. Each command lives in its own module and is imported lazily,
so `landscape --help` stays fast and one broken optional dependency does not break the rest."""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

import click

# command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "plot": "cli.plot_cmd:plot",
    "view": "cli.view_cmd:view",
    "compare": "cli.compare_cmd:compare",
    "models": "cli.models_cmd:models_cmd",
    "train": "cli.train_cmd:train",
    "hessian": "cli.hessian_cmd:hessian",
    "degradation": "cli.degradation_cmd:degradation",
    "trajectory": "cli.trajectory_cmd:trajectory",
    "responses": "cli.responses_cmd:responses",
    "surface": "cli.surface_cmd:surface",
    "interp": "cli.interp_cmd:interp",
    "connect": "cli.connect_cmd:connect",
    "info": "cli.info_cmd:info",
    "export": "cli.export_cmd:export",
    "export-directions": "cli.export_cmd:export_directions",
    "demo": "cli.demo_cmd:demo",
}


# Warnings of the libraries underneath that say nothing a user can act on: what each means.
# They are logged at INFO (shown with -v), once per run, instead of printed.
KNOWN_WARNINGS = {
    r"There is a performance drop because we have not yet implemented the batching rule":
        "torch evaluates some layers of the points of a pass one point at a time (it has no "
        "batched form of them): the values are right, only slower",
    r"Glyph \d+ .*missing from (current )?font":
        "a label holds characters the font cannot draw; they show as boxes in the picture",
}
# Loggers of the libraries underneath that speak only under -v (torch.compile on a CPU-only
# machine reports that it found no CUDA runtime: true, and harmless).
QUIET_LOGGERS = ("torch.utils.cpp_extension",)

log = logging.getLogger("landscape")


@contextlib.contextmanager
def _known_warnings_logged() -> Iterator[None]:
    seen: set[str] = set()
    show = warnings.showwarning

    def route(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
              line: Any = None) -> None:
        for pattern, meaning in KNOWN_WARNINGS.items():
            if re.search(pattern, str(message)):
                if pattern not in seen:
                    seen.add(pattern)
                    log.info("note: %s (%s)", meaning, str(message).splitlines()[0][:200])
                return
        show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = route
        for pattern in KNOWN_WARNINGS:  # every occurrence reaches `route`, which says it once
            warnings.filterwarnings("always", message=pattern)
        yield


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="loss-landscape-toolkit")
def cli(verbose: int) -> None:
    """Loss landscapes of PyTorch models: compute, draw, compare.

    \b
    Typical session:
      landscape train resnet20 -o runs/r20
      landscape surface runs/r20/final.pt -o r20.h5 --x -1:1:21 --y -1:1:21
      landscape plot r20.h5 -o figs/
      landscape view r20.h5 -o r20.html
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if verbose == 0 else logging.NOTSET)
    click.get_current_context().with_resource(_known_warnings_logged())


def main() -> None:
    """The `landscape` command. An import path the user types (`--model mynets:small_cnn`) is
    found from the current folder too (`models.imports.import_object`)."""
    cli()


if __name__ == "__main__":
    main()

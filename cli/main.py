"""The `landscape` command group. Each command lives in its own module and is imported lazily,
so `landscape --help` stays fast and one broken optional dependency does not break the rest."""

from __future__ import annotations

import importlib
import logging
import os
import sys

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


def main() -> None:
    """The `landscape` command. Like `python -m`, it finds a module of the current folder that
    an import path the user types names (`--model mynets:small_cnn`); the folder comes last on
    the path, so it never hides an installed package."""
    here = os.getcwd()
    if not any(entry in ("", ".", here) for entry in sys.path):
        sys.path.append(here)
    cli()


if __name__ == "__main__":
    main()

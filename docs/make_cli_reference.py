"""Write docs/reference/cli.md from the click commands: `python docs/make_cli_reference.py`.

tests/cli/test_reference_doc.py fails when the committed page and the commands disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

PAGE = Path(__file__).resolve().parent / "reference" / "cli.md"


def render() -> str:
    from cli.main import COMMANDS, cli

    ctx = click.Context(cli, info_name="landscape", **cli.context_settings)
    parts = ["# CLI reference", "",
             "Generated from the commands by `python docs/make_cli_reference.py`; do not edit.",
             "", "```text", cli.get_help(ctx), "```", ""]
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        sub = click.Context(command, info_name=name, parent=ctx)
        parts += [f"## landscape {name}", "", "```text", command.get_help(sub), "```", ""]
    return "\n".join(parts)


def main() -> int:
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    print(PAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Options and helpers shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from landscape.store import FileBusyError

F = TypeVar("F", bound=Callable[..., Any])


def errors_as_click(func: F) -> F:
    """Turn the library's ValueError/FileNotFoundError/FileExistsError into a clean CLI error."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, FileExistsError, TypeError, FileBusyError) as err:
            raise click.ClickException(str(err)) from err

    return wrapper  # type: ignore[return-value]


def drop_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ones left unset, so library defaults live in one place."""
    return {k: v for k, v in kwargs.items() if v is not None}


device_opt = click.option(
    "--device", default=None,
    help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available).",
)
output_dir_opt = click.option(
    "-o", "--output", "output", type=click.Path(file_okay=False), default=".", show_default=True,
    help="Folder to write into (created if missing).",
)

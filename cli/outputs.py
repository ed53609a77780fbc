"""Writing what a command makes so that a failed command leaves nothing behind.

Every file appears whole or not at all: it is written under a temporary name in the folder it
goes to and renamed over the target when complete. A folder a command creates is removed again
when the command fails, unless it holds what a `--resume` continues: one rule for every command
(`claim_folders`, `remove_claimed_folders`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["atomic_path", "check_writable", "output_folder", "save_figure", "write_text",
           "claim_folders", "remove_claimed_folders", "prepare_output", "refuse_existing"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file beside `path`, with the same suffix, renamed onto `path` when the block
    ends without an error and removed when it raises.

    Parent folders are created. The temporary name starts with a dot, so that a folder listing
    or a glob for `*.png` never shows a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; outputs are not
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_figure(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """`fig.savefig` into `path` atomically; the format comes from the suffix of `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or None, **kwargs)
    return path


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8) into `path` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def check_writable(path: str | os.PathLike[str], *, folder: bool = False) -> None:
    """Raise before any work is done when `path` cannot be written.

    `path` is the file (or, with `folder=True`, the folder) a command is about to write. The
    nearest existing ancestor must be a writable folder, and `path` itself, when it exists, must
    be of the right kind.

    Raises:
        ValueError: with the reason and what to do instead.
    """
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise ValueError(f"cannot write into {str(path)!r}: it is a file, not a folder; "
                             f"pass a folder with -o")
        if not folder and path.is_dir():
            raise ValueError(f"cannot write {str(path)!r}: it is a folder; pass a file name "
                             f"with -o")
    parent = path if folder and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a "
                         f"folder; choose another -o")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {str(path)!r}: no permission to write in "
                         f"{str(parent)!r}; choose another -o")


# ---------------------------------------------------------------- the cleanup of a failed run

_CLAIMED = "landscape.new_folders"


def claim_folders(path: str | os.PathLike[str], *, folder: bool = False,
                  keep: str | None = None) -> None:
    """Remember the folders on the way to `path` (a file, or with `folder=True` a folder) that
    do not exist yet, so that should the command fail, `remove_claimed_folders` removes them.

    `keep` is a glob, relative to the folder `path` is or lies in, of what a `--resume`
    continues: a claimed folder that holds such a file stays.
    """
    path = Path(path)
    first_new = None
    for parent in ([path] if folder else []) + list(path.parents):
        if parent.exists():
            break
        first_new = parent
    ctx = click.get_current_context(silent=True)
    if first_new is not None and ctx is not None:
        home = path if folder else path.parent
        ctx.meta.setdefault(_CLAIMED, []).append((first_new.absolute(), home.absolute(), keep))


def remove_claimed_folders() -> None:
    """The one cleanup rule of a failed command: every folder it created on the way to its
    outputs is removed with what was written in it, unless it holds what a `--resume`
    continues (its `keep` glob). Called by `options.errors_as_click` on any failure."""
    ctx = click.get_current_context(silent=True)
    claims = ctx.meta.pop(_CLAIMED, []) if ctx is not None else []
    kept = [home for _, home, keep in claims if keep and home.is_dir() and any(home.glob(keep))]
    for created, _, _ in claims:
        if created.is_dir() and not any(h == created or created in h.parents for h in kept):
            shutil.rmtree(created, ignore_errors=True)


def prepare_output(path: str | os.PathLike[str], *, folder: bool = False,
                   resume: bool | None = None, overwrite: bool = False,
                   keep: str | None = None) -> None:
    """Check before any work that `path` (a file, or with `folder=True` a folder) can be
    written, and claim the folders on its way that do not exist yet (`claim_folders`).

    Args:
        path: the output.
        folder: `path` is a folder (else a file).
        resume, overwrite: for a file that can be resumed: unless one of them is set, an
            existing `path` is refused (None: the command has no --resume, only --overwrite).
            A resumable file is what a failed run keeps.
        keep: for a folder, the glob of what a failed run keeps there (see `claim_folders`).

    Raises:
        ValueError: `path` cannot be written (the reason and what to do instead).
        FileExistsError: `path` exists and neither --resume nor --overwrite was given.
    """
    check_writable(path, folder=folder)
    if not folder and Path(path).exists() and not (resume or overwrite):
        raise FileExistsError(f"{path} exists; pass "
                              + ("" if resume is None else "--resume to continue it or ")
                              + "--overwrite to replace it")
    if not folder and resume is not None:
        keep = Path(path).name
    claim_folders(path, folder=folder, keep=keep)


def refuse_existing(folder: str | os.PathLike[str], patterns: tuple[str, ...], *,
                    overwrite: bool, fix: str = "pass --overwrite to replace them") -> None:
    """Refuse to write into `folder` when it already holds files matching `patterns` (earlier
    results that would be replaced or, worse, mixed with new ones), unless `overwrite`."""
    if overwrite or not Path(folder).is_dir():
        return
    found = sorted({str(p.relative_to(folder)) for pattern in patterns
                    for p in Path(folder).glob(pattern)})
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise FileExistsError(f"{folder} already holds {shown} from an earlier run; {fix}, or "
                              f"choose another -o")


@contextlib.contextmanager
def output_folder(path: str | os.PathLike[str], keep: str | None = None) -> Iterator[Path]:
    """Create `path` (and missing parents) for a command's outputs, claimed (`claim_folders`):
    should the command fail, what it created here is removed, unless `path` holds files
    matching the glob `keep` (what a --resume continues)."""
    path = Path(path)
    check_writable(path, folder=True)
    claim_folders(path, folder=True, keep=keep)
    path.mkdir(parents=True, exist_ok=True)
    yield path

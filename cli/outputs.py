"""Writing what a command makes so that a failed command leaves nothing behind.

Every file appears whole or not at all: it is written under a temporary name in the folder it
goes to and renamed over the target when complete. A folder a command creates is removed again
when the command fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "check_writable", "output_folder", "save_figure", "write_text"]


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


@contextlib.contextmanager
def output_folder(path: str | os.PathLike[str], keep: str | None = None) -> Iterator[Path]:
    """Create `path` (and missing parents) for a command's outputs; should the command fail,
    remove what was created here, so that no empty or half-filled new folder is left, unless
    `path` holds files matching the glob `keep` (what a --resume continues)."""
    path = Path(path)
    check_writable(path, folder=True)
    created = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        created = folder
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if created is not None and not (keep and any(path.glob(keep))):
            shutil.rmtree(created, ignore_errors=True)
        raise

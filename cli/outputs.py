"""Writing what a command makes so that a failed command leaves nothing behind.

Every file appears whole or not at all: it is written under a temporary name in the folder it
goes to and renamed over the target when complete. The target is the user's: a symbolic link
is written through (its target is what is replaced), a device or FIFO is written into as a
stream (never replaced), and `-` is standard output. A folder a command creates is removed again
when the command fails, unless it holds what a `--resume` continues: one rule for every command
(`claim_folders`, `remove_claimed_folders`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["atomic_path", "check_writable", "output_folder", "save_figure", "write_text",
           "claim_folders", "remove_claimed_folders", "prepare_output", "refuse_existing",
           "is_stream", "STDOUT"]

STDOUT = "-"  # `-o -`: standard output


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True for `-` (standard output) and for a path that is, or links to, a character or block
    device or a FIFO: written into as it is, never replaced."""
    if os.fspath(path) == STDOUT:
        return True
    try:
        mode = os.stat(path).st_mode  # follows links
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)


def _target(path: Path) -> Path:
    """The file a write to `path` goes to: `path`, or for a symbolic link the file it points at
    (which must be absent or a regular file in an existing folder)."""
    if not path.is_symlink():
        return path
    real = Path(os.path.realpath(path))
    if real.exists() and not real.is_file() and not is_stream(real):
        raise ValueError(f"cannot write {str(path)!r}: it is a link to {str(real)!r}, which is "
                         f"not a file; choose another -o")
    if not real.parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a link to {str(real)!r}, whose "
                         f"folder does not exist; choose another -o")
    return real


def _stream_into(source: Path, path: str) -> None:
    """Copy `source` into standard output, a device or a FIFO, as it is (nothing replaced)."""
    if path == STDOUT:
        sys.stdout.flush()
        out = sys.stdout.buffer
        with open(source, "rb") as f:
            shutil.copyfileobj(f, out)
        out.flush()
        return
    with open(source, "rb") as f, open(path, "wb") as out:  # a device: no rename, no truncate
        shutil.copyfileobj(f, out)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file with the suffix of `path`, moved onto `path` when the block ends
    without an error and removed when it raises.

    An absent or regular `path` is replaced by a rename (a file it replaces keeps its
    permissions); a symbolic link is followed and its target replaced; a device or FIFO (and
    `-`, standard output) is written into once the block has finished, from a temporary file in
    a private folder. Parent folders are created. The temporary name beside the target starts
    with a dot, so that a folder listing or a glob for `*.png` never shows a half-written file,
    and is short, whatever the length of the target's name.
    """
    text = os.fspath(path)
    if is_stream(text):
        with tempfile.TemporaryDirectory(prefix="landscape-") as folder:
            tmp = Path(folder) / f"out{Path(text).suffix[:16]}"
            yield tmp
            _stream_into(tmp, text)
        return
    target = _target(Path(text))
    if target.exists() and not target.is_file():
        raise ValueError(f"cannot write {text!r}: it is not a regular file; choose another -o")
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = (stat.S_IMODE(target.stat().st_mode) if target.is_file()
            else 0o666 & ~_umask())  # mkstemp makes it private; outputs are not
    fd, name = tempfile.mkstemp(prefix=f".{target.stem[:32]}.",
                                suffix=f".partial{target.suffix[:16]}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, target)
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
    nearest existing ancestor must be a folder in which a file can be created (tried: an empty
    file is made there and removed at once), and `path` itself, when it exists, must be of the
    right kind.

    A device or FIFO (or `-`) must be writable itself; a symbolic link is judged by its target.

    Raises:
        ValueError: with the reason and what to do instead.
    """
    if not folder and is_stream(path):
        if os.fspath(path) != STDOUT and not os.access(path, os.W_OK):
            raise ValueError(f"cannot write {os.fspath(path)!r}: no permission to write it; "
                             f"choose another -o")
        return
    path = Path(path)
    if not folder:
        path = _target(path)
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
    _probe(parent, path)


_REFUSALS = {  # errno of a file that cannot be created in a folder -> why, for a person
    errno.EACCES: "no permission to write in {}",
    errno.EPERM: "no permission to write in {}",
    errno.EROFS: "{} is on a read-only file system",
    errno.ENOSPC: "the file system of {} is full",
    errno.ENOENT: "{} takes no new files (a virtual file system such as /proc?)",
}


def _probe(folder: Path, path: Path) -> None:
    """Create and remove an empty file in `folder`, the one sure test that files can be
    written there: `os.access` says yes to root everywhere, also in /proc and /sys, and knows
    nothing of a full disk."""
    try:
        fd, name = tempfile.mkstemp(prefix=".landscape-probe.", dir=folder)
    except OSError as err:
        why = _REFUSALS.get(err.errno or 0, f"{{}} takes no new files ({err.strerror})")
        raise ValueError(f"cannot write {str(path)!r}: {why.format(repr(str(folder)))}; "
                         f"choose another -o") from None
    os.close(fd)
    os.unlink(name)


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
    if not folder and resume is not None:
        if is_stream(path):
            raise ValueError(f"cannot write {os.fspath(path)!r}: it is "
                             + ("standard output" if os.fspath(path) == STDOUT else
                                "a device or FIFO")
                             + "; this file is written point by point (to resume it), so it "
                               "must be a regular file: choose another -o")
        check_side_names(path)
    if not folder and Path(path).exists() and not is_stream(path) and not (resume or overwrite):
        raise FileExistsError(f"{path} exists; pass "
                              + ("" if resume is None else "--resume to continue it or ")
                              + "--overwrite to replace it")
    if not folder and resume is not None:
        keep = Path(path).name
    claim_folders(path, folder=folder, keep=keep)


_SIDE = ".partial"  # the longest suffix of a side file (`OUT.lock`, `OUT.partial`)


def check_side_names(path: str | os.PathLike[str]) -> None:
    """Refuse, before any work, a file name too long for the side files written beside it
    (`OUT.lock`, `OUT.partial`) on its file system."""
    path = Path(path)
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    try:
        longest = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    if len(os.fsencode(path.name)) + len(_SIDE) > longest:
        raise ValueError(f"the file name of -o is {len(os.fsencode(path.name))} bytes long; a "
                         f"run also writes {_SIDE!r} and '.lock' files beside it, so it can be "
                         f"at most {longest - len(_SIDE)} here: use a shorter name")


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

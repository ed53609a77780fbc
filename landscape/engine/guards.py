"""What a file may make the store do, and no more: read nothing outside itself, ask for no
more memory than there is, and write its side files (`.lock`, `.partial`) never through a link.

The store calls these on every file it opens or writes; they take the opened HDF5 objects and
the `h5py` module from it, so that only the store imports h5py.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

from landscape.engine.placement import check_shape_memory
from toolkit import available_memory

__all__ = ["refuse_outside_data", "check_declared_grid", "check_declared_size", "written",
           "open_side_file", "MOST_OBJECTS"]

MOST_OBJECTS = 100_000  # a surface file holds a few hundred (one per direction tensor)


def refuse_outside_data(f: Any, path: Any, h5py: Any) -> None:
    """Refuse a file that would make a reader read other files: an external link, a dataset
    stored in external files or a virtual dataset (mapped from other files). Soft links are
    not followed (they could loop).

    Raises:
        ValueError: naming the object and what it points at.
    """
    groups, seen = [("", f)], 0
    while groups:
        prefix, group = groups.pop()
        for name in group:
            seen += 1
            if seen > MOST_OBJECTS:
                raise ValueError(f"{path} holds more than {MOST_OBJECTS:,} objects; it is not a "
                                 f"surface file: recompute it")
            where = f"{prefix}/{name}".lstrip("/")
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise _outside(path, where, f"is a link to {link.filename!r}")
            if isinstance(link, h5py.SoftLink):
                continue
            item = group[name]
            if isinstance(item, h5py.Group):
                groups.append((where, item))
            elif isinstance(item, h5py.Dataset):
                if item.external:
                    raise _outside(path, where, "keeps its values in external files "
                                   f"({', '.join(repr(str(e[0])) for e in item.external[:3])})")
                if item.is_virtual:
                    raise _outside(path, where, "is a virtual dataset (its values are mapped "
                                   "from other files)")


def _outside(path: Any, where: str, what: str) -> ValueError:
    shown = where if where.isprintable() else ascii(where)
    return ValueError(f"{path} was refused: '{shown[:120]}' {what}, so reading it would read "
                      f"files other than this one; a surface file holds its values itself: "
                      f"recompute it, or copy the values in with h5py if you trust the file")


def check_declared_grid(shapes: list[tuple[int, ...]], path: Any) -> None:
    """Refuse, before reading, coordinate datasets (of these shapes) that declare a grid larger
    than memory allows, with the message `surface` gives for such a grid."""
    try:
        check_shape_memory(tuple(math.prod(s) for s in shapes))
    except ValueError as err:
        raise ValueError(f"cannot read {path}: {err}") from None


def check_declared_size(datasets: list[Any], path: Any, what: str = "the directions") -> None:
    """Refuse, before reading, datasets declaring more bytes than half the memory."""
    size = sum(math.prod(item.shape) * item.dtype.itemsize for item in datasets)
    available = available_memory()
    if available is not None and size > available // 2:
        raise ValueError(f"cannot read {what} in {path}: they declare {size / 2**30:,.1f} GB, "
                         f"and {available / 2**30:,.1f} GB of memory is available; is it the "
                         f"file you meant?")


def written(path: str | os.PathLike[str]) -> Path:
    """The file a write to `path` goes to: a symbolic link's target (the link stays a link)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def open_side_file(side: str | os.PathLike[str], path: Any, *, exclusive: bool) -> int:
    """Open (create) a side file of `path` (`.lock`, `.partial`) for writing, never through a
    symbolic link and never a device or FIFO; with `exclusive`, only a file created here.

    Returns:
        The file descriptor, open for reading and writing.

    Raises:
        ValueError: the side file is a link, is not a regular file, exists (`exclusive`), or
            cannot be created; the message names `path`, the output the user gave.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if exclusive:
        flags |= os.O_EXCL
    try:
        fd = os.open(side, flags, 0o666)
    except OSError as err:
        if Path(side).is_symlink():
            raise ValueError(f"cannot write {path}: {side} is a symbolic link, and a side file "
                             f"is never written through one; remove the link (or choose "
                             f"another -o)") from None
        if exclusive and isinstance(err, FileExistsError):
            raise ValueError(f"cannot write {path}: {side} exists; remove it (another run "
                             f"may be writing it), or choose another -o") from None
        raise ValueError(f"cannot write {path}: {err.strerror or err} ({side}); choose another "
                         f"-o") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"cannot write {path}: {side} is not a regular file; remove it (or "
                         f"choose another -o)")
    return fd

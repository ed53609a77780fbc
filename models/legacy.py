"""What a checkpoint in torch's legacy (non-zip) format declares its tensors take, read without
building anything it names.

A legacy file is a run of pickles: torch's magic number, its format version, a dict about the
machine that wrote it, the object itself, the keys of its storages, then each storage's bytes.
The object refers to each storage by a persistent id `("storage", type, key, location, numel,
view)`, and `torch.load` allocates `numel` elements for it as soon as it meets that id, before it
reads a byte of the data: a small file can declare terabytes. `declared_storage_bytes` reads the
same pickles with every name the file gives replaced by an inert stand-in (nothing is imported,
nothing called), and adds up what those ids declare.
"""

from __future__ import annotations

import os
import pickle
import pickletools
from typing import Any, BinaryIO

__all__ = ["MAGIC", "VERSION", "declared_storage_bytes"]

MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of every legacy file (torch.serialization)
VERSION = 1001  # the second: the only version torch reads

# bytes per element of the storage types a legacy file names (`torch.FloatStorage`, ...)
_ITEM_BYTES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
    "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1, "UntypedStorage": 1,
}
_WIDEST = 16  # an element of a type not listed above is counted at the widest size


class _Inert:
    """Stands for anything a pickle names (a class, a function) and for what it builds from
    one: takes any arguments, items and state, and does nothing with them."""

    item_bytes = _WIDEST

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass


# one stand-in type per storage type, so that an id tells its element size; one for the rest
_STORAGES = {name: type(name, (_Inert,), {"item_bytes": size})
             for name, size in _ITEM_BYTES.items()}


class _Bounded:
    """A file that refuses to read past its end: a length a pickle declares is checked against
    what the file holds before anything of that length is read."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f, self._size = f, size

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int) -> int:
        return self._f.seek(offset)

    def read(self, n: int = -1) -> bytes:
        left = max(0, self._size - self._f.tell())
        if n is not None and n > left:
            raise ValueError(f"the pickle asks for {n:,} byte{'' if n == 1 else 's'} where "
                             f"the file has {left:,} left")
        return self._f.read(left if n is None or n < 0 else n)

    def readline(self, limit: int = -1) -> bytes:
        return self._f.readline(limit)


class _Scanner(pickle.Unpickler):
    """Unpickles with stand-ins for every name and records the storages the ids declare."""

    def __init__(self, f: Any) -> None:
        super().__init__(f, encoding="latin1")
        self.declared: dict[Any, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        return _STORAGES.get(name, _Inert)  # torch.FloatStorage, torch.cuda.FloatStorage, ...

    def persistent_load(self, pid: Any) -> Any:
        kind = pid[0] if isinstance(pid, tuple) and pid else None
        kind = kind.decode("latin1") if isinstance(kind, bytes) else kind
        if kind == "storage" and len(pid) == 6:
            storage_type, key, numel = pid[1], pid[2], pid[4]
            size = getattr(storage_type, "item_bytes", _WIDEST)
            try:  # torch allocates the first id of each key; an unhashable key stops it
                if isinstance(numel, int) and key not in self.declared:
                    self.declared[key] = max(0, numel) * size
            except TypeError:
                pass
        return _Inert()


def _walk(f: _Bounded) -> None:
    """Read one pickle op by op without building anything (every length it declares checked
    against the file), then go back to its start: what fails here is never unpickled."""
    start = f.tell()
    for _ in pickletools.genops(f):
        pass
    f.seek(start)


_BOOKKEEPING = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}


def _first_is_magic(f: _Bounded) -> bool:
    """Whether the first pickle of `f` is the one int `MAGIC`. It is read to its end either way
    (op by op, its lengths checked against the file, nothing built), so that a pickle of
    another kind that would ask for more than the file holds is found here too."""
    first, count = None, 0
    for op, arg, _ in pickletools.genops(f):
        if op.name in _BOOKKEEPING or op.name == "STOP":
            continue
        count += 1
        first = arg if count == 1 else None
    return (count == 1 and isinstance(first, int) and not isinstance(first, bool)
            and first == MAGIC)


def declared_storage_bytes(path: str | os.PathLike[str]) -> int | None:
    """The bytes `torch.load` allocates for the storages of the legacy-format checkpoint at
    `path` (each as its persistent id declares, before its data is read).

    Returns:
        The sum over distinct storages, or None when `path` is not a legacy torch checkpoint
        (its first pickle is not torch's magic number, or the second not its version), which
        torch.load then refuses by itself.

    Raises:
        ValueError: a pickle of the file cannot be read (damaged, or declares more bytes than
            the file holds); the message says where.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        f = _Bounded(raw, size)
        scanner = _Scanner(f)
        where = "its first pickle"
        try:
            if not _first_is_magic(f):
                return None
            where = "its format version"
            _walk(f)
            if scanner.load() != VERSION:
                return None
            where = "its machine record"
            _walk(f)
            scanner.load()
            where = "the pickle of its tensors"
            _walk(f)
            scanner.load()
        except Exception as err:  # a damaged pickle fails in many ways
            text = str(err).strip().splitlines()
            raise ValueError(f"{where} is damaged ({type(err).__name__}: "
                             f"{text[0][:200] if text else 'no message'})") from None
    return sum(scanner.declared.values())

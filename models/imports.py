"""User code named by an import path `package.module:name`, found the way `python -m` finds it.

The `landscape` script, unlike `python -m`, does not put the current folder on `sys.path`, so
without this a user's `mymodel.py` next to their shell would be found only with `PYTHONPATH=.`.
The folder goes last on the path: a user's own `models/` folder (common in ML projects) never
hides this toolkit's `models` package or anything else installed.
Only paths the user typed come here: a name read from a file is never imported.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__all__ = ["import_object", "is_import_path"]


def is_import_path(text: str) -> bool:
    """Whether `text` has the form `package.module:name` (and is not `torchvision:<name>`)."""
    module, sep, attr = text.partition(":")
    return bool(sep) and bool(module) and bool(attr) and module != "torchvision"


def import_object(path: str, what: str) -> Any:
    """The object `name` of module `package.module`, given as `package.module:name`.

    The current folder is put last on `sys.path` (where it stays), so that it is searched after
    everything installed.

    Args:
        path: the import path the user typed.
        what: what it is for, for messages, e.g. "model", "loss", "data".

    Raises:
        ValueError: not an import path, a module that cannot be imported (with the reason), or
            no such attribute.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{what} {path!r} is not an import path package.module:name")
    here = os.getcwd()
    if not any(entry in ("", ".", here) for entry in sys.path):
        sys.path.append(here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import {module_name!r} for {what} {path!r}: {err} (modules are "
                         f"looked up from the current folder, then sys.path)") from err
    found = getattr(module, attr, None)
    if found is None:
        raise ValueError(f"module {module_name!r} has no callable {attr!r} ({what} {path!r})")
    return found

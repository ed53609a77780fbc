"""What every benchmark records about how it was run, and how it writes its JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """--json (the file the results go to) and --note (a line recorded with them)."""
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--note", help="recorded in the JSON (e.g. the machine's state)")


def json_name(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON's file name alone: a folder of the machine it ran on means nothing elsewhere."""
    return {"json": Path(args.json).name if getattr(args, "json", None) else None}


def load_average() -> float:
    """The machine's load average over the last minute."""
    return os.getloadavg()[0]


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo), or its architecture where none is read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_config(args: argparse.Namespace, *, stamp: bool = True, **extra: Any) -> dict[str, Any]:
    """A benchmark's "config": its arguments (the JSON by its file name), `extra`, the load
    average at the start and, with `stamp`, the UTC time."""
    config = {**vars(args), **json_name(args), **extra, "load_start": load_average()}
    if stamp:
        config["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return config


def write_json(path: str | None, out: dict[str, Any], *, indent: int = 2) -> str:
    """`out` as JSON text (numbers numpy holds as floats), also written to `path`, its folder
    made, when one is given."""
    text = json.dumps(out, indent=indent, default=float)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text

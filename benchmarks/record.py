"""What every benchmark records about how it was run."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def json_name(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON's file name alone: a folder of the machine it ran on means nothing elsewhere."""
    return {"json": Path(args.json).name if getattr(args, "json", None) else None}

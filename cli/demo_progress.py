"""The demo's progress: each model's tqdm bars on stderr become lines sent home from its process."""

from __future__ import annotations

import io
import re
import time
from typing import Any

PROGRESS_EVERY = 10.0
"""Seconds between two progress lines of one stage of one model (and one at its end)."""

_BAR = re.compile(r"^\s*(?P<stage>\w+):\s*\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)"
                  r"\s*\[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+)")


class ProgressLines(io.TextIOBase):
    """The stderr of a model's process: the tqdm bars of training and of the surface become a
    ("progress", {stage, n, total, elapsed, left}) message every `every` seconds and at the
    end of each stage, sent home by `send`; any other line goes home as ("stderr", line).
    Two processes' bars on one terminal would overwrite each other; lines do not."""

    def __init__(self, send: Any, every: float = PROGRESS_EVERY) -> None:
        super().__init__()
        self._send, self._every = send, every
        self._pending = ""
        self._last: dict[str, tuple[float, int]] = {}  # stage -> (when sent, n sent)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = re.split(r"[\r\n]", self._pending + text)
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, text: str) -> None:
        if not text.strip():
            return
        bar = _BAR.match(text)
        if bar is None:
            self._send(("stderr", text))
            return
        stage, n, total = bar["stage"], int(bar["n"]), int(bar["total"])
        now = time.monotonic()
        when, sent = self._last.setdefault(stage, (now, 0))
        if n == sent or (n < total and now - when < self._every):
            return
        self._last[stage] = (now, n)
        self._send(("progress", {"stage": stage, "n": n, "total": total,
                                 "elapsed": bar["elapsed"], "left": bar["left"]}))


def _seconds(clock: str) -> str:
    """tqdm's "01:05" (or "1:02:03") as "65 s"; "?" stays."""
    if not re.fullmatch(r"[\d:]+", clock):
        return clock
    value = 0
    for part in clock.split(":"):
        value = 60 * value + int(part)
    return f"{value} s"


def progress_line(job: dict[str, Any], info: dict[str, Any]) -> str:
    """One line of a model's progress, e.g. "[resnet20] training: epoch 4 of 8, 41 s, about
    68 s left" or "[resnet20] surface: 120 of 289 points, 30 s, about 42 s left"."""
    n, total = int(info["n"]), int(info["total"])
    timing = f"{_seconds(info['elapsed'])}" + ("" if n >= total else
                                               f", about {_seconds(info['left'])} left")
    if info["stage"] == "train":
        epochs = int(job["epochs"])
        epoch = min(epochs, n * epochs // total + 1)  # the one being trained
        return f"[{job['name']}] training: epoch {epoch} of {epochs}, {timing}"
    if info["stage"] == "surface":
        return f"[{job['name']}] surface: {n} of {total} points, {timing}"
    return f"[{job['name']}] {info['stage']}: {n} of {total}, {timing}"


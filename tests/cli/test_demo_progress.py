"""The demo's progress: each model's tqdm bars become lines (its processes share a terminal),
with the epoch or the points done and the time left."""

from __future__ import annotations

from tqdm import tqdm

from cli.demo_progress import ProgressLines, progress_line

JOB = {"name": "resnet20", "epochs": 8}


def _bar_messages(stage: str, total: int, every: float) -> list:
    sent: list = []
    stream = ProgressLines(sent.append, every=every)
    with tqdm(total=total, desc=stage, unit="pt", file=stream, mininterval=0) as bar:
        for _ in range(total):
            bar.update(1)
    stream.write("a warning that is not a bar\n")
    return sent


def test_bars_become_lines_at_most_every_few_seconds_and_at_the_end():
    sent = _bar_messages("surface", 40, every=3600.0)
    progress = [m for kind, m in sent if kind == "progress"]
    assert [(m["n"], m["total"]) for m in progress] == [(40, 40)]  # throttled: only the end
    assert ("stderr", "a warning that is not a bar") in sent
    every = [m for kind, m in _bar_messages("surface", 5, every=0.0) if kind == "progress"]
    assert [m["n"] for m in every] == [1, 2, 3, 4, 5]  # each count once, never repeated


def test_lines_say_the_epoch_or_the_points_and_the_time_left():
    train = {"stage": "train", "n": 150, "total": 400, "elapsed": "00:41", "left": "01:08"}
    assert progress_line(JOB, train) == "[resnet20] training: epoch 4 of 8, 41 s, about 68 s left"
    surface = {"stage": "surface", "n": 289, "total": 289, "elapsed": "01:02:03", "left": "00:00"}
    assert progress_line(JOB, surface) == "[resnet20] surface: 289 of 289 points, 3723 s"
    unknown = {"stage": "surface", "n": 1, "total": 289, "elapsed": "00:01", "left": "?"}
    assert progress_line(JOB, unknown).endswith("1 of 289 points, 1 s, about ? left")

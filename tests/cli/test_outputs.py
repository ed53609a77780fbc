"""The one cleanup rule of a failed command: the folders it created go, with what it wrote there,
unless they hold what a --resume continues."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from cli import options
from cli.outputs import output_folder, prepare_output


def _failing(write: str, *, keep: str | None = None, resumable: bool = False) -> click.Command:
    @click.command()
    @click.argument("out", type=click.Path())
    @options.errors_as_click
    def cmd(out: str) -> None:
        if resumable:
            prepare_output(Path(out) / write, resume=False)
        with output_folder(out, keep=keep) as folder:
            (folder / write).parent.mkdir(parents=True, exist_ok=True)
            (folder / write).write_text("partial")
            raise ValueError("the run failed half way")

    return cmd


def test_a_failed_command_removes_the_folders_it_created_with_their_contents(tmp_path: Path):
    out = tmp_path / "new" / "deeper"
    result = CliRunner().invoke(_failing("picture.png"), [str(out)])
    assert result.exit_code == 1 and "the run failed half way" in result.output
    assert not (tmp_path / "new").exists()


def test_what_a_resume_continues_stays(tmp_path: Path):
    out = tmp_path / "new"
    CliRunner().invoke(_failing("ck/epoch_1.pt", keep="**/*.pt"), [str(out)])
    assert (out / "ck" / "epoch_1.pt").read_text() == "partial"
    CliRunner().invoke(_failing("surface.h5", resumable=True), [str(tmp_path / "other")])
    assert (tmp_path / "other" / "surface.h5").exists()  # kept by prepare_output's claim


def test_a_folder_that_existed_before_is_never_removed(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    CliRunner().invoke(_failing("picture.png"), [str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "the user's"

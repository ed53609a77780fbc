"""CI and `make test`: the path guard `.ci/check_paths`, and where chromium is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUARD = ROOT / ".ci" / "check_paths"
SHARED = "../" + "shared"  # in two pieces, so that this file does not trip the guard
WORK = "/wo" + "rk/"


def _repo(tmp_path: Path, files: dict[str, str | bytes],
          untracked: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "checkouts" / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", *files], check=True)
    for name, text in (untracked or {}).items():
        (repo / name).write_text(text)
    return repo


def _guard(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GUARD), str(repo)], capture_output=True, text=True, timeout=60)


def test_a_clean_repository_passes(tmp_path: Path):
    repo = _repo(tmp_path, {"README.md": "files are in tests/fixtures/reference/\n",
                            "a/b.py": "PATH = '../data'  # inside the repository\n"},
                 untracked={"notes.txt": f"see {SHARED}/NOTES.md\n"})  # not tracked: not read
    run = _guard(repo)
    assert run.returncode == 0, run.stderr
    assert "no tracked file mentions a path outside" in run.stdout


@pytest.mark.parametrize("line", [f"read {SHARED}/fixtures/reference/surf.h5",
                                  f"measured in {WORK}shared/NOTES.md",
                                  "{parent}/other-checkout/file.txt"])
def test_a_path_outside_the_repository_fails_and_is_named(tmp_path: Path, line: str):
    parent = tmp_path / "checkouts"
    repo = _repo(tmp_path, {"ok.md": "nothing here\n",
                            "docs/page.md": "intro\n" + line.format(parent=parent) + "\n"})
    run = _guard(repo)
    assert run.returncode == 1
    assert f"docs/page.md:2:{line.format(parent=parent)}" in run.stderr
    assert "ok.md" not in run.stderr


def test_binary_files_are_not_read(tmp_path: Path):
    blob = b"\x89HDF\r\n\x1a\n\x00\x00" + f"{SHARED}/x".encode() + b"\x00" * 16
    repo = _repo(tmp_path, {"tests/fixtures/surf.h5": blob, "docs/p.png": blob,
                            "model.t7": blob})
    run = _guard(repo)
    assert run.returncode == 0, run.stderr


def test_this_repository_names_no_path_outside_it():
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip(f"{ROOT} is not a git checkout: the guard reads git's list of tracked files")
    run = _guard(ROOT)
    assert run.returncode == 0, run.stderr


def _fake_bin(folder: Path, uid: int, with_apt: bool) -> Path:
    """A PATH with only `id` (answering `uid`) and, if asked, an `apt-get` that logs its calls."""
    folder.mkdir()
    (folder / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    if with_apt:
        (folder / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {folder / "apt.log"}\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def _fake_venv(tmp_path: Path) -> Path:
    """A folder that passes for a venv (it has bin/python), so that make makes none."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "bin" / "python").touch()
    return venv


@pytest.mark.parametrize("uid, with_apt", [(1000, True), (0, False)])
def test_make_test_leaves_chromium_alone_where_it_cannot_install_it(tmp_path, uid, with_apt):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    path = _fake_bin(tmp_path / "bin", uid, with_apt)
    run = subprocess.run([make, "-s", "-C", str(ROOT), "install-test", "PIP=:",
                          f"VENV={_fake_venv(tmp_path)}"],
                         env={"PATH": str(path), "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "the browser test will skip" in run.stdout
    assert "apt-get install chromium" in run.stdout and "LANDSCAPE_CHROMIUM" in run.stdout
    assert not (path / "apt.log").exists()


def test_make_test_installs_chromium_as_root_with_apt_get(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    path = _fake_bin(tmp_path / "bin", 0, True)
    run = subprocess.run([make, "-s", "-C", str(ROOT), "install-test", "PIP=:",
                          f"VENV={_fake_venv(tmp_path)}"],
                         env={"PATH": str(path), "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (path / "apt.log").read_text().splitlines() == ["update -qq",
                                                           "install -y -qq chromium"]
    chosen = subprocess.run([make, "-s", "-C", str(ROOT), "install-test", "PIP=:",
                          f"VENV={_fake_venv(tmp_path)}"],
                            env={"PATH": str(path), "HOME": str(tmp_path),
                                 "LANDSCAPE_CHROMIUM": str(tmp_path / "chrome")},
                            capture_output=True, text=True, timeout=60)
    assert chosen.returncode == 0 and "chromium" not in chosen.stdout
    assert len((path / "apt.log").read_text().splitlines()) == 2  # not called again


# ---------------------------------------------------------------- the venv of the two commands


def _make(tmp_path: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run([make, "-C", str(tmp_path), "-f", str(ROOT / "Makefile"), *args],
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_without_an_active_venv_make_makes_and_uses_its_own(tmp_path):
    run = _make(tmp_path, "-n", "demo", "PYTHON=/usr/bin/python3")  # -n: say, do not run
    assert run.returncode == 0, run.stderr
    lines = run.stdout
    assert '/usr/bin/python3 -m venv ".venv"' in lines
    assert ".venv/bin/python -m pip install torch==2.14.1 torchvision==0.29.1" in lines
    assert ".venv/bin/landscape demo -o demo-out" in lines
    assert " -q " not in lines  # pip shows its progress
    assert "5.7 GB in all" in lines  # the size, said before the download starts
    test = _make(tmp_path, "-n", "test")
    assert ".venv/bin/python -m pytest -q" in test.stdout


def test_an_active_venv_is_used_as_it_is(tmp_path):
    venv = _fake_venv(tmp_path)
    run = _make(tmp_path, "-n", "test", env={"VIRTUAL_ENV": str(venv)})
    assert run.returncode == 0, run.stderr
    assert "-m venv" not in run.stdout
    assert f'{venv}/bin/python -m pip install -e ".[test,hf]"' in run.stdout
    assert f"{venv}/bin/python -m pytest -q" in run.stdout


@pytest.mark.parametrize("existed", [False, True])
def test_a_venv_that_cannot_be_made_is_said_and_cleared(tmp_path, existed):
    """Debian without python3-venv: `python3 -m venv` leaves a folder without pip and fails.
    The half-made folder goes (a folder that was there before stays) and the fix is named."""
    broken = tmp_path / "python3"
    broken.write_text('#!/bin/sh\nmkdir -p "$3/bin"\necho "ensurepip is not available" >&2\n'
                      "exit 1\n")
    broken.chmod(0o755)
    if existed:
        (tmp_path / ".venv").mkdir()
        (tmp_path / ".venv" / "mine.txt").write_text("kept")
    run = _make(tmp_path, "install", f"PYTHON={broken}")
    assert run.returncode != 0
    assert "apt-get install python3-venv" in run.stderr
    assert "activate a venv of your own" in run.stderr
    assert (tmp_path / ".venv").exists() == existed
    if existed:
        assert (tmp_path / ".venv" / "mine.txt").read_text() == "kept"

"""The tree says where things go: imports run one way, modules stay small and say what they are.

Read from the source (every import, those inside functions included), so that a new module that
breaks the direction fails here rather than in a reader's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("landscape", "models", "cli", "toolkit")
MAX_LINES = 600


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, resolved to absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _reaches(path: Path, prefix: str) -> list[str]:
    return sorted(m for m in _imports(path) if m == prefix or m.startswith(prefix + "."))


RULES = [
    # (modules under, may not import)
    ("landscape/engine", "landscape.analysis"),
    ("landscape/engine", "landscape.pictures"),
    ("landscape/analysis", "landscape.pictures"),
    ("landscape", "models"),
    ("landscape", "cli"),
    ("landscape", "click"),
    ("models", "landscape"),
    ("models", "cli"),
    ("toolkit", "landscape"),
    ("toolkit", "models"),
]


@pytest.mark.parametrize(("under", "banned"), RULES, ids=[f"{u}-x-{b}" for u, b in RULES])
def test_imports_run_one_way(under: str, banned: str):
    offenders = {str(p.relative_to(ROOT)): _reaches(p, banned)
                 for p in (ROOT / under).rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}, f"{under} must not import {banned}"


def test_the_zoo_does_not_import_the_studies():
    zoo = [p for p in (ROOT / "models").rglob("*.py") if "studies" not in p.parts]
    assert not {str(p): _reaches(p, "models.studies") for p in zoo if _reaches(p, "models.studies")}


def test_only_the_store_imports_h5py_and_only_pictures_draw():
    for path in (ROOT / "landscape").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel != "landscape/engine/store.py":
            assert not _reaches(path, "h5py"), rel
        if not rel.startswith("landscape/pictures/"):
            assert not _reaches(path, "matplotlib") and not _reaches(path, "plotly"), rel


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_is_small_and_opens_with_what_it_is_for(path: Path):
    text = path.read_text(encoding="utf-8")
    assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT)} opens with no docstring"
    if path.is_relative_to(ROOT / "landscape"):
        assert text.count("\n") <= MAX_LINES, \
            f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines; split it by concern"


def test_the_public_faces_still_import():
    import landscape
    from landscape import Axis, Grid, compute_surface, metrics, plot, viewer  # noqa: F401

    assert plot.__name__ == "landscape.pictures.plot"
    assert metrics.__name__ == "landscape.analysis.metrics"
    assert {"plot", "viewer", "metrics"} <= set(dir(landscape))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = landscape.nothing

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_cli_reference_page_matches_the_commands(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    spec = importlib.util.spec_from_file_location("make_ref", DOCS / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert module.render() == committed, "run: python docs/make_cli_reference.py"

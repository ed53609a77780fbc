"""A user's import path is found in the current folder, as under `python -m`."""

from __future__ import annotations

import sys

import pytest

from models import create_model
from models.imports import import_object, is_import_path


def test_a_factory_next_to_the_shell_is_found(tmp_path, monkeypatch):
    name = f"nets_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(
        "from torch import nn\n\ndef small(num_classes=3):\n    return nn.Linear(4, num_classes)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        net = create_model(f"{name}:small")
        assert net.out_features == 3 and net.arch["name"] == f"{name}:small"
        assert callable(import_object(f"{name}:small", "data"))
    finally:
        sys.modules.pop(name, None)


def test_what_is_an_import_path():
    assert is_import_path("pkg.mod:fn") and not is_import_path("mse")
    assert not is_import_path("torchvision:resnet18") and not is_import_path(":x")
    with pytest.raises(ValueError, match="cannot import 'no_such_module_here'"):
        import_object("no_such_module_here:f", "loss")

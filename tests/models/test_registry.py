"""The registry: names, twins, wide variants, torchvision and user factories, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models import create_model, list_models, register_model


def tiny_factory(num_classes: int = 3, hidden: int = 4) -> nn.Module:
    """A user's own model, reached as `tests.models.test_registry:tiny_factory`."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


def not_a_model() -> str:
    return "nope"


def test_list_models_has_the_zoo_and_twins() -> None:
    names = list_models()
    for depth in (18, 34, 50, 101, 152, 20, 32, 44, 56, 110):
        assert f"resnet{depth}" in names and f"resnet{depth}-noskip" in names
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", ["resnet20", "resnet56-noskip", "wrn20-2"])
def test_cifar_names_build_and_run(name: str) -> None:
    net = create_model(name).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_noskip_suffix_equals_skip_false() -> None:
    a = create_model("resnet56-noskip", seed=1)
    b = create_model("resnet56", skip=False, seed=1)
    assert a.arch == {"name": "resnet56-noskip", "kwargs": {"skip": False}}
    assert b.arch == {"name": "resnet56", "kwargs": {"skip": False}}
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ValueError, match="no shortcuts"):
        create_model("resnet56-noskip", skip=True)


def test_arch_records_kwargs_and_rebuilds() -> None:
    net = create_model("resnet20", width=0.5, num_classes=4)
    assert net.arch == {"name": "resnet20",
                        "kwargs": {"width": 0.5, "num_classes": 4, "skip": True}}
    again = create_model(net.arch["name"], **net.arch["kwargs"])
    assert [p.shape for p in again.parameters()] == [p.shape for p in net.parameters()]


def test_seed_makes_init_deterministic_and_leaves_global_rng() -> None:
    state = torch.random.get_rng_state()
    a, b = create_model("resnet20", seed=3), create_model("resnet20", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, create_model("resnet20", seed=4).conv1.weight)


def test_torchvision_prefix() -> None:
    net = create_model("torchvision:resnet18", num_classes=5)
    assert net.fc.out_features == 5
    assert net.arch == {"name": "torchvision:resnet18", "kwargs": {"num_classes": 5}}
    with pytest.raises(ValueError, match="unknown torchvision classification model"):
        create_model("torchvision:resnet5")
    with pytest.raises(ValueError, match="no skip switch"):
        create_model("torchvision:resnet18", skip=False)


def test_user_factory_by_import_path() -> None:
    net = create_model("tests.models.test_registry:tiny_factory", num_classes=2)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 2)
    assert net.arch["name"] == "tests.models.test_registry:tiny_factory"
    with pytest.raises(ValueError, match="no callable"):
        create_model("tests.models.test_registry:missing")
    with pytest.raises(ValueError, match="cannot import"):
        create_model("no_such_package_xyz:factory")
    with pytest.raises(TypeError, match="not an nn.Module"):
        create_model("tests.models.test_registry:not_a_model")


@pytest.mark.parametrize("name", ["resnet5", "resnet56-noskip-noskip", "wrn", ""])
def test_unknown_name_lists_what_exists(name: str) -> None:
    with pytest.raises(ValueError) as err:
        create_model(name)
    if name:
        for listed in ("resnet20", "resnet56", "resnet152", "-noskip", "torchvision:<name>",
                       "package.module:factory", "wrn56-2"):
            assert listed in str(err.value)


def test_register_model_rejects_duplicates_and_bad_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model(lambda **kw: nn.Identity(), name="resnet20")
    with pytest.raises(ValueError, match="-noskip"):
        register_model(lambda **kw: nn.Identity(), name="mine-noskip")
    with pytest.raises(ValueError, match="':'"):
        register_model(lambda **kw: nn.Identity(), name="a:b")
    assert "mine-noskip" not in models.list_models()


@pytest.mark.parametrize(("name", "kwargs"), [
    ("resnet20", {"width": 0.25, "num_classes": 4}),
    ("resnet56-noskip", {"width": 0.125}),
    ("wrn20-2", {"zero_init_residual": False}),
    ("resnet18", {"num_classes": 3}),
    ("torchvision:resnet18", {"num_classes": 5, "replace_stride_with_dilation": [False] * 3}),
])
def test_rebuild_model_accepts_what_create_model_records(name: str, kwargs: dict) -> None:
    net = create_model(name, **kwargs)
    again = models.rebuild_model(net.arch["name"], net.arch["kwargs"])
    assert again.arch == net.arch
    assert [p.shape for p in again.parameters()] == [p.shape for p in net.parameters()]


def test_rebuild_model_never_imports_a_recorded_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, kwargs in [("os:system", {"command": "touch pwned"}),
                         ("builtins:eval", {"source": "open('pwned', 'w')"}),
                         ("this:x", {})]:  # importing `this` prints the Zen of Python
        with pytest.raises(ValueError, match=r"^arch: the model .* is an import path"):
            models.rebuild_model(name, kwargs)
    assert not (tmp_path / "pwned").exists()
    import sys

    assert "this" not in sys.modules
    # the user names it: imported, and the recorded keywords still checked
    net = models.rebuild_model("tests.models.test_registry:tiny_factory", {"num_classes": 2},
                               allow_import=True)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 2)
    with pytest.raises(ValueError, match=r"arch_kwargs\['hidden'\] = 'x'.*hidden: int"):
        models.rebuild_model("tests.models.test_registry:tiny_factory", {"hidden": "x"},
                             allow_import=True)


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("resnet20", {"command": "touch pwned"}, r"takes no keyword 'command' \(it takes: norm"),
    ("resnet20", {"width": "touch pwned"}, r"\['width'\] = 'touch pwned'.*width: float"),
    ("resnet20", {"num_classes": "10"}, r"num_classes: int"),
    ("resnet20", {"num_classes": 2.5}, r"num_classes: int"),
    ("resnet20", {"skip": "yes"}, r"skip: bool"),
    ("resnet20", {"norm_layer": "os.system"}, r"norm_layer: a Python object .* or None"),
    ("resnet20-noskip", {"skip": True}, r"no shortcuts"),
    ("wrn20-2", {"depth": 110}, r"takes no keyword 'depth'"),
    ("torchvision:resnet18", {"weights": "DEFAULT"}, r"\['weights'\] = 'DEFAULT'.*downloaded"),
    ("torchvision:resnet18", {"progress": True}, r"takes no keyword 'progress'"),
    ("torchvision:resnet18", {"norm_layer": "x"}, r"norm_layer"),
    ("torchvision:os", {}, r"unknown torchvision classification model 'os'"),
    ("wrn600002-1", {}, r"^arch: 'wrn600002-1' is deeper than the 2000 layers"),
    ("resnet20\x1b[2J", {}, r"unknown model 'resnet20\\x1b\[2J'"),
    (7, {}, r"^arch = 7 is not a model name"),
    ("resnet20", [("width", 1)], r"^arch_kwargs = .* is not a dict"),
    ("resnet20", {1: 2}, r"^arch_kwargs = .* is not a dict"),
])
def test_rebuild_model_refuses_what_a_file_may_not_choose(name, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message) as err:
        models.rebuild_model(name, kwargs)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)

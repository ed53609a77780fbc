"""The model zoo: a registry of ResNet builders, torchvision models and user factories.

    >>> from models import create_model, list_models
    >>> net = create_model("resnet56-noskip")        # the plain twin of ResNet-56
    >>> net.arch
    {'name': 'resnet56-noskip', 'kwargs': {'skip': False}}

Names:
    resnet18/34/50/101/152      ImageNet ResNets (num_classes=1000), `models/resnet.py`
    resnet20/32/44/56/110       CIFAR ResNets (num_classes=10), `models/cifar.py`
    <name>-noskip               the same with `skip=False` (no shortcuts at all)
    wrn<depth>-<k>              CIFAR ResNet of depth 6n+2 with width multiplier k, e.g. wrn56-2
    torchvision:<name>          any torchvision classification model, weights=None
    package.module:factory      a user's own model: `factory(**kwargs)` returns an nn.Module

Every model built here carries `model.arch = {"name": ..., "kwargs": {...}}`, which
`models.checkpoint.save_checkpoint` stores so a checkpoint can be rebuilt without naming it again.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from . import cifar, resnet

__all__ = ["NOSKIP_SUFFIX", "create_model", "list_models", "register_model"]

NOSKIP_SUFFIX = "-noskip"
_WIDE = re.compile(r"^wrn(\d+)-(\d+(?:\.\d+)?)$")

F = TypeVar("F", bound=Callable[..., nn.Module])

# name -> builder; written only by `register_model`, at import time.
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: F | None = None, *, name: str | None = None) -> Any:
    """Register a model builder under its function name (or `name`); usable as a decorator.

    The builder must accept `skip`, `zero_init_residual` and `num_classes` keywords to be a full
    member of the zoo (its `-noskip` twin passes `skip=False`).

    Raises:
        ValueError: the name is taken, or it contains ':' or ends with '-noskip'.
    """

    def decorate(builder: F) -> F:
        key = name or builder.__name__
        if ":" in key or key.endswith(NOSKIP_SUFFIX) or not key:
            raise ValueError(f"model name must be non-empty, without ':' and not end with "
                             f"{NOSKIP_SUFFIX!r}, got {key!r}")
        if key in _REGISTRY:
            raise ValueError(f"model name {key!r} is already registered")
        _REGISTRY[key] = builder
        return builder

    return decorate if fn is None else decorate(fn)


for _builder in (resnet.resnet18, resnet.resnet34, resnet.resnet50, resnet.resnet101,
                 resnet.resnet152, cifar.resnet20, cifar.resnet32, cifar.resnet44,
                 cifar.resnet56, cifar.resnet110):
    register_model(_builder)


def list_models() -> list[str]:
    """Every registered name followed by its `-noskip` twin, in registration order.

    Also accepted by `create_model`, but not listed: `wrn<depth>-<k>`, `torchvision:<name>` and
    `package.module:factory`.
    """
    return [n for key in _REGISTRY for n in (key, key + NOSKIP_SUFFIX)]


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"unknown model {name!r}; available: {', '.join(_REGISTRY)} (each also as "
        f"<name>{NOSKIP_SUFFIX}), wrn<depth>-<k> (e.g. wrn56-2), torchvision:<name>, "
        f"package.module:factory")


def _resolve(name: str, kwargs: dict[str, Any]) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    """The builder for `name` and the full keyword arguments to call it with."""
    if ":" in name:
        return _resolve_import(name, kwargs)
    base, noskip = name, name.endswith(NOSKIP_SUFFIX)
    if noskip:
        base = name[: -len(NOSKIP_SUFFIX)]
        if kwargs.get("skip", False):
            raise ValueError(f"model {name!r} has no shortcuts; it cannot take skip=True")
    kwargs = {**kwargs, "skip": bool(kwargs.get("skip", True)) and not noskip}
    if base in _REGISTRY:
        return _REGISTRY[base], kwargs
    wide = _WIDE.match(base)
    if wide:
        depth, k = int(wide.group(1)), float(wide.group(2))
        if "width" in kwargs and float(kwargs["width"]) != k:
            raise ValueError(f"model {name!r} has width {k:g}; it cannot take "
                             f"width={kwargs['width']!r}")
        kwargs["width"] = int(k) if k.is_integer() else k
        return (lambda **kw: cifar.cifar_resnet(depth, **kw)), kwargs
    raise _unknown(name)


def _resolve_import(name: str, kwargs: dict[str, Any]
                    ) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise _unknown(name)
    if module_name == "torchvision":
        import torchvision

        available = torchvision.models.list_models(module=torchvision.models)
        if attr not in available:
            raise ValueError(f"unknown torchvision classification model {attr!r}; available: "
                             f"{', '.join(available)}")
        if "weights" in kwargs and kwargs["weights"] is not None:
            raise ValueError("torchvision models are built with weights=None here (nothing is "
                             "downloaded); load weights with models.checkpoint.load_checkpoint")
        if not kwargs.get("skip", True):
            raise ValueError(f"{name!r} has no skip switch; use our resnets (e.g. resnet18"
                             f"{NOSKIP_SUFFIX}) for plain twins")
        kwargs = {k: v for k, v in kwargs.items() if k not in ("skip", "weights")}
        return (lambda **kw: torchvision.models.get_model(attr, weights=None, **kw)), kwargs
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import {module_name!r} for model {name!r}: {err}") from err
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"module {module_name!r} has no callable {attr!r} (model {name!r})")
    return factory, dict(kwargs)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name, with fresh (random) weights; nothing is read from disk.

    Args:
        name: a name from `list_models()`, `wrn<depth>-<k>`, `torchvision:<name>` or
            `package.module:factory` (see the module docstring).
        **kwargs: passed to the builder: `num_classes`, `skip`, `zero_init_residual`, `width`
            (CIFAR nets), ... One keyword is taken here: `seed` (int) initialises the weights
            from that seed, leaving the global RNG as it was.

    Returns:
        The model, in training mode, with `model.arch = {"name": name, "kwargs": kwargs}` (kwargs
        complete enough to rebuild it, including `skip` for the zoo's own models).

    Raises:
        ValueError: unknown name (the message lists what exists) or conflicting kwargs.
        TypeError: a factory that does not return an `nn.Module`, or an unexpected keyword.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    seed = kwargs.pop("seed", None)
    builder, full_kwargs = _resolve(name, kwargs)
    if seed is None:
        model = builder(**full_kwargs)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = builder(**full_kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory for {name!r} returned {type(model).__name__}, "
                        f"not an nn.Module")
    model.arch = {"name": name, "kwargs": full_kwargs}
    return model

"""The model zoo: a registry of ResNet builders, torchvision models and user factories.

    >>> from models import create_model, list_models
    >>> net = create_model("resnet56-noskip")        # the plain twin of ResNet-56
    >>> net.arch
    {'name': 'resnet56-noskip', 'kwargs': {'skip': False}}

Names:
    resnet18/34/50/101/152      ImageNet ResNets (num_classes=1000), `models/resnet.py`
    resnet20/32/44/56/110       CIFAR ResNets (num_classes=10), `models/cifar.py`
    gpt-mini                    a small pre-LN causal transformer over tokens, `models/gpt.py`
    <name>-noskip               the same with `skip=False` (no shortcuts at all)
    wrn<depth>-<k>              CIFAR ResNet of depth 6n+2 with width multiplier k, e.g. wrn56-2
    torchvision:<name>          any torchvision classification model, weights=None
    package.module:factory      a user's own model: `factory(**kwargs)` returns an nn.Module

Every model built here carries `model.arch = {"name": ..., "kwargs": {...}}`, which
`models.checkpoint.save_checkpoint` stores so a checkpoint can be rebuilt without naming it again.
A name read back from a file is rebuilt by `rebuild_model`, which accepts only the zoo's own
names (never an import path: that would let a file choose code to run) and only keyword
arguments that fit the builder's signature.
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from . import cifar, gpt, resnet
from .imports import import_object

__all__ = ["NOSKIP_SUFFIX", "check_model_memory", "check_record", "create_model", "list_models",
           "rebuild_model", "register_model"]

NOSKIP_SUFFIX = "-noskip"
_WIDE = re.compile(r"^wrn(\d+)-(\d+(?:\.\d+)?)$")
_DEEPEST_RECORDED = 2000  # He et al.'s deepest CIFAR ResNet has 1202 layers

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
register_model(gpt.gpt_mini, name="gpt-mini")


def list_models() -> list[str]:
    """Every registered name followed by its `-noskip` twin, in registration order.

    Also accepted by `create_model`, but not listed: `wrn<depth>-<k>`, `torchvision:<name>` and
    `package.module:factory`.
    """
    return [n for key in _REGISTRY for n in (key, key + NOSKIP_SUFFIX)]


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"unknown model {_shown(name)}; available: {', '.join(_REGISTRY)} (each also as "
        f"<name>{NOSKIP_SUFFIX}), wrn<depth>-<k> (e.g. wrn56-2), torchvision:<name>, "
        f"package.module:factory")


def _shown(value: Any, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters: one line, control characters escaped."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _resolve(name: str, kwargs: dict[str, Any], *, allow_import: bool = True,
             check: bool = False) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    """The builder for `name` and the full keyword arguments to call it with.

    With `allow_import=False` an import path is refused before anything is imported; with
    `check=True` the keyword arguments must fit the builder's signature (`_check_kwargs`).
    """
    if ":" in name:
        return _resolve_path(name, kwargs, allow_import=allow_import, check=check)
    base, noskip = name, name.endswith(NOSKIP_SUFFIX)
    if noskip:
        base = name[: -len(NOSKIP_SUFFIX)]
    wide = None if base in _REGISTRY else _WIDE.match(base)
    if base not in _REGISTRY and not wide:
        raise _unknown(name)
    if check:
        if base in _REGISTRY:
            _check_kwargs(name, _REGISTRY[base], kwargs)
        else:
            _check_kwargs(name, cifar.cifar_resnet, kwargs, supplied=("depth",))
            if int(wide.group(1)) > _DEEPEST_RECORDED:  # building it alone would take minutes
                raise ValueError(f"arch: {name!r} is deeper than the {_DEEPEST_RECORDED} layers "
                                 f"a file may record")
    if noskip and kwargs.get("skip", False):
        raise ValueError(f"model {name!r} has no shortcuts; it cannot take skip=True")
    kwargs = {**kwargs, "skip": bool(kwargs.get("skip", True)) and not noskip}
    if wide is None:
        return _REGISTRY[base], kwargs
    depth, k = int(wide.group(1)), float(wide.group(2))
    if "width" in kwargs and float(kwargs["width"]) != k:
        raise ValueError(f"model {name!r} has width {k:g}; it cannot take "
                         f"width={kwargs['width']!r}")
    kwargs["width"] = int(k) if k.is_integer() else k
    return (lambda **kw: cifar.cifar_resnet(depth, **kw)), kwargs


def _resolve_path(name: str, kwargs: dict[str, Any], *, allow_import: bool, check: bool
                  ) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    """`torchvision:<name>` or `package.module:factory`."""
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise _unknown(name)
    if module_name == "torchvision":
        import torchvision

        available = torchvision.models.list_models(module=torchvision.models)
        if attr not in available:
            raise ValueError(f"unknown torchvision classification model {_shown(attr)}; "
                             f"available: {', '.join(available)}")
        if kwargs.get("weights") is not None:
            field = "arch_kwargs['weights'] = " if check else "weights="
            raise ValueError(f"{field}{_shown(kwargs['weights'])}: torchvision models are "
                             f"built with weights=None here (nothing is downloaded); load "
                             f"weights with models.checkpoint.load_checkpoint")
        if not kwargs.get("skip", True):
            raise ValueError(f"{name!r} has no skip switch; use our resnets (e.g. resnet18"
                             f"{NOSKIP_SUFFIX}) for plain twins")
        kwargs = {k: v for k, v in kwargs.items() if k not in ("skip", "weights")}
        builder = torchvision.models.get_model_builder(attr)
        if check:
            _check_kwargs(name, builder, kwargs, supplied=("weights", "progress"))
        return (lambda **kw: builder(weights=None, **kw)), kwargs
    if not allow_import:
        raise ValueError(f"the model {_shown(name)} is an import path: building it would "
                         f"import and run code that the file chose")
    factory = import_object(name, "model")
    if not callable(factory):
        raise ValueError(f"module {module_name!r} has no callable {attr!r} (model {name!r})")
    if check:
        _check_kwargs(name, factory, kwargs)
    return factory, dict(kwargs)


# ---------------------------------------------------------------- recorded keyword arguments

_PLAIN = (type(None), bool, int, float, str)


def _parameters(builder: Callable[..., Any], supplied: tuple[str, ...] = ()
                ) -> dict[str, tuple[Any, Any]]:
    """name -> (type hint or None, default) of the keywords `builder` takes.

    A builder that passes `**kwargs` on to the class it returns (ours and torchvision's do)
    takes that class's keywords as well, less the positional ones the builder fills in itself.
    """
    found: dict[str, tuple[Any, Any]] = {}
    targets: list[tuple[Callable[..., Any], bool]] = [(builder, False)]
    while targets:
        target, from_class = targets.pop()
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            continue
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to defaults
            hints = {}
        for param in signature.parameters.values():
            if param.kind is param.VAR_KEYWORD:
                returned = hints.get("return")
                if isinstance(returned, type) and not from_class:
                    targets.append((returned.__init__, True))
                continue
            if (param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY)
                    or param.name in ("self", *supplied) or param.name in found
                    or (from_class and param.default is param.empty
                        and param.kind is param.POSITIONAL_OR_KEYWORD)):
                continue
            default = None if param.default is param.empty else param.default
            found[param.name] = (hints.get(param.name), default)
    return found


def _fits(value: Any, hint: Any) -> bool:
    """Whether plain data `value` is of type `hint`; anything not plain data never fits, and
    neither does a type that plain data cannot stand for (callables, classes, modules)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return _is_plain(value)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is None or hint is type(None):
        return value is None
    if origin is typing.Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint in (list, tuple):
        return isinstance(value, (list, tuple)) and all(map(_is_plain, value))
    if hint is dict:
        return _is_plain(value) and isinstance(value, dict)
    if origin in (list, tuple, collections.abc.Sequence) and isinstance(value, (list, tuple)):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(map(_fits, value, args))
        return all(_fits(v, args[0]) for v in value) if args else all(map(_is_plain, value))
    if origin in (dict, collections.abc.Mapping) and isinstance(value, dict):
        key, item = args or (str, Any)
        return all(_fits(k, key) and _fits(v, item) for k, v in value.items())
    return False


def _is_plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _type_name(hint: Any) -> str:
    """`hint` in words: 'float', 'int or None', or what a file cannot give."""
    if typing.get_origin(hint) is typing.Union or isinstance(hint, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if hint in (bool, int, float, str, list, tuple, dict) or hint is Any:
        return "plain data" if hint is Any else hint.__name__
    if typing.get_origin(hint) in (list, tuple, dict, collections.abc.Sequence,
                                   collections.abc.Mapping, typing.Literal):
        return str(hint).replace("typing.", "").replace("collections.abc.", "")
    return "a Python object (not plain data)"


def _check_kwargs(name: str, builder: Callable[..., Any], kwargs: Mapping[str, Any],
                  supplied: tuple[str, ...] = ()) -> None:
    """Raise ValueError unless every keyword is one `builder` takes, with a value of its type.

    Values are plain data of the annotated type (no callables, no strings where numbers go);
    a keyword without annotation must match the type of its default.
    """
    accepted = _parameters(builder, supplied)
    for key, value in kwargs.items():
        field = f"arch_kwargs[{_shown(key)}]"
        if key not in accepted:
            known = ", ".join(sorted(accepted)) or "none"
            raise ValueError(f"{field}: {name!r} takes no keyword {_shown(key)} (it takes: "
                             f"{known})")
        hint, default = accepted[key]
        if hint is None:  # no annotation: the type of the default, or any plain data
            hint = (Any if default is None else
                    float if type(default) in (int, float) else type(default))
        fits = _fits(value, hint) or (value is None and default is None)  # `x: int = None`
        if not fits:
            raise ValueError(f"{field} = {_shown(value)} does not fit {name!r}, which takes "
                             f"{key}: {_type_name(hint)}")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name, with fresh (random) weights; nothing is read from disk.

    An import path `package.module:factory` imports that module and calls the factory: it runs
    that code, so pass only names you typed or trust. A name read from a file goes through
    `rebuild_model` instead.

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
    return _build(name, builder, full_kwargs, seed)


def rebuild_model(name: Any, kwargs: Any, *, allow_import: bool = False) -> nn.Module:
    """Build the architecture a file records (a checkpoint's "arch" and "arch_kwargs").

    A file may only name the zoo's own models: the names of `list_models()`, `wrn<depth>-<k>`
    and `torchvision:<name>` from torchvision's classification models. An import path
    `package.module:factory` would import and run code the file chose, so it is refused unless
    `allow_import` (the user typed that very name). The keyword arguments must be plain data of
    the builder's own keywords and types: no callables, no strings where numbers go, no unknown
    keywords, no `weights` (nothing is downloaded).

    Args:
        name: the recorded model name.
        kwargs: the recorded keyword arguments (a dict).
        allow_import: the user named this import path, so it may be imported.

    Returns:
        The model, as `create_model(name, **kwargs)` builds it.

    Raises:
        ValueError: a name or keyword argument the file may not choose; the message names the
            field ("arch" or "arch_kwargs[...]").
    """
    builder, full_kwargs = _check_record(name, kwargs, allow_import=allow_import)
    return _build(name, builder, full_kwargs, None)


def check_record(name: Any, kwargs: Any) -> None:
    """Raise ValueError unless a file may record this architecture (see `rebuild_model`);
    nothing is imported or built."""
    _check_record(name, kwargs, allow_import=False)


def _check_record(name: Any, kwargs: Any, *, allow_import: bool
                  ) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    if not isinstance(name, str) or not name:
        raise ValueError(f"arch = {_shown(name)} is not a model name")
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"arch_kwargs = {_shown(kwargs)} is not a dict of keyword arguments")
    try:
        return _resolve(name, dict(kwargs), allow_import=allow_import, check=True)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith("arch") else f"arch: {message}") from None


def _build(name: str, builder: Callable[..., nn.Module], kwargs: dict[str, Any],
           seed: Any) -> nn.Module:
    if seed is None:
        model = builder(**kwargs)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = builder(**kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory for {name!r} returned {type(model).__name__}, "
                        f"not an nn.Module")
    model.arch = {"name": name, "kwargs": kwargs}
    return model


def check_model_memory(name: str, *, copies: int = 4, **kwargs: Any) -> None:
    """Refuse, before anything is allocated, a model whose weights in `copies` copies (training
    holds the weights, their gradients and the momentum) take more memory than is available.

    The model is built on the meta device, which allocates nothing. Sizes that overflow (a
    width of 1e9, 10**400 classes) are refused in words, not with torch's message.

    Raises:
        ValueError: what the model would take, what is available, and what to change.
    """
    from toolkit import available_memory

    try:
        with torch.device("meta"):
            shell = create_model(name, **kwargs)
    except (RuntimeError, OverflowError, TypeError, ValueError) as err:
        if isinstance(err, (TypeError, ValueError)) and "overflow" not in str(err).lower():
            raise
        shown = ", ".join(f"{k}={_shown(v, 40)}" for k, v in kwargs.items() if k != "seed")
        why = str(err).strip().splitlines()[0][:80] if str(err).strip() else type(err).__name__
        raise ValueError(f"{name!r} ({shown or 'its defaults'}) cannot be built: its tensor "
                         f"sizes overflow ({why}); use a smaller --width or --num-classes"
                         ) from None
    state = shell.state_dict()
    size = sum(t.numel() * t.element_size() for t in state.values())
    available = available_memory()
    if available is not None and size * copies > available:
        count = sum(t.numel() for t in state.values())
        raise ValueError(f"{name!r} has {count:,} weights ({size / 2**30:,.2f} GB); training "
                         f"holds about {copies} copies ({size * copies / 2**30:,.1f} GB), more "
                         f"than the {available / 2**30:,.1f} GB of memory available: use a "
                         f"smaller --width or --num-classes, or a smaller model")

"""Checkpoints: save a model with the metadata that rebuilds it; load many common formats safely.

Files are always read with `torch.load(..., weights_only=True)`: a pickle that would construct
arbitrary objects (and so could run code) is refused with a `ValueError`, never executed. Before
that, what a file would take in memory is checked against what there is: the unpacked records of
a zip checkpoint, the storages a legacy (non-zip) one declares (`models/legacy.py`).

Accepted on load:
    - our own files (`save_checkpoint`): `{"format": FORMAT, "state_dict": ..., "meta": ...}`
    - a bare state_dict `{name: Tensor}`
    - `{"state_dict": ...}` (also `model_state_dict`, `model`, `net`), other scalar entries kept as
      metadata, e.g. the 2018 reference code's `.t7` dicts `{"acc", "epoch", "state_dict"}`
    - keys prefixed `module.` (DataParallel / DistributedDataParallel) or `model.` (Lightning)
    - keys in another naming scheme listed in `KEY_MAPS` (torchvision ResNets: `downsample` is our
      `shortcut`). The reference code's CIFAR ResNets use our names already, no map needed.
    - a folder written by a Hugging Face causal LM's `save_pretrained` (safetensors only, never
      remote code; needs the `hf` extra): see `models/hf.py`.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from toolkit import available_memory
from toolkit import tensors_sha256 as state_dict_sha256

from .legacy import declared_storage_bytes

__all__ = [
    "FORMAT",
    "KEY_MAPS",
    "file_sha256",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "state_dict_sha256",
]

FORMAT = "loss-landscape-toolkit/checkpoint-v1"
_PREFIXES = ("module.", "model.")
_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net")
_COPIES = 4  # a command holds about this many copies of the weights (θ*, directions, a point)


def _rename(old: str, new: str) -> Callable[[str], str]:
    return lambda key: key.replace(old, new)


KEY_MAPS: dict[str, Callable[[str], str]] = {
    # torchvision.models.resnet* -> models.resnet.ResNet (projection shortcut is `downsample`)
    "torchvision-resnet": _rename(".downsample.", ".shortcut."),
    # models.resnet.ResNet -> torchvision.models.resnet* (load our weights into torchvision:NAME)
    "to-torchvision-resnet": _rename(".shortcut.", ".downsample."),
}
"""Key renamings tried, in order, when a state_dict's keys do not match the model's."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value: Any, where: str = "meta") -> Any:
    """`value` as plain Python data (what weights_only=True loads); raises TypeError otherwise."""
    if value is None:
        return None
    for kind in (bool, int, float, str):  # also turns subclasses (TorchVersion, enums) plain
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalar
        return value.item()
    if isinstance(value, Mapping):
        return {k if isinstance(k, (int, str)) else str(k): _plain(v, f"{where}[{k!r}]")
                for k, v in value.items()}  # int keys stay: an optimizer's state is keyed by int
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where} must hold plain data (None, bool, int, float, str, list, dict, "
                    f"Tensor) so the checkpoint loads with weights_only=True, "
                    f"got {type(value).__name__}")


def _arch_of(model: nn.Module) -> tuple[str | None, dict[str, Any]]:
    arch = getattr(model, "arch", None)
    if isinstance(arch, Mapping) and arch.get("name"):
        return str(arch["name"]), dict(arch.get("kwargs") or {})
    return None, {}


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, *,
                    meta: dict[str, Any] | None = None,
                    optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write the model's weights and metadata to `path` (atomically; parent folders are created).

    The architecture is taken from `model.arch` (set by `models.create_model`) unless `meta` gives
    "arch"/"arch_kwargs"; it is what lets `load_checkpoint(path)` rebuild the model by itself.

    Args:
        path: file to write, conventionally `*.pt`.
        model: the model; its `state_dict()` is saved on the CPU.
        meta: extra plain data: "dataset", "epoch", "history", ... (overrides the defaults).
        optimizer: optionally, an optimizer whose state is saved too (to resume training).

    Raises:
        TypeError: `meta` holds something that is not plain data.
    """
    state_dict = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    name, kwargs = _arch_of(model)
    info: dict[str, Any] = {
        "arch": name,
        "arch_kwargs": kwargs,
        "skip": getattr(model, "skip", kwargs.get("skip")),
        "dataset": None,
        "epoch": None,
        "history": None,
    }
    info.update(meta or {})
    info["sha256"] = state_dict_sha256(state_dict)
    info["torch_version"] = torch.__version__
    info["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    blob: dict[str, Any] = {"format": FORMAT, "state_dict": state_dict, "meta": _plain(info)}
    if optimizer is not None:
        blob["optimizer"] = _plain(optimizer.state_dict(), "optimizer state")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a checkpoint is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refusal_reason(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines()]
    detail = [ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln]
    if not detail:
        return lines[0] if lines else type(err).__name__
    text = detail[0].removeprefix("WeightsUnpickler error:").strip()
    return text.split(" Please use")[0]


def read_checkpoint(path: str | os.PathLike[str], *,
                    map_location: str | torch.device | None = "cpu") -> Any:
    """The raw object stored in `path`, read with `torch.load(weights_only=True)`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the pickle would build objects other than tensors and plain containers (it
            could run code, so it is refused), or the file is not a torch checkpoint at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise ValueError(f"{str(path)!r} is not a readable torch checkpoint: it is empty "
                         f"(0 bytes); pass a file written by torch.save (e.g. a .pt of "
                         f"`landscape train`)")
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        raise ValueError(f"{str(path)!r} is not a readable torch checkpoint: it is neither the "
                         f"zip archive torch.save writes nor a pickle (it starts with "
                         f"{head!r}); pass a file written by torch.save (e.g. a .pt of "
                         f"`landscape train`)")
    if head.startswith(b"PK\x03\x04"):
        _check_unpacked_size(path)
    else:
        _check_legacy_size(path)
    try:
        with warnings.catch_warnings():  # torch's note on foreign pickle protocols is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _refusal_reason(err)
        why = ("loading it would construct objects other than tensors and plain containers, "
               "which can run arbitrary code" if "GLOBAL" in reason else
               "its pickle uses instructions that torch's safe loader does not accept (a plain "
               "pickle, or not a checkpoint at all)")
        raise ValueError(
            f"{str(path)!r} is not a plain-tensor checkpoint: {why}, so it was refused "
            f"(torch.load weights_only=True: {reason}). If you trust the file, load it yourself "
            f"with torch.load(weights_only=False) and save its state_dict with torch.save."
        ) from err
    except Exception as err:  # zip/pickle format errors come as many types
        raise ValueError(f"{str(path)!r} is not a readable torch checkpoint: torch.load failed "
                         f"with {type(err).__name__}: {_first_line(err)}; pass a file written "
                         f"by torch.save (e.g. a .pt of `landscape train`)") from err
    for where, tensor in _tensors(obj):
        _check_storage(path, where, tensor)
    return obj


def _gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB" if n >= 2**27 else f"{n / 2**20:,.1f} MiB"


def _check_unpacked_size(path: Path) -> None:
    """Refuse a zip checkpoint whose records would take more memory than there is, before
    torch reads them (a small compressed file can unpack to gigabytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load gives the reason
    _refuse_over_half_memory(path, size, "its records unpack to {}")


def _check_legacy_size(path: Path) -> None:
    """Refuse a checkpoint in torch's legacy (non-zip) format whose storages, as its pickle
    declares them (torch allocates each before reading its data), would not fit in its own file
    or in half the memory available; or whose pickles are damaged."""
    try:
        size = declared_storage_bytes(path)
    except ValueError as err:
        raise ValueError(f"{str(path)!r} is not a readable torch checkpoint: it is in torch's "
                         f"legacy (non-zip) format, and {err}; pass a file written by "
                         f"torch.save (e.g. a .pt of `landscape train`)") from None
    if size is None:
        return  # not a legacy checkpoint: torch.load gives the reason
    stored = path.stat().st_size
    if size > stored:
        raise ValueError(f"{str(path)!r} was refused: it declares tensors of {_gib(size)} (in "
                         f"torch's legacy format), but the file holds only {stored:,} bytes, "
                         f"where each tensor's data is stored in full; it is damaged or built "
                         f"to exhaust memory")
    _refuse_over_half_memory(path, size, "its tensors take {} (in torch's legacy format)")


def _refuse_over_half_memory(path: Path, size: int, what: str) -> None:
    """Refuse a checkpoint of `size` bytes unpacked over half the memory; `what` says what
    takes them, with {} where the size goes."""
    available = available_memory()
    if available is not None and size > available // 2:
        raise ValueError(f"{str(path)!r} was refused: {what.format(_gib(size))}, more than half of "
                         f"the {_gib(available)} of memory available; it is not a checkpoint "
                         f"this machine can load (free memory, or use a machine with more)")


def _tensors(obj: Any, where: str = "") -> Iterator[tuple[str, Tensor]]:
    """Every tensor in a loaded object, with where it sits (`state_dict['fc.weight']`)."""
    if isinstance(obj, Tensor):
        yield where or "the file", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _tensors(value, f"{where}[{key!r}]" if where else repr(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{where}[{i}]")


def _check_storage(path: Path, where: str, tensor: Tensor) -> None:
    """Refuse a tensor whose elements share memory (an expanded or overlapping view): it is
    small in the file and its logical size, which every copy allocates, can be gigabytes."""
    logical = tensor.numel() * tensor.element_size()
    stored = tensor.untyped_storage().nbytes()
    if logical > stored:
        raise ValueError(f"{str(path)!r} was refused: the tensor {_shown_key(where)} of shape "
                         f"{tuple(tensor.shape)} ({_gib(logical)}) is stored in "
                         f"{stored:,} bytes, so its elements overlap (an expanded view); a "
                         f"checkpoint holds each weight in full: save it again from "
                         f"tensor.contiguous() (or clone()) if you made it")


def _shown_key(where: str, limit: int = 120) -> str:
    return where if len(where) <= limit else where[: limit - 3] + "..."


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else "no message")[:200]


def _is_state_dict(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()))


def _unpack(obj: Any, path: Path) -> tuple[dict[str, Tensor], dict[str, Any], str]:
    """(state_dict, stored metadata, format name) from whatever `torch.load` returned."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        return dict(obj["state_dict"]), dict(obj.get("meta") or {}), "toolkit"
    if _is_state_dict(obj):
        return dict(obj), {}, "state_dict"
    if isinstance(obj, Mapping):
        for key in _STATE_KEYS:
            if _is_state_dict(obj.get(key)):
                extras = {k: v for k, v in obj.items()
                          if isinstance(k, str) and isinstance(v, (bool, int, float, str))}
                fmt = "reference-t7" if set(obj) == {"acc", "epoch", "state_dict"} else key
                return dict(obj[key]), extras, fmt
        keys = ", ".join(repr(k) for k in list(obj)[:20])
        raise ValueError(f"{str(path)!r} holds a dict without a state_dict (looked for a dict of "
                         f"tensors at the top level or under {', '.join(_STATE_KEYS)}); "
                         f"its keys are: {keys}")
    raise ValueError(f"{str(path)!r} holds a {type(obj).__name__}, not a state_dict or a dict "
                     f"with one")


def _strip_prefixes(state_dict: dict[str, Tensor], target: set[str]) -> dict[str, Tensor]:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if (all(k.startswith(prefix) for k in state_dict)
                    and not all(k.startswith(prefix) for k in target)):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


def _match_keys(state_dict: dict[str, Tensor], target: set[str]) -> dict[str, Tensor]:
    """The state_dict with prefixes stripped and the best-fitting key map applied."""
    state_dict = _strip_prefixes(state_dict, target)
    best, best_hits = state_dict, len(target & set(state_dict))
    if best_hits < len(state_dict):
        for rename in KEY_MAPS.values():
            mapped = {rename(k): v for k, v in state_dict.items()}
            hits = len(target & set(mapped))
            if hits > best_hits:
                best, best_hits = mapped, hits
    return best


def _fit_or_raise(model: nn.Module, state_dict: dict[str, Tensor], path: Path,
                  arch: str | None) -> dict[str, Tensor]:
    """`state_dict` completed and checked against `model`, or a ValueError that lists the misfit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    # checkpoints from before torch 0.4.1 have no BN counters; keep the model's own
    state_dict = {**state_dict, **{k: own[k] for k in missing if k.endswith("num_batches_tracked")}}
    missing = [k for k in own if k not in state_dict]
    unexpected = [k if k.isprintable() else repr(k) for k in state_dict if k not in own]
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:

        def listing(title: str, items: list[str]) -> list[str]:
            shown = items[:5] + ([f"... and {len(items) - 5} more"] if len(items) > 5 else [])
            return [f"{title} ({len(items)}): " + ", ".join(shown)] if items else []

        label = arch or type(model).__name__
        raise ValueError(f"checkpoint {str(path)!r} does not fit model {label!r}: " + "; ".join(
            listing("missing keys", missing) + listing("unexpected keys", unexpected)
            + listing("shape mismatches", shapes))
            + "; pass the architecture it was saved from with --model NAME (model= in Python)")
    return state_dict


def _rebuild(path: Path, name: Any, kwargs: Any, state_dict: dict[str, Tensor], *,
             allow_import: bool) -> nn.Module:
    """The model a checkpoint's metadata records, refused unless the file may choose it.

    The model is first built on the meta device (no memory, no initialisation) and checked
    against the stored weights, so recorded sizes that do not fit them allocate nothing.
    """
    from . import rebuild_model

    fix = "name the architecture yourself: --model NAME (model= in Python)"
    try:
        with torch.device("meta"):
            shell = rebuild_model(name, kwargs, allow_import=allow_import)
    except ValueError as err:
        if str(err).startswith("arch"):  # the record itself is not one a file may hold
            raise _refused(path, err, fix) from None
        raise _unbuildable(path, name, kwargs, err, fix) from None
    except (RuntimeError, OverflowError, TypeError) as err:  # sizes torch cannot hold
        raise _unbuildable(path, name, kwargs, err, fix) from None
    _fit_or_raise(shell, _match_keys(state_dict, set(shell.state_dict())), path, name)
    _check_model_size(path, name, shell)
    return rebuild_model(name, kwargs, allow_import=allow_import)


def _check_model_size(path: Path, name: Any, shell: nn.Module) -> None:
    """Refuse a recorded architecture whose weights alone, in the copies a command holds,
    would take more memory than there is (checked on the meta device: nothing allocated)."""
    state = shell.state_dict()
    count = sum(t.numel() for t in state.values())
    size = sum(t.numel() * t.element_size() for t in state.values())
    available = available_memory()
    if available is not None and size * _COPIES > available:
        raise ValueError(f"checkpoint {str(path)!r} was refused: the model it records "
                         f"({str(name)[:80]!r} with {count:,} weights, {_gib(size)}) would "
                         f"take about {_gib(size * _COPIES)} in the {_COPIES} copies a command "
                         f"holds, more than the {_gib(available)} of memory available; check "
                         f"its arch_kwargs, or use a machine with more memory")


def _check_finite(path: Path, state_dict: Mapping[str, Tensor]) -> None:
    """Refuse weights holding NaN or inf: every value computed from them would be NaN."""
    for key, tensor in state_dict.items():
        if not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            shown = key if key.isprintable() else repr(key)
            raise ValueError(f"checkpoint {str(path)!r} holds NaN or inf weights: {shown[:120]} "
                             f"has {bad:,} of {tensor.numel():,} values that are not finite (a "
                             f"diverged run?), so every loss computed from it would be NaN; "
                             f"load an earlier checkpoint, or pass --allow-nonfinite to go on "
                             f"anyway (allow_nonfinite=True in Python)")


def _unbuildable(path: Path, name: Any, kwargs: Any, err: Exception, fix: str) -> ValueError:
    text = str(err).strip()
    why = text.splitlines()[0][:120] if text else type(err).__name__
    if "overflow" in text.lower():
        why = "its sizes overflow"
    shown = ", ".join(f"{k}={str(v)[:40]}" for k, v in dict(kwargs).items())
    return ValueError(f"checkpoint {str(path)!r} was refused: the model its metadata records "
                      f"({str(name)[:80]!r} with {shown or 'no keyword arguments'}) cannot be "
                      f"built ({why}); the file is damaged or was edited; if you know what it "
                      f"holds, {fix}")


def _refused(path: Path, err: ValueError, fix: str) -> ValueError:
    return ValueError(
        f"checkpoint {str(path)!r} was refused: its metadata field {err}. A file may name only "
        f"the zoo's models (`landscape models`, wrn<depth>-<k>, torchvision:<name>) with "
        f"keyword arguments of their own types; if you trust the file, {fix}")


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module | str | None = None, *,
                    map_location: str | torch.device | None = "cpu",
                    allow_nonfinite: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint into a model, rebuilding the model from the file's metadata if needed.

    Args:
        path: a checkpoint in any accepted format (see the module docstring).
        model: None to rebuild the architecture recorded in the file (only the zoo's own
            names; never an import path), a name for `models.create_model` (needed for files
            without metadata: bare state_dicts, the reference code's `.t7`; an import path
            given here is imported and run), or a model to load into.
        map_location: where the tensors go, and the model too when it is a device.
        allow_nonfinite: load weights that hold NaN or inf (refused otherwise).

    Returns:
        (model in eval mode, meta). `meta` has "arch", "arch_kwargs", "skip", "dataset", "epoch",
        "history", "sha256" (of the stored weights, see `state_dict_sha256`), "path" (absolute),
        "format", plus whatever else was saved.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a refused (code-running) pickle, an unreadable file, metadata that names an
            architecture a file may not choose (an import path, keyword arguments that do not
            fit the builder: see `models.rebuild_model`; refused even when `model` is a
            different name), no model name where the file has no metadata, a weights hash
            that does not match the recorded one, or a state_dict that does not fit the model
            (missing/unexpected keys, shape mismatches); a tensor stored in less memory than
            its size (an expanded view), records or a recorded model too large for the memory
            available, weights holding NaN or inf (unless `allow_nonfinite`).
    """
    from . import check_record, create_model

    path = Path(path)
    if path.is_dir():
        from .hf import is_pretrained_folder, load_pretrained

        if not is_pretrained_folder(path):
            raise ValueError(f"{str(path)!r} is a folder, not a checkpoint file; a folder is read "
                             f"only as a Hugging Face model written by save_pretrained (with a "
                             f"config.json and *.safetensors)")
        if model is not None and not (isinstance(model, str) and model.startswith("transformers:")):
            raise ValueError(f"{str(path)!r} is a Hugging Face model folder: its config.json "
                             f"names the architecture; leave --model out (model=None)")
        net, meta = load_pretrained(path)
        if isinstance(map_location, (str, torch.device)):
            net.to(map_location)
        return net, meta
    state_dict, stored, fmt = _unpack(read_checkpoint(path, map_location=map_location), path)
    stored_arch = stored.get("arch") if fmt == "toolkit" else None
    arch_kwargs = (stored.get("arch_kwargs") or {}) if stored_arch else {}
    if isinstance(model, nn.Module):
        net, (arch, arch_kwargs) = model, _arch_of(model)
    elif isinstance(model, str) and model != stored_arch:
        if stored_arch:  # the file's record is not used, but one that tries to run code is
            try:        # not trusted for its weights either
                check_record(stored_arch, arch_kwargs)
            except ValueError as err:
                raise _refused(path, err, "load it in Python into a model you built: "
                                          "load_checkpoint(path, model)") from None
        net, arch, arch_kwargs = create_model(model), model, {}
    elif isinstance(model, str) or model is None:
        if not stored_arch:
            raise ValueError(f"checkpoint {str(path)!r} ({fmt}) records no architecture; pass a "
                             f"model name (--model NAME on the command line, e.g. --model "
                             f"resnet20; model='resnet20' in Python)")
        # the file chose this architecture: only the zoo's own names, checked keywords; an
        # import path only when the user typed the same name
        net, arch = _rebuild(path, stored_arch, arch_kwargs, state_dict,
                             allow_import=model is not None), stored_arch
        arch_kwargs = net.arch["kwargs"]
    else:
        raise TypeError(f"model must be an nn.Module, a model name or None, "
                        f"got {type(model).__name__}")
    as_stored = state_dict  # hashed as stored, before any renaming, once the keys fit
    state_dict = _match_keys(state_dict, set(net.state_dict()))
    state_dict = _fit_or_raise(net, state_dict, path, arch)
    digest = state_dict_sha256(as_stored)
    if stored.get("sha256") and fmt == "toolkit" and stored["sha256"] != digest:
        raise ValueError(f"checkpoint {str(path)!r}: its weights do not match the sha256 recorded "
                         f"when it was saved ({stored['sha256'][:12]}... vs {digest[:12]}...); "
                         f"the file is damaged or was edited")
    if not allow_nonfinite:
        _check_finite(path, state_dict)
    net.load_state_dict(state_dict)
    if isinstance(map_location, (str, torch.device)):
        net.to(map_location)
    net.eval()
    meta: dict[str, Any] = {"dataset": None, "epoch": None, "history": None, **stored}
    meta.update({
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "skip": getattr(net, "skip", arch_kwargs.get("skip", stored.get("skip"))),
        "sha256": digest,
        "path": str(path.resolve()),
        "format": fmt,
    })
    return net, meta

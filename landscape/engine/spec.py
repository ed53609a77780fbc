"""What decides the values of a surface (`SurfaceSpec`), and what decides only how it is run.

Two runs whose specs are equal compute the same number at every grid point (up to the last bits
of float arithmetic on another device or batch size). A surface file records its spec and the
spec's `fingerprint`; `--resume` continues a file only when the new run's spec equals the
recorded one, and names every field that differs, so one file never mixes points of two models,
two data sets or two sets of directions.

`RunOptions` holds the rest: batch size, points per pass, compile, device, output path, progress,
coarse-to-fine sampling. They change how fast and where a surface is computed, never its values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from landscape.engine.params import tensors_sha256
from landscape.engine.types import Params

__all__ = ["SurfaceSpec", "RunOptions", "directions_sha256", "data_sha256", "loss_name",
           "canonical_json"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class SurfaceSpec:
    """Everything that decides the value at a grid point; its `fingerprint` names the surface.

    Fields set to None are not known or do not apply (e.g. `seed` when the directions were not
    drawn here, `data_sha256` for data streamed from an iterable).
    """

    model: str                    # architecture name (`model.arch`) or class name
    model_kwargs: str             # the builder's keyword arguments, canonical JSON
    weights_sha256: str           # θ* and every other tensor of the model's state
    dir_type: str                 # weights | states
    directions: str               # "random" (drawn here from seed, norm, ignore) or "given"
    directions_sha256: str        # the directions' names, dtypes, shapes and values
    seed: int | None              # only for directions drawn here
    norm: str | None
    ignore: str | None
    split: str                    # train | test
    samples: int | None           # evaluation samples per point
    data_sha256: str | None       # the resident inputs and targets; None when streamed
    data: str                     # the caller's account of the data (data set, seed, ...), JSON
    loss: str                     # cross_entropy, or the loss function's qualified name
    precision: str                # fp32 | bf16 | fp16 | tf32
    bn: str                       # eval | recompute
    bn_samples: int | None        # samples the BN statistics are re-estimated on
    bn_data_sha256: str | None
    # Early stop (`target_se`): a point is averaged over the first n samples of one seeded
    # random order, n the first multiple of `se_block` (at least `se_min_samples`) where the
    # standard error of its mean loss is within `target_se` of it. None: over all samples.
    target_se: float | None = None
    se_block: int | None = None
    se_min_samples: int | None = None
    sample_order: str | None = None  # sha256 of the permutation the samples are read in
    # An ensemble (`compute_ensemble`): the file holds this many direction pairs, drawn with
    # seeds seed, seed + 1, ...; None: a surface of one pair.
    ensemble: int | None = None

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of every field: equal fingerprints, equal values at every point."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The fields; the optional ones (with a default) only when set, so a spec without
        an early stop keeps the fingerprint it had before those fields existed."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.default is dataclasses.MISSING or getattr(self, f.name) != f.default}

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> SurfaceSpec:
        """The spec recorded in a file; ValueError when it is not one (a file of an older
        version, or damaged)."""
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(fields, Mapping) or not required <= set(fields) <= names:
            raise ValueError("the file records no complete surface spec")
        return cls(**dict(fields))

    def differences(self, other: SurfaceSpec) -> list[tuple[str, Any, Any]]:
        """`(field, value here, value in other)` for every field that differs."""
        return [(f.name, getattr(self, f.name), getattr(other, f.name))
                for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class RunOptions:
    """How a surface is computed and where it goes: nothing here changes a value."""

    device: torch.device
    batch_size: int | None = None          # images per forward pass (None: planned)
    points_per_batch: int | None = None    # K grid points per pass (None: planned)
    compile: bool | None = None            # torch.compile the forward pass (None: by device)
    fold_bn: bool = True                   # fold BN into convolutions when nothing moves it
    path: Path | None = None               # HDF5 file written point by point; None: memory only
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    refine: float | None = None            # coarse-to-fine tolerance (landscape.engine.refine)
    refine_scale: str = "log"
    probe: bool | None = None              # time the forward pass before the grid (None: auto)
    group: str = ""                        # where in the file: the root, or `ensemble/<k>`


def directions_sha256(directions: list[Params]) -> str:
    """One hash for the ordered directions (x, then y)."""
    digest = hashlib.sha256()
    for axis, d in zip("xy", directions, strict=False):
        digest.update(f"{axis}:{tensors_sha256(d)};".encode())
    return digest.hexdigest()


def data_sha256(inputs: torch.Tensor, targets: torch.Tensor) -> str:
    """Hash of the evaluation samples themselves: the truest identity of the data."""
    return tensors_sha256({"inputs": inputs, "targets": targets})


def loss_name(loss_fn: Callable[..., Any] | None) -> str:
    """A stable name for the loss function: `cross_entropy` for the default, a built-in's own
    name (`token-cross-entropy`, `mse`), the `loss_name` attribute a caller gave it (the import
    path a user typed), else its module and qualified name."""
    if loss_fn is None:
        return "cross_entropy"
    given = getattr(loss_fn, "loss_name", None)
    if isinstance(given, str) and given:
        return "cross_entropy" if given == "cross-entropy" else given
    module = getattr(loss_fn, "__module__", None) or type(loss_fn).__module__
    name = getattr(loss_fn, "__qualname__", None) or type(loss_fn).__qualname__
    return f"{module}.{name}"

"""Paths between two minima: a quadratic Bezier curve trained between them, against the line.

Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018 ("Loss Surfaces, Mode Connectivity, and Fast
Ensembling of DNNs", arXiv:1802.10026): two independently trained networks w_A, w_B are joined
by the curve φ(t) = (1−t)² w_A + 2t(1−t) θ + t² w_B, t ∈ [0, 1], whose bend θ is trained so that
the loss is low all along it: at every mini-batch a fresh t ~ U(0, 1) is drawn and θ takes one
SGD step on L(φ(t)); the ends stay fixed. BN layers use batch statistics while training; to
evaluate a point of the curve (or of the line), its BN statistics are recomputed on training
data first, since neither end's running statistics fit the weights in between.

In the plane through w_A, θ and w_B, with w_A at (0, 0), w_B at (1, 0) and θ at (0, 1) (the
layout of `landscape interp A B C`), the line is (t, 0) and the curve (t², 2t(1−t)), so the
engine's evaluator computes both from the same base and directions, and the plane's surface
carries the curve as a path to draw over it.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.engine.evaluate import Data, LossFn, PointStats, default_loss, evaluate_points
from landscape.engine.placement import resolve_device
from landscape.engine.types import Params

__all__ = ["CurveState", "CurveValues", "bezier", "curve_coordinates", "line_coordinates",
           "plane_directions_of", "train_curve", "evaluate_curve", "load_curve"]


@dataclass(frozen=True)
class CurveState:
    """A bend in training: θ, the optimizer's momentum, the epochs done, their mean losses."""

    bend: Params
    momentum: Params
    epoch: int
    history: list[float]        # mean training loss of each epoch done
    settings: dict[str, Any]    # what decides the result (refused on resume when it differs)

    def record(self) -> dict[str, Any]:
        """The content of curve.pt: tensors, numbers and strings only (weights_only loads it)."""
        return {"bend": self.bend, "momentum": self.momentum, "epoch": self.epoch,
                "history": list(self.history), "settings": dict(self.settings),
                "kind": "bezier-bend"}


@dataclass(frozen=True)
class CurveValues:
    """Loss and accuracy along the curve and along the line, at the same t."""

    t: np.ndarray       # (P,)
    curve: PointStats   # at φ(t)
    line: PointStats    # at (1−t) w_A + t w_B

    def columns(self) -> dict[str, np.ndarray]:
        """The arrays of curve.h5: t, curve_loss, line_loss, their standard errors, accuracy."""
        out = {"t": self.t}
        for name, stats in (("curve", self.curve), ("line", self.line)):
            out[f"{name}_loss"] = stats.loss
            out[f"{name}_loss_se"] = stats.loss_se
            if stats.acc is not None and stats.acc_se is not None:
                out[f"{name}_acc"] = stats.acc
                out[f"{name}_acc_se"] = stats.acc_se
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """For the curve and the line: the largest loss, its standard error and t, the
        barrier (that loss minus the mean of the two ends' losses) and the lowest accuracy."""
        out: dict[str, dict[str, float]] = {}
        for name, stats in (("curve", self.curve), ("line", self.line)):
            top = int(np.nanargmax(stats.loss))
            entry = {"max_loss": float(stats.loss[top]), "max_loss_se": float(stats.loss_se[top]),
                     "t_of_max": float(self.t[top]),
                     "barrier": float(stats.loss[top] - 0.5 * (stats.loss[0] + stats.loss[-1]))}
            if stats.acc is not None:
                entry["min_accuracy"] = float(np.nanmin(stats.acc))
            out[name] = entry
        return out


def bezier(a: Params, bend: Params, b: Params, t: float) -> Params:
    """φ(t) = (1−t)² a + 2t(1−t) bend + t² b."""
    return {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * bend[k] + t * t * b[k] for k in a}


def curve_coordinates(t: np.ndarray) -> np.ndarray:
    """(P, 2): the curve's points in the plane basis (w_B − w_A, θ − w_A): (t², 2t(1−t))."""
    t = np.asarray(t, dtype=np.float64)
    return np.stack([t * t, 2 * t * (1 - t)], axis=1)


def line_coordinates(t: np.ndarray) -> np.ndarray:
    """(P, 2): the line's points in the same basis: (t, 0)."""
    t = np.asarray(t, dtype=np.float64)
    return np.stack([t, np.zeros_like(t)], axis=1)


def plane_directions_of(a: Params, bend: Params, b: Params) -> list[Params]:
    """[w_B − w_A, θ − w_A]: the plane's directions, with w_A as its origin."""
    return [{k: b[k] - a[k] for k in a}, {k: bend[k] - a[k] for k in a}]


def _check_ends(a: Params, b: Params) -> None:
    if a.keys() != b.keys():
        diff = sorted(a.keys() ^ b.keys())[:3]
        raise ValueError(f"the two models have different parameters (e.g. {diff}); a curve "
                         f"joins two checkpoints of the same architecture")
    for k in a:
        if a[k].shape != b[k].shape:
            raise ValueError(f"parameter {k!r} has shape {tuple(a[k].shape)} in one model and "
                             f"{tuple(b[k].shape)} in the other; a curve joins two checkpoints "
                             f"of the same architecture")
    if all(torch.equal(a[k], b[k]) for k in a):
        raise ValueError("the two ends hold the same weights: there is no path to train; pick "
                         "two different minima (e.g. two training seeds)")


@contextlib.contextmanager
def _train_mode(model: nn.Module) -> Iterator[None]:
    flags = {m: m.training for m in model.modules()}
    model.train()
    try:
        yield
    finally:
        for m, flag in flags.items():
            m.train(flag)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + 7_919 * epoch) % (2**63 - 1))


def train_curve(model: nn.Module, a: Params, b: Params, data: tuple[Tensor, Tensor], *,
                epochs: int = 10, lr: float = 0.05, momentum: float = 0.9,
                weight_decay: float = 5e-4, batch_size: int = 64, seed: int = 0,
                loss_fn: LossFn | None = None, state: CurveState | None = None,
                path: str | os.PathLike[str] | None = None,
                device: str | torch.device | None = None, progress: bool = False
                ) -> CurveState:
    """Train the bend θ of the quadratic Bezier curve from `a` to `b` (Garipov et al. 2018).

    Every mini-batch draws its own t ~ U(0, 1) and takes one SGD step (momentum, weight decay
    on θ, learning rate on a cosine schedule over all steps) on the loss at φ(t), with BN in
    train mode (batch statistics; the model's own buffers are left alone). The shuffling and
    the t of each epoch come from a generator seeded by (`seed`, epoch), so a run resumed from
    a saved state ends exactly where an uninterrupted one does.

    Args:
        model: the architecture of both ends; not modified.
        a, b: the ends' parameters (`named_parameters` names); θ starts at their midpoint.
        data: `(inputs, targets)` training tensors.
        epochs: passes over the data in all (a resumed state counts its own).
        lr, momentum, weight_decay, batch_size: the SGD settings.
        seed: seeds the shuffling and the t of each batch.
        loss_fn: per-sample loss (or a batch mean); default cross-entropy.
        state: continue this `CurveState` (e.g. `load_curve(path)`); its settings must equal
            this call's.
        path: write the state there (curve.pt, `torch.save`) after every epoch, whole or not
            at all.
        device: where to train; default CUDA when available.
        progress: a tqdm bar over the epochs.

    Returns:
        The `CurveState` after `epochs` epochs.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if not lr > 0 or not 0 <= momentum < 1 or weight_decay < 0:
        raise ValueError(f"need lr > 0, 0 <= momentum < 1 and weight_decay >= 0, got {lr}, "
                         f"{momentum} and {weight_decay}")
    _check_ends(a, b)
    dev = resolve_device(device)
    loss_fn = loss_fn or default_loss
    settings = {"epochs": epochs, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                "batch_size": batch_size, "seed": seed, "samples": len(data[1])}
    ends = [{k: v.detach().to(dev) for k, v in end.items()} for end in (a, b)]
    if state is None:
        state = CurveState(bend={k: 0.5 * (ends[0][k] + ends[1][k]) for k in a},
                           momentum={k: torch.zeros_like(v) for k, v in ends[0].items()},
                           epoch=0, history=[], settings=settings)
    else:
        differ = {k: (state.settings.get(k), v) for k, v in settings.items()
                  if state.settings.get(k) != v}
        if differ:
            raise ValueError("the saved curve was trained with other settings: " + ", ".join(
                f"{k} {old!r} -> {new!r}" for k, (old, new) in differ.items())
                + "; resume with the same settings, or start again without --resume")
    bend = {k: v.detach().to(dev).clone().requires_grad_(True) for k, v in state.bend.items()}
    velocity = {k: v.detach().to(dev).clone() for k, v in state.momentum.items()}
    buffers = {k: v.detach().to(dev).clone() for k, v in model.named_buffers()}
    inputs, targets = data[0].to(dev), data[1].to(dev)
    n = len(targets)
    per_epoch = max(1, math.ceil(n / batch_size))
    history = list(state.history)
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, initial=state.epoch, desc="curve", unit="epoch",
               disable=not progress, dynamic_ncols=True)
    with _train_mode(model), bar:
        for epoch in range(state.epoch, epochs):
            generator = _epoch_generator(seed, epoch)
            order = torch.randperm(n, generator=generator).to(dev)
            ts = torch.rand(per_epoch, generator=generator, dtype=torch.float64).tolist()
            total = 0.0
            for step in range(per_epoch):
                idx = order[step * batch_size:(step + 1) * batch_size]
                if len(idx) < 2 < n:  # BN cannot normalise one sample
                    continue
                rate = 0.5 * lr * (1 + math.cos(math.pi * (epoch * per_epoch + step)
                                                / (epochs * per_epoch)))
                weights = bezier(ends[0], bend, ends[1], ts[step])
                out = functional_call(model, {**buffers, **weights}, (inputs[idx],))
                losses = loss_fn(out, targets[idx])
                loss = losses.mean()
                grads = torch.autograd.grad(loss, list(bend.values()), allow_unused=True)
                with torch.no_grad():
                    for (k, p), g in zip(bend.items(), grads, strict=True):
                        g = (g if g is not None else torch.zeros_like(p)) + weight_decay * p
                        velocity[k].mul_(momentum).add_(g)
                        p.sub_(rate * velocity[k])
                total += float(loss.detach()) * len(idx)
            history.append(total / n)
            state = CurveState(bend={k: v.detach().clone() for k, v in bend.items()},
                               momentum={k: v.clone() for k, v in velocity.items()},
                               epoch=epoch + 1, history=list(history), settings=settings)
            if path is not None:
                _save(path, state)
            bar.update(1)
    return state


def _save(path: str | os.PathLike[str], state: CurveState) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    record = state.record()
    record["bend"] = {k: v.cpu() for k, v in record["bend"].items()}
    record["momentum"] = {k: v.cpu() for k, v in record["momentum"].items()}
    torch.save(record, tmp)
    os.replace(tmp, path)


def load_curve(path: str | os.PathLike[str]) -> CurveState:
    """The `CurveState` in a curve.pt (loaded with weights_only=True: tensors and numbers)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the same refusal
        raise ValueError(f"cannot read {path} as a trained curve ({type(err).__name__}); it "
                         f"is the curve.pt that `landscape connect` writes") from err
    if not isinstance(blob, dict) or blob.get("kind") != "bezier-bend":
        raise ValueError(f"{path} holds no trained curve; it is the curve.pt that "
                         f"`landscape connect` writes")
    return CurveState(bend=blob["bend"], momentum=blob["momentum"], epoch=int(blob["epoch"]),
                      history=[float(h) for h in blob["history"]],
                      settings=dict(blob["settings"]))


def evaluate_curve(model: nn.Module, a: Params, bend: Params, b: Params, data: Data,
                   t: np.ndarray, *, bn_data: Data | None = None, loss_fn: LossFn | None = None,
                   batch_size: int = 256, device: str | torch.device | None = None
                   ) -> CurveValues:
    """Loss and accuracy at φ(t) and on the line at the same t, through the engine's evaluator.

    Args:
        model, a, bend, b: the architecture, the ends and the bend.
        data: evaluation data (on `device`).
        t: (P,) where, in [0, 1].
        bn_data: when given, the BN statistics are recomputed at every point on these samples
            (as Garipov et al.); None uses the model's own running statistics.
        loss_fn, batch_size: as for `evaluate_points`.
    """
    dev = resolve_device(device)
    origin = {k: v.detach().to(dev) for k, v in a.items()}
    directions = plane_directions_of(origin, {k: v.to(dev) for k, v in bend.items()},
                                     {k: v.to(dev) for k, v in b.items()})
    t = np.asarray(t, dtype=np.float64)
    kw: dict[str, Any] = {"loss_fn": loss_fn, "batch_size": batch_size, "bn_data": bn_data}
    curve = evaluate_points(model, origin, directions, curve_coordinates(t), data, **kw)
    line = evaluate_points(model, origin, directions, line_coordinates(t), data, **kw)
    return CurveValues(t=t, curve=curve, line=line)


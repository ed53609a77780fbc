"""The training loop that produces θ*: SGD with momentum (or AdamW, for transformers), a
learning-rate schedule, checkpoints every few epochs (the snapshots of a trajectory) and a
history of loss and accuracy per epoch, for any per-sample loss.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from toolkit.losses import LossFn, accuracy, cross_entropy

from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

__all__ = ["OPTIMIZERS", "RESUMABLE", "SCHEDULES", "check_resume", "evaluate",
           "learning_rate", "train_model"]

SCHEDULES = ("cosine", "step", "constant")
Schedule = Literal["cosine", "step", "constant"]
OPTIMIZERS = ("sgd", "adamw")
Optimizer = Literal["sgd", "adamw"]
_EVAL_BATCH = 500


def learning_rate(schedule: str, base_lr: float, step: int, total_steps: int, epoch: int,
                  epochs: int) -> float:
    """The learning rate at optimizer step `step` (0-based) of `total_steps`, in `epoch` (0-based).

    cosine: base_lr * (1 + cos(π step / total_steps)) / 2, per step (Loshchilov & Hutter 2016).
    step: base_lr, divided by 10 after 50% and again after 75% of the epochs (He et al. 2015).
    constant: base_lr.
    """
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))
    if schedule == "step":
        return base_lr * 0.1 ** sum(epoch >= m for m in (epochs * 0.5, epochs * 0.75))
    if schedule == "constant":
        return base_lr
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + epoch * 7_919) % (2**63 - 1)


def _batches(dataset: Dataset, resident: tuple[Tensor, Tensor] | None, batch_size: int,
             seed: int | None, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """Mini-batches on `device`; shuffled by `seed` (None: in order). A trailing batch of one
    item is dropped when shuffling (BN cannot normalise a single 1x1 feature map)."""
    if resident is not None:
        inputs, targets = resident
        n = len(targets)
        order = (torch.randperm(n, generator=torch.Generator().manual_seed(seed))
                 if seed is not None else torch.arange(n)).to(inputs.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if seed is not None and len(idx) == 1 and n > 1:
                break
            yield inputs.index_select(0, idx), targets.index_select(0, idx)
        return
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=seed is not None,
                        generator=generator, pin_memory=device.type == "cuda")
    for x, y in loader:
        if seed is not None and len(y) == 1 and len(dataset) > 1:  # type: ignore[arg-type]
            break
        yield (x.to(device, non_blocking=True),
               torch.as_tensor(y).to(device, non_blocking=True))


def _resident(dataset: Dataset | None, device: torch.device) -> tuple[Tensor, Tensor] | None:
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return dataset.tensors[0].to(device), dataset.tensors[1].to(device).long()
    return None


def _sample_losses(loss_fn: LossFn, logits: Tensor, y: Tensor) -> Tensor:
    losses = loss_fn(logits, y)
    return losses if losses.dim() == 1 else losses.expand(len(y))  # a batch mean: per sample


def _correct(logits: Tensor, y: Tensor) -> Tensor:
    """Samples right (a sequence counts as its fraction of tokens right), 0 if no labels."""
    hits = accuracy(logits, y)
    return hits.sum() if hits is not None else torch.zeros((), dtype=torch.float64,
                                                           device=logits.device)


def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = _EVAL_BATCH,
             device: str | torch.device | None = None, loss_fn: LossFn | None = None
             ) -> tuple[float, float]:
    """Mean loss (default: cross-entropy) and accuracy (percent; of tokens for sequences) of
    `model` in eval mode on `dataset`."""
    loss_fn = loss_fn or cross_entropy
    dev = _device(device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
    correct = torch.zeros((), device=dev, dtype=torch.float64)
    count = 0
    with torch.inference_mode():
        for x, y in _batches(dataset, _resident(dataset, dev), batch_size, None, dev):
            logits = model(x)
            loss_sum += _sample_losses(loss_fn, logits, y).double().sum()
            correct += _correct(logits, y)
            count += len(y)
    model.train(was_training)
    if count == 0:
        raise ValueError("cannot evaluate on an empty data set")
    return loss_sum.item() / count, 100.0 * correct.item() / count


def _new_history() -> dict[str, list[Any]]:
    return {"epoch": [], "lr": [], "train_loss": [], "train_acc": [], "test_loss": [],
            "test_acc": [], "seconds": []}


def _check(epochs: int, lr: float, batch_size: int, save_every: int, schedule: str) -> None:
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(save_every, int) or save_every < 1:
        raise ValueError(f"save_every must be a positive int, got {save_every!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


# Settings a resumed run may change (recorded in a checkpoint's "runs"), and what describes the
# data without deciding it (where it is read from). Everything else is the run's fingerprint.
RESUMABLE = ("epochs",)
_DATA_PLACES = ("root", "download")


def check_resume(path: str | Path, stored: dict[str, Any], settings: dict[str, Any],
                 meta: dict[str, Any]) -> None:
    """Refuse to continue the run recorded in a checkpoint's metadata `stored` with other
    settings or data than it was trained with, naming every difference.

    Compared: the optimizer's settings, schedule and seed (`settings`, less `RESUMABLE`), the
    loss (`meta["loss"]`), and the data set and its recipe (`meta["dataset"]`, `meta["data"]`,
    less where the files are). A
    setting the checkpoint does not record (a file of an older version) is not compared.

    Raises:
        ValueError: one line naming each difference, the checkpoint's value and this run's.
    """
    recorded = stored.get("train") if isinstance(stored.get("train"), dict) else {}
    pairs = [(k, recorded[k], v) for k, v in settings.items()
             if k not in RESUMABLE and k in recorded]
    for key in ("dataset", "loss"):
        if key in meta and stored.get(key) is not None:
            pairs.append((key, stored.get(key), meta[key]))
    data_then, data_now = stored.get("data"), meta.get("data")
    if isinstance(data_then, dict) and isinstance(data_now, dict):
        pairs += [(f"data {k}", data_then.get(k), v) for k, v in data_now.items()
                  if k not in _DATA_PLACES and k in data_then]
    changed = [f"{name} {then!r} in the checkpoint, {now!r} now" for name, then, now in pairs
               if then != now and not _same_number(then, now)]
    if changed:
        raise ValueError(f"cannot resume {str(path)!r}: this run would train differently from "
                         f"the one it continues ({'; '.join(changed)}); rerun with the "
                         f"checkpoint's settings, or start a new run without --resume")


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
            and not isinstance(b, bool) and float(a) == float(b))


def train_model(model: nn.Module, train_set: Dataset, test_set: Dataset | None = None, *,
                epochs: int, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = False,
                weight_decay: float = 5e-4, batch_size: int = 128, schedule: Schedule = "cosine",
                optimizer: Optimizer = "sgd", loss_fn: LossFn | None = None, seed: int = 0,
                checkpoint_dir: str | Path | None = None, save_every: int = 1,
                device: str | torch.device | None = None, progress: bool = True,
                resume_from: str | Path | None = None, meta: dict[str, Any] | None = None,
                allow_nonfinite: bool = False) -> dict[str, list[Any]]:
    """Train `model` in place with SGD + momentum (or AdamW) and return the per-epoch history.

    A `TensorDataset` is moved to the device once and batched by indexing (no per-sample
    Python work, no DataLoader); other data sets go through a DataLoader. The shuffling order,
    and any use of torch's global RNG inside an epoch (augmentation, dropout), are seeded from
    `(seed, epoch)` in a forked RNG state, so a run is deterministic given `seed` and a resumed run
    continues exactly as the uninterrupted one (the caller's RNG is left as it was).

    Args:
        model: the network; trained in place.
        train_set: yields (image, label) pairs.
        test_set: evaluated after every epoch, if given.
        epochs: total number of epochs (with `resume_from`, training continues up to it).
        lr, momentum, nesterov, weight_decay: SGD settings; AdamW takes `lr` and
            `weight_decay`, with betas (`momentum`, 0.95).
        batch_size: mini-batch size.
        schedule: "cosine" (per step), "step" (÷10 at 50% and 75% of epochs) or "constant".
        optimizer: "sgd" or "adamw" (Loshchilov & Hutter 2019; what transformers train with).
        loss_fn: per-sample loss `(outputs, targets) -> (B,)` (a batch mean is taken as every
            sample's); default cross-entropy, which scores sequences token by token.
        seed: shuffling seed.
        checkpoint_dir: if given, writes `epoch_000.pt` (the initial weights), `epoch_XXX.pt`
            every `save_every` epochs and `final.pt`; each carries the metadata, the history so
            far and the optimizer state.
        save_every: checkpoint period in epochs.
        device: e.g. "cpu", "cuda"; default cuda if available.
        progress: show a tqdm bar (on stderr).
        resume_from: a checkpoint written by this function: weights, optimizer state, history
            and epoch are restored and training continues from the next epoch.
        meta: extra plain metadata stored in every checkpoint (e.g. {"dataset": "embedded"}).
        allow_nonfinite: continue from `resume_from` weights that hold NaN or inf (refused
            otherwise, as by `load_checkpoint`).

    Returns:
        history: lists per epoch: "epoch" (1-based), "lr" (at the epoch's end), "train_loss",
        "train_acc", "test_loss", "test_acc" (accuracy in percent; test values None without
        `test_set`), "seconds".

    Raises:
        ValueError: bad settings, or a `resume_from` checkpoint that does not fit the model
            (or holds NaN or inf weights, unless `allow_nonfinite`).
    """
    _check(epochs, lr, batch_size, save_every, schedule)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    loss_fn = loss_fn or cross_entropy
    dev = _device(device)
    model.to(dev)
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=weight_decay, betas=(momentum, 0.95))
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                              weight_decay=weight_decay)
    history = _new_history()
    start = 0
    settings = {"epochs": epochs, "lr": lr, "momentum": momentum, "nesterov": nesterov,
                "weight_decay": weight_decay, "batch_size": batch_size, "schedule": schedule,
                "seed": seed, "optimizer": optimizer}
    runs: list[dict[str, Any]] = []
    if resume_from is not None:
        blob = read_checkpoint(resume_from, map_location="cpu")
        stored = blob.get("meta", {}) if isinstance(blob, dict) else {}
        check_resume(resume_from, stored, settings, meta or {})
        load_checkpoint(resume_from, model, map_location=dev, allow_nonfinite=allow_nonfinite)
        if isinstance(blob, dict) and blob.get("optimizer"):
            opt.load_state_dict(blob["optimizer"])
        history = {**_new_history(), **copy.deepcopy(stored.get("history") or {})}
        start = int(stored.get("epoch") or 0)
        runs = list(stored.get("runs") or [])
    # what may change on resume, recorded with the epoch it took effect from
    runs.append({"from_epoch": start, "epochs": epochs, "save_every": save_every})
    out = Path(checkpoint_dir) if checkpoint_dir is not None else None

    def save(name: str, epoch: int) -> None:
        if out is not None:
            info = {"dataset": None, **(meta or {}), "epoch": epoch,
                    "history": copy.deepcopy(history), "train": settings, "runs": runs}
            save_checkpoint(out / name, model, meta=info, optimizer=opt)

    if start == 0:
        save("epoch_000.pt", 0)
    resident = _resident(train_set, dev)
    n_train = len(train_set)  # type: ignore[arg-type]
    steps_per_epoch = n_train // batch_size + (n_train % batch_size > 1)
    total_steps = steps_per_epoch * epochs
    rng_devices = [dev.index or 0] if dev.type == "cuda" else []

    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=start * steps_per_epoch, disable=not progress,
               unit="batch", desc="train", dynamic_ncols=True)
    try:
        for epoch in range(start, epochs):
            tick = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
            correct = torch.zeros((), device=dev, dtype=torch.float64)
            count, step = 0, epoch * steps_per_epoch
            current_lr = lr
            with torch.random.fork_rng(devices=rng_devices):
                torch.manual_seed(_epoch_seed(seed, epoch))
                for x, y in _batches(train_set, resident, batch_size, _epoch_seed(seed, epoch),
                                     dev):
                    current_lr = learning_rate(schedule, lr, step, total_steps, epoch, epochs)
                    for group in opt.param_groups:
                        group["lr"] = current_lr
                    logits = model(x)
                    loss = _sample_losses(loss_fn, logits, y).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    loss_sum += loss.detach().double() * len(y)
                    correct += _correct(logits.detach(), y)
                    count += len(y)
                    step += 1
                    bar.update(1)
            train_loss, train_acc = loss_sum.item() / count, 100.0 * correct.item() / count
            test_loss = test_acc = None
            if test_set is not None:
                test_loss, test_acc = evaluate(model, test_set, device=dev, loss_fn=loss_fn)
            for key, value in (("epoch", epoch + 1), ("lr", current_lr),
                               ("train_loss", train_loss), ("train_acc", train_acc),
                               ("test_loss", test_loss), ("test_acc", test_acc),
                               ("seconds", time.perf_counter() - tick)):
                history[key].append(value)
            bar.set_postfix(epoch=epoch + 1, loss=f"{train_loss:.3f}", acc=f"{train_acc:.1f}",
                            test_acc="-" if test_acc is None else f"{test_acc:.1f}")
            if (epoch + 1) % save_every == 0:
                save(f"epoch_{epoch + 1:03d}.pt", epoch + 1)
    finally:
        bar.close()
    save("final.pt", max(epochs, start))
    return copy.deepcopy(history)

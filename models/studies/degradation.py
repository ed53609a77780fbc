"""The degradation experiment of He et al. 2015 (arXiv:1512.03385, Fig. 1 and Fig. 6).

Plain networks (`resnet<depth>-noskip`) and residual networks (`resnet<depth>`) of the same
depths are trained on the same data with the same settings; deeper plain nets reaching a *higher
training error* than shallower ones is the degradation problem that shortcuts solve. The curves
are collected per epoch; `degradation_figure` draws them as in the paper (thin: training error,
bold: test error; plain nets left, ResNets right).

The defaults are thin (`width=0.5`) and short so the whole experiment runs in minutes on a
laptop CPU; `width=1`, `epochs=164`, `lr=0.1`, `schedule='step'` on CIFAR-10 is the paper's
setting (up to the iteration count).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models import create_model
from models.data import load_dataset
from models.train import train_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["run_degradation", "degradation_figure", "run_name"]


def run_name(depth: int, skip: bool) -> str:
    """'resnet-20' or 'plain-20'."""
    return f"{'resnet' if skip else 'plain'}-{depth}"


def _build(depth: int, skip: bool, width: float, seed: int, zero_init_residual: bool) -> Any:
    """resnet<depth>[-noskip] when registered (20, 56, ...), else the generic wrn<depth>-<width>."""
    from models import list_models

    suffix = "" if skip else "-noskip"
    if f"resnet{depth}" in list_models():
        return create_model(f"resnet{depth}{suffix}", width=width, seed=seed,
                            zero_init_residual=zero_init_residual)
    return create_model(f"wrn{depth}-{width:g}{suffix}", seed=seed,
                        zero_init_residual=zero_init_residual)


def run_degradation(*, depths: Sequence[int] = (20, 56), width: float = 0.5, epochs: int = 8,
                    samples: int = 3000, test_samples: int = 1000, dataset: str = "embedded",
                    root: str | None = None, lr: float = 0.1, batch_size: int = 128,
                    schedule: str = "cosine", weight_decay: float = 5e-4, seed: int = 0,
                    zero_init_residual: bool = True,
                    device: str | None = None, checkpoint_dir: str | Path | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Train plain and residual CIFAR nets of each depth on the same data; collect their curves.

    Args:
        depths: CIFAR ResNet depths (6n + 2), e.g. (20, 56) as in He et al. Fig. 6.
        width: channel multiplier of all nets (0.5: 8/16/32 channels).
        epochs, lr, batch_size, schedule, weight_decay: SGD settings (`models.train`).
        samples, test_samples: training and test items (the same for every net).
        dataset, root: the data (`models.data.load_dataset`), the embedded set by default.
        seed: one seed for data, initial weights (the same per depth up to the shortcuts) and
            shuffling order.
        zero_init_residual: start the last BN of each residual branch at γ = 0 (the zoo's
            default); He et al. did not, pass False for their initialization.
        checkpoint_dir: if given, each net's checkpoints (every epoch, for trajectories) go to
            `<dir>/<plain|resnet>-<depth>/`.
        progress: tqdm bars while training.

    Returns:
        `{"settings": {...}, "runs": {"plain-20": {"depth", "skip", "params", "epoch",
        "train_error", "test_error", "train_loss", "test_loss", "seconds"}, ...}}`; errors
        in percent, one entry per epoch.
    """
    if not depths:
        raise ValueError("depths must name at least one depth, e.g. (20, 56)")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    train_set = load_dataset(dataset, "train", root=root, n=samples, seed=seed)
    test_set = load_dataset(dataset, "test", root=root, n=test_samples, seed=seed)
    settings = {"depths": list(depths), "width": width, "epochs": epochs, "samples": samples,
                "test_samples": test_samples, "dataset": dataset, "lr": lr,
                "batch_size": batch_size, "schedule": schedule, "weight_decay": weight_decay,
                "seed": seed, "zero_init_residual": zero_init_residual}
    runs: dict[str, Any] = {}
    for depth in depths:
        for skip in (False, True):
            name = run_name(depth, skip)
            model = _build(depth, skip, width, seed, zero_init_residual)
            tick = time.perf_counter()
            history = train_model(
                model, train_set, test_set, epochs=epochs, lr=lr, batch_size=batch_size,
                schedule=schedule, weight_decay=weight_decay,  # type: ignore[arg-type]
                seed=seed, device=device, progress=progress,
                checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / name,
                save_every=1, meta={"dataset": dataset, "experiment": "degradation"})
            runs[name] = {
                "depth": depth, "skip": skip,
                "params": sum(p.numel() for p in model.parameters()),
                "epoch": list(history["epoch"]),
                "train_error": [100.0 - a for a in history["train_acc"]],
                "test_error": [None if a is None else 100.0 - a for a in history["test_acc"]],
                "train_loss": list(history["train_loss"]),
                "test_loss": list(history["test_loss"]),
                "seconds": time.perf_counter() - tick,
            }
    return {"settings": settings, "runs": runs}


def degradation_figure(result: dict[str, Any]) -> Figure:
    """Training (thin, dashed) and test (bold) error per epoch: plain nets left, ResNets right.

    As He et al. 2015, Fig. 6 (left and middle): with degradation, the deeper plain net's
    training error lies above the shallower one's, while the deeper ResNet's lies below.
    """
    from matplotlib.figure import Figure

    runs = result["runs"]
    depths = sorted({r["depth"] for r in runs.values()})
    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    top = 0.0
    for ax, skip, title in ((axes[0], False, "plain networks"), (axes[1], True, "ResNets")):
        for i, depth in enumerate(depths):
            run = runs.get(run_name(depth, skip))
            if run is None:
                continue
            color = f"C{i}"
            label = f"{run_name(depth, skip)}"
            ax.plot(run["epoch"], run["train_error"], color=color, lw=1.0, ls="--",
                    label=f"{label} train")
            top = max(top, *run["train_error"])
            test = [(e, v) for e, v in zip(run["epoch"], run["test_error"], strict=True)
                    if v is not None]
            if test:
                ax.plot(*zip(*test, strict=True), color=color, lw=2.4, label=f"{label} test")
                top = max(top, *(v for _, v in test))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (%)")
    axes[0].set_ylim(0, min(100.0, top * 1.05 + 1))
    s = result.get("settings", {})
    init = {True: ", zero-init residual BN", False: ", He et al. init"}.get(
        s.get("zero_init_residual"), "")
    fig.suptitle(f"Degradation (He et al. Fig. 6): {s.get('dataset', '?')}, "
                 f"{s.get('samples', '?')} samples, width {s.get('width', '?')}, "
                 f"{s.get('epochs', '?')} epochs{init}")
    return fig

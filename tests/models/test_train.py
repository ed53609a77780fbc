"""Training: learnability of the embedded set, determinism, checkpoints, resume, schedules."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from models import create_model
from models.checkpoint import load_checkpoint, read_checkpoint
from models.data import embedded_dataset, load_dataset
from models.train import evaluate, learning_rate, train_model
from tests.models.fakes import write_fake_cifar


def tiny(seed: int = 0) -> torch.nn.Module:
    return create_model("resnet20", width=0.25, seed=seed)


def small_data(n: int = 96) -> tuple[TensorDataset, TensorDataset]:
    return embedded_dataset("train", n), embedded_dataset("test", 40)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_resnet20_learns_the_embedded_data() -> None:
    """A thin resnet20, a few epochs on CPU: held-out accuracy far above chance (10%)."""
    train, test = embedded_dataset("train", 1000), embedded_dataset("test", 300)
    model = create_model("resnet20", width=0.25, seed=0)  # about 42%, in half the time of 0.5
    history = train_model(model, train, test, epochs=3, lr=0.1, batch_size=32, seed=0,
                          progress=False)
    accuracy = history["test_acc"][-1]
    print(f"resnet20 (width 0.25), 1,000 embedded images, 3 epochs: held-out accuracy "
          f"{accuracy:.1f}% (chance 10%); per epoch {history['test_acc']}")
    assert accuracy > 30.0


def test_history_and_checkpoints(tmp_path: Path) -> None:
    train, test = small_data()
    history = train_model(tiny(), train, test, epochs=3, save_every=2, checkpoint_dir=tmp_path,
                          progress=False, meta={"dataset": "embedded"})
    assert history["epoch"] == [1, 2, 3]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"):
        assert len(history[key]) == 3 and all(math.isfinite(v) for v in history[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_000.pt", "epoch_002.pt",
                                                          "final.pt"]
    model, meta = load_checkpoint(tmp_path / "epoch_002.pt")  # rebuilt from the metadata
    assert meta["arch"] == "resnet20" and meta["arch_kwargs"]["width"] == 0.25
    assert meta["epoch"] == 2 and meta["dataset"] == "embedded"
    assert meta["history"]["epoch"] == [1, 2]
    assert meta["train"]["lr"] == 0.1 and meta["train"]["schedule"] == "cosine"
    final, final_meta = load_checkpoint(tmp_path / "final.pt")
    assert final_meta["epoch"] == 3 and final_meta["history"] == history
    loss, acc = evaluate(final, test, device="cpu")
    assert loss == pytest.approx(history["test_loss"][-1], rel=1e-5)
    assert acc == pytest.approx(history["test_acc"][-1])


def test_same_seed_same_weights_and_global_rng_untouched() -> None:
    train, _ = small_data(64)
    state = torch.random.get_rng_state()
    a, b = tiny(), tiny()
    train_model(a, train, epochs=2, batch_size=16, seed=5, progress=False)
    train_model(b, train, epochs=2, batch_size=16, seed=5, progress=False)
    assert same_weights(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)
    c = tiny()
    train_model(c, train, epochs=2, batch_size=16, seed=6, progress=False)
    assert not same_weights(a, c)


def test_resume_continues_exactly(tmp_path: Path) -> None:
    train, test = small_data(64)
    straight = tiny()
    full = train_model(straight, train, test, epochs=3, batch_size=16, progress=False)
    first = tiny()
    train_model(first, train, test, epochs=3, batch_size=16, progress=False,
                checkpoint_dir=tmp_path / "a", save_every=1)
    (tmp_path / "a" / "epoch_003.pt").unlink()
    resumed = tiny(seed=9)  # different start: everything must come from the checkpoint
    history = train_model(resumed, train, test, epochs=3, batch_size=16, progress=False,
                          resume_from=tmp_path / "a" / "epoch_002.pt",
                          checkpoint_dir=tmp_path / "b")
    assert same_weights(straight, resumed)
    assert history["epoch"] == [1, 2, 3]
    assert history["train_loss"] == full["train_loss"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["epoch_003.pt", "final.pt"]
    assert read_checkpoint(tmp_path / "b" / "final.pt")["optimizer"]["state"]


def test_learning_rate_schedules() -> None:
    assert learning_rate("cosine", 0.1, 0, 100, 0, 10) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 50, 100, 5, 10) == pytest.approx(0.05)
    assert learning_rate("step", 0.1, 0, 100, 4, 10) == pytest.approx(0.1)
    assert learning_rate("step", 0.1, 0, 100, 5, 10) == pytest.approx(0.01)
    assert learning_rate("step", 0.1, 0, 100, 8, 10) == pytest.approx(0.001)
    assert learning_rate("constant", 0.1, 99, 100, 9, 10) == 0.1
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate("linear", 0.1, 0, 1, 0, 1)


def test_step_schedule_nesterov_and_dataloader_path(tmp_path: Path) -> None:
    write_fake_cifar(tmp_path, "cifar10", per_file=8)
    augmented = load_dataset("cifar10", root=tmp_path, augment=True)
    assert not isinstance(augmented, TensorDataset)
    model = tiny()
    history = train_model(model, Subset(augmented, range(24)), epochs=2, batch_size=8,
                          schedule="step", nesterov=True, progress=False)
    assert history["lr"] == [pytest.approx(0.1), pytest.approx(0.01)]
    assert history["test_acc"] == [None, None]


def test_bad_settings() -> None:
    train, _ = small_data(32)
    for kwargs, match in (({"epochs": -1}, "epochs"), ({"epochs": 1, "lr": 0}, "lr"),
                          ({"epochs": 1, "batch_size": 0}, "batch_size"),
                          ({"epochs": 1, "schedule": "warm"}, "schedule"),
                          ({"epochs": 1, "save_every": 0}, "save_every")):
        with pytest.raises(ValueError, match=match):
            train_model(tiny(), train, progress=False, **kwargs)

"""Shared fixtures: a tiny conv net with BN and a small data set, float64 for exact comparisons."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class TinyNet(nn.Module):
    """conv-BN-ReLU-conv-BN-ReLU-pool-linear: filters, 1-D tensors and BN statistics."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


def make_tiny(seed: int = 0, dtype: torch.dtype = torch.float64) -> TinyNet:
    torch.manual_seed(seed)
    model = TinyNet().to(dtype)
    # Non-trivial BN statistics, as after training.
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(autouse=True)
def one_thread():
    """Every test runs on one intra-op thread (restored afterwards).

    The models here are tiny: a second thread gains nothing, and on cores shared with other
    processes OpenMP's waiting threads made two-thread runs several times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model() -> TinyNet:
    return make_tiny()


def make_tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    """37 float64 images of 3x8x8 and their labels (4 classes), the same on every call."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(37, 3, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (37,), generator=g)
    return x, y


@pytest.fixture
def tiny_data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_tiny_data()

"""Shared settings for the models tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run each test on one intra-op thread (restored afterwards).

    The networks here are tiny: a second thread gains little, and when the two cores are shared
    with other processes, OpenMP barriers make two-thread runs up to ten times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

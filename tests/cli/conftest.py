"""The `ws` fixture of the hostile-input harness (`tests/cli/test_bad_inputs.py`) for every
`test_bad_*` module, and `memory_ceiling` for the tests of inputs that ask for too much."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from tests.cli.test_bad_inputs import ws  # noqa: F401

CEILING = 3 * 2**30  # bytes of address space a test may add to what the process has


def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


@pytest.fixture
def memory_ceiling() -> Iterator[None]:
    """Hold the test to the address space it has now plus `CEILING`: a refusal that came only
    after the allocation it should prevent fails the test with a MemoryError, and never takes
    the machine's memory. Restored afterwards."""
    try:
        size = _address_space()
    except OSError:
        pytest.skip("no /proc/self/status to measure the address space")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + CEILING
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

"""The `ws` fixture of the hostile-input harness (`tests/cli/test_bad_inputs.py`), for every
`test_bad_*` module."""

from tests.cli.test_bad_inputs import ws  # noqa: F401

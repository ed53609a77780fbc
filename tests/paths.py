"""Where the tests find the files they read: everything lives inside the repository."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = FIXTURES / "reference"  # files written by the 2018 reference code (see its README)

import os
from pathlib import Path

import pytest

# Commands run by the tests (in-process or as subprocesses) use the reference modules unless a
# test asks for the fast path: compiling every test's model would cost minutes each. The fast
# path has its own tests (test_kernels.py, the conformance tests, one command).
os.environ.setdefault("PANORIG_KERNELS", "reference")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder checked out beside the repository (fixtures, research notes)."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.fail(f"shared/ not found at {path}: check it out beside the repository")
    return path

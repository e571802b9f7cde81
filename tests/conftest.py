from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder checked out beside the repository (fixtures, research notes)."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.fail(f"shared/ not found at {path}: check it out beside the repository")
    return path

"""Cached virtualenvs holding one bpy release each, for the Blender matrix. bpy pins numpy, so
the releases cannot share the project's venv; each gets ``.venv-blender/<version>/``, made on
first use and reused while its stamp says it is complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOME = Path(__file__).resolve().parents[1] / ".venv-blender"


def bpy_python(version: str) -> Path:
    """The interpreter of the venv with ``bpy==version`` (and only what bpy needs)."""
    venv = HOME / version
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.is_file():
        return python
    # --clear: a venv left half-made by an interrupted install starts over.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"bpy=={version}"], check=True)
    stamp.touch()
    return python

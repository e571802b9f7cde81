"""Errors raised while reading head rig model files (FLAME and friends).

Like ``backend.models.errors``: every error carries a one-sentence ``hint`` telling the user what
to do, so the command line, the service and the Blender add-on can show the problem and the fix.
"""

from __future__ import annotations


class RigModelError(ValueError):
    """A head rig model file cannot be used (missing, damaged, unsafe or inconsistent)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.message = message
        self.hint = hint

"""Errors raised while reading or building generators.

Every error carries a one-sentence ``hint`` telling the user what to do, so the command line,
the service and the Blender add-on can all show the problem and the fix in plain words.
"""

from __future__ import annotations

from ..common.errors import PanoRigError


class CheckpointError(PanoRigError):
    """A checkpoint file cannot be used (missing, damaged, unsafe or inconsistent)."""

    code = "checkpoint"


class UnsafeCheckpointError(CheckpointError):
    """The file asks the unpickler for something outside the allow-list; nothing was executed."""

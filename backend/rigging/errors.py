"""Errors raised while reading head rig model files (FLAME and friends).

Like ``backend.models.errors``: every error carries a one-sentence ``hint`` telling the user what
to do, so the command line, the service and the Blender add-on can show the problem and the fix.
"""

from __future__ import annotations

from ..common.errors import PanoRigError


class RigModelError(PanoRigError):
    """A head rig model file cannot be used (missing, damaged, unsafe or inconsistent)."""

    code = "rig_model"

"""Where the add-on finds the Blender-free package it shares with the backend.

``build_addon.py`` vendors ``backend/common`` into the extension as ``common``; run from the
source tree (tests, development) the add-on uses ``backend/common`` itself. Either way there is
one definition of each shared module.
"""

import importlib.util

if importlib.util.find_spec(f"{__package__}.common") is not None:
    from .common import correctives, errors, protocol, rig_arrays, rotations, sequences, settings
else:
    from backend.common import (
        correctives,
        errors,
        protocol,
        rig_arrays,
        rotations,
        sequences,
        settings,
    )

__all__ = ["correctives", "errors", "protocol", "rig_arrays", "rotations", "sequences", "settings"]

"""Shared by PanoRig's restricted unpicklers (checkpoints, FLAME files)."""

from __future__ import annotations

import pickle
import struct

# Everything the C unpickler (or allow-listed callbacks fed with bad arguments) raises on a
# broken file: each reader turns these into its own "truncated or damaged" error.
DECODE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    struct.error,
    OverflowError,
    RecursionError,
    MemoryError,
)

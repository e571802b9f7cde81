"""Animation sequences for a rigged head: tracker and capture files, resampling, a demo.

Every reader returns one ``Sequence`` in FLAME's conventions (see ``model``).
"""

from .arkit_csv import ARKIT_NAMES
from .files import load_sequence
from .formats import SUPPORTED
from .model import EYE_L, EYE_R, JAW, NECK, ROOT, Sequence, SequenceError
from .performance import demo_sequence
from .resampling import resample

__all__ = [
    "ARKIT_NAMES",
    "EYE_L",
    "EYE_R",
    "JAW",
    "NECK",
    "ROOT",
    "SUPPORTED",
    "Sequence",
    "SequenceError",
    "demo_sequence",
    "load_sequence",
    "resample",
]

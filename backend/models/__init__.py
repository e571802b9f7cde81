"""Head generators: PanoHead (tri-grid) and EG3D (tri-plane) re-implemented, and safe loading.

from backend.models import load_generator
G = load_generator("easy-khair-180-gpc0.8-trans10-025000.pkl", device="auto")  # or ffhq512-128.pkl
"""

from .checkpoint import (
    convert_checkpoint,
    generator_from_snapshot,
    load_generator,
    open_generator,
    save_generator,
)
from .config import GeneratorConfig
from .errors import CheckpointError, UnsafeCheckpointError
from .generator import TriGridGenerator

__all__ = [
    "CheckpointError",
    "GeneratorConfig",
    "TriGridGenerator",
    "UnsafeCheckpointError",
    "convert_checkpoint",
    "generator_from_snapshot",
    "load_generator",
    "open_generator",
    "save_generator",
]

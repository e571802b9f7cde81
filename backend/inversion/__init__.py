"""Photo inversion: from a user's photos to aligned crops with cameras, a fitted head (a shared
latent and a tuned generator) saved as a head file, and the photos projected into its texture."""

from .align import align_photo, aligned_photo
from .aligned import AlignedPhoto
from .face import FaceError
from .head_file import Head, load_head, read_head
from .optimize import invert
from .photo import PhotoError, read_photo
from .pipeline import align_photos, framing, photo_projections, stored_projections
from .sheet import preview_sheet

__all__ = [
    "AlignedPhoto",
    "FaceError",
    "Head",
    "PhotoError",
    "align_photo",
    "align_photos",
    "aligned_photo",
    "framing",
    "invert",
    "load_head",
    "photo_projections",
    "preview_sheet",
    "read_head",
    "read_photo",
    "stored_projections",
]

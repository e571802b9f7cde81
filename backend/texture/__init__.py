"""Texture: UV atlas, baking colour from the generator, seam padding, textured previews."""

from .bake import DEFAULT_VIEWS, PhotoProjection, bake_texture, feature_colour
from .preview import render_textured
from .textured_mesh import TexturedMesh

__all__ = [
    "DEFAULT_VIEWS",
    "PhotoProjection",
    "TexturedMesh",
    "bake_texture",
    "feature_colour",
    "render_textured",
]

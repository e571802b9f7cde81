"""One head, from a latent to a clean, textured mesh: the pipeline every front end runs.

The ``mesh`` command, the service's ``generate`` operation and (later) inversion and batch work
all call ``make_head``; the settings come from ``backend.common.settings``, already checked.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .common.settings import MeshSettings, TextureSettings
from .geometry import Mesh, extract_mesh, region_for
from .progress import Progress, scaled
from .texture import DEFAULT_VIEWS, PhotoProjection, TexturedMesh, bake_texture


def has_superresolution(G) -> bool:
    return getattr(G, "superresolution", None) is not None


def make_head(
    G,
    ws: torch.Tensor,
    mesh: MeshSettings | None = None,
    texture: TextureSettings | None = None,
    progress: Progress | None = None,
    dense: bool = False,
    photos: Sequence[PhotoProjection] = (),
) -> Mesh | TexturedMesh:
    """Extract the head of ``ws`` [1, num_ws, w_dim] and bake its texture (unless its size is 0).

    ``dense`` evaluates the full lattice instead of coarse-to-fine (the reference, for checks);
    ``photos`` (a head inverted from photos) are projected into the texture.
    """
    mesh = mesh or MeshSettings()
    texture = texture or TextureSettings()
    split = 0.5 if texture.texture else 1.0
    with torch.no_grad():
        head = extract_mesh(
            G,
            ws,
            mesh.resolution,
            mesh.level,
            region_for(G, mesh.border, mesh.neck_y),
            mesh.faces,
            mesh.smooth,
            dense=dense,
            progress=scaled(progress, 0.0, split),
        )
        if not texture.texture:
            return head
        views = texture.views_for(has_superresolution(G))
        return bake_texture(
            G,
            ws,
            head,
            texture.texture,
            DEFAULT_VIEWS[:views],
            progress=scaled(progress, split, 1.0),
            photos=photos,
        )

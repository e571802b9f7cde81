"""Baking a texture for a head mesh from the generator that made it.

Two sources, blended per texel:
- the feature colour: the raw image's colour map (``G.raw_rgb``) applied to the features
  composited along a short ray through each surface point, against its normal: view-consistent
  and defined everywhere, including the back of the head;
- detail from super-resolved renders around the head, projected into the texture where the
  rendered depth shows the texel is visible, weighted by how squarely the view sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import orbit_cameras, project
from ..geometry import Mesh
from ..models.renderer import march
from ..progress import Progress, report, scaled
from .padding import dilate
from .raster import rasterize
from .textured_mesh import TexturedMesh
from .uv_atlas import unwrap

# yaw all the way round, a ring from above, a ring from below and one from the top (degrees)
DEFAULT_VIEWS: tuple[tuple[float, float], ...] = (
    *((yaw, 0.0) for yaw in range(0, 360, 45)),
    *((yaw, 35.0) for yaw in (0, 90, 180, 270)),
    *((yaw, -25.0) for yaw in (-45, 45, 180)),
    (0.0, 80.0),
)


def bake_texture(
    G,
    ws: torch.Tensor,
    mesh: Mesh,
    size: int = 2048,
    views: Sequence[tuple[float, float]] | None = DEFAULT_VIEWS,
    padding: int = 16,
    feature_weight: float = 0.05,
    progress: Progress | None = None,
) -> TexturedMesh:
    """UV-unwrap ``mesh`` and bake its colour from ``G`` at latent ``ws`` [1, num_ws, w_dim].

    ``views`` are (yaw, pitch) in degrees; ``None`` or empty bakes the feature colour only.
    ``feature_weight`` is the feature colour's weight against a frontal, fully visible view.
    """
    if not 256 <= size <= 8192:
        raise ValueError(f"texture size must be between 256 and 8192, got {size}")
    device = ws.device
    report(progress, 0.0, "UV unwrap")
    source, faces, uv = unwrap(mesh, size)
    vertices, normals = mesh.vertices[source], mesh.normals[source]
    textured = TexturedMesh(vertices, faces, normals, uv, np.zeros((size, size, 3), np.uint8))

    report(progress, 0.1, "texel positions")
    texels = rasterize(textured.uv_pixels()[faces], size, size)
    covered = texels.face >= 0
    face, bary = texels.face[covered], texels.bary[covered]

    def interpolate(values: np.ndarray) -> torch.Tensor:
        corners = values[faces[face]]  # [T, 3, C]
        return torch.from_numpy(np.einsum("tk,tkc->tc", bary, corners)).to(device)

    points = interpolate(vertices)
    texel_normals = F.normalize(interpolate(normals), dim=-1)

    with torch.no_grad():
        grids = G.synthesize_grids(ws)
        vertex_colour = feature_colour(
            G,
            grids,
            ws,
            torch.from_numpy(mesh.vertices).to(device),
            torch.from_numpy(mesh.normals).to(device),
            scaled(progress, 0.15, 0.3),
        )
        colour = interpolate(vertex_colour.cpu().numpy()[source]) * feature_weight
        weight = torch.full_like(colour[:, :1], feature_weight)
        views = list(views or [])
        for i, (yaw, pitch) in enumerate(views):
            report(progress, 0.3 + 0.6 * i / len(views), f"projecting views ({i + 1}/{len(views)})")
            label = orbit_cameras(yaw, pitch).to(device)
            render = G.synthesis(ws, label, noise_mode="const", deterministic=True, grids=grids)
            c, w = _project_view(render, label[0], points, texel_normals)
            colour += c * w
            weight += w
        colour = colour / weight

    report(progress, 0.92, "seam padding")
    image = np.zeros((size, size, 3), np.float32)
    image[covered] = colour.clamp(0, 1).cpu().numpy()
    image = dilate(image, covered, padding)
    report(progress, 1.0, "seam padding")
    return TexturedMesh(
        vertices, faces, normals, uv, (image * 255 + 0.5).clip(0, 255).astype(np.uint8)
    )


def feature_colour(
    G,
    grids: torch.Tensor,
    ws: torch.Tensor,
    points: torch.Tensor,
    normals: torch.Tensor,
    progress: Progress | None = None,
    depth: float = 0.015,
    samples: int = 16,
    chunk: int = 2**14,
) -> torch.Tensor:
    """Colour in [0, 1] of surface ``points`` [M, 3] seen along their inward normals.

    Features are composited along a ray from ``depth`` outside to ``depth`` inside the surface
    with the renderer's own quadrature, normalised by the ray's opacity, then mapped to RGB by
    the raw image's colour map.
    """
    report(progress, 0.0, "feature colour")
    out = []
    t = torch.linspace(0, 2 * depth, samples, device=points.device)
    for start in range(0, points.shape[0], chunk):
        p, n = points[start : start + chunk], normals[start : start + chunk]
        ray = (p + n * depth)[:, None, :] - n[:, None, :] * t[None, :, None]  # [m, S, 3]
        q = G.query(grids, ray.reshape(1, -1, 3))
        m = p.shape[0]
        features, _, weights = march(
            q["rgb"].reshape(1, m, samples, -1),
            q["sigma"].reshape(1, m, samples, 1),
            t.reshape(1, 1, samples, 1).expand(1, m, samples, 1),
        )
        features = features / weights.sum(2).clamp_min(1e-4)
        rgb = G.raw_rgb(features[0].T[None, :, :, None], ws)[0, :, :, 0].T  # [m, 3]
        out.append((rgb + 1) / 2)
        report(progress, (start + m) / points.shape[0], "feature colour")
    return torch.cat(out).clamp(0, 1)


def _project_view(
    render: dict[str, torch.Tensor],
    label: torch.Tensor,
    points: torch.Tensor,
    normals: torch.Tensor,
    depth_tolerance: float = 0.02,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour [T, 3] and weight [T, 1] one render contributes to each texel."""
    xy, distance, in_front = project(points, label)
    grid = (xy * 2 - 1)[None, None]  # grid_sample wants [-1, 1], x right, y down

    def sample(image: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(image, grid, mode="bilinear", align_corners=False)[0, :, 0].T

    colour = ((sample(render["image"]) + 1) / 2).clamp(0, 1)
    seen_depth = sample(render["image_depth"])[:, 0]
    mask = sample(render["image_mask"])[:, 0]
    to_camera = F.normalize(label[:16].reshape(4, 4)[:3, 3] - points, dim=-1)
    cos = (normals * to_camera).sum(-1)
    inside = (xy >= 0).all(-1) & (xy <= 1).all(-1)
    visible = (
        in_front
        & inside
        & (cos > 0.2)
        & (mask > 0.9)
        & ((distance - seen_depth).abs() < depth_tolerance)
    )
    weight = torch.where(visible, cos.clamp_min(0) ** 4, torch.zeros_like(cos))
    return colour, weight[:, None]

"""Baking a texture for a head mesh from the generator that made it.

Two sources, blended per texel:
- the feature colour: the raw image's colour map (``G.raw_rgb``) applied to the features
  composited along a short ray through each surface point, against its normal: view-consistent
  and defined everywhere, including the back of the head;
- detail from super-resolved renders around the head, projected into the texture where the
  rendered depth shows the texel is visible, weighted by how squarely the view sees it;
and, for a head inverted from photos, the photos themselves at their full resolution, projected
from their refined cameras where they see the surface and feathered into the generator's colour:
the photo's own detail on the face, the generator's everywhere no photo sees. The two are
colour-matched on the overlap by bringing the generator's colour to the photos' (a bounded gain
and offset for the whole texture), not the other way round: the face keeps the person's true
colour and the back of the head meets it at the seam in the photos' light and white balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# A photo's weight against a frontal, fully visible generator view: where a photo sees the
# surface squarely, its pixels win.
PHOTO_WEIGHT = 20.0


@dataclass(frozen=True)
class PhotoProjection:
    """A photo to project into the texture.

    ``image`` [H, W, 3] uint8, the photo at its full resolution; ``camera`` [25], the label of
    its aligned crop; ``crop_size``, the crop's pixels across; ``crop_to_image`` [3, 3], the
    affine map from crop pixels to photo pixels; ``mask`` [S, S] float in [0, 1], the person
    in crop pixels (the photo's background never lands on the head); ``surround``, the person
    over the crop's field widened ``surround_scale`` times about its centre, or None: the
    photo is then projected beyond the crop too (the hair a crop cuts off).
    """

    image: np.ndarray
    camera: np.ndarray
    crop_size: int
    crop_to_image: np.ndarray
    mask: np.ndarray
    surround: np.ndarray | None = None
    surround_scale: float = 1.0


def bake_texture(
    G,
    ws: torch.Tensor,
    mesh: Mesh,
    size: int = 2048,
    views: Sequence[tuple[float, float]] | None = DEFAULT_VIEWS,
    padding: int = 16,
    feature_weight: float = 0.05,
    progress: Progress | None = None,
    photos: Sequence[PhotoProjection] = (),
) -> TexturedMesh:
    """UV-unwrap ``mesh`` and bake its colour from ``G`` at latent ``ws`` [1, num_ws, w_dim].

    ``views`` are (yaw, pitch) in degrees; ``None`` or empty bakes the feature colour only.
    ``feature_weight`` is the feature colour's weight against a frontal, fully visible view.
    ``photos`` are projected last, over the generator's colour (see the module's docstring).
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
        projected = []
        for i, photo in enumerate(photos):
            report(progress, 0.9, f"projecting photos ({i + 1}/{len(photos)})")
            label = torch.as_tensor(photo.camera, dtype=torch.float32, device=device)[None]
            seen = _mesh_depth(mesh, _widened(label, _field(photo))[0]).to(device)
            projected.append(_project_photo(photo, seen, label[0], points, texel_normals))
        if projected:
            colour = _match_colour(colour, projected)
        for c, w in projected:
            colour = (colour * weight + c * w * PHOTO_WEIGHT) / (weight + w * PHOTO_WEIGHT)
            weight = weight + w * PHOTO_WEIGHT

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
    to_camera = F.normalize(label[:16].reshape(4, 4)[:3, 3] - points, dim=-1)
    cos = (normals * to_camera).sum(-1)
    # EG3D renders no foreground mask; there the depth test alone tells what the view sees.
    mask = sample(render["image_mask"])[:, 0] if "image_mask" in render else torch.ones_like(cos)
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


def _mesh_depth(mesh: Mesh, label: torch.Tensor, size: int = 512) -> torch.Tensor:
    """The mesh's z-buffer [1, 1, size, size] seen by camera ``label`` [25]: distance from the
    camera (inf where it shows no surface)."""
    xy, distance, in_front = project(torch.from_numpy(mesh.vertices).double(), label.double().cpu())
    depth = np.where(in_front.numpy(), distance.numpy(), np.nan)
    raster = rasterize((xy.numpy() * size)[mesh.faces], size, size, depth=depth[mesh.faces])
    return torch.from_numpy(raster.depth.astype(np.float32))[None, None]


def _project_photo(
    photo: PhotoProjection,
    seen: torch.Tensor,
    label: torch.Tensor,
    points: torch.Tensor,
    normals: torch.Tensor,
    depth_tolerance: float = 0.01,
    edge: float = 0.04,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour [T, 3] sampled from the full-resolution photo and a feathered weight [T, 1].

    ``seen`` is the mesh's z-buffer over the photo's field (the crop's, widened where the photo
    has a surround): occlusion by the surface being textured, not by the generator's depth,
    which is a soft average (over a socket's mouth, say) and exists only where it rendered."""
    device = points.device
    xy, distance, in_front = project(points, label)  # in the aligned crop, [0, 1]
    field = (xy - 0.5) / _field(photo) + 0.5  # in the z-buffered field, [0, 1]

    def sample(image: torch.Tensor, at: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        grid = (at * 2 - 1)[None, None]
        return F.grid_sample(image, grid, mode=mode, align_corners=False)[0, :, 0].T

    affine = torch.as_tensor(photo.crop_to_image, dtype=torch.float32, device=device)
    crop_px = xy * photo.crop_size
    image_px = crop_px @ affine[:2, :2].T + affine[:2, 2]
    h, w = photo.image.shape[:2]
    scale = torch.tensor([w, h], dtype=torch.float32, device=device)
    image_grid = (image_px / scale * 2 - 1)[None, None]
    pixels = torch.tensor(photo.image, device=device).permute(2, 0, 1)[None].float() / 255
    colour = F.grid_sample(pixels, image_grid, mode="bilinear", align_corners=False)
    colour = colour[0, :, 0].T

    def mask(values: np.ndarray, at: torch.Tensor) -> torch.Tensor:
        return sample(torch.from_numpy(np.asarray(values, np.float32)).to(device)[None, None], at)

    seen_depth = sample(seen, field, "nearest")[:, 0]
    in_crop = ((xy >= 0) & (xy <= 1)).all(-1)
    person = mask(photo.mask, xy)[:, 0]
    if photo.surround is not None:
        person = torch.where(in_crop, person, mask(photo.surround, field)[:, 0])
    to_camera = F.normalize(label[:16].reshape(4, 4)[:3, 3] - points, dim=-1)
    cos = (normals * to_camera).sum(-1)
    # Feathered: fades in with the viewing angle and towards the field's and the photo's edges.
    facing = ((cos - 0.2) / 0.5).clamp(0, 1) ** 2
    border = torch.minimum(field, 1 - field).min(-1).values  # to the field's nearest edge
    in_photo = ((image_px >= 0) & (image_px <= scale - 1)).all(-1)
    fade = (border / edge).clamp(0, 1)
    # One-sided, for the z-buffer's pixel steps: only points clearly behind count as hidden.
    visible = in_front & in_photo & (distance < seen_depth + depth_tolerance)
    weight = torch.where(visible, facing * fade * person.clamp(0, 1), torch.zeros_like(cos))
    return colour, weight[:, None]


def _field(photo: PhotoProjection) -> float:
    """How many times the crop's field a photo is projected over."""
    return photo.surround_scale if photo.surround is not None else 1.0


def _widened(label: torch.Tensor, scale: float) -> torch.Tensor:
    """Camera labels [N, 25] with the field ``scale`` times wider about the image centre."""
    shrink = torch.tensor(
        [[1 / scale, 0, 0.5 - 0.5 / scale], [0, 1 / scale, 0.5 - 0.5 / scale], [0, 0, 1]],
        dtype=label.dtype,
        device=label.device,
    )
    intrinsics = shrink @ label[:, 16:25].reshape(-1, 3, 3)  # normalised image coordinates
    return torch.cat([label[:, :16], intrinsics.reshape(-1, 9)], dim=1)


def _match_colour(
    base: torch.Tensor, projected: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """The generator's colour [T, 3] with a per-channel gain and offset fitted (by weighted
    least squares on the texels the photos see) to the photos' colours, so lighting and white
    balance meet at the seams. Bounded, so a poor overlap cannot repaint the head."""
    photo = torch.cat([c for c, _ in projected])
    w = torch.cat([w for _, w in projected])[:, 0]
    if float(w.sum()) < 1.0:
        return base
    seen = base.repeat(len(projected), 1)
    w = w / w.sum()
    mean_b, mean_p = (seen * w[:, None]).sum(0), (photo * w[:, None]).sum(0)
    db, dp = seen - mean_b, photo - mean_p
    gain = (db * dp * w[:, None]).sum(0) / (db * db * w[:, None]).sum(0).clamp_min(1e-6)
    gain = gain.clamp(0.8, 1.25)
    offset = (mean_p - gain * mean_b).clamp(-0.1, 0.1)
    return (base * gain + offset).clamp(0, 1)

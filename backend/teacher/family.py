"""The teacher family: MakeHuman heads with skin, eyes and procedural hair, one per latent.

A latent z (8 numbers, ~N(0, 1)) sets every trait through smooth functions, so a generator can
learn the map and generalise to seeds it never saw:
    z0 long/round face, z1 square/triangular, z2 nose, z3 chin, cheeks and fullness,
    z4 skin tone (and eye colour), z5 hair amount (none -> cropped -> full),
    z6 hair length (long hair down the back), z7 bun, hair colour.
The head is the open template's skin (MakeHuman, CC0) with an identity, placed in the
generator's frame; eyeballs are spheres; hair is a shell over the scalp above a hairline, plus
a curtain for long hair and a sphere for a bun, all as signed distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..rigging.head_model import HeadModel
from ..rigging.surface import closest_points, interpolate, sample_surface
from ..rigging.template import build_template
from .implicit import ImplicitHead

LATENT_DIM = 8
NEAR = 0.03  # generator units: closer than this to the skin, distances are computed exactly
GRID = 192  # occupancy lattice over the box, for the inside/outside of far points
VOXEL = 1.0 / GRID
SCALE = 2.3  # generator units per metre: a 0.23 m head fills about half of the box
OFFSET = np.array([0.0, 0.03, -0.01])  # metres, applied before scaling: crown near y = +0.3

SKIN_TONES = np.array(
    [
        [0.94, 0.80, 0.70],
        [0.86, 0.66, 0.53],
        [0.74, 0.52, 0.38],
        [0.58, 0.39, 0.27],
        [0.40, 0.26, 0.18],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.05, 0.04, 0.04],
        [0.20, 0.12, 0.07],
        [0.40, 0.25, 0.13],
        [0.55, 0.24, 0.10],
        [0.80, 0.64, 0.40],
        [0.62, 0.60, 0.58],
    ]
)
EYE_COLOURS = np.array(
    [[0.25, 0.14, 0.07], [0.38, 0.30, 0.15], [0.30, 0.45, 0.35], [0.30, 0.45, 0.65]]
)


def _palette(colours: np.ndarray, t: float) -> np.ndarray:
    """Piecewise-linear colour at t in [0, 1] along a palette (smooth in the latent)."""
    x = np.clip(t, 0, 1) * (len(colours) - 1)
    i = min(int(x), len(colours) - 2)
    return colours[i] + (x - i) * (colours[i + 1] - colours[i])


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


@dataclass(frozen=True)
class TeacherTraits:
    identity: dict[str, float]  # template slider -> weight
    skin: np.ndarray  # sRGB [3]
    eyes: np.ndarray
    hair: np.ndarray
    hair_thickness: float  # metres; 0 = bald
    hair_length: float  # 0..1, long hair down the back
    bun: float  # bun radius, metres

    @classmethod
    def from_latent(cls, z: np.ndarray) -> TeacherTraits:
        z = np.asarray(z, np.float64).reshape(-1)
        if len(z) < LATENT_DIM:
            raise ValueError(f"a teacher latent needs {LATENT_DIM} numbers, got {len(z)}")
        t = np.tanh
        identity = {
            "head-oval": 0.6 * max(z[0], 0) / 2,
            "head-round": 0.6 * max(-z[0], 0) / 2,
            "head-square": 0.5 * max(z[1], 0) / 2,
            "head-triangular": 0.5 * max(-z[1], 0) / 2,
            "nose-scale-horiz-decr-incr": 0.4 * t(z[2]),
            "nose-scale-vert-decr-incr": 0.3 * t(z[2]),
            "nose-hump-decr-incr": -0.4 * t(z[2]),
            "chin-prominent-decr-incr": 0.4 * t(z[3]),
            "chin-width-decr-incr": -0.3 * t(z[3]),
            "head-fat-decr-incr": 0.4 * t(z[3]),
            "l-cheek-bones-decr-incr": 0.3 * t(z[3]),
            "r-cheek-bones-decr-incr": 0.3 * t(z[3]),
        }
        return cls(
            identity=identity,
            skin=_palette(SKIN_TONES, _sigmoid(1.3 * z[4])),
            eyes=_palette(EYE_COLOURS, _sigmoid(-1.5 * z[4] + 0.8 * z[7])),
            hair=_palette(HAIR_COLOURS, _sigmoid(1.2 * z[7] + 0.4 * z[6] - 0.5)),
            hair_thickness=0.014 * _sigmoid(2.5 * z[5] + 1.0),
            hair_length=_sigmoid(2.5 * z[6] - 1.5),
            bun=0.045 * float(np.clip(z[7] - 0.6, 0, 1)),
        )


@lru_cache(maxsize=1)
def _template() -> tuple[HeadModel, np.ndarray, np.ndarray]:
    """The template, its outer-skin faces (mouth cavity left out) and the lip vertices."""
    model = build_template()
    skin = np.zeros(len(model.vertices), bool)
    skin[model.regions["skin"]] = True
    cavity = np.zeros(len(model.vertices), bool)
    cavity[model.regions.get("mouth_cavity", [])] = True
    faces = model.faces[skin[model.faces].all(1) & ~cavity[model.faces].all(1)]
    near_cavity = np.zeros(len(model.vertices), bool)
    touching = faces[cavity[faces].any(1)]
    near_cavity[touching.ravel()] = True
    return model, faces, near_cavity & ~cavity


class TeacherHead(ImplicitHead):
    """One head of the family, queryable at any point of the generator's frame."""

    def __init__(self, traits: TeacherTraits, resolution: int = 64) -> None:
        super().__init__(resolution=resolution)
        model, faces, lips = _template()
        self.traits = traits
        coeffs = np.zeros(model.num_shapes)
        for name, weight in traits.identity.items():
            if name in model.shape_names:
                coeffs[model.shape_names.index(name)] = weight
        metres = model.vertices + model.shape_basis @ coeffs
        self.vertices = (SCALE * (metres + OFFSET)).astype(np.float64)
        self.faces = faces
        self.samples = sample_surface(self.vertices, faces, spacing=0.004)
        self.inside = _occupancy(self.samples.points)
        joints = model.joint_regressor @ self.vertices
        self.eye_centres = joints[3:5]
        eyeball = self.vertices[model.regions["eyeball_left"]]
        self.eye_radius = float(np.linalg.norm(eyeball - eyeball.mean(0), axis=1).mean())
        self.colours = self._vertex_colours(lips)
        skin_ids = np.unique(faces)
        top = self.vertices[skin_ids, 1].max()
        self.crown = self.vertices[skin_ids][np.argmax(self.vertices[skin_ids, 1])]
        self.hairline_front = float(self.eye_centres[:, 1].mean() + 0.11 * SCALE * 0.5)
        self.nape = float(joints[1, 1])  # neck joint height
        upper = self.vertices[skin_ids][self.vertices[skin_ids, 1] > self.nape]
        self.back = float(upper[:, 2].min())
        self.top = top

    def _vertex_colours(self, lips: np.ndarray) -> np.ndarray:
        v = self.vertices
        colour = np.tile(self.traits.skin, (len(v), 1))
        eye_y = self.eye_centres[:, 1].mean()
        # lips: darker, redder; brows: a band of hair colour above the eyes
        lip_colour = self.traits.skin * np.array([0.78, 0.55, 0.55])
        colour[lips] = lip_colour
        front = v[:, 2] > self.eye_centres[:, 2].mean() - 0.02
        brow = (
            front
            & (v[:, 1] > eye_y + 0.028)
            & (v[:, 1] < eye_y + 0.046)
            & (np.abs(v[:, 0]) > 0.02)
            & (np.abs(v[:, 0]) < 0.11)
        )
        colour[brow] = 0.5 * colour[brow] + 0.5 * self.traits.hair
        # a little warmth on the cheeks
        cheek = front & (np.abs(v[:, 1] - (eye_y - 0.05)) < 0.03) & (np.abs(v[:, 0]) > 0.06)
        colour[cheek] = np.clip(colour[cheek] * np.array([1.04, 0.96, 0.96]), 0, 1)
        return colour

    # --- signed distances ------------------------------------------------------------------
    def _skin(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The nearest surface sample is exact enough away from the surface; near it (where
        # meshes and colours are decided) the closest point is computed exactly.
        dist, idx = self.samples.tree.query(p)
        tri, bary = self.samples.face[idx], self.samples.bary[idx]
        near = dist < NEAR
        if near.any():
            d, t, b, _ = closest_points(self.samples, self.vertices, self.faces, p[near])
            dist[near], tri[near], bary[near] = d, t, b
        corners = self.vertices[self.faces[tri]]
        closest = np.einsum("nk,nkc->nc", bary, corners)
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        outside = np.einsum("nc,nc->n", p - closest, normal) > 0
        # Away from the surface the normal test fails at edges (the neck cap's rim, ears):
        # there the filled voxel occupancy decides.
        far = dist > 2 * VOXEL
        cell = np.clip(((p[far] + 0.5) / VOXEL).astype(int), 0, GRID - 1)
        outside[far] = ~self.inside[cell[:, 0], cell[:, 1], cell[:, 2]]
        colour = interpolate(self.colours, self.faces, tri, bary)
        return np.where(outside, dist, -dist), colour

    def _eyes(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.linalg.norm(p[:, None, :] - self.eye_centres[None], axis=-1)  # [N, 2]
        k = np.argmin(d, axis=1)
        offset = p - self.eye_centres[k]
        forward = offset[:, 2] / np.linalg.norm(offset, axis=1).clip(1e-9)
        colour = np.tile([0.93, 0.92, 0.90], (len(p), 1))
        colour[forward > 0.90] = self.traits.eyes
        colour[forward > 0.97] = [0.03, 0.03, 0.03]
        return d[np.arange(len(p)), k] - self.eye_radius, colour

    def _hair(self, p: np.ndarray, skin: np.ndarray) -> np.ndarray:
        t = self.traits
        thickness = SCALE * t.hair_thickness
        # hairline: high at the forehead, down to the nape at the back
        rel_z = (p[:, 2] - self.crown[2]) / (SCALE * 0.1)
        line = np.where(
            rel_z > 0,
            self.hairline_front,
            self.hairline_front - (self.hairline_front - self.nape) * np.clip(-rel_z, 0, 1),
        )
        above = p[:, 1] - line  # > 0 where hair may grow
        shell = np.maximum(skin - thickness, -above)
        hair = shell if thickness > 1e-4 else np.full(len(p), np.inf)
        if thickness > 1e-4:
            # long hair: a rounded mass over the back of the head, falling toward the shoulders,
            # kept behind the ears
            centre, radii = self._curtain()
            q = (p - centre) / radii
            curtain = (np.linalg.norm(q, axis=1) - 1) * radii.min()
            behind_ears = p[:, 2] - (self.eye_centres[:, 2].mean() - 0.075 * SCALE)
            hair = np.minimum(hair, np.maximum(curtain, behind_ears))
        if t.bun > 1e-3:
            centre = self._bun_centre()
            hair = np.minimum(hair, np.linalg.norm(p - centre, axis=1) - SCALE * t.bun)
        return hair

    def surface_points(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``count`` points on the head's outer surface over the eyes and the hair.

        Training points drawn around the skin leave these nearly unsampled (the hair's outside
        sits up to 1.4 cm off the skin, long hair and a bun further; an iris is a few
        millimetres), and a student then paints them blurred. Candidates come from each
        part's own surface, in equal shares; those buried in another part are dropped.
        """
        t = self.traits
        parts = [self._sphere(self.eye_centres, self.eye_radius, count, rng, front=0.5)]
        thickness = SCALE * t.hair_thickness
        if thickness > 1e-4:
            pick = rng.integers(len(self.samples.points), size=2 * count)
            parts.append(self.samples.points[pick] + thickness * self.samples.normals[pick])
            centre, radii = self._curtain()
            parts.append(centre + radii * _directions(count, rng))
            if t.bun > 1e-3:
                parts.append(self._sphere(self._bun_centre()[None], SCALE * t.bun, count, rng))
        kept = []
        for candidates in parts:
            sdf, _ = self.field(candidates)
            on = candidates[np.abs(sdf) < 0.003]
            kept.append(on[: count // len(parts)])
        return np.concatenate(kept)

    @staticmethod
    def _sphere(
        centres: np.ndarray,
        radius: float,
        count: int,
        rng: np.random.Generator,
        front: float = -1.0,
    ) -> np.ndarray:
        """``count`` points on spheres around ``centres``, facing +z beyond ``front``."""
        d = _directions(4 * count, rng)
        d = d[d[:, 2] > front][:count]
        return centres[rng.integers(len(centres), size=len(d))] + radius * d

    def _curtain(self) -> tuple[np.ndarray, np.ndarray]:
        """Long hair's ellipsoid: centre and radii.

        Below hair length 0.05 it shrinks into the head (from 0.6 of its size it is buried):
        switched on at a threshold, it covered the back of the head with hair at once, a step
        in the latent that a smooth generator blurs into a half-grown curtain on either side.
        """
        length = self.traits.hair_length
        centre = np.array([0.0, self.nape + 0.03 * SCALE, self.back + 0.035 * SCALE])
        radii = SCALE * np.array([0.08, 0.05 + 0.07 * length, 0.04])
        return centre, radii * (0.6 + 0.4 * min(length / 0.05, 1.0))

    def _bun_centre(self) -> np.ndarray:
        return self.crown + np.array([0.0, -0.02, -0.09]) * SCALE

    def field(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(points, np.float64)
        skin, colour = self._skin(p)
        eyes, eye_colour = self._eyes(p)
        hair = self._hair(p, skin)
        sdf = np.minimum(np.minimum(skin, eyes), hair)
        on_eye = eyes <= np.minimum(skin, hair)
        colour[on_eye] = eye_colour[on_eye]
        on_hair = hair < np.minimum(skin, eyes) + 0.004
        # strands: stripes around the vertical axis, fixed in space (view-consistent)
        angle = np.arctan2(p[:, 0], p[:, 2])
        stripes = 0.85 + 0.15 * np.sin(60 * angle + 25 * p[:, 1])
        colour[on_hair] = np.clip(self.traits.hair * stripes[on_hair, None], 0, 1)
        return sdf, colour


def _directions(count: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform unit vectors."""
    d = rng.normal(size=(count, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True).clip(1e-12)


def _occupancy(surface: np.ndarray) -> np.ndarray:
    """Inside of a closed surface on a GRID^3 lattice over the box: voxelise the (dense)
    surface samples, close one-voxel gaps, fill the enclosed space."""
    cells = np.clip(((surface + 0.5) / VOXEL).astype(int), 0, GRID - 1)
    shell = np.zeros((GRID,) * 3, bool)
    shell[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    shell = ndimage.binary_dilation(shell)
    return ndimage.binary_fill_holes(shell) & ~shell | ndimage.binary_erosion(
        ndimage.binary_fill_holes(shell)
    )


def teacher_head(z: np.ndarray, resolution: int = 64) -> TeacherHead:
    return TeacherHead(TeacherTraits.from_latent(z), resolution)

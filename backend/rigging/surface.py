"""Closest points on a triangle surface, via dense barycentric samples and a k-d tree.

The sample nearest to a query approximates the closest surface point (good enough for fitting);
``closest_points`` refines it exactly over the triangles of the nearest samples, preferring
triangles that face the same way as the query, for attribute transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class SurfaceSamples:
    points: np.ndarray  # [N, 3]
    normals: np.ndarray  # [N, 3] face normals of the sampled triangles
    face: np.ndarray  # [N] triangle of each sample
    bary: np.ndarray  # [N, 3] barycentric coordinates
    tree: cKDTree


def sample_surface(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> SurfaceSamples:
    """Samples on every triangle on a barycentric lattice of about ``spacing`` (plus corners)."""
    tri = vertices[faces]  # [F, 3, 3]
    edges = np.linalg.norm(tri - tri[:, [1, 2, 0]], axis=-1).max(axis=1)
    levels = np.clip(np.ceil(edges / spacing).astype(int), 1, 64)
    face_ids, barys = [], []
    for n in np.unique(levels):
        ids = np.nonzero(levels == n)[0]
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        b = np.stack([i[keep], j[keep], n - i[keep] - j[keep]], axis=-1) / n  # [K, 3]
        face_ids.append(np.repeat(ids, len(b)))
        barys.append(np.tile(b, (len(ids), 1)))
    face = np.concatenate(face_ids)
    bary = np.concatenate(barys).astype(np.float32)
    points = np.einsum("nk,nkc->nc", bary, tri[face])
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True).clip(1e-12)
    return SurfaceSamples(points, normal[face], face, bary, cKDTree(points))


def interpolate(values: np.ndarray, faces: np.ndarray, face: np.ndarray, bary: np.ndarray):
    """Per-vertex ``values`` [V, ...] at surface samples given by (face, bary)."""
    corners = values[faces[face]]  # [N, 3, ...]
    return np.einsum("nk,nk...->n...", bary, corners)


def closest_points(
    samples: SurfaceSamples,
    vertices: np.ndarray,
    faces: np.ndarray,
    queries: np.ndarray,
    query_normals: np.ndarray | None = None,
    min_cos: float = -1.0,
    candidates: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact closest points among the triangles of the ``candidates`` nearest samples.

    With ``query_normals``, triangles facing away (cosine below ``min_cos``) lose to any that
    face the same way, so thin layers (eyelids, lips) are not confused.
    Returns (distance [N], triangle [N], barycentric [N, 3], cosine of the normals [N]).
    """
    _, idx = samples.tree.query(queries, k=candidates)
    tri_ids = samples.face[idx]  # [N, K]
    tri = vertices[faces[tri_ids]]  # [N, K, 3, 3]
    point, bary = _closest_on_triangles(queries[:, None, :], tri)
    dist = np.linalg.norm(point - queries[:, None, :], axis=-1)
    normal = np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True).clip(1e-12)
    cos = np.ones_like(dist)
    cost = dist
    if query_normals is not None:
        cos = np.einsum("nkc,nc->nk", normal, query_normals)
        cost = dist + np.where(cos < min_cos, dist.max() + 1.0, 0.0)
    best = np.argmin(cost, axis=1)
    rows = np.arange(len(queries))
    return dist[rows, best], tri_ids[rows, best], bary[rows, best], cos[rows, best]


def _closest_on_triangles(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of triangles [..., 3, 3] to points [..., 3] and its barycentrics
    (the Voronoi-region method of Ericson's Real-Time Collision Detection, vectorised)."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    eps = 1e-20
    # interior by default
    denom = 1.0 / np.where(np.abs(va + vb + vc) > eps, va + vb + vc, eps)
    v, w = vb * denom, vc * denom
    u = 1 - v - w
    bary = np.stack([u, v, w], -1)

    def put(mask, value):
        bary[mask] = value[mask] if value.ndim == bary.ndim else value

    # edges (checked before vertices, which override them where both hold)
    t_ab = d1 / np.where(np.abs(d1 - d3) > eps, d1 - d3, eps)
    put((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t_ab, t_ab, 0 * t_ab], -1))
    t_ac = d2 / np.where(np.abs(d2 - d6) > eps, d2 - d6, eps)
    put((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t_ac, 0 * t_ac, t_ac], -1))
    t_bc = (d4 - d3) / np.where(np.abs((d4 - d3) + (d5 - d6)) > eps, (d4 - d3) + (d5 - d6), eps)
    put((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), np.stack([0 * t_bc, 1 - t_bc, t_bc], -1))
    put((d1 <= 0) & (d2 <= 0), np.array([1.0, 0.0, 0.0]))
    put((d3 >= 0) & (d4 <= d3), np.array([0.0, 1.0, 0.0]))
    put((d6 >= 0) & (d5 <= d6), np.array([0.0, 0.0, 1.0]))
    point = np.einsum("...k,...kc->...c", bary, tri)
    return point, bary

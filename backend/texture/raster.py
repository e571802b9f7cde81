"""Vectorised triangle rasterisation (numpy only).

Two uses: baking into a UV atlas (tens of thousands of small, non-overlapping triangles, no
depth) and rendering small z-buffered face-id/barycentric images of a mesh.

Coverage rule: pixel (row i, col j) has its centre at (x=j+0.5, y=i+0.5) and is covered when the
centre lies inside the triangle. A centre exactly on an edge goes to exactly one of the two
triangles sharing that edge: each edge's line function is evaluated from a canonical vertex order
(the lexicographically smaller endpoint first), so both triangles compute bit-identical values of
opposite meaning, and the tie goes to the triangle on the line's positive side. Meshes therefore
rasterise with no holes and no double coverage; a centre exactly on an outer boundary edge may
be left out.

Method: each triangle's pixel bounding box is clipped to the image and cut into tiles of at most
``_TILE``x``_TILE`` pixels; tiles are bucketed by power-of-two width and height so a bucket's
candidate pixels form dense ``[T, sy, sx]`` grids, evaluated a chunk at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TILE = 64  # larger boxes are split, bounding both the padding waste and per-tile memory
_CHUNK = 1 << 21  # candidate pixels per evaluation (a few 16 MB float64 temporaries)


@dataclass(frozen=True)
class Raster:
    face: np.ndarray  # [H, W] int32 triangle index per pixel, -1 where none
    bary: np.ndarray  # [H, W, 3] float32 barycentrics of that triangle, 0 where none
    depth: np.ndarray | None  # [H, W] float32 winning depth (inf where none), None without depth


@dataclass(frozen=True)
class _Edges:
    """Per-triangle, per-edge line functions; edge k is the one opposite vertex k."""

    ax: np.ndarray  # [3, F] canonical origin of the edge
    ay: np.ndarray
    ex: np.ndarray  # [3, F] canonical direction, pre-multiplied by the side sign of the triangle
    ey: np.ndarray
    thr: np.ndarray  # [3, F] 0 where edge ties belong to the triangle, else the smallest float > 0
    norm: np.ndarray  # [3, F] |line function at the opposite vertex| (barycentric denominator)


def rasterize(
    triangles: np.ndarray, width: int, height: int, depth: np.ndarray | None = None
) -> Raster:
    """Rasterise [F, 3, 2] pixel-space triangles (x = column, y = row) into a width x height grid.

    Either winding is accepted; degenerate and non-finite triangles cover nothing. With ``depth``
    ([F, 3] per-vertex values, interpolated linearly in screen space with the barycentrics, so
    pass whatever quantity should be compared, e.g. view-space depth or camera distance), the
    smallest value wins per pixel; NaN depths never win. Without it, where triangles overlap,
    any one of them may win.
    """
    tri = np.asarray(triangles, dtype=np.float64)
    if tri.ndim != 3 or tri.shape[1:] != (3, 2):
        raise ValueError(f"triangles must be [F, 3, 2], got {tri.shape}")
    if width < 0 or height < 0:
        raise ValueError(f"image size must be non-negative, got {width}x{height}")
    vdepth = None
    if depth is not None:
        vdepth = np.asarray(depth, dtype=np.float64)
        if vdepth.shape != tri.shape[:2]:
            raise ValueError(f"depth must be [F, 3] = {tri.shape[:2]}, got {vdepth.shape}")

    face = np.full(height * width, -1, dtype=np.int32)
    bary = np.zeros((height * width, 3), dtype=np.float32)
    zbuf = np.full(height * width, np.inf) if vdepth is not None else None

    edges, usable = _edges(tri)
    tid, c0, r0, tw, th = _tiles(tri, usable, width, height)
    # Bucket tiles by power-of-two size: exponent of the smallest 2**e >= n is frexp(n - 1)[1].
    log_w = np.frexp(tw - 1)[1]
    log_h = np.frexp(th - 1)[1]
    key = log_h * 8 + log_w  # exponents are at most log2(_TILE) = 6
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        if group.size == 0:
            continue
        sx, sy = 1 << int(log_w[group[0]]), 1 << int(log_h[group[0]])
        step = max(1, _CHUNK // (sx * sy))
        for start in range(0, group.size, step):
            sel = group[start : start + step]
            t, pix, b = _cover(edges, tid[sel], c0[sel], r0[sel], tw[sel], th[sel], sx, sy, width)
            if zbuf is not None:
                z = np.einsum("nk,nk->n", b, vdepth[t])
                np.fmin.at(zbuf, pix, z)  # fmin: NaN depths never win
                near = z <= zbuf[pix]
                t, pix, b = t[near], pix[near], b[near]
            # A triangle has at most one candidate per pixel, so reading back which triangle
            # landed picks exactly one candidate per pixel and keeps face and bary consistent.
            face[pix] = t
            won = face[pix] == t
            bary[pix[won]] = b[won]

    out_depth = None
    if zbuf is not None:
        out_depth = zbuf.astype(np.float32).reshape(height, width)
    return Raster(face.reshape(height, width), bary.reshape(height, width, 3), out_depth)


def _edges(tri: np.ndarray) -> tuple[_Edges, np.ndarray]:
    """Line functions for each edge, and which triangles are usable (finite, non-degenerate)."""
    ax, ay, ex, ey, thr, norm = (np.empty((3, tri.shape[0])) for _ in range(6))
    for k in range(3):
        p, q, v = tri[:, (k + 1) % 3], tri[:, (k + 2) % 3], tri[:, k]
        swap = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
        a = np.where(swap[:, None], q, p)
        b = np.where(swap[:, None], p, q)
        dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        # Same expression (and rounding) as used for pixel centres in _cover.
        at_v = dx * (v[:, 1] - a[:, 1]) - dy * (v[:, 0] - a[:, 0])
        side = np.where(at_v < 0, -1.0, 1.0)
        ax[k], ay[k] = a[:, 0], a[:, 1]
        # Negation is exact, so the sign-folded function is exactly +-the canonical one.
        ex[k], ey[k] = side * dx, side * dy
        thr[k] = np.where(side > 0, 0.0, np.nextafter(0.0, 1.0))
        norm[k] = np.abs(at_v)
    usable = np.isfinite(tri).all(axis=(1, 2)) & ((norm > 0) & np.isfinite(norm)).all(axis=0)
    return _Edges(ax, ay, ex, ey, thr, norm), usable


def _tiles(tri: np.ndarray, usable: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Clipped pixel bounding boxes split into tiles: (triangle, col0, row0, width, height)."""
    idx = np.flatnonzero(usable)
    lo = tri[idx].min(axis=1)
    hi = tri[idx].max(axis=1)
    # Pixel centres j + 0.5 within [lo, hi]; clipping in float keeps huge coordinates safe.
    c0 = np.maximum(np.ceil(lo[:, 0] - 0.5), 0)
    c1 = np.minimum(np.floor(hi[:, 0] - 0.5), width - 1)
    r0 = np.maximum(np.ceil(lo[:, 1] - 0.5), 0)
    r1 = np.minimum(np.floor(hi[:, 1] - 0.5), height - 1)
    keep = (c0 <= c1) & (r0 <= r1)
    idx = idx[keep]
    c0, c1, r0, r1 = (a[keep].astype(np.int64) for a in (c0, c1, r0, r1))
    nx = (c1 - c0) // _TILE + 1
    ny = (r1 - r0) // _TILE + 1
    count = nx * ny
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    nx_rep = np.repeat(nx, count)
    tc0 = np.repeat(c0, count) + (local % nx_rep) * _TILE
    tr0 = np.repeat(r0, count) + (local // nx_rep) * _TILE
    tw = np.minimum(_TILE, np.repeat(c1, count) - tc0 + 1)
    th = np.minimum(_TILE, np.repeat(r1, count) - tr0 + 1)
    return np.repeat(idx, count), tc0, tr0, tw, th


def _cover(
    edges: _Edges,
    tid: np.ndarray,
    c0: np.ndarray,
    r0: np.ndarray,
    tw: np.ndarray,
    th: np.ndarray,
    sx: int,
    sy: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covered candidates of a chunk of tiles: (triangle, flat pixel index, [N, 3] barycentrics)."""
    lx, ly = np.arange(sx), np.arange(sy)
    inside = (ly < th[:, None])[:, :, None] & (lx < tw[:, None])[:, None, :]
    px = (c0[:, None] + lx) + 0.5  # [T, sx] pixel-centre x
    py = (r0[:, None] + ly) + 0.5  # [T, sy]
    funcs = []
    for k in range(3):
        # Products on the small [T, s] arrays, one subtraction on the [T, sy, sx] grid; the
        # rounding matches _edges elementwise, which keeps shared-edge ties exact.
        gy = edges.ex[k, tid, None] * (py - edges.ay[k, tid, None])
        gx = edges.ey[k, tid, None] * (px - edges.ax[k, tid, None])
        fk = gy[:, :, None] - gx[:, None, :]
        inside &= fk >= edges.thr[k, tid, None, None]
        funcs.append(fk)
    flat = np.flatnonzero(inside)
    ti, rem = np.divmod(flat, sx * sy)
    ri, ci = np.divmod(rem, sx)
    t = tid[ti]
    b = np.stack([f.ravel()[flat] / edges.norm[k, t] for k, f in enumerate(funcs)], axis=1)
    total = b.sum(axis=1)
    ok = total > 0  # only fails on slivers where rounding puts a centre on all three lines
    b = b[ok] / total[ok, None]
    pix = (r0[ti] + ri) * width + (c0[ti] + ci)
    return t[ok], pix[ok], b.astype(np.float32)

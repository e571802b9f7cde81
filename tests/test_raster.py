"""Triangle rasterisation and seam padding (backend.texture.raster / backend.texture.padding)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backend.texture import raster
from backend.texture.padding import dilate
from backend.texture.raster import rasterize


def _centres(height: int, width: int) -> np.ndarray:
    """[H, W, 2] pixel centres (x, y)."""
    row, col = np.mgrid[0:height, 0:width]
    return np.stack([col + 0.5, row + 0.5], axis=-1).astype(np.float64)


def _signed_distances(tri: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[..., 3] distance of points to each edge line, positive inside (independent of raster)."""
    tri = np.asarray(tri, dtype=np.float64)
    a, b, c = tri
    orient = np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    out = []
    for p, q in ((b, c), (c, a), (a, b)):
        edge = q - p
        cross = edge[0] * (points[..., 1] - p[1]) - edge[1] * (points[..., 0] - p[0])
        out.append(orient * cross / np.hypot(*edge))
    return np.stack(out, axis=-1)


def _reference_cover(tri: np.ndarray, height: int, width: int) -> np.ndarray:
    """Slow reference: centres strictly inside the triangle (with a tiny margin)."""
    return (_signed_distances(tri, _centres(height, width)) > 1e-9).all(axis=-1)


def _coverage_count(triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """How many triangles claim each pixel, rasterising them one at a time."""
    count = np.zeros((height, width), dtype=int)
    for tri in triangles:
        count += rasterize(tri[None], width, height).face >= 0
    return count


def test_single_triangle_coverage_and_barycentrics():
    tri = np.array([[3.2, 4.7], [41.9, 10.3], [17.4, 37.6]])
    r = rasterize(tri[None], 48, 40)
    assert r.face.shape == (40, 48) and r.face.dtype == np.int32
    assert r.bary.shape == (40, 48, 3) and r.bary.dtype == np.float32
    assert r.depth is None
    covered = r.face == 0
    (ux, uy), (vx, vy) = tri[1] - tri[0], tri[2] - tri[0]
    area = 0.5 * abs(ux * vy - uy * vx)
    perimeter = sum(np.linalg.norm(tri[k] - tri[k - 1]) for k in range(3))
    assert abs(covered.sum() - area) <= perimeter
    # Every covered centre is inside (or on the edge of) the triangle, and every centre clearly
    # inside is covered.
    dist = _signed_distances(tri, _centres(40, 48))
    assert (dist[covered] >= -1e-9).all()
    assert covered[(dist > 1e-6).all(axis=-1)].all()
    assert (r.face[~covered] == -1).all() and (r.bary[~covered] == 0).all()
    # Barycentrics are a partition of unity that reproduces the pixel centre.
    bary = r.bary[covered].astype(np.float64)
    np.testing.assert_allclose(bary.sum(axis=1), 1.0, atol=1e-6)
    assert (bary >= 0).all()
    np.testing.assert_allclose(bary @ tri, _centres(40, 48)[covered], atol=1e-4)


def test_winding_does_not_matter():
    tri = np.array([[[3.2, 4.7], [41.9, 10.3], [17.4, 37.6]]])
    a = rasterize(tri, 48, 40)
    b = rasterize(tri[:, ::-1], 48, 40)
    np.testing.assert_array_equal(a.face, b.face)
    np.testing.assert_allclose(a.bary, b.bary[..., ::-1], atol=1e-6)


def test_split_square_is_covered_exactly_once():
    # Corners on pixel centres: the diagonal and outer edges pass exactly through centres.
    square = np.array([[2.5, 2.5], [20.5, 2.5], [20.5, 20.5], [2.5, 20.5]])
    for diagonal in ((0, 1, 2, 0, 2, 3), (0, 1, 3, 1, 2, 3)):
        tris = square[list(diagonal)].reshape(2, 3, 2)
        count = _coverage_count(tris, 24, 24)
        centres = _centres(24, 24)
        interior = ((centres > 2.5) & (centres < 20.5)).all(axis=-1)
        assert (count[interior] == 1).all()  # includes every centre on the shared diagonal
        assert count.max() == 1
        # Both triangles together in one call give the same union.
        face = rasterize(tris, 24, 24).face
        np.testing.assert_array_equal(face >= 0, count == 1)


@pytest.mark.parametrize("aligned", [True, False])
def test_triangle_fan_has_no_holes_or_overlaps(aligned):
    rng = np.random.default_rng(1)
    n = 9
    angles = 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
    centre = np.array([32.5, 32.5]) if aligned else np.array([32.37, 31.81])
    rim = centre + 25 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if aligned:
        rim = np.floor(rim) + 0.5  # rim and centre on pixel centres: many exact edge hits
    tris = np.stack([np.broadcast_to(centre, (n, 2)), rim, np.roll(rim, -1, axis=0)], axis=1)
    count = _coverage_count(tris, 64, 64)
    # Strictly inside the rim polygon: in some closed triangle and off its rim edge (edge 0),
    # which includes the centres lying exactly on the spokes shared by neighbouring triangles.
    inside = np.zeros((64, 64), dtype=bool)
    for tri in tris:
        dist = _signed_distances(tri, _centres(64, 64))
        inside |= (dist[..., 1:] > -1e-9).all(axis=-1) & (dist[..., 0] > 1e-9)
    assert inside.sum() > 1000
    assert (count[inside] == 1).all()
    assert count.max() == 1
    if aligned:
        assert count[32, 32] == 1  # the shared centre vertex itself


def test_zbuffer_constant_depths():
    # Off-grid vertices: no pixel centre lies exactly on an edge, so the strict reference applies.
    a = np.array([[2.1, 2.2], [30.3, 2.1], [2.2, 30.4]])
    b = np.array([[8.13, 8.2], [38.1, 8.3], [8.2, 38.3]])
    tris = np.stack([a, b])
    cover_a = _reference_cover(a, 40, 40)
    cover_b = _reference_cover(b, 40, 40)
    for near, depth in ((0, [[1.0] * 3, [2.0] * 3]), (1, [[2.0] * 3, [1.0] * 3])):
        r = rasterize(tris, 40, 40, depth=np.array(depth))
        assert r.depth is not None and r.depth.dtype == np.float32
        both = cover_a & cover_b
        assert both.sum() > 100
        assert (r.face[both] == near).all()
        assert (r.face[cover_a & ~cover_b] == 0).all()
        assert (r.face[cover_b & ~cover_a] == 1).all()
        assert (r.face[~cover_a & ~cover_b] == -1).all()
        assert np.isinf(r.depth[r.face == -1]).all()
        np.testing.assert_allclose(r.depth[both], 1.0)


def test_zbuffer_sloped_depth_switches_along_intersection():
    # A: depth 0 at x=0 rising to 2 at x=40; B: constant depth 1. They cross at x = 20.
    a = np.array([[0.0, 0.0], [40.0, 0.0], [40.0, 40.0]])
    b = a.copy()
    depth = np.array([[0.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    r = rasterize(np.stack([a, b]), 40, 40, depth=depth)
    x = _centres(40, 40)[..., 0]
    covered = _reference_cover(a, 40, 40)
    assert (r.face[covered & (x < 19.9)] == 0).all()
    assert (r.face[covered & (x > 20.1)] == 1).all()
    expected = np.minimum(x / 20.0, 1.0)
    np.testing.assert_allclose(r.depth[covered], expected[covered], atol=1e-5)


@pytest.mark.parametrize("chunk", [64, 1 << 21])
def test_zbuffer_matches_per_triangle_minimum(monkeypatch, chunk):
    # Heavy random overdraw; a small chunk forces the resolve across many evaluation chunks.
    monkeypatch.setattr(raster, "_CHUNK", chunk)
    rng = np.random.default_rng(2)
    tris = rng.uniform(-4, 52, (150, 1, 2)) + rng.normal(0, 10, (150, 3, 2))
    depth = rng.uniform(0, 1, (150, 3))
    r = raster.rasterize(tris, 48, 40, depth=depth)
    best = np.full((40, 48), np.inf)
    for t in range(len(tris)):
        single = raster.rasterize(tris[t : t + 1], 48, 40, depth=depth[t : t + 1])
        best = np.minimum(best, single.depth)
        hit = r.face == t
        # The winner's own depth and barycentrics are the ones stored.
        np.testing.assert_allclose(r.depth[hit], single.depth[hit], rtol=1e-6)
        np.testing.assert_allclose(r.bary[hit], single.bary[hit], atol=1e-6)
    np.testing.assert_allclose(r.depth, best, rtol=1e-6)
    assert ((r.face >= 0) == np.isfinite(best)).all()


def test_degenerate_and_off_image_triangles():
    tris = np.array(
        [
            [[1.0, 1.0], [10.0, 10.0], [20.0, 20.0]],  # collinear
            [[5.0, 5.0], [5.0, 5.0], [15.0, 2.0]],  # repeated vertex
            [[-30.0, -30.0], [-10.0, -30.0], [-10.0, -5.0]],  # entirely off-image
            [[50.0, 2.0], [70.0, 2.0], [60.0, 20.0]],  # entirely right of the image
            [[1.0, 1.0], [np.nan, 3.0], [5.0, 9.0]],  # non-finite
        ]
    )
    r = rasterize(tris, 32, 32)
    assert (r.face == -1).all() and (r.bary == 0).all()
    empty = rasterize(np.zeros((0, 3, 2)), 8, 8)
    assert (empty.face == -1).all()


def test_partially_off_image_triangle_is_clipped():
    # Dyadic coordinates so the shift by 16 is exact and both rasterisations agree bit for bit.
    tri = np.array([[[-10.25, -6.5], [25.75, 3.125], [4.5, 40.375]]])
    r = rasterize(tri, 24, 24)
    big = rasterize(tri + 16.0, 24 + 32, 24 + 32)
    np.testing.assert_array_equal(r.face, big.face[16:40, 16:40])
    np.testing.assert_allclose(r.bary, big.bary[16:40, 16:40], atol=1e-6)
    assert (r.face == 0).any() and (r.face == -1).any()


def test_huge_triangle_spanning_many_tiles():
    tri = np.array([[[-500.0, -300.0], [900.0, 10.0], [100.0, 1200.0]]])
    r = rasterize(tri, 300, 260)
    np.testing.assert_array_equal(r.face == 0, _reference_cover(tri[0], 260, 300))
    bary = r.bary[r.face == 0].astype(np.float64)
    np.testing.assert_allclose(bary @ tri[0], _centres(260, 300)[r.face == 0], atol=2e-4)


def _jittered_atlas(cells: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Grid of squares, each shrunk and jittered inside its cell and split into two triangles."""
    cell = size / cells
    row, col = np.mgrid[0:cells, 0:cells]
    origin = np.stack([col.ravel(), row.ravel()], axis=1)[:, None, :] * cell
    unit = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    corners = origin + (0.1 + 0.8 * unit + rng.uniform(-0.08, 0.08, (cells * cells, 4, 2))) * cell
    return np.concatenate([corners[:, [0, 1, 2]], corners[:, [0, 2, 3]]])


def test_atlas_matches_reference_coverage():
    rng = np.random.default_rng(0)
    tris = _jittered_atlas(100, 1024, rng)
    assert tris.shape == (20000, 3, 2)
    start = time.perf_counter()
    r = rasterize(tris, 1024, 1024)
    print(f"rasterize 20k triangles into 1024^2: {time.perf_counter() - start:.3f} s")
    counts = np.bincount(r.face[r.face >= 0], minlength=len(tris))
    for t in rng.choice(len(tris), 300, replace=False):
        lo = np.floor(tris[t].min(axis=0)).astype(int)
        hi = np.ceil(tris[t].max(axis=0)).astype(int)
        ref = _reference_cover(tris[t] - lo, hi[1] - lo[1], hi[0] - lo[0])
        assert counts[t] == ref.sum()
        np.testing.assert_array_equal(r.face[lo[1] : hi[1], lo[0] : hi[0]] == t, ref)
    # The per-triangle coverage over the whole set adds up to the covered pixel count (no
    # pixel is claimed twice, none is lost), estimated from the areas within rounding.
    u, v = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    area = 0.5 * np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
    assert counts.sum() == (r.face >= 0).sum()
    assert abs(counts.sum() - area.sum()) < 0.01 * area.sum()


def test_dilate_keeps_valid_texels_and_dtype():
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3), dtype=np.float32)
    mask = rng.random((40, 50)) < 0.2
    image_copy = image.copy()
    out = dilate(image, mask, pixels=4)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[mask], image[mask])
    np.testing.assert_array_equal(image, image_copy)  # input untouched
    assert np.isfinite(out).all()


def _reference_dilate(image: np.ndarray, mask: np.ndarray, pixels: int) -> np.ndarray:
    """Texel-by-texel version of the ring rule."""
    H, W, _ = image.shape
    out = np.where(mask[..., None], image, 0).astype(np.float64)
    filled = mask.copy()
    for _ in range(pixels):
        ring = []
        for i in range(H):
            for j in range(W):
                if filled[i, j]:
                    continue
                values = [
                    out[a, b]
                    for a in range(max(i - 1, 0), min(i + 2, H))
                    for b in range(max(j - 1, 0), min(j + 2, W))
                    if filled[a, b]
                ]
                if values:
                    ring.append((i, j, np.mean(values, axis=0)))
        for i, j, value in ring:
            out[i, j], filled[i, j] = value, True
    out[~filled] = image[mask].mean(axis=0) if mask.any() else 0
    return out


@pytest.mark.parametrize("pixels", [0, 1, 3, 30])
def test_dilate_matches_reference(pixels):
    rng = np.random.default_rng(pixels)
    image = rng.random((19, 23, 2), dtype=np.float32)
    mask = rng.random((19, 23)) < 0.04
    mask[0, 5] = mask[18, 22] = True  # islands on the border and in a corner
    out = dilate(image, mask, pixels=pixels)
    np.testing.assert_allclose(out, _reference_dilate(image, mask, pixels), rtol=1e-5)


def test_dilate_single_texel_grows_a_square():
    image = np.zeros((31, 31, 3), dtype=np.float32)
    colour = np.array([0.2, 0.5, 0.9], dtype=np.float32)
    mask = np.zeros((31, 31), dtype=bool)
    image[15, 15] = colour
    mask[15, 15] = True
    image[~mask] = np.nan  # content of invalid texels must not leak
    out = dilate(image, mask, pixels=3)
    np.testing.assert_allclose(out[12:19, 12:19], np.broadcast_to(colour, (7, 7, 3)), rtol=1e-6)
    # Everything else falls back to the mean of the valid texels, which is the same colour here.
    np.testing.assert_allclose(out, np.broadcast_to(colour, out.shape), rtol=1e-6)

    # With a second valid texel of another colour far away, texels beyond 3 rings get the mean.
    other = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    image[2, 2], mask[2, 2] = other, True
    out = dilate(image, mask, pixels=3)
    np.testing.assert_allclose(out[12:19, 12:19], np.broadcast_to(colour, (7, 7, 3)), rtol=1e-6)
    np.testing.assert_allclose(out[0:6, 0:6], np.broadcast_to(other, (6, 6, 3)), rtol=1e-6)
    grown = np.zeros((31, 31), dtype=bool)
    grown[12:19, 12:19] = grown[0:6, 0:6] = True
    np.testing.assert_allclose(
        out[~grown], np.broadcast_to((colour + other) / 2, (31**2 - 85, 3)), rtol=1e-6
    )


def test_dilate_islands_meet_in_between():
    image = np.zeros((10, 30, 1), dtype=np.float32)
    mask = np.zeros((10, 30), dtype=bool)
    mask[:, :5], image[:, :5] = True, 1.0
    mask[:, 25:], image[:, 25:] = True, 3.0
    out = dilate(image, mask, pixels=16)[..., 0]
    np.testing.assert_allclose(out[:, 5:15], 1.0)  # rings 1-10 from the left island
    np.testing.assert_allclose(out[:, 15:25], 3.0)  # rings 1-10 from the right island
    # A single gap column equidistant from both averages the two colours.
    image = np.zeros((10, 31, 1), dtype=np.float32)
    image[:, :15], image[:, 16:] = 1.0, 3.0
    mask = np.ones((10, 31), dtype=bool)
    mask[:, 15] = False
    np.testing.assert_allclose(dilate(image, mask, pixels=1)[:, 15, 0], 2.0)


def test_dilate_without_valid_texels_is_zero():
    out = dilate(np.full((8, 8, 2), 5.0, np.float32), np.zeros((8, 8), bool), pixels=4)
    assert (out == 0).all()

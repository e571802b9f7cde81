"""Mesh extraction on fields with a known surface."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from backend.cameras import conditioning_camera
from backend.geometry import (
    GridRegion,
    coarse_to_fine_grid,
    dense_grid,
    density_field,
    extract_mesh,
    marching_cubes,
)
from backend.models import load_generator

from .analytic_head import AnalyticHead

WS = torch.zeros(1, 1, 1)


def _surface_vertices(grid, level=10.0):
    vertices, _ = marching_cubes(grid, level)
    return vertices


@pytest.mark.parametrize("resolution", [128, 256])
def test_surface_accuracy_and_coarse_to_fine_equivalence(resolution):
    head = AnalyticHead()
    field = density_field(head, WS)
    region = GridRegion(border=0.0, neck_y=-0.35)
    dense = dense_grid(field, resolution, region=region)
    fast = coarse_to_fine_grid(field, resolution, level=10.0, region=region)
    voxel = 1.0 / resolution
    v_dense, v_fast = _surface_vertices(dense), _surface_vertices(fast)
    # Within half a voxel (mean) of the true surface (neck cap excluded: it is a cut, not f = 0).
    keep = v_fast[:, 1] > -0.35 + 2 * voxel
    assert head.surface_distance(v_fast[keep]).mean() < 0.5 * voxel
    # Same surface as the dense reference: symmetric Hausdorff distance at most one voxel.
    d1, _ = cKDTree(v_dense).query(v_fast)
    d2, _ = cKDTree(v_fast).query(v_dense)
    assert max(d1.max(), d2.max()) <= voxel
    ratio = fast.queries / dense.queries
    assert ratio <= 0.2, f"coarse-to-fine used {ratio:.1%} of dense's queries"


def test_extracted_mesh_is_closed_in_world_units_and_oriented():
    head = AnalyticHead()
    mesh = extract_mesh(head, WS, resolution=128, region=GridRegion(border=0.0, neck_y=-0.3))
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert tm.is_watertight and tm.volume > 0  # closed, outward-facing
    lo, hi = mesh.bounds
    # +y up: the flat neck cut at the bottom, the cranium on top.
    assert lo[1] == pytest.approx(-0.3, abs=1 / 128)
    assert hi[1] == pytest.approx(0.28, abs=2 / 128)
    # The face looks toward +z: the nose tip is the front-most point, on the mid-plane.
    tip = mesh.vertices[np.argmax(mesh.vertices[:, 2])]
    assert abs(tip[0]) < 0.02 and tip[2] > 0.22
    # Neck cut is flat: every vertex at the bottom lies in the plane y = -0.3.
    bottom = mesh.vertices[mesh.vertices[:, 1] < -0.29]
    assert np.ptp(bottom[:, 1]) < 1 / 128
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-3)


def test_bounding_box_matches_the_field():
    head = AnalyticHead(head=False)  # ellipsoid centre (0.02, 0.05, -0.01), radii (0.2, 0.28, 0.22)
    mesh = extract_mesh(
        head, WS, resolution=128, region=GridRegion(border=0.0), smooth_iterations=0
    )
    lo, hi = mesh.bounds
    centre, radii = np.array([0.02, 0.05, -0.01]), np.array([0.2, 0.28, 0.22])
    assert np.allclose(lo, centre - radii, atol=1 / 128)
    assert np.allclose(hi, centre + radii, atol=1 / 128)


def test_floaters_are_dropped_and_decimation_hits_the_target():
    class WithFloater(AnalyticHead):
        def implicit(self, p):
            blob = (p - torch.tensor([0.3, 0.3, 0.3], dtype=p.dtype)).norm(dim=-1) - 0.02
            return torch.minimum(super().implicit(p), blob)

    mesh = extract_mesh(
        WithFloater(),
        WS,
        resolution=128,
        region=GridRegion(border=0.0, neck_y=-0.3),
        target_faces=5000,
    )
    assert mesh.vertices[:, 0].max() < 0.25  # the blob at (0.3, 0.3, 0.3) is gone
    assert 4500 <= len(mesh.faces) <= 5000
    assert trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).is_watertight


def test_smoothing_does_not_shrink_the_head():
    head = AnalyticHead()
    region = GridRegion(border=0.0, neck_y=-0.3)
    raw = extract_mesh(head, WS, resolution=96, region=region, smooth_iterations=0)
    smooth = extract_mesh(head, WS, resolution=96, region=region, smooth_iterations=10)
    v_raw = trimesh.Trimesh(raw.vertices, raw.faces).volume
    v_smooth = trimesh.Trimesh(smooth.vertices, smooth.faces).volume
    assert abs(v_smooth / v_raw - 1) < 0.01


def test_empty_field_is_a_clear_error():
    with pytest.raises(ValueError, match="no surface"):
        extract_mesh(AnalyticHead(), WS, resolution=32, level=1e6)  # nothing reaches this level


def test_real_generator_extraction_runs(shared_dir):
    """The fixture generator: coarse-to-fine and dense agree on a real tri-grid field."""
    G = load_generator(shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl")
    z = torch.from_numpy(np.random.RandomState(0).randn(1, 512)).float()
    ws = G.mapping(z, conditioning_camera(), truncation_psi=0.7)
    field = density_field(G, ws)
    level = float(np.median(dense_grid(field, 32).values))  # a level this random field crosses
    dense = dense_grid(field, 128)
    fast = coarse_to_fine_grid(field, 128, level=level)
    v_dense, _ = marching_cubes(dense, level)
    v_fast, _ = marching_cubes(fast, level)
    assert len(v_fast) > 100
    d, _ = cKDTree(v_dense).query(v_fast)
    assert d.max() <= 1 / 128
    assert fast.queries < dense.queries

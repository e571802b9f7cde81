"""The fast path (``kernels``, ``backend/models/fast_path.py``) against the reference modules.

Parity in fp32 within 1e-5 on random fields, on the ``panohead_tiny`` fixture and at the release
size; gradients for inversion; the deep copy that pivotal tuning makes; the fall-back where
nothing can compile. The CUDA variants run where a GPU exists and are skipped elsewhere.
The first test of each kind compiles (cached in ~/.cache/panorig/inductor for later runs).
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kernels
from backend.cameras import conditioning_camera, orbit_cameras
from backend.models import fast_path, load_generator
from backend.models.presets import PRESETS
from kernels import compiler

ATOL = 1e-5
OUTPUTS = ("image", "image_raw", "image_depth", "image_mask", "feature_image")
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"),
    ),
]


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@pytest.fixture(scope="module")
def small_generators(shared_dir):
    """The conformance fixtures: PanoHead's tri-grid and EG3D's tri-plane at a tiny size."""
    fixtures = shared_dir / "fixtures"
    return {
        "panohead": load_generator(fixtures / "panohead_tiny" / "G_tiny.pkl", device="cpu"),
        "eg3d": load_generator(fixtures / "eg3d_tiny" / "G_tiny.pkl", device="cpu"),
    }


def _small_generator(generators, architecture: str, device: str):
    return copy.deepcopy(generators[architecture]).to(device)


def _points(count: int, device: str) -> torch.Tensor:
    """Points in and around the box (some outside: zero padding must agree)."""
    generator = torch.Generator().manual_seed(1)
    return ((torch.rand(2, count, 3, generator=generator) - 0.5) * 1.3).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("architecture", ["panohead", "eg3d"])
def test_fused_query_matches_the_reference(small_generators, architecture, device):
    G = _small_generator(small_generators, architecture, device)
    ws = G.mapping(torch.randn(2, G.z_dim, device=device), conditioning_camera(2).to(device))
    grids = G.synthesize_grids(ws)
    points = _points(5000, device)
    with torch.no_grad():
        reference = G.use_fast_path(False).query(grids, points)
        fast = G.use_fast_path(True).query(grids, points)
    for key in ("sigma", "rgb"):
        assert fast[key].shape == reference[key].shape
        assert _max_error(fast[key], reference[key]) <= ATOL, key


@pytest.mark.parametrize("device", DEVICES)
def test_fused_query_gradients_match_the_reference(small_generators, device):
    """Inversion differentiates the query by the grids (W+, tuning) and by the points (the
    camera refinement)."""
    G = _small_generator(small_generators, "panohead", device)
    ws = G.mapping(torch.randn(2, G.z_dim, device=device), conditioning_camera(2).to(device))
    base = G.synthesize_grids(ws)
    results = []
    for fast in (False, True):
        grids = base.clone().requires_grad_(True)
        points = _points(3000, device).requires_grad_(True)
        out = G.use_fast_path(fast).query(grids, points)
        (out["sigma"].square().sum() + out["rgb"].sin().sum()).backward()
        results.append((grids.grad, points.grad))
    (g_ref, p_ref), (g_fast, p_fast) = results
    assert _max_error(g_fast, g_ref) <= 1e-4 * float(g_ref.abs().max())
    assert _max_error(p_fast, p_ref) <= 1e-4 * float(p_ref.abs().max())


def test_the_corner_dots_compiled_match_the_slot_loop():
    """The weights' gradient of the lookup: the compiled gather-multiply-sum against its
    fall-back, a gather per corner slot."""
    from kernels.trigrid import _corner_dots, _fused_corner_dots

    g = torch.Generator().manual_seed(3)
    table, grad = torch.randn(5000, 32, generator=g), torch.randn(700, 32, generator=g)
    rows = torch.randint(0, 5000, (700, 24), generator=g)
    expected = _corner_dots(table, rows, grad)
    assert expected.shape == (700, 24)
    assert _max_error(_fused_corner_dots(table, rows, grad), expected) <= ATOL


def test_a_render_lays_out_its_grids_once_and_lets_go_of_them(small_generators, monkeypatch):
    """The coarse and the fine samples of one render share one channels-last copy of the grids;
    a copy in an autograd graph is not kept alive by the cache once the graph is gone."""
    from kernels import trigrid

    copies = []
    layout = trigrid.channels_last
    monkeypatch.setattr(trigrid, "channels_last", lambda *a: copies.append(1) or layout(*a))
    G = _small_generator(small_generators, "panohead", "cpu").use_fast_path(True)
    ws = G.mapping(torch.randn(1, G.z_dim), conditioning_camera())
    grids = G.synthesize_grids(ws).detach().requires_grad_(True)
    points = _points(2000, "cpu")[:1]
    first, second = G.query(grids, points), G.query(grids, points)
    assert len(copies) == 1
    (first["sigma"].sum() + second["sigma"].sum()).backward()
    assert grids.grad is not None and float(grids.grad.abs().max()) > 0
    del first, second
    held = fast_path._layout["volumes"]
    assert held() is None  # the graph is gone, and so is the copy


@pytest.fixture(scope="module")
def tiny_fixture(small_generators):
    return small_generators["panohead"]


def _render(G, fast: bool, ws: torch.Tensor, cameras: torch.Tensor):
    with torch.no_grad():
        return G.use_fast_path(fast).synthesis(ws, cameras, deterministic=True)


def test_synthesis_parity_on_the_tiny_fixture(tiny_fixture):
    G = tiny_fixture
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    ws = G.mapping(z, conditioning_camera(2), truncation_psi=0.7)
    cameras = orbit_cameras([30.0, 200.0], [10.0, -5.0])
    reference, fast = _render(G, False, ws, cameras), _render(G, True, ws, cameras)
    for key in OUTPUTS:
        assert _max_error(fast[key], reference[key]) <= ATOL, key


def test_synthesis_parity_at_the_release_size():
    """PanoHead's release architecture with random weights: 512^2 through the super-resolution."""
    torch.manual_seed(0)
    G = PRESETS["release"]().build().eval().requires_grad_(False)
    ws = G.mapping(torch.randn(1, G.z_dim), conditioning_camera(), truncation_psi=0.7)
    cameras = orbit_cameras(30.0, 10.0)
    reference, fast = _render(G, False, ws, cameras), _render(G, True, ws, cameras)
    for key in OUTPUTS:
        assert _max_error(fast[key], reference[key]) <= ATOL, key
    points = _points(20000, "cpu")[:1]
    with torch.no_grad():
        grids = G.synthesize_grids(ws)
        q_ref = G.use_fast_path(False).query(grids, points)
        q_fast = G.use_fast_path(True).query(grids, points)
    for key in ("sigma", "rgb"):
        assert _max_error(q_fast[key], q_ref[key]) <= ATOL, key


def test_super_resolution_upsamples_channels_last_on_the_fast_path(tiny_fixture, monkeypatch):
    """oneDNN decides the layout from the strides: a map it does not take for channels-last
    (a size-1 batch with another stride is enough) runs the slow NCHW kernel and writes NCHW."""
    import torch.nn.functional as F

    layouts = []
    transpose = F.conv_transpose2d

    def spy(x, *args, **kwargs):
        out = transpose(x, *args, **kwargs)
        layouts.append(out.is_contiguous(memory_format=torch.channels_last))
        return out

    monkeypatch.setattr(F, "conv_transpose2d", spy)
    G = tiny_fixture
    ws = G.mapping(torch.randn(1, G.z_dim), conditioning_camera(), truncation_psi=0.7)
    raw = torch.randn(1, 3, G.neural_rendering_resolution, G.neural_rendering_resolution)
    features = torch.randn(1, 32, *raw.shape[2:])
    for fast in (False, True):
        layouts.clear()
        with torch.no_grad(), fast_path.active(fast):
            G.superresolution(raw, features, ws)
        assert layouts and layouts == [fast] * len(layouts), (fast, layouts)


def test_fitting_a_latent_takes_the_unfused_convolutions(tiny_fixture, monkeypatch):
    """A W+ step on the fast path: frozen weights, so large maps convolve unfused (no weight
    gradient); the latent's gradient is the reference's up to the order of the sums."""
    from backend.models.stylegan2 import layers

    monkeypatch.setattr(layers, "UNFUSED_FIT_FROM", 1)  # the fixture's maps are all small
    unfused = []
    fitting = layers._fitting_styles
    monkeypatch.setattr(
        layers, "_fitting_styles", lambda *a: unfused.append(fitting(*a)) or unfused[-1]
    )
    G = tiny_fixture
    ws0 = G.mapping(torch.randn(1, G.z_dim), conditioning_camera(), truncation_psi=0.7)
    grads = []
    for fast in (False, True):
        ws = ws0.detach().clone().requires_grad_(True)
        out = G.use_fast_path(fast).synthesis(ws, orbit_cameras(30.0, 10.0), deterministic=True)
        (out["image"].square().mean() + out["image_mask"].mean()).backward()
        grads.append(ws.grad)
    assert any(unfused)
    scale = float(grads[0].abs().max())
    assert scale > 0
    assert _max_error(grads[1], grads[0]) <= 1e-4 * scale


def test_tuning_gradients_match_the_reference(tiny_fixture):
    """Pivotal tuning differentiates every weight, bias and noise strength through the fused
    epilogues (whose backward works from their outputs)."""
    G = copy.deepcopy(tiny_fixture).requires_grad_(True)
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5))
    ws = G.mapping(z, conditioning_camera(), truncation_psi=0.7).detach()
    grads = []
    for fast in (False, True):
        G.zero_grad(set_to_none=True)
        out = G.use_fast_path(fast).synthesis(ws, orbit_cameras(30.0, 10.0), deterministic=True)
        (out["image"].square().mean() + out["image_raw"].abs().mean()).backward()
        grads.append({name: p.grad for name, p in G.named_parameters() if p.grad is not None})
    reference, fast = grads
    assert reference.keys() == fast.keys()
    assert any("noise_strength" in name for name in reference)
    # The background's gradients pass through 1 - opacity, which is ~1e-7 where the head is
    # opaque: rounding there is a large part of them, so each term also gets a small share of
    # the largest gradient as slack.
    largest = max(float(g.abs().max()) for g in reference.values())
    for name, grad in reference.items():
        scale = float(grad.abs().max())
        assert _max_error(fast[name], grad) <= 1e-4 * scale + 1e-7 * largest, name


def test_a_deep_copy_runs_its_own_weights(tiny_fixture):
    """Pivotal tuning deep-copies the generator: the copy must not render the original."""
    G = tiny_fixture.use_fast_path(True)
    H = copy.deepcopy(G)
    with torch.no_grad():
        H.decoder.net[2].bias.add_(0.5)
        H.backbone.synthesis.b4.conv1.bias.add_(0.3)
    ws = G.mapping(torch.randn(1, G.z_dim), conditioning_camera())
    cameras = orbit_cameras(0.0, 0.0)
    original, changed = _render(G, True, ws, cameras), _render(H, True, ws, cameras)
    reference = _render(H, False, ws, cameras)
    assert _max_error(original["image_raw"], changed["image_raw"]) > 1e-3
    assert _max_error(changed["image_raw"], reference["image_raw"]) <= ATOL


def test_without_a_compiler_it_runs_uncompiled_and_says_so(tiny_fixture, monkeypatch, caplog):
    """No C++ compiler: the fast path's functions run uncompiled (same results), and each says
    so once in the log."""
    compiler.unavailable_reason.cache_clear()
    monkeypatch.setenv("CXX", "no-such-compiler-anywhere")
    monkeypatch.setattr(compiler, "_REPORTED", set())
    try:
        G = tiny_fixture
        ws = G.mapping(torch.randn(1, G.z_dim), conditioning_camera())
        cameras = orbit_cameras(0.0, 0.0)
        with caplog.at_level(logging.WARNING, logger="panorig.kernels"):
            first = _render(G, True, ws, cameras)
            _render(G, True, ws, cameras)
        reference = _render(G, False, ws, cameras)
        for key in OUTPUTS:
            assert _max_error(first[key], reference[key]) <= ATOL, key
        messages = [r.getMessage() for r in caplog.records if "no C++ compiler" in r.getMessage()]
        assert len(messages) >= 2 and len(messages) == len(set(messages)), messages
        assert all("running uncompiled" in m for m in messages)
    finally:
        compiler.unavailable_reason.cache_clear()


def test_the_cache_lives_outside_the_process(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.cache_dir() == tmp_path / "panorig" / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert kernels.cache_dir() == tmp_path / "elsewhere"


def test_the_command_line_switch(shared_dir, tmp_path):
    """``--kernels fast`` renders what ``--kernels reference`` renders, and leaves the process's
    default as it was."""
    import numpy as np
    from PIL import Image

    from backend.cli import main
    from backend.models.fast_path import KERNELS_ENV

    before = os.environ.get(KERNELS_ENV)
    ckpt = shared_dir / "fixtures" / "panohead_tiny" / "G_tiny.pkl"
    images = {}
    for path in ("reference", "fast"):
        out = tmp_path / path
        args = ["sample", "--checkpoint", str(ckpt), "--seeds", "4", "--yaw", "30"]
        assert main([*args, "--device", "cpu", "--kernels", path, "--out", str(out)]) == 0
        (image,) = out.glob("seed*_yaw*[0-9].png")
        images[path] = np.asarray(Image.open(image)).astype(int)
        assert os.environ.get(KERNELS_ENV) == before
    assert np.abs(images["fast"] - images["reference"]).max() <= 1


def test_a_bad_default_is_refused_with_the_fix(monkeypatch):
    from backend.models.fast_path import KERNELS_ENV

    monkeypatch.setenv(KERNELS_ENV, "fastest")
    with pytest.raises(ValueError, match="set it to one of those, or unset it"):
        PRESETS["tiny"]().build()


FAULTS_PER_ROUND = """
import resource, sys, torch, kernels

kernels.keep_freed_memory(sys.argv[1] == "keep")
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(16 * 2**20)  # 64 MiB maps, made and freed as a layer makes and frees them
    y = x * 2 + 1
    del x, y
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


def _faults_per_round(mode: str) -> list[int]:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", FAULTS_PER_ROUND, mode],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(n) for n in result.stdout.split()]


@pytest.mark.skipif(not kernels.allocator._glibc(), reason="the switch is glibc's")
def test_kept_memory_is_reused_without_page_faults():
    """With the switch, the same 64 MiB maps made round after round stop being faulted in once
    the heap has settled; by default every round faults all three in again. The heap takes a
    few rounds to settle (see ``kernels.allocator``), and a round may still fault one map in
    now and then, so the last four rounds must reuse at least three quarters of the pages."""
    default, kept = _faults_per_round("default"), _faults_per_round("keep")
    assert min(default[4:]) > 4_000  # 3 x 16,384 pages, fewer where they are huge pages
    assert sum(kept[4:]) < sum(default[4:]) / 4

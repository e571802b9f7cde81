"""Forward time and density-query throughput of the generator at the PanoHead release size.

    python bench/generator_forward.py [--preset release|tiny] [--device auto] [--runs 5]
                                      [--grid 128] [--chunk 1048576] [--autocast]

Random weights (timings do not depend on the values). Reports medians over ``--runs``:
backbone (ws -> tri-grid), full synthesis (render at the neural rendering resolution + SR),
and raw-sigma queries per second on a ``--grid``^3 lattice evaluated in chunks of ``--chunk``
points, with the process's peak memory. With ``--autocast`` the same runs are repeated under
torch.autocast (float16 on CUDA, bfloat16 on CPU) and the speed-up is reported as a ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cameras import conditioning_camera, orbit_cameras  # noqa: E402
from backend.devices import resolve_device  # noqa: E402
from backend.models.presets import PRESETS  # noqa: E402


def timed(fn, device: torch.device, runs: int) -> float:
    fn()  # warm-up (allocator, kernels)
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lattice(resolution: int, device: torch.device) -> torch.Tensor:
    axis = torch.linspace(-0.5, 0.5, resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def measure(G, device, args, autocast: bool) -> dict[str, float]:
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    ctx = torch.autocast(device.type, dtype=dtype) if autocast else contextlib.nullcontext()
    z = torch.randn(1, G.z_dim, device=device)
    cond = conditioning_camera().to(device)
    cam = orbit_cameras(30.0, 10.0).to(device)
    points = lattice(args.grid, device)
    with torch.no_grad(), ctx:
        ws = G.mapping(z, cond, truncation_psi=0.7)
        grids = G.synthesize_grids(ws)
        backbone = timed(lambda: G.synthesize_grids(ws), device, args.runs)
        synthesis = timed(lambda: G.synthesis(ws, cam, deterministic=True), device, args.runs)

        def query_all() -> None:
            for start in range(0, points.shape[1], args.chunk):
                G.query(grids, points[:, start : start + args.chunk])["sigma"]

        query = timed(query_all, device, max(1, args.runs // 2))
    return {
        "backbone_s": backbone,
        "synthesis_s": synthesis,
        "queries_per_s": points.shape[1] / query,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="release", choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--grid", type=int, default=128, help="lattice size for the query test")
    parser.add_argument("--chunk", type=int, default=2**20, help="points per decoder call")
    parser.add_argument("--autocast", action="store_true")
    args = parser.parse_args()

    device = resolve_device(args.device)
    torch.manual_seed(0)
    G = PRESETS[args.preset]().build().to(device).eval().requires_grad_(False)
    cfg = G.config
    print(
        f"preset {args.preset}: {sum(p.numel() for p in G.parameters()):,} parameters, "
        f"tri-grid {cfg.grid_size}^2 x {cfg.grid_depth}, "
        f"render {cfg.neural_rendering_resolution}^2 "
        f"-> {cfg.img_resolution}^2, device {device}, threads {torch.get_num_threads()}"
    )
    fp32 = measure(G, device, args, autocast=False)
    print(f"backbone (ws -> tri-grid)      median {fp32['backbone_s'] * 1000:9.1f} ms")
    print(f"synthesis (render + SR)        median {fp32['synthesis_s'] * 1000:9.1f} ms")
    print(
        f"sigma queries ({args.grid}^3 in chunks of {args.chunk:,})  "
        f"{fp32['queries_per_s'] / 1e6:7.3f} M/s"
    )
    print(
        f"  -> a 512^3 grid would take {512**3 / fp32['queries_per_s']:.0f} s; "
        f"peak memory of this process {peak_memory_gib(device):.2f} GiB"
    )
    if args.autocast:
        amp = measure(G, device, args, autocast=True)
        for key in ("backbone_s", "synthesis_s"):
            print(f"autocast {key[:-2]:10s} speed-up x{fp32[key] / amp[key]:.2f}")
        print(f"autocast queries speed-up x{amp['queries_per_s'] / fp32['queries_per_s']:.2f}")


if __name__ == "__main__":
    main()

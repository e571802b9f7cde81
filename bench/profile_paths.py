"""Where the time goes: ``torch.profiler`` tables for the reference path and the fast path.

    python bench/profile_paths.py [--preset release] [--device auto] [--lattice 256]
                                  [--rows 12] [--only forward,lattice,texture,inversion,tuning]

Random weights. Five workloads, each profiled once per path after a warm-up (which compiles the
fast path, or loads it from the cache):
  forward    the full synthesis, render + super-resolution (512^2 at the release size)
  lattice    raw-sigma queries on a ``--lattice``^3 grid, chunks of 2^20 points, grids cached
  texture    one texture view: synthesis from cached grids, as the bake renders each view
  inversion  one W+ step: render at the neural rendering resolution, losses, backward, Adam
  tuning     one pivotal-tuning step: the pivot's render and one locality head's, losses,
             backward to every weight, Adam
The inversion workloads run two steps and the profile records the second (the first sets up:
photo targets, the tuned copy, the locality heads). Each table lists the operators by their own
(self) time; the totals say how the path compares.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, schedule

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cameras import conditioning_camera, orbit_cameras  # noqa: E402
from backend.devices import resolve_device  # noqa: E402
from backend.inversion.aligned import AlignedPhoto  # noqa: E402
from backend.inversion.optimize import (  # noqa: E402
    PANORIG,
    fit_latent,
    latent_statistics,
    tune_generator,
)
from backend.models.presets import PRESETS  # noqa: E402
from bench.arguments import positive_int  # noqa: E402


def workloads(G, device: torch.device, lattice: int) -> dict:
    z = torch.randn(1, G.z_dim, device=device, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z, conditioning_camera().to(device), truncation_psi=0.7)
        grids = G.synthesize_grids(ws)
    camera = orbit_cameras(30.0, 10.0).to(device)
    axis = torch.linspace(-0.5, 0.5, lattice, device=device)
    points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    rng = np.random.RandomState(0)
    photo = AlignedPhoto(
        image=rng.randint(0, 255, (512, 512, 3), dtype=np.uint8),
        camera=camera[0].cpu().numpy(),
        mask=np.ones((512, 512), np.float32),
        landmarks=np.zeros((0, 2), np.float32),
        yaw=30.0,
        pitch=10.0,
        roll=0.0,
        source="bench",
    )
    latent_statistics(G)
    two_steps = replace(PANORIG, steps=2, tune_steps=2, coarse=0.0, light=0.0)

    # Each takes ``tick``, called after each step of an inversion (the profiler's schedule).
    @torch.no_grad()
    def forward(tick):
        G.synthesis(ws, camera, deterministic=True)

    @torch.no_grad()
    def queries(tick):
        for start in range(0, points.shape[1], 2**20):
            G.query(grids, points[:, start : start + 2**20])

    @torch.no_grad()
    def texture(tick):
        G.synthesis(ws, camera, deterministic=True, grids=grids)

    def inversion(tick):
        fit_latent(G, [photo], two_steps, on_step=lambda *_: tick())

    def tuning(tick):
        tune_generator(G, ws, [photo], camera, two_steps, progress=lambda *_: tick())

    return {
        "forward": forward,
        "lattice": queries,
        "texture": texture,
        "inversion": inversion,
        "tuning": tuning,
    }


def profiled(job, device: torch.device, by_step: bool):
    """(seconds, profiler) of ``job``; ``by_step``: of its second step alone."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    steps = schedule(wait=1, warmup=0, active=1, repeat=1) if by_step else None
    clock: list[float] = []

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def tick() -> None:
        synchronize()
        clock.append(time.perf_counter())
        prof.step()

    with profile(activities=activities, schedule=steps) as prof:
        clock.append(time.perf_counter())
        job(tick)
        synchronize()
        clock.append(time.perf_counter())
    return (clock[2] - clock[1] if by_step else clock[-1] - clock[0]), prof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="release", choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--lattice", type=positive_int, default=256)
    parser.add_argument("--rows", type=positive_int, default=12)
    parser.add_argument("--only", default="forward,lattice,texture,inversion,tuning")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    G = PRESETS[args.preset]().build().to(device).eval().requires_grad_(False)
    jobs = workloads(G, device, args.lattice)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"preset {args.preset}, device {device}, threads {torch.get_num_threads()}")
    for name in args.only.split(","):
        for fast in (False, True):
            G.use_fast_path(fast)
            start = time.perf_counter()
            jobs[name](lambda: None)  # warm-up: allocator, and the fast path's compile or load
            warm = time.perf_counter() - start
            seconds, prof = profiled(jobs[name], device, name in ("inversion", "tuning"))
            path = "fast path" if fast else "reference path"
            print(f"\n=== {name}, {path}: {seconds:.2f} s (warm-up call {warm:.1f} s)")
            table = prof.key_averages().table(sort_by=sort, row_limit=args.rows)
            print(table)


if __name__ == "__main__":
    main()

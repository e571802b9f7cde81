"""Reference path vs fast path: backbone, full synthesis and density queries, in one run.

    python bench/generator_forward.py [--preset release|tiny|demo] [--device auto] [--runs 5]
                                      [--grid 128] [--chunk 1048576] [--switches]

Random weights (timings do not depend on the values). The reference path is the readable
modules in ``backend/models``; the fast path is ``G.use_fast_path()`` (``kernels``, compiled).
Each benchmark runs both paths in turn ``--runs`` times (interleaved, so a change in the
machine's load falls on both) after one warm-up each; medians are reported with their ratio.
The fast path's first call (which compiles, or loads the compiled code from the cache) is
timed separately. Peak memory (``bench/peak_memory.py``): on CUDA the allocator's peak; on the
CPU the highest resident size above the level before the call, sampled every 2 ms. The largest
difference between the two paths' outputs is printed beside each benchmark.

``--switches`` adds the inference switches, each against the fast path and with its image error:
``channels_last`` memory format; on the CPU ``keep freed memory`` (``kernels.keep_freed_memory``,
which the command line turns on with the fast path: malloc reuses freed maps instead of faulting
fresh pages in for each); on CUDA TF32 matmuls/convolutions and bf16 autocast.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cameras import conditioning_camera, orbit_cameras  # noqa: E402
from backend.devices import resolve_device  # noqa: E402
from backend.models.presets import PRESETS  # noqa: E402
from bench.arguments import positive_int  # noqa: E402
from bench.peak_memory import PeakMemory  # noqa: E402
from kernels import keep_freed_memory  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def lattice(resolution: int, device: torch.device) -> torch.Tensor:
    axis = torch.linspace(-0.5, 0.5, resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)


def largest_difference(a, b) -> float:
    if isinstance(a, dict):
        return max(largest_difference(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    return float((a.float() - b.float()).abs().max())


def benchmarks(G, device: torch.device, args) -> dict:
    """name -> (function of nothing, returning an output to compare)."""
    z = torch.randn(1, G.z_dim, device=device, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z, conditioning_camera().to(device), truncation_psi=0.7)
        grids = G.synthesize_grids(ws)
    camera = orbit_cameras(30.0, 10.0).to(device)
    points = lattice(args.grid, device)

    def queries():
        return torch.cat(
            [
                G.query(grids, points[:, start : start + args.chunk])["sigma"]
                for start in range(0, points.shape[1], args.chunk)
            ],
            dim=1,
        )

    return {
        "backbone": lambda: G.synthesize_grids(ws),
        "synthesis": lambda: G.synthesis(ws, camera, deterministic=True),
        f"queries {args.grid}^3": queries,
    }, points.shape[1]


def run(G, device, fast: bool, fn, memory: bool = False):
    G.use_fast_path(fast)
    synchronize(device)
    meter = PeakMemory(device) if memory else contextlib.nullcontext()
    with torch.no_grad(), meter:
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, out, (meter.peak if memory else None)


def compare(G, device, args) -> None:
    cases, count = benchmarks(G, device, args)
    print(
        f"\n{'benchmark':18s} {'reference s':>12s} {'fast s':>9s} {'speed-up':>9s} "
        f"{'first fast call s':>18s} {'peak ref GiB':>13s} {'peak fast GiB':>14s} "
        f"{'max |diff|':>11s}"
    )
    for name, fn in cases.items():
        first, _, _ = run(G, device, True, fn)  # compiles, or loads from the cache
        ref_s, ref_out, ref_mem = run(G, device, False, fn, memory=True)
        fast_s, fast_out, fast_mem = run(G, device, True, fn, memory=True)
        times = {False: [], True: []}
        for _ in range(args.runs):
            for fast in (False, True):
                times[fast].append(run(G, device, fast, fn)[0])
        ref_m, fast_m = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"{name:18s} {ref_m:12.3f} {fast_m:9.3f} {ref_m / fast_m:8.2f}x {first:18.1f} "
            f"{ref_mem:13.2f} {fast_mem:14.2f} {largest_difference(ref_out, fast_out):11.2e}"
        )
        if name.startswith("queries"):
            print(
                f"{'':18s} {count / ref_m / 1e6:9.3f} M/s reference, "
                f"{count / fast_m / 1e6:.3f} M/s fast"
            )


def switches(G, device, args) -> None:
    """Each inference switch against the fast path alone: speed-up and image error."""
    cases, _ = benchmarks(G, device, args)
    synthesis = cases["synthesis"]
    G.use_fast_path(True)

    def tf32(enabled: bool) -> None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled

    # name -> (turn on, turn off): each is timed alone against the fast path
    options = {
        "channels_last": (
            lambda: G.to(memory_format=torch.channels_last),
            lambda: G.to(memory_format=torch.contiguous_format),
        )
    }
    if device.type == "cpu":
        options["keep freed memory"] = (keep_freed_memory, lambda: keep_freed_memory(False))
    if device.type == "cuda":
        options["tf32"] = (lambda: tf32(True), lambda: tf32(False))
        options["bf16 autocast"] = None
    print(f"\n{'switch (fast path)':22s} {'speed-up':>9s} {'max |image diff|':>17s}")
    base_out = run(G, device, True, synthesis)[1]
    base_s = statistics.median(run(G, device, True, synthesis)[0] for _ in range(args.runs))
    for name, switch in options.items():
        if switch is None:

            def fn():
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return synthesis()
        else:
            switch[0]()
            fn = synthesis
        run(G, device, True, fn)
        seconds = statistics.median(run(G, device, True, fn)[0] for _ in range(args.runs))
        out = run(G, device, True, fn)[1]
        if switch is not None:
            switch[1]()
        error = float((out["image"].float() - base_out["image"]).abs().max())
        print(f"{name:22s} {base_s / seconds:8.2f}x {error:17.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="release", choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=positive_int, default=5)
    parser.add_argument(
        "--grid", type=positive_int, default=128, help="lattice size for the query test"
    )
    parser.add_argument("--chunk", type=positive_int, default=2**20, help="points per query call")
    parser.add_argument("--switches", action="store_true", help="also time inference switches")
    args = parser.parse_args()

    device = resolve_device(args.device)
    torch.manual_seed(0)
    G = PRESETS[args.preset]().build().to(device).eval().requires_grad_(False)
    cfg = G.config
    print(
        f"preset {args.preset}: {sum(p.numel() for p in G.parameters()):,} parameters, "
        f"tri-grid {cfg.grid_size}^2 x {cfg.grid_depth}, render "
        f"{cfg.neural_rendering_resolution}^2 -> {cfg.img_resolution}^2, device {device}, "
        f"threads {torch.get_num_threads()}, medians of {args.runs} interleaved runs"
    )
    compare(G, device, args)
    if args.switches:
        switches(G, device, args)


if __name__ == "__main__":
    main()

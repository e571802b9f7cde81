"""Coarse-to-fine vs dense density lattices, reference path vs fast path, and the time of every
meshing stage.

    python bench/mesh_extraction.py [--source release|fixture|analytic] [--resolutions 128,256]
                                    [--runs 3] [--path-runs 5] [--level auto] [--texture 1024]
                                    [--views 4]

Sources: ``analytic`` (a head-shaped field with a known surface), ``fixture`` (the tiny
PanoHead fixture generator, shared/fixtures/panohead_tiny) and ``release`` (the release
architecture, random weights). Random networks rarely reach PanoHead's level 10, so
``--level auto`` uses the median raw sigma inside the box for them (reported), and 10 for the
analytic head. Queries and median times of dense and coarse-to-fine come from the same run and
are reported as ratios (on the reference path). For a generator, the coarse-to-fine lattice at
each resolution is then timed on the reference path and on the fast path (``G.use_fast_path()``,
``kernels``) in turn, ``--path-runs`` times (interleaved; medians), with the fast path's first
call (compiles, or loads the compiled code) timed separately, each path's peak memory
(``bench/peak_memory.py``) and the largest difference between the two lattices (with the count
of points over 1e-4: a cell whose corners straddle the level within float rounding may be
refined on one path and interpolated on the other). Last, one full
extraction at the largest resolution is timed stage by stage, on the fast path for a generator.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.geometry import (  # noqa: E402
    GridRegion,
    clean_mesh,
    coarse_to_fine_grid,
    dense_grid,
    density_field,
    marching_cubes,
)
from backend.geometry.density_grid import EMPTY  # noqa: E402
from backend.models import load_generator  # noqa: E402
from backend.models.presets import release  # noqa: E402
from backend.progress import stage_timer  # noqa: E402
from backend.sampling import seed_ws  # noqa: E402
from backend.texture import DEFAULT_VIEWS, bake_texture  # noqa: E402
from bench.arguments import positive_int  # noqa: E402
from bench.peak_memory import PeakMemory  # noqa: E402
from tests.analytic_head import AnalyticHead  # noqa: E402


def source(name: str):
    if name == "analytic":
        return AnalyticHead(resolution=64), torch.zeros(1, 1, 1), GridRegion(0.0, -0.3)
    if name == "fixture":
        G = load_generator(ROOT.parent / "shared/fixtures/panohead_tiny/G_tiny.pkl")
    else:
        torch.manual_seed(0)
        G = release().build().eval().requires_grad_(False)
    return G, seed_ws(G, 0), GridRegion()


def timed(fn, runs: int):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compare_paths(G, field, level: float, region: GridRegion, resolutions, runs: int) -> None:
    """The coarse-to-fine lattice on both paths: medians, first fast call, peak memory, error."""
    print(
        f"\n{'res':>5} {'reference s':>12} {'fast s':>7} {'speed-up':>9} {'first fast s':>13} "
        f"{'peak ref GiB':>13} {'peak fast GiB':>14} {'max |diff|':>11} {'points > 1e-4':>14}"
    )

    def lattice(fast: bool, res: int, memory: bool = False):
        G.use_fast_path(fast)
        meter = PeakMemory(torch.device("cpu"))
        with torch.no_grad(), meter if memory else nullcontext():
            start = time.perf_counter()
            grid = coarse_to_fine_grid(field, res, level, region=region)
            seconds = time.perf_counter() - start
        return seconds, grid.values, meter.peak

    for res in resolutions:
        first, _, _ = lattice(True, res)
        _, reference, ref_peak = lattice(False, res, memory=True)
        _, fast, fast_peak = lattice(True, res, memory=True)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(runs):
            for path in (False, True):
                times[path].append(lattice(path, res)[0])
        ref_s, fast_s = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"{res:5d} {ref_s:12.2f} {fast_s:7.2f} {ref_s / fast_s:8.2f}x {first:13.1f} "
            f"{ref_peak:13.2f} {fast_peak:14.2f} {np.abs(reference - fast).max():11.2e} "
            f"{int((np.abs(reference - fast) > 1e-4).sum()):14,d}"
        )
    print(
        "(points > 1e-4: where a cell at the iso level was refined on one path and interpolated "
        "on the other, the field's values agreeing within 1e-5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="release", choices=("release", "fixture", "analytic"))
    parser.add_argument("--resolutions", default="128,256")
    parser.add_argument("--runs", type=positive_int, default=3)
    parser.add_argument(
        "--path-runs", type=positive_int, default=5, help="runs per path, interleaved"
    )
    parser.add_argument("--level", default="auto")
    parser.add_argument("--faces", type=positive_int, default=60000)
    parser.add_argument("--texture", type=positive_int, default=1024)
    parser.add_argument("--views", type=positive_int, default=4)
    args = parser.parse_args()

    G, ws, region = source(args.source)
    with torch.no_grad():
        field = density_field(G, ws)
    if args.level == "auto" and args.source != "analytic":
        values = dense_grid(field, 32, region=region).values
        level = float(np.median(values[values > EMPTY]))  # trimmed points are not the field
    else:
        level = 10.0 if args.level == "auto" else float(args.level)
    print(f"source {args.source}, iso level {level:.3f}, threads {torch.get_num_threads()}")
    print(
        f"{'res':>5} {'dense queries':>14} {'c2f queries':>12} {'ratio':>7} "
        f"{'dense s':>8} {'c2f s':>7} {'ratio':>6}"
    )
    resolutions = [int(r) for r in args.resolutions.split(",")]
    for res in resolutions:
        t_dense, dense = timed(lambda r=res: dense_grid(field, r, region=region), args.runs)
        t_fast, fast = timed(
            lambda r=res: coarse_to_fine_grid(field, r, level, region=region), args.runs
        )
        print(
            f"{res:5d} {dense.queries:14,d} {fast.queries:12,d} "
            f"{fast.queries / dense.queries:7.1%} {t_dense:8.2f} {t_fast:7.2f} "
            f"{t_fast / t_dense:6.1%}"
        )

    if args.source != "analytic":
        compare_paths(G, field, level, region, resolutions, args.path_runs)
        G.use_fast_path(True)  # the stages below run as the commands run them

    res = resolutions[-1]
    stages: dict[str, float] = {}

    def stage(name, fn):
        start = time.perf_counter()
        out = fn()
        stages[name] = time.perf_counter() - start
        return out

    with torch.no_grad():
        grid = stage(
            "grid (coarse-to-fine)", lambda: coarse_to_fine_grid(field, res, level, region=region)
        )
        v, f = stage("marching cubes", lambda: marching_cubes(grid, level))
        mesh = stage("clean-up + decimation", lambda: clean_mesh(v, f, target_faces=args.faces))
        bake_texture(
            G,
            ws,
            mesh,
            args.texture,
            DEFAULT_VIEWS[: args.views],
            progress=stage_timer(None, stages),
        )
    print(
        f"stages at {res}^3 ({len(f):,} marching-cubes faces -> {len(mesh.faces):,}, "
        f"texture {args.texture}^2, {args.views} views):"
    )
    for name, seconds in stages.items():
        print(f"  {name:24s} {seconds:7.2f} s")


if __name__ == "__main__":
    main()

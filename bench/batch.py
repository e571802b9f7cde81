"""Heads per hour of ``batch``: 1 and 2 workers, locally and on Ray, on the same heads.

    python bench/batch.py [--heads 8] [--workers 1,2] [--repeat 1] [--no-ray] [--release]

Each configuration makes the same seeds into a fresh folder with the demo model (tiny settings
by default; --release: the schema's defaults, the size heads ship at, on the GPU when there is
one). Reports heads per hour over the whole run (model loading included, as a user sees it),
scaling efficiency (rate with N workers / (N x rate with 1)), each head's own time in its
worker, and Ray's overhead per head against the local path at the same worker count. Ray runs
on a local instance it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.batch import DONE, make_spec, run_batch, seed_items  # noqa: E402
from backend.common.settings import MeshSettings, TextureSettings  # noqa: E402
from bench.arguments import positive_int  # noqa: E402

TINY = (MeshSettings(resolution=64, faces=2000), TextureSettings(texture=256))


def measure(mesh, texture, heads: int, workers: int, device: str, ray: bool, repeat: int) -> dict:
    """The best of ``repeat`` runs (other work on a shared machine only ever slows a run)."""
    runs = [_run(mesh, texture, heads, workers, device, ray) for _ in range(repeat)]
    return max(runs, key=lambda r: r["heads_per_hour"])


def _run(mesh, texture, heads: int, workers: int, device: str, ray: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="panorig-bench-") as out:
        spec = make_spec(out, "demo", 0.7, mesh, texture, "template", (".glb",))
        start = time.perf_counter()
        _, rows, _ = run_batch(
            spec,
            seed_items(list(range(heads))),
            device=device,
            workers=workers,
            ray_address="auto" if ray else None,
        )
        seconds = time.perf_counter() - start
    made = [r for r in rows if r.status == DONE]
    done = len(made)
    return {
        "runner": "ray" if ray else "local",
        "workers": workers,
        "heads": done,
        "seconds": round(seconds, 2),
        "heads_per_hour": round(3600 * done / seconds, 1),
        # a head's own time in its worker: grows when workers compete for the cores
        "seconds_per_head": round(sum(r.seconds for r in made) / max(done, 1), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heads", type=positive_int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--release", action="store_true", help="the schema's default sizes")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--repeat", type=positive_int, default=1, help="runs per configuration (best)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mesh, texture = (MeshSettings(), TextureSettings()) if args.release else TINY
    counts = [int(n) for n in args.workers.split(",")]
    results = [
        measure(mesh, texture, args.heads, n, args.device, False, args.repeat) for n in counts
    ]
    if not args.no_ray:
        import ray

        ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
        try:
            results += [
                measure(mesh, texture, args.heads, n, args.device, True, args.repeat)
                for n in counts
            ]
        finally:
            ray.shutdown()
    by = {(r["runner"], r["workers"]): r for r in results}
    print(
        f"{args.heads} heads, resolution {mesh.resolution}, {mesh.faces} faces, "
        f"texture {texture.texture}, open template rig"
    )
    print(
        f"{'runner':8s}{'workers':>8s}{'seconds':>10s}{'heads/hour':>12s}{'efficiency':>12s}"
        f"{'s/head':>9s}"
    )
    for r in results:
        base = by[(r["runner"], counts[0])]
        r["efficiency"] = round(
            r["heads_per_hour"] / (base["heads_per_hour"] * r["workers"] / base["workers"]), 3
        )
        print(
            f"{r['runner']:8s}{r['workers']:8d}{r['seconds']:10.1f}{r['heads_per_hour']:12.1f}"
            f"{r['efficiency']:12.2f}{r['seconds_per_head']:9.2f}"
        )
    for n in counts:
        if ("ray", n) in by:
            ray_r, local = by[("ray", n)], by[("local", n)]
            overhead = (ray_r["seconds"] - local["seconds"]) / args.heads
            ray_r["overhead_per_head_s"] = round(overhead, 3)
            print(f"Ray overhead per head with {n} worker(s): {overhead:+.2f} s")
    print("BENCH " + json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

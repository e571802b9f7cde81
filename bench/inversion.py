"""Photo inversion: time per step, and how fast PanoRig's schedule gets where PanoHead's does.

    python bench/inversion.py [--device auto] [--steps 500] [--resolution R] [--every 10]
                              [--release-steps 2] [--rounds 3] [--no-release] [--no-curves]
                              [--keep-freed-memory]

1. Seconds per W+ step and per tuning step on the bundled demo model and at the PanoHead
   release size (random weights: ``random:release``; timings do not depend on the values),
   on the reference path and on the fast path (``G.use_fast_path()``, ``kernels``), in
   ``--rounds`` interleaved rounds (medians). ``--keep-freed-memory`` times the fast path as
   the command line runs it, with ``kernels.keep_freed_memory`` on (the reference without).
   Also the peak memory of one step of each kind on each path (``bench/peak_memory.py``; with
   freed memory handed back, so it is the step's working set) and the time of the fast path's
   first steps, which compile the training graphs or load them from the cache.
2. Loss against wall-clock on the demo model, on the reference path, for PanoHead's projector
   schedule (``--steps`` W+ steps, 500 as in its projector; lr 0.1 with ramps, w-noise) and for
   PanoRig's default, on the same losses for both: PanoRig's (foreground L1, MS-SSIM,
   silhouette, W+ regulariser), since the reference's LPIPS needs a downloaded VGG. The photo
   is a demo head (seed 3185, psi 2) rendered at yaw 30, pitch 5, its camera estimate off by
   (-6, +3) degrees. Every ``--every``
   steps the current latent and cameras are scored the same way for both (full render size, no
   w-noise); scoring time is left out of the clock. Last: the time PanoRig's schedule needs to
   reach the reference's final score, as a fraction of the reference's time (target <= 1/3).

Two clocks: wall-clock seconds as they passed, and "step seconds": each step counted at the
median time of a W+ step of its kind (render size; light, with a third of the samples per ray,
or full), measured interleaved for every kind in this run.
On a shared machine the wall clock mostly measures the neighbours' load; the verdict uses the
step seconds, which charge both schedules the same price for the same work.

``--resolution`` sets the render size of the fits (default: the generator's own; on a CPU use
32, the demo renders at 128).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.cameras import orbit_cameras  # noqa: E402
from backend.devices import resolve_device  # noqa: E402
from backend.inversion.aligned import AlignedPhoto  # noqa: E402
from backend.inversion.losses import (  # noqa: E402
    DEFAULT_WEIGHTS,
    latent_regulariser,
    photo_losses,
    weighted_sum,
)
from backend.inversion.optimize import (  # noqa: E402
    PANOHEAD,
    PANORIG,
    Schedule,
    depth_samples,
    fit_latent,
    latent_statistics,
    photo_targets,
    render,
    render_size,
    tune_generator,
)
from backend.models import open_generator  # noqa: E402
from backend.sampling import seed_ws  # noqa: E402
from bench.arguments import positive_int  # noqa: E402
from bench.peak_memory import PeakMemory  # noqa: E402
from kernels import keep_freed_memory  # noqa: E402

NO_METER = nullcontext()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def test_photo(G, device: torch.device, size: int) -> AlignedPhoto:
    """A generated head at yaw 30, pitch 5, as a 512 px aligned photo with a camera estimate
    off by (-6, +3) degrees."""
    ws = seed_ws(G, 3185, 2.0) if G.z_dim == 8 else seed_ws(G, 3185, 0.7)
    with torch.no_grad():
        out = render(G, ws, orbit_cameras(30.0, 5.0).to(device), size)
    image = F.interpolate(out["image"], (512, 512), mode="bilinear", align_corners=False)
    mask = F.interpolate(out["image_mask"], (512, 512), mode="bilinear", align_corners=False)
    return AlignedPhoto(
        image=((image[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().cpu().numpy(),
        camera=orbit_cameras(24.0, 8.0)[0].numpy(),
        mask=mask[0, 0].clamp(0, 1).cpu().numpy(),
        landmarks=np.zeros((0, 2), np.float32),
        yaw=24.0,
        pitch=8.0,
        roll=0.0,
        source="bench",
    )


def step_times(
    G, photo: AlignedPhoto, schedule: Schedule, steps: int, meters=(NO_METER, NO_METER)
) -> tuple[float, float]:
    """Median seconds per W+ step and per tuning step (the first step, a warm-up, left out
    when there are more); ``meters`` (``PeakMemory``) measure the fit and the tuning."""
    device = next(G.parameters()).device
    latent_statistics(G)  # computed once per generator; not a per-step cost
    stamps: list[float] = []

    def stamp(*_) -> None:
        synchronize(device)
        stamps.append(time.perf_counter())

    stamp()
    full = replace(schedule, steps=steps, coarse=0.0, light=0.0)
    with meters[0]:
        fit = fit_latent(G, [photo], full, on_step=stamp)
    fit_steps = np.diff(stamps).tolist()
    stamps.clear()
    stamp()
    with meters[1]:
        tune_generator(
            G, fit.ws, [photo], fit.cameras, replace(schedule, tune_steps=steps), progress=stamp
        )
    tune_steps = np.diff(stamps).tolist()
    pick = slice(1, None) if steps > 1 else slice(None)
    return statistics.median(fit_steps[pick]), statistics.median(tune_steps[pick])


class Timings(NamedTuple):
    reference: tuple[float, float]  # seconds per W+ step, per tuning step
    fast: tuple[float, float]
    reference_peak: tuple[float, float]  # GiB above the start, of one W+ step, one tuning step
    fast_peak: tuple[float, float]
    first_fast: float  # seconds of the fast path's first W+ and tuning step (compiles or loads)


def both_paths(
    G, photo: AlignedPhoto, schedule: Schedule, steps: int, rounds: int, keep: bool = False
) -> Timings:
    """``step_times`` on the reference path and on the fast path in turn, ``rounds`` times
    (interleaved, so a drift in the machine's speed falls on both), after a first fast step
    (compiles the training graphs, or loads them) and one step of each path with its peak
    memory measured (before any round keeps freed memory, so resident size is working set)."""
    device = next(G.parameters()).device
    G.use_fast_path(True)
    start = time.perf_counter()
    step_times(G, photo, schedule, 1)
    first = time.perf_counter() - start
    peaks = {}
    for fast in (False, True):
        G.use_fast_path(fast)
        meters = (PeakMemory(device), PeakMemory(device))
        step_times(G, photo, schedule, 1, meters)
        peaks[fast] = (meters[0].peak, meters[1].peak)
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for fast in (False, True):
            G.use_fast_path(fast)
            keep_freed_memory(keep and fast)
            times[fast].append(step_times(G, photo, schedule, steps))
    keep_freed_memory(False)
    medians = {
        fast: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
        for fast, runs in times.items()
    }
    return Timings(medians[False], medians[True], peaks[False], peaks[True], first)


Render = tuple[int, bool]  # render size, light (fewer samples per ray)


def render_kind(G, schedule: Schedule, fraction: float) -> Render:
    """How the W+ step at ``fraction`` of ``schedule`` renders."""
    light = depth_samples(G, schedule, fraction) is not None
    return render_size(G, schedule, fraction), light


def step_costs(G, photo: AlignedPhoto, kinds: list[Render], repeats: int = 6) -> dict:
    """Median seconds of one W+ step of each kind; the kinds take turns, so a change in the
    machine's load falls on all of them alike."""
    device = next(G.parameters()).device
    latent_statistics(G)
    seconds: dict[Render, list[float]] = {kind: [] for kind in kinds}
    stamps: list[float] = []

    def stamp(*_) -> None:
        synchronize(device)
        stamps.append(time.perf_counter())

    for _ in range(repeats):
        for size, light in kinds:
            stamps.clear()
            stamp()
            schedule = replace(
                PANORIG, steps=3, coarse=0.0, resolution=size, light=1.0 if light else 0.0
            )
            fit_latent(G, [photo], schedule, on_step=stamp)
            seconds[size, light] += np.diff(stamps)[1:].tolist()  # the first sets up, left out
    return {kind: statistics.median(values) for kind, values in seconds.items()}


def score(G, photo: AlignedPhoto, size: int):
    """The common yardstick: PanoRig's weighted loss at full render size, without w-noise."""
    device = next(G.parameters()).device
    w_avg, _ = latent_statistics(G)
    image_size = G.img_resolution if G.superresolution is not None else size
    image, image_mask = photo_targets([photo], image_size, device)
    _, mask = photo_targets([photo], size, device)

    def evaluate(ws: torch.Tensor, cameras: torch.Tensor) -> float:
        with torch.no_grad():
            out = render(G, ws, cameras, size)
            terms = photo_losses(out["image"], out["image_mask"], image, mask, image_mask)
            terms["latent"] = latent_regulariser(ws, w_avg)
            return float(weighted_sum(terms, DEFAULT_WEIGHTS))

    return evaluate


Point = tuple[int, float, float, float]  # step, wall seconds, step seconds, score


def loss_curve(
    G, photo, schedule: Schedule, size: int, every: int, costs: dict[Render, float]
) -> list[Point]:
    """(step, wall seconds, step seconds, score) every ``every`` steps and at the last."""
    device = next(G.parameters()).device
    evaluate = score(G, photo, size)
    latent_statistics(G)
    curve: list[Point] = []
    clock = {"wall": 0.0, "steps": 0.0, "since": time.perf_counter()}

    def on_step(step: int, ws: torch.Tensor, cameras: torch.Tensor) -> None:
        synchronize(device)
        clock["wall"] += time.perf_counter() - clock["since"]
        clock["steps"] += costs[render_kind(G, schedule, step / schedule.steps)]
        if (step + 1) % every == 0 or step + 1 == schedule.steps:
            curve.append((step + 1, clock["wall"], clock["steps"], evaluate(ws, cameras)))
        synchronize(device)
        clock["since"] = time.perf_counter()

    fit_latent(G, [photo], schedule, on_step=on_step)
    return curve


def time_to_reach(curve: list[Point], target: float) -> Point | None:
    return next((point for point in curve if point[3] <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=PANOHEAD.steps,
        help="W+ steps of the reference schedule (PanoHead: 500)",
    )
    parser.add_argument(
        "--resolution",
        type=positive_int,
        default=None,
        help="render size while fitting (default: the generator's own)",
    )
    parser.add_argument("--every", type=positive_int, default=10, help="score every N steps")
    parser.add_argument(
        "--release-steps", type=positive_int, default=2, help="steps timed at the release size"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=3, help="interleaved rounds of step timings per path"
    )
    parser.add_argument("--no-release", action="store_true", help="skip the release size")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="the fast path with kernels.keep_freed_memory on, as the command line runs it",
    )
    parser.add_argument(
        "--no-curves", action="store_true", help="only the step times, not the loss curves"
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads")

    G = open_generator("demo", device)
    size = args.resolution or G.neural_rendering_resolution
    photo = test_photo(G, device, G.neural_rendering_resolution)
    demo_schedule = replace(PANORIG, resolution=size)
    keep = args.keep_freed_memory
    rows = [("demo", size, both_paths(G, photo, demo_schedule, 3, args.rounds, keep))]
    if not args.no_release:
        R = open_generator("random:release", device)
        release = test_photo(R, device, R.neural_rendering_resolution)
        timed = both_paths(R, release, PANORIG, args.release_steps, args.rounds, keep)
        rows.append(("release (random weights)", R.neural_rendering_resolution, timed))
        del R
    print(
        f"\n{'model':26s} {'render':>7s} {'s / W+ step':>12s} {'s / tuning step':>16s}"
        f"   (reference path -> fast path, speed-up)"
    )
    for name, size_shown, t in rows:
        (ref_fit, ref_tune), (fast_fit, fast_tune) = t.reference, t.fast
        print(
            f"{name:26s} {size_shown:>5d}^2 {ref_fit:5.2f} -> {fast_fit:4.2f} "
            f"{ref_tune:6.2f} -> {fast_tune:5.2f}   W+ x{ref_fit / fast_fit:.2f}, "
            f"tuning x{ref_tune / fast_tune:.2f}"
        )
    print(
        f"\n{'model':26s} {'peak GiB, W+ step':>18s} {'peak GiB, tuning step':>22s}"
        f" {'first fast W+ and tuning step s':>32s}   (reference path -> fast path)"
    )
    for name, _, t in rows:
        print(
            f"{name:26s} {t.reference_peak[0]:8.2f} -> {t.fast_peak[0]:5.2f} "
            f"{t.reference_peak[1]:12.2f} -> {t.fast_peak[1]:5.2f} {t.first_fast:32.1f}"
        )
    if args.no_curves:
        return
    G.use_fast_path(False)  # the schedules below compare on the reference path

    reference = replace(PANOHEAD, steps=args.steps, resolution=size)
    ours = replace(PANORIG, resolution=size)
    kinds = sorted(
        {render_kind(G, s, i / s.steps) for s in (reference, ours) for i in range(s.steps)}
    )
    costs = step_costs(G, photo, kinds)
    print(
        "\nW+ step of each kind (median, interleaved): "
        + ", ".join(
            f"{s}^2{' light' if light else ''} {c:.3f} s" for (s, light), c in costs.items()
        )
    )
    curves = {
        f"PanoHead projector ({reference.steps} steps)": loss_curve(
            G, photo, reference, size, args.every, costs
        ),
        f"PanoRig default ({ours.steps} steps)": loss_curve(
            G, photo, ours, size, args.every, costs
        ),
    }
    print(f"\nscore (weighted loss at {size}^2, no w-noise) against fitting time, demo model")
    for name, curve in curves.items():
        print(f"  {name}")
        print(f"    {'step':>6s} {'wall s':>9s} {'step s':>9s} {'score':>8s}")
        for step, wall, steps, value in curve:
            print(f"    {step:6d} {wall:9.1f} {steps:9.1f} {value:8.4f}")
    ref_curve, our_curve = curves.values()
    _, ref_wall, ref_steps, target = ref_curve[-1]
    print(f"\nreference final score {target:.4f} after {ref_steps:.1f} step s ({ref_wall:.1f} s)")
    reached = time_to_reach(our_curve, target)
    if reached is None:
        print(f"PanoRig's default ends at {our_curve[-1][3]:.4f}: it does not reach it")
    else:
        step, wall, steps, _ = reached
        print(
            f"PanoRig's default reaches it at step {step}, after {steps:.1f} step s = "
            f"{steps / ref_steps:.2f} of the reference's (target <= 0.33; wall clock "
            f"{wall / ref_wall:.2f}); its own final score {our_curve[-1][3]:.4f}"
        )


if __name__ == "__main__":
    main()

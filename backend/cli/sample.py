"""``sample``: render seeds from a ring of cameras to PNG images and foreground masks."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from ..cameras import FOCAL, RADIUS, orbit_cameras
from ..imaging import image_to_uint8, mask_to_uint8, save_png
from ..models import open_generator
from ..sampling import seed_ws
from .common import add_checkpoint_args, parse_floats, parse_int_ranges


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="render heads for seeds and yaw angles to PNGs")
    add_checkpoint_args(p)
    p.add_argument("--seeds", type=parse_int_ranges, default=[0], help="e.g. 0-3,7 (default 0)")
    p.add_argument(
        "--yaw",
        type=parse_floats,
        default=[0.0],
        help="degrees, comma-separated; 0 = frontal, 90 = subject's left, 180 = back",
    )
    p.add_argument("--pitch", type=float, default=0.0, help="camera elevation in degrees")
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi (1 = none)")
    p.add_argument("--focal", type=float, default=FOCAL, help="normalised focal length")
    p.add_argument("--noise-mode", choices=("const", "random", "none"), default="const")
    p.add_argument(
        "--stochastic",
        action="store_true",
        help="jitter ray samples like PanoHead's training renderer (default: deterministic)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(run=run)


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    G = open_generator(args.checkpoint, args.device)
    device = next(G.parameters()).device
    cameras = orbit_cameras(args.yaw, args.pitch, RADIUS, focal=args.focal).to(device)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(seed, i) for seed in args.seeds for i in range(len(args.yaw))]
    ws = grids = None
    current = None
    for seed, i in tqdm(jobs, desc="rendering", unit="view"):
        if seed != current:
            ws = seed_ws(G, seed, args.psi)
            grids = G.synthesize_grids(ws, args.noise_mode)
            current = seed
        out = G.synthesis(
            ws,
            cameras[i : i + 1],
            noise_mode=args.noise_mode,
            deterministic=not args.stochastic,
            grids=grids,
        )
        name = f"seed{seed:04d}_yaw{args.yaw[i]:+06.1f}"
        save_png(image_to_uint8(out["image"][0]), args.out / f"{name}.png")
        mask = mask_to_uint8(out["image_mask"][0], size=out["image"].shape[-1])
        save_png(mask, args.out / f"{name}_mask.png")
    print(f"wrote {2 * len(jobs)} images to {args.out}")
    return 0

"""``sample``: render seeds from a ring of cameras to PNG images and (PanoHead) foreground masks."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from ..cameras import RADIUS, orbit_cameras
from ..common.settings import HeadSettings, ViewSettings
from ..devices import resolve_device
from ..imaging import image_to_uint8, mask_to_uint8, save_png
from ..inversion import load_head
from ..models import open_generator
from ..sampling import seed_ws
from .options import (
    add_checkpoint_args,
    add_head_arg,
    add_settings,
    check_head_file,
    check_seeds,
    parse_int_ranges,
    settings_from,
    writable_folder,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="render heads for seeds and yaw angles to PNGs")
    add_checkpoint_args(p)
    p.add_argument("--seeds", type=parse_int_ranges, default=[0], help="e.g. 0-3,7 (default 0)")
    add_head_arg(p)
    add_settings(p, HeadSettings, "seed")
    add_settings(p, ViewSettings)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(run=run)


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    seeds = check_seeds(args.seeds)
    head = settings_from(args, HeadSettings)
    view = settings_from(args, ViewSettings)
    device = resolve_device(args.device)
    check_head_file(args.head)
    writable_folder(args.out)
    if args.head is not None:  # one inverted person instead of seeds
        G, head_ws = load_head(args.head, device)
        seeds, stem = [None], args.head.stem
    else:
        G = open_generator(args.checkpoint, device)
    cameras = orbit_cameras(list(view.yaw), view.pitch, RADIUS, focal=view.focal).to(device)
    jobs = [(seed, i) for seed in seeds for i in range(len(view.yaw))]
    ws = grids = None
    current = None
    written = 0
    for seed, i in tqdm(jobs, desc="rendering", unit="view"):
        if ws is None or seed != current:
            ws = head_ws if seed is None else seed_ws(G, seed, head.psi)
            grids = G.synthesize_grids(ws, view.noise_mode)
            current = seed
        out = G.synthesis(
            ws,
            cameras[i : i + 1],
            noise_mode=view.noise_mode,
            deterministic=not view.stochastic,
            grids=grids,
        )
        name = f"{stem if seed is None else f'seed{seed:04d}'}_yaw{view.yaw[i]:+06.1f}"
        save_png(image_to_uint8(out["image"][0]), args.out / f"{name}.png")
        written += 1
        if "image_mask" in out:  # EG3D renders carry no foreground mask
            mask = mask_to_uint8(out["image_mask"][0], size=out["image"].shape[-1])
            save_png(mask, args.out / f"{name}_mask.png")
            written += 1
    print(f"wrote {written} images to {args.out}")
    return 0

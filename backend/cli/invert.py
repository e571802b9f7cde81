"""``invert``: one or more photos of a person -> a head file (and optionally a textured mesh).

python -m backend invert --checkpoint CKPT --photo A.jpg [--photo B.jpg ...]
    --out person.safetensors [--steps N] [--tune-steps N] [--aligned --yaw DEG --pitch DEG]
    [--mesh head.glb --resolution N --faces N --texture N] [--preview sheet.png]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from ..common.settings import InversionSettings, MeshSettings, TextureSettings
from ..devices import resolve_device
from ..export import FORMATS, export_mesh
from ..head import make_head
from ..imaging import save_png
from ..inversion import align_photos, framing, invert, photo_projections, preview_sheet
from ..models import open_generator
from ..progress import Progress, progress_bar
from .options import add_checkpoint_args, add_settings, settings_from, writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invert", help="invert photos of a person into a head file")
    add_checkpoint_args(p)
    p.add_argument(
        "--photo",
        type=Path,
        action="append",
        required=True,
        help="a photo of the person (give several: front, profile...); JPEG, PNG, ...",
    )
    p.add_argument("--out", type=Path, required=True, help="the head file to write (.safetensors)")
    add_settings(p, InversionSettings)
    p.add_argument("--mesh", type=Path, help=f"also write the textured head ({', '.join(FORMATS)})")
    add_settings(p, MeshSettings)
    add_settings(p, TextureSettings)
    p.add_argument("--preview", type=Path, help="write a preview sheet (.png)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inversion = settings_from(args, InversionSettings)
    mesh = settings_from(args, MeshSettings)
    texture = settings_from(args, TextureSettings)
    if args.out.suffix.lower() != ".safetensors":
        raise ValueError(f"--out must end in .safetensors (a head file), got {args.out}")
    if args.mesh is not None and args.mesh.suffix.lower() not in FORMATS:
        raise ValueError(f"--mesh must end in one of {', '.join(FORMATS)}, got {args.mesh}")
    if args.preview is not None and args.preview.suffix.lower() != ".png":
        raise ValueError(f"--preview must end in .png, got {args.preview}")
    for path, what in ((args.out, "--out"), (args.mesh, "--mesh"), (args.preview, "--preview")):
        if path is not None:
            writable_file(path, what)
    device = resolve_device(args.device)

    G = open_generator(args.checkpoint, device)
    photos = align_photos([str(p) for p in args.photo], inversion, quad=framing(G))
    for photo in photos:
        found = "landmarks" if photo.landmarks_found else "no landmarks: aligned input"
        print(
            f"{photo.source}: yaw {photo.yaw:+.1f}, pitch {photo.pitch:+.1f}, "
            f"roll {photo.roll:+.1f} degrees ({found})"
        )
    start = time.perf_counter()
    with progress_bar("inverting") as bar:
        head = invert(
            G,
            photos,
            steps=inversion.steps,
            tune_steps=inversion.tune_steps,
            resolution=inversion.fit_resolution,
            progress=stage_eta(bar),
        )
    head.save(args.out)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in head.losses.items())
    print(f"fitted in {time.perf_counter() - start:.0f} s ({losses}); wrote {args.out}")
    for meta in head.photos:
        print(
            f"  {meta['file']}: refined camera yaw {meta['yaw']:+.1f}, "
            f"pitch {meta['pitch']:+.1f}, roll {meta['roll']:+.1f}"
        )
    if args.mesh is not None:
        with progress_bar("head mesh") as bar:
            result = make_head(
                head.G,
                head.ws,
                mesh,
                texture,
                bar,
                photos=photo_projections(photos, head.cameras),
            )
        files = export_mesh(result, args.mesh)
        print("wrote " + ", ".join(str(f) for f in files))
    if args.preview is not None:
        save_png(preview_sheet(head.G, head.ws, photos, head.cameras), args.preview)
        print(f"wrote {args.preview}")
    return 0


_STEP = re.compile(r"(\d+)/(\d+)")


def stage_eta(progress: Progress) -> Progress:
    """Add an ETA for the current stage to stages that count their steps ('W+ step 40/300')."""
    state: dict = {"stage": None, "since": 0.0}

    def update(fraction: float, stage: str) -> None:
        name = stage.split(" ", 1)[0]
        now = time.perf_counter()
        if name != state["stage"]:
            state.update(stage=name, since=now)
        match = _STEP.search(stage)
        if match and int(match.group(1)) > 0:
            done, total = int(match.group(1)), int(match.group(2))
            left = (now - state["since"]) / done * (total - done)
            stage = f"{stage}, ETA {left:.0f} s"
        progress(fraction, stage)

    return update

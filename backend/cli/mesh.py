"""``mesh``: a seed's head as a clean, textured mesh file (.glb, .obj + .mtl + .png, .ply)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common.settings import HeadSettings, MeshSettings, TextureSettings
from ..devices import resolve_device
from ..export import FORMATS, export_mesh
from ..head import has_superresolution, make_head
from ..inversion import read_head, stored_projections
from ..models import open_generator
from ..progress import progress_bar, stage_timer
from ..sampling import seed_ws
from .options import (
    add_checkpoint_args,
    add_head_arg,
    add_settings,
    check_head_file,
    settings_from,
    writable_file,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mesh", help="extract a textured head mesh for a seed")
    add_checkpoint_args(p)
    add_head_arg(p)
    add_settings(p, HeadSettings)
    add_settings(p, MeshSettings)
    add_settings(p, TextureSettings)
    p.add_argument("--dense", action="store_true", help="evaluate the full lattice (reference)")
    p.add_argument("--out", type=Path, required=True, help=f"output file ({', '.join(FORMATS)})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    head = settings_from(args, HeadSettings)
    mesh = settings_from(args, MeshSettings)
    texture = settings_from(args, TextureSettings)
    if args.out.suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in one of {', '.join(FORMATS)}, got {args.out}")
    device = resolve_device(args.device)
    check_head_file(args.head)
    writable_file(args.out)
    photos = []
    if args.head is not None:  # an inverted person: its photos go into the texture too
        inverted = read_head(args.head, device)
        G, ws, photos = inverted.G, inverted.ws, stored_projections(inverted)
        what = args.head.name
    else:
        G = open_generator(args.checkpoint, device)
        ws, what = seed_ws(G, head.seed, head.psi), f"seed {head.seed}"
    if texture.texture and texture.views is None and not has_superresolution(G):
        print("note: this generator has no super-resolution; the texture is its colour map")
    times: dict[str, float] = {}
    with progress_bar(what) as bar:
        progress = stage_timer(bar, times)
        result = make_head(G, ws, mesh, texture, progress, dense=args.dense, photos=photos)
        progress(1.0, "export")
        files = export_mesh(result, args.out)
        progress(1.0, "done")  # closes the export stage's timer
    print(f"{len(result.vertices):,} vertices, {len(result.faces):,} faces")
    print("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "done"))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0

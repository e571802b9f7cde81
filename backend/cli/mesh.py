"""``mesh``: a seed's head as a clean, textured mesh file (.glb, .obj + .mtl + .png, .ply)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..export import FORMATS, export_mesh
from ..geometry import PANOHEAD_LEVEL, GridRegion, extract_mesh
from ..geometry.density_grid import PANOHEAD_BORDER
from ..models import open_generator
from ..progress import progress_bar, scaled, stage_timer
from ..sampling import seed_ws
from ..texture import DEFAULT_VIEWS, bake_texture
from .common import add_checkpoint_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mesh", help="extract a textured head mesh for a seed")
    add_checkpoint_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--psi", type=float, default=0.7, help="truncation psi (1 = none)")
    p.add_argument("--resolution", type=int, default=256, help="lattice cells across the box")
    p.add_argument("--faces", type=int, default=60000, help="target face count after decimation")
    p.add_argument("--texture", type=int, default=2048, help="texture size; 0 = no texture")
    p.add_argument(
        "--views",
        type=int,
        default=len(DEFAULT_VIEWS),
        help=f"super-resolved views projected into the texture (0-{len(DEFAULT_VIEWS)}; "
        "0 = the generator's feature colour only)",
    )
    p.add_argument("--level", type=float, default=PANOHEAD_LEVEL, help="raw density iso level")
    p.add_argument(
        "--border",
        type=float,
        default=PANOHEAD_BORDER,
        help="fraction of the box trimmed on every face (PanoHead's default 30/256)",
    )
    p.add_argument("--neck-y", type=float, default=None, help="flat neck cut at this world height")
    p.add_argument("--smooth", type=int, default=3, help="Taubin smoothing iterations")
    p.add_argument("--dense", action="store_true", help="evaluate the full lattice (reference)")
    p.add_argument("--out", type=Path, required=True, help=f"output file ({', '.join(FORMATS)})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in FORMATS:
        raise ValueError(f"--out must end in one of {', '.join(FORMATS)}")
    if not 0 <= args.views <= len(DEFAULT_VIEWS):
        raise ValueError(f"--views must be between 0 and {len(DEFAULT_VIEWS)}")
    G = open_generator(args.checkpoint, args.device)
    ws = seed_ws(G, args.seed, args.psi)
    region = GridRegion(border=args.border, neck_y=args.neck_y)
    times: dict[str, float] = {}
    with progress_bar(f"seed {args.seed}") as bar, torch.no_grad():
        progress = stage_timer(bar, times)
        split = 0.5 if args.texture else 1.0
        result = mesh = extract_mesh(
            G,
            ws,
            args.resolution,
            args.level,
            region,
            args.faces,
            args.smooth,
            dense=args.dense,
            progress=scaled(progress, 0.0, split),
        )
        if args.texture:
            result = bake_texture(
                G,
                ws,
                mesh,
                args.texture,
                DEFAULT_VIEWS[: args.views],
                progress=scaled(progress, split, 1.0),
            )
        progress(1.0, "export")
        files = export_mesh(result, args.out)
        progress(1.0, "done")  # closes the export stage's timer
    print(f"{len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces")
    print("stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "done"))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0

"""``rig``: bind a head mesh to FLAME or the open template; writes the rig arrays (.npz)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import trimesh

from ..progress import progress_bar
from ..rigging import bind_rig, open_rig_model, save_rig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rig", help="bind a head mesh to a FLAME-layout rig")
    p.add_argument("--mesh", type=Path, required=True, help="head mesh (.glb, .obj, .ply)")
    p.add_argument(
        "--model",
        default="template",
        help="'template' (open MakeHuman head) or the path of your FLAME .pkl/.npz",
    )
    p.add_argument("--out", type=Path, required=True, help="output rig (.npz)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.mesh.is_file():
        raise ValueError(f"mesh not found: {args.mesh}")
    loaded = trimesh.load(args.mesh, force="mesh", process=False)
    start = time.perf_counter()
    model = open_rig_model(args.model)
    with progress_bar("binding") as bar:
        rig = bind_rig(
            model,
            np.asarray(loaded.vertices, np.float32),
            np.asarray(loaded.faces, np.int32),
            np.asarray(loaded.vertex_normals, np.float32),
            progress=bar,
        )
    save_rig(rig, args.out)
    fit = rig.fit
    print(
        f"{model.name}: scale {fit.scale:.3f} units/m, residual {fit.residual:.4f} "
        f"({fit.relative_residual:.2%} of head height), {int(rig.matched.sum()):,}/"
        f"{len(rig.vertices):,} vertices matched, {time.perf_counter() - start:.1f} s"
    )
    print(f"wrote {args.out}")
    return 0

"""``train-demo``: rebuild the bundled demo generator by distilling the teacher family."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

from ..models import TriGridGenerator
from ..models.checkpoint import DEMO_PATH, load_generator, read_safetensors, save_generator
from ..models.presets import demo
from ..progress import progress_bar
from ..teacher.distill import DistillSettings, build_dataset, record_json, train_demo
from .options import writable_file

COMMAND = "python -m backend train-demo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-demo", help="rebuild the bundled demo generator (CPU, ~35 min on 2 cores)"
    )
    defaults = DistillSettings()
    p.add_argument("--first-seed", type=int, default=defaults.seeds[0])
    p.add_argument("--heads", type=int, default=defaults.seeds[1] - defaults.seeds[0])
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (cosine)")
    p.add_argument(
        "--render-weight",
        type=float,
        default=defaults.render_weight,
        help="weight of the rendered-image loss against the point losses",
    )
    p.add_argument(
        "--resume",
        type=Path,
        help="train this demo generator file further instead of a new one "
        "(its training record is kept in the new file's)",
    )
    p.add_argument("--workers", type=int, default=defaults.workers)
    p.add_argument("--out", type=Path, default=DEMO_PATH)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Checked before the teacher heads (10-20 minutes) are built, not after training.
    batch = DistillSettings().batch
    if args.heads < batch:
        raise ValueError(f"--heads {args.heads} is too few: each step trains on {batch} heads")
    if args.steps < 1 or args.workers < 1 or args.first_seed < 0:
        raise ValueError("--steps and --workers must be at least 1 and --first-seed at least 0")
    if not (math.isfinite(args.lr) and 0 < args.lr <= 0.1):
        raise ValueError(f"--lr {args.lr} is out of range: give a rate above 0 and at most 0.1")
    if not (math.isfinite(args.render_weight) and 0 <= args.render_weight <= 100):
        raise ValueError(
            f"--render-weight {args.render_weight} is out of range: give a weight from 0 to 100"
        )
    start, earlier = _resumed(args.resume)
    writable_file(args.out)
    settings = DistillSettings(
        seeds=(args.first_seed, args.first_seed + args.heads),
        steps=args.steps,
        lr=args.lr,
        render_weight=args.render_weight,
        workers=args.workers,
    )
    with progress_bar("teacher heads") as bar:
        data = build_dataset(settings, bar)
    with progress_bar("distilling") as bar:
        G, record = train_demo(settings, data, bar, resume=start)
    record["command"] = (
        f"{COMMAND} --first-seed {args.first_seed} --heads {args.heads} --steps {args.steps}"
        f" --lr {args.lr:g} --render-weight {args.render_weight:g}"
        + (f" --resume {args.resume}" if args.resume else "")
    )
    if earlier is not None:
        record["resumed_from"] = earlier
    save_generator(G, args.out, extra={"training": record_json(record)})
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB) after {record['train_seconds']:.0f} s of training")
    return 0


def _resumed(path: Path | None) -> tuple[TriGridGenerator | None, dict | None]:
    """The generator ``--resume`` names and its training record (None if it has none)."""
    if path is None:
        return None, None
    G, preset = load_generator(path), demo()
    # The framing is the teacher's, and the latent goes in unnormalised, whatever the file says:
    # files from before these were recorded carry PanoHead's framing and StyleGAN's scaling, and
    # are trained further as the preset builds them.
    adopted = {
        "face_quad_y": preset.face_quad_y,
        "face_quad_half": preset.face_quad_half,
        "normalize_z": preset.normalize_z,
    }
    if dataclasses.replace(G.config, **adopted) != preset:
        raise ValueError(
            f"--resume {path} is not a demo generator (its architecture differs from the demo "
            "preset's): give a file written by train-demo"
        )
    weights, G = G.state_dict(), preset.build()
    G.load_state_dict(weights)
    meta, _ = read_safetensors(path, "cannot be read", "Give a file written by train-demo.")
    return G, json.loads(meta["training"]) if "training" in meta else None

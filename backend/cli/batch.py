"""``batch``: many rigged heads in one resumable command, on this machine or a Ray cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..batch import DONE, FAIL_SEEDS_ENV, make_spec, read_heads_file, run_batch, seed_items
from ..common.settings import (
    HeadSettings,
    MeshSettings,
    RigSettings,
    TextureSettings,
    spec_of,
    validate,
)
from ..devices import resolve_device
from ..export import FORMATS
from .options import (
    add_checkpoint_args,
    add_settings,
    check_seeds,
    parse_int_ranges,
    settings_from,
)

NO_RIG = "none"
MAX_WORKERS = 256


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="make many rigged heads (resumable; local processes or a Ray cluster)",
        epilog=f"Exit code 0: every head made; 1: some heads failed (run again to retry them); "
        f"2: bad input. {FAIL_SEEDS_ENV}=3,7 makes those seeds fail on purpose (drills, tests).",
    )
    add_checkpoint_args(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--seeds", type=parse_int_ranges, help="seeds, e.g. 0-9999 or 0-3,7")
    which.add_argument(
        "--heads",
        type=Path,
        help="a text file with one seed, head file (.safetensors, from 'invert') or latent "
        "(.npy: z or ws) per line",
    )
    add_settings(p, HeadSettings, "seed")
    add_settings(p, MeshSettings)
    add_settings(p, TextureSettings)
    rig = spec_of(RigSettings, "model")
    p.add_argument(
        "--rig",
        default="template",
        help=f"{rig.help}, or '{NO_RIG}' for unrigged heads (default template)",
    )
    p.add_argument(
        "--formats", default="glb", help=f"mesh formats, from {', '.join(FORMATS)} (default glb)"
    )
    p.add_argument(
        "--out", required=True, help="output folder, or an fsspec URL such as s3://bucket/crowd"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per GPU, else 1) or Ray actors (default: one per "
        "GPU of the cluster, else one per CPU)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="auto|ADDRESS",
        help="run on a Ray cluster: 'auto' joins the one RAY_ADDRESS or 'ray start' names, or "
        "give its address (needs the ray extra)",
    )
    p.add_argument("--chunk", type=int, default=None, help="heads per Ray task (default: auto)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    head = settings_from(args, HeadSettings, seed=0)
    mesh = settings_from(args, MeshSettings)
    texture = settings_from(args, TextureSettings)
    rig = None if args.rig == NO_RIG else _rig_model(args.rig)
    if rig is not None and rig != "template" and not Path(rig).is_file():
        raise ValueError(f"--rig {rig} not found: give 'template', your FLAME .pkl, or '{NO_RIG}'")
    formats = _formats(args.formats)
    for name in ("workers", "chunk"):
        value = getattr(args, name)
        if value is not None and not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"--{name} {value} is out of range: give 1 to {MAX_WORKERS}")
    if args.ray is None:
        resolve_device(args.device)  # a bad --device is refused before any worker starts
    items = seed_items(check_seeds(args.seeds)) if args.seeds else read_heads_file(args.heads)
    spec = make_spec(args.out, args.checkpoint, head.psi, mesh, texture, rig, formats)
    plan, rows, summary = run_batch(
        spec,
        items,
        device=args.device,
        workers=args.workers,
        ray_address=args.ray,
        chunk=args.chunk,
    )
    where = f"Ray ({args.ray})" if args.ray else "this machine"
    print(
        f"{len(items)} heads in {args.out}: {plan.done} done before, {plan.retried} retried, "
        f"{len(plan.todo)} made on {where}"
    )
    print(summary)
    return 0 if all(r.status == DONE for r in rows) else 1


def _rig_model(text: str) -> str:
    return validate(RigSettings, {"model": text}, lambda _name: "--rig").model


def _formats(text: str) -> tuple[str, ...]:
    names = [f".{n.strip().lower().lstrip('.')}" for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise ValueError(
            f"--formats {text!r}: give one or more of {', '.join(f[1:] for f in FORMATS)}, "
            "comma-separated (e.g. glb,obj)"
        )
    return tuple(dict.fromkeys(names))

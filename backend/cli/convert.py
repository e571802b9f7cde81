"""``convert``: official PanoHead snapshot -> PanoRig checkpoint (.safetensors)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..models import convert_checkpoint
from .options import writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert an official PanoHead .pkl to PanoRig's format")
    p.add_argument("src", type=Path, help="official snapshot (.pkl)")
    p.add_argument("dst", type=Path, help="output .safetensors")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    writable_file(args.dst, "the output")
    start = time.perf_counter()
    out = convert_checkpoint(args.src, args.dst)
    size = out.stat().st_size / 2**20
    print(f"wrote {out} ({size:.1f} MiB) in {time.perf_counter() - start:.1f} s")
    return 0

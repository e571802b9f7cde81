"""``python -m backend <command>``: each command lives in its own module and registers itself."""

from __future__ import annotations

import os
import sys

from ..models.fast_path import KERNELS_ENV, prepare_process
from . import batch, convert, invert, mesh, rig, sample, serve, train_demo
from .options import Parser

COMMANDS = (sample, mesh, invert, rig, batch, convert, serve, train_demo)


def build_parser() -> Parser:
    parser = Parser(prog="python -m backend", description="PanoRig backend")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # --kernels reaches every generator made by this command, here or in its workers, through
    # the environment; restored afterwards for callers that run several commands in-process.
    before = os.environ.get(KERNELS_ENV)
    if getattr(args, "kernels", None):
        os.environ[KERNELS_ENV] = args.kernels
    try:
        prepare_process()
        return int(args.run(args) or 0)
    except (ValueError, RuntimeError, OSError) as exc:
        # Expected user errors (PanoRigError is a ValueError): one clear line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if before is None:
            os.environ.pop(KERNELS_ENV, None)
        else:
            os.environ[KERNELS_ENV] = before

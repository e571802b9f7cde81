"""``serve``: run the backend service; ``keys``: make CURVE keys for remote use."""

from __future__ import annotations

import argparse

from ..service import make_keys, serve
from .options import add_device_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the backend service for the Blender add-on")
    p.add_argument("--bind", default="tcp://127.0.0.1:5577", help="ZeroMQ address to listen on")
    p.add_argument(
        "--checkpoint",
        default="demo",
        help="default generator: 'demo' (bundled), a PanoHead .pkl or a PanoRig .safetensors",
    )
    add_device_arg(p)
    p.add_argument(
        "--head",
        default=None,
        help="a head file made by 'invert': Generate makes that person (its photos in the "
        "texture) instead of the seed's head",
    )
    p.add_argument("--curve-keys", default=None, help="folder made by 'python -m backend keys'")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without CURVE keys (prints a warning)",
    )
    p.set_defaults(run=run_serve)

    k = sub.add_parser("keys", help="create CURVE key pairs for a remote backend")
    k.add_argument("directory", help="folder to write the keys into")
    k.add_argument("--force", action="store_true", help="replace keys already in the folder")
    k.set_defaults(run=run_keys)


def run_serve(args: argparse.Namespace) -> int:
    serve(args.bind, args.checkpoint, args.device, args.curve_keys, args.insecure, args.head)
    return 0


def run_keys(args: argparse.Namespace) -> int:
    paths = make_keys(args.directory, force=args.force)
    print(f"server keys: {paths['server_public']} (give the public key to clients)")
    print(
        f"client keys: {paths['client_secret']} (for the add-on), authorised in "
        f"{paths['authorized']}"
    )
    return 0

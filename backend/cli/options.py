"""Argument helpers shared by commands."""

from __future__ import annotations

import argparse

from ..models.presets import PRESETS


def parse_int_ranges(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep and lo:
                start, stop = int(lo), int(hi)
                if stop < start:
                    raise ValueError
                values.extend(range(start, stop + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a list of integers or ranges: {text!r}"
            ) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def parse_floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None


def add_checkpoint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default="demo",
        help="'demo' (the bundled demo model, default), an official PanoHead .pkl, a PanoRig "
        f".safetensors, or random:<preset> (random weights for testing: {', '.join(PRESETS)})",
    )
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")

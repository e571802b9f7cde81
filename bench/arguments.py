"""Command-line types shared by the benches."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes: a whole number of at least 1 (a zero count would
    otherwise end a long run in a statistics error after its first measurements)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give 1 or more")
    return value

"""Command-line options: built from the settings schema, and the checks every command shares.

Options for head, mesh, texture, view and rig settings come from ``backend.common.settings``
(names, defaults, help, bounds), so the command line, the service and the add-on agree. Every
value is checked before a command starts work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from ..common.settings import HeadSettings, Settings, fields_of, spec_of, validate
from ..models.fast_path import KERNELS, KERNELS_ENV
from ..models.presets import PRESETS

T = TypeVar("T", bound=Settings)


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line and exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_settings(parser: argparse.ArgumentParser, cls: type[Settings], *skip: str) -> None:
    """One option per setting of ``cls`` (except ``skip``), with its default and help."""
    for info in fields_of(cls):
        if info.name in skip:
            continue
        spec = info.spec
        default = info.default
        shown = spec.none if default is None else default
        if isinstance(default, tuple):
            shown = ",".join(f"{v:g}" for v in default)
        help_text = f"{spec.help}; {spec.allowed(info.kind)} (default {shown})"
        if info.kind is bool:
            parser.add_argument(flag(info.name), action="store_true", help=spec.help)
            continue
        kind = _floats if info.sequence else info.kind
        parser.add_argument(flag(info.name), type=kind, default=default, help=help_text)


def settings_from(args: argparse.Namespace, cls: type[T], **override: Any) -> T:
    """The validated ``cls`` from parsed options; errors name the option as typed."""
    values = {f.name: getattr(args, f.name) for f in fields_of(cls) if hasattr(args, f.name)}
    return validate(cls, {**values, **override}, flag)


MAX_VALUES = 1_000_000  # more seeds than any batch makes; refused before a list is built


def parse_int_ranges(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]; at most ``MAX_VALUES`` values."""
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
                if len(values) + stop - start >= MAX_VALUES:
                    raise argparse.ArgumentTypeError(
                        f"{text!r} is more than {MAX_VALUES:,} values: give a smaller range"
                    )
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


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one number, got {text!r}")
    return values


def add_checkpoint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default="demo",
        help="'demo' (the bundled demo model, default), an official PanoHead .pkl, a PanoRig "
        f".safetensors, or random:<preset> (random weights for testing: {', '.join(PRESETS)})",
    )
    add_device_arg(parser)


def add_head_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--head",
        type=Path,
        default=None,
        help="a head file made by 'invert' (.safetensors): its person instead of a seed, "
        "with its own tuned generator (--checkpoint is not used)",
    )


def check_head_file(path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise ValueError(f"--head {path} not found: give a head file made by 'invert'")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto: the GPU if any)"
    )
    parser.add_argument(
        "--kernels",
        choices=KERNELS,
        default=os.environ.get(KERNELS_ENV, "fast"),
        help="fast: fused kernels, compiled on first use and cached in ~/.cache/panorig/inductor "
        "(without a C++ compiler or Triton they run uncompiled, said once); reference: the "
        "readable PyTorch modules (default: $PANORIG_KERNELS, else fast)",
    )


def check_seeds(seeds: list[int]) -> list[int]:
    """Every seed within the schema's bounds (the same as the add-on's Seed field)."""
    spec = spec_of(HeadSettings, "seed")
    bad = [s for s in seeds if not spec.min <= s <= spec.max]
    if bad:
        raise ValueError(
            f"--seeds {bad[0]} is out of range: seeds are whole numbers from 0 to "
            f"{spec.max:,}. Use seeds in that range."
        )
    return seeds


def writable_file(path: Path, what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written (its folder is made if missing)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder: give a file name, e.g. {path / 'head.glb'}")
    writable_folder(path.parent, what, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{what} {path} exists and cannot be overwritten: choose another path")
    return path


def writable_folder(folder: Path, what: str = "--out", target: Path | None = None) -> Path:
    """Make ``folder`` if needed and check it can be written into; one clear error if not."""
    folder = Path(folder)
    target = target or folder
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(
            f"cannot write {what} {target}: {blocker} is a file, not a folder. Choose another path."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"cannot write {what} {target}: {exc.strerror or exc}. Choose a folder you can write."
        ) from None
    # A file made and removed is the real test: os.access says yes to root everywhere, even in
    # /proc, and an output refused only after the work loses that work.
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        raise ValueError(
            f"cannot write {what} {target}: {folder} is not writable. "
            "Choose a folder you can write."
        ) from None
    return folder

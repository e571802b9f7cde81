"""Choosing the torch device from a user's ``auto|cpu|cuda[:N]`` setting."""

from __future__ import annotations

import re

import torch

DEVICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available; anything else unusable is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ValueError(f"unknown device {name!r}: use {DEVICES}.")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was requested but this PyTorch has no usable GPU; "
                "use --device cpu or auto."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} GPU(s), cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1}."
            )
    return device

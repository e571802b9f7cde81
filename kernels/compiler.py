"""``torch.compile`` with a cache that outlives the process and a clean fall-back.

Inductor turns a traced function into C++/OpenMP on the CPU and Triton on CUDA. The first call
compiles (seconds per function on a small CPU); the generated code is kept in ``cache_dir()`` so
the next process loads it instead. Where compilation is impossible (no C++ compiler, no Triton
for the GPU, an unsupported platform, or a failure while compiling) the same function runs
uncompiled, with the reference's results and speed, and the reason is logged once.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger("panorig.kernels")

_REPORTED: set[str] = set()


def cache_dir() -> Path:
    """Where compiled graphs are kept: $TORCHINDUCTOR_CACHE_DIR, else ~/.cache/panorig/inductor."""
    configured = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "panorig" / "inductor"


@functools.cache
def unavailable_reason(device_type: str) -> str | None:
    """Why the fast path cannot compile for ``device_type`` ('cpu' or 'cuda'); None if it can."""
    if not hasattr(torch, "compile"):
        return "this PyTorch has no torch.compile"
    if sys.platform == "win32":
        return "torch.compile's Inductor backend does not support Windows here"
    if device_type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "Triton is not installed (it comes with PyTorch's CUDA wheels)"
        return None
    compiler = os.environ.get("CXX", "g++" if sys.platform.startswith("linux") else "clang++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler}) on PATH"
    return None


def report_once(key: str, message: str) -> None:
    if key not in _REPORTED:
        _REPORTED.add(key)
        log.warning(message)


# Inductor's layout optimisation reruns convolutions channels-last, whose different summation
# order doubles the difference from the reference (8e-6 against 4e-6 on the super-resolution)
# for no measured gain at the release size.
INDUCTOR_OPTIONS = {"layout_optimization": False}
RECOMPILE_LIMIT = 64


def compiled(fn: Callable, fallback: Callable, name: str, **options) -> Callable:
    """``fn`` compiled on first use, or ``fallback`` (same signature, same results to rounding;
    usually ``fn`` itself) where it cannot be: the reason is logged once per ``name``, and a
    compile that fails once is not tried again in this process. ``options`` go to
    ``torch.compile``."""
    options.setdefault("options", INDUCTOR_OPTIONS)
    state: dict[str, Callable | None] = {"compiled": None, "failed": None}

    @functools.wraps(fn)
    def call(*args, **kwargs):
        device_type = _device_type(args)
        reason = unavailable_reason(device_type) or state["failed"]
        if reason:
            report_once(f"{name}:{device_type}", f"fast path {name}: {reason}; running uncompiled")
            return fallback(*args, **kwargs)
        if state["compiled"] is None:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
            # One graph per layer kind and shape (a StyleGAN2 has a dozen): past Dynamo's
            # default of 8 it would quietly run the rest uncompiled.
            limit = torch._dynamo.config.recompile_limit
            torch._dynamo.config.recompile_limit = max(limit, RECOMPILE_LIMIT)
            state["compiled"] = torch.compile(fn, **options)
        try:
            return state["compiled"](*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any compiler failure means: run the reference
            if not _is_compile_failure(error):
                raise
            state["failed"] = f"compilation failed ({type(error).__name__}: {error})"
            report_once(name, f"fast path {name}: {state['failed']}; running uncompiled")
            return fallback(*args, **kwargs)

    return call


def _device_type(args) -> str:
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device.type
    return "cpu"


def _is_compile_failure(error: Exception) -> bool:
    """Errors raised by Dynamo/Inductor themselves, not by the function's own checks."""
    module = type(error).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch._subclasses")) or (
        isinstance(error, (OSError, RuntimeError)) and "compile" in str(error).lower()
    )

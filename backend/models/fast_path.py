"""The generator's fast path: its hot parts routed through ``kernels``, beside the readable
modules that stay the reference.

``TriGridGenerator.use_fast_path()`` switches a generator over. Its field queries then sample
the grids with ``kernels.trigrid``, and while it renders, ``active()`` tells the StyleGAN2 layers
below to take their fused forms (``kernels.compiled`` epilogues, ``kernels.fir``). Nothing is
stored on the modules: a deep copy (pivotal tuning tunes one) runs its own weights the same way,
and nothing compiled enters a state dict.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import weakref
from collections.abc import Callable, Iterator

import torch

from kernels import compiled, keep_freed_memory, trigrid

# The process-wide default, so worker processes (the service's, a batch's) inherit the choice
# made on the command line: 'fast' or 'reference' (the library's default).
KERNELS_ENV = "PANORIG_KERNELS"
KERNELS = ("fast", "reference")


_ACTIVE = contextvars.ContextVar("panorig_fast_path", default=False)


@contextlib.contextmanager
def active(enabled: bool) -> Iterator[None]:
    """Within: layers take their fused forms when ``enabled`` (a generator's ``fast_path``)."""
    token = _ACTIVE.set(enabled)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def is_active() -> bool:
    return _ACTIVE.get()


_CHANNELS_LAST_UPSAMPLING = contextvars.ContextVar("panorig_channels_last_up", default=False)


@contextlib.contextmanager
def channels_last_upsampling() -> Iterator[None]:
    """Within (the super-resolution enters it), ``runs_channels_last`` says yes for 2x
    upsampling convolutions."""
    token = _CHANNELS_LAST_UPSAMPLING.set(True)
    try:
        yield
    finally:
        _CHANNELS_LAST_UPSAMPLING.reset(token)


def runs_channels_last(x: torch.Tensor, upsampling: bool) -> bool:
    """Whether a modulated convolution of ``x`` runs channels-last: on the fast path, on the
    CPU, the super-resolution's 2x upsampling.

    There oneDNN's transposed convolution and depthwise FIR compute the reference's sums bit for
    bit channels-last, 2-4x faster (backward too), and skip reordering the 2x output back to
    NCHW. The layer's epilogue writes NCHW again in the pass it makes anyway, because the next
    3x3 convolution would sum in another order channels-last. The backbone's upsampling stays
    NCHW: for its last one (256 -> 128 channels at 128^2) oneDNN picks a kernel whose sums
    differ (7e-6) and which is about as fast. (Every layer channels-last in training steps made
    a release-size tuning step slower, not faster.)
    """
    return (
        upsampling and _CHANNELS_LAST_UPSAMPLING.get() and _ACTIVE.get() and x.device.type == "cpu"
    )


def dispatching(method: Callable) -> Callable:
    """A generator method that runs with ``active(self.fast_path)``."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with active(self.fast_path):
            return method(self, *args, **kwargs)

    return call


def enabled_by_default() -> bool:
    """Whether new generators start on the fast path: ``$PANORIG_KERNELS`` is 'fast'."""
    value = os.environ.get(KERNELS_ENV, "reference")
    if value not in KERNELS:
        raise ValueError(
            f"{KERNELS_ENV}={value!r} is not one of {', '.join(KERNELS)}: set it to one of "
            f"those, or unset it (the library then uses the reference path)."
        )
    return value == "fast"


def prepare_process() -> None:
    """The fast path's process-wide setting, for a process that renders (a command, the
    service's worker, a batch worker): where new generators start on the fast path, malloc
    keeps freed memory for reuse (``kernels.keep_freed_memory``: no page faults on every large
    map; the process keeps its peak memory)."""
    if enabled_by_default():
        keep_freed_memory()


# One channels-last copy of the last grids queried: mesh extraction and texture baking query the
# same grids chunk after chunk, and a render queries them twice (coarse and fine samples).
_layout: dict[str, object] = {"key": None, "volumes": None}


def _volumes(G, grids: torch.Tensor) -> torch.Tensor:
    ref = _layout["key"]
    if ref is not None and ref[0]() is grids and ref[1] == grids._version:
        volumes = _layout["volumes"]()
        if volumes is not None:
            return volumes
    volumes = trigrid.channels_last(grids, getattr(G.grid_sampler, "depth", 1)).contiguous()
    forget = weakref.ref(grids, lambda _: _layout.update(key=None, volumes=None))
    # A copy in an autograd graph is held weakly: the graph keeps it while it is needed, and
    # the cache must not keep the graph (a fit's whole forward pass) alive after its backward.
    differentiable = volumes.requires_grad
    held = weakref.ref(volumes) if differentiable else (lambda: volumes)
    _layout["key"], _layout["volumes"] = (forget, grids._version), held
    return volumes


def _decode(decoder, features: torch.Tensor) -> dict[str, torch.Tensor]:
    return decoder(features)


# The decoder module compiled: its softplus, computed element by element in eager PyTorch, took
# a quarter of a 256^3 lattice's time.
_compiled_decode = compiled(_decode, _decode, "decoder", dynamic=True)


def query(G, grids: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """``G.query`` with the sampling done by ``kernels.trigrid`` and the decoder compiled."""
    sampler = G.grid_sampler
    features = trigrid.sample(_volumes(G, grids), sampler.inverse_axes, points, sampler.box_warp)
    return _compiled_decode(G.decoder, features)

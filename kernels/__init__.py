"""Fast paths beside PanoRig's readable PyTorch reference (``backend/models``).

Each fused operation here has its reference in ``backend`` and a parity test
(``tests/test_kernels.py``). Fused code is compiled with ``torch.compile`` (C++/OpenMP on the
CPU, Triton on CUDA) and falls back to the reference where it cannot be.

- ``trigrid.sample``: tri-grid / tri-plane sampling as one weighted lookup of channels-last rows
  (``trigrid.weighted_rows``, with a backward that does not sort).
- ``fir.filter2d``: StyleGAN2's FIR low-pass without the padded copy.
- ``compiled``: compile-on-first-use with a persistent cache and a logged fall-back.
- ``keep_freed_memory``: malloc keeps freed maps for reuse (no page faults on every large map).
"""

from . import trigrid
from .allocator import keep_freed_memory
from .compiler import cache_dir, compiled, unavailable_reason

__all__ = ["cache_dir", "compiled", "keep_freed_memory", "trigrid", "unavailable_reason"]

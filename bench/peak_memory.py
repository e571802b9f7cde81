"""Peak memory of a block of code, for the benchmarks' tables.

On CUDA the caching allocator's peak; on the CPU the highest resident size, sampled every 2 ms
from ``/proc/self/statm``. Both are reported above the level in use when the block starts, so a
path's working set is measured, not what the process held before.
"""

from __future__ import annotations

import threading

import torch

PAGE = 4096


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakMemory:
    """``with PeakMemory(device) as meter: ...``, then ``meter.peak``: GiB above the start."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak = device, 0.0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._base = self._top = _resident_bytes()
        self._stop = threading.Event()

        def watch() -> None:
            while not self._stop.wait(0.002):
                self._top = max(self._top, _resident_bytes())

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = (torch.cuda.max_memory_allocated() - self._base) / 2**30
            return
        self._stop.set()
        self._thread.join()
        self._top = max(self._top, _resident_bytes())
        self.peak = (self._top - self._base) / 2**30

"""What a batch shows while it runs: one bar for the whole batch, a status line per worker, and
a summary at the end. Runners call ``status`` and ``finished``; nothing here knows how heads are
made or where the workers run."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from .manifest import DONE, Row


@dataclass(frozen=True)
class WorkerInfo:
    name: str  # "worker 2"
    pid: int
    node: str

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid} on {self.node})"


class BatchProgress:
    """The batch bar (heads/s, ETA, failures) and per-worker lines; plain log lines when the
    output is not a terminal (CI, a cluster job's log)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.total, self.done, self.failed = total, 0, 0
        self.rows: list[Row] = []
        self.start = time.perf_counter()
        self.bar = tqdm(
            total=total, unit="head", desc="batch", file=self.stream, disable=not self.live
        )
        self.lines: dict[str, tqdm] = {}

    def status(self, worker: WorkerInfo, text: str) -> None:
        """What ``worker`` is doing now."""
        if not self.live:
            return
        line = self.lines.get(worker.name)
        if line is None:
            line = tqdm(
                total=0, position=len(self.lines) + 1, bar_format="{desc}", file=self.stream
            )
            self.lines[worker.name] = line
        line.set_description_str(f"  {worker}: {text}")

    def finished(self, row: Row) -> None:
        self.rows.append(row)
        self.done += row.status == DONE
        self.failed += row.status != DONE
        self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
        self.bar.update(1)
        if not self.live:
            count = f"[{len(self.rows)}/{self.total}]"
            what = f"done in {row.seconds:.1f} s" if row.status == DONE else f"FAILED: {row.error}"
            print(f"{count} {row.key} {what} ({row.worker})", file=self.stream, flush=True)

    def close(self) -> str:
        """Close the bars; returns the summary."""
        for line in self.lines.values():
            line.close()
        self.bar.close()
        return summary(self.rows, time.perf_counter() - self.start)


def summary(rows: list[Row], seconds: float) -> str:
    """Heads made and failed, the rate, and the mean time of each stage."""
    if not rows:
        return "nothing left to make"
    done = [r for r in rows if r.status == DONE]
    rate = 3600 * len(done) / seconds if seconds > 0 else 0.0
    lines = [
        f"{len(done)} heads made, {len(rows) - len(done)} failed in {seconds:.1f} s "
        f"({rate:.0f} heads/hour)"
    ]
    stages: dict[str, list[float]] = {}
    for row in done:
        for stage, t in row.timings.items():
            stages.setdefault(stage, []).append(t)
    if stages:
        means = ", ".join(f"{k} {sum(v) / len(v):.2f} s" for k, v in stages.items())
        lines.append(f"mean per head: {means}")
    for row in rows:
        if row.status != DONE:
            lines.append(f"  failed {row.key}: {row.error}")
    return "\n".join(lines)

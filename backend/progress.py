"""Progress reporting for long steps: a callback ``(fraction, stage)`` that also allows cancelling.

Library functions take ``progress: Progress | None``. The command line turns it into a progress
bar; the service (later) into progress messages, and raises from it to cancel a running job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

Progress = Callable[[float, str], None]


def report(progress: Progress | None, fraction: float, stage: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), stage)


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A callback mapping a sub-step's 0..1 onto ``start..end`` of the caller's range."""
    if progress is None:
        return None
    return lambda fraction, stage: progress(start + (end - start) * fraction, stage)


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A tqdm bar driven by progress callbacks (percent of the whole job, current stage)."""
    with tqdm(total=100, desc=description, unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:

        def update(fraction: float, stage: str) -> None:
            bar.n = round(100 * fraction, 1)
            bar.set_postfix_str(stage, refresh=False)
            bar.refresh()

        yield update


def stage_timer(progress: Progress | None, times: dict[str, float]) -> Progress:
    """Wrap ``progress`` to add up in ``times`` the wall time spent in each stage.

    Stage names are grouped up to " (" so that "density (level 2/3)" counts as "density".
    """
    state: dict = {"stage": None, "since": time.perf_counter()}

    def update(fraction: float, stage: str) -> None:
        now = time.perf_counter()
        if state["stage"] is not None:
            times[state["stage"]] = times.get(state["stage"], 0.0) + now - state["since"]
        state["stage"], state["since"] = stage.split(" (")[0], now
        if progress is not None:
            progress(fraction, stage)

    return update

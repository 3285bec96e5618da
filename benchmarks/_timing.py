"""Timing shared by the benchmarks: functions measured side by side, in alternation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def side_by_side(
    fns: dict[str, Callable[[], object]],
    repeat: int,
    *,
    warmup: int = 1,
    summary: Callable[[list[float]], float] = statistics.median,
) -> dict[str, float]:
    """``summary`` (the median by default) of each function's times, in seconds.

    The functions are called in turn, ``repeat`` rounds after ``warmup``
    rounds (allocations, first touch of pages, kernels, traces), so that every
    function sees the same machine load.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: summary(t) for name, t in times.items()}

"""Timing for the chapters' speed tables and for ``make bench``.

Two statistics, for two questions:

* ``best_time`` (the fastest of a few runs) for "how much faster is the vectorised version than
  the loops?": the gap is 10x to 1000x, and the minimum is the run least disturbed by the machine.
* ``median_times`` (functions run in turns, median of each) for "is NumPy within 1.5x of
  TensorFlow?": close calls, where a busy moment of a shared machine must hit both sides alike,
  and where the minimum would favour the side with the more variable time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["best_time", "median_times"]


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``fn()``."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_times(fns: Mapping[str, Callable[[], object]], repeat: int = 15) -> dict[str, float]:
    """Median seconds of each function, called in turns ``repeat`` times after one warm-up call each.

    Timed in turns, not one after the other, so that a slow moment of the machine lands on all of
    them alike. The warm-up call (tracing a ``tf.function``, first allocations) is not counted.
    Returns {name: median seconds}, in the order of ``fns``.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}

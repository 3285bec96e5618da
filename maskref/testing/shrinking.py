"""Shrinking a failing batch to the smallest one that still fails.

A probe maps ``(rows, maxlen)`` (each row's valid steps, the padded length)
to an :class:`Outcome`. Greedy passes, each kept while it still fails: one
failing row alone, then fewer rows, a shorter padded length, shorter rows;
within a budget of probes and seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Outcome:
    """One comparison: the largest difference, the rows over tolerance, or an error."""

    max_diff: float = 0.0
    row: int | None = None
    failing: list[int] = field(default_factory=list)
    error: str | None = None
    parameter: str | None = None
    compared: int = 0

    @property
    def failed(self) -> bool:
        return self.error is not None or bool(self.failing)


Probe = Callable[[list[np.ndarray], int], Outcome]


def shrink(
    probe: Probe,
    rows: list[np.ndarray],
    maxlen: int,
    outcome: Outcome,
    *,
    max_probes: int = 40,
    seconds: float = 2.0,
) -> tuple[list[np.ndarray], int, Outcome, int]:
    """The smallest ``(rows, maxlen)`` found that still fails, its outcome, probes used."""
    deadline = time.perf_counter() + seconds
    used = 0

    def attempt(cand: list[np.ndarray], m: int) -> Outcome | None:
        nonlocal used
        if used >= max_probes or time.perf_counter() > deadline:
            return None
        if not cand or m < max(1, max(len(r) for r in cand)):
            return None
        used += 1
        try:
            got = probe(cand, m)
        except Exception:  # a shrunk input the probe cannot run is not a smaller failure
            return None
        return got if got.failed else None

    best_rows, best_len, best = rows, maxlen, outcome
    # 1. one failing row alone (the shortest first)
    order = best.failing or list(range(len(rows)))
    for i in sorted(set(order), key=lambda j: (len(rows[j]), j)):
        if len(rows) == 1:
            break
        got = attempt([rows[i]], maxlen)
        if got is not None:
            best_rows, best = [rows[i]], got
            break
    else:
        # 2. else drop rows one at a time
        j = 0
        while len(best_rows) > 1 and j < len(best_rows):
            cand = best_rows[:j] + best_rows[j + 1 :]
            got = attempt(cand, best_len)
            if got is not None:
                best_rows, best = cand, got
            else:
                j += 1
    improved = True
    while improved:
        improved = False
        # 3. a shorter padded length
        longest = max(1, max(len(r) for r in best_rows))
        for m in sorted({longest, longest + 1, (longest + best_len) // 2}):
            if m >= best_len:
                continue
            got = attempt(best_rows, m)
            if got is not None:
                best_len, best, improved = m, got, True
                break
        # 4. shorter rows (a prefix of the valid steps)
        for k, r in enumerate(best_rows):
            for n in sorted({1, len(r) // 2, len(r) - 1}):
                if not 0 < n < len(r):
                    continue
                cand = [*best_rows[:k], r[:n], *best_rows[k + 1 :]]
                got = attempt(cand, best_len)
                if got is not None:
                    best_rows, best, improved = cand, got, True
                    break
    return best_rows, best_len, best, used

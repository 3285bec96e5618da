"""The CPU shortcuts of torch_impl's attention, and their gate.

Both read a value on the host, which costs nothing on the CPU in eager mode and
would stall a GPU stream or break a ``torch.compile`` graph; elsewhere they
answer "unknown" and the kernel takes the path that needs no value:

* :func:`all_true`: whether a small boolean tensor (rows that see a key, keys
  that some query sees) is all True, so that a ``torch.where`` that would
  change nothing can be skipped (exact: the same bits either way).
* :func:`all_finite`: whether the keys and values of the fused kernel are
  finite, asked only when the mask has a key that one query sees and another
  does not. The fused kernel computes every score and every ``weight * value``
  before the mask applies, so one non-finite such key or value turns the rows
  that may not see it into NaN too; then the kernel takes the written-out path,
  which leaves every hidden pair out exactly.

The gate is the reductions' (:func:`torch_impl._fast_reductions.fast_paths_apply`):
CPU tensors, outside ``torch.compile`` and ``torch.func`` transforms.
"""

from __future__ import annotations

import torch

from ._fast_reductions import fast_paths_apply

__all__ = ["all_finite", "all_true"]


def all_true(t: torch.Tensor) -> bool:
    """Whether the small bool ``t`` is all True, where that costs nothing to ask; False
    (unknown) elsewhere, so that compiled graphs and GPU streams never wait for a value."""
    return fast_paths_apply(t) and bool(t.all())


def all_finite(*ts: torch.Tensor) -> bool | None:
    """Whether every element of ``ts`` is finite; None (unknown) where values cannot be read
    for free. One sum per tensor (no copy; float16 and bfloat16 summed in float32): a
    finite sum means finite elements (NaN and inf propagate through a sum); a sum that
    overflows answers False, which only costs the written-out path."""
    if not fast_paths_apply(ts[0]):
        return None
    wide = torch.float32 if ts[0].dtype in (torch.float16, torch.bfloat16) else None
    return all(bool(torch.isfinite(t.sum(dtype=wide))) for t in ts)

"""Mask-flow kernels in NumPy (rules and checks: the front ends, :mod:`maskref.api.flow`).

The tables of kinds (``KERAS_LAYER_KINDS``, ``RULES``) are
:mod:`maskref.api.flow`'s, re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from maskref.api.flow import KERAS_LAYER_KINDS, MERGE_OPS, RULES

__all__ = [
    "KERAS_LAYER_KINDS",
    "RULES",
    "concatenate_masks",
    "merge_masks",
    "merge_masks_strict",
    "merge_values",
]


def merge_masks(masks: list[np.ndarray]) -> np.ndarray:
    return np.logical_or.reduce(masks)


def merge_masks_strict(masks: list[np.ndarray]) -> np.ndarray:
    return np.logical_and.reduce(masks)


def _broadcast(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A leading-prefix mask broadcast to ``shape`` (a read-only view)."""
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def concatenate_masks(
    masks: list[np.ndarray | None], shapes: list[tuple[int, ...]], axis: int
) -> np.ndarray:
    full = [np.ones(s, bool) if m is None else _broadcast(m, s) for m, s in zip(masks, shapes)]
    return cast(np.ndarray, np.concatenate(full, axis=axis).any(axis=-1))


def merge_values(
    op: str, xs: list[np.ndarray], masks: list[np.ndarray | None], dtype: str | None
) -> np.ndarray:
    if op in ("add", "subtract", "average") or all(m is None for m in masks):
        return MERGE_OPS[op](xs)
    target = MERGE_OPS[op](xs).dtype if dtype is None else np.dtype(dtype)
    full = [None if m is None else _broadcast(m, x.shape) for m, x in zip(masks, xs)]
    arrays = [x.astype(target) for x in xs]
    if op == "multiply":
        return _masked_product(arrays, full, target)
    return _masked_extreme(np.maximum if op == "maximum" else np.minimum, arrays, full)


def _masked_product(xs: list[np.ndarray], masks: list, dtype: np.dtype) -> np.ndarray:
    """Keras's ``Multiply``: masked steps of a masked input count as 1; when every input
    has a mask, steps masked in all of them are 0."""
    factors = [x if m is None else np.where(m, x, dtype.type(1)) for x, m in zip(xs, masks)]
    out = MERGE_OPS["multiply"](factors)
    if all(m is not None for m in masks):
        out = np.where(np.logical_or.reduce(masks), out, dtype.type(0))
    return out.astype(dtype)


def _masked_extreme(op: Callable, xs: list[np.ndarray], masks: list) -> np.ndarray:
    """Keras's ``Maximum``/``Minimum``, folded left: a masked step of either side takes the
    other side's value; a step masked in every input keeps the first input's value."""
    out, out_mask = xs[0], masks[0]
    for x, m in zip(xs[1:], masks[1:]):
        if m is not None:
            x = np.where(m, x, out)
        if out_mask is not None:
            out = np.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out

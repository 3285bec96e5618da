"""Mask kernels in NumPy (the rules and checks are the front ends', :mod:`maskref.api.masks`)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from maskref.api.dtypes import cast_scalar


def sequence_mask(lengths: np.ndarray, maxlen: int, padding: str) -> np.ndarray:
    steps = np.arange(maxlen, dtype=np.int64)
    lengths = lengths[..., None].astype(np.int64)
    return steps < lengths if padding == "post" else steps >= maxlen - lengths


def lengths_from_mask(mask: np.ndarray) -> np.ndarray:
    return mask.sum(axis=-1, dtype=np.int64)


def _equal(x: np.ndarray, value: object) -> np.ndarray:
    """``x == value`` per feature, as NumPy compares (a Python scalar is weakly typed), with
    NaN equal to NaN; an integer ``value`` outside ``x``'s range equals nothing."""
    try:
        same = x == value
    except OverflowError:
        return np.zeros(x.shape, dtype=bool)
    if x.dtype.kind == "f" and np.isnan(np.asarray(value, dtype=float)).any():
        same = same | (np.isnan(x) & np.isnan(np.asarray(value, dtype=float)))
    return np.broadcast_to(same, x.shape)


def mask_from_value(x: np.ndarray, mask_value: object) -> np.ndarray:
    return cast(np.ndarray, ~_equal(x, mask_value).all(axis=-1))


def mask_from_ids(ids: np.ndarray, pad_id: int) -> np.ndarray:
    return ~_equal(ids, pad_id)


def expand_mask(mask: np.ndarray, x: object, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only view of ``mask`` broadcast to ``shape`` (nothing is copied)."""
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def apply_mask(x: np.ndarray, mask: np.ndarray, fill: object) -> np.ndarray:
    keep = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return np.where(keep, x, cast(Any, cast_scalar(fill, x.dtype, "fill")))

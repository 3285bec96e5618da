"""Mask kernels in JAX (rules and checks: the front ends, :mod:`maskref.api.masks`).

Everything works under ``jax.jit`` (``maxlen`` is then a static Python int)
and ``jax.vmap``. Counts are int32 unless ``jax_enable_x64`` is on.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ._convert import canonical, cast_fill


def sequence_mask(lengths: Any, maxlen: int, padding: str) -> Any:
    """``maxlen`` must be a Python int under ``jit`` (it decides the shape)."""
    steps = jnp.arange(maxlen)
    lengths = lengths[..., None].astype(steps.dtype)
    return steps < lengths if padding == "post" else steps >= maxlen - lengths


def lengths_from_mask(mask: Any) -> Any:
    """int32 unless ``jax_enable_x64`` is on (the reference's int64 otherwise)."""
    return jnp.sum(mask, axis=-1, dtype=canonical(np.dtype(np.int64)))


def _equal(x: Any, value: object) -> Any:
    """``x == value`` as NumPy compares (NaN equal to NaN; a value outside an integer
    dtype's range equals nothing)."""
    dtype = np.dtype(x.dtype)
    if dtype.kind in "iub" and isinstance(value, (int, np.integer)) and dtype.kind != "b":
        info = np.iinfo(dtype)
        if not info.min <= int(value) <= info.max:
            return jnp.zeros(x.shape, bool)
    if isinstance(value, (bool, int, float)):
        same = x == value  # a Python scalar is weakly typed, as in NumPy
    else:
        target = jnp.promote_types(x.dtype, np.asarray(value).dtype)
        same = x.astype(target) == jnp.asarray(value, target)
    if jnp.issubdtype(x.dtype, jnp.floating) and np.isnan(np.asarray(value, float)).any():
        same = same | (jnp.isnan(x) & jnp.asarray(np.isnan(np.asarray(value, float))))
    return jnp.broadcast_to(same, x.shape)


def mask_from_value(x: Any, mask_value: object) -> Any:
    return ~jnp.all(_equal(x, mask_value), axis=-1)


def mask_from_ids(ids: Any, pad_id: int) -> Any:
    return ~_equal(ids, pad_id)


def expand_mask(mask: Any, x: object, shape: tuple[int, ...]) -> Any:
    return jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def apply_mask(x: Any, mask: Any, fill: object) -> Any:
    """``jnp.where``, never a multiplication: NaN and inf at masked steps never reach the
    result, and the gradient with respect to ``x`` is exactly 0 there."""
    keep = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    return jnp.where(keep, x, cast_fill(fill, x.dtype, "fill"))

"""Padding kernels in JAX (rules and checks: the front ends, :mod:`maskref.api.padding`).

One gather builds every padded batch: each output slot reads its source step
or takes the fill, so ``pad_flat`` works under ``jax.jit`` (``maxlen`` then a
static Python int) and gradients reach the values. Python lists and NumPy
arrays are read by :func:`maskref.api._sequences.read_sequences` (exact
integers, the lossless-cast rule) before they become JAX arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maskref.api._padding_numpy import aligned_full, pad_lists, scatter
from maskref.api._sequences import read_sequences
from maskref.api.dtypes import bfloat16, cast_array
from maskref.api.padding import check_padded_size

from ._convert import astype_once, canonical, cast_fill, check_fits, is_symbolic

#: Strings and objects are the reference's alone (read by the front end).
HOLDS_STRINGS = False


def padding_mask(kept: Any, maxlen: int, padding: str) -> Any:
    """Where the ``kept[i]`` steps of row ``i`` land: ``(B, maxlen)`` booleans."""
    steps = jnp.arange(maxlen)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (maxlen - kept)[:, None]


def _pad(values: Any, lengths: Any, maxlen: int, padding: str, truncating: str, fill: Any) -> Any:
    lengths = lengths.astype(canonical(np.dtype(np.int64)))
    starts = jnp.cumsum(lengths) - lengths
    kept = jnp.minimum(lengths, maxlen)
    t = jnp.arange(maxlen)[None, :]
    j = t if padding == "post" else t - (maxlen - kept)[:, None]
    valid = (j >= 0) & (j < kept[:, None])
    skip = (lengths - kept)[:, None] if truncating == "pre" else 0
    source = jnp.where(valid, starts[:, None] + j + skip, 0)
    if values.shape[0] == 0:
        taken = jnp.zeros(source.shape + values.shape[1:], values.dtype)
    else:
        taken = values[source]
    keep = valid.reshape(valid.shape + (1,) * (values.ndim - 1))
    return jnp.where(keep, taken, fill)


def pad_flat(
    values: Any, lengths: Any, maxlen: int | None, padding: str, truncating: str, value: object
) -> Any:
    """``maxlen`` must be a Python int under ``jit`` (it decides the shape)."""
    if maxlen is None:
        maxlen = int(np.asarray(lengths).max()) if lengths.size else 0
    return _pad(
        values, lengths, maxlen, padding, truncating, cast_fill(value, values.dtype, "value")
    )


def _numpy_dtype(name: str) -> np.dtype:
    return bfloat16() if name == "bfloat16" else np.dtype(name)


def _read(sequences: object, target: np.dtype) -> tuple[Any, Any]:
    """(values, lengths): a list of JAX arrays is concatenated in JAX (gradients flow);
    anything else is read in NumPy by the shared rule."""
    rows = list(sequences) if isinstance(sequences, (list, tuple)) else None
    if rows and all(isinstance(r, jax.Array) for r in rows):
        for i, r in enumerate(rows):
            if r.ndim == 0:
                raise TypeError(f"sequences[{i}] is a scalar, not a sequence")
            if not is_symbolic(r):  # a traced row cannot be checked: jit skips value checks
                cast_array(np.asarray(r), target, "sequences")
        values = jnp.concatenate([astype_once(r, target) for r in rows])
        return values, jnp.asarray([r.shape[0] for r in rows])
    values, lengths = read_sequences(sequences, target)
    check_fits(values, "sequences")  # integers the 32-bit default cannot hold
    return values.astype(canonical(values.dtype)), lengths


def pad_sequences(
    sequences: object, maxlen: int | None, dtype: str, padding: str, truncating: str, value: object
) -> Any:
    """The result's dtype is ``dtype`` narrowed to 32 bits unless ``jax_enable_x64`` is on
    (``int64`` gives int32; values that do not fit are a ``ValueError``)."""
    target = _numpy_dtype(dtype)
    out = canonical(target)
    if out == target or target.kind in "iub":  # Python lists: the fused NumPy reader
        cast_fill(value, out, "value")  # the fill must fit the narrowed dtype too
        fast = pad_lists(sequences, maxlen, target, padding, truncating, value, aligned_full)
        if fast is not None:
            check_fits(fast, "sequences")  # integers the 32-bit default cannot hold
            return jax.device_put(fast.astype(out, copy=False))  # adopted, not copied
    values, lengths = _read(sequences, target)
    width = (
        maxlen if maxlen is not None else (int(np.asarray(lengths).max()) if lengths.size else 0)
    )
    check_padded_size(
        lengths.shape[0], width, values.shape[1:], target.str, maxlen, "max(len(sequences))"
    )
    fill = cast_fill(value, out, "value")
    if isinstance(values, np.ndarray):  # plain data: one NumPy scatter that JAX adopts
        counts = np.asarray(lengths).astype(np.int64)
        dtype = values.dtype
        padded = scatter(values, counts, width, padding, truncating, fill, dtype, aligned_full)
        return jax.device_put(padded)  # adopted, not copied
    return _pad(values.astype(out), lengths, width, padding, truncating, fill)


def unpad_sequences(padded: Any, lengths: Any, padding: str) -> list[Any]:
    """A list of JAX arrays (lengths must be concrete: the parts' shapes depend on them)."""
    steps = padded.shape[1]
    counts = np.asarray(lengths).astype(np.int64)
    if padding == "post":
        return [padded[i, : int(n)] for i, n in enumerate(counts)]
    return [padded[i, steps - int(n) :] for i, n in enumerate(counts)]

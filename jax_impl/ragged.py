"""Ragged, packed and unpadded layouts in JAX (rules and checks: :mod:`maskref.api.ragged`).

Layouts whose sizes depend on the mask's values (``ragged_from_padded``,
``unpad``, ``pack_sequences``) need concrete masks and lengths: they run
outside ``jit`` (a traced mask is a ``TypeError`` from JAX). The others
(``reverse_sequences``, ``positions_from_mask``, ``first_valid``/``last_valid``,
``repad`` with static sizes) trace. Indices and lengths are int32 unless
``jax_enable_x64`` is on.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

import jax_impl as _public
from maskref.api.ragged import PackedSequences

from ._convert import canonical, cast_fill
from .padding import padding_mask


def _index() -> np.dtype:
    """Indices and lengths: int64 with ``jax_enable_x64``, else int32 (read at each call)."""
    return canonical(np.dtype(np.int64))


def _splits(counts: Any) -> Any:
    return jnp.concatenate([jnp.zeros(1, _index()), jnp.cumsum(counts, dtype=_index())])


def row_splits_from_lengths(lengths: Any) -> Any:
    return _splits(lengths)


def lengths_from_row_splits(row_splits: Any) -> Any:
    return jnp.diff(row_splits)


def ragged_from_padded(x: Any, mask: Any) -> tuple[Any, Any]:
    keep = np.asarray(mask)
    return x[keep], _splits(jnp.sum(mask, axis=1))


def padded_from_ragged(values, row_splits, lengths, maxlen, padding, truncating, value):
    x = _public.pad_flat(values, lengths, maxlen, padding, truncating, value)
    width = x.shape[1]
    return x, padding_mask(jnp.minimum(lengths, width), width, padding)


def pack_sequences(x: Any, lengths: Any, enforce_sorted: bool) -> PackedSequences:
    counts = np.asarray(lengths).astype(np.int64)
    order = np.arange(counts.size) if enforce_sorted else np.argsort(-counts, kind="stable")
    sorted_lengths = counts[order]
    steps = int(sorted_lengths[0]) if counts.size else 0
    valid = np.arange(steps)[:, None] < sorted_lengths[None, :]  # (T', B) time-major
    data = jnp.swapaxes(x[jnp.asarray(order), :steps], 0, 1)[valid]
    return PackedSequences(
        data,
        jnp.asarray(valid.sum(axis=1), _index()),
        jnp.asarray(order, _index()),
        jnp.asarray(np.argsort(order), _index()),
    )


def is_inverse_permutation(inverse: Any, order: Any) -> Any:
    return jnp.array_equal(inverse[order], jnp.arange(order.shape[0]))


def unpack_sequences(data, batch_sizes, order, inverse, width, padding_value):
    rows = order.shape[0]
    sorted_lengths = jnp.sum(batch_sizes[None, :] > jnp.arange(rows)[:, None], axis=1)
    valid = np.asarray(jnp.arange(width)[:, None] < sorted_lengths[None, :])
    fill = cast_fill(padding_value, data.dtype, "padding_value")
    out = jnp.full((width, rows) + data.shape[1:], fill, data.dtype).at[valid].set(data)
    return jnp.swapaxes(out, 0, 1)[inverse], sorted_lengths[inverse].astype(_index())


def unpad(x: Any, mask: Any) -> tuple[Any, Any, Any, int]:
    keep = np.asarray(mask)
    counts = keep.sum(axis=1)
    indices = np.flatnonzero(keep)
    values = x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])[jnp.asarray(indices)]
    cu = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return values, jnp.asarray(indices, _index()), jnp.asarray(cu), int(counts.max(initial=0))


def are_distinct(indices: Any, size: int) -> bool:
    return bool(np.unique(np.asarray(indices)).size == indices.shape[0])


def repad(values: Any, indices: Any, batch: int, seqlen: int) -> Any:
    out = jnp.zeros((batch * seqlen,) + values.shape[1:], values.dtype).at[indices].set(values)
    return out.reshape((batch, seqlen) + values.shape[1:])


def reverse_sequences(x: Any, lengths: Any, axis: int, padding: str) -> Any:
    steps = x.shape[axis]
    t = jnp.arange(steps)[None, :]
    n = lengths[:, None].astype(_index())
    if padding == "post":
        source = jnp.where(t < n, n - 1 - t, t)
    else:
        start = steps - n
        source = jnp.where(t >= start, start + steps - 1 - t, t)
    shape = [1] * x.ndim
    shape[0], shape[axis] = x.shape[0], steps
    return jnp.take_along_axis(x, source.reshape(shape), axis=axis)


def positions_from_mask(mask: Any, start: int, fill: int) -> Any:
    positions = jnp.cumsum(mask, axis=-1, dtype=_index()) - 1 + start
    return jnp.where(mask, positions, fill).astype(_index())


def _edge_valid(x: Any, mask: Any, empty: object, last: bool) -> Any:
    fill = cast_fill(empty, x.dtype, "empty")
    steps = x.shape[1]
    if steps == 0:
        return jnp.full((x.shape[0],) + x.shape[2:], fill, x.dtype)
    has = jnp.any(mask, axis=1)
    index = steps - 1 - jnp.argmax(mask[:, ::-1], axis=1) if last else jnp.argmax(mask, axis=1)
    picked = jnp.take_along_axis(x, index.reshape((-1, 1) + (1,) * (x.ndim - 2)), axis=1)[:, 0]
    return jnp.where(has.reshape((-1,) + (1,) * (x.ndim - 2)), picked, fill).astype(x.dtype)


def last_valid(x: Any, mask: Any, empty: object) -> Any:
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: Any, mask: Any, empty: object) -> Any:
    return _edge_valid(x, mask, empty, last=False)

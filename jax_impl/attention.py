"""Attention kernels in JAX (rules and checks: :mod:`maskref.api.attention`).

Keys that no query of the slice sees and query rows that see no key are zeroed
with ``jnp.where`` before any arithmetic, and the softmax is the masked one of
:mod:`jax_impl.reductions`: NaN and inf where nothing looks never reach the
output, and gradients are finite and exactly 0 there (under ``jit``, ``vmap``
and ``grad``). Sizes are static in JAX, so everything here traces.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maskref.api.attention import band_rule

from ._convert import canonical
from .reductions import masked_softmax


def causal_mask(query_len: int, key_len: int, align: str, window: int | None, device: Any) -> Any:
    return jnp.asarray(band_rule(query_len, key_len, True, align, window), bool)


def _same_segment(q: Any, k: Any) -> Any:
    return (q[:, :, None] == k[:, None, :]) & (q[:, :, None] != 0)


def attention_mask(
    query_mask: Any,
    key_mask: Any,
    query_segment_ids: Any,
    key_segment_ids: Any,
    causal: bool,
    align: str,
    window: int | None,
    sizes: tuple[int, int, int],
    device: Any,
) -> Any:
    batch, lq, lk = sizes
    keep = jnp.broadcast_to(jnp.asarray(band_rule(lq, lk, causal, align, window)), (batch, lq, lk))
    if query_mask is not None:
        keep = keep & query_mask[:, :, None]
    if key_mask is not None:
        keep = keep & key_mask[:, None, :]
    if query_segment_ids is not None:
        keep = keep & _same_segment(query_segment_ids, key_segment_ids)
    return keep


def segment_mask(query_segment_ids: Any, key_segment_ids: Any) -> Any:
    return _same_segment(query_segment_ids, key_segment_ids)


def document_ends(lengths: Any, seqlen: int) -> Any:
    """Running totals of each row's lengths, each capped at ``seqlen + 1``."""
    return jnp.cumsum(jnp.minimum(lengths, seqlen + 1), axis=1)


def segment_ids_from_lengths(ends: Any, seqlen: int) -> Any:
    """Segment ids are int32 unless ``jax_enable_x64`` is on."""
    batch, docs = ends.shape
    totals = ends[:, -1] if docs else jnp.zeros(batch, ends.dtype)
    t = jnp.arange(seqlen)
    # A step's id is 1 + the number of documents of its row that ended at or before it.
    ids = 1 + jnp.sum(ends[:, :-1, None] <= t[None, None, :], axis=1) if docs else t * 0 + 1
    ids = jnp.broadcast_to(ids, (batch, seqlen)).astype(canonical(np.dtype(np.int64)))
    return jnp.where(t[None, :] < totals[:, None], ids, 0)


def _weights(q: Any, k: Any, mask: Any, causal: bool, scale: float, align: str, window: Any):
    lq, lk = q.shape[-2], k.shape[-2]
    full = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2])) + (lq, lk)
    m = jnp.ones((1,) * len(full), bool) if mask is None else mask
    if causal or window is not None:
        m = m & jnp.asarray(band_rule(lq, lk, causal, align, window))
    m = jnp.broadcast_to(m, full)
    work = jnp.float32 if q.dtype.itemsize < 4 else q.dtype  # float16, bfloat16
    seen = jnp.any(m, axis=-2)[..., None]
    has_key = jnp.any(m, axis=-1)[..., None]
    k = jnp.where(seen, k, 0).astype(work)
    q = jnp.where(has_key, q, 0).astype(work)
    scores = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) * jnp.asarray(scale, work)
    weights = masked_softmax(scores, m, -1, "zeros")
    return m, seen, has_key, work, weights


def attention_weights(q, k, mask, causal, scale, empty, align, window) -> Any:
    m, _, has_key, _, weights = _weights(q, k, mask, causal, scale, align, window)
    lk = m.shape[-1]
    fill = {"zeros": 0.0, "nan": jnp.nan, "mean": 1.0 / lk if lk else 0.0}[empty]
    return jnp.where(has_key, weights, fill).astype(q.dtype)


def scaled_dot_product_attention(q, k, v, mask, causal, scale, empty, align, window) -> Any:
    """Hidden (query, key) pairs are excluded explicitly where a visible value is not
    finite (``0 * inf`` would be NaN), so only the rows that may see it are affected."""
    m, seen, has_key, work, weights = _weights(q, k, mask, causal, scale, align, window)
    vv = jnp.where(seen, v, 0).astype(work)

    def explicit() -> Any:  # hidden pairs left out: 0 * inf would be NaN
        terms = jnp.where(m[..., None], weights[..., None] * vv[..., None, :, :], 0)
        return terms.sum(axis=-2)

    # One branch runs (lax.cond): the matmul on finite values, the explicit sum otherwise.
    out = jax.lax.cond(jnp.all(jnp.isfinite(vv)), lambda: jnp.matmul(weights, vv), explicit)
    if empty == "mean":
        lk = v.shape[-2]
        fill = v.astype(work).sum(axis=-2, keepdims=True) / lk if lk else 0.0
    else:
        fill = 0.0 if empty == "zeros" else jnp.nan
    return jnp.where(has_key, out, fill).astype(v.dtype)

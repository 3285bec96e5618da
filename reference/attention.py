"""Attention kernels in NumPy (the rules and checks are the front ends',
:mod:`maskref.api.attention`)."""

from __future__ import annotations

from typing import cast

import numpy as np

import reference as _public
from maskref.api.attention import band_rule


def causal_mask(
    query_len: int, key_len: int, align: str, window: int | None, device: None
) -> np.ndarray:
    return np.asarray(band_rule(query_len, key_len, True, align, window), dtype=bool)


def _same_segment(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``(B, Lq, Lk)``: equal ids, and the query's id is not 0 (padding)."""
    return (q[:, :, None] == k[:, None, :]) & (q[:, :, None] != 0)


def attention_mask(
    query_mask: np.ndarray | None,
    key_mask: np.ndarray | None,
    query_segment_ids: np.ndarray | None,
    key_segment_ids: np.ndarray | None,
    causal: bool,
    align: str,
    window: int | None,
    sizes: tuple[int, int, int],
    device: None,
) -> np.ndarray:
    batch, lq, lk = sizes
    keep = np.broadcast_to(band_rule(lq, lk, causal, align, window), (batch, lq, lk))
    if query_mask is not None:
        keep = keep & query_mask[:, :, None]
    if key_mask is not None:
        keep = keep & key_mask[:, None, :]
    if query_segment_ids is not None:
        keep = keep & _same_segment(query_segment_ids, cast(np.ndarray, key_segment_ids))
    return np.array(keep, dtype=bool)


def segment_mask(query_segment_ids: np.ndarray, key_segment_ids: np.ndarray) -> np.ndarray:
    return _same_segment(query_segment_ids, key_segment_ids)


def document_ends(lengths: np.ndarray, seqlen: int) -> np.ndarray:
    """Running totals of each row's int64 lengths, each length capped at ``seqlen + 1`` (the
    front end checks that no total exceeds ``seqlen``)."""
    return np.cumsum(np.minimum(lengths, seqlen + 1), axis=1, dtype=np.int64)


def segment_ids_from_lengths(ends: np.ndarray, seqlen: int) -> np.ndarray:
    batch, docs = ends.shape
    totals = ends[:, -1] if docs else np.zeros(batch, np.int64)
    # A 1 where each document after the first starts; ids are the running count.
    starts = np.zeros((batch, seqlen + 1), np.int64)
    rows = np.repeat(np.arange(batch), max(docs - 1, 0))
    np.add.at(starts, (rows, ends[:, :-1].ravel()), 1)
    ids = np.cumsum(starts[:, :seqlen], axis=1) + 1
    return np.where(np.arange(seqlen)[None, :] < totals[:, None], ids, 0)


def _weights(q, k, mask, causal, scale, align, window):
    """The full mask, the keys some query of the slice sees (``(..., S, 1)``), the rows with a
    visible key (``(..., L, 1)``), the working dtype and the weights (0 where hidden and in
    empty rows)."""
    lq, lk = q.shape[-2], k.shape[-2]
    full = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (lq, lk)
    m = np.ones((1,) * len(full), bool) if mask is None else mask
    if causal or window is not None:
        m = m & band_rule(lq, lk, causal, align, window)
    m = np.broadcast_to(m, full)
    work = np.dtype(np.float32 if q.dtype.itemsize < 4 else q.dtype)  # float16, bfloat16
    seen = m.any(axis=-2)[..., None]
    has_key = m.any(axis=-1)[..., None]
    k = np.where(seen, k, 0).astype(work)
    q = np.where(has_key, q, 0).astype(work)
    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * work.type(scale)
    weights = _public.masked_softmax(scores, m, axis=-1, empty="zeros")
    return m, seen, has_key, work, weights


def attention_weights(q, k, mask, causal, scale, empty, align, window) -> np.ndarray:
    """float16 (and ``ml_dtypes.bfloat16``) is computed in float32 and rounded once."""
    m, _, has_key, _, weights = _weights(q, k, mask, causal, scale, align, window)
    lk = m.shape[-1]
    fill = {"zeros": 0.0, "nan": np.nan, "mean": 1.0 / lk if lk else 0.0}[empty]
    return np.where(has_key, weights, fill).astype(q.dtype)


def scaled_dot_product_attention(q, k, v, mask, causal, scale, empty, align, window) -> np.ndarray:
    """Written out: the ``(..., L, S)`` weights, then a matmul; with non-finite values the
    hidden pairs are left out explicitly (``0 * inf`` would be NaN)."""
    m, seen, has_key, work, weights = _weights(q, k, mask, causal, scale, align, window)
    vv = np.where(seen, v, 0).astype(work)
    if np.isfinite(vv).all():
        out = np.matmul(weights, vv)  # hidden pairs have weight 0 and finite values
    else:  # exclude hidden pairs explicitly: 0 * inf would be NaN
        with np.errstate(invalid="ignore", over="ignore"):
            terms = np.where(m[..., None], weights[..., None] * vv[..., None, :, :], 0)
            out = terms.sum(axis=-2)
    if empty == "mean":
        lk = v.shape[-2]
        with np.errstate(invalid="ignore", over="ignore"):
            fill = v.astype(work).sum(axis=-2, keepdims=True) / lk if lk else 0.0
    else:
        fill = 0.0 if empty == "zeros" else np.nan
    return np.where(has_key, out, fill).astype(v.dtype)

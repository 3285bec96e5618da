"""Attention masks and a reference attention with an explicit rule for fully masked rows.

Every mask here is boolean with ``True`` = the query may attend to the key
(maskref's convention; :func:`reference.convert_mask` speaks the others).
Attention layout is PyTorch's: ``query (..., L, E)``, ``key (..., S, E)``,
``value (..., S, Ev)``, result ``(..., L, Ev)``.

Rules shared by the functions below:

* **Causal alignment.** ``align="top_left"`` (PyTorch's ``is_causal``, Keras's
  ``use_causal_mask``): query ``i`` sees keys ``0..i``. ``"bottom_right"``
  (decoding with a KV cache, ``causal_lower_right``): query ``i`` sees keys
  ``0..i + (S - L)``. The two agree when ``L == S``.
* **Sliding window.** ``window=w`` keeps keys within ``w - 1`` positions of the
  (aligned) query: with ``causal`` the last ``w`` keys up to the query
  itself, without it a symmetric band (Keras's ``sliding_window``).
* **Empty rows.** A query row with no visible key returns ``empty``:
  ``"zeros"`` (PyTorch's fused attention, Keras's scores path), ``"nan"``
  (a plain softmax over ``-inf``) or ``"mean"`` (the average of all values,
  masked ones included: what a uniform softmax gives, Keras's fused path).
* **Masked keys.** A hidden (query, key) pair never influences its row. A key
  that no query of its slice can see (padding) is replaced by zeros before any
  arithmetic, so NaN or inf stored there changes nothing, gradients included
  (except through ``empty="mean"``, which by definition averages every value).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from maskref.api.checks import (
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_maxlen,
    check_rank,
    check_scalar,
    negative_lengths_error,
)

from .reductions import masked_softmax

__all__ = [
    "attention_mask",
    "attention_weights",
    "causal_mask",
    "scaled_dot_product_attention",
    "segment_ids_from_lengths",
    "segment_mask",
]

ALIGNS = ("top_left", "bottom_right")
ATTENTION_EMPTY = ("zeros", "nan", "mean")


def check_window(window: object) -> int | None:
    """``None`` or a positive int (``TypeError`` for other types, ``ValueError`` below 1)."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise TypeError(f"window must be None or a positive int, got {window!r}")
    if window < 1:
        raise ValueError(f"window must be a positive int (keys per query), got {window}")
    return int(window)


def check_device(device: object) -> None:
    """The reference computes on the CPU: ``device`` must be None or ``"cpu"``."""
    if device not in (None, "cpu"):
        raise ValueError(f"device={device!r}: the reference runs on 'cpu' only")


def band_rule(query_len: int, key_len: int, causal: bool, align: str, window: int | None, xp=np):
    """The boolean ``(L, S)`` pattern of causality and sliding window (all True if neither).

    ``xp`` is an array namespace with ``arange`` (NumPy here; the backends pass
    their own), so the rule is written once.
    """
    offset = key_len - query_len if align == "bottom_right" else 0
    i = xp.arange(query_len)[:, None] + offset
    j = xp.arange(key_len)[None, :]
    keep = (j <= i) if causal else (j >= 0) & (i >= offset)  # else: all True, (L, S)
    if window is not None:
        keep = keep & (i - j < window)
        if not causal:
            keep = keep & (j - i < window)
    return keep


def causal_mask(
    query_len: int,
    key_len: int | None = None,
    *,
    align: str = "top_left",
    window: int | None = None,
    device: object = None,
) -> np.ndarray:
    """Boolean ``(query_len, key_len)``: ``True`` where query ``i`` may attend to key ``j``.

    Rule: ``j <= i`` (``align="top_left"``) or ``j <= i + key_len - query_len``
    (``"bottom_right"``); with ``window=w`` also ``j > i' - w`` (the aligned
    query ``i'`` sees its last ``w`` keys). ``key_len`` defaults to
    ``query_len``. A bottom-right mask with ``query_len > key_len`` has rows
    with no visible key.

    >>> causal_mask(2, 4).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0]])
    >>> causal_mask(2, 4, align="bottom_right").astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    if query_len is None:
        raise TypeError("query_len must be a non-negative int, got None")
    lq = check_maxlen(query_len, "query_len")
    lk = lq if key_len is None else check_maxlen(key_len, "key_len")
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    check_device(device)
    return np.asarray(band_rule(lq, lk, True, align, window), dtype=bool)


def _as_rows(mask: object, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    check_mask_dtype(str(arr.dtype), name)
    check_rank(arr.shape, 2, name)
    return arr


def _segment_pair(segment_ids: object) -> tuple[object, object]:
    if isinstance(segment_ids, tuple):
        if len(segment_ids) != 2:
            raise ValueError(
                "segment_ids must be one (B, L) array or a pair (query_segment_ids, "
                f"key_segment_ids), got a tuple of {len(segment_ids)}"
            )
        return segment_ids
    return segment_ids, segment_ids


def attention_sizes(
    parts: dict[str, tuple[int, ...] | None], query_len: object, key_len: object
) -> tuple[int, int, int]:
    """``(B, Lq, Lk)`` from the shapes of the parts given, checked for agreement.

    ``parts`` maps ``query_mask``, ``key_mask``, ``query_segment_ids`` and
    ``key_segment_ids`` to their ``(B, L)`` shapes (None when not given). B is 1
    when no part has a batch; Lk defaults to Lq (self-attention).
    """
    lq_given = check_maxlen(query_len, "query_len")
    lk_given = check_maxlen(key_len, "key_len")
    sizes: dict[str, list[tuple[str, int]]] = {"batch": [], "query": [], "key": []}
    if lq_given is not None:
        sizes["query"].append(("query_len", lq_given))
    if lk_given is not None:
        sizes["key"].append(("key_len", lk_given))
    for name, shape in parts.items():
        if shape is None:
            continue
        sizes["batch"].append((f"{name}.shape[0]", shape[0]))
        sizes["query" if name.startswith("query") else "key"].append((f"{name}.shape[1]", shape[1]))
    found = []
    for axis, seen in sizes.items():
        values = {v for _, v in seen if v is not None}
        if len(values) > 1:
            listed = ", ".join(f"{n}={v}" for n, v in seen)
            raise ValueError(f"attention_mask: the {axis} sizes disagree: {listed}")
        found.append(values.pop() if values else None)
    batch, lq, lk = found
    if lq is None:
        raise ValueError(
            "attention_mask needs the query length: pass query_mask, segment_ids or query_len"
        )
    return (1 if batch is None else batch), lq, (lq if lk is None else lk)


def attention_mask(
    query_mask: object = None,
    key_mask: object = None,
    *,
    causal: bool = False,
    align: str = "top_left",
    window: int | None = None,
    segment_ids: object = None,
    query_len: int | None = None,
    key_len: int | None = None,
    device: object = None,
) -> np.ndarray:
    """The combined boolean ``(B, Lq, Lk)`` attention mask (Keras's ``MultiHeadAttention`` rule).

    Rule: the AND of every part given: ``query_mask[:, :, None]`` (a masked
    query gets an all-False row, which attention then fills by its ``empty``
    rule), ``key_mask[:, None, :]``, the causal / sliding-window pattern of
    :func:`causal_mask` (``window`` without ``causal``: a symmetric band), and
    :func:`segment_mask` of ``segment_ids`` (one ``(B, L)`` array for
    self-attention or a pair ``(query_ids, key_ids)``). Sizes come from the
    parts, or ``query_len``/``key_len``; ``Lk`` defaults to ``Lq`` and ``B``
    to 1 when no part has a batch axis. Disagreeing sizes are a ``ValueError``.

    >>> attention_mask([[True, True, False]], causal=True).astype(int)
    array([[[1, 0, 0],
            [1, 1, 0],
            [0, 0, 0]]])
    """
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    check_device(device)
    qm = _as_rows(query_mask, "query_mask")
    km = _as_rows(key_mask, "key_mask")
    seg = None
    if segment_ids is not None:
        q_ids, k_ids = _segment_pair(segment_ids)
        seg = segment_mask(q_ids, k_ids)
        q_shape, k_shape = np.shape(q_ids), np.shape(k_ids)
    parts = {
        "query_mask": None if qm is None else qm.shape,
        "key_mask": None if km is None else km.shape,
        "query_segment_ids": None if seg is None else q_shape,
        "key_segment_ids": None if seg is None else k_shape,
    }
    batch, lq, lk = attention_sizes(parts, query_len, key_len)
    keep = np.broadcast_to(band_rule(lq, lk, causal, align, window), (batch, lq, lk))
    if qm is not None:
        keep = keep & qm[:, :, None]
    if km is not None:
        keep = keep & km[:, None, :]
    if seg is not None:
        keep = keep & seg
    return np.array(keep, dtype=bool)


def _segment_ids(ids: object, name: str) -> np.ndarray:
    arr = np.asarray(ids)
    check_integer_dtype(arr.dtype.name, name)
    check_rank(arr.shape, 2, name)
    return arr


def segment_mask(query_segment_ids: object, key_segment_ids: object = None) -> np.ndarray:
    """Boolean ``(B, Lq, Lk)`` for packed documents: attend only within one's own segment.

    Rule: ``q_ids[:, :, None] == k_ids[:, None, :]`` and ``q_ids != 0``: each
    token carries the id of the document it belongs to, ``0`` marks padding
    (which attends to nothing and is attended by nothing). ``key_segment_ids``
    defaults to the query's (self-attention). Ids must be integers (any
    nonzero value is a document label), shaped ``(B, L)``.

    >>> segment_mask([[1, 1, 2, 0]]).astype(int)
    array([[[1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 0]]])
    """
    q = _segment_ids(query_segment_ids, "query_segment_ids")
    k = q if key_segment_ids is None else _segment_ids(key_segment_ids, "key_segment_ids")
    if q.shape[0] != k.shape[0]:
        raise ValueError(
            f"query_segment_ids shape {q.shape} and key_segment_ids shape {k.shape} "
            f"must have the same batch size"
        )
    return (q[:, :, None] == k[:, None, :]) & (q[:, :, None] != 0)


def check_segment_total(totals_ok: bool, seqlen: int) -> None:
    if not totals_ok:
        raise ValueError(f"lengths_per_row: a row's documents add up to more than seqlen={seqlen}")


def segment_ids_from_lengths(lengths_per_row: object, seqlen: int) -> np.ndarray:
    """int64 ``(B, seqlen)`` segment ids of rows that pack documents of the given lengths.

    Rule: ``lengths_per_row[b]`` lists the lengths of the documents packed
    into row ``b``, in order; document ``k`` (0-based) gets id ``k + 1`` and
    the steps after the last document are padding, id 0. A document of length
    0 takes no step (its id does not appear). ``lengths_per_row`` is ``(B, K)``
    (pad short rows with 0) or, here, a ragged list of lists. Lengths must be
    integers >= 0 adding up to at most ``seqlen`` per row (``ValueError``).

    >>> segment_ids_from_lengths([[2, 1], [3, 0]], 4)
    array([[1, 1, 2, 0],
           [1, 1, 1, 0]])
    """
    seqlen = check_maxlen(seqlen, "seqlen")
    lengths = _document_lengths(lengths_per_row)
    if (lengths < 0).any():
        raise negative_lengths_error("lengths_per_row")
    ends = np.cumsum(lengths, axis=1, dtype=np.int64)
    totals = ends[:, -1] if lengths.shape[1] else np.zeros(len(lengths), np.int64)
    check_segment_total(bool((totals <= seqlen).all()), seqlen)
    # A 1 where each document after the first starts; ids are the running count.
    starts = np.zeros((len(lengths), seqlen + 1), np.int64)
    rows = np.repeat(np.arange(len(lengths)), max(lengths.shape[1] - 1, 0))
    np.add.at(starts, (rows, ends[:, :-1].ravel()), 1)
    ids = np.cumsum(starts[:, :seqlen], axis=1) + 1
    return np.where(np.arange(seqlen)[None, :] < totals[:, None], ids, 0)


def _document_lengths(lengths_per_row: object) -> np.ndarray:
    """``(B, K)`` int64 lengths; ragged lists are padded with zeros."""
    if isinstance(lengths_per_row, (list, tuple)) and any(
        isinstance(r, (list, tuple, np.ndarray)) for r in lengths_per_row
    ):
        rows = [np.asarray(r) for r in lengths_per_row]
        for r in rows:
            if r.ndim != 1:
                raise ValueError("lengths_per_row must be (B, K) or a list of 1-D lists")
            if r.size:
                check_integer_dtype(r.dtype.name, "lengths_per_row")
        width = max((r.size for r in rows), default=0)
        out = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):  # ragged input: one short copy per row
            out[i, : r.size] = r
        return out
    arr = np.asarray(lengths_per_row)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    check_integer_dtype(arr.dtype.name, "lengths_per_row")
    check_rank(arr.shape, 2, "lengths_per_row")
    return arr.astype(np.int64)


# -- attention ---------------------------------------------------------------------------


def aligned_mask_shape(mask_shape: tuple[int, ...], full: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``mask`` takes against the scores' shape ``full = (..., L, S)``.

    Accepted: ``(L, S)`` (broadcast over every batch axis), ``(B, L, S)`` (its
    first axis is the first batch axis; broadcast over the heads) and a mask
    of the scores' rank. Each size must be 1 or the scores'. Anything else is
    a ``ValueError`` naming both shapes.
    """
    mask_shape, n = tuple(mask_shape), len(full)
    if len(mask_shape) == 2:
        shape = (1,) * (n - 2) + mask_shape
    elif len(mask_shape) == 3 and n >= 3:
        shape = mask_shape[:1] + (1,) * (n - 3) + mask_shape[1:]
    elif len(mask_shape) == n:
        shape = mask_shape
    else:
        shape = None
    if shape is None or any(m not in (1, f) for m, f in zip(shape, full) if m is not None):
        raise ValueError(
            f"mask shape {mask_shape} does not fit attention scores of shape {full}: "
            f"expected (L, S), (B, L, S) or a mask of rank {n}, each size 1 or equal"
        )
    return shape


def check_attention_dtypes(names: tuple[str, ...], dtypes: tuple[str, ...]) -> None:
    """``TypeError`` unless the tensors share one floating dtype."""
    for name, dtype in zip(names, dtypes):
        if not dtype.rsplit(".", 1)[-1].startswith(("float", "bfloat", "half", "double")):
            raise TypeError(f"{name} must be floating point, got dtype {dtype}")
    if len(set(dtypes)) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in zip(names, dtypes))
        raise TypeError(f"query, key and value must share one dtype, got {listed}")


def attention_shapes(q: tuple, k: tuple, v: tuple | None) -> tuple[tuple[int, ...], int, int]:
    """``(batch, L, S)`` for query/key(/value) shapes, or a ``ValueError`` naming them."""
    for name, shape in (("query", q), ("key", k), ("value", v)):
        if shape is not None and len(shape) < 2:
            raise ValueError(f"{name} must have at least 2 axes (..., L, E), got shape {shape}")
    if q[-1] != k[-1]:
        raise ValueError(f"query shape {q} and key shape {k} must end in the same size E")
    if v is not None and v[-2] != k[-2]:
        raise ValueError(f"key shape {k} and value shape {v} must have the same length S")
    leading = [q[:-2], k[:-2]] + ([] if v is None else [v[:-2]])
    try:
        batch = np.broadcast_shapes(*leading)
    except ValueError:
        raise ValueError(
            f"the batch axes of query {q}, key {k}"
            + ("" if v is None else f" and value {v}")
            + " do not broadcast"
        ) from None
    return tuple(batch), q[-2], k[-2]


def check_scale(scale: object, embed: int) -> float:
    """``1 / sqrt(E)`` when ``scale`` is None (1 when ``E`` is 0); else a real number."""
    if scale is None:
        return 1.0 / math.sqrt(embed) if embed else 1.0
    check_scalar(scale, "scale")
    return float(scale)


def _attention_parts(query, key, value, mask, causal, scale, empty, align, window):
    check_choice("empty", empty, ATTENTION_EMPTY)
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    q, k = np.asarray(query), np.asarray(key)
    v = None if value is None else np.asarray(value)
    arrays = (q, k) if v is None else (q, k, v)
    check_attention_dtypes(
        ("query", "key", "value")[: len(arrays)], tuple(a.dtype.name for a in arrays)
    )
    batch, lq, lk = attention_shapes(q.shape, k.shape, None if v is None else v.shape)
    full = batch + (lq, lk)
    if mask is None:
        m = np.ones((1,) * len(full), bool)
    else:
        m = np.asarray(mask)
        check_mask_dtype(str(m.dtype), "mask")
        m = m.reshape(aligned_mask_shape(m.shape, full))
    if causal or window is not None:
        m = m & band_rule(lq, lk, causal, align, window)
    m = np.broadcast_to(m, full)
    work = np.dtype(np.float32 if q.dtype == np.float16 else q.dtype)
    seen = m.any(axis=-2)[..., None]  # keys some query of the slice may see
    has_key = m.any(axis=-1)[..., None]  # queries that see some key
    k = np.where(seen, k, 0).astype(work)
    q = np.where(has_key, q, 0).astype(work)
    scale = work.type(check_scale(scale, q.shape[-1]))
    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    weights = masked_softmax(scores, m, axis=-1, empty="zeros")
    return m, seen, work, weights, has_key


def attention_weights(
    query: object,
    key: object,
    mask: object = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> np.ndarray:
    """The attention weights ``(..., L, S)``: a masked softmax of ``query . key * scale``.

    Rule: scores ``q . k * scale`` (``scale`` defaults to ``1 / sqrt(E)``),
    softmax over the keys the row may see (``mask`` AND the causal / window
    pattern); hidden keys get weight 0. A row with no visible key is, by
    ``empty``: ``"zeros"``, ``"nan"`` or ``"mean"`` (uniform ``1 / S``). The
    mask is ``(L, S)``, ``(B, L, S)`` or of the scores' rank (see
    :func:`aligned_mask_shape`). The dtype is the query's (float16 computed in
    float32).

    >>> attention_weights(np.zeros((2, 1)), np.zeros((3, 1)), [[True, True, False]] * 2)
    array([[0.5, 0.5, 0. ],
           [0.5, 0.5, 0. ]])
    """
    q = np.asarray(query)
    m, _, _, weights, has_key = _attention_parts(
        query, key, None, mask, causal, scale, empty, align, window
    )
    fill = {"zeros": 0.0, "nan": np.nan, "mean": 1.0 / m.shape[-1] if m.shape[-1] else 0.0}
    return np.where(has_key, weights, fill[empty]).astype(q.dtype)


def scaled_dot_product_attention(
    query: object,
    key: object,
    value: object,
    mask: object = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> np.ndarray:
    """Masked attention ``softmax(q . k * scale) . v`` with a stated rule for empty rows.

    Rule: the weights of :func:`attention_weights`, then ``sum`` over the
    visible keys of ``weight * value``; a hidden (query, key) pair contributes
    nothing even when its value is NaN or inf, and keys that no query of the
    slice can see are zeroed before any arithmetic. A query row with no
    visible key returns, by ``empty``: ``"zeros"`` (default), ``"nan"``, or
    ``"mean"``, the average of the ``S`` values (masked ones included, as a
    uniform softmax gives; zeros when ``S == 0``). Layout ``(..., L, E)`` as
    PyTorch's; ``mask`` of shape ``(L, S)``, ``(B, L, S)`` (broadcast over the
    heads) or ``(B, H, L, S)``; ``causal`` ANDs :func:`causal_mask` (``align``,
    ``window``). Query, key and value share one float dtype, which the result
    keeps.

    >>> q = np.zeros((2, 1)); k = np.zeros((3, 1)); v = np.array([[1.0], [3.0], [np.nan]])
    >>> scaled_dot_product_attention(q, k, v, [[True, True, False], [False] * 3])
    array([[2.],
           [0.]])
    """
    m, seen, work, weights, has_key = _attention_parts(
        query, key, value, mask, causal, scale, empty, align, window
    )
    v = np.asarray(value)
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

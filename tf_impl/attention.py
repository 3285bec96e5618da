"""Attention masks and masked attention in TensorFlow, with an explicit rule for empty rows.

Mirrors :mod:`reference.attention` (the shared rules, causal alignment, sliding
windows, empty rows and masked keys, are stated there): the same functions,
signatures, defaults and errors, on ``tf.Tensor`` data. Masks are ``tf.bool``
with ``True`` = the query may attend to the key; the layout is PyTorch's,
``query (..., L, E)``, ``key (..., S, E)``, ``value (..., S, Ev)``.

TensorFlow notes shared by the functions below:

* Arguments are validated by the reference's own helpers, so bad input gives
  the reference's errors; data-dependent checks (negative lengths, documents
  longer than ``seqlen``, sizes unknown at trace time) raise ``ValueError``
  eagerly and are assertions inside ``tf.function`` (which XLA, under
  ``jit_compile=True``, does not run).
* Everything runs in ``tf.function`` (ranks must be static, sizes may be
  unknown) and under ``jit_compile=True``.
* Attention keeps the mask at its broadcastable shape (a ``(B, 1, 1, S)``
  key padding mask is never expanded to ``(B, H, L, S)``), sanitises with
  ``tf.where`` before every matmul (query rows that see no key; keys and
  values that no query of the slice can see), and computes float16 and
  bfloat16 in float32. The gradients are finite and exactly 0 for those
  rows, keys and values, NaN or inf stored there included.
"""

from __future__ import annotations

import contextlib
import types
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from maskref.api.checks import (
    check_choice,
    check_integer_dtype,
    check_maxlen,
    check_rank,
    negative_lengths_error,
)
from maskref.api.masks import as_mask as _as_mask
from reference.attention import (
    ALIGNS,
    ATTENTION_EMPTY,
    _document_lengths,
    _segment_pair,
    aligned_mask_shape,
    attention_shapes,
    attention_sizes,
    band_rule,
    check_attention_dtypes,
    check_scale,
    check_segment_total,
    check_window,
)

from ._backend import BACKEND
from ._convert import as_tensor, eager, python_errors, require, static_shape, with_checks

__all__ = [
    "attention_mask",
    "attention_weights",
    "causal_mask",
    "scaled_dot_product_attention",
    "segment_ids_from_lengths",
    "segment_mask",
]

Size = int | tf.Tensor  # a static size, or an int32 scalar tensor when unknown at trace time
Shape = tuple[int | None, ...]

#: The array namespace ``reference.attention.band_rule`` writes the band with.
_XP = types.SimpleNamespace(arange=tf.range)


# --- arguments -----------------------------------------------------------------------


def _length(value: object, name: str) -> tuple[Size | None, list]:
    """``check_maxlen``, plus integer scalar tensors (int32; symbolic inside ``tf.function``)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        if value.shape.rank != 0 or not value.dtype.is_integer:
            raise TypeError(
                f"{name} must be None or a non-negative int, got {value!r} "
                f"of type {type(value).__name__}"
            )
        if eager():
            return check_maxlen(int(value), name), []
        size = tf.cast(value, tf.int32)
        message = f"{name} must be non-negative"
        return size, require(size >= 0, lambda: ValueError(message), message)
    return check_maxlen(value, name), []


def _device(device: object) -> contextlib.AbstractContextManager:
    """``tf.device(device)``, or no placement for None; a bad device is a ``ValueError``."""
    if device is None:
        return contextlib.nullcontext()
    if isinstance(device, tf.DeviceSpec):
        device = device.to_string()
    if isinstance(device, str):
        try:
            tf.DeviceSpec.from_string(device)
            return tf.device(device)
        except ValueError:
            pass
    raise ValueError(
        f"device={device!r} is not a TensorFlow device; pass None or a device string "
        f"such as 'cpu', '/CPU:0' or 'GPU:0'"
    )


def _size(t: tf.Tensor, axis: int) -> Size:
    """One size of ``t``: an int when known at trace time, else an int32 scalar tensor."""
    size = t.shape[axis]
    return size if size is not None else tf.shape(t)[axis]


def _known(size: object) -> bool:
    return isinstance(size, int)


# --- masks ---------------------------------------------------------------------------


@python_errors
def causal_mask(
    query_len: int,
    key_len: int | None = None,
    *,
    align: str = "top_left",
    window: int | None = None,
    device: object = None,
) -> tf.Tensor:
    """Mirrors ``reference.causal_mask`` (rule stated there): ``(query_len, key_len)`` tf.bool.

    ``query_len``/``key_len``: ints, or integer scalar tensors (symbolic ones
    inside ``tf.function``, e.g. ``tf.shape(x)[1]``). ``device``: None or a
    TensorFlow device string (``"cpu"``, ``"/GPU:0"``) the mask is made on.

    >>> causal_mask(2, 4, align="bottom_right").numpy().astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    lq, checks = _length(query_len, "query_len")
    lk, more = (lq, []) if key_len is None else _length(key_len, "key_len")
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    with _device(device):
        return with_checks(band_rule(lq, lk, True, align, window, xp=_XP), checks + more)


def _rows(mask: object, name: str) -> tf.Tensor | None:
    """Mirrors ``reference.attention._as_rows``: a ``(B, L)`` boolean mask, or None."""
    if mask is None:
        return None
    t = _as_mask(BACKEND, mask, name)
    check_rank(static_shape(t, name), 2, name)
    return t


def _segment_ids(ids: object, name: str) -> tf.Tensor:
    t = as_tensor(ids, name)
    check_integer_dtype(t.dtype.name, name)
    check_rank(static_shape(t, name), 2, name)
    return t


def _segment_keep(q: tf.Tensor, k: tf.Tensor) -> tuple[tf.Tensor, list]:
    """``segment_mask`` of validated ids, and the batch check when a batch size is unknown."""
    qb, kb = q.shape[0], k.shape[0]
    message = (
        f"query_segment_ids shape {static_shape(q, 'q')} and key_segment_ids shape "
        f"{static_shape(k, 'k')} must have the same batch size"
    )
    if qb is not None and kb is not None and qb != kb:
        raise ValueError(message)
    checks = []
    if qb is None or kb is None:
        checks = require(
            tf.equal(tf.shape(q)[0], tf.shape(k)[0]), lambda: ValueError(message), message
        )
    if q.dtype != k.dtype:
        q, k = tf.cast(q, tf.int64), tf.cast(k, tf.int64)
    qi, ki = q[:, :, None], k[:, None, :]
    keep = tf.logical_and(tf.equal(qi, ki), tf.not_equal(qi, tf.zeros([], q.dtype)))
    return keep, checks


@python_errors
def segment_mask(query_segment_ids: object, key_segment_ids: object = None) -> tf.Tensor:
    """Mirrors ``reference.segment_mask`` (rule stated there): attend within one's own document.

    Ids: integer ``(B, L)`` tensors, arrays or lists (0 = padding); the result
    is ``tf.bool`` ``(B, Lq, Lk)``.

    >>> segment_mask(tf.constant([[1, 1, 2, 0]])).numpy().astype(int)
    array([[[1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 0]]])
    """
    q = _segment_ids(query_segment_ids, "query_segment_ids")
    k = q if key_segment_ids is None else _segment_ids(key_segment_ids, "key_segment_ids")
    keep, checks = _segment_keep(q, k)
    return with_checks(keep, checks)


def _pick(sources: list[Size | None], axis: str) -> tuple[Size | None, list]:
    """The size of one axis from its sources (a static one first), asserting they agree."""
    given = [s for s in sources if s is not None]
    if not given:
        return None, []
    size = next((s for s in given if _known(s)), given[0])
    message = f"attention_mask: the {axis} sizes disagree"
    checks = []
    for s in given:
        if not _known(s):
            checks += require(tf.equal(s, size), lambda: ValueError(message), message)
    return size, checks


def _sizes(
    parts: dict[str, tf.Tensor | None], query_len: object, key_len: object
) -> tuple[tuple[Size, Size, Size], list]:
    """``reference.attention.attention_sizes`` for tensors whose sizes may be unknown."""
    lq, checks = _length(query_len, "query_len")
    lk, more = _length(key_len, "key_len")
    checks += more
    shapes = {n: None if t is None else static_shape(t, n) for n, t in parts.items()}
    static = all(s is None or None not in s for s in shapes.values())
    if static and not any(isinstance(size, tf.Tensor) for size in (lq, lk)):
        return attention_sizes(shapes, lq, lk), checks
    # Sizes unknown at trace time: the reference checks the known ones (a query length
    # that only exists at run time stands in as 0, which no known size can contradict)...
    query_parts = ("query_mask", "query_segment_ids")
    has_query = lq is not None or any(parts[n] is not None for n in query_parts)
    known_query = _known(lq) or any(shapes[n] and shapes[n][1] is not None for n in query_parts)
    stand_in = 0 if has_query and not known_query else None
    attention_sizes(shapes, lq if _known(lq) else stand_in, lk if _known(lk) else None)
    # ...and the unknown ones are asserted to agree at run time.
    given = [(n, t) for n, t in parts.items() if t is not None]
    batch, c1 = _pick([_size(t, 0) for _, t in given], "batch")
    lq, c2 = _pick([lq] + [_size(t, 1) for n, t in given if n in query_parts], "query")
    lk, c3 = _pick([lk] + [_size(t, 1) for n, t in given if n not in query_parts], "key")
    return (1 if batch is None else batch, lq, lq if lk is None else lk), checks + c1 + c2 + c3


@python_errors
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
) -> tf.Tensor:
    """Mirrors ``reference.attention_mask`` (rule stated there): the combined ``(B, Lq, Lk)`` mask.

    Parts: ``tf.bool`` ``(B, L)`` masks and integer ``(B, L)`` segment ids (or
    a pair); ``query_len``/``key_len`` may be integer scalar tensors.
    ``device``: None or a TensorFlow device string. Inside ``tf.function``
    sizes unknown at trace time are asserted to agree.

    >>> attention_mask(tf.constant([[True, True, False]]), causal=True).numpy().astype(int)
    array([[[1, 0, 0],
            [1, 1, 0],
            [0, 0, 0]]])
    """
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    with _device(device):
        qm = _rows(query_mask, "query_mask")
        km = _rows(key_mask, "key_mask")
        seg, q_ids, k_ids, checks = None, None, None, []
        if segment_ids is not None:
            q_ids, k_ids = _segment_pair(segment_ids)
            q_ids = _segment_ids(q_ids, "query_segment_ids")
            k_ids = _segment_ids(k_ids, "key_segment_ids")
            seg, checks = _segment_keep(q_ids, k_ids)
        parts = {
            "query_mask": qm,
            "key_mask": km,
            "query_segment_ids": q_ids,
            "key_segment_ids": k_ids,
        }
        (batch, lq, lk), more = _sizes(parts, query_len, key_len)
        keep = band_rule(lq, lk, causal, align, window, xp=_XP)
        if qm is not None:
            keep = tf.logical_and(keep, qm[:, :, None])
        if km is not None:
            keep = tf.logical_and(keep, km[:, None, :])
        if seg is not None:
            keep = tf.logical_and(keep, seg)
        return with_checks(tf.broadcast_to(keep, [batch, lq, lk]), checks + more)


@python_errors
def segment_ids_from_lengths(lengths_per_row: object, seqlen: int) -> tf.Tensor:
    """Mirrors ``reference.segment_ids_from_lengths`` (rule stated there): packed-row segment ids.

    ``lengths_per_row``: an integer ``(B, K)`` tensor or array (short rows
    padded with 0), a ``tf.RaggedTensor`` (padded with 0 here) or a ragged
    list of lists; ``seqlen`` an int or an integer scalar tensor. Computed
    without a loop: a scatter-add marks where each document starts and a
    cumulative sum numbers them. int64 ``(B, seqlen)``.

    >>> segment_ids_from_lengths(tf.ragged.constant([[2, 1], [3]]), 4).numpy()
    array([[1, 1, 2, 0],
           [1, 1, 1, 0]])
    """
    seqlen, checks = _length(seqlen, "seqlen")
    lengths = _document_lengths_tensor(lengths_per_row)
    checks += require(
        tf.reduce_all(lengths >= 0),
        lambda: negative_lengths_error("lengths_per_row"),
        "lengths_per_row must be non-negative",
    )
    lengths = with_checks(lengths, checks)
    n = tf.cast(seqlen, tf.int64)
    ends = tf.cumsum(lengths, axis=1)
    totals = tf.reduce_sum(lengths, axis=1)  # ends[:, -1], and 0 for rows of no document
    ends = with_checks(
        ends,
        require(
            tf.reduce_all(totals <= n),
            lambda: check_segment_total(False, seqlen),  # raises the reference's error itself
            "lengths_per_row: a row's documents add up to more than seqlen",
        ),
    )
    starts = ends[:, :-1]  # where documents 2, 3, ... begin (an empty one adds to the next)
    rows = tf.broadcast_to(
        tf.range(tf.shape(starts, out_type=tf.int64)[0])[:, None],
        tf.shape(starts, out_type=tf.int64),
    )
    marks = tf.tensor_scatter_nd_add(
        tf.zeros(tf.stack([tf.shape(lengths, out_type=tf.int64)[0], n + 1]), tf.int64),
        tf.stack([rows, starts], axis=-1),
        tf.ones_like(starts),
    )
    ids = tf.cumsum(marks[:, :-1], axis=1) + 1
    steps = tf.range(n, dtype=tf.int64)
    return tf.where(steps[None, :] < totals[:, None], ids, tf.zeros([], tf.int64))


def _document_lengths_tensor(lengths_per_row: object) -> tf.Tensor:
    """``(B, K)`` int64 lengths, as ``reference.attention._document_lengths``."""
    name = "lengths_per_row"
    if isinstance(lengths_per_row, tf.RaggedTensor):
        check_integer_dtype(lengths_per_row.dtype.name, name)
        check_rank(tuple(lengths_per_row.shape), 2, name)
        return tf.cast(lengths_per_row.to_tensor(default_value=0), tf.int64)
    if not isinstance(lengths_per_row, (tf.Tensor, tf.Variable)):
        # Python lists (ragged or not) and arrays: the reference's own conversion
        return tf.constant(_document_lengths(lengths_per_row))
    t = tf.convert_to_tensor(lengths_per_row)
    shape = static_shape(t, name)
    if t.dtype.is_floating and t.shape.num_elements() == 0:
        t = tf.cast(t, tf.int64)
    check_integer_dtype(t.dtype.name, name)
    check_rank(shape, 2, name)
    return tf.cast(t, tf.int64)


# --- attention -----------------------------------------------------------------------


def _scores_shape(q: Shape, k: Shape, v: Shape | None) -> Shape:
    """``attention_shapes``'s ``batch + (L, S)``; sizes unknown at trace time stay None.

    The reference checks the shapes with each unknown size replaced by one that
    cannot fail (its partner's size, or 1 for a batch axis); the true sizes
    then meet in the matmuls.
    """
    shapes = [s for s in (q, k, v) if s is not None]
    if all(None not in s for s in shapes):
        batch, lq, lk = attention_shapes(q, k, v)
        return (*batch, lq, lk)

    def stand_in(shape: Shape | None, partners: dict[int, int | None]) -> Shape | None:
        if shape is None:
            return None
        out = [1 if s is None else s for s in shape]
        for axis, other in partners.items():
            if len(shape) >= 2 and shape[axis] is None and other is not None:
                out[axis] = other
        return tuple(out)

    def at(shape: Shape | None, axis: int) -> int | None:
        return shape[axis] if shape is not None and len(shape) >= 2 else None

    attention_shapes(
        stand_in(q, {-1: at(k, -1)}),
        stand_in(k, {-1: at(q, -1), -2: at(v, -2)}),
        stand_in(v, {-2: at(k, -2)}),
    )
    leading = [s[:-2] for s in shapes]
    width = max(len(s) for s in leading)
    batch = []
    for i in range(width):
        sizes = [s[len(s) - width + i] for s in leading if len(s) - width + i >= 0]
        big = [n for n in sizes if n is not None and n != 1]
        batch.append(big[0] if big else (None if None in sizes else 1))
    lk = k[-2] if k[-2] is not None else at(v, -2)
    return (*batch, q[-2], lk)


def _mask_shape(mask_shape: Shape, full: Shape) -> Shape:
    """``aligned_mask_shape``, where a scores size unknown at trace time takes the mask's."""
    k, n = len(mask_shape), len(full)
    axes = tuple(range(n)) if k == n else ()
    if k == 2:
        axes = (n - 2, n - 1)
    elif k == 3 and n >= 3:
        axes = (0, n - 2, n - 1)
    known = list(full)
    for axis, size in zip(axes, mask_shape):
        if known[axis] is None:
            known[axis] = size
    return aligned_mask_shape(mask_shape, tuple(known))


def _any_along(m: tf.Tensor, axis: int, size: Size) -> tf.Tensor:
    """``any`` over ``axis`` of the broadcast mask: a size-1 axis of ``m`` stands for ``size``."""
    found = tf.reduce_any(m, axis=axis, keepdims=True)
    if _known(size):
        return found if size > 0 else tf.zeros_like(found)
    return tf.logical_and(found, size > 0)


def _scale(scale: object, embed: Size, work: tf.DType) -> tf.Tensor:
    """``check_scale`` in the working dtype (symbolic scales and sizes inside ``tf.function``)."""
    if isinstance(scale, (tf.Tensor, tf.Variable)) and not eager():
        s = tf.convert_to_tensor(scale)
        if s.shape.rank != 0 or not (s.dtype.is_floating or s.dtype.is_integer or s.dtype.is_bool):
            raise TypeError(f"scale must be a scalar number, got {scale!r}")
        return tf.cast(s, work)
    if scale is None and not _known(embed):
        e = tf.cast(embed, tf.float64)
        return tf.cast(tf.where(e > 0, 1.0 / tf.sqrt(tf.maximum(e, 1.0)), 1.0), work)
    return tf.constant(check_scale(scale, embed), work)


class _Parts(NamedTuple):
    m: tf.Tensor  # the mask (and band), broadcastable to the scores (..., L, S)
    seen: tf.Tensor  # (..., S, 1): keys that some query of the slice may see
    has_key: tf.Tensor  # (..., L, 1): queries that see some key
    dtype: tf.DType  # of query, key (and value): the result's
    work: tf.DType
    weights: tf.Tensor  # (..., L, S) in ``work``: 0 at hidden pairs and in empty rows
    key_len: Size


def _attention_parts(
    query: object,
    key: object,
    value: object,
    mask: object,
    causal: bool,
    scale: object,
    empty: str,
    align: str,
    window: object,
) -> tuple[_Parts, tf.Tensor | None]:
    """Mirrors ``reference.attention._attention_parts``; also returns the value tensor."""
    check_choice("empty", empty, ATTENTION_EMPTY)
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    q, k = as_tensor(query, "query"), as_tensor(key, "key")
    v = None if value is None else as_tensor(value, "value")
    tensors = (q, k) if v is None else (q, k, v)
    check_attention_dtypes(
        ("query", "key", "value")[: len(tensors)], tuple(t.dtype.name for t in tensors)
    )
    shapes = [static_shape(t, n) for t, n in zip(tensors, ("query", "key", "value"))]
    full = _scores_shape(shapes[0], shapes[1], shapes[2] if v is not None else None)
    n = len(full)
    if mask is None:
        m = tf.ones([1] * n, tf.bool)
    else:
        m = _as_mask(BACKEND, mask, "mask")
        _mask_shape(static_shape(m, "mask"), full)  # the reference's shape check
        if m.shape.rank == 2:  # (L, S): broadcast over every batch axis
            m = m[(tf.newaxis,) * (n - 2)]
        elif m.shape.rank == 3 and n > 3:  # (B, L, S): broadcast over the heads
            m = m[(slice(None),) + (tf.newaxis,) * (n - 3)]
    lq, lk = _size(q, -2), _size(k, -2)
    if causal or window is not None:
        m = tf.logical_and(m, band_rule(lq, lk, causal, align, window, xp=_XP))
    work = tf.float32 if q.dtype in (tf.float16, tf.bfloat16) else q.dtype
    seen = tf.linalg.matrix_transpose(_any_along(m, -2, lq))
    has_key = _any_along(m, -1, lk)
    # Sanitise before the matmul: rows that see no key, keys that no query sees.
    qs = tf.cast(tf.where(has_key, q, tf.zeros([], q.dtype)), work)
    ks = tf.cast(tf.where(seen, k, tf.zeros([], k.dtype)), work)
    scores = tf.linalg.matmul(qs, ks, transpose_b=True) * _scale(scale, _size(q, -1), work)
    # Softmax over the visible keys; the shift (the row's max) is held constant.
    minus_inf = tf.constant(-np.inf, work)
    top = tf.reduce_max(tf.where(m, scores, minus_inf), axis=-1, keepdims=True)
    shift = tf.stop_gradient(tf.where(has_key, top, tf.zeros_like(top)))
    e = tf.exp(tf.where(m, scores - shift, minus_inf))
    total = tf.reduce_sum(e, axis=-1, keepdims=True)
    weights = tf.where(m, e / tf.where(has_key, total, tf.ones_like(total)), tf.zeros([], work))
    return _Parts(m, seen, has_key, q.dtype, work, weights, lk), v


def _empty_fill(empty: str, key_len: Size, work: tf.DType) -> tf.Tensor:
    """The weight of an empty row: 0, NaN or ``1 / S`` (0 when ``S == 0``)."""
    if empty == "zeros":
        return tf.zeros([], work)
    if empty == "nan":
        return tf.constant(np.nan, work)
    if _known(key_len):
        return tf.constant(1.0 / key_len if key_len else 0.0, work)
    size = tf.cast(key_len, tf.float64)
    return tf.cast(tf.math.divide_no_nan(tf.constant(1.0, tf.float64), size), work)


@python_errors
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
) -> tf.Tensor:
    """Mirrors ``reference.attention_weights`` (rule stated there): masked softmax of ``q . k * scale``.

    ``query``/``key``: float tensors, arrays or lists sharing one dtype (the
    result's; float16 and bfloat16 computed in float32); ``mask``: ``tf.bool``
    ``(L, S)``, ``(B, L, S)`` or of the scores' rank, each size 1 or equal.
    ``scale`` may be a scalar tensor. Gradients as
    :func:`scaled_dot_product_attention`.

    >>> attention_weights(tf.zeros((2, 1)), tf.zeros((3, 1)), [[True, True, False]] * 2).numpy()
    array([[0.5, 0.5, 0. ],
           [0.5, 0.5, 0. ]], dtype=float32)
    """  # noqa: E501
    p, _ = _attention_parts(query, key, None, mask, causal, scale, empty, align, window)
    out = tf.where(p.has_key, p.weights, _empty_fill(empty, p.key_len, p.work))
    return tf.cast(out, p.dtype)


def _weighted_values(weights: tf.Tensor, values: tf.Tensor, m: tf.Tensor) -> tf.Tensor:
    """``weights @ values``, where a hidden (query, key) pair adds nothing even if inf/NaN.

    With finite values a hidden pair's weight 0 does that; otherwise ``0 * inf``
    would be NaN, so the non-finite values are left out of the matmul and their
    visible contributions (``+inf``, ``-inf`` or NaN, as NumPy's sum gives them)
    counted with 0/1 matmuls instead of an ``(..., L, S, Ev)`` product.
    """
    finite = tf.math.is_finite(values)

    def plain() -> tf.Tensor:
        return tf.linalg.matmul(weights, values)

    def guarded() -> tf.Tensor:
        work = weights.dtype
        base = tf.linalg.matmul(weights, tf.where(finite, values, tf.zeros([], work)))
        visible = tf.broadcast_to(m, tf.shape(weights))

        def hits(pairs: tf.Tensor, special: tf.Tensor) -> tf.Tensor:
            return tf.linalg.matmul(tf.cast(pairs, work), tf.cast(special, work)) > 0

        inf = tf.constant(np.inf, work)
        counted = tf.logical_and(visible, weights > 0)
        nan = tf.logical_or(
            hits(visible, tf.math.is_nan(values)),
            hits(tf.logical_and(visible, tf.equal(weights, 0)), tf.math.is_inf(values)),
        )
        plus = hits(counted, tf.equal(values, inf))
        minus = hits(counted, tf.equal(values, -inf))
        nan = tf.logical_or(nan, tf.logical_and(plus, minus))
        zero = tf.zeros([], work)
        extra = tf.where(
            nan, tf.constant(np.nan, work), tf.where(plus, inf, tf.where(minus, -inf, zero))
        )
        return base + extra

    everywhere = tf.reduce_all(finite)
    if eager():
        return plain() if bool(everywhere) else guarded()
    return tf.cond(everywhere, plain, guarded)


@python_errors
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
) -> tf.Tensor:
    """Mirrors ``reference.scaled_dot_product_attention`` (rule stated there): masked attention.

    ``softmax(q . k * scale) . v`` over the visible keys; empty rows by
    ``empty`` (``"mean"``: the mean of all ``S`` values as given). Written
    with TF ops: query rows that see no key and keys/values that no query of
    the slice sees are zeroed with ``tf.where`` before the matmuls, so the
    gradients with respect to ``query``, ``key`` and ``value`` are finite and
    exactly 0 there, NaN/inf stored there included (with ``empty="mean"`` an
    empty row's output is the mean of every value, so they all get its
    gradient). The mask stays at its broadcastable shape. Valid non-finite
    values at a hidden pair are left out without a ``(..., L, S, Ev)``
    product. ``jit_compile=True`` works.

    >>> q = tf.zeros((2, 1)); k = tf.zeros((3, 1)); v = tf.constant([[1.0], [3.0], [np.nan]])
    >>> scaled_dot_product_attention(q, k, v, [[True, True, False], [False] * 3]).numpy()
    array([[2.],
           [0.]], dtype=float32)
    """
    p, v = _attention_parts(query, key, value, mask, causal, scale, empty, align, window)
    vs = tf.cast(tf.where(p.seen, v, tf.zeros([], v.dtype)), p.work)
    out = _weighted_values(p.weights, vs, p.m)
    if empty == "mean":  # every value as given, masked ones included
        total = tf.reduce_sum(tf.cast(v, p.work), axis=-2, keepdims=True)
        fill = total / tf.cast(tf.maximum(p.key_len, 1), p.work)
    else:
        fill = _empty_fill(empty, p.key_len, p.work)
    return tf.cast(tf.where(p.has_key, out, fill), v.dtype)

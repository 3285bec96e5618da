"""Attention masks and masked attention with an explicit rule for fully masked rows.

Every mask here is boolean with ``True`` = the query may attend to the key
(maskref's convention; :func:`convert_mask` speaks the others). Attention
layout is PyTorch's: ``query (..., L, E)``, ``key (..., S, E)``,
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

Arguments: ``causal`` is a bool (``1`` or ``"yes"`` is a ``TypeError``);
lengths (``query_len``, ``key_len``, ``seqlen``) are non-negative ints
(NumPy integers too; bools, floats and strings are a ``TypeError``); a mask
that would not fit in memory is refused before anything is allocated
(``ValueError`` naming the argument and the bytes).
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import numpy as np

from .checks import (
    INT64_MAX,
    check_choice,
    check_data,
    check_flag,
    check_int,
    check_integer_dtype,
    check_lengths_dtype,
    check_nbytes,
    check_rank,
    check_scalar,
)
from .core import Backend, frontend
from .masks import as_mask
from .types import Array, ArrayLike
from .values import check_lengths

#: The causal alignments: PyTorch's ``is_causal`` / Keras's ``use_causal_mask``, and the
#: KV-cache one (``causal_lower_right``).
ALIGNS = ("top_left", "bottom_right")
#: What a query row with no visible key returns.
ATTENTION_EMPTY = ("zeros", "nan", "mean")

Size: TypeAlias = Any  # a static size (int), or a backend scalar while tracing (tf.function)


# --- arguments -------------------------------------------------------------------------------


def check_window(window: object) -> int | None:
    """``None`` or a positive int (``TypeError`` for other types, ``ValueError`` below 1);
    NumPy and unsigned integers too, a window beyond ``2**63 - 1`` read as that."""
    if window is None:
        return None
    try:
        size = check_int(window, "window")
    except TypeError:
        raise TypeError(f"window must be None or a positive int, got {window!r}") from None
    if size < 1:
        raise ValueError(f"window must be a positive int (keys per query), got {size}")
    return min(size, INT64_MAX)  # no distance reaches it: the same band, and int64 holds it


def _length(B: Backend, value: object, name: str) -> Size:
    """A required length: a non-negative int (``None`` is a ``TypeError``); in ``tf_impl``
    also an integer scalar tensor (symbolic inside ``tf.function``)."""
    if value is None:
        raise TypeError(f"{name} must be a non-negative int, got None")
    return B.a.check_maxlen(value, name)


def _known(*sizes: object) -> bool:
    return all(isinstance(s, int) for s in sizes)


def band_rule(query_len: Size, key_len: Size, causal: bool, align: str, window: int | None, xp=np):
    """The boolean ``(L, S)`` pattern of causality and sliding window (all True if neither).

    ``xp`` is an array namespace with ``arange`` (NumPy by default; the backends
    pass their own), so the rule is written once.
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


# --- masks -----------------------------------------------------------------------------------


@frontend
def causal_mask(
    B: Backend,
    query_len: int,
    key_len: int | None = None,
    *,
    align: str = "top_left",
    window: int | None = None,
    device: object = None,
) -> Array:
    """Boolean ``(query_len, key_len)``: ``True`` where query ``i`` may attend to key ``j``.

    Rule: ``j <= i`` (``align="top_left"``) or ``j <= i + key_len - query_len``
    (``"bottom_right"``); with ``window=w`` also ``j > i' - w`` (the aligned
    query ``i'`` sees its last ``w`` keys). ``key_len`` defaults to
    ``query_len``. A bottom-right mask with ``query_len > key_len`` has rows
    with no visible key. ``device``: where the mask is made (None: the
    default; the reference runs on ``"cpu"`` only). A mask that would not fit
    in memory is a ``ValueError`` naming the length that asks for it.

    >>> causal_mask(2, 4).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0]])
    >>> causal_mask(2, 4, align="bottom_right").astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    lq = _length(B, query_len, "query_len")
    lk = lq if key_len is None else B.a.check_maxlen(key_len, "key_len")
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    place = B.a.device(device)
    if _known(lq, lk):
        by_key = key_len is not None and lk > lq
        check_nbytes((lq, lk), 1, "key_len" if by_key else "query_len", lk if by_key else lq)
    return B.k.causal_mask(lq, lk, align, window, place)


def segment_pair(segment_ids: object) -> tuple[object, object]:
    """``(query_ids, key_ids)`` from ``attention_mask``'s ``segment_ids``: one ``(B, L)``
    array (self-attention: both are it) or a pair; a tuple of another length is a
    ``ValueError``."""
    if isinstance(segment_ids, tuple):
        if len(segment_ids) != 2:
            raise ValueError(
                "segment_ids must be one (B, L) array or a pair (query_segment_ids, "
                f"key_segment_ids), got a tuple of {len(segment_ids)}"
            )
        return segment_ids
    return segment_ids, segment_ids


def _rows(B: Backend, mask: object, name: str, like: object) -> Array:
    """A ``(B, L)`` boolean mask (``TypeError`` for another dtype, ``ValueError`` for another
    rank)."""
    arr = as_mask(B, mask, name, like=like)
    check_rank(B.a.shape_of(arr), 2, name)
    return arr


def _segment_ids(B: Backend, ids: object, name: str, like: object = None) -> Array:
    """``(B, L)`` integer segment ids (an empty list reads as integers)."""
    arr = B.a.asarray(ids, name, like)
    shape = B.a.shape_of(arr)
    if 0 in shape and B.a.dtype_name(arr) == "float64":  # `[[]]` reads as float64
        arr = B.a.asarray(np.zeros(shape, np.int64), name, like)
    check_integer_dtype(B.a.dtype_name(arr), name)
    check_rank(shape, 2, name)
    return arr


def _same_batch(B: Backend, q: Array, k: Array) -> None:
    """The query and key segment ids have one batch size (``ValueError``; asserted at run time
    when a size is only known then)."""
    q_shape, k_shape = B.a.shape_of(q), B.a.shape_of(k)
    message = (
        f"query_segment_ids shape {tuple(q_shape)} and key_segment_ids shape "
        f"{tuple(k_shape)} must have the same batch size"
    )
    if q_shape[0] is None or k_shape[0] is None:
        ok = B.a.all(B.a.dim(q, 0) == B.a.dim(k, 0))
        B.require(ok, lambda: ValueError(message), message)
    elif q_shape[0] != k_shape[0]:
        raise ValueError(message)


def attention_sizes(
    B: Backend, parts: dict[str, Array | None], query_len: Size | None, key_len: Size | None
) -> tuple[tuple[Size, Size, Size], dict[str, str]]:
    """``(B, Lq, Lk)`` from the parts given (``(B, L)`` masks or segment ids, None when not
    given) and ``query_len``/``key_len`` (ints, None, or symbolic sizes), checked for
    agreement; and the argument that sets each known size (for messages).

    B is 1 when no part has a batch; Lk defaults to Lq (self-attention). Known
    sizes that disagree are a ``ValueError`` naming them all. A size known only
    at run time (inside ``tf.function``) is read from its part and asserted
    to agree with the others through the value-check hook.
    """
    sources: dict[str, list[tuple[str, object, Array | None]]] = {
        "batch": [],
        "query": [],
        "key": [],
    }
    if query_len is not None:
        sources["query"].append(("query_len", query_len, None))
    if key_len is not None:
        sources["key"].append(("key_len", key_len, None))
    for name, part in parts.items():
        if part is None:
            continue
        shape = B.a.shape_of(part)
        sources["batch"].append((f"{name}.shape[0]", shape[0], part))
        axis = "query" if name.startswith("query") else "key"
        sources[axis].append((f"{name}.shape[1]", shape[1], part))
    found: list[object] = []
    names: dict[str, str] = {}
    for axis, seen in sources.items():
        known = {v for _, v, _ in seen if isinstance(v, int)}
        if len(known) > 1:
            listed = ", ".join(f"{n}={v}" for n, v, _ in seen)
            raise ValueError(f"attention_mask: the {axis} sizes disagree: {listed}")
        if not seen:
            found.append(None)
            continue
        dynamic = [v if p is None else B.a.dim(p, 0 if axis == "batch" else 1) for _, v, p in seen]
        dynamic = [v for v in dynamic if not isinstance(v, int)]
        size: Size
        if known:
            size = known.pop()
            names[axis] = next(n for n, v, _ in seen if v == size)
        else:
            size = dynamic[0]
        message = f"attention_mask: the {axis} sizes disagree"
        for other in dynamic:
            if other is not size:
                B.require(B.a.all(other == size), lambda m=message: ValueError(m), message)
        found.append(size)
    batch, lq, lk = found
    if lq is None:
        raise ValueError(
            "attention_mask needs the query length: pass query_mask, segment_ids or query_len"
        )
    if lk is None:
        lk, names["key"] = lq, names.get("query", "query_len")
    return ((1 if batch is None else batch), lq, lk), names


@frontend
def attention_mask(
    B: Backend,
    query_mask: ArrayLike = None,
    key_mask: ArrayLike = None,
    *,
    causal: bool = False,
    align: str = "top_left",
    window: int | None = None,
    segment_ids: ArrayLike | tuple[ArrayLike, ArrayLike] = None,
    query_len: int | None = None,
    key_len: int | None = None,
    device: object = None,
) -> Array:
    """The combined boolean ``(B, Lq, Lk)`` attention mask (Keras's ``MultiHeadAttention`` rule).

    Rule: the AND of every part given: ``query_mask[:, :, None]`` (a masked
    query gets an all-False row, which attention then fills by its ``empty``
    rule), ``key_mask[:, None, :]``, the causal / sliding-window pattern of
    :func:`causal_mask` (``window`` without ``causal``: a symmetric band), and
    :func:`segment_mask` of ``segment_ids`` (one ``(B, L)`` array for
    self-attention or a pair ``(query_ids, key_ids)``). Sizes come from the
    parts, or ``query_len``/``key_len``; ``Lk`` defaults to ``Lq`` and ``B``
    to 1 when no part has a batch axis. Disagreeing sizes are a ``ValueError``,
    and so is a mask that would not fit in memory. The result is made on
    ``device`` when given, else where the first tensor part lives.

    >>> attention_mask([[True, True, False]], causal=True).astype(int)
    array([[[1, 0, 0],
            [1, 1, 0],
            [0, 0, 0]]])
    """
    causal = check_flag(causal, "causal")
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    place = B.a.device(device)
    ids = segment_ids if isinstance(segment_ids, tuple) else (segment_ids,)
    like = next((p for p in (query_mask, key_mask, *ids) if B.a.is_tensor(p)), None)
    qm = None if query_mask is None else _rows(B, query_mask, "query_mask", like)
    km = None if key_mask is None else _rows(B, key_mask, "key_mask", like)
    q_ids = k_ids = None
    if segment_ids is not None:
        q_raw, k_raw = segment_pair(segment_ids)
        q_ids = _segment_ids(B, q_raw, "query_segment_ids", like)
        k_ids = q_ids if k_raw is q_raw else _segment_ids(B, k_raw, "key_segment_ids", like)
        _same_batch(B, q_ids, k_ids)
    lq_given = None if query_len is None else B.a.check_maxlen(query_len, "query_len")
    lk_given = None if key_len is None else B.a.check_maxlen(key_len, "key_len")
    parts = {
        "query_mask": qm,
        "key_mask": km,
        "query_segment_ids": q_ids,
        "key_segment_ids": k_ids,
    }
    (batch, lq, lk), names = attention_sizes(B, parts, lq_given, lk_given)
    if _known(batch, lq, lk):
        axis = "key" if lk > lq else "query"
        shape = (batch, lq, lk) if batch else (lq, lk)  # the (L, S) band is made even for B = 0
        check_nbytes(shape, 1, names[axis], lk if axis == "key" else lq)
    sizes = (batch, lq, lk)
    wait = B.after_checks  # the size assertions report, not the AND of the parts
    qm, km, q_ids, k_ids = (None if p is None else wait(p) for p in (qm, km, q_ids, k_ids))
    return B.k.attention_mask(qm, km, q_ids, k_ids, causal, align, window, sizes, place)


@frontend
def segment_mask(
    B: Backend, query_segment_ids: ArrayLike, key_segment_ids: ArrayLike | None = None
) -> Array:
    """Boolean ``(B, Lq, Lk)`` for packed documents: attend only within one's own segment.

    Rule: ``q_ids[:, :, None] == k_ids[:, None, :]`` and ``q_ids != 0``: each
    token carries the id of the document it belongs to, ``0`` marks padding
    (which attends to nothing and is attended by nothing). ``key_segment_ids``
    defaults to the query's (self-attention). Ids must be integers (any
    nonzero value is a document label), shaped ``(B, L)``, with the same
    ``B``; a mask that would not fit in memory is a ``ValueError``.

    >>> segment_mask([[1, 1, 2, 0]]).astype(int)
    array([[[1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 0]]])
    """
    q = _segment_ids(B, query_segment_ids, "query_segment_ids")
    k = q
    if key_segment_ids is not None:
        k = _segment_ids(B, key_segment_ids, "key_segment_ids", like=q)
    _same_batch(B, q, k)
    q_shape, k_shape = B.a.shape_of(q), B.a.shape_of(k)
    shape = (q_shape[0], q_shape[1], k_shape[1])
    if _known(*shape):
        by_key = key_segment_ids is not None and k_shape[1] > q_shape[1]
        name = "key_segment_ids" if by_key else "query_segment_ids"
        check_nbytes(shape, 1, f"{name}.shape", k_shape if by_key else q_shape)
    return B.k.segment_mask(q, k)


def _rows_of(B: Backend, rows: list | tuple, name: str) -> Array:
    """A Python list of 1-D rows (lists, arrays or tensors) as one ``(B, K)`` int64 array of
    the backend, short rows padded with 0 (on the first tensor row's device)."""
    values = []
    for row in rows:
        arr = B.a.asarray(row, name)
        shape = B.a.shape_of(arr)
        if len(shape) != 1:
            raise ValueError(f"{name} must be (B, K) or a list of 1-D lists")
        if shape[0]:
            check_integer_dtype(B.a.dtype_name(arr), name)
            check_lengths(B, arr, name)
            values.append(np.asarray(B.a.numpy(arr)))
        else:
            values.append(np.zeros(0, np.int64))
    out = np.zeros((len(values), max((v.size for v in values), default=0)), np.int64)
    for i, v in enumerate(values):  # ragged input: one short copy per row
        out[i, : v.size] = v
    like = next((r for r in rows if B.a.is_tensor(r)), None)
    return B.a.asarray(out, name, like)


def document_lengths(B: Backend, lengths_per_row: object, name: str = "lengths_per_row") -> Array:
    """``lengths_per_row`` as the backend's ``(B, K)`` integer array.

    Accepted: a ``(B, K)`` array, tensor or nested list; a list of 1-D rows of
    unequal lengths (lists, arrays or tensors; an empty list is an empty
    batch); the backend's own ragged type (a ``tf.RaggedTensor``, a jagged
    ``torch.nested`` tensor). Short rows are padded with 0. Integer dtypes
    only (``TypeError``), two axes (``ValueError``), values from 0 to
    ``2**63 - 1`` (``ValueError``).
    """
    check_data(lengths_per_row, name)
    dense = B.a.dense_rows(lengths_per_row)
    if dense is None and isinstance(lengths_per_row, (list, tuple)):
        rows = list(lengths_per_row)
        if not rows or any(
            isinstance(r, (list, tuple, np.ndarray)) or B.a.is_tensor(r) for r in rows
        ):
            dense = _rows_of(B, rows, name)
    arr = B.a.asarray(lengths_per_row if dense is None else dense, name)
    shape = B.a.shape_of(arr)
    check_lengths_dtype(B.a.dtype_name(arr), shape, name, rank=2)
    if 0 in shape and B.a.dtype_name(arr) == "float64":  # an empty batch read as floats
        arr = B.a.asarray(np.zeros(shape, np.int64), name, arr)
    return check_lengths(B, arr, name)


def segment_total_error(seqlen: object) -> ValueError:
    return ValueError(f"lengths_per_row: a row's documents add up to more than seqlen={seqlen}")


@frontend
def segment_ids_from_lengths(B: Backend, lengths_per_row: ArrayLike, seqlen: int) -> Array:
    """int64 ``(B, seqlen)`` segment ids of rows that pack documents of the given lengths.

    Rule: ``lengths_per_row[b]`` lists the lengths of the documents packed
    into row ``b``, in order; document ``k`` (0-based) gets id ``k + 1`` and
    the steps after the last document are padding, id 0. A document of length
    0 takes no step (its id does not appear). ``lengths_per_row`` is ``(B, K)``
    (pad short rows with 0) or a ragged list of rows (see
    :func:`document_lengths`). Lengths must be integers from 0 up, adding up
    to at most ``seqlen`` per row (``ValueError`` naming ``lengths_per_row``;
    the total is computed so that it cannot wrap around, ``2**62 + 2**62``
    included). ``seqlen`` is a non-negative int; a result that would not fit
    in memory is a ``ValueError``.

    >>> segment_ids_from_lengths([[2, 1], [3, 0]], 4)
    array([[1, 1, 2, 0],
           [1, 1, 1, 0]])
    """
    seqlen = _length(B, seqlen, "seqlen")
    lengths = B.a.int64(document_lengths(B, lengths_per_row))
    batch, docs = B.a.shape_of(lengths)
    if _known(seqlen):
        check_nbytes((max(batch or 0, 1), seqlen + 1), 8, "seqlen", seqlen)
        if docs is not None and docs * (seqlen + 1) > INT64_MAX:
            raise ValueError(
                f"lengths_per_row: {docs} documents per row of up to seqlen={seqlen} steps "
                f"each cannot be added up in int64"
            )
    # Running totals of the lengths, each capped at seqlen + 1: no sum can wrap around, and
    # a row whose documents exceed seqlen still ends above it.
    ends = B.kernel("attention", "document_ends")(lengths, seqlen)
    B.require(
        B.a.all(ends[:, -1:] <= seqlen),
        lambda: segment_total_error(seqlen),
        "lengths_per_row: a row's documents add up to more than seqlen",
    )
    return B.k.segment_ids_from_lengths(ends, seqlen)


# --- attention ---------------------------------------------------------------------------------


def aligned_mask_shape(mask_shape: tuple, full: tuple) -> tuple:
    """The shape ``mask`` takes against the scores' shape ``full = (..., L, S)``.

    Accepted: ``(L, S)`` (broadcast over every batch axis), ``(B, L, S)`` (its
    first axis is the first batch axis; broadcast over the heads) and a mask
    of the scores' rank. Each size must be 1 or the scores' (a size unknown
    while tracing, None, matches anything). Anything else is a ``ValueError``
    naming both shapes, and saying how to build a mask (a ``(B, S)``
    key-padding mask is not guessed at).
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
    if shape is None or any(
        m not in (1, f) for m, f in zip(shape, full) if m is not None and f is not None
    ):
        raise ValueError(
            f"mask shape {mask_shape} does not fit attention scores of shape {tuple(full)}: "
            f"expected (L, S), (B, L, S) or a mask of rank {n}, each size 1 or equal; "
            f"build one with attention_mask(query_mask, key_mask, causal=..., "
            f"query_len=..., key_len=...), which gives (B, L, S) (a (B, S) key padding "
            f"mask is attention_mask(key_mask=mask, query_len=L))"
        )
    return shape


def _mask_index(mask_shape: tuple, full: tuple) -> tuple | None:
    """The index (unit axes inserted) that gives an accepted mask the scores' rank; None
    when it has it."""
    aligned_mask_shape(mask_shape, full)
    rank, n = len(mask_shape), len(full)
    if rank == n:
        return None
    if rank == 2:
        return (None,) * (n - 2) + (Ellipsis,)
    return (slice(None),) + (None,) * (n - 3) + (Ellipsis,)


def check_attention_dtypes(names: tuple[str, ...], dtypes: tuple[str, ...]) -> None:
    """``TypeError`` unless the tensors share one floating dtype."""
    for name, dtype in zip(names, dtypes):
        if not dtype.rsplit(".", 1)[-1].startswith(("float", "bfloat", "half", "double")):
            raise TypeError(f"{name} must be floating point, got dtype {dtype}")
    if len(set(dtypes)) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in zip(names, dtypes))
        raise TypeError(f"query, key and value must share one dtype, got {listed}")


def attention_shapes(q: tuple, k: tuple, v: tuple | None) -> tuple:
    """The scores' shape ``batch + (L, S)`` for query/key(/value) shapes, or a ``ValueError``
    naming them. The batch axes broadcast; a size unknown while tracing (None) matches
    anything and stays None unless another input knows it."""
    for name, shape in (("query", q), ("key", k), ("value", v)):
        if shape is not None and len(shape) < 2:
            raise ValueError(f"{name} must have at least 2 axes (..., L, E), got shape {shape}")
    if None not in (q[-1], k[-1]) and q[-1] != k[-1]:
        raise ValueError(f"query shape {q} and key shape {k} must end in the same size E")
    if v is not None and None not in (v[-2], k[-2]) and v[-2] != k[-2]:
        raise ValueError(f"key shape {k} and value shape {v} must have the same length S")
    leading = [s[:-2] for s in (q, k, v) if s is not None]
    width = max(len(s) for s in leading)
    batch: list[int | None] = []
    for i in range(width):
        sizes = [s[len(s) - width + i] for s in leading if len(s) - width + i >= 0]
        big = {n for n in sizes if n is not None and n != 1}
        if len(big) > 1:
            raise ValueError(
                f"the batch axes of query {q}, key {k}"
                + ("" if v is None else f" and value {v}")
                + " do not broadcast"
            )
        batch.append(big.pop() if big else (None if None in sizes else 1))
    lk = k[-2] if k[-2] is not None or v is None else v[-2]
    return (*batch, q[-2], lk)


def _check_scale(B: Backend, scale: object, embed: int | None) -> object:
    """``1 / sqrt(E)`` when ``scale`` is None (1 when ``E`` is 0; None when ``E`` is only
    known at run time), else the number as a float. A bool or a non-number is a
    ``TypeError``; inside ``tf.function`` a scalar tensor passes as it is."""
    if scale is None:
        if embed is None:
            return None
        return 1.0 / math.sqrt(embed) if embed else 1.0
    dtype = B.a.dtype_name(scale) if B.a.is_tensor(scale) else str(getattr(scale, "dtype", ""))
    if isinstance(scale, bool) or type(scale).__name__ == "bool_" or dtype == "bool":
        raise TypeError(f"scale must be a scalar number, got {scale!r}")
    if B.a.is_symbolic(scale):
        if B.a.shape_of(scale) != () or not dtype.startswith(("float", "bfloat", "int", "uint")):
            raise TypeError(f"scale must be a scalar number, got {scale!r}")
        return scale
    check_scalar(scale, "scale")
    return float(scale)  # type: ignore[arg-type]


def _attention_inputs(
    B: Backend,
    arrays: dict[str, object],
    mask: object,
    causal: object,
    scale: object,
    empty: object,
    align: object,
    window: object,
) -> tuple[list[Array], Array | None, bool, Any, int | None, tuple]:
    """The validated inputs of attention: the tensors, the mask with the scores' rank (None:
    no mask), ``causal``, the scale, the window and the scores' shape."""
    causal = check_flag(causal, "causal")
    check_choice("empty", empty, ATTENTION_EMPTY)
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    names = tuple(arrays)
    first = B.a.asarray(arrays[names[0]], names[0])
    tensors = [first] + [B.a.asarray(arrays[n], n, first) for n in names[1:]]
    check_attention_dtypes(names, tuple(B.a.dtype_name(t) for t in tensors))
    shapes = [B.a.shape_of(t) for t in tensors]
    full = attention_shapes(shapes[0], shapes[1], shapes[2] if len(shapes) > 2 else None)
    m = None
    if mask is not None:
        m = as_mask(B, mask, "mask", like=first)
        index = _mask_index(B.a.shape_of(m), full)
        if index is not None:
            m = m[index]
    return tensors, m, causal, _check_scale(B, scale, shapes[0][-1]), window, full


@frontend
def attention_weights(
    B: Backend,
    query: ArrayLike,
    key: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> Array:
    """The attention weights ``(..., L, S)``: a masked softmax of ``query . key * scale``.

    Rule: scores ``q . k * scale`` (``scale`` defaults to ``1 / sqrt(E)``),
    softmax over the keys the row may see (``mask`` AND the causal / window
    pattern); hidden keys get weight 0, whatever their scores (NaN and inf
    included). A row with no visible key is, by ``empty``: ``"zeros"``,
    ``"nan"`` or ``"mean"`` (uniform ``1 / S``). The mask is ``(L, S)``,
    ``(B, L, S)`` or of the scores' rank (see :func:`aligned_mask_shape`).
    The dtype is the query's (float16 and bfloat16 computed in float32).
    Weights that would not fit in memory are a ``ValueError``.

    >>> attention_weights(np.zeros((2, 1)), np.zeros((3, 1)), [[True, True, False]] * 2)
    array([[0.5, 0.5, 0. ],
           [0.5, 0.5, 0. ]])
    """
    (q, k), m, causal, scale, window, full = _attention_inputs(
        B, {"query": query, "key": key}, mask, causal, scale, empty, align, window
    )
    if _known(*full):
        itemsize = 8 if B.a.dtype_name(q) == "float64" else 4
        by_key = full[-1] >= full[-2]
        name = "key" if by_key else "query"
        check_nbytes(full, itemsize, f"{name}.shape", B.a.shape_of(k if by_key else q))
    return B.k.attention_weights(q, k, m, causal, scale, empty, align, window)


@frontend
def scaled_dot_product_attention(
    B: Backend,
    query: ArrayLike,
    key: ArrayLike,
    value: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> Array:
    """Masked attention ``softmax(q . k * scale) . v`` with a stated rule for empty rows.

    Rule: the weights of :func:`attention_weights`, then ``sum`` over the
    visible keys of ``weight * value``; a hidden (query, key) pair contributes
    nothing even when its key or value is NaN or inf (only the rows that may
    see a key are affected by it), and keys that no query of the slice can
    see are zeroed before any arithmetic. A query row with no visible key
    returns, by ``empty``: ``"zeros"`` (default), ``"nan"``, or ``"mean"``,
    the average of the ``S`` values (masked ones included, as a uniform
    softmax gives; zeros when ``S == 0``). Layout ``(..., L, E)`` as
    PyTorch's; ``mask`` of shape ``(L, S)``, ``(B, L, S)`` (broadcast over the
    heads) or ``(B, H, L, S)``; a ``(B, S)`` key-padding mask is not guessed
    at (build one with :func:`attention_mask`); ``causal`` ANDs
    :func:`causal_mask` (``align``, ``window``). Query, key and value share
    one float dtype, which the result keeps.

    >>> q = np.zeros((2, 1)); k = np.zeros((3, 1)); v = np.array([[1.0], [3.0], [np.nan]])
    >>> scaled_dot_product_attention(q, k, v, [[True, True, False], [False] * 3])
    array([[2.],
           [0.]])
    """
    (q, k, v), m, causal, scale, window, _ = _attention_inputs(
        B, {"query": query, "key": key, "value": value}, mask, causal, scale, empty, align, window
    )
    return B.k.scaled_dot_product_attention(q, k, v, m, causal, scale, empty, align, window)

"""Hypothesis strategies for padded and ragged batches, masks, lengths and ids.

Public and documented, so that users can property-test their own masking code
against maskref. Each strategy draws NumPy data; the edge cases that break
masking code are drawn on purpose: empty batches, zero-length rows, masks
with holes, fully masked rows, trailing feature axes, every supported dtype,
and NaN/inf planted where the mask says "padding".

Requires ``hypothesis`` (a dependency of maskref, not of the NumPy rules).

>>> from hypothesis import given
>>> @given(padded_batches())
... def test_apply_mask_is_idempotent(batch):
...     x, mask = batch
...     ...
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskref.api.attention import ALIGNS, aligned_mask_shape, band_rule
from maskref.api.dtypes import NUMERIC_DTYPES

__all__ = [
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "attention_batches",
    "attention_masks",
    "dtypes",
    "elements",
    "inner_shapes",
    "lengths",
    "masks",
    "padded_batches",
    "padding_sides",
    "ragged_batches",
    "token_ids",
]

INT_DTYPES = ("uint8", "int8", "int16", "int32", "int64")
FLOAT_DTYPES = ("float16", "float32", "float64")

padding_sides = st.sampled_from(("pre", "post"))


def dtypes(kinds: str = "biuf") -> st.SearchStrategy[np.dtype]:
    """A supported dtype whose kind (``np.dtype.kind``) is in ``kinds``."""
    return st.sampled_from([np.dtype(d) for d in NUMERIC_DTYPES if np.dtype(d).kind in kinds])


def elements(dtype: np.dtype, *, finite: bool = True) -> st.SearchStrategy:
    """Values of ``dtype``: small integers mostly, the dtype's extremes sometimes.

    Floats are finite unless ``finite=False``; subnormals are excluded
    (TensorFlow flushes them to zero on CPU, which is a framework quirk, not a
    masking rule).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.one_of(
            st.integers(max(info.min, -9), min(info.max, 9)), st.sampled_from([info.min, info.max])
        )
    width = cast("Literal[16, 32, 64]", dtype.itemsize * 8)
    return st.floats(
        width=width, allow_nan=not finite, allow_infinity=not finite, allow_subnormal=False
    )


def inner_shapes(max_dims: int = 2, max_side: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """The shape of one step: ``()`` for scalar steps (half the time), else small vectors."""
    return st.one_of(
        st.just(()), hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=max_side)
    )


def lengths(
    max_batch: int = 6, max_len: int = 8, *, min_batch: int = 0
) -> st.SearchStrategy[np.ndarray]:
    """A 1-D int64 array of per-row lengths in ``[0, max_len]`` (zeros included)."""
    return st.lists(st.integers(0, max_len), min_size=min_batch, max_size=max_batch).map(
        lambda v: np.asarray(v, dtype=np.int64)
    )


@st.composite
def ragged_batches(
    draw,
    dtype: np.dtype | st.SearchStrategy | None = None,
    *,
    max_batch: int = 6,
    max_len: int = 8,
    inner: tuple[int, ...] | st.SearchStrategy | None = None,
    min_batch: int = 0,
) -> list[np.ndarray]:
    """A list of sequences (NumPy arrays of ``dtype``) with lengths ``0..max_len``.

    Every sequence has the same inner (step) shape; the list may be empty.
    """
    dtype = draw(dtypes()) if dtype is None else dtype
    dtype = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    inner = draw(inner_shapes()) if inner is None else inner
    inner = draw(inner) if isinstance(inner, st.SearchStrategy) else inner
    lens = draw(lengths(max_batch, max_len, min_batch=min_batch))
    return [
        draw(hnp.arrays(dtype, (int(n),) + tuple(inner), elements=elements(dtype))) for n in lens
    ]


@st.composite
def masks(draw, shape: tuple[int, ...], *, layout: str | None = None) -> np.ndarray:
    """A boolean mask of ``shape`` (at least 2-D: rows x steps).

    ``layout``: ``"post"`` (valid prefix), ``"pre"`` (valid suffix), ``"holes"``
    (any pattern) or None to draw one of them. Fully masked and fully valid
    rows occur naturally.
    """
    layout = draw(st.sampled_from(("post", "pre", "holes"))) if layout is None else layout
    if layout == "holes":
        return draw(hnp.arrays(np.bool_, shape))
    rows, steps = shape[:-1], shape[-1]
    lens = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, steps)))
    pos = np.arange(steps)
    return pos < lens[..., None] if layout == "post" else pos >= steps - lens[..., None]


@st.composite
def padded_batches(
    draw,
    dtype: np.dtype | str | st.SearchStrategy | None = None,
    *,
    max_batch: int = 5,
    max_len: int = 7,
    inner: tuple[int, ...] | st.SearchStrategy | None = None,
    layout: str | None = None,
    plant: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mask)``: data of shape ``(B, T, *inner)`` with a ``(B, T)`` mask.

    With ``plant=True`` (the default) and a float dtype, masked slots hold
    NaN, +inf or -inf, so that any leak of padding into a result shows.
    """
    dtype = draw(dtypes()) if dtype is None else dtype
    dtype = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    inner = draw(inner_shapes()) if inner is None else inner
    inner = draw(inner) if isinstance(inner, st.SearchStrategy) else inner
    batch, steps = draw(st.integers(0, max_batch)), draw(st.integers(0, max_len))
    shape = (batch, steps) + tuple(inner)
    x = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
    mask = draw(masks((batch, steps), layout=layout))
    if plant and dtype.kind == "f" and x.size:
        poison = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        x = x.copy()
        x[~mask] = poison
    return x, mask


@st.composite
def token_ids(
    draw, *, max_batch: int = 5, max_len: int = 7, vocab: int = 6, pad_id: int = 0
) -> np.ndarray:
    """Integer ids ``(B, T)`` in ``[0, vocab)``, padded with ``pad_id`` pre or post."""
    batch, steps = draw(st.integers(0, max_batch)), draw(st.integers(0, max_len))
    ids = draw(hnp.arrays(np.int64, (batch, steps), elements=st.integers(0, vocab - 1)))
    mask = draw(masks((batch, steps)))
    return np.where(mask, ids, pad_id)


#: The mask layouts :func:`attention_masks` draws, for scores of shape ``(..., L, S)``.
ATTENTION_MASK_LAYOUTS = ("none", "LS", "BLS", "full", "key_padding")


@st.composite
def attention_masks(
    draw, scores_shape: tuple[int, ...], layouts: tuple[str, ...] = ATTENTION_MASK_LAYOUTS
) -> np.ndarray | None:
    """A boolean attention mask for scores of ``scores_shape`` ``(..., L, S)``, or None.

    Layouts: ``"LS"`` ``(L, S)``; ``"BLS"`` ``(B, L, S)`` (scores of rank >= 3);
    ``"full"`` the scores' rank with some axes of size 1; ``"key_padding"``
    ``(B, 1, ..., 1, S)``, pre/post/holes. Fully masked rows occur naturally.
    """
    n = len(scores_shape)
    usable = [lay for lay in layouts if lay not in ("BLS", "key_padding") or n >= 3]
    layout = draw(st.sampled_from(usable))
    lq, lk = scores_shape[-2:]
    if layout == "none":
        return None
    if layout == "LS":
        return draw(masks((lq, lk)))
    if layout == "BLS":
        return draw(masks((scores_shape[0], lq, lk)))
    if layout == "key_padding":
        keys = draw(masks((scores_shape[0], lk)))
        return keys.reshape((scores_shape[0],) + (1,) * (n - 2) + (lk,))
    shape = tuple(d if draw(st.booleans()) else 1 for d in scores_shape[:-2]) + (lq, lk)
    return draw(masks(shape))


@st.composite
def attention_batches(
    draw,
    dtype: np.dtype | st.SearchStrategy | None = None,
    *,
    max_batch: int = 3,
    max_heads: int = 2,
    max_len: int = 5,
    max_embed: int = 4,
    plant: bool = True,
    layouts: tuple[str, ...] = ATTENTION_MASK_LAYOUTS,
) -> dict:
    """Inputs of ``scaled_dot_product_attention`` as a dict of keyword arguments.

    ``query (..., L, E)``, ``key (..., S, E)``, ``value (..., S, Ev)`` with 0, 1
    or 2 batch axes (``(B,)`` or ``(B, H)``), sizes from 0; ``mask`` from
    :func:`attention_masks`; ``causal`` with either ``align`` and sometimes a
    ``window``. With ``plant=True``, NaN or inf is planted in the key and
    value vectors that no query of their slice can see and in the query rows
    that see no key, so that any leak of masked data shows.
    """
    dtype = draw(dtypes("f")) if dtype is None else dtype
    dtype = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    batch = tuple(draw(st.integers(0, max_batch)) for _ in range(draw(st.integers(0, 1))))
    if batch and draw(st.booleans()):
        batch += (draw(st.integers(1, max_heads)),)
    lq, lk = draw(st.integers(0, max_len)), draw(st.integers(0, max_len))
    embed, embed_v = draw(st.integers(0, max_embed)), draw(st.integers(0, max_embed))
    values = st.floats(
        -2, 2, width=cast("Literal[16, 32, 64]", dtype.itemsize * 8), allow_subnormal=False
    )
    query = draw(hnp.arrays(dtype, batch + (lq, embed), elements=values))
    key = draw(hnp.arrays(dtype, batch + (lk, embed), elements=values))
    value = draw(hnp.arrays(dtype, batch + (lk, embed_v), elements=values))
    mask = draw(attention_masks(batch + (lq, lk), layouts))
    causal = draw(st.booleans())
    align = draw(st.sampled_from(ALIGNS))
    window = draw(st.none() | st.integers(1, 3)) if draw(st.integers(0, 3)) == 0 else None
    if plant and query.size + key.size + value.size:
        full: np.ndarray = np.ones(batch + (lq, lk), bool)
        if mask is not None:
            full = full & mask.reshape(aligned_mask_shape(mask.shape, full.shape))
        if causal or window is not None:
            full = full & band_rule(lq, lk, causal, align, window)
        poison = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        seen = cast(np.ndarray, full.any(-1))  # full is at least 2-d
        query = np.where(seen[..., None], query, poison).astype(dtype)
        unseen = ~cast(np.ndarray, full.any(-2))[..., None]
        key = np.where(unseen, poison, key).astype(dtype)
        value = np.where(unseen, poison, value).astype(dtype)
    return dict(
        query=query, key=key, value=value, mask=mask, causal=causal, align=align, window=window
    )

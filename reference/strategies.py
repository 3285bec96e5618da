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

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._dtypes import NUMERIC_DTYPES

__all__ = [
    "FLOAT_DTYPES",
    "INT_DTYPES",
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
    width = dtype.itemsize * 8
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
    return st.lists(
        st.integers(0, max_len), min_size=min_batch, max_size=max_batch
    ).map(lambda v: np.asarray(v, dtype=np.int64))


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
    dtype: np.dtype | st.SearchStrategy | None = None,
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
    ids = draw(
        hnp.arrays(np.int64, (batch, steps), elements=st.integers(0, vocab - 1))
    )
    mask = draw(masks((batch, steps)))
    return np.where(mask, ids, pad_id)

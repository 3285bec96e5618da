"""Boolean masks: from lengths, from values, from token ids; applying and expanding them.

A maskref mask is boolean, ``True`` = valid/keep, and its shape is a leading
prefix of the data's shape (a ``(B, T)`` mask for ``(B, T, D)`` data).
"""

from __future__ import annotations

import numpy as np

from maskref.api.checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_maxlen,
    check_min_rank,
    check_scalar,
)
from maskref.api.dtypes import cast_scalar

__all__ = [
    "apply_mask",
    "expand_mask",
    "lengths_from_mask",
    "mask_from_ids",
    "mask_from_value",
    "sequence_mask",
]


def as_mask(mask: object, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a boolean array; refuse any other dtype (``TypeError``)."""
    arr = np.asarray(mask)
    check_mask_dtype(str(arr.dtype), name)
    return arr


def sequence_mask(lengths: object, maxlen: int | None = None, padding: str = "post") -> np.ndarray:
    """Boolean mask of shape ``lengths.shape + (maxlen,)`` from per-row lengths.

    Rule: with ``padding="post"``, step ``t`` of row ``i`` is valid iff
    ``t < lengths[i]``; with ``"pre"`` iff ``t >= maxlen - lengths[i]`` (the
    valid steps are the last ones). ``maxlen`` defaults to ``max(lengths)``
    (0 when ``lengths`` is empty). A length above ``maxlen`` gives a row that
    is all ``True`` (the row was truncated). Lengths must be integers >= 0:
    ``tf.sequence_mask`` truncates float lengths and treats negative ones as
    0; maskref refuses both (``TypeError`` / ``ValueError``).

    >>> sequence_mask([1, 3, 0])
    array([[ True, False, False],
           [ True,  True,  True],
           [False, False, False]])
    >>> sequence_mask([1, 2], maxlen=3, padding="pre")
    array([[False, False,  True],
           [False,  True,  True]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    lengths = np.asarray(lengths)
    check_integer_dtype(str(lengths.dtype), "lengths")
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"lengths must be non-negative, got {lengths.min()}")
    if maxlen is None:
        maxlen = int(lengths.max()) if lengths.size else 0
    steps = np.arange(maxlen)
    if steps.size != maxlen:  # NumPy wraps around instead of failing for huge lengths
        raise ValueError(f"maxlen {maxlen} is too large for a mask")
    lengths = lengths[..., None].astype(np.int64)
    if padding == "post":
        return steps < lengths
    return steps >= maxlen - lengths


def lengths_from_mask(mask: object) -> np.ndarray:
    """Number of valid steps per row: ``mask.sum(axis=-1)`` as int64.

    Holes count: ``[True, False, True]`` has 2 valid steps. The result has
    shape ``mask.shape[:-1]``; the mask needs at least one axis.

    >>> lengths_from_mask([[True, True, False], [False, False, False]])
    array([2, 0])
    """
    mask = as_mask(mask)
    check_min_rank(mask.shape, 1, "mask")
    return mask.sum(axis=-1, dtype=np.int64)


def mask_from_value(x: object, mask_value: object = 0.0) -> np.ndarray:
    """The ``keras.layers.Masking`` rule: a step is valid where any feature differs.

    Rule: ``mask = any(x != mask_value, axis=-1)``, so the mask has one axis
    less than ``x`` (a ``(B, T)`` mask for ``(B, T, D)`` data; a ``(B,)`` mask
    for 2-D data, one entry per row). ``-0.0`` equals ``0.0``.

    NaN: maskref reads ``mask_value=NaN`` as "NaN marks padding": a step whose
    features are all NaN is masked. (Keras compares with ``!=``, which is
    always ``True`` for NaN, so its ``Masking(NaN)`` never masks anything: a
    recorded divergence.) With any other ``mask_value``, a NaN feature differs
    from it, so the step stays valid, as in Keras.

    >>> mask_from_value([[[1, 2], [0, 0]], [[0, 3], [0, 0]]])
    array([[ True, False],
           [ True, False]])
    """
    x = np.asarray(x)
    check_min_rank(x.shape, 1, "x")
    check_scalar(mask_value, "mask_value")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold numbers or bools, got dtype {x.dtype}")
    if (isinstance(mask_value, float) and np.isnan(mask_value)) or (
        np.ndim(mask_value) == 0 and np.isnan(np.asarray(mask_value, dtype=float))
    ):
        differs = ~np.isnan(x) if x.dtype.kind == "f" else np.ones(x.shape, dtype=bool)
    else:
        try:
            differs = x != mask_value
        except OverflowError:  # a value no element of x's dtype can equal
            differs = np.ones(x.shape, dtype=bool)
    return differs.any(axis=-1)


def mask_from_ids(ids: object, pad_id: int = 0) -> np.ndarray:
    """The ``Embedding(mask_zero=True)`` rule: ``mask = ids != pad_id``.

    ``ids`` must hold integers (any shape); the mask has the same shape.
    Float ids are refused (``TypeError``): Keras computes its mask on the raw
    float values but looks rows up after an integer cast, so ``0.7`` is valid
    in its mask yet embeds as row 0.

    >>> mask_from_ids([[5, 3, 0, 0]])
    array([[ True,  True, False, False]])
    """
    ids = np.asarray(ids)
    check_integer_dtype(str(ids.dtype), "ids")
    if isinstance(pad_id, bool) or not isinstance(pad_id, (int, np.integer)):
        raise TypeError(f"pad_id must be an int, got {pad_id!r}")
    return ids != pad_id


def expand_mask(mask: object, x: object) -> np.ndarray:
    """Broadcast ``mask`` over ``x``'s trailing axes: a boolean array of ``x``'s shape.

    Rule: ``result[i, t, ...] = mask[i, t]``. This is what the tutorial builds
    with ``tf.tile``; the mask's shape must be a leading prefix of ``x``'s.

    >>> expand_mask([[True, False]], np.zeros((1, 2, 3))).shape
    (1, 2, 3)
    """
    mask = as_mask(mask)
    shape = np.shape(x)
    check_mask_shape(mask.shape, shape)
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def apply_mask(x: object, mask: object, fill: object = 0) -> np.ndarray:
    """The ``Masking`` layer's output: masked steps replaced by ``fill``.

    Rule: ``where(expand_mask(mask, x), x, fill)`` with ``x``'s dtype; a
    masked step's values never reach the result, NaN and inf included (no
    multiplication by the mask). ``fill`` is cast by the lossless-cast rule
    (``NaN`` into an integer ``x`` is a ``ValueError``). Idempotent.

    >>> apply_mask([[1.0, np.nan], [3.0, 4.0]], [True, False])
    array([[ 1., nan],
           [ 0.,  0.]])
    """
    x = np.asarray(x)
    keep = expand_mask(mask, x)
    return np.where(keep, x, cast_scalar(fill, x.dtype, "fill"))

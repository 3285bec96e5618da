"""Boolean masks: from lengths, from values, from token ids; applying and expanding them.

A maskref mask is boolean, ``True`` = valid/keep, and its shape is a leading
prefix of the data's shape (a ``(B, T)`` mask for ``(B, T, D)`` data).
"""

from __future__ import annotations

import numpy as np

from .checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_min_rank,
    check_nbytes,
    check_numeric,
    check_scalar,
)
from .core import Backend, frontend
from .types import Array, ArrayLike, Scalar
from .values import check_lengths


def as_mask(B: Backend, mask: object, name: str = "mask", like: object = None) -> Array:
    """``mask`` as the backend's boolean array (on ``like``'s device); any other dtype is a
    ``TypeError`` (convert explicitly, e.g. ``mask != 0``), None too."""
    arr = B.a.asarray(mask, name, like)
    check_mask_dtype(B.a.dtype_name(arr), name)
    return arr


@frontend
def sequence_mask(
    B: Backend, lengths: ArrayLike, maxlen: int | None = None, padding: str = "post"
) -> Array:
    """Boolean mask of shape ``lengths.shape + (maxlen,)`` from per-row lengths.

    Rule: with ``padding="post"``, step ``t`` of row ``i`` is valid iff
    ``t < lengths[i]``; with ``"pre"`` iff ``t >= maxlen - lengths[i]`` (the
    valid steps are the last ones). ``maxlen`` defaults to ``max(lengths)``
    (0 when ``lengths`` is empty). A length above ``maxlen`` gives a row that
    is all ``True`` (the row was truncated). Lengths must be integers from 0 to
    ``2**63 - 1``: ``tf.sequence_mask`` truncates float lengths and treats
    negative ones as 0; maskref refuses both (``TypeError`` / ``ValueError``),
    and a ``maxlen`` whose mask would not fit in memory (``ValueError``).

    >>> sequence_mask([1, 3, 0])
    array([[ True, False, False],
           [ True,  True,  True],
           [False, False, False]])
    >>> sequence_mask([1, 2], maxlen=3, padding="pre")
    array([[False, False,  True],
           [False,  True,  True]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    maxlen = B.a.check_maxlen(maxlen)
    lengths = B.a.asarray(lengths, "lengths")
    shape = B.a.shape_of(lengths)
    if 0 in shape and B.a.dtype_name(lengths) == "float64":  # `[]` reads as float64
        lengths = B.a.asarray(np.zeros(shape, np.int64), "lengths")
    check_integer_dtype(B.a.dtype_name(lengths), "lengths")
    lengths = check_lengths(B, lengths)
    sized_by = "maxlen" if maxlen is not None else "max(lengths)"
    if maxlen is None:
        maxlen = B.a.longest(lengths)  # a Python int, or a tensor while tracing
    if isinstance(maxlen, int):
        check_nbytes((*shape, maxlen), 1, sized_by, maxlen)
    return B.k.sequence_mask(lengths, maxlen, padding)


@frontend
def lengths_from_mask(B: Backend, mask: ArrayLike) -> Array:
    """Number of valid steps per row: ``mask.sum(axis=-1)`` as int64.

    Holes count: ``[True, False, True]`` has 2 valid steps. The result has
    shape ``mask.shape[:-1]``; the mask needs at least one axis.

    >>> lengths_from_mask([[True, True, False], [False, False, False]])
    array([2, 0])
    """
    mask = as_mask(B, mask)
    check_min_rank(B.a.shape_of(mask), 1, "mask")
    return B.k.lengths_from_mask(mask)


@frontend
def mask_from_value(B: Backend, x: ArrayLike, mask_value: Scalar | ArrayLike = 0.0) -> Array:
    """The ``keras.layers.Masking`` rule: a step is valid where any feature differs.

    Rule: ``mask = any(x != mask_value, axis=-1)``, so the mask has one axis
    less than ``x`` (a ``(B, T)`` mask for ``(B, T, D)`` data; a ``(B,)`` mask
    for 2-D data, one entry per row). ``-0.0`` equals ``0.0``. ``mask_value``
    is a scalar or, as Keras's ``Masking`` allows, anything that broadcasts
    against one step's features (a one-element array, or one value per
    feature, shape ``(D,)``).

    NaN: maskref reads ``mask_value=NaN`` as "NaN marks padding": a step whose
    features are all NaN is masked. (Keras compares with ``!=``, which is
    always ``True`` for NaN, so its ``Masking(NaN)`` never masks anything: a
    recorded divergence.) With any other ``mask_value``, a NaN feature differs
    from it, so the step stays valid, as in Keras.

    >>> mask_from_value([[[1, 2], [0, 0]], [[0, 3], [0, 0]]])
    array([[ True, False],
           [ True, False]])
    >>> mask_from_value([[[1, 2], [1, 0]]], mask_value=[1, 0])
    array([[ True, False]])
    """
    x = B.a.asarray(x, "x")
    shape = B.a.shape_of(x)
    check_min_rank(shape, 1, "x")
    check_numeric(B.a.dtype_name(x))
    return B.k.mask_from_value(x, _mask_value(B, mask_value, shape[-1]))


def _mask_value(B: Backend, value: object, features: int | None) -> object:
    """A scalar ``mask_value`` as it is (Python scalars stay weakly typed, as in NumPy); a
    one-element array as its scalar; a per-feature array as a 1-D NumPy array. Backend
    tensors pass through to the kernel (symbolic scalars inside ``tf.function``)."""
    if B.a.is_symbolic(value):
        return value
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"mask_value must be a number or an array of numbers, got {value!r}")
    if isinstance(value, (bool, int, float, np.generic)):
        check_scalar(value, "mask_value")
        return value
    arr = np.asarray(B.a.numpy(value) if B.a.is_tensor(value) else value)
    check_numeric(str(arr.dtype), "mask_value")
    if arr.ndim == 0 or arr.size == 1:
        return arr.reshape(())[()]
    if arr.ndim > 1 or (features is not None and arr.shape[0] != features):
        raise ValueError(
            f"mask_value of shape {arr.shape} must broadcast against one step's features "
            f"(shape ({features},)): a scalar, one value, or one value per feature"
        )
    return arr


@frontend
def mask_from_ids(B: Backend, ids: ArrayLike, pad_id: int = 0) -> Array:
    """The ``Embedding(mask_zero=True)`` rule: ``mask = ids != pad_id``.

    ``ids`` must hold integers (any shape); the mask has the same shape.
    Float ids are refused (``TypeError``): Keras computes its mask on the raw
    float values but looks rows up after an integer cast, so ``0.7`` is valid
    in its mask yet embeds as row 0. A ``pad_id`` outside the ids' dtype masks
    nothing.

    >>> mask_from_ids([[5, 3, 0, 0]])
    array([[ True,  True, False, False]])
    """
    ids = B.a.asarray(ids, "ids")
    check_integer_dtype(B.a.dtype_name(ids), "ids")
    if isinstance(pad_id, bool) or not isinstance(pad_id, (int, np.integer)):
        raise TypeError(f"pad_id must be an int, got {pad_id!r}")
    return B.k.mask_from_ids(ids, int(pad_id))


@frontend
def expand_mask(B: Backend, mask: ArrayLike, x: ArrayLike) -> Array:
    """Broadcast ``mask`` over ``x``'s trailing axes: a boolean array of ``x``'s shape.

    Rule: ``result[i, t, ...] = mask[i, t]``. This is what the tutorial builds
    with ``tf.tile``; the mask's shape must be a leading prefix of ``x``'s.
    Only ``x``'s shape is read.

    >>> expand_mask([[True, False]], np.zeros((1, 2, 3))).shape
    (1, 2, 3)
    """
    if x is None:
        raise TypeError("x must be an array, a tensor or a list, got None")
    mask = as_mask(B, mask, like=x)
    shape = B.a.shape_of(x)
    check_mask_shape(B.a.shape_of(mask), shape)
    return B.k.expand_mask(mask, x, shape)


@frontend
def apply_mask(B: Backend, x: ArrayLike, mask: ArrayLike, fill: Scalar = 0) -> Array:
    """The ``Masking`` layer's output: masked steps replaced by ``fill``.

    Rule: ``where(expand_mask(mask, x), x, fill)`` with ``x``'s dtype; a
    masked step's values never reach the result, NaN and inf included (no
    multiplication by the mask). ``fill`` is cast by the lossless-cast rule
    (``NaN`` into an integer ``x`` is a ``ValueError``). Idempotent.

    >>> apply_mask([[1.0, np.nan], [3.0, 4.0]], [True, False])
    array([[ 1., nan],
           [ 0.,  0.]])
    """
    x = B.a.asarray(x, "x")
    mask = as_mask(B, mask, like=x)
    check_mask_shape(B.a.shape_of(mask), B.a.shape_of(x))
    return B.k.apply_mask(x, mask, fill)

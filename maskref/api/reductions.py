"""Masked reductions, masked cumulative sum and masked softmax.

Common rules of every function here:

* ``mask`` is boolean (``True`` = valid) with a shape that is a leading
  prefix of ``x.shape`` (a ``(B, T)`` mask for ``(B, T, D)`` data) or exactly
  ``x.shape``; it is broadcast over the trailing axes. ``x`` holds numbers or
  bools (None, strings and other dtypes are a ``TypeError``).
* Values at masked positions never influence a result: reductions skip them
  and element-wise steps replace them (``where``) before the operation, so NaN
  and inf under the mask change nothing. In ``tf_impl`` and ``torch_impl`` the
  gradient with respect to ``x`` is finite and exactly 0 at masked positions,
  fully masked slices included, whatever the incoming gradient holds.
* Valid values behave as in the unmasked NumPy operation: a NaN among the
  valid values propagates, and with an all-``True`` mask every function equals
  its unmasked counterpart.
* A slice with no valid element returns ``empty`` (each function documents
  its default), a scalar cast to the result dtype without loss (``ValueError``
  if it cannot be: ``empty=nan`` for an integer sum, say; ``TypeError`` if it
  is not a number or a bool).
* ``axis`` is None (every axis), an int or a tuple of ints, NumPy style (a
  bool, float or string is a ``TypeError``, an axis out of range or repeated a
  ``ValueError``); ``keepdims`` (a bool) keeps the reduced axes with size 1.

Result dtypes (:func:`sum_dtype`, :func:`float_dtype`): ``sum``/``prod``/
``cumsum`` of bool or integer data are int64 (float data keep their dtype);
``mean``/``var``/``std``/``logsumexp``/``softmax``/``log_softmax`` of bool or
integer data are float64 (float data keep their dtype); ``max``/``min`` keep
the dtype; ``count``, ``argmax`` and ``argmin`` are int64; ``any``/``all``
are bool. float16 (and bfloat16) data are computed with float32
intermediates (:func:`work_dtype`) and rounded once at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .checks import (
    check_choice,
    check_flag,
    check_int,
    check_mask_shape,
    check_numeric,
    check_scalar,
    normalize_axis,
    normalize_single_axis,
)
from .core import Backend, frontend
from .masks import as_mask
from .types import Array, ArrayLike, Axis, Scalar

#: ``empty`` of :func:`masked_softmax`: what a slice with no valid element gives.
SOFTMAX_EMPTY = ("zeros", "nan", "uniform")
#: ``empty`` of :func:`masked_log_softmax`.
LOG_SOFTMAX_EMPTY = ("-inf", "nan", "uniform")


# --- the result-dtype rules (on dtype names: "int32", "float16", "bfloat16") -----------------


def _name(dtype: object) -> str:
    """A dtype's name: ``np.dtype``, ``tf.DType`` and ``torch.dtype`` alike."""
    text = getattr(dtype, "name", None)
    if not isinstance(text, str):
        text = str(dtype)
    return text.rsplit(".", 1)[-1]


def _is_float(name: str) -> bool:
    return name.startswith(("float", "bfloat"))


def sum_dtype(dtype: object) -> str:
    """The result dtype of a sum, product or cumsum: int64 for bool and integer data, else
    the data's.

    >>> sum_dtype("uint8"), sum_dtype(np.dtype("float16"))
    ('int64', 'float16')
    """
    name = _name(dtype)
    return name if _is_float(name) else "int64"


def float_dtype(dtype: object) -> str:
    """The result dtype of a mean, variance, logsumexp or softmax: float64 for bool and
    integer data, else the data's.

    >>> float_dtype("int32"), float_dtype("float32")
    ('float64', 'float32')
    """
    name = _name(dtype)
    return name if _is_float(name) else "float64"


def work_dtype(dtype: object) -> str:
    """The dtype a result of ``dtype`` is computed in: float16 and bfloat16 in float32.

    >>> work_dtype("float16")
    'float32'
    """
    name = _name(dtype)
    return "float32" if name in ("float16", "bfloat16") else name


def identity_of_max(dtype: object, largest: bool) -> bool | int | float:
    """The identity of max (``largest``: the smallest value) or of min (the largest value)
    of ``dtype``: ``-inf``/``+inf`` for floats, the integer minimum/maximum, False/True.

    >>> identity_of_max("int8", True), identity_of_max("float32", False)
    (-128, inf)
    """
    name = _name(dtype)
    if name == "bool":
        return not largest
    if _is_float(name):
        return -math.inf if largest else math.inf
    info = np.iinfo(np.dtype(name))
    return int(info.min) if largest else int(info.max)


def count_factor(shape: Sequence[int | None], mask_ndim: int, axes: Sequence[int]) -> int | None:
    """The count rule's factor: each valid mask element stands for this many elements of a
    reduced slice (the product of the sizes of the reduced axes the mask is broadcast
    over); None when such a size is unknown (while tracing).

    >>> count_factor((2, 3, 4), 2, (1, 2))
    4
    """
    sizes = [shape[a] for a in axes if a >= mask_ndim]
    return None if None in sizes else math.prod(sizes)  # type: ignore[arg-type]


# --- argument checks shared by the front ends ------------------------------------------------


def as_data(B: Backend, x: object, name: str = "x") -> Array:
    """``x`` as the backend's array of numbers or bools; None, strings, objects and complex
    numbers are a ``TypeError`` naming ``name``."""
    x = B.a.asarray(x, name)
    check_numeric(B.a.dtype_name(x), name)
    return x


def _as_mask(B: Backend, mask: object, x: Array) -> Array:
    """``mask`` as a boolean array on ``x``'s device whose shape is a leading prefix of
    ``x``'s."""
    mask = as_mask(B, mask, like=x)
    check_mask_shape(B.a.shape_of(mask), B.a.shape_of(x))
    return mask


def reduction_args(
    B: Backend, x: object, mask: object, axis: object, keepdims: object
) -> tuple[Array, Array, tuple[int, ...], bool]:
    """The checked arguments of a reduction: ``x``, ``mask``, the reduced axes as a sorted
    tuple, ``keepdims`` as a bool."""
    x = as_data(B, x)
    mask = _as_mask(B, mask, x)
    axes = normalize_axis(axis, len(B.a.shape_of(x)))
    return x, mask, axes, check_flag(keepdims, "keepdims")


def _along(B: Backend, x: object, mask: object, axis: object) -> tuple[Array, Array, int]:
    """The checked arguments of a scan along one axis (an int)."""
    x = as_data(B, x)
    mask = _as_mask(B, mask, x)
    return x, mask, normalize_single_axis(axis, len(B.a.shape_of(x)))


def check_empty(B: Backend, empty: object) -> object:
    """``empty`` checked to be one number or bool (a Python or NumPy scalar, or a 0-d
    array or tensor): anything else is a ``TypeError`` naming it. The kernel casts it to
    the result dtype by the lossless-cast rule (:func:`maskref.api.dtypes.cast_scalar`,
    whose ``ValueError`` names it too)."""
    if not B.a.is_symbolic(empty):
        check_scalar(empty, "empty")
    return empty


# --- reductions ------------------------------------------------------------------------------


@frontend
def masked_sum(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = 0,
) -> Array:
    """Sum of the valid elements: ``sum(where(mask, x, 0))``.

    Empty slice: ``empty`` (default 0, the identity). Dtype: int64 for bool and
    integer data, else ``x``'s dtype.

    >>> masked_sum([[1.0, np.nan], [3.0, 4.0]], [[True, False], [True, True]], axis=1)
    array([1., 7.])
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_sum(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_prod(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = 1,
) -> Array:
    """Product of the valid elements: ``prod(where(mask, x, 1))``.

    Empty slice: ``empty`` (default 1, the identity). Dtype as ``masked_sum``
    (integer products wrap around on overflow, as in NumPy).

    >>> masked_prod([2, 3, 4], [True, False, True])
    array(8)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_prod(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_count(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = 0,
) -> Array:
    """Number of valid elements: ``sum(mask)`` over the axes (the mask broadcast to ``x``'s
    shape), as int64.

    Only ``x``'s shape is read. Empty slice: ``empty`` (default 0).

    >>> masked_count(np.zeros((2, 3, 4)), [[True, False, True], [False] * 3], axis=(1, 2))
    array([8, 0])
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_count(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_mean(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = np.nan,
) -> Array:
    """Mean of the valid elements: ``masked_sum / masked_count``.

    Empty slice: ``empty`` (default NaN, what ``0 / 0`` gives). Dtype: float64
    for bool and integer data, else ``x``'s dtype.

    >>> masked_mean([[1.0, 5.0], [np.inf, 2.0]], [[True, True], [False, True]], axis=1)
    array([3., 2.])
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_mean(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_var(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    ddof: int = 0,
    empty: Scalar = np.nan,
) -> Array:
    """Variance of the valid elements, two-pass: ``sum((x - mean)**2) / (n - ddof)``.

    ``n`` is the number of valid elements and ``ddof`` an int >= 0 (a count: a
    bool, a float or a string is a ``TypeError``, a negative int a
    ``ValueError``); a slice with ``n - ddof <= 0`` (no valid element, for the
    default ``ddof=0``) returns ``empty`` (default NaN). Dtype as
    ``masked_mean``.

    >>> masked_var([1.0, 3.0, np.nan], [True, True, False])
    array(1.)
    >>> masked_var([1.0, 3.0, np.nan], [True, True, False], ddof=1)
    array(2.)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    ddof = check_int(ddof, "ddof", minimum=0)
    return B.k.masked_var(x, mask, axes, keepdims, ddof, check_empty(B, empty))


@frontend
def masked_std(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    ddof: int = 0,
    empty: Scalar = np.nan,
) -> Array:
    """Standard deviation: ``sqrt`` of ``masked_var``; the same rules and defaults.

    >>> masked_std([1.0, 3.0, np.nan], [True, True, False])
    array(1.)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    ddof = check_int(ddof, "ddof", minimum=0)
    return B.k.masked_std(x, mask, axes, keepdims, ddof, check_empty(B, empty))


def _extreme_args(
    B: Backend, x: object, mask: object, axis: object, keepdims: object, empty: object, top: bool
) -> tuple[Array, Array, tuple[int, ...], bool, object]:
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    dtype = B.a.dtype_name(x)
    empty = identity_of_max(dtype, top) if empty is None else empty
    return x, mask, axes, keepdims, check_empty(B, empty)


@frontend
def masked_max(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar | None = None,
) -> Array:
    """Largest valid element: ``max(where(mask, x, lowest))``; a valid NaN propagates.

    Empty slice: ``empty``; the default (None) is the identity of max:
    ``-inf`` for floats, the dtype's minimum for integers, False for bools.
    Dtype: ``x``'s.

    >>> masked_max([[1, 9], [4, 2]], [[True, False], [True, True]], axis=1)
    array([1, 4])
    """
    return B.k.masked_max(*_extreme_args(B, x, mask, axis, keepdims, empty, True))


@frontend
def masked_min(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar | None = None,
) -> Array:
    """Smallest valid element; the default ``empty`` is ``+inf`` / the dtype's maximum / True.

    >>> masked_min([[1, 9], [4, 2]], [[False, True], [True, True]], axis=1)
    array([9, 2])
    """
    return B.k.masked_min(*_extreme_args(B, x, mask, axis, keepdims, empty, False))


@frontend
def masked_logsumexp(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = -np.inf,
) -> Array:
    """``log(sum(exp(x)))`` over the valid elements, shifted by their max for stability.

    Rule: ``c = max over valid x`` (0 if not finite), result
    ``c + log(sum(where(mask, exp(x - c), 0)))``. Empty slice: ``empty``
    (default ``-inf``, the log of an empty sum). Dtype as ``masked_mean``.

    >>> masked_logsumexp([0.0, 0.0, np.nan], [True, True, False]).round(4)
    np.float64(0.6931)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_logsumexp(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_any(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = False,
) -> Array:
    """Whether any valid element is non-zero (NaN counts as non-zero, as in NumPy).

    Empty slice: ``empty`` (default False, the identity).

    >>> masked_any([0, 1], [True, False])
    array(False)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_any(x, mask, axes, keepdims, check_empty(B, empty))


@frontend
def masked_all(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: Axis = None,
    keepdims: bool = False,
    *,
    empty: Scalar = True,
) -> Array:
    """Whether every valid element is non-zero. Empty slice: ``empty`` (default True).

    >>> masked_all([1, 0], [True, False])
    array(True)
    """
    x, mask, axes, keepdims = reduction_args(B, x, mask, axis, keepdims)
    return B.k.masked_all(x, mask, axes, keepdims, check_empty(B, empty))


def _arg_args(
    B: Backend, x: object, mask: object, axis: object, keepdims: object, empty: object
) -> tuple[Array, Array, int | None, bool, object]:
    x = as_data(B, x)
    mask = _as_mask(B, mask, x)
    ndim = len(B.a.shape_of(x))
    ax = None if axis is None else normalize_single_axis(axis, ndim)
    return x, mask, ax, check_flag(keepdims, "keepdims"), check_empty(B, empty)


@frontend
def masked_argmax(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    *,
    empty: int = -1,
) -> Array:
    """Index of the largest valid element along ``axis``; ties pick the first valid index.

    A valid NaN counts as the largest (its first occurrence is returned, as
    in NumPy). ``axis`` is an int or None (an index into the flattened
    array); tuples are refused (``TypeError``). Empty slice: ``empty``
    (default -1). Dtype: int64.

    >>> masked_argmax([[5, 1, 5], [3, 3, 0]], [[False, True, True], [False, True, True]], axis=1)
    array([2, 1])
    """
    return B.k.masked_argmax(*_arg_args(B, x, mask, axis, keepdims, empty))


@frontend
def masked_argmin(
    B: Backend,
    x: ArrayLike,
    mask: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    *,
    empty: int = -1,
) -> Array:
    """Index of the smallest valid element; the rules of ``masked_argmax``.

    >>> masked_argmin([0, 2, 1], [False, True, True])
    array(2)
    """
    return B.k.masked_argmin(*_arg_args(B, x, mask, axis, keepdims, empty))


# --- scans -----------------------------------------------------------------------------------


@frontend
def masked_cumsum(
    B: Backend, x: ArrayLike, mask: ArrayLike, axis: int = -1, *, empty: Scalar = 0
) -> Array:
    """Running sum of the valid elements along ``axis``; masked elements add nothing.

    Rule: ``out[..., t] = sum(x[..., s] for s <= t if mask[..., s])``; where no
    valid element has been seen yet (``s <= t``), ``empty`` (default 0, the
    empty sum). Masked positions after a valid one carry the running total.
    ``axis`` is an int. Dtype as ``masked_sum``.

    >>> masked_cumsum([1.0, np.nan, 2.0], [True, False, True])
    array([1., 1., 3.])
    """
    x, mask, ax = _along(B, x, mask, axis)
    return B.k.masked_cumsum(x, mask, ax, check_empty(B, empty))


@frontend
def masked_softmax(
    B: Backend, x: ArrayLike, mask: ArrayLike, axis: int = -1, *, empty: str = "zeros"
) -> Array:
    """Softmax over the valid elements along ``axis``; masked positions are 0.

    Rule: ``e = where(mask, exp(x - c), 0)`` with ``c`` the max of the valid
    elements, ``y = e / sum(e)``: the valid entries sum to 1. A slice with no
    valid element returns, by ``empty``: ``"zeros"`` (default, as the Keras
    ``Softmax`` layer), ``"nan"`` (what a ``-inf``-filled softmax gives) or
    ``"uniform"`` (``1/n`` at every position, masked ones included: what
    tf.keras 2 and the Keras attention fast path give). Valid ``inf``/NaN
    behave as in the unmasked softmax (NaN results). ``axis`` is an int.
    Dtype as ``masked_mean``.

    >>> masked_softmax([[0.0, 0.0, np.nan], [1.0, 2.0, 3.0]], [[True, True, False], [False] * 3])
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 0. ]])
    """
    check_choice("empty", empty, SOFTMAX_EMPTY)
    x, mask, ax = _along(B, x, mask, axis)
    return B.k.masked_softmax(x, mask, ax, empty)


@frontend
def masked_log_softmax(
    B: Backend, x: ArrayLike, mask: ArrayLike, axis: int = -1, *, empty: str = "-inf"
) -> Array:
    """``log(masked_softmax(x, mask))`` computed stably; masked positions are ``-inf``.

    Rule: ``y = (x - c) - log(sum over valid of exp(x - c))`` at valid
    positions, ``-inf`` at masked ones (the log of their softmax weight 0). A
    slice with no valid element returns, by ``empty``: ``"-inf"`` (default,
    the log of the all-zeros softmax row), ``"nan"``, or ``"uniform"``
    (``-log(n)`` everywhere). Dtype as ``masked_mean``.

    >>> masked_log_softmax([0.0, 0.0, 5.0], [True, True, False]).round(4)
    array([-0.6931, -0.6931,    -inf])
    """
    check_choice("empty", empty, LOG_SOFTMAX_EMPTY)
    x, mask, ax = _along(B, x, mask, axis)
    return B.k.masked_log_softmax(x, mask, ax, empty)

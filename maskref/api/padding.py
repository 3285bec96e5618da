"""Padding and truncation of variable-length sequences: Keras's ``pad_sequences`` rule, made total.

Every input either gives the documented result or a ``ValueError`` /
``TypeError`` naming the argument, with the same class and message in every
backend. Plain data (Python lists, tuples, NumPy arrays) is read by one rule,
:func:`maskref.api._sequences.read_sequences`; a backend reads its own tensors
(ragged tensors, lists of tensors, nested tensors) itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from .checks import (
    INT64_MAX,
    PADDING_SIDES,
    check_choice,
    check_data,
    check_lengths_dtype,
    check_min_rank,
    check_nbytes,
)
from .core import Backend, frontend
from .dtypes import dtype_name, resolve_dtype
from .types import Array, ArrayLike, DTypeLike, Scalar
from .values import check_at_most, check_lengths

#: The dtypes (by name) that every backend pads; the reference also pads strings and objects.
FRAMEWORK_DTYPES = (
    "bool",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)


def target_dtype(dtype: DTypeLike) -> str:
    """``dtype`` (a name, a NumPy dtype or type, a ``tf.DType``, a ``torch.dtype``) as the name
    every backend reads: ``"int32"``, ``"bfloat16"``; string and object dtypes as NumPy
    spells them (``"<U5"``, ``"|S3"``, ``"object"``). Anything else is a ``TypeError``.

    >>> target_dtype("int32"), target_dtype(np.float16), target_dtype(str)
    ('int32', 'float16', '<U0')
    """
    if not isinstance(dtype, (str, np.dtype)) and getattr(dtype, "name", None) == "string":
        return "object"  # tf.string
    if dtype_name(dtype) == "bfloat16":
        return "bfloat16"  # NumPy knows it only through ml_dtypes
    np_dtype = resolve_dtype(dtype)
    if np_dtype.kind in "US":
        return np_dtype.str
    if np_dtype.kind == "O":
        return "object"
    if np_dtype.name not in FRAMEWORK_DTYPES:
        raise TypeError(
            f"dtype={dtype!r} is not a dtype maskref pads: use a bool, integer, float or "
            f"complex dtype, or (in the reference) a string or object dtype"
        )
    return np_dtype.name


def is_string_dtype(name: str) -> bool:
    """True for the names of string and object dtypes (``"<U5"``, ``"|S3"``, ``"object"``)."""
    return name == "object" or name[1:2] in ("U", "S")


def holds_strings(B: Backend) -> bool:
    """Whether ``B`` pads strings and objects (its padding kernels say so)."""
    return bool(getattr(B.module("padding"), "HOLDS_STRINGS", False))


def strings_error(name: str, dtype: str) -> TypeError:
    """The error for string or object data (or dtypes) given to a framework backend."""
    return TypeError(
        f"{name} has dtype {dtype}: strings and objects are padded only by the reference "
        f"backend (NumPy); tf_impl and torch_impl pad numbers"
    )


def _check_numeric_data(B: Backend, x: object, name: str) -> None:
    """Refuse string/object data before a framework backend converts it."""
    if holds_strings(B) or B.a.is_tensor(x):
        return
    dtype = getattr(x, "dtype", None)
    if not isinstance(dtype, np.dtype):
        dtype = np.asarray(x).dtype
    if dtype.kind in "OUSV" and dtype.name != "bfloat16":
        raise strings_error(name, str(dtype))


def itemsize(dtype: str) -> int:
    """Bytes per element of a dtype name (``bfloat16``: 2)."""
    if dtype in ("bfloat16", "string"):
        return 2 if dtype == "bfloat16" else 8
    try:
        return max(1, np.dtype(dtype).itemsize)
    except TypeError:
        return 1


def check_padded_size(
    batch: int, width: int, inner: Sequence[int], dtype: str, maxlen: int | None, by: str
) -> None:
    """Refuse a padded result of shape ``(batch, width, *inner)`` that cannot fit in memory,
    before allocating it (``ValueError`` naming ``maxlen``, or ``by`` when ``maxlen`` is None
    and the width is the longest row)."""
    name, value = ("maxlen", maxlen) if maxlen is not None else (by, width)
    check_nbytes((batch, width, *inner), itemsize(dtype), name, value)


def rows_mismatch_error(count: object, rows: object) -> ValueError:
    """The error for ``unpad_sequences`` lengths that are not one per row."""
    return ValueError(f"lengths has {count} entries but padded has {rows} rows")


def as_lengths(B: Backend, lengths: ArrayLike, name: str = "lengths") -> Array:
    """``lengths`` as the backend's int64 array of shape ``(B,)``: an integer dtype (a
    ``TypeError`` otherwise; ``[]`` is an empty batch), one axis (``ValueError``), every
    value from 0 to ``2**63 - 1`` (``ValueError`` naming ``name``)."""
    lengths = B.a.asarray(lengths, name)
    shape = B.a.shape_of(lengths)
    dtype = B.a.dtype_name(lengths)
    check_lengths_dtype(dtype, shape, name, rank=1)
    if 0 in shape and dtype == "float64":  # `[]` reads as float64
        lengths = B.a.asarray(np.zeros(shape, np.int64), name, like=lengths)
    return B.a.to_int64(check_lengths(B, lengths, name))


def _check_batch(sequences: object) -> None:
    """``sequences`` must be an iterable of rows (not a string, a mapping, a set, a scalar)."""
    check_data(sequences, "sequences")
    if isinstance(sequences, (str, bytes, Mapping, AbstractSet)) or not (
        isinstance(sequences, Iterable) or hasattr(sequences, "__getitem__")
    ):
        raise TypeError(
            f"sequences must be an iterable of sequences, got {type(sequences).__name__}"
        )
    try:
        shape = getattr(sequences, "shape", None)
    except RuntimeError:  # a strided torch.nested tensor has no sizes
        shape = None
    if shape is not None and not isinstance(shape, int) and len(tuple(shape)) == 0:
        raise TypeError("sequences must be an iterable of sequences, got a 0-d array")


def _with_dtype_hint(err: ValueError, dtype: str) -> ValueError:
    """A lossy cast of the data gets a hint: the result's dtype is ``dtype`` (int32 unless
    told otherwise)."""
    text = str(err)
    if text.startswith("sequences: ") and " cannot be cast to " in text:
        return ValueError(
            f"{text}; the result has dtype {dtype} (pad_sequences's default is int32): "
            f"pass dtype= (e.g. dtype='float32') to pad other values"
        )
    return err


@frontend
def pad_sequences(
    B: Backend,
    sequences: Iterable[Sequence] | ArrayLike,
    maxlen: int | None = None,
    dtype: DTypeLike = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Scalar = 0.0,
) -> Array:
    """Pad (and truncate) variable-length sequences into one ``(B, maxlen, ...)`` array.

    Rule (Keras's, made total):

    * ``maxlen`` defaults to the longest length (0 for an empty batch); it must
      be ``None`` or an int >= 0. ``maxlen=0`` gives a ``(B, 0)`` batch.
    * A sequence longer than ``maxlen`` keeps its last ``maxlen`` steps
      (``truncating="pre"``) or its first ones (``"post"``).
    * The kept steps go at the end of the row (``padding="pre"``, the Keras
      default) or at the start (``"post"``); the rest of the row is ``value``:
      ``out[i, maxlen - k_i + t] = kept_i[t]`` (pre) or ``out[i, t] = kept_i[t]``
      (post), for ``t < k_i = min(len(s_i), maxlen)``.
    * Steps may be scalars or arrays (vectors, ...): every non-empty sequence
      must have the same inner shape, which the result keeps as trailing axes.
    * Every element must be a bool, an integer or a float (Python or NumPy);
      a string, bytes, ``Decimal`` or other object is a ``ValueError`` wherever
      it stands, and a row that is a string, a dict, a set or a scalar is a
      ``TypeError``.
    * The result has exactly ``dtype`` (a name, a NumPy, TensorFlow or torch
      dtype; ``"bfloat16"`` too). Data and ``value`` are cast by the
      lossless-cast rule of :mod:`maskref.api.dtypes`, element by element
      (integers never pass through float64): ``1.5`` or ``NaN`` into an integer
      dtype is a ``ValueError``, never a silent truncation. In the reference,
      ``dtype=str`` (width 0) is sized to fit the longest string and ``value``;
      a fixed width that would cut a string is a ``ValueError``;
      ``dtype=object`` keeps any Python object.
    * ``padding`` and ``truncating`` are checked even when nothing is padded
      or truncated; a result too large for memory is a ``ValueError`` before
      anything is allocated. Inputs are never modified.

    >>> pad_sequences([[1, 2, 3], [4, 5], [1, 4, 8, 19]], padding="post")
    array([[ 1,  2,  3,  0],
           [ 4,  5,  0,  0],
           [ 1,  4,  8, 19]], dtype=int32)
    >>> pad_sequences([[1], [2, 3]], maxlen=0).shape
    (2, 0)
    >>> pad_sequences([[1.0, 2**53 + 1]], dtype="int64")[0, 1] == 2**53 + 1
    np.True_
    """
    _check_batch(sequences)
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = B.a.check_maxlen(maxlen)
    target = target_dtype(dtype)
    if is_string_dtype(target) and not holds_strings(B):
        raise strings_error("dtype", target)
    try:
        return B.k.pad_sequences(sequences, maxlen, target, padding, truncating, value)
    except ValueError as err:
        raise _with_dtype_hint(err, target) from None


@frontend
def pad_flat(
    B: Backend,
    values: ArrayLike,
    lengths: ArrayLike,
    maxlen: int | None = None,
    padding: str = "pre",
    truncating: str = "pre",
    value: Scalar = 0,
) -> Array:
    """Pad sequences given as one concatenated buffer plus their lengths.

    ``values`` has shape ``(sum(lengths), *inner)``; row ``i`` is
    ``values[sum(lengths[:i]) : sum(lengths[:i + 1])]``. The result has shape
    ``(B, maxlen, *inner)`` and ``values``'s dtype; ``value`` is cast to it by
    the lossless-cast rule. Truncation and padding follow ``pad_sequences``.
    ``lengths`` are integers from 0 to ``2**63 - 1`` (``[]`` is an empty
    batch); their sum must be ``len(values)`` (computed without overflow), and
    a result too large for memory is a ``ValueError`` naming ``maxlen`` (or
    ``max(lengths)``) and its size in bytes, before anything is allocated.

    >>> pad_flat(np.array([1, 2, 3, 4]), np.array([3, 1]), padding="post")
    array([[1, 2, 3],
           [4, 0, 0]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = B.a.check_maxlen(maxlen)
    check_data(values, "values")
    _check_numeric_data(B, values, "values")
    like = lengths if B.a.is_tensor(lengths) else None  # on lengths's device if not a tensor
    values = B.a.asarray(values, "values", like=like)
    shape = B.a.shape_of(values)
    check_min_rank(shape, 1, "values")
    dtype = B.a.dtype_name(values)
    if dtype == "string" and not holds_strings(B):
        raise strings_error("values", dtype)
    lengths = as_lengths(B, lengths)
    _check_total(B, lengths, shape[0])
    count = B.a.shape_of(lengths)[0]
    width = maxlen if maxlen is not None else B.a.longest(lengths)
    if isinstance(width, int) and count is not None and None not in shape[1:]:
        check_padded_size(count, width, shape[1:], dtype, maxlen, "max(lengths)")
    return B.k.pad_flat(values, lengths, maxlen, padding, truncating, value)


def _check_total(B: Backend, lengths: Array, steps: int | None) -> None:
    """Require ``sum(lengths) == steps`` without letting the sum wrap around: each length
    must first be at most ``steps``, so the int64 sum cannot overflow unless the batch
    size times ``steps`` exceeds ``2**63 - 1`` (then the sum is taken in Python ints).
    With ``steps`` unknown (while tracing) the backend asserts the sum itself."""
    if steps is None:
        return
    count = B.a.shape_of(lengths)[0]
    error = total_error(B, lengths, steps)
    B.require(B.a.all(lengths <= steps), error, TOTAL_MESSAGE)
    if count is None or count * steps <= INT64_MAX:
        B.require(B.a.total(lengths) == steps, error, TOTAL_MESSAGE)
    else:
        B.require(_exact_total(B, lengths) == steps, error, TOTAL_MESSAGE)


#: What a graph-mode assertion of the sum of lengths says.
TOTAL_MESSAGE = "lengths must sum to the number of steps in values"


def _exact_total(B: Backend, lengths: Array) -> int:
    return int(np.asarray(B.a.numpy(lengths)).astype(object).sum())


def total_error(B: Backend, lengths: Array, steps: object):
    """The error (a factory, for ``B.require``) for lengths that do not sum to ``steps``."""

    def error() -> ValueError:
        total = _exact_total(B, lengths)
        return ValueError(f"lengths sum to {total} but values has {steps} steps")

    return error


@frontend
def unpad_sequences(
    B: Backend, padded: ArrayLike, lengths: ArrayLike, padding: str = "post"
) -> list[Array]:
    """Split a padded batch back into its valid parts: the inverse of padding.

    Rule: row ``i`` gives ``padded[i, :lengths[i]]`` (``padding="post"``) or
    ``padded[i, T - lengths[i]:]`` (``"pre"``), where ``T = padded.shape[1]``.
    ``lengths`` must be integers in ``[0, T]``, one per row (``[]`` for an
    empty batch gives ``[]``). The parts are copies, so changing them never
    changes ``padded``.

    >>> unpad_sequences(np.array([[1, 2, 0], [3, 0, 0]]), [2, 1])
    [array([1, 2]), array([3])]
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_data(padded, "padded")
    _check_numeric_data(B, padded, "padded")
    padded = B.a.asarray(padded, "padded")
    shape = B.a.shape_of(padded)
    check_min_rank(shape, 2, "padded")
    if B.a.dtype_name(padded) == "string" and not holds_strings(B):
        raise strings_error("padded", "string")
    lengths = as_lengths(B, lengths)
    count, rows = B.a.shape_of(lengths)[0], shape[0]
    if count is not None and rows is not None and count != rows:
        raise rows_mismatch_error(count, rows)
    if shape[1] is not None:
        check_at_most(B, lengths, shape[1], "lengths", "padded.shape[1]")
    return B.k.unpad_sequences(padded, lengths, padding)

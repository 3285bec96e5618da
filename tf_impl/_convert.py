"""Conversions for the TensorFlow backend: tensors in, dtypes resolved, casts checked.

Everything here mirrors :mod:`reference._dtypes` on ``tf.Tensor`` data:

* :func:`as_tensor` turns tensors, NumPy arrays and (nested) lists into a
  dense ``tf.Tensor``; lists go through ``np.asarray`` first so that they get
  the reference's dtypes (int64 / float64), not TensorFlow's (int32 / float32).
* :func:`resolve_dtype` reads ``"int32"``, ``np.dtype`` and ``tf.DType``.
* :func:`cast_tensor` and :func:`cast_fill` apply the lossless-cast rule.

Data-dependent checks raise ``ValueError`` / ``TypeError`` in eager mode; in a
``tf.function`` they become ``tf.debugging.Assert`` ops (see :func:`require`),
which the caller attaches to its result with :func:`with_checks`.
"""

from __future__ import annotations

import functools
import typing
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import tensorflow as tf

from maskref.api.checks import check_data
from maskref.api.checks import check_maxlen as _check_maxlen
from maskref.api.dtypes import cast_scalar, lossy_cast_error
from maskref.api.dtypes import resolve_dtype as _reference_resolve_dtype

__all__ = [
    "as_tensor",
    "cast_fill",
    "cast_tensor",
    "eager",
    "np_dtype",
    "python_errors",
    "reference_only_error",
    "require",
    "resolve_dtype",
    "static_shape",
    "tf_dtype",
    "with_checks",
]

Checks = list  # a list of assert ops (always empty in eager mode)
F = TypeVar("F", bound=Callable)


def _name(fn: Callable) -> str:
    """A function's name, also for a ``functools.partial`` (a bound front end)."""
    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "?")
    return typing.cast(str, name)


def python_errors(fn: F) -> F:
    """Let no ``tf.errors.OpError`` out of a public function.

    The checks run before any op, so this is a safety net: an op that still
    fails (eager mode) raises ``ValueError``, or ``MemoryError`` when TensorFlow
    cannot allocate the result (NumPy's error for the same input).
    """

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except tf.errors.ResourceExhaustedError as err:
            raise MemoryError(f"{_name(fn)}: {err.message}") from None
        except tf.errors.OpError as err:
            raise ValueError(f"{_name(fn)}: {err.message}") from None

    return wrapper  # type: ignore[return-value]


def eager() -> bool:
    """True when ops run eagerly (data-dependent checks raise Python errors)."""
    return tf.executing_eagerly()


def require(ok: object, error: Callable[[], Exception], message: str) -> Checks:
    """Check a data-dependent condition.

    Eager: raise ``error()`` unless ``ok`` (a boolean scalar tensor) holds.
    Graph: return ``[tf.debugging.Assert(ok, [message])]`` for :func:`with_checks`.
    ``error`` is only called on failure, so it may read tensor values.
    """
    if eager():
        if not bool(ok):
            raise error()
        return []
    return [tf.debugging.Assert(ok, [message])]


def with_checks(result: object, checks: Sequence) -> object:
    """``result`` (a tensor or a list of tensors) that runs after ``checks``."""
    if not checks:
        return result
    with tf.control_dependencies(list(checks)):
        return tf.nest.map_structure(
            lambda r: tf.identity(r) if isinstance(r, tf.Tensor) else r, result
        )


def reference_only_error(name: str, dtype: object) -> TypeError:
    return TypeError(
        f"{name}={dtype} is a string or object dtype; only the reference backend "
        f"(reference.pad_sequences and friends, NumPy) supports those, not tf_impl"
    )


def as_tensor(value: object, name: str) -> tf.Tensor:
    """``value`` as a dense ``tf.Tensor``; lists and arrays keep NumPy's dtypes.

    A tensor is returned as it is (never copied, never modified). A ragged or
    sparse tensor is refused (``TypeError``), as is data TensorFlow cannot hold
    (object arrays, datetimes). Nested lists of unequal lengths raise NumPy's
    ``ValueError``, as in the reference.
    """
    if isinstance(value, tf.Tensor):
        return value
    if isinstance(value, tf.Variable):
        return tf.convert_to_tensor(value)
    if isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(
            f"{name} must be a dense tensor, array or list, got a {type(value).__name__}"
        )
    arr = np.asarray(value)
    if arr.dtype.kind not in "biufcUS":
        raise TypeError(
            f"{name} has dtype {arr.dtype}, which tf_impl does not support; "
            f"only the reference backend (NumPy) does"
        )
    return tf.convert_to_tensor(arr)


def static_shape(t: tf.Tensor, name: str) -> tuple[int | None, ...]:
    """The static shape as a tuple (``None`` for unknown sizes); the rank must be known."""
    if t.shape.rank is None:
        raise ValueError(f"{name} must have a known rank (a tensor of unknown rank was given)")
    return tuple(t.shape.as_list())


def resolve_dtype(dtype: object, name: str = "dtype") -> np.dtype:
    """Like ``reference._dtypes.resolve_dtype``, and also reads a ``tf.DType``.

    >>> resolve_dtype(tf.int32)
    dtype('int32')
    """
    if isinstance(dtype, tf.DType):
        if dtype == tf.string:
            return np.dtype(object)
        try:
            return np.dtype(dtype.as_numpy_dtype)
        except TypeError:
            raise TypeError(f"{name}={dtype!r} is not a dtype maskref understands") from None
    return _reference_resolve_dtype(dtype, name)


def tf_dtype(dtype: np.dtype, name: str = "dtype") -> tf.DType:
    """The ``tf.DType`` for a numeric ``np.dtype``; strings/objects raise ``TypeError``."""
    if dtype.kind in "OUS":
        raise reference_only_error(name, dtype)
    try:
        return tf.as_dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}={dtype} has no TensorFlow equivalent") from None


def np_dtype(dtype: tf.DType) -> np.dtype:
    """The ``np.dtype`` of a ``tf.DType`` (``tf.string`` gives ``object``)."""
    if dtype == tf.string:
        return np.dtype(object)
    return np.dtype(dtype.as_numpy_dtype)


def _dtype_label(dtype: tf.DType) -> np.dtype | str:
    """How the reference's messages print a dtype (``int32``, ``float16``, ...)."""
    try:
        return np_dtype(dtype)
    except TypeError:
        return dtype.name


def _first_bad(t: tf.Tensor, bad: tf.Tensor) -> object:
    item = tf.boolean_mask(tf.reshape(t, [-1]), tf.reshape(bad, [-1]))[0].numpy()
    return item.item() if hasattr(item, "item") else item


def _checked(
    result: tf.Tensor, source: tf.Tensor, bad: tf.Tensor, name: str, dtype: tf.DType, why: str
) -> tf.Tensor:
    """``result`` if no element of ``bad`` is set; else the reference's ``ValueError``."""
    label = _dtype_label(dtype)
    checks = require(
        tf.logical_not(tf.reduce_any(bad)),
        lambda: lossy_cast_error(name, _first_bad(source, bad), label, why),
        f"{name} value cannot be cast to {label} without loss: {why}",
    )
    return with_checks(result, checks)


def _round_via_odd(t: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """float64 -> float16/bfloat16 rounded once, to nearest (even).

    ``tf.cast`` goes through float32 and so rounds twice (``1 + 2**-11 + 2**-40``
    becomes 1.0 instead of NumPy's 1.0009765625). Rounding to float32 *to odd*
    first makes the second rounding exact.
    """
    f32 = tf.cast(t, tf.float32)
    back = tf.cast(f32, tf.float64)
    inexact = tf.logical_and(back != t, tf.logical_not(tf.math.is_nan(t)))
    bits = tf.bitcast(f32, tf.int32)
    away = tf.logical_and(inexact, tf.abs(back) > tf.abs(t))
    bits = tf.where(away, bits - 1, bits)  # toward zero: the truncated float32
    bits = tf.where(inexact, tf.bitwise.bitwise_or(bits, 1), bits)  # sticky bit
    return tf.cast(tf.bitcast(bits, tf.float32), dtype)


def cast_tensor(t: tf.Tensor, dtype: tf.DType, name: str) -> tf.Tensor:
    """Cast ``t`` to ``dtype`` by the lossless-cast rule of :mod:`reference._dtypes`.

    float -> int: values must be finite, integral and in range; int -> int: in
    range; anything -> bool: only 0 and 1; complex -> real: no imaginary part.
    Float targets round to nearest (the accepted loss). Otherwise ``ValueError``
    in eager mode, a failing assertion in a ``tf.function``.
    """
    src = t.dtype
    if src == dtype:
        return t
    if dtype == tf.string:
        raise reference_only_error("dtype", "str")
    if src == tf.string:
        raise ValueError(f"{name} holds string values; they cannot be cast to {dtype.name}")
    if src.is_complex:
        if dtype.is_complex:
            return tf.cast(t, dtype)
        real = tf.math.real(t)
        real = _checked(real, t, tf.math.imag(t) != 0, name, dtype, "it has an imaginary part")
        return cast_tensor(real, dtype, name)
    if dtype.is_bool:
        zero, one = tf.zeros([], src), tf.ones([], src)
        bad = tf.logical_and(t != zero, t != one)
        return _checked(tf.cast(t, dtype), t, bad, name, dtype, "only 0 and 1 are booleans")
    if dtype.is_integer:
        if src.is_bool:
            return tf.cast(t, dtype)
        if src.is_floating:
            wide = t if src == tf.float64 else tf.cast(t, tf.float64)
            bad = tf.logical_or(
                tf.logical_not(tf.math.is_finite(wide)), tf.math.floor(wide) != wide
            )
            bad = tf.logical_or(bad, wide < float(dtype.min))
            bad = tf.logical_or(bad, wide >= float(dtype.max) + 1.0)
        elif src.is_integer:
            if src.min >= dtype.min and src.max <= dtype.max:
                return tf.cast(t, dtype)
            lo, hi = max(dtype.min, src.min), min(dtype.max, src.max)
            bad = tf.logical_or(t < tf.constant(lo, src), t > tf.constant(hi, src))
        else:
            raise TypeError(f"{name} has dtype {src.name}, which cannot be cast to {dtype.name}")
        return _checked(tf.cast(t, dtype), t, bad, name, dtype, "it is not an integer in range")
    if dtype.is_floating or dtype.is_complex:
        if src == tf.float64 and dtype in (tf.float16, tf.bfloat16):
            return _round_via_odd(t, dtype)
        return tf.cast(t, dtype)
    raise TypeError(f"{name}: casting {src.name} to {dtype.name} is not supported")


def cast_fill(
    value: object, dtype: tf.DType, name: str, *, allow_string: bool = False
) -> tf.Tensor:
    """One fill value as a scalar tensor of ``dtype``, by the lossless-cast rule.

    Python and NumPy scalars (and eager 0-d tensors) go through
    ``reference._dtypes.cast_scalar``, so they give the reference's exact
    errors. A symbolic tensor (inside ``tf.function``) is cast with
    :func:`cast_tensor`. ``tf.string`` data accepts ``str``/``bytes`` values
    only where ``allow_string`` (``apply_mask``); elsewhere strings are
    reference-only.
    """
    if dtype == tf.string:
        if not allow_string:
            raise reference_only_error("dtype", "str")
        if isinstance(value, (str, bytes, np.str_, np.bytes_)):
            return tf.constant(value, tf.string)
        raise ValueError(
            f"{name}={value!r} is not a string, but dtype is string; pass a string "
            f"{name} such as '' or '<pad>'"
        )
    if isinstance(value, (tf.Tensor, tf.Variable)) and not eager():
        t = tf.convert_to_tensor(value)
        if t.shape.rank != 0:
            raise TypeError(f"{name} must be a scalar, got {value!r}")
        return cast_tensor(t, dtype, name)
    target = np_dtype(dtype)
    if target.kind not in "biufc":  # bfloat16 and other TF-only dtypes
        fill = cast_scalar(value, np.dtype(np.float64 if dtype.is_floating else object), name)
        return cast_tensor(tf.constant(fill), dtype, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float overflow to inf is the rule
        fill = cast_scalar(value, target, name)
    return tf.constant(fill, dtype=dtype)


# --- the adapter every backend supplies to the front ends (maskref.api) ----------------------


def asarray(x: object, name: str, like: object = None) -> tf.Tensor:
    """``x`` as a dense tensor (:func:`as_tensor`); ``None`` is a ``TypeError`` naming ``name``."""
    check_data(x, name)
    return as_tensor(x, name)


def shape_of(x: object) -> tuple[int | None, ...]:
    """The static shape of a tensor (``None`` for sizes unknown while tracing), or the shape
    of what ``np.asarray`` would make of ``x``."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return static_shape(tf.convert_to_tensor(x), "x")
    if isinstance(x, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(f"x must be a dense tensor, array or list, got a {type(x).__name__}")
    value: Any = x  # any array-like
    return tuple(np.shape(value))


def dtype_name(x: tf.Tensor) -> str:
    """The dtype's name as :mod:`maskref.api.checks` reads it (``"int64"``, ``"bool"``;
    ``tf.string`` is ``"str"``, as the reference names string data)."""
    return "str" if x.dtype == tf.string else x.dtype.name


def all(x: tf.Tensor) -> tf.Tensor:
    """A boolean scalar: every element is true (symbolic inside ``tf.function``)."""
    return tf.reduce_all(x)


def in_int64(t: tf.Tensor) -> tf.Tensor:
    """Per element: an integer from 0 to ``2**63 - 1`` (what int64 holds)."""
    if t.dtype == tf.uint64:
        return t <= tf.constant(2**63 - 1, tf.uint64)
    if t.dtype.is_unsigned or t.dtype == tf.bool:
        return tf.ones_like(t, dtype=tf.bool)
    return t >= tf.zeros([], t.dtype)


def numpy(t: tf.Tensor) -> np.ndarray:
    """The values as a NumPy array (eager only; for error messages)."""
    return t.numpy()


def check_maxlen(maxlen: object, name: str = "maxlen") -> int | tf.Tensor | None:
    """:func:`maskref.api.checks.check_maxlen`, plus integer scalar tensors: an eager one is
    read as its value, a symbolic one (inside ``tf.function``) is cast to int64 and checked
    by an assertion."""
    if isinstance(maxlen, (tf.Tensor, tf.Variable)):
        if maxlen.shape.rank != 0 or not maxlen.dtype.is_integer:
            raise TypeError(
                f"{name} must be None or a non-negative int, got {maxlen!r} "
                f"of type {type(maxlen).__name__}"
            )
        if eager():
            return _check_maxlen(int(maxlen), name)
        from ._backend import require as hook

        symbolic = tf.cast(maxlen, tf.int64)
        hook(
            symbolic >= 0,
            lambda: ValueError(f"{name} must be non-negative"),
            f"{name} must be non-negative",
        )
        return symbolic
    return _check_maxlen(maxlen, name)


def is_tensor(x: object) -> bool:
    """True for a ``tf.Tensor`` or ``tf.Variable``."""
    return isinstance(x, (tf.Tensor, tf.Variable))


def is_symbolic(x: object) -> bool:
    """True for a tensor inside ``tf.function``, whose value is unknown while tracing."""
    return is_tensor(x) and not eager()


def longest(lengths: tf.Tensor) -> int | tf.Tensor:
    """``max(lengths)``, 0 for no lengths: a Python int in eager mode (lengths already
    checked to fit in int64)."""
    flat = tf.concat([tf.reshape(tf.cast(lengths, tf.int64), [-1]), tf.zeros([1], tf.int64)], 0)
    top = tf.reduce_max(flat)
    return int(top) if eager() else top


def int64(t: tf.Tensor) -> tf.Tensor:
    """An integer tensor as int64 (its values already checked to fit)."""
    return tf.cast(t, tf.int64)


def dim(x: tf.Tensor, axis: int) -> int | tf.Tensor:
    """The size of ``axis``: a Python int when known statically, else (inside
    ``tf.function``) a 0-d int64 tensor."""
    size = x.shape[axis]
    return int(size) if size is not None else tf.shape(x, out_type=tf.int64)[axis]


def to_int64(x: tf.Tensor) -> tf.Tensor:
    """Integers already checked to fit in int64, as int64."""
    return x if x.dtype == tf.int64 else tf.cast(x, tf.int64)


def total(x: tf.Tensor) -> tf.Tensor:
    """The int64 sum of ``x`` (callers check first that it cannot wrap around)."""
    return tf.reduce_sum(tf.cast(x, tf.int64))


def device(value: object) -> str | None:
    """Where results are made: None (TensorFlow's default placement) or a device string
    (``"cpu"``, ``"/GPU:0"``) or ``tf.DeviceSpec``, returned as a string; anything else is a
    ``ValueError`` naming ``device``."""
    if value is None:
        return None
    if isinstance(value, tf.DeviceSpec):
        value = value.to_string()
    if isinstance(value, str):
        try:
            tf.DeviceSpec.from_string(value)
            return value
        except ValueError:
            pass
    raise ValueError(
        f"device={value!r} is not a TensorFlow device; pass None or a device string "
        f"such as 'cpu', '/CPU:0' or 'GPU:0'"
    )


def dense_rows(x: object) -> tf.Tensor | None:
    """A ``tf.RaggedTensor`` as a dense tensor, short rows padded with 0 on the right (also
    inside ``tf.function``); None for anything else."""
    if isinstance(x, tf.RaggedTensor):
        return x.to_tensor(default_value=tf.zeros([], x.dtype))
    return None


def cast(x: tf.Tensor, dtype: str) -> tf.Tensor:
    """``x`` as ``dtype`` (a name); callers cast only values the dtype holds."""
    return tf.cast(x, tf.as_dtype(dtype))

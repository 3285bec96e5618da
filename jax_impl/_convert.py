"""Conversions for the JAX backend: inputs to ``jax.Array``, dtype names, the adapter.

JAX runs in 32-bit mode unless ``jax_enable_x64`` is on: NumPy's int64 and
float64 data become int32 and float32. Floats round (the accepted loss of the
lossless-cast rule); integers that 32 bits cannot hold are a ``ValueError``
naming the argument, never a silent wrap-around. Under ``jax.jit`` values
cannot be read: the value checks of the front ends are skipped there (see
:func:`jax_impl._backend.require`), and sizes that decide shapes must be
Python ints (static arguments).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maskref.api import dtypes as ref_dtypes
from maskref.api.checks import INT64_MAX, check_data
from maskref.api.checks import check_maxlen as _check_maxlen


def x64() -> bool:
    """True when JAX keeps 64-bit dtypes (``jax_enable_x64``)."""
    return bool(jax.config.jax_enable_x64)


def canonical(dtype: np.dtype) -> np.dtype:
    """The dtype JAX stores ``dtype`` as: 64-bit types narrowed to 32 bits without x64."""
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def is_tensor(x: object) -> bool:
    """True for a ``jax.Array`` (a tracer included)."""
    return isinstance(x, jax.Array)


def is_symbolic(x: object) -> bool:
    """True for a tracer (inside ``jit``, ``vmap``, ``grad``...), whose values are unknown."""
    return isinstance(x, jax.core.Tracer)


def to_jax(x: object, name: str) -> Any:
    """``x`` as a ``jax.Array`` (a JAX array is returned as is).

    Lists and arrays keep NumPy's dtypes, narrowed to 32 bits without x64;
    integer values that do not fit are a ``ValueError``. String and object
    data stay NumPy arrays: the front ends' dtype checks name them.
    """
    if isinstance(x, jax.Array):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "OUSV":
        return arr
    check_fits(arr, name)
    return jnp.asarray(arr, dtype=canonical(arr.dtype))


def check_fits(arr: np.ndarray, name: str) -> None:
    """``ValueError`` naming ``name`` when an integer of ``arr`` does not fit the dtype JAX
    stores it as (int32 without x64): JAX would wrap it around silently."""
    target = canonical(arr.dtype)
    if target != arr.dtype and arr.dtype.kind in "iu" and arr.size:
        info = np.iinfo(target)
        lo, hi = arr.min(), arr.max()
        if lo < info.min or hi > info.max:
            bad = lo if lo < info.min else hi
            raise ValueError(
                f"{name} holds {bad}, which JAX's default {target} cannot hold; "
                f"turn on jax_enable_x64 for 64-bit integers"
            )


# --- the adapter every backend supplies to the front ends (maskref.api) ----------------------


def asarray(x: object, name: str, like: object = None) -> Any:
    """``x`` as a ``jax.Array`` (:func:`to_jax`); ``None`` is a ``TypeError`` naming ``name``."""
    check_data(x, name)
    return to_jax(x, name)


def shape_of(x: object) -> tuple[int, ...]:
    """The shape (static in JAX, also under ``jit``)."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def dtype_name(x: Any) -> str:
    """The dtype's name as :mod:`maskref.api.checks` reads it (``"int32"``, ``"bool"``)."""
    return ref_dtypes.dtype_label(np.dtype(x.dtype))


def check_maxlen(maxlen: object, name: str = "maxlen") -> int | None:
    """:func:`maskref.api.checks.check_maxlen`; a traced ``maxlen`` is refused, since it
    decides a shape: pass a Python int (a static argument of ``jit``)."""
    if is_symbolic(maxlen):
        raise TypeError(
            f"{name} decides a shape, so under jax.jit it must be a Python int "
            f"(mark it static), not a traced value"
        )
    return _check_maxlen(maxlen, name)


def all(x: Any) -> Any:
    """A boolean scalar: every element is true (a tracer under ``jit``)."""
    return jnp.all(x)


def in_int64(t: Any) -> Any:
    """Per element: an integer from 0 to ``2**63 - 1`` (what int64 holds)."""
    if t.dtype == jnp.uint64:
        return t <= jnp.asarray(INT64_MAX, jnp.uint64)
    if jnp.issubdtype(t.dtype, jnp.unsignedinteger) or t.dtype == jnp.bool_:
        return jnp.ones(t.shape, bool)
    return t >= 0


def numpy(t: Any) -> np.ndarray:
    """The values as a NumPy array (outside ``jit``; for error messages)."""
    return np.asarray(t)


def longest(lengths: Any) -> int:
    """``max(lengths)``, 0 for no lengths, as a Python int; under ``jit`` the size is
    unknown, so the caller must give ``maxlen``."""
    if is_symbolic(lengths):
        raise TypeError(
            "maxlen decides the result's shape: under jax.jit pass it as a Python int "
            "(a static argument), it cannot be read from traced lengths"
        )
    return int(np.asarray(lengths).max()) if lengths.size else 0


def cast_fill(value: object, dtype: Any, name: str) -> Any:
    """One fill value cast to ``dtype`` by the lossless-cast rule, as a 0-d array."""
    target = np.dtype(dtype)
    if target.name == "bfloat16":
        return jnp.asarray(ref_dtypes.cast_scalar(value, np.dtype(np.float64), name), target)
    return jnp.asarray(ref_dtypes.cast_scalar(value, target, name), target)


def int64(t: Any) -> Any:
    """Integers already checked to fit in int64, as int64 (int32 without x64)."""
    return t.astype(canonical(np.dtype(np.int64)))


to_int64 = int64


def dim(x: Any, axis: int) -> int:
    """The size of ``axis`` (a Python int: shapes are static in JAX)."""
    return int(x.shape[axis])


def total(x: Any) -> Any:
    """The sum of ``x`` in the widest integer JAX holds (callers check it cannot wrap)."""
    return jnp.sum(x, dtype=canonical(np.dtype(np.int64)))


def device(value: object) -> Any:
    """Where results are made: None, a ``jax.Device`` or a platform name (``"cpu"``)."""
    if value is None or isinstance(value, jax.Device):
        return value
    if isinstance(value, str):
        try:
            return jax.devices(value)[0]
        except RuntimeError:
            pass
    raise ValueError(f"device={value!r} is not a JAX device (None, a jax.Device or a platform)")


def dense_rows(x: object) -> None:
    """JAX has no ragged array type: always None."""
    return None


def astype_once(x: Any, dtype: Any) -> Any:
    """``x.astype(dtype)``, rounded once: XLA on the CPU converts float64 to float16 and
    bfloat16 through float32, rounding twice (``1 + 2**-11 + 2**-40`` gives 1.0, not
    ``1 + 2**-10``). Rounding to float32 *to odd* first (truncate, then set the last bit
    of an inexact result) leaves the second rounding the only one that counts."""
    dtype = jnp.dtype(dtype)
    if x.dtype != jnp.float64 or dtype not in (jnp.float16, jnp.bfloat16):
        return x.astype(dtype)
    return _round_once(x, dtype)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _round_once(x: Any, dtype: Any) -> Any:
    near = x.astype(jnp.float32)
    back = near.astype(jnp.float64)
    bits = jax.lax.bitcast_convert_type(near, jnp.uint32)
    toward_zero = jnp.where(jnp.abs(back) > jnp.abs(x), bits - 1, bits)  # |near| one step less
    odd = jnp.where(back == x, bits, toward_zero | 1)  # exact, or inexact: the sticky bit
    odd = jnp.where(jnp.isnan(x) | jnp.isinf(near), bits, odd)
    return jax.lax.bitcast_convert_type(odd, jnp.float32).astype(dtype)


@_round_once.defjvp
def _round_once_jvp(dtype: Any, primals: tuple, tangents: tuple) -> tuple:
    return _round_once(primals[0], dtype), tangents[0].astype(dtype)  # a cast's derivative


def cast(x: Any, dtype: str) -> Any:
    """``x`` as ``dtype`` (a name), narrowed to 32 bits without x64."""
    return x.astype(canonical(np.dtype(dtype)))

"""The dtype rule shared by every backend: casts never lose information silently.

``pad_sequences`` and ``apply_mask`` convert data and fill values to a target
dtype. NumPy, TensorFlow and PyTorch all cast unsafely (``1.7`` becomes ``1``,
``NaN`` becomes ``-2147483648``, ``300`` becomes ``44`` in ``uint8``). maskref
refuses every cast that changes a value, except float rounding:

==================  ==================================================================
target              accepted source values
==================  ==================================================================
bool                bools, and numbers equal to 0 or 1
integer             bools, integers in range, floats that are finite, integral, in range
float               bools, integers and floats (rounded to nearest; may overflow to inf)
str / bytes         strings that fit the width (a width of 0, ``dtype=str``, is sized
                    to fit the data)
object              anything, unchanged
==================  ==================================================================

Anything else raises ``ValueError`` naming the argument and the offending value.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

#: dtype names every backend accepts for numeric data.
NUMERIC_DTYPES = (
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
)


def bfloat16() -> np.dtype:
    """NumPy's ``bfloat16``: the ``ml_dtypes`` package's (loaded on first use; TensorFlow and
    JAX install it). Without it, a ``TypeError`` naming the package."""
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError(
            "dtype bfloat16 in NumPy (the reference backend) needs the ml_dtypes package: "
            "pip install ml_dtypes"
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


def _dtype_text(dtype: object) -> str:
    """A framework dtype's name: ``tf.bfloat16.name``, ``str(torch.int32)`` without the module."""
    text = getattr(dtype, "name", None)  # tf.DType, np.dtype
    if not isinstance(text, str):
        text = str(dtype).rsplit(".", 1)[-1].strip("<>' ")  # torch.int32, ml_dtypes.bfloat16
    return text


def dtype_name(dtype: object, name: str = "dtype") -> str:
    """The canonical name of a dtype given as a name, a NumPy dtype or a framework dtype
    (``"float"`` is ``"float64"``, ``torch.int32`` is ``"int32"``); ``"bfloat16"`` in any
    spelling is ``"bfloat16"`` (no NumPy support needed to name it). Unknown dtypes are a
    ``TypeError`` naming ``name``.

    >>> dtype_name("float"), dtype_name("bfloat16")
    ('float64', 'bfloat16')
    """
    named = isinstance(dtype, (str, type)) or hasattr(dtype, "name") or hasattr(dtype, "is_signed")
    if named and _dtype_text(dtype) == "bfloat16":
        return "bfloat16"
    return resolve_dtype(dtype, name).name


def resolve_dtype(dtype: object, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a ``np.dtype``; a framework dtype is read by its name
    (``bfloat16`` through :func:`bfloat16`).

    >>> resolve_dtype("int32")
    dtype('int32')
    """
    if dtype is object or dtype == "object":
        return np.dtype(object)
    try:
        return np.dtype(cast(Any, dtype))
    except TypeError:
        pass
    text = _dtype_text(dtype)
    if text == "bfloat16":
        return bfloat16()
    try:
        return np.dtype(text)
    except TypeError:
        raise TypeError(f"{name}={dtype!r} is not a dtype maskref understands") from None


def lossy_cast_error(name: str, value: object, dtype: np.dtype | str, why: str) -> ValueError:
    return ValueError(f"{name}: {value!r} cannot be cast to {dtype} without loss: {why}")


def _first(arr: np.ndarray, bad: np.ndarray) -> object:
    item = arr[bad].flat[0]
    return item.item() if hasattr(item, "item") else item


def cast_array(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """Cast ``arr`` to ``dtype`` by the module's rule; raise ``ValueError`` on loss."""
    src = arr.dtype
    if src == dtype:
        return arr
    if dtype.kind == "O":
        return arr.astype(object)
    if dtype.kind in "US":
        if src.kind not in "USO":
            raise ValueError(f"{name} holds {src} values, which are not strings; dtype {dtype}")
        if src.kind == "O":
            arr = np.asarray(arr.tolist()) if arr.size else arr.astype(dtype.kind)
            if arr.size and arr.dtype.kind not in "US":
                raise ValueError(f"{name} holds values that are not strings; dtype {dtype}")
        if dtype.itemsize == 0:
            return arr.astype(dtype.kind)
        out = arr.astype(dtype)
        if arr.size and (out != arr).any():
            bad = out != arr
            raise lossy_cast_error(
                name, _first(arr, bad), dtype, "the string is wider than the dtype"
            )
        return out
    if src.kind in "USO":
        if src.kind == "O":
            try:
                inferred = np.asarray(arr.tolist())
            except ValueError:
                inferred = arr
            if inferred.dtype.kind not in "USO":
                return cast_array(inferred, dtype, name)
        raise ValueError(f"{name} holds {src} values; they cannot be cast to {dtype}")
    if src.kind == "c":
        if arr.size and (arr.imag != 0).any():
            raise lossy_cast_error(
                name, _first(arr, arr.imag != 0), dtype, "it has an imaginary part"
            )
        return cast_array(arr.real, dtype, name)
    if dtype.kind == "b":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise lossy_cast_error(name, _first(arr, bad), dtype, "only 0 and 1 are booleans")
        return arr.astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if src.kind == "f":
            bad = ~np.isfinite(arr) | (np.trunc(arr) != arr)
            bad |= (arr < float(info.min)) | (arr >= float(info.max) + 1.0)
        elif src.kind in "iu":
            if arr.size == 0:
                return arr.astype(dtype)
            lo, hi = arr.min(), arr.max()
            if lo >= info.min and hi <= info.max:
                return arr.astype(dtype)
            bad = (arr < info.min) | (arr > info.max)
        else:  # bool
            return arr.astype(dtype)
        if bad.any():
            raise lossy_cast_error(name, _first(arr, bad), dtype, "it is not an integer in range")
        return arr.astype(dtype)
    # float (or complex) target: rounding is the documented, accepted loss.
    return arr.astype(dtype)


def cast_scalar(value: object, dtype: np.dtype, name: str) -> object:
    """Cast one fill value by the same rule; returns a NumPy scalar (or the object)."""
    if dtype.kind == "O":
        return value
    if dtype.kind in "US":
        if not isinstance(value, (str, bytes, np.str_, np.bytes_)):
            raise ValueError(
                f"{name}={value!r} is not a string, but dtype is {dtype}; pass a string "
                f"{name} such as '' or '<pad>'"
            )
        arr = np.asarray(value)
    else:
        if isinstance(value, (str, bytes)):
            raise ValueError(f"{name}={value!r} is a string, but dtype is {dtype}")
        arr = np.asarray(value)
        if arr.ndim != 0:
            raise TypeError(f"{name} must be a scalar, got {value!r}")
    return cast_array(arr, dtype, name)[()]


def dtype_label(dtype: np.dtype) -> str:
    """A NumPy dtype's name as every backend reports it: ``"str"``, ``"bytes"`` and
    ``"object"`` for strings (of any width) and objects, else the dtype's name.

    >>> dtype_label(np.dtype("<U2")), dtype_label(np.dtype("int64"))
    ('str', 'int64')
    """
    return {"U": "str", "S": "bytes", "O": "object"}.get(dtype.kind, dtype.name)

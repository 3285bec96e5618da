"""Input validation shared by every backend.

The three backends call these helpers so that the same bad input gives the
same exception class and the same message everywhere. Everything here works
on plain Python values, shapes (tuples of ints) and dtype *names*, so it is
NumPy-only and framework-free.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast

PADDING_SIDES = ("pre", "post")


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise ``ValueError``.

    >>> check_choice("padding", "post", ("pre", "post"))
    'post'
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{name}={value!r} is not understood; expected one of "
            + ", ".join(repr(c) for c in choices)
        )
    return value


def check_maxlen(maxlen: object, name: str = "maxlen") -> int | None:
    """Validate an optional length: ``None`` or a non-negative integer.

    Booleans and floats are refused (``TypeError``); negative values raise
    ``ValueError``. NumPy integer scalars are accepted and returned as ``int``.
    """
    if maxlen is None:
        return None
    if isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral):
        # 0-d integer tensors from a framework also pass through int().
        dtype = getattr(maxlen, "dtype", "")
        dtype_name = getattr(dtype, "name", None) or str(dtype)
        if (
            hasattr(maxlen, "shape")
            and tuple(maxlen.shape) == ()
            and _is_integer_dtype_name(dtype_name)
        ):
            maxlen = int(cast(Any, maxlen))
        else:
            raise TypeError(
                f"{name} must be None or a non-negative int, got {maxlen!r} "
                f"of type {type(maxlen).__name__}"
            )
    value = int(cast(Any, maxlen))
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def _is_integer_dtype_name(name: str) -> bool:
    name = name.rsplit(".", 1)[-1].strip("<>' ")
    return name.startswith(("int", "uint")) or name in ("long", "short")


def check_mask_dtype(dtype_name: str, name: str = "mask") -> None:
    """Raise ``TypeError`` unless ``dtype_name`` is a boolean dtype.

    maskref masks are boolean with ``True`` = valid/keep. Integer 0/1 masks
    and additive biases are converted explicitly by the caller, never guessed.
    """
    if dtype_name.rsplit(".", 1)[-1] != "bool":
        raise TypeError(
            f"{name} must be a boolean mask (True = valid), got dtype {dtype_name}; "
            f"convert an integer 0/1 mask with `{name} != 0`, another convention with "
            f"convert_mask(...)"
        )


def check_mask_shape(
    mask_shape: tuple[int | None, ...],
    data_shape: tuple[int | None, ...],
    mask_name: str = "mask",
    data_name: str = "x",
) -> None:
    """Raise ``ValueError`` unless ``mask_shape`` is a leading prefix of ``data_shape``.

    The Keras rule: a ``(B, T)`` mask goes with ``(B, T, D)`` data; the mask may
    also have exactly the data's shape. A mask with no axes is only allowed for
    data with no axes. ``None`` (an unknown static size) matches anything.
    """
    n = len(mask_shape)
    ok = (n >= 1 or len(data_shape) == 0) and n <= len(data_shape)
    if ok:
        for m, d in zip(mask_shape, data_shape[:n]):
            if m is not None and d is not None and m != d:
                ok = False
                break
    if not ok:
        raise ValueError(
            f"{mask_name} shape {tuple(mask_shape)} must be a leading prefix of "
            f"{data_name} shape {tuple(data_shape)} (e.g. a (B, T) mask for "
            f"(B, T, D) data)"
        )


def check_min_rank(shape: tuple, min_rank: int, name: str) -> None:
    """Raise ``ValueError`` if ``shape`` has fewer than ``min_rank`` axes."""
    if len(shape) < min_rank:
        raise ValueError(f"{name} must have at least {min_rank} axis(es), got shape {tuple(shape)}")


def check_rank(shape: tuple, rank: int, name: str) -> None:
    """Raise ``ValueError`` unless ``shape`` has exactly ``rank`` axes."""
    if len(shape) != rank:
        raise ValueError(f"{name} must have {rank} axis(es), got shape {tuple(shape)}")


def check_integer_dtype(dtype_name: str, name: str) -> None:
    """Raise ``TypeError`` unless ``dtype_name`` names an integer dtype (not bool)."""
    if not _is_integer_dtype_name(dtype_name):
        raise TypeError(f"{name} must have an integer dtype, got {dtype_name}")


def check_scalar(value: object, name: str) -> None:
    """Raise ``TypeError`` unless ``value`` is a real number or a bool (0-d arrays too)."""
    if isinstance(value, (bool, numbers.Real)):
        return
    dtype = getattr(value, "dtype", None)
    kind = getattr(dtype, "kind", None)
    numeric = (
        kind in ("b", "i", "u", "f")
        if kind
        else any(word in str(dtype) for word in ("bool", "int", "float"))
    )
    if hasattr(value, "shape") and tuple(value.shape) == () and numeric:
        return
    raise TypeError(f"{name} must be a scalar number, got {value!r}")


def negative_lengths_error(name: str = "lengths") -> ValueError:
    return ValueError(f"{name} must be non-negative; a length below 0 has no meaning")


def lengths_exceed_error(limit: int, name: str = "lengths") -> ValueError:
    return ValueError(f"{name} must be at most the padded length {limit}")


def normalize_axis(axis: object, ndim: int, name: str = "axis") -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple of ints) as a sorted tuple of non-negative axes.

    ``None`` means every axis. Negative axes count from the end, NumPy style.
    A bool or non-integer axis is a ``TypeError``; an axis out of range or
    repeated is a ``ValueError``.

    >>> normalize_axis(-1, 3)
    (2,)
    """
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{name} must be None, an int or a tuple of ints, got {axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{name} {a} is out of bounds for x with {ndim} axis(es)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} {axis!r} repeats an axis")
    return tuple(sorted(out))


def normalize_single_axis(axis: object, ndim: int, name: str = "axis") -> int:
    """One axis (an int, negative allowed) as a non-negative int; tuples are refused."""
    if isinstance(axis, (tuple, list)) or axis is None:
        raise TypeError(f"{name} must be an int, got {axis!r}")
    return normalize_axis(axis, ndim, name)[0]


def check_choice_or_value(name: str, value: object, choices: Sequence[str]) -> object:
    """A string ``value`` must be one of ``choices``; anything else passes through."""
    if isinstance(value, str):
        return check_choice(name, value, choices)
    return value


# --- arguments of every kind: data, flags, integers, lengths, sizes ---------------------------


def check_data(x: object, name: str) -> None:
    """Raise ``TypeError`` if ``x`` is None (data is expected: an array, a tensor or a list)."""
    if x is None:
        raise TypeError(f"{name} must be an array, a tensor or a list, got None")


def check_flag(value: object, name: str) -> bool:
    """``value`` as a Python bool: a ``bool`` or a NumPy ``bool_``; anything else
    (``1``, ``"yes"``, ``None``) is a ``TypeError`` naming the argument.

    >>> check_flag(True, "keepdims")
    True
    """
    if isinstance(value, bool):
        return value
    if type(value).__name__ in ("bool", "bool_") and type(value).__module__ == "numpy":
        return bool(value)
    raise TypeError(f"{name} must be a bool (True or False), got {value!r}")


def _is_integer_scalar(value: object) -> bool:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    if isinstance(value, numbers.Integral):
        return True
    dtype = getattr(value, "dtype", None)
    if dtype is None or not hasattr(value, "shape") or tuple(value.shape) != ():
        return False
    return _is_integer_dtype_name(getattr(dtype, "name", None) or str(dtype))


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """``value`` as a Python int: an ``int``, a NumPy integer or a 0-d integer tensor.

    Bools, floats, strings and None are a ``TypeError``; a value below ``minimum``
    is a ``ValueError``. Both name the argument.

    >>> check_int(3, "ddof", minimum=0)
    3
    """
    if not _is_integer_scalar(value):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    number = int(value)  # type: ignore[call-overload]
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


#: The largest length (and sum of lengths) maskref accepts: what int64 holds.
INT64_MAX = 2**63 - 1


def lengths_range_error(name: str, value: object) -> ValueError:
    """The error for a length below 0 or above what int64 holds."""
    return ValueError(
        f"{name} must hold non-negative integers that int64 can hold (0 to 2**63 - 1), got {value}"
    )


def check_lengths_dtype(
    dtype_name: str, shape: tuple, name: str = "lengths", rank: int | None = 1
) -> None:
    """Static checks of a lengths argument: an integer dtype (bool and float are a
    ``TypeError``) and, where ``rank`` is given, that many axes (``ValueError``).

    An empty batch of lengths (shape ``(0,)``; a list ``[]`` reads as float64 and
    is accepted as empty) is valid everywhere and gives empty results.
    """
    if not _is_integer_dtype_name(dtype_name) and not (
        0 in tuple(shape) and dtype_name.rsplit(".", 1)[-1] == "float64"
    ):
        raise TypeError(f"{name} must have an integer dtype, got {dtype_name}")
    if rank is not None:
        check_rank(tuple(shape), rank, name)


def _physical_memory() -> int:
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX: no bound
        return 2**63 - 1


_PHYSICAL_MEMORY = _physical_memory()  # read once: torch.compile cannot trace os.sysconf


def available_memory() -> int:
    """The machine's physical memory in bytes (a generous bound on one allocation)."""
    return _PHYSICAL_MEMORY


def check_nbytes(shape: Sequence[int], itemsize: int, name: str, value: object) -> None:
    """Refuse a result of ``shape`` that could not be allocated, before trying.

    ``ValueError`` naming the argument that sets the size, its value and the
    size in bytes, when the result needs more than the machine's memory.
    Computed with Python integers, so nothing wraps around.

    >>> check_nbytes((2**40,), 1, "maxlen", 2**40)
    Traceback (most recent call last):
    ...
    ValueError: maxlen=1099511627776 asks for a result of shape (1099511627776,): ...
    """
    total = itemsize
    for n in shape:
        total *= int(n)
    if total > available_memory():
        raise ValueError(
            f"{name}={value} asks for a result of shape {tuple(int(n) for n in shape)}: "
            f"{total} bytes, more than this machine's memory ({available_memory()} bytes)"
        )


def check_numeric(dtype_name: str, name: str = "x") -> None:
    """Raise ``TypeError`` unless the dtype holds numbers or bools (not complex, strings or
    objects)."""
    base = dtype_name.rsplit(".", 1)[-1].strip("<>' ")
    if base == "bool" or _is_integer_dtype_name(base) or base.startswith(("float", "bfloat")):
        return
    raise TypeError(f"{name} must hold numbers or bools, got dtype {dtype_name}")

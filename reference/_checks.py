"""Input validation shared by every backend.

The three backends call these helpers so that the same bad input gives the
same exception class and the same message everywhere. Everything here works
on plain Python values, shapes (tuples of ints) and dtype *names*, so it is
NumPy-only and framework-free.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

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
        if hasattr(maxlen, "shape") and tuple(maxlen.shape) == () and _is_integer_dtype_name(
            dtype_name
        ):
            maxlen = int(maxlen)
        else:
            raise TypeError(
                f"{name} must be None or a non-negative int, got {maxlen!r} "
                f"of type {type(maxlen).__name__}"
            )
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"{name} must be non-negative, got {maxlen}")
    return maxlen


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
            f"convert an integer 0/1 mask with `{name} != 0` (or `.astype(bool)`)"
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
        raise ValueError(
            f"{name} must have at least {min_rank} axis(es), got shape {tuple(shape)}"
        )


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
    numeric = kind in ("b", "i", "u", "f") if kind else any(
        word in str(dtype) for word in ("bool", "int", "float")
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

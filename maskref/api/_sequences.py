"""Reading a batch of Python or NumPy sequences into one flat buffer plus lengths.

Every backend reads the plain data it is given (Python lists, tuples, NumPy
arrays) with :func:`read_sequences`, so the rule and its errors are the same
everywhere:

* ``sequences`` is an iterable of rows; a row is a list, a tuple, an array (at
  least one axis) or another sized sequence. A string, bytes, a dict, a set, a
  scalar or a 0-d array as a row is a ``TypeError`` naming ``sequences[i]``.
* For a numeric target dtype, every element must be a bool, an integer (an
  ``int``, a NumPy integer, anything with ``__index__``) or a float (Python or
  NumPy); complex numbers too for a complex target. A string, bytes, a
  ``Decimal``, None or any other object is a ``ValueError`` naming its
  position, wherever it stands in the batch.
* Elements are converted to the target dtype one by one by the lossless-cast
  rule (:mod:`maskref.api.dtypes`); integers never pass through float64, so
  ``2**53 + 1`` stays exact in int64 even next to a float. Rows are never
  promoted together. The first error in the batch's order is the one raised.
* Every non-empty row must have the same step shape (scalars, or vectors of
  one size, ...); an empty row fits any step shape.

:func:`exact` states the rule element by element. :func:`numbers` is its fast
path, with the same values and errors: ``array.array`` reads Python integers
straight into an integer dtype (it refuses anything else and checks the
range), one ``np.array`` reads the rest, and the few integers from 2**53 on
that a float64 array may have rounded are re-read exactly. :func:`chunks` cuts
a batch of lists into pieces of about ``CHUNK_STEPS`` steps, so a failed fast
read costs one piece, never the whole batch.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, cast

import numpy as np

from .dtypes import cast_array, lossy_cast_error

__all__ = [
    "CHUNK_STEPS",
    "chunks",
    "exact",
    "numbers",
    "read_sequences",
    "row_error",
    "row_values",
    "rows_of",
]

#: Integers from 2**53 on may have been rounded by a float64 array.
FLOAT64_EXACT = 2.0**53
#: About how many steps one fast read takes at a time.
CHUNK_STEPS = 1 << 16

#: ``array.array`` type codes by the NumPy integer dtype they fill (C sizes checked).
_TYPECODES = {
    np.dtype(t): code
    for code, t in (
        ("b", np.int8),
        ("B", np.uint8),
        ("h", np.int16),
        ("H", np.uint16),
        ("i", np.int32),
        ("I", np.uint32),
        ("q", np.int64),
        ("Q", np.uint64),
    )
    if array.array(code).itemsize == np.dtype(t).itemsize
}

_NOT_ROWS = (str, bytes, bytearray, np.str_, np.bytes_, Mapping, AbstractSet)

Namer = Callable[[int], str]


# --- rows --------------------------------------------------------------------------------


def row_error(i: int, row: object) -> TypeError:
    """The error for a row that is not a sequence."""
    return TypeError(f"sequences[{i}] must be a sequence (list, tuple or array), got {_short(row)}")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_row(row: object) -> bool:
    if isinstance(row, (list, tuple, range)):
        return True
    if isinstance(row, _NOT_ROWS) or not hasattr(row, "__len__"):
        return False
    if not (hasattr(row, "__getitem__") or hasattr(row, "__array__")):
        return False
    shape = getattr(row, "shape", None)
    return shape is None or len(tuple(shape)) > 0


def rows_of(sequences: Iterable) -> list:
    """``sequences`` as a list of rows, each checked to be a sequence (``TypeError``)."""
    rows = list(sequences)
    types = set(map(type, rows))
    if types <= {list, tuple}:
        return rows
    if types <= {list, tuple, np.ndarray} and all(
        type(r) is not np.ndarray or r.ndim for r in rows
    ):
        return rows
    for i, row in enumerate(rows):
        if not _is_row(row):
            raise row_error(i, row)
    return rows


# --- the rule, element by element ----------------------------------------------------------


def not_a_number_error(where: str, value: object, dtype: np.dtype) -> ValueError:
    """The error for an element that is not a bool, an integer or a float."""
    kinds = (
        "bools, ints, floats and complex numbers" if dtype.kind == "c" else "bools, ints and floats"
    )
    return ValueError(
        f"{where} holds {_short(value)} of type {type(value).__name__}, which is not a number: "
        f"dtype {dtype} takes {kinds}"
    )


def _ragged_error(where: str) -> ValueError:
    return ValueError(f"{where} has ragged inner dimensions: its steps differ in shape")


def _kind_of(value: object, complex_ok: bool) -> str | None:
    """``"b"``, ``"i"``, ``"f"``, ``"c"`` for a Python or NumPy number; None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return "b"
    if isinstance(value, (int, np.integer)):
        return "i"
    if isinstance(value, (float, np.floating)):
        return "f"
    if complex_ok and isinstance(value, (complex, np.complexfloating)):
        return "c"
    if isinstance(value, np.ndarray):
        return _kind_of(value[()], complex_ok) if value.ndim == 0 else None
    if hasattr(type(value), "__index__"):  # an integer of another library
        return "i"
    return None


def _item(value: object) -> object:
    return value.item() if isinstance(value, (np.generic, np.ndarray)) else value


def _exact_integer(value: object, kind: str, dtype: np.dtype) -> int:
    """``value`` (of ``kind``) as a Python int that ``dtype`` (an integer or bool dtype) holds."""
    why = "only 0 and 1 are booleans" if dtype.kind == "b" else "it is not an integer in range"
    if kind == "c":
        number = complex(cast(Any, value))
        if number.imag != 0:
            raise lossy_cast_error("sequences", _item(value), dtype, "it has an imaginary part")
        value, kind = number.real, "f"
    if kind == "f":
        real = float(value)  # type: ignore[arg-type]
        if not real.is_integer():  # NaN and inf included
            raise lossy_cast_error("sequences", _item(value), dtype, why)
        integer = int(real)
    else:
        integer = operator.index(value)  # type: ignore[arg-type]
    if dtype.kind == "b":
        if integer not in (0, 1):
            raise lossy_cast_error("sequences", _item(value), dtype, why)
        return integer
    info = np.iinfo(dtype)
    if not info.min <= integer <= info.max:
        raise lossy_cast_error("sequences", _item(value), dtype, why)
    return integer


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float64 overflows to inf, as NumPy's cast
        return float("inf") if value > 0 else float("-inf")  # type: ignore[operator]


def _where(where: Namer | None, step: int) -> str:
    return where(step) if where is not None else "sequences"


def exact(items: object, dtype: np.dtype, where: Namer | None = None) -> np.ndarray:
    """The rule, element by element: ``items`` (a list of steps, or an array) as an array of
    ``dtype``, read in order so that the error raised is the first one. ``where(k)`` names
    step ``k`` in a message (``"sequences[i][j]"``)."""
    try:
        obj = np.array(items, dtype=object)
    except ValueError:
        raise _ragged_error(_where(where, 0)) from None
    out = np.empty(obj.shape, dtype)
    flat_out = out.reshape(-1)
    per_step = int(np.prod(obj.shape[1:], dtype=np.int64)) if obj.ndim > 1 else 1
    complex_ok = dtype.kind == "c"
    for k, value in enumerate(obj.reshape(-1)):
        kind = _kind_of(value, complex_ok)
        if kind is None:
            if isinstance(value, (list, tuple, np.ndarray)):
                raise _ragged_error(_where(where, k // per_step))
            raise not_a_number_error(_where(where, k // per_step), value, dtype)
        if dtype.kind in "iub":
            flat_out[k] = _exact_integer(value, kind, dtype)
        elif dtype.kind == "c":
            flat_out[k] = complex(value)  # type: ignore[arg-type]
        else:
            with np.errstate(over="ignore"):
                flat_out[k] = _float(value)
    return out


# --- the fast path -------------------------------------------------------------------------


def _array(items: list) -> np.ndarray | None:
    """``np.array(items)``, or None where NumPy cannot make one array of them (ragged)."""
    try:
        return np.array(items)
    except (ValueError, OverflowError, TypeError):
        return None


def integers(items: list, dtype: np.dtype) -> np.ndarray | None:
    """``items`` as ``dtype`` (an integer dtype) when every one is a Python or NumPy integer
    in range (``array.array`` checks both, at the speed of NumPy's unchecked conversion);
    else None."""
    code = _TYPECODES.get(dtype)
    if code is None:
        return None
    try:
        return np.frombuffer(array.array(code, items), dtype)
    except (TypeError, OverflowError, ValueError):
        return None


def convert(items: list, dtype: np.dtype, where: Namer | None = None) -> np.ndarray | None:
    """:func:`numbers`, or None where the steps differ in shape (the caller names the row)."""
    ints = integers(items, dtype)
    if ints is not None:
        return ints
    arr = _array(items)
    if arr is None:
        return None
    kind = arr.dtype.kind
    if kind in "biu" or (kind == "c" and dtype.kind == "c"):
        return cast_array(arr, dtype, "sequences")
    if kind != "f":
        return exact(items, dtype, where)  # strings, objects: the rule names the culprit
    if dtype.kind not in "iub" or not arr.size:
        return cast_array(arr, dtype, "sequences")  # float rounding is the rule's
    with np.errstate(invalid="ignore"):
        big = np.abs(arr) >= FLOAT64_EXACT  # inf too, NaN never
    if arr.ndim != 1:  # steps that are vectors: the rule names any culprit
        try:
            if not big.any():
                return cast_array(arr, dtype, "sequences")
        except ValueError:
            pass
        return exact(items, dtype, where)
    return _integers_from_floats(items, arr, np.flatnonzero(big), dtype, where)


def numbers(items: list, dtype: np.dtype, where: Namer | None = None) -> np.ndarray:
    """The fast path of :func:`exact` for a list of steps: the same values and errors."""
    out = convert(items, dtype, where)
    return exact(items, dtype, where) if out is None else out


def _integers_from_floats(
    items: list, arr: np.ndarray, big: np.ndarray, dtype: np.dtype, where: Namer | None
) -> np.ndarray:
    """``items`` as an integer (or bool) ``dtype`` from ``arr``, the floats NumPy read them
    as: the integers at ``big`` (which float64 may have rounded) are read exactly from
    ``items``; the first element ``dtype`` cannot hold is raised as it was written."""
    exact_ints = {k: items[k] for k in big.tolist() if _kind_of(items[k], False) == "i"}
    source = arr
    if exact_ints:
        source = arr.copy()
        source[list(exact_ints)] = 0
    bad = _first_bad(source, dtype)
    for k, value in exact_ints.items():  # in order: an earlier bad integer comes first
        if k > bad:
            break
        _exact_integer(value, "i", dtype)
    if bad < arr.size:
        kind = _kind_of(items[bad], False)
        if kind is not None:
            _exact_integer(items[bad], kind, dtype)  # raises, with the value as written
        return exact(items, dtype, where)
    out = source.astype(dtype)
    for k, value in exact_ints.items():
        out[k] = _exact_integer(value, "i", dtype)
    return out


def _first_bad(arr: np.ndarray, dtype: np.dtype) -> int:
    """Where the first float of ``arr`` that ``dtype`` (integer or bool) cannot hold stands
    (``arr.size`` when there is none)."""
    with np.errstate(invalid="ignore"):
        if dtype.kind == "b":
            bad = (arr != 0) & (arr != 1)
        else:
            info = np.iinfo(dtype)
            bad = ~np.isfinite(arr) | (np.trunc(arr) != arr)
            bad |= (arr < float(info.min)) | (arr >= float(info.max) + 1.0)
    hits = np.flatnonzero(bad)
    return int(hits[0]) if hits.size else arr.size


# --- batches -------------------------------------------------------------------------------


def _step_namer(lengths: np.ndarray, first_row: int = 0) -> Namer:
    """``k -> "sequences[i][j]"`` for step ``k`` of the rows from ``first_row`` on."""

    def where(k: int) -> str:
        ends = np.cumsum(lengths[first_row:])
        i = int(np.searchsorted(ends, k, side="right"))
        return f"sequences[{first_row + i}][{k - int(ends[i] - lengths[first_row + i])}]"

    return where


def _row_namer(i: int) -> Namer:
    return lambda k: f"sequences[{i}][{k}]"


def chunks(rows: list, lengths: np.ndarray) -> Iterator[tuple[int, int, list]]:
    """``(first, stop, steps)``: rows ``first:stop`` and their steps as one list, about
    ``CHUNK_STEPS`` steps at a time (one row at a time for rows longer than that)."""
    if not rows:
        return
    ends = np.cumsum(lengths)
    total = int(ends[-1])
    cuts = np.searchsorted(ends, np.arange(CHUNK_STEPS, total, CHUNK_STEPS), side="left") + 1
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(rows)}), len(rows)]
    chain = itertools.chain.from_iterable
    for first, stop in itertools.pairwise(bounds):
        steps = rows[first] if stop == first + 1 else list(chain(rows[first:stop]))
        yield first, stop, steps if isinstance(steps, list) else list(steps)


def read_chunk(
    rows: list, lengths: np.ndarray, first: int, steps: list, dtype: np.dtype
) -> np.ndarray | None:
    """The steps of rows ``first:`` (``steps``) as one array of ``dtype``, or None where the
    steps differ in shape (the caller reads row by row to name the culprit)."""
    return convert(steps, dtype, _step_namer(lengths, first))


def row_values(row: object, dtype: np.dtype, i: int) -> np.ndarray:
    """Row ``i`` as an array of ``dtype`` (a numeric dtype), by the rule."""
    if isinstance(row, (list, tuple)):
        return numbers(list(row), dtype, _row_namer(i))
    arr = np.asarray(row)
    if arr.dtype.kind == "V":  # ml_dtypes floats (bfloat16) widen exactly
        with contextlib.suppress(TypeError, ValueError):
            arr = arr.astype(np.float32)
    if arr.dtype.kind in "biufc":
        return cast_array(arr, dtype, "sequences")
    return exact(arr, dtype, _row_namer(i))


def inner_shape(arrays: list[np.ndarray]) -> tuple[int, ...]:
    """The common step shape of the rows ``arrays`` (an empty 1-D row fits any);
    ``ValueError`` naming the first row that differs."""
    inner: tuple[int, ...] | None = None
    for i, a in enumerate(arrays):
        if a.ndim == 1 and len(a) == 0:
            continue
        if inner is None:
            inner = a.shape[1:]
        elif a.shape[1:] != inner:
            raise ValueError(
                f"sequences[{i}] has steps of shape {a.shape[1:]}, but earlier sequences "
                f"have steps of shape {inner}"
            )
    return inner or ()


def _by_rows(rows: list, dtype: np.dtype) -> np.ndarray:
    """Row by row (the slow path, which names any culprit), concatenated."""
    arrays = [row_values(r, dtype, i) for i, r in enumerate(rows)]
    inner = inner_shape(arrays)
    arrays = [a.reshape((0, *inner)) if a.size == 0 and a.ndim == 1 else a for a in arrays]
    return np.concatenate(arrays) if arrays else np.zeros((0,), dtype)


def _lengths(rows: list) -> np.ndarray:
    return np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))


def _read_lists(rows: list, lengths: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    """Rows that are all lists or tuples, read chunk by chunk; None where steps differ in
    shape."""
    parts: list[np.ndarray] = []
    for first, _, steps in chunks(rows, lengths):
        part = read_chunk(rows, lengths, first, steps, dtype)
        if part is None or (parts and part.shape[0] and part.shape[1:] != parts[0].shape[1:]):
            return None
        if part.shape[0]:  # rows with no steps fit any step shape
            parts.append(part)
    if not parts:
        return np.zeros((0,), dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def read_sequences(sequences: Iterable, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(values, lengths)``: every step of every row, concatenated and cast to ``dtype`` by
    the rule of this module, and the rows' lengths (int64).

    ``dtype`` is numeric (bool, integer, float, complex; a framework whose dtype NumPy
    lacks, such as bfloat16 without ``ml_dtypes``, reads float64 and rounds after).
    """
    if (
        isinstance(sequences, np.ndarray)
        and sequences.ndim >= 2
        and sequences.shape[0]
        and sequences.dtype.kind in "biufc"
    ):
        b, t = sequences.shape[:2]
        flat = sequences.reshape((b * t, *sequences.shape[2:]))
        return cast_array(flat, dtype, "sequences"), np.full(b, t, dtype=np.int64)
    rows = rows_of(sequences)
    lengths = _lengths(rows)
    kinds = set(map(type, rows))
    if rows and kinds <= {list, tuple}:
        values = _read_lists(rows, lengths, dtype)
        if values is not None:
            return values, lengths
    if rows and kinds == {np.ndarray}:
        dtypes = {r.dtype for r in rows}
        if len(dtypes) == 1 and dtypes.pop().kind in "biuf":
            joined: np.ndarray | None
            try:
                joined = np.concatenate(rows)
            except ValueError:
                joined = None  # unequal step shapes: the per-row path names the culprit
            if joined is not None:
                return cast_array(joined, dtype, "sequences"), lengths
    return _by_rows(rows, dtype), lengths

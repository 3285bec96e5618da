"""Padding and truncation of variable-length sequences (the reference rules).

Keras's ``pad_sequences`` rule, made total: every input either gives the
documented result or a ``ValueError``/``TypeError`` naming the argument.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Sequence

import numpy as np

from maskref.api.checks import PADDING_SIDES, check_choice, check_maxlen, check_min_rank
from maskref.api.dtypes import cast_array, cast_scalar, resolve_dtype

__all__ = ["pad_flat", "pad_sequences", "padding_mask", "unpad_sequences"]


def padding_mask(kept: np.ndarray, maxlen: int, padding: str) -> np.ndarray:
    """Boolean ``(B, maxlen)``: where the ``kept[i]`` steps of row ``i`` land.

    ``padding="post"`` puts them first, ``"pre"`` last. ``kept`` must already
    be clipped to ``[0, maxlen]``.
    """
    steps = np.arange(maxlen)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (maxlen - kept)[:, None]


def _truncation_keep(lengths: np.ndarray, maxlen: int, truncating: str) -> np.ndarray | None:
    """Boolean over the concatenated steps: which survive truncation (None = all)."""
    if lengths.size == 0 or lengths.max() <= maxlen:
        return None
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    if truncating == "post":
        return pos < maxlen
    return pos >= np.repeat(lengths - maxlen, lengths)


def pad_flat(
    values: np.ndarray,
    lengths: np.ndarray,
    maxlen: int | None = None,
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0,
) -> np.ndarray:
    """Pad sequences given as one concatenated buffer plus their lengths.

    ``values`` has shape ``(sum(lengths), *inner)``; row ``i`` is
    ``values[sum(lengths[:i]) : sum(lengths[:i + 1])]``. The result has shape
    ``(B, maxlen, *inner)`` and ``values``'s dtype; ``value`` is cast to it by
    the lossless-cast rule. Truncation and padding follow ``pad_sequences``.

    >>> pad_flat(np.array([1, 2, 3, 4]), np.array([3, 1]), padding="post")
    array([[1, 2, 3],
           [4, 0, 0]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    values = np.asarray(values)
    check_min_rank(values.shape, 1, "values")
    lengths = _check_lengths(lengths)
    if int(lengths.sum()) != values.shape[0]:
        raise ValueError(
            f"lengths sum to {int(lengths.sum())} but values has {values.shape[0]} steps"
        )
    if maxlen is None:
        maxlen = int(lengths.max()) if lengths.size else 0
    fill = cast_scalar(value, values.dtype, "value")
    out = np.full((lengths.size, maxlen) + values.shape[1:], fill, dtype=values.dtype)
    keep = _truncation_keep(lengths, maxlen, truncating)
    if keep is not None:
        values = values[keep]
    out[padding_mask(np.minimum(lengths, maxlen), maxlen, padding)] = values
    return out


def _check_lengths(lengths: object, name: str = "lengths") -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must have 1 axis, got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative, got {int(arr.min())}")
    return arr.astype(np.int64, copy=False)


def _as_list_of_sequences(sequences: object) -> tuple[list, np.ndarray]:
    """The sequences as a list, and their lengths (int64)."""
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise TypeError(
            f"sequences must be an iterable of sequences, got {type(sequences).__name__}"
        )
    if isinstance(sequences, np.ndarray) and sequences.ndim == 0:
        raise TypeError("sequences must be an iterable of sequences, got a 0-d array")
    seqs = list(sequences)
    try:
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        bad = None
        if set(map(type, seqs)) & {str, bytes, np.str_, np.bytes_}:
            bad = next(i for i, q in enumerate(seqs) if isinstance(q, (str, bytes)))
    except TypeError:
        bad = next(i for i, q in enumerate(seqs) if not hasattr(q, "__len__") or np.ndim(q) == 0)
    if bad is not None:
        raise TypeError(
            f"sequences[{bad}] must be a sequence (list, tuple or array), got {seqs[bad]!r}"
        )
    return seqs, lengths


def _all_arrays(seqs: list) -> bool:
    return bool(seqs) and set(map(type, seqs)) == {np.ndarray}


def _concat_arrays(seqs: list) -> np.ndarray | None:
    """One concatenation when every sequence is already an array of one inner shape."""
    if not _all_arrays(seqs):
        return None
    if len({q.dtype for q in seqs}) > 1:
        return None  # mixed dtypes: each is cast on its own, never promoted together
    try:
        return np.concatenate(seqs)
    except ValueError:
        return None  # mismatched inner shapes: the general path names the culprit


_SCALAR_TYPES = (numbers.Real, np.bool_)


def _flat_fast(seqs: list, lengths: np.ndarray) -> np.ndarray | None:
    """Concatenate lists of Python numbers in one pass, or None if they are not that.

    ``np.fromiter`` over the chained lists avoids one array per row, which is
    where a per-row loop spends its time.
    """
    total = int(lengths.sum())
    first = next((s for s in seqs if len(s)), None)
    if first is None or isinstance(first, np.ndarray):
        return None
    head = first[0]
    if not isinstance(head, _SCALAR_TYPES) or isinstance(head, np.ndarray):
        return None
    source = np.int64 if isinstance(head, (bool, np.bool_, numbers.Integral)) else np.float64
    try:
        flat = np.fromiter(itertools.chain.from_iterable(seqs), np.float64, count=total)
    except (TypeError, ValueError):
        return None
    if source is np.int64 and flat.size:
        # Integers read through float64 are exact below 2**53; anything else
        # (a float among the ints, a huge int) takes the general path.
        if max(-flat.min(), flat.max()) >= 2.0**53:
            return None
        ints = flat.astype(np.int64)
        if not (ints == flat).all():
            return None
        return ints
    return flat


def _flat_general(seqs: list, lengths: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """One array per sequence, inner shapes checked, concatenated."""
    as_type = object if dtype.kind == "O" else None
    arrays = []
    inner: tuple | None = None
    for i, s in enumerate(seqs):
        try:
            a = np.asarray(s, dtype=as_type)
        except ValueError as err:
            raise ValueError(f"sequences[{i}] has ragged inner dimensions: {err}") from None
        if a.ndim == 0:
            raise TypeError(f"sequences[{i}] must be a sequence, got {s!r}")
        if len(a) == 0 and a.ndim == 1:
            arrays.append(a)
            continue  # an empty list fits any inner shape
        if inner is None:
            inner = a.shape[1:]
        elif a.shape[1:] != inner:
            raise ValueError(
                f"sequences[{i}] has steps of shape {a.shape[1:]}, but earlier sequences "
                f"have steps of shape {inner}"
            )
        arrays.append(a)
    inner = inner or ()
    arrays = [a.reshape((0,) + inner) if len(a) == 0 else a for a in arrays]
    if not arrays:
        return np.zeros((0,), dtype=dtype if dtype.kind not in "US" else dtype.kind)
    kinds = {a.dtype.kind for a in arrays if a.size}
    if dtype.kind in "US" and kinds <= {"U", "S"} and len(kinds) <= 1:
        empty_kind = kinds.pop() if kinds else dtype.kind
        arrays = [a.astype(empty_kind) if a.size == 0 else a for a in arrays]
    elif dtype.kind not in "OUS" and len({a.dtype for a in arrays}) > 1:
        # NumPy would promote int64 with uint64 to float64 and lose digits.
        arrays = [cast_array(a, dtype, f"sequences[{i}]") for i, a in enumerate(arrays)]
    return np.concatenate(arrays)


def pad_sequences(
    sequences: Iterable[Sequence],
    maxlen: int | None = None,
    dtype: object = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0.0,
) -> np.ndarray:
    """Pad (and truncate) variable-length sequences into one ``(B, maxlen, ...)`` array.

    Rule (Keras's, made total):

    * ``maxlen`` defaults to the longest length (0 for an empty batch); it must
      be ``None`` or an int >= 0. ``maxlen=0`` gives a ``(B, 0)`` batch.
    * A sequence longer than ``maxlen`` keeps its last ``maxlen`` steps
      (``truncating="pre"``) or its first ones (``"post"``).
    * The kept steps go at the end of the row (``padding="pre"``, the Keras
      default) or at the start (``"post"``); the rest of the row is ``value``.
    * Steps may be scalars or arrays (vectors, ...): every non-empty sequence
      must have the same inner shape, which the result keeps as trailing axes.
    * The result has exactly ``dtype``. Data and ``value`` are cast by the
      lossless-cast rule of :mod:`reference._dtypes`: ``1.5`` or ``NaN`` into an
      integer dtype is a ``ValueError``, never a silent truncation. ``dtype=str``
      (width 0) is sized to fit the longest string and ``value``; a fixed width
      that would cut a string is a ``ValueError``; ``dtype=object`` keeps any
      Python object.
    * ``padding`` and ``truncating`` are checked even when nothing is padded
      or truncated. Inputs are never modified.

    >>> pad_sequences([[1, 2, 3], [4, 5], [1, 4, 8, 19]], padding="post")
    array([[ 1,  2,  3,  0],
           [ 4,  5,  0,  0],
           [ 1,  4,  8, 19]], dtype=int32)
    >>> pad_sequences([[1], [2, 3]], maxlen=0).shape
    (2, 0)
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    dtype = resolve_dtype(dtype)
    seqs, lengths = _as_list_of_sequences(sequences)
    if maxlen is None:
        maxlen = int(lengths.max()) if lengths.size else 0

    flat = None
    if dtype.kind not in "OUS":
        flat = _concat_arrays(seqs) if _all_arrays(seqs) else _flat_fast(seqs, lengths)
    if flat is None:
        flat = _flat_general(seqs, lengths, dtype)
    flat = cast_array(flat, dtype, "sequences")
    if dtype.kind in "US" and dtype.itemsize == 0:
        fill = cast_scalar(value, np.dtype(dtype.kind), "value")
        dtype = np.result_type(flat.dtype, np.asarray(fill).dtype)
        flat = flat.astype(dtype)
    fill = cast_scalar(value, dtype, "value")
    out = np.full((len(seqs), maxlen) + flat.shape[1:], fill, dtype=dtype)
    keep = _truncation_keep(lengths, maxlen, truncating)
    if keep is not None:
        flat = flat[keep]
    out[padding_mask(np.minimum(lengths, maxlen), maxlen, padding)] = flat
    return out


def unpad_sequences(padded: object, lengths: object, padding: str = "post") -> list[np.ndarray]:
    """Split a padded batch back into its valid parts: the inverse of padding.

    Rule: row ``i`` gives ``padded[i, :lengths[i]]`` (``padding="post"``) or
    ``padded[i, T - lengths[i]:]`` (``"pre"``), where ``T = padded.shape[1]``.
    ``lengths`` must be integers in ``[0, T]``, one per row. The parts are
    copies, so changing them never changes ``padded``.

    >>> unpad_sequences(np.array([[1, 2, 0], [3, 0, 0]]), [2, 1])
    [array([1, 2]), array([3])]
    """
    check_choice("padding", padding, PADDING_SIDES)
    padded = np.asarray(padded)
    check_min_rank(padded.shape, 2, "padded")
    lengths = _check_lengths(lengths)
    if lengths.shape[0] != padded.shape[0]:
        raise ValueError(
            f"lengths has {lengths.shape[0]} entries but padded has {padded.shape[0]} rows"
        )
    steps = padded.shape[1]
    if lengths.size and lengths.max() > steps:
        raise ValueError(
            f"lengths must be at most padded.shape[1] = {steps}, got {int(lengths.max())}"
        )
    valid = padded[padding_mask(lengths, steps, padding)]
    return np.split(valid, np.cumsum(lengths)[:-1]) if lengths.size else []

"""Fast path of the reference's padding (the rule is :mod:`reference.padding`'s).

A batch of Python lists (or tuples) padded to a numeric dtype is read chunk
by chunk (:func:`maskref.api._sequences.chunks`, about 64k steps each, one
row at a time for long rows) and each chunk is written straight into the
output: no concatenated copy of the whole batch, and a chunk that the fast
read refuses (a float among integers, an integer beyond int64, a string) is
re-read alone by the rule, so one odd value costs one chunk, not the batch.
Values and errors are the rule's (the same reading functions).
"""

from __future__ import annotations

import numpy as np

from maskref.api._sequences import chunks, read_chunk
from maskref.api.dtypes import cast_scalar
from maskref.api.padding import check_padded_size

from . import padding as _rule


def _place(
    out: np.ndarray,
    part: np.ndarray,
    lengths: np.ndarray,
    width: int,
    padding: str,
    truncating: str,
) -> None:
    """Write the steps ``part`` of the rows ``out`` (their lengths ``lengths``) where they
    land: one slice for one row, one masked scatter for several."""
    if len(lengths) == 1:
        n = int(lengths[0])
        k = min(n, width)
        if k:
            src = part[n - k :] if truncating == "pre" else part[:k]
            if padding == "pre":
                out[0, width - k :] = src
            else:
                out[0, :k] = src
        return
    keep = _rule._truncation_keep(lengths, width, truncating)
    if keep is not None:
        part = part[keep]
    out[_rule.padding_mask(np.minimum(lengths, width), width, padding)] = part


def pad_lists(
    sequences: object,
    maxlen: int | None,
    dtype: np.dtype,
    padding: str,
    truncating: str,
    value: object,
) -> np.ndarray | None:
    """The padded batch, or None where the gate says no (not a list of lists, or steps of
    different shapes, which the rule's reading names)."""
    if not isinstance(sequences, (list, tuple)) or not sequences:
        return None
    if not set(map(type, sequences)) <= {list, tuple}:
        return None
    rows = sequences if isinstance(sequences, list) else list(sequences)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = maxlen if maxlen is not None else int(lengths.max())
    fill = cast_scalar(value, dtype, "value")
    out = None
    inner: tuple[int, ...] = ()
    for first, stop, steps in chunks(rows, lengths):
        part = read_chunk(rows, lengths, first, steps, dtype)
        if part is None:
            return None
        if not part.shape[0]:
            continue  # rows with no steps: all fill
        if out is None:
            inner = part.shape[1:]
            check_padded_size(len(rows), width, inner, dtype.str, maxlen, "max(len(sequences))")
            out = np.full((len(rows), width, *inner), fill, dtype=dtype)
        elif part.shape[1:] != inner:
            return None
        _place(out[first:stop], part, lengths[first:stop], width, padding, truncating)
    if out is None:
        check_padded_size(len(rows), width, (), dtype.str, maxlen, "max(len(sequences))")
        out = np.full((len(rows), width), fill, dtype=dtype)
    return out

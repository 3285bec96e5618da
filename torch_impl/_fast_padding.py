"""Fast paths of torch_impl's padding of a list of tensors (the rule is
:mod:`torch_impl.padding`'s).

Both copy each row straight into the output, with no concatenated copy of the
data (the general path's ``torch.cat``), so the peak memory is the inputs plus
the output, as for ``torch.nn.utils.rnn.pad_sequence``:

* rows that already have the result's dtype, with a ``maxlen`` no wider than
  the longest row and a fill that a float64 holds exactly (``padding_value``
  is a float), go to ``pad_sequence`` itself (its C++ loop), truncated rows as
  views. Rows it refuses (on several devices, of different step shapes, 0-d)
  go to the general path, which names the culprit.
* otherwise rows long enough (``LONG_ROWS`` steps on average) that a Python
  loop over them costs nothing next to the copy are cast straight into the
  output, each after its range is checked: in NumPy for CPU tensors that need
  no gradient (torch's cross-dtype ``copy_`` is several times slower than
  NumPy's), else in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from maskref.api.dtypes import cast_array
from maskref.api.padding import check_padded_size

from ._convert import SIGNED_TWIN, cast_fill, cast_tensor, dtype_name, numpy_dtype

#: Average steps per row from which the row loop is used (below it, one cat + scatter).
LONG_ROWS = 512


def _float_exact(fill: object) -> bool:
    """True when ``pad_sequence``'s float ``padding_value`` carries ``fill`` exactly."""
    if isinstance(fill, (bool, float)):
        return True
    return isinstance(fill, int) and abs(fill) <= 2**53


def _integer_range(dtype: torch.dtype) -> tuple[int, int]:
    if dtype == torch.bool:
        return 0, 1
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def _checked(row: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``row`` ready to be copied into a ``dtype`` output: itself when the copy cannot lose
    anything (same dtype, a wider integer, a float target) or when only its range needs a
    check (integer into a narrower integer: one ``aminmax``); else the checked cast."""
    src = row.dtype
    if src == dtype:
        return row
    if dtype.is_floating_point and not src.is_complex:
        rounds_twice = src == torch.float64 and dtype in (torch.float16, torch.bfloat16)
        return cast_tensor(row, dtype, "sequences") if rounds_twice else row
    if src in SIGNED_TWIN or dtype in SIGNED_TWIN or src.is_floating_point or src.is_complex:
        return cast_tensor(row, dtype, "sequences")
    if dtype == torch.bool or src == torch.bool or not row.numel():
        return cast_tensor(row, dtype, "sequences")
    lo, hi = _integer_range(dtype)
    src_lo, src_hi = _integer_range(src)
    if lo <= src_lo and src_hi <= hi:
        return row
    low, high = torch.aminmax(row.detach())
    if lo <= int(low) and int(high) <= hi:
        return row
    return cast_tensor(row, dtype, "sequences")  # raises the rule's error


def _checked_numpy(row: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The NumPy twin of :func:`_checked`: ``row`` itself when assigning it into a ``dtype``
    array loses nothing (a range check for a narrower integer), else the checked cast."""
    src = row.dtype
    if src == dtype or (dtype.kind == "f" and src.kind in "biu"):
        return row
    if dtype.kind in "iu" and src.kind in "iu" and row.size:
        info = np.iinfo(dtype)
        if info.min <= row.min() and row.max() <= info.max:
            return row
    return cast_array(row, dtype, "sequences")


def _numpy_view(row: torch.Tensor) -> np.ndarray | None:
    """A CPU tensor that needs no gradient as a NumPy array (no copy); else None."""
    if row.device.type != "cpu" or row.requires_grad or numpy_dtype(row.dtype) is None:
        return None
    try:
        return row.numpy()
    except (RuntimeError, TypeError):  # conjugate or negative views
        return None


def _slices(n: int, width: int, padding: str, truncating: str) -> tuple[slice, slice]:
    """(the kept steps of a row of ``n``, where they land in a row of ``width``)."""
    k = min(n, width)
    src = slice(n - k, n) if truncating == "pre" else slice(0, k)
    dst = slice(width - k, width) if padding == "pre" else slice(0, k)
    return src, dst


def _row_loop(
    rows: Sequence[torch.Tensor],
    lengths: list[int],
    width: int,
    inner: tuple[int, ...],
    dtype: torch.dtype,
    fill: object,
    padding: str,
    truncating: str,
) -> torch.Tensor | None:
    """Every row checked (its truncated steps too), then copied into the output; None for
    uint16/32/64 rows that NumPy cannot take (torch has few kernels for them)."""
    shape = (len(rows), width, *inner)
    target = numpy_dtype(dtype)
    arrays = [_numpy_view(r) for r in rows] if target is not None else [None]
    if all(a is not None for a in arrays):
        checked = [_checked_numpy(cast(np.ndarray, a), cast(np.dtype, target)) for a in arrays]
        out = np.full(shape, fill, dtype=target)
        for i, (a, n) in enumerate(zip(checked, lengths)):
            src, dst = _slices(n, width, padding, truncating)
            out[i, dst] = a[src]
        return torch.from_numpy(out)
    if dtype in SIGNED_TWIN:
        return None
    checked_rows = [_checked(r, dtype) for r in rows]
    result = torch.full(shape, cast(Any, fill), dtype=dtype, device=rows[0].device)
    for i, (r, n) in enumerate(zip(checked_rows, lengths)):
        src, dst = _slices(n, width, padding, truncating)
        result[i, dst].copy_(r[src])
    return result


def pad_tensors(
    rows: Sequence[torch.Tensor],
    maxlen: int | None,
    dtype: torch.dtype,
    padding: str,
    truncating: str,
    value: object,
) -> torch.Tensor | None:
    """The padded batch, copied row by row; None where the gate says no."""
    try:
        lengths = [shape[0] for shape in (r.shape for r in rows)]
    except IndexError:  # a 0-d tensor: the general path names it
        return None
    longest = max(lengths)
    width = maxlen if maxlen is not None else longest
    inner = tuple(rows[0].shape[1:])
    check_padded_size(len(rows), width, inner, dtype_name(dtype), maxlen, "max(len(sequences))")
    fill = cast_fill(value, dtype, "value")
    if width <= longest and _float_exact(fill) and {r.dtype for r in rows} == {dtype}:
        views = rows
        if width < longest:
            cut = _slices
            views = [
                r if n <= width else r[cut(n, width, padding, truncating)[0]]
                for r, n in zip(rows, lengths)
            ]
        side = "left" if padding == "pre" else "right"
        try:
            # torch's stub wants a list and a float; any sequence and scalar work
            return pad_sequence(views, batch_first=True, padding_value=fill, padding_side=side)  # type: ignore[arg-type]
        except RuntimeError:
            return None  # devices or step shapes differ: the general path says which
    if sum(lengths) < LONG_ROWS * len(rows):
        return None
    if len({r.shape[1:] for r in rows}) != 1 or len({r.device for r in rows}) != 1:
        return None  # the general path names the culprit (or fits empty rows to any shape)
    return _row_loop(rows, lengths, width, inner, dtype, fill, padding, truncating)

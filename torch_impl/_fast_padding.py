"""Fast path of torch_impl's padding (the rule is :mod:`torch_impl.padding`'s).

A list of a few long tensors is copied row by row into a ``torch.full``
output, as ``torch.nn.utils.rnn.pad_sequence`` does: no concatenated copy of
the data (the general path's ``torch.cat``), so the peak memory is the inputs
plus the output, and each row is cast straight into the output after its range
is checked. The gate: the rows share a device and a step shape, and are long
enough (``LONG_ROWS`` steps on average) that a Python loop over them costs
nothing next to the copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from maskref.api._sequences import row_error
from maskref.api.padding import check_padded_size

from ._convert import SIGNED_TWIN, cast_fill, cast_tensor, dtype_name

#: Average steps per row from which the row loop is used (below it, one cat + scatter).
LONG_ROWS = 512


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


def pad_tensors(
    rows: Sequence[torch.Tensor],
    maxlen: int | None,
    dtype: torch.dtype,
    padding: str,
    truncating: str,
    value: object,
) -> torch.Tensor | None:
    """The padded batch, copied row by row; None where the gate says no."""
    shapes = [r.shape for r in rows]
    if not all(shapes):  # a 0-d tensor
        i = next(i for i, sh in enumerate(shapes) if not sh)
        raise row_error(i, rows[i])
    lengths = [sh[0] for sh in shapes]
    if sum(lengths) < LONG_ROWS * len(rows):
        return None
    inners = {sh[1:] for sh in shapes}
    devices = {r.device for r in rows}
    if len(inners) != 1 or len(devices) != 1 or dtype in SIGNED_TWIN:
        return None  # the general path names the culprit, copes with empty rows and uint64
    inner, device = tuple(inners.pop()), devices.pop()
    width = maxlen if maxlen is not None else max(lengths)
    check_padded_size(len(rows), width, inner, dtype_name(dtype), maxlen, "max(len(sequences))")
    fill = cast_fill(value, dtype, "value")
    checked = [_checked(r, dtype) for r in rows]  # every row, truncated steps included
    out = torch.full((len(rows), width, *inner), fill, dtype=dtype, device=device)
    for i, (row, n) in enumerate(zip(checked, lengths)):
        k = min(n, width)
        if k:
            src = row[n - k :] if truncating == "pre" else row[:k]
            (out[i, width - k :] if padding == "pre" else out[i, :k]).copy_(src)
    return out

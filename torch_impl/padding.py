"""Padding kernels in PyTorch (rules and checks: the front ends, :mod:`maskref.api.padding`).

Torch inputs stay on their device and are padded without a Python loop over a
large batch: the sequences are concatenated into one buffer, truncation
selects from it, and one ``masked_scatter_`` places the kept steps into a
``torch.full`` output. A list of few long tensors is copied row by row into
the output instead (:mod:`torch_impl._fast_padding`: no concatenated copy).
Python lists and NumPy arrays are read by
:func:`maskref.api._sequences.read_sequences`.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from maskref.api._sequences import read_sequences, row_error
from maskref.api.padding import check_padded_size

from . import _fast_padding
from ._convert import SIGNED_TWIN, cast_fill, cast_tensor, numpy_dtype, numpy_of, to_torch

#: Strings and objects are the reference's alone (read by the front end).
HOLDS_STRINGS = False


def padding_mask(kept: torch.Tensor, maxlen: int, padding: str) -> torch.Tensor:
    """Boolean ``(B, maxlen)``: where the ``kept[i]`` steps of row ``i`` land.

    ``padding="post"`` puts them first, ``"pre"`` last; ``kept`` (a 1-D integer
    tensor, already clipped to ``[0, maxlen]``) decides the device.
    """
    steps = torch.arange(maxlen, device=kept.device)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (maxlen - kept)[:, None]


def _truncate(
    values: torch.Tensor, lengths: torch.Tensor, kept: torch.Tensor, truncating: str
) -> torch.Tensor:
    """The steps that survive truncation, in order: ``kept[i]`` steps of each row.

    Row ``i`` keeps one contiguous run of ``values`` (its last ``kept[i]``
    steps, or its first with ``truncating="post"``), so the source index of
    every kept step is a ragged ``arange``: built as the running sum of an
    all-ones buffer with one jump per row (no per-step division or repeat),
    then gathered with one ``index_select``.
    """
    ends = torch.cumsum(lengths, 0)
    first = ends - kept if truncating == "pre" else ends - lengths
    nonempty = kept > 0
    kept, first = kept[nonempty], first[nonempty]
    count = int(kept.sum())
    index_dtype = torch.int32 if values.shape[0] < 2**31 - 1 else torch.int64
    step = torch.ones(count, dtype=index_dtype, device=values.device)
    jump = first.clone()
    jump[1:] -= first[:-1] + kept[:-1] - 1  # from the previous row's last index to first
    step[torch.cumsum(kept, 0) - kept] = jump.to(index_dtype)
    return values.index_select(0, torch.cumsum(step, 0, dtype=index_dtype))


def _pad_flat(
    values: torch.Tensor,
    lengths: torch.Tensor,
    maxlen: int | None,
    padding: str,
    truncating: str,
    fill: bool | int | float | complex,
) -> torch.Tensor:
    """Validated ``values`` (sum(lengths), *inner) -> (B, maxlen, *inner): one ``torch.full``
    and one ``masked_scatter_``. ``lengths`` is int64 on ``values``'s device and ``fill`` is
    already cast.
    """
    twin = SIGNED_TWIN.get(values.dtype)
    if twin is not None:  # no masked_scatter for uint16/32/64: move the same bits as int
        bits = (
            np.array(fill, dtype=numpy_dtype(values.dtype))
            .view(cast(np.dtype, numpy_dtype(twin)))
            .item()
        )
        out = _pad_flat(values.view(twin), lengths, maxlen, padding, truncating, bits)
        return out.view(values.dtype)
    batch, total, inner = lengths.shape[0], values.shape[0], tuple(values.shape[1:])
    longest = int(lengths.max()) if batch else 0
    if maxlen is None:
        maxlen = longest
    out = torch.full((batch, maxlen, *inner), fill, dtype=values.dtype, device=values.device)
    if total == 0 or maxlen == 0 or out.numel() == 0:
        return out
    kept = lengths
    if longest > maxlen:
        kept = lengths.clamp(max=maxlen)
        values = _truncate(values, lengths, kept, truncating)
    where = padding_mask(kept, maxlen, padding).view(batch, maxlen, *(1,) * len(inner))
    out.masked_scatter_(where, values.contiguous())
    return out


def pad_flat(
    values: torch.Tensor,
    lengths: torch.Tensor,
    maxlen: int | None,
    padding: str,
    truncating: str,
    value: object,
) -> torch.Tensor:
    """The result is on ``values``'s device (``lengths``'s when ``values`` is not a
    tensor), built without a Python loop over the rows (one ``masked_scatter_``).

    >>> pad_flat(torch.tensor([1, 2, 3, 4]), torch.tensor([3, 1]), padding="post")
    tensor([[1, 2, 3],
            [4, 0, 0]])
    """
    if lengths.dtype == torch.uint64:
        lengths = lengths.view(torch.int64)
    lengths = lengths.to(device=values.device, dtype=torch.int64)
    fill = cast_fill(value, values.dtype, "value")
    return _pad_flat(values, lengths, maxlen, padding, truncating, fill)


def _inner_shape(seqs: list[torch.Tensor]) -> tuple[int, ...]:
    """The common step shape, or the reference's ``ValueError`` naming the culprit."""
    inner: tuple[int, ...] | None = None
    for i, s in enumerate(seqs):
        if s.shape[0] == 0 and s.ndim == 1:
            continue  # an empty sequence fits any inner shape
        if inner is None:
            inner = tuple(s.shape[1:])
        elif tuple(s.shape[1:]) != inner:
            raise ValueError(
                f"sequences[{i}] has steps of shape {tuple(s.shape[1:])}, but earlier "
                f"sequences have steps of shape {inner}"
            )
    return inner or ()


def _concat_tensors(
    seqs: list[torch.Tensor], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, lengths) on one device: one ``torch.cat`` of the rows.

    Only shapes, dtypes and devices are read in Python (one pass each). Rows of
    different dtypes are each cast to ``dtype`` first, by the lossless-cast rule,
    never promoted together (int64 with float32 would pass through float64).
    """
    shapes = [s.shape for s in seqs]
    if not all(shapes):  # torch.Size([]) is falsy: a 0-d tensor
        i = next(i for i, sh in enumerate(shapes) if not sh)
        raise row_error(i, seqs[i])
    device = seqs[0].device
    if len({s.device for s in seqs}) > 1:
        i = next(i for i, s in enumerate(seqs) if s.device != device)
        raise ValueError(
            f"sequences[{i}] is on {seqs[i].device}, but sequences[0] is on {device}; "
            f"move them to one device first"
        )
    inners = {sh[1:] for sh in shapes}
    inner = tuple(inners.pop()) if len(inners) == 1 else _inner_shape(seqs)
    lengths = torch.tensor([sh[0] for sh in shapes], dtype=torch.int64, device=device)
    parts = seqs
    if len(inners) > 1 and inner:  # empty 1-D sequences take the common step shape
        parts = [s.reshape((0, *inner)) if s.ndim == 1 and s.shape[0] == 0 else s for s in seqs]
    dtypes = list(dict.fromkeys(s.dtype for s in seqs))
    if len(dtypes) > 1:  # each cast on its own (checked), then one buffer of dtype
        parts = [cast_tensor(p, dtype, "sequences") for p in parts]
    return torch.cat(parts), lengths


def _from_tensor(x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(values, lengths) of a nested or dense (B, T, ...) tensor; None when not that."""
    if x.is_nested:
        if x.layout != torch.jagged or getattr(x, "_ragged_idx", 1) != 1:
            return _concat_tensors(list(x.unbind()), dtype)
        if x.lengths() is not None:  # type: ignore[attr-defined]  # nested-tensor method missing from torch's stubs
            raise ValueError(
                "sequences is a nested tensor with holes (lengths() is not None); "
                "make it contiguous first (e.g. with .contiguous())"
            )
        offsets = x.offsets()  # type: ignore[attr-defined]  # nested-tensor method missing from torch's stubs
        lengths = torch.diff(offsets).to(torch.int64)
        start, stop = (int(o) for o in offsets[[0, -1]])
        return x.values()[start:stop], lengths
    if x.ndim < 2:
        return None
    batch, steps = x.shape[0], x.shape[1]
    if batch == 0:  # as the reference: an empty batch has no step shape
        return x.new_empty((0,)), torch.zeros(0, dtype=torch.int64, device=x.device)
    lengths = torch.full((batch,), steps, dtype=torch.int64, device=x.device)
    return x.reshape(batch * steps, *x.shape[2:]), lengths


def _read(sequences: object, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain data (lists, arrays, a mix with tensors) read by the shared rule; the result goes
    to the device of the first tensor in the list, else the CPU."""
    device = torch.device("cpu")
    if isinstance(sequences, torch.Tensor):
        device, sequences = sequences.device, numpy_of(sequences)
    elif isinstance(sequences, (list, tuple)):
        tensors = [s for s in sequences if isinstance(s, torch.Tensor)]
        if tensors:
            device = tensors[0].device
            sequences = [numpy_of(s) if isinstance(s, torch.Tensor) else s for s in sequences]
    read_as = numpy_dtype(dtype)
    if read_as is None:  # bfloat16: read as float64, rounded once by the cast
        read_as = np.dtype(np.complex128 if dtype.is_complex else np.float64)
    values, lengths = read_sequences(cast(Any, sequences), read_as)
    return to_torch(values, "sequences", device), to_torch(lengths, "lengths", device)


def pad_sequences(
    sequences: object,
    maxlen: int | None,
    dtype: str,
    padding: str,
    truncating: str,
    value: object,
) -> torch.Tensor:
    """``sequences`` may be a list or tuple of tensors (all on one device: padded there,
    without a Python loop over a large batch), a ``torch.nested`` tensor of layout
    ``torch.jagged`` (its ``values()`` and ``offsets()`` are used; one with holes,
    ``lengths() is not None``, is a ``ValueError``), a dense ``(B, T, ...)`` tensor, or
    plain data (lists, NumPy arrays, a mix: the result goes to the device of the first
    tensor in the list, else the CPU). Each tensor is cast to ``dtype`` on its own (never
    promoted with the others first). Gradients flow from the result to float input tensors.

    >>> pad_sequences([torch.tensor([1, 2, 3]), torch.tensor([4])], padding="post")
    tensor([[1, 2, 3],
            [4, 0, 0]], dtype=torch.int32)
    >>> pad_sequences([[1], [2, 3]], maxlen=1, dtype=torch.float32)
    tensor([[1.],
            [3.]])
    """
    target = getattr(torch, dtype)
    batch = None
    if isinstance(sequences, torch.Tensor):
        batch = _from_tensor(sequences, target)
    elif (
        isinstance(sequences, (list, tuple))
        and sequences
        and (
            set(map(type, sequences)) == {torch.Tensor}
            or all(isinstance(s, torch.Tensor) for s in sequences)
        )
    ):
        fast = _fast_padding.pad_tensors(sequences, maxlen, target, padding, truncating, value)
        if fast is not None:
            return fast
        batch = _concat_tensors(list(sequences), target)
    if batch is None:
        batch = _read(sequences, target)
    values, lengths = batch
    width = maxlen if maxlen is not None else (int(lengths.max()) if lengths.numel() else 0)
    check_padded_size(
        lengths.numel(), width, tuple(values.shape[1:]), dtype, maxlen, "max(len(sequences))"
    )
    values = cast_tensor(values, target, "sequences")
    fill = cast_fill(value, target, "value")
    return _pad_flat(values, lengths, width, padding, truncating, fill)


def unpad_sequences(
    padded: torch.Tensor, lengths: torch.Tensor, padding: str
) -> list[torch.Tensor]:
    """The parts are tensors of ``padded``'s dtype on its device, selected with one boolean
    mask and cut with ``torch.split``: copies, never views of ``padded`` (gradients still
    flow back to it).

    >>> unpad_sequences(torch.tensor([[1, 2, 0], [3, 0, 0]]), torch.tensor([2, 1]))
    [tensor([1, 2]), tensor([3])]
    """
    if not lengths.numel():
        return []
    lengths = lengths.to(padded.device)
    twin = SIGNED_TWIN.get(padded.dtype)
    source = padded if twin is None else padded.view(twin)  # few kernels for uint16/32/64
    valid = source[padding_mask(lengths, padded.shape[1], padding)]  # boolean indexing copies
    parts = torch.split(valid, lengths.tolist())
    return list(parts) if twin is None else [p.view(padded.dtype) for p in parts]

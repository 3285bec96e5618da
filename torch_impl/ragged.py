"""Ragged, packed and unpadded layouts in PyTorch (rules and checks: the front ends,
:mod:`maskref.api.ragged`).

Nothing here does arithmetic on the data: every conversion is one gather
(``index_select``) or one scatter (``index_copy_``) of the steps, driven by
int64 indices built from the mask or the lengths, with no Python loop over
the batch. Results stay on the data's device (the mask's when the data is not
a tensor), gradients flow from the results to float inputs, and masked steps
are never read into a valid slot, so NaN or inf there cannot leak into a
result or a gradient. Functions whose output size depends on the data
(``ragged_from_padded``, ``unpad``, ``pack_sequences``, ...) synchronise with
the device once to learn it, as ``x[mask]`` does; ``positions_from_mask``,
``last_valid`` and ``first_valid`` have static shapes and compile to one graph.

Also here, conversions to and from PyTorch's own objects:
:func:`to_packed_sequence` / :func:`from_packed_sequence`
(``torch.nn.utils.rnn.PackedSequence``) and :func:`to_nested` /
:func:`from_nested` (jagged ``torch.nested`` tensors).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

import torch_impl as _public  # the public functions (bound at package import)
from maskref.api.ragged import PackedSequences

from ._convert import SIGNED_TWIN, cast_fill
from .padding import padding_mask


def _bits(x: torch.Tensor) -> torch.Tensor:
    """``x`` viewed as the signed twin of uint16/32/64 (few torch kernels move them)."""
    twin = SIGNED_TWIN.get(x.dtype)
    return x if twin is None else x.view(twin)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, ...)`` as ``(B * T, ...)``: one row per step (a view when strides allow)."""
    return x.flatten(0, 1)


def _splits(counts: torch.Tensor, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """``[0, c0, c0 + c1, ...]`` in ``dtype``."""
    out = torch.zeros(counts.shape[0] + 1, dtype=dtype, device=counts.device)
    torch.cumsum(counts, 0, dtype=dtype, out=out[1:])
    return out


def _inverse_permutation(order: torch.Tensor) -> torch.Tensor:
    """``argsort(order)`` for a permutation ``order``, by one scatter."""
    out = torch.empty_like(order)
    out[order] = torch.arange(order.shape[0], dtype=order.dtype, device=order.device)
    return out


# --- row splits -----------------------------------------------------------------------------


def row_splits_from_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """The result is on ``lengths``'s device.

    >>> row_splits_from_lengths(torch.tensor([2, 0, 3]))
    tensor([0, 2, 2, 5])
    """
    return _splits(lengths)


def lengths_from_row_splits(row_splits: torch.Tensor) -> torch.Tensor:
    """The result is on ``row_splits``'s device."""
    return torch.diff(row_splits)


# --- padded <-> ragged -----------------------------------------------------------------------


def _compact(x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x[m], flat indices of the valid steps)``: one ``nonzero`` and one row gather."""
    indices = torch.nonzero(m.reshape(-1)).reshape(-1)
    return _rows(x).index_select(0, indices), indices


def ragged_from_padded(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``values`` and the int64 ``row_splits`` are on ``x``'s device.

    >>> ragged_from_padded(torch.tensor([[1, 2, 0], [0, 3, 4]]),
    ...                    torch.tensor([[True, True, False], [False, True, True]]))
    (tensor([1, 2, 3, 4]), tensor([0, 2, 4]))
    """
    mask = mask.to(x.device)
    values, _ = _compact(x, mask)
    return values, _splits(mask.sum(1))


def padded_from_ragged(
    values: torch.Tensor,
    row_splits: torch.Tensor,
    lengths: torch.Tensor,
    maxlen: int | None,
    padding: str,
    truncating: str,
    value: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded by ``pad_flat`` (one ``masked_scatter_``); ``x`` has ``values``'s dtype and
    device.

    >>> x, mask = padded_from_ragged(torch.tensor([1, 2, 3]), torch.tensor([0, 2, 3]))
    >>> x, mask
    (tensor([[1, 2],
            [3, 0]]), tensor([[ True,  True],
            [ True, False]]))
    """
    lengths = lengths.to(values.device)
    x = _public.pad_flat(values, lengths, maxlen, padding, truncating, value)
    width = x.shape[1]
    return x, padding_mask(lengths.clamp(max=width), width, padding)


# --- packed (PyTorch's PackedSequence layout) ------------------------------------------------


def pack_sequences(x: torch.Tensor, lengths: torch.Tensor, enforce_sorted: bool) -> PackedSequences:
    """The tensors are on ``x``'s device; the steps are moved by one ``index_select``, never
    a copy of the whole batch. :func:`to_packed_sequence` gives a
    ``torch.nn.utils.rnn.PackedSequence``.

    >>> p = pack_sequences(torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([2, 3]))
    >>> p.data, p.batch_sizes, p.sorted_indices
    (tensor([3, 1, 4, 2, 5]), tensor([2, 2, 1]), tensor([1, 0]))
    """
    lengths = lengths.to(x.device)
    batch, steps = x.shape[0], x.shape[1]
    if enforce_sorted:
        sorted_lengths, order = lengths, torch.arange(batch, device=x.device)
    else:
        sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
    longest = int(sorted_lengths[0]) if batch else 0
    valid = torch.arange(longest, device=x.device)[:, None] < sorted_lengths  # (T', B)
    t, j = torch.nonzero(valid).unbind(1)  # time-major: step 0 of every row first
    data = _rows(x).index_select(0, order[j] * steps + t)
    return PackedSequences(data, valid.sum(1), order, _inverse_permutation(order))


def is_inverse_permutation(inverse: torch.Tensor, order: torch.Tensor) -> bool:
    """``inverse[order] == arange(B)`` (``order`` already in ``[0, B)``)."""
    inverse = inverse.to(order.device)
    arange = torch.arange(order.shape[0], device=order.device)
    return bool(torch.equal(inverse[order], arange))


def unpack_sequences(
    data: torch.Tensor,
    batch_sizes: torch.Tensor,
    order: torch.Tensor,
    inverse: torch.Tensor,
    width: int,
    padding_value: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The steps are placed by one ``index_copy_`` into a ``torch.full`` batch on ``data``'s
    device; the int64 ``lengths`` are there too.

    >>> unpack_sequences(pack_sequences(torch.tensor([[1, 2, 0], [3, 4, 5]]), [2, 3]))
    (tensor([[1, 2, 0],
            [3, 4, 5]]), tensor([2, 3]))
    """
    device = data.device
    sizes, order, inverse = (t.to(device) for t in (batch_sizes, order, inverse))
    rows, steps = order.shape[0], sizes.shape[0]
    fill = cast_fill(padding_value, data.dtype, "padding_value")
    sorted_lengths = (sizes > torch.arange(rows, device=device)[:, None]).sum(1)
    t, j = torch.nonzero(torch.arange(steps, device=device)[:, None] < sorted_lengths).unbind(1)
    inner = tuple(data.shape[1:])
    out = torch.full((rows * width, *inner), fill, dtype=data.dtype, device=device)
    # sorted row j goes straight to its original row order[j]: one scatter
    _bits(out).index_copy_(0, order[j] * width + t, _bits(data))
    return out.view(rows, width, *inner), sorted_lengths[inverse]


# --- unpadded (varlen attention) -------------------------------------------------------------


def unpad(
    x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``indices``, int32 ``cu_seqlens`` and a Python-int ``max_seqlen``, as flash-attn's
    varlen kernels take them. One ``nonzero`` and one ``index_select``, on ``x``'s device.

    >>> unpad(torch.tensor([[5, 6], [7, 8]]), torch.tensor([[True, False], [True, True]]))
    (tensor([5, 7, 8]), tensor([0, 2, 3]), tensor([0, 1, 3], dtype=torch.int32), 2)
    """
    mask = mask.to(x.device)
    values, indices = _compact(x, mask)
    counts = mask.sum(1)
    max_seqlen = int(counts.max()) if counts.numel() else 0
    return values, indices, _splits(counts).to(torch.int32), max_seqlen


def are_distinct(indices: torch.Tensor, size: int) -> bool:
    """No index repeats: one comparison when ``indices`` increase strictly (as ``unpad``
    makes them), else one sort."""
    if bool((indices[1:] > indices[:-1]).all()):
        return True
    ordered = torch.sort(indices).values
    return bool((ordered[1:] > ordered[:-1]).all())


def repad(values: torch.Tensor, indices: torch.Tensor, batch: int, seqlen: int) -> torch.Tensor:
    """One ``index_copy_`` into zeros of ``values``'s dtype, on ``values``'s device.

    >>> repad(torch.tensor([5, 7, 8]), torch.tensor([0, 2, 3]), 2, 2)
    tensor([[5, 0],
            [7, 8]])
    """
    inner = tuple(values.shape[1:])
    out = torch.zeros((batch * seqlen, *inner), dtype=values.dtype, device=values.device)
    _bits(out).index_copy_(0, indices.to(values.device), _bits(values))
    return out.view(batch, seqlen, *inner)


# --- per-row operations ----------------------------------------------------------------------


def _reversed_positions(lengths: torch.Tensor, steps: int, padding: str) -> torch.Tensor:
    """``(B, steps)``: the step each output step of ``reverse_sequences`` reads."""
    t = torch.arange(steps, device=lengths.device)
    n = lengths[:, None]
    if padding == "post":
        return torch.where(t < n, n - 1 - t, t)
    start = steps - n
    return torch.where(t >= start, start + steps - 1 - t, t)


def reverse_sequences(
    x: torch.Tensor, lengths: torch.Tensor, axis: int, padding: str
) -> torch.Tensor:
    """One advanced-indexing gather; the result has ``x``'s dtype and device.

    >>> reverse_sequences(torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2]))
    tensor([[3, 2, 1, 0],
            [5, 4, 0, 0]])
    """
    source = _reversed_positions(lengths.to(x.device), x.shape[axis], padding)
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    if axis == 1:
        return x[rows, source]
    return x.movedim(axis, 1)[rows, source].movedim(1, axis).contiguous()


def positions_from_mask(mask: torch.Tensor, start: int, fill: int) -> torch.Tensor:
    """The result is on the mask's device.

    >>> positions_from_mask(torch.tensor([[False, True, True], [True, True, False]]))
    tensor([[0, 0, 1],
            [0, 1, 0]])
    """
    positions = torch.cumsum(mask, -1, dtype=torch.int64) - 1 + start
    return torch.where(mask, positions, torch.tensor(fill, dtype=torch.int64, device=mask.device))


def _edge_valid(x: torch.Tensor, m: torch.Tensor, empty: object, last: bool) -> torch.Tensor:
    m = m.to(x.device)
    fill = torch.full((), cast_fill(empty, x.dtype, "empty"), dtype=x.dtype, device=x.device)
    batch, steps = m.shape
    if steps == 0:
        return fill.expand(batch, *x.shape[2:]).clone()
    t = torch.arange(steps, device=x.device)
    if last:
        index = torch.where(m, t, -1).amax(1)
        has = index >= 0
    else:
        index = torch.where(m, t, steps).amin(1)
        has = index < steps
    picked = x[torch.arange(batch, device=x.device), index.clamp(0, steps - 1)]
    return torch.where(has.reshape(-1, *(1,) * (x.ndim - 2)), picked, fill)


def last_valid(x: torch.Tensor, mask: torch.Tensor, empty: object) -> torch.Tensor:
    """The steps are picked by one gather; masked steps never reach the result nor its
    gradient. Static shapes: compiles to one graph.

    >>> last_valid(torch.tensor([[1, 2, 0], [3, 0, 0]]),
    ...            torch.tensor([[True, True, False], [False, False, False]]))
    tensor([2, 0])
    """
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: torch.Tensor, mask: torch.Tensor, empty: object) -> torch.Tensor:
    """As ``last_valid``, with the smallest valid step.

    >>> first_valid(torch.tensor([[0, 1, 2], [0, 0, 0]]),
    ...             torch.tensor([[False, True, True], [False, False, False]]))
    tensor([1, 0])
    """
    return _edge_valid(x, mask, empty, last=False)


# --- PyTorch's own objects -------------------------------------------------------------------


def to_packed_sequence(
    x: object, lengths: object, *, enforce_sorted: bool = False
) -> PackedSequence:
    """``x (B, T, ...)`` as a ``torch.nn.utils.rnn.PackedSequence`` (batch-first input).

    The layout of :func:`pack_sequences`, in PyTorch's object: what
    ``pack_padded_sequence(x, lengths, batch_first=True,
    enforce_sorted=enforce_sorted)`` gives, with ties in length kept in
    their original order, ``batch_sizes`` on the CPU (as PyTorch's RNNs
    require) and the indices on ``x``'s device (None with
    ``enforce_sorted=True``, as PyTorch). A ``PackedSequence`` cannot hold a
    row of length 0 nor an empty batch (PyTorch refuses both): those are a
    ``ValueError`` here; :func:`pack_sequences` keeps them.

    >>> p = to_packed_sequence(torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([2, 3]))
    >>> p.data, p.batch_sizes, p.sorted_indices
    (tensor([3, 1, 4, 2, 5]), tensor([2, 2, 1]), tensor([1, 0]))
    """
    p = _public.pack_sequences(x, lengths, enforce_sorted=enforce_sorted)
    rows, steps = p.sorted_indices.shape[0], p.batch_sizes.shape[0]
    if rows == 0:
        raise ValueError(
            "to_packed_sequence: a PackedSequence cannot hold an empty batch "
            "(PyTorch refuses it); pack_sequences keeps it"
        )
    if steps == 0 or int(p.batch_sizes[0]) < rows:  # batch_sizes[0]: the rows of length >= 1
        raise ValueError(
            "to_packed_sequence: lengths must be at least 1, since a "
            "PackedSequence cannot hold a zero-length row (PyTorch refuses "
            "them); drop those rows, or use pack_sequences, which keeps them"
        )
    if enforce_sorted:
        return PackedSequence(p.data, p.batch_sizes.cpu())
    return PackedSequence(p.data, p.batch_sizes.cpu(), p.sorted_indices, p.unsorted_indices)


def from_packed_sequence(
    packed: PackedSequence, *, total_length: int | None = None, padding_value: object = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, lengths)``: a ``PackedSequence`` as a batch-first ``(B, T, ...)`` tensor.

    :func:`unpack_sequences` on PyTorch's object: what
    ``pad_packed_sequence(packed, batch_first=True, ...)`` gives, with the
    reference's checks (``padding_value`` cast losslessly to the data's
    dtype). ``sorted_indices`` None (``enforce_sorted=True``) means the
    identity. ``lengths`` is int64 on the data's device (PyTorch's are on the
    CPU).

    >>> p = to_packed_sequence(torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([2, 3]))
    >>> from_packed_sequence(p, total_length=4, padding_value=-1)
    (tensor([[ 1,  2, -1, -1],
            [ 3,  4,  5, -1]]), tensor([2, 3]))
    """
    if not isinstance(packed, PackedSequence):
        raise TypeError(
            f"packed must be a torch.nn.utils.rnn.PackedSequence, got {type(packed).__name__}"
        )
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    if sorted_indices is None:
        rows = int(batch_sizes[0]) if batch_sizes.numel() else 0
        sorted_indices = torch.arange(rows, device=data.device)
    if unsorted_indices is None:
        unsorted_indices = _inverse_permutation(sorted_indices)
    return _public.unpack_sequences(
        PackedSequences(data, batch_sizes, sorted_indices, unsorted_indices),
        total_length=total_length,
        padding_value=padding_value,
    )


def to_nested(x: object, mask: object) -> torch.Tensor:
    """The valid steps of ``x (B, T, ...)`` as a jagged ``torch.nested`` tensor ``(B, j, ...)``.

    :func:`ragged_from_padded` in PyTorch's object: row ``b`` holds the valid
    steps of ``x[b]`` in order (a mask with holes is compacted; zero-length
    rows and an empty batch are kept). The tensor has ``layout=torch.jagged``,
    ``values()`` of ``x``'s dtype on its device (gradients flow back to
    ``x``), ``offsets()`` the int64 row splits, and its min/max row lengths
    cached (as varlen attention wants them).

    >>> nt = to_nested(torch.tensor([[1, 2, 0], [0, 3, 4]]),
    ...                torch.tensor([[True, True, False], [False, False, True]]))
    >>> nt.values(), nt.offsets()
    (tensor([1, 2, 4]), tensor([0, 2, 3]))
    """
    values, splits = _public.ragged_from_padded(x, mask)
    lengths = torch.diff(splits)
    shortest, longest = (
        torch.stack([lengths.min(), lengths.max()]).tolist() if lengths.numel() else (0, 0)
    )
    return torch.nested.nested_tensor_from_jagged(
        values, splits, min_seqlen=shortest, max_seqlen=longest
    )


def _jagged_parts(nt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, row_splits)`` of a jagged tensor, rows compacted when it has holes."""
    values, offsets, lengths = nt.values(), nt.offsets(), nt.lengths()  # type: ignore[attr-defined]  # nested-tensor methods missing from torch stubs
    if lengths is None:
        lengths = torch.diff(offsets)
        start, end = torch.stack([offsets[0], offsets[-1]]).tolist()
        if start == 0:
            return values[:end], offsets.to(torch.int64)
    lengths = lengths.to(torch.int64)
    starts = (offsets[:-1] if offsets.shape[0] > lengths.shape[0] else offsets).to(torch.int64)
    longest = int(lengths.max()) if lengths.numel() else 0
    t = torch.arange(longest, device=values.device)
    source = (starts[:, None] + t)[t < lengths[:, None]]
    return values.index_select(0, source), _splits(lengths)


def from_nested(
    nt: torch.Tensor, *, maxlen: int | None = None, padding: str = "post", value: object = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, mask)``: a jagged ``torch.nested`` tensor ``(B, j, ...)`` padded to ``(B, T, ...)``.

    :func:`padded_from_ragged` on PyTorch's object (rule stated there:
    ``maxlen`` defaults to the longest row, longer rows keep their last
    ``maxlen`` steps, ``value`` is cast losslessly). A jagged tensor with
    holes (``lengths()`` not None, from ``torch.nested.narrow``) is read row
    by row as its offsets and lengths say. Only ``layout=torch.jagged`` with
    the ragged dimension 1 is taken (``TypeError`` otherwise; convert a
    strided nested tensor with ``torch.nested.as_nested_tensor(list(nt),
    layout=torch.jagged)``). ``x`` is on the values' device.

    >>> nt = torch.nested.nested_tensor([torch.tensor([1, 2]), torch.tensor([3])],
    ...                                 layout=torch.jagged)
    >>> from_nested(nt, padding="pre", value=-1)
    (tensor([[ 1,  2],
            [-1,  3]]), tensor([[ True,  True],
            [False,  True]]))
    """
    if not (isinstance(nt, torch.Tensor) and nt.is_nested):
        raise TypeError(f"nt must be a nested tensor (torch.nested), got {type(nt).__name__}")
    if nt.layout != torch.jagged or getattr(nt, "_ragged_idx", 1) != 1:
        raise TypeError(
            "nt must be a nested tensor with layout=torch.jagged, ragged along "
            "dimension 1; convert it with torch.nested.as_nested_tensor(list(nt), "
            "layout=torch.jagged)"
        )
    values, splits = _jagged_parts(nt)
    return _public.padded_from_ragged(values, splits, maxlen=maxlen, padding=padding, value=value)

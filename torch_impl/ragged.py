"""Every layout a batch of sequences takes, and exact conversions between them, in PyTorch.

Mirrors :mod:`reference.ragged`: same functions, signatures, defaults, errors
and results (as ``torch.Tensor``; :class:`PackedSequences` is the
reference's own class, holding tensors). Nothing here does arithmetic on the
data: every conversion is one gather (``index_select``) or one scatter
(``index_copy_``) of the steps, driven by int64 indices built from the mask
or the lengths, with no Python loop over the batch. Results stay on the
data's device (the lengths' or the mask's when the data is not a tensor),
gradients flow from the results to float inputs, and masked steps are never
read into a valid slot, so NaN or inf there cannot leak into a result or a
gradient.

Functions whose output size depends on the data (``ragged_from_padded``,
``unpad``, ``pack_sequences``, ...) synchronise with the device once to learn
it, as ``x[mask]`` does. ``positions_from_mask``, ``last_valid`` and
``first_valid`` have static shapes and compile to one graph.

Also here, conversions to and from PyTorch's own objects:
:func:`to_packed_sequence` / :func:`from_packed_sequence`
(``torch.nn.utils.rnn.PackedSequence``) and :func:`to_nested` /
:func:`from_nested` (jagged ``torch.nested`` tensors).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from maskref.api.checks import (
    PADDING_SIDES,
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_mask_shape,
    check_maxlen,
    check_min_rank,
    check_rank,
    lengths_exceed_error,
    negative_lengths_error,
    normalize_single_axis,
)
from reference import ragged as ref_ragged
from reference.ragged import PackedSequences

from ._convert import SIGNED_TWIN, as_array, cast_fill, dtype_name, numpy_of, to_torch
from .padding import pad_flat, padding_mask

__all__ = [
    "PackedSequences",
    "first_valid",
    "from_nested",
    "from_packed_sequence",
    "last_valid",
    "lengths_from_row_splits",
    "pack_sequences",
    "padded_from_ragged",
    "positions_from_mask",
    "ragged_from_padded",
    "repad",
    "reverse_sequences",
    "row_splits_from_lengths",
    "to_nested",
    "to_packed_sequence",
    "unpack_sequences",
    "unpad",
]


# --- validation and small helpers ---------------------------------------------------------


def _device_of(*xs: object) -> torch.device | None:
    return next((x.device for x in xs if isinstance(x, torch.Tensor)), None)


def check_lengths(
    lengths: object, name: str = "lengths", device: torch.device | None = None
) -> torch.Tensor:
    """``lengths`` as a 1-D int64 tensor of non-negative integers.

    Mirrors :func:`reference.ragged.check_lengths` (same rules and messages);
    a tensor stays on its device unless ``device`` is given.
    """
    if not isinstance(lengths, torch.Tensor):
        return to_torch(ref_ragged.check_lengths(lengths, name), name, device)
    if lengths.numel() == 0 and lengths.is_floating_point():  # as the reference's []
        lengths = lengths.to(torch.int64)
    check_integer_dtype(dtype_name(lengths), name)
    check_rank(tuple(lengths.shape), 1, name)
    if lengths.dtype in SIGNED_TWIN:  # torch has no min() for uint16/32/64
        lengths = lengths.to(torch.int64)
    if lengths.numel() and int(lengths.min()) < 0:
        raise negative_lengths_error(name)
    lengths = lengths.to(torch.int64)
    return lengths if device is None else lengths.to(device)


def _data(x: object, name: str, min_rank: int, device: torch.device | None) -> torch.Tensor:
    """``x`` checked for rank (before any conversion, as the reference) and as a tensor."""
    x = as_array(x)
    check_min_rank(tuple(x.shape), min_rank, name)
    return to_torch(x, name, None if isinstance(x, torch.Tensor) else device)


def _data_and_mask(x: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (B, T, ...)`` and its ``(B, T)`` boolean mask, validated, on one device."""
    x = _data(x, "x", 2, _device_of(mask))
    m = as_array(mask)
    check_mask_dtype(dtype_name(m))
    check_rank(tuple(m.shape), 2, "mask")
    check_mask_shape(tuple(m.shape), tuple(x.shape))
    return x, to_torch(m, "mask", x.device)


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


def row_splits_from_lengths(lengths: object) -> torch.Tensor:
    """int64 ``(B + 1,)``: ``[0, l0, l0 + l1, ...]``.

    Mirrors :func:`reference.ragged.row_splits_from_lengths` (rule stated
    there). ``lengths`` is an integer tensor, array or list; the result is on
    its device.

    >>> row_splits_from_lengths(torch.tensor([2, 0, 3]))
    tensor([0, 2, 2, 5])
    """
    return _splits(check_lengths(lengths))


def _lengths_and_end(row_splits: object) -> tuple[torch.Tensor, int]:
    """The validated lengths of ``row_splits`` and its last value (a Python int)."""
    splits = as_array(row_splits)
    check_integer_dtype(dtype_name(splits), "row_splits")
    check_rank(tuple(splits.shape), 1, "row_splits")
    if splits.shape[0] == 0:
        raise ValueError("row_splits must have at least one element (B + 1 for B rows)")
    splits = to_torch(splits, "row_splits").to(torch.int64)
    lengths = torch.diff(splits)
    first, last, steps_ok = torch.stack(
        [splits[0], splits[-1], (lengths >= 0).all().to(torch.int64)]
    ).tolist()
    ref_ragged.check_row_splits_values(first, bool(steps_ok))
    return lengths, last


def lengths_from_row_splits(row_splits: object) -> torch.Tensor:
    """int64 ``(B,)``: ``row_splits[1:] - row_splits[:-1]``.

    Mirrors :func:`reference.ragged.lengths_from_row_splits` (rule and checks
    stated there: 1-D integers, at least one element, starting at 0,
    non-decreasing). The result is on ``row_splits``'s device.

    >>> lengths_from_row_splits(torch.tensor([0, 2, 2, 5]))
    tensor([2, 0, 3])
    """
    return _lengths_and_end(row_splits)[0]


# --- padded <-> ragged -----------------------------------------------------------------------


def _compact(x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x[m], flat indices of the valid steps)``: one ``nonzero`` and one row gather."""
    indices = torch.nonzero(m.reshape(-1)).reshape(-1)
    return _rows(x).index_select(0, indices), indices


def ragged_from_padded(x: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, row_splits)``: the valid steps of each row, in order, concatenated.

    Mirrors :func:`reference.ragged.ragged_from_padded` (rule stated there; a
    mask with holes is compacted). ``x`` and the ``(B, T)`` boolean mask are
    tensors, arrays or lists; ``values`` has ``x``'s dtype, ``row_splits``
    is int64, both on ``x``'s device.

    >>> ragged_from_padded(torch.tensor([[1, 2, 0], [0, 3, 4]]),
    ...                    torch.tensor([[True, True, False], [False, True, True]]))
    (tensor([1, 2, 3, 4]), tensor([0, 2, 4]))
    """
    x, m = _data_and_mask(x, mask)
    values, _ = _compact(x, m)
    return values, _splits(m.sum(1))


def padded_from_ragged(
    values: object,
    row_splits: object,
    *,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "pre",
    value: object = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, mask)``: the rows of a ragged batch padded to ``maxlen``, and where they landed.

    Mirrors :func:`reference.ragged.padded_from_ragged` (rule stated there:
    :func:`reference.pad_sequences` on the rows, ``padding="post"`` by
    default). Padded by :func:`torch_impl.pad_flat` (one ``masked_scatter_``);
    ``x`` has ``values``'s dtype and device, ``mask`` is ``torch.bool``.

    >>> x, mask = padded_from_ragged(torch.tensor([1, 2, 3]), torch.tensor([0, 2, 3]))
    >>> x, mask
    (tensor([[1, 2],
            [3, 0]]), tensor([[ True,  True],
            [ True, False]]))
    """
    lengths, end = _lengths_and_end(row_splits)
    values = _data(values, "values", 1, lengths.device)
    if end != values.shape[0]:
        raise ValueError(f"row_splits end at {end} but values has {values.shape[0]} steps")
    x = pad_flat(values, lengths.to(values.device), maxlen, padding, truncating, value)
    width = x.shape[1]
    return x, padding_mask(lengths.to(x.device).clamp(max=width), width, padding)


# --- packed (PyTorch's PackedSequence layout) ------------------------------------------------


def _pack_inputs(
    x: object, lengths: object, enforce_sorted: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's checks of :func:`pack_sequences`, in its order."""
    x = _data(x, "x", 2, _device_of(lengths))
    lengths = check_lengths(lengths, device=x.device)
    if lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths has {lengths.shape[0]} rows but x has {x.shape[0]}")
    if lengths.numel() and int(lengths.max()) > x.shape[1]:
        raise lengths_exceed_error(x.shape[1])
    if enforce_sorted and bool((lengths[1:] > lengths[:-1]).any()):
        raise ValueError(
            f"enforce_sorted=True needs lengths in non-increasing order, got {lengths.tolist()}"
        )
    return x, lengths


def _pack(x: torch.Tensor, lengths: torch.Tensor, enforce_sorted: bool) -> PackedSequences:
    """Pack validated inputs: one gather of the valid steps, in time-major sorted order."""
    batch, steps = x.shape[0], x.shape[1]
    if enforce_sorted:
        sorted_lengths, order = lengths, torch.arange(batch, device=x.device)
    else:
        sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
    longest = int(sorted_lengths[0]) if batch else 0
    valid = torch.arange(longest, device=x.device)[:, None] < sorted_lengths  # (T', B)
    t, j = torch.nonzero(valid).unbind(1)  # time-major: step 0 of every row first
    source = order[j] * steps + t
    data = _rows(x).index_select(0, source)
    return PackedSequences(data, valid.sum(1), order, _inverse_permutation(order))


def pack_sequences(x: object, lengths: object, *, enforce_sorted: bool = False) -> PackedSequences:
    """The padded batch ``x (B, T, ...)`` packed time-major as PyTorch's ``PackedSequence``.

    Mirrors :func:`reference.ragged.pack_sequences` (rule stated there:
    stable sort by decreasing length, zero-length rows allowed, identity
    indices with ``enforce_sorted=True``). Returns the reference's
    :class:`PackedSequences` holding tensors on ``x``'s device (int64
    ``batch_sizes`` and indices); the steps are moved by one
    ``index_select``, never a copy of the whole batch.
    :func:`to_packed_sequence` gives a ``torch.nn.utils.rnn.PackedSequence``.

    >>> p = pack_sequences(torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([2, 3]))
    >>> p.data, p.batch_sizes, p.sorted_indices
    (tensor([3, 1, 4, 2, 5]), tensor([2, 2, 1]), tensor([1, 0]))
    """
    x, lengths = _pack_inputs(x, lengths, enforce_sorted)
    return _pack(x, lengths, enforce_sorted)


def _check_packed(batch_sizes: object, rows: int, steps_in_data: int) -> torch.Tensor:
    """:func:`reference.ragged.check_packed` on a tensor (read on the host: it is small)."""
    batch_sizes = as_array(batch_sizes)
    check_integer_dtype(dtype_name(batch_sizes), "batch_sizes")
    host = numpy_of(batch_sizes) if isinstance(batch_sizes, torch.Tensor) else batch_sizes
    ref_ragged.check_packed(host, rows, steps_in_data)
    return torch.from_numpy(host.astype(np.int64))


def unpack_sequences(
    packed: PackedSequences, *, total_length: int | None = None, padding_value: object = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, lengths)``: the packed batch back as batch-first ``(B, T, ...)``, original order.

    Mirrors :func:`reference.ragged.unpack_sequences` (rule stated there:
    ``T`` is the longest length or ``total_length``; padding holds
    ``padding_value``, cast losslessly). ``packed`` is a
    :class:`PackedSequences` of tensors, arrays or lists; ``batch_sizes`` is
    read on the host (it is small). The steps are placed by one
    ``index_copy_`` into a ``torch.full`` batch on ``data``'s device; int64
    ``lengths`` are there too.

    >>> unpack_sequences(pack_sequences(torch.tensor([[1, 2, 0], [3, 4, 5]]), [2, 3]))
    (tensor([[1, 2, 0],
            [3, 4, 5]]), tensor([2, 3]))
    """
    data, batch_sizes, order, inverse = packed
    data = _data(data, "data", 1, _device_of(batch_sizes, order, inverse))
    device = data.device
    rows = as_array(order).shape[0]
    sizes = _check_packed(batch_sizes, rows, data.shape[0]).to(device)
    total_length = check_maxlen(total_length, "total_length")
    steps = sizes.shape[0]
    if total_length is not None and total_length < steps:
        raise ValueError(
            f"total_length={total_length} is shorter than the longest sequence ({steps})"
        )
    width = steps if total_length is None else total_length
    fill = cast_fill(padding_value, data.dtype, "padding_value")
    inverse = to_torch(inverse, "inverse", device)
    if inverse.dtype in SIGNED_TWIN:  # torch indexes with int64, int32 and uint8 only
        inverse = inverse.to(torch.int64)
    sorted_lengths = (sizes > torch.arange(rows, device=device)[:, None]).sum(1)
    t, j = torch.nonzero(torch.arange(steps, device=device)[:, None] < sorted_lengths).unbind(1)
    inner = tuple(data.shape[1:])
    bits = _bits(data)
    out = torch.full((rows * width, *inner), fill, dtype=data.dtype, device=device)
    order = to_torch(order, "sorted_indices", device)
    ref_ragged.check_permutations(numpy_of(order), numpy_of(inverse))  # B values, on the host
    # sorted row j goes straight to its original row order[j]: one scatter
    _bits(out).index_copy_(0, order.to(torch.int64)[j] * width + t, bits)
    return out.view(rows, width, *inner), sorted_lengths[inverse]


# --- unpadded (varlen attention) -------------------------------------------------------------


def unpad(x: object, mask: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``(values, indices, cu_seqlens, max_seqlen)``: the varlen-attention layout.

    Mirrors :func:`reference.ragged.unpad` (rule stated there): int64
    ``indices`` (flat ``b * T + t``), int32 ``cu_seqlens`` and a Python-int
    ``max_seqlen``, as flash-attn's varlen kernels take them; a mask with
    holes is compacted. One ``nonzero`` and one ``index_select``, on ``x``'s
    device.

    >>> unpad(torch.tensor([[5, 6], [7, 8]]), torch.tensor([[True, False], [True, True]]))
    (tensor([5, 7, 8]), tensor([0, 2, 3]), tensor([0, 1, 3], dtype=torch.int32), 2)
    """
    x, m = _data_and_mask(x, mask)
    values, indices = _compact(x, m)
    counts = m.sum(1)
    max_seqlen = int(counts.max()) if counts.numel() else 0
    return values, indices, _splits(counts, torch.int32), max_seqlen


def _check_indices(indices: object, size: int, count: int) -> torch.Tensor:
    """:func:`reference.ragged.check_indices` on a tensor: same rules and messages.

    Distinctness costs one comparison when ``indices`` increase strictly (as
    :func:`unpad` makes them), else one boolean scatter of ``size`` slots.
    """
    indices = as_array(indices)
    check_integer_dtype(dtype_name(indices), "indices")
    check_rank(tuple(indices.shape), 1, "indices")
    if indices.shape[0] != count:
        raise ValueError(f"indices has {indices.shape[0]} entries but values has {count} steps")
    indices = to_torch(indices, "indices")
    if indices.dtype == torch.uint64:  # values past int64's range are out of [0, size) too
        indices = torch.where(indices.view(torch.int64) < 0, -1, indices.view(torch.int64))
    indices = indices.to(torch.int64)
    if not count:
        return indices
    lo, hi = torch.aminmax(indices)
    increasing = (indices[1:] > indices[:-1]).all()
    lo, hi, increasing = torch.stack([lo, hi, increasing.to(torch.int64)]).tolist()
    if lo < 0 or hi >= size:
        raise ValueError(f"indices must lie in [0, batch * seqlen) = [0, {size})")
    if not increasing:
        seen = torch.zeros(size, dtype=torch.bool, device=indices.device)
        seen[indices] = True
        if int(seen.sum()) != count:
            raise ValueError("indices must not repeat (two steps cannot land in one slot)")
    return indices


def repad(values: object, indices: object, batch: int, seqlen: int) -> torch.Tensor:
    """The inverse of :func:`unpad`: ``(batch, seqlen, ...)`` zeros with ``values`` at ``indices``.

    Mirrors :func:`reference.ragged.repad` (rule and checks stated there:
    ``indices`` distinct, in ``[0, batch * seqlen)``). One ``index_copy_``
    into zeros of ``values``'s dtype, on ``values``'s device.

    >>> repad(torch.tensor([5, 7, 8]), torch.tensor([0, 2, 3]), 2, 2)
    tensor([[5, 0],
            [7, 8]])
    """
    batch, seqlen = check_maxlen(batch, "batch"), check_maxlen(seqlen, "seqlen")
    values = _data(values, "values", 1, _device_of(indices))
    indices = _check_indices(indices, batch * seqlen, values.shape[0]).to(values.device)
    inner = tuple(values.shape[1:])
    out = torch.zeros((batch * seqlen, *inner), dtype=values.dtype, device=values.device)
    _bits(out).index_copy_(0, indices, _bits(values))
    return out.view(batch, seqlen, *inner)


# --- per-row operations ----------------------------------------------------------------------


def reversed_positions(lengths: torch.Tensor, steps: int, padding: str) -> torch.Tensor:
    """``(B, steps)``: the step each output step of :func:`reverse_sequences` reads.

    Mirrors :func:`reference.ragged.reversed_positions`.
    """
    t = torch.arange(steps, device=lengths.device)
    n = lengths[:, None]
    if padding == "post":
        return torch.where(t < n, n - 1 - t, t)
    start = steps - n
    return torch.where(t >= start, start + steps - 1 - t, t)


def reverse_sequences(
    x: object, lengths: object, *, axis: int = 1, padding: str = "post"
) -> torch.Tensor:
    """Reverse the valid steps of each row along ``axis``; padding stays where it is.

    Mirrors :func:`reference.ragged.reverse_sequences` (rule stated there,
    ``tf.reverse_sequence`` with ``batch_axis=0``). One advanced-indexing
    gather; the result has ``x``'s dtype and device.

    >>> reverse_sequences(torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2]))
    tensor([[3, 2, 1, 0],
            [5, 4, 0, 0]])
    """
    x = _data(x, "x", 2, _device_of(lengths))
    check_choice("padding", padding, PADDING_SIDES)
    ax = normalize_single_axis(axis, x.ndim)
    if ax == 0:
        raise ValueError("axis must not be 0, the batch axis")
    lengths = check_lengths(lengths, device=x.device)
    if lengths.shape[0] != x.shape[0]:
        raise ValueError(f"lengths has {lengths.shape[0]} rows but x has {x.shape[0]}")
    steps = x.shape[ax]
    if lengths.numel() and int(lengths.max()) > steps:
        raise lengths_exceed_error(steps)
    source = reversed_positions(lengths, steps, padding)
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    if ax == 1:
        return x[rows, source]
    return x.movedim(ax, 1)[rows, source].movedim(1, ax).contiguous()


def positions_from_mask(mask: object, *, start: int = 0, fill: int = 0) -> torch.Tensor:
    """int64 position ids: valid steps numbered within their row from ``start``, else ``fill``.

    Mirrors :func:`reference.ragged.positions_from_mask` (rule stated there:
    ``cumsum(mask, -1) - 1 + start`` at valid steps). ``mask`` is a boolean
    tensor, array or list of any rank >= 1; the result is on its device.

    >>> positions_from_mask(torch.tensor([[False, True, True], [True, True, False]]))
    tensor([[0, 0, 1],
            [0, 1, 0]])
    """
    m = as_array(mask)
    check_mask_dtype(dtype_name(m))
    check_min_rank(tuple(m.shape), 1, "mask")
    start, fill = ref_ragged.check_int(start, "start"), ref_ragged.check_int(fill, "fill")
    m = to_torch(m, "mask")
    positions = torch.cumsum(m, -1, dtype=torch.int64) + (start - 1)
    return torch.where(m, positions, fill)


def _edge_valid(x: object, mask: object, empty: object, last: bool) -> torch.Tensor:
    x, m = _data_and_mask(x, mask)
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


def last_valid(x: object, mask: object, *, empty: object = 0) -> torch.Tensor:
    """``(B, ...)``: each row's last valid step (what a many-to-one RNN returns).

    Mirrors :func:`reference.ragged.last_valid` (rule stated there: holes
    allowed; a row with no valid step gives ``empty``, cast losslessly). The
    steps are picked by one gather; masked steps never reach the result nor
    its gradient. Static shapes: compiles to one graph.

    >>> last_valid(torch.tensor([[1, 2, 0], [3, 0, 0]]),
    ...            torch.tensor([[True, True, False], [False, False, False]]))
    tensor([2, 0])
    """
    return _edge_valid(x, mask, empty, last=True)


def first_valid(x: object, mask: object, *, empty: object = 0) -> torch.Tensor:
    """``(B, ...)``: each row's first valid step (the first token of a left-padded row).

    Mirrors :func:`reference.ragged.first_valid` (rule stated there), as
    :func:`last_valid` with the smallest valid step.

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
    x, lengths = _pack_inputs(x, lengths, enforce_sorted)
    if lengths.numel() == 0:
        raise ValueError(
            "to_packed_sequence: a PackedSequence cannot hold an empty batch "
            "(PyTorch refuses it); pack_sequences keeps it"
        )
    if bool((lengths == 0).any()):
        raise ValueError(
            "to_packed_sequence: lengths must be at least 1, since a "
            "PackedSequence cannot hold a zero-length row (PyTorch refuses "
            "them); drop those rows, or use pack_sequences, which keeps them"
        )
    p = _pack(x, lengths, enforce_sorted)
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
    return unpack_sequences(
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
    values, splits = ragged_from_padded(x, mask)
    lengths = torch.diff(splits)
    shortest, longest = (
        torch.stack([lengths.min(), lengths.max()]).tolist() if lengths.numel() else (0, 0)
    )
    return torch.nested.nested_tensor_from_jagged(
        values, splits, min_seqlen=shortest, max_seqlen=longest
    )


def _jagged_parts(nt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, row_splits)`` of a jagged tensor, rows compacted when it has holes."""
    values, offsets, lengths = nt.values(), nt.offsets(), nt.lengths()
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
    return padded_from_ragged(values, splits, maxlen=maxlen, padding=padding, value=value)

"""Padding and truncation of variable-length sequences, in PyTorch.

Mirrors :mod:`reference.padding`: same functions, signatures, defaults, errors
and results (as ``torch.Tensor``). Torch inputs stay on their device and are
padded without a Python loop over the batch: the sequences are concatenated
into one buffer, truncation selects from it with a boolean mask, and one
``masked_scatter_`` places the kept steps into a ``torch.full`` output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

import reference
from maskref.api.checks import PADDING_SIDES, check_choice, check_maxlen, check_min_rank
from reference import padding as ref_padding

from ._convert import (
    SIGNED_TWIN,
    as_array,
    cast_fill,
    cast_tensor,
    dtype_name,
    numpy_dtype,
    numpy_of,
    resolve_dtype,
    to_torch,
)

__all__ = ["pad_flat", "pad_sequences", "padding_mask", "unpad_sequences"]


def padding_mask(kept: torch.Tensor, maxlen: int, padding: str) -> torch.Tensor:
    """Boolean ``(B, maxlen)``: where the ``kept[i]`` steps of row ``i`` land.

    Mirrors :func:`reference.padding.padding_mask`: ``padding="post"`` puts
    them first, ``"pre"`` last; ``kept`` (a 1-D integer tensor, already
    clipped to ``[0, maxlen]``) decides the device.

    >>> padding_mask(torch.tensor([1, 2]), 3, "pre")
    tensor([[False, False,  True],
            [False,  True,  True]])
    """
    steps = torch.arange(maxlen, device=kept.device)
    if padding == "post":
        return steps < kept[:, None]
    return steps >= (maxlen - kept)[:, None]


def _check_lengths(lengths: object, name: str = "lengths") -> torch.Tensor:
    """``lengths`` as a 1-D int64 tensor of non-negative integers (reference rules)."""
    if not isinstance(lengths, torch.Tensor):
        return to_torch(ref_padding._check_lengths(lengths, name), name)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(f"{name} must hold integers, got dtype {dtype_name(lengths)}")
    if lengths.ndim != 1:
        raise ValueError(f"{name} must have 1 axis, got shape {tuple(lengths.shape)}")
    if lengths.dtype in SIGNED_TWIN:  # torch has no min() for uint16/32/64
        lengths = lengths.to(torch.int64)
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"{name} must be non-negative, got {int(lengths.min())}")
    return lengths.to(torch.int64)


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
    """The shared kernel: validated ``values`` (sum(lengths), *inner) -> (B, maxlen, *inner).

    ``lengths`` is int64 on ``values``'s device and ``fill`` is already cast.
    """
    twin = SIGNED_TWIN.get(values.dtype)
    if twin is not None:  # no masked_scatter for uint16/32/64: move the same bits as int
        bits = np.array(fill, dtype=numpy_dtype(values.dtype)).view(numpy_dtype(twin)).item()
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
    values: object,
    lengths: object,
    maxlen: int | None = None,
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0,
) -> torch.Tensor:
    """Pad sequences given as one concatenated buffer plus their lengths.

    Mirrors :func:`reference.pad_flat` (the rule is stated there). ``values``
    and ``lengths`` may be tensors, NumPy arrays or lists; the result is a
    tensor of ``values``'s dtype on ``values``'s device (``lengths``'s when
    ``values`` is not a tensor), built without a Python loop over the rows.
    String or object ``values`` raise ``TypeError``: only the reference
    supports them.

    >>> pad_flat(torch.tensor([1, 2, 3, 4]), torch.tensor([3, 1]), padding="post")
    tensor([[1, 2, 3],
            [4, 0, 0]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    values = as_array(values)
    check_min_rank(tuple(values.shape), 1, "values")
    lengths = _check_lengths(lengths)
    total = int(lengths.sum())
    if total != values.shape[0]:
        raise ValueError(f"lengths sum to {total} but values has {values.shape[0]} steps")
    values = to_torch(
        values, "values", None if isinstance(values, torch.Tensor) else lengths.device
    )
    lengths = lengths.to(values.device)
    fill = cast_fill(value, values.dtype, "value")
    return _pad_flat(values, lengths, maxlen, padding, truncating, fill)


def _promote(dtypes: list[torch.dtype]) -> torch.dtype:
    """The dtype NumPy's ``concatenate`` would give (torch's promotion where NumPy has none)."""
    np_dtypes = [numpy_dtype(d) for d in dtypes]
    if all(d is not None for d in np_dtypes):
        return resolve_dtype(np.result_type(*np_dtypes))
    out = dtypes[0]
    for d in dtypes[1:]:
        out = torch.promote_types(out, d)
    return out


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


def _concat_tensors(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's ``_flat_general`` on tensors: (values, lengths) on one device.

    Only shapes, dtypes and devices are read in Python (one pass each); the
    data is concatenated by one ``torch.cat``.
    """
    shapes = [s.shape for s in seqs]
    if not all(shapes):  # torch.Size([]) is falsy: a 0-d tensor
        i = next(i for i, sh in enumerate(shapes) if not sh)
        raise TypeError(
            f"sequences[{i}] must be a sequence (list, tuple or array), got {seqs[i]!r}"
        )
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
    if len(dtypes) > 1:  # promote as NumPy's concatenate does, before any lossy cast
        common = _promote(dtypes)
        parts = [p.to(common) for p in parts]
    return torch.cat(parts), lengths


def _from_tensor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(values, lengths) of a nested or dense (B, T, ...) tensor; None when not that."""
    if x.is_nested:
        if x.layout != torch.jagged or getattr(x, "_ragged_idx", 1) != 1:
            return _concat_tensors(list(x.unbind()))
        if x.lengths() is not None:
            raise ValueError(
                "sequences is a nested tensor with holes (lengths() is not None); "
                "make it contiguous first (e.g. with .contiguous())"
            )
        offsets = x.offsets()
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


def _reference_pad(
    sequences: object,
    maxlen: int | None,
    dtype: torch.dtype,
    padding: str,
    truncating: str,
    value: object,
) -> torch.Tensor:
    """Pad with :func:`reference.pad_sequences` (lists, arrays, mixed input) as a tensor."""
    device = torch.device("cpu")
    if isinstance(sequences, torch.Tensor):
        device, sequences = sequences.device, numpy_of(sequences)
    elif isinstance(sequences, list):
        tensors = [s for s in sequences if isinstance(s, torch.Tensor)]
        if tensors:
            device = tensors[0].device
            sequences = [numpy_of(s) if isinstance(s, torch.Tensor) else s for s in sequences]
    np_dtype = numpy_dtype(dtype)
    if np_dtype is None:  # bfloat16, complex32: pad in float64/complex128, then round once
        np_dtype = np.dtype(np.complex128 if dtype.is_complex else np.float64)
    out = reference.pad_sequences(sequences, maxlen, np_dtype, padding, truncating, value)
    return torch.from_numpy(out).to(device=device, dtype=dtype)


def pad_sequences(
    sequences: Iterable[Sequence],
    maxlen: int | None = None,
    dtype: object = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: object = 0.0,
) -> torch.Tensor:
    """Pad (and truncate) variable-length sequences into one ``(B, maxlen, ...)`` tensor.

    Mirrors :func:`reference.pad_sequences` (the rule is stated there).
    ``sequences`` may be a list or tuple of tensors (all on one device: padded
    there, without a Python loop over the batch), a ``torch.nested`` tensor
    of layout ``torch.jagged`` (its ``values()`` and ``offsets()`` are used;
    one with holes, ``lengths() is not None``, is a ``ValueError``), a dense
    ``(B, T, ...)`` tensor, or anything the reference accepts (lists, NumPy
    arrays, a mix: padded by the reference, then converted; the result goes
    to the device of the first tensor in the list, else the CPU).

    ``dtype`` is a name (``"int32"``), a ``np.dtype`` or a ``torch.dtype``
    (``torch.bfloat16`` included); the result has exactly that dtype. String
    and object dtypes raise ``TypeError``: only the reference supports them.
    The data and ``value`` are cast by the lossless-cast rule on the data's
    device. Gradients flow from the result to float input tensors.

    >>> pad_sequences([torch.tensor([1, 2, 3]), torch.tensor([4])], padding="post")
    tensor([[1, 2, 3],
            [4, 0, 0]], dtype=torch.int32)
    >>> pad_sequences([[1], [2, 3]], maxlen=1, dtype=torch.float32)
    tensor([[1.],
            [3.]])
    """
    check_choice("padding", padding, PADDING_SIDES)
    check_choice("truncating", truncating, PADDING_SIDES)
    maxlen = check_maxlen(maxlen)
    target = resolve_dtype(dtype)
    flat = None
    if isinstance(sequences, torch.Tensor):
        flat = _from_tensor(sequences)
    elif isinstance(sequences, Iterable) and not isinstance(sequences, (str, bytes, np.ndarray)):
        sequences = list(sequences)
        if sequences and all(isinstance(s, torch.Tensor) for s in sequences):
            flat = _concat_tensors(sequences)
    if flat is None:
        return _reference_pad(sequences, maxlen, target, padding, truncating, value)
    values, lengths = flat
    values = cast_tensor(values, target, "sequences")
    fill = cast_fill(value, target, "value")
    return _pad_flat(values, lengths, maxlen, padding, truncating, fill)


def unpad_sequences(padded: object, lengths: object, padding: str = "post") -> list[torch.Tensor]:
    """Split a padded batch back into its valid parts: the inverse of padding.

    Mirrors :func:`reference.unpad_sequences` (the rule is stated there).
    ``padded`` and ``lengths`` may be tensors, NumPy arrays or lists; the
    parts are tensors of ``padded``'s dtype on its device, selected with one
    boolean mask and cut with ``torch.split``. They are copies, never views
    of ``padded`` (gradients still flow back to it).

    >>> unpad_sequences(torch.tensor([[1, 2, 0], [3, 0, 0]]), torch.tensor([2, 1]))
    [tensor([1, 2]), tensor([3])]
    """
    check_choice("padding", padding, PADDING_SIDES)
    padded = as_array(padded)
    check_min_rank(tuple(padded.shape), 2, "padded")
    lengths = _check_lengths(lengths)
    if lengths.shape[0] != padded.shape[0]:
        raise ValueError(
            f"lengths has {lengths.shape[0]} entries but padded has {padded.shape[0]} rows"
        )
    steps = padded.shape[1]
    if lengths.numel() and int(lengths.max()) > steps:
        raise ValueError(
            f"lengths must be at most padded.shape[1] = {steps}, got {int(lengths.max())}"
        )
    padded = to_torch(padded, "padded")
    if not lengths.numel():
        return []
    lengths = lengths.to(padded.device)
    twin = SIGNED_TWIN.get(padded.dtype)
    source = padded if twin is None else padded.view(twin)  # few kernels for uint16/32/64
    valid = source[padding_mask(lengths, steps, padding)]  # boolean indexing copies
    parts = torch.split(valid, lengths.tolist())
    return list(parts) if twin is None else [p.view(padded.dtype) for p in parts]

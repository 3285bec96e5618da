"""Attention masks and masked attention in PyTorch, over the fused kernel.

Mirrors :mod:`reference.attention` function by function; the rules (causal
alignment, sliding window, empty rows, masked keys) are stated there, and the
reference's own helpers validate the arguments, so errors match. Masks are
``torch.bool`` with ``True`` = the query may attend to the key.

:func:`scaled_dot_product_attention` is a thin layer over
``torch.nn.functional.scaled_dot_product_attention`` (the fused kernel): the
mask (the user's, broadcastable, with the causal / window band folded in) is
handed to the kernel after every input it must not see has been replaced with
``torch.where`` (query rows with no visible key, keys and values that no query
sees), and rows with no visible key get an all-True mask row, so that no
kernel ever meets a fully masked row; those rows are then filled by
``empty``. :func:`attention_weights` is written out (the kernel returns no
weights): a matmul and the masked softmax of :mod:`torch_impl.reductions`'s
rule, float16/bfloat16 computed in float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from maskref.api.checks import (
    check_choice,
    check_integer_dtype,
    check_mask_dtype,
    check_maxlen,
    check_rank,
    negative_lengths_error,
)
from reference.attention import (
    ALIGNS,
    ATTENTION_EMPTY,
    _segment_pair,
    aligned_mask_shape,
    attention_shapes,
    attention_sizes,
    band_rule,
    check_attention_dtypes,
    check_scale,
    check_segment_total,
    check_window,
)

from ._convert import as_array, dtype_name, to_torch
from .reductions import _fast_paths_apply

__all__ = [
    "attention_mask",
    "attention_weights",
    "causal_mask",
    "scaled_dot_product_attention",
    "segment_ids_from_lengths",
    "segment_mask",
]

#: Computed in float32 (the weights; the kernel widens them itself).
LOW_PRECISION = (torch.float16, torch.bfloat16)


# --- masks ---------------------------------------------------------------------------------


def _device(device: object) -> torch.device | None:
    """``device`` as a ``torch.device`` (None stays None); anything else is a ``ValueError``."""
    if device is None or isinstance(device, torch.device):
        return device
    if isinstance(device, str):
        try:
            return torch.device(device)
        except RuntimeError:
            pass
    raise ValueError(f"device={device!r} is not a torch device (None, a torch.device or a name)")


def _first_device(*xs: object) -> torch.device | None:
    return next((x.device for x in xs if isinstance(x, torch.Tensor)), None)


class _Arange:
    """The array namespace :func:`reference.attention.band_rule` needs: ``arange`` on a device."""

    def __init__(self, device: torch.device | None) -> None:
        self.device = device

    def arange(self, n: int) -> torch.Tensor:
        return torch.arange(n, device=self.device)


def _band(
    query_len: int,
    key_len: int,
    causal: bool,
    align: str,
    window: int | None,
    device: torch.device | None,
) -> torch.Tensor:
    """:func:`reference.attention.band_rule` on torch tensors: bool ``(L, S)`` on ``device``."""
    return band_rule(query_len, key_len, causal, align, window, _Arange(device))


def _name(a: np.ndarray | torch.Tensor) -> str:
    """The dtype name the reference would print for ``a``."""
    return dtype_name(a) if isinstance(a, torch.Tensor) else a.dtype.name


def causal_mask(
    query_len: int,
    key_len: int | None = None,
    *,
    align: str = "top_left",
    window: int | None = None,
    device: object = None,
) -> torch.Tensor:
    """Boolean ``(query_len, key_len)``: ``True`` where query ``i`` may attend to key ``j``.

    Mirrors :func:`reference.causal_mask` (the rule is stated there: both
    alignments, the sliding window). ``device`` is None (the CPU) or a torch
    device (or its name), where the mask is built.

    >>> causal_mask(2, 4, align="bottom_right").int()
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    lq = check_maxlen(query_len, "query_len")
    lk = lq if key_len is None else check_maxlen(key_len, "key_len")
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    return _band(lq, lk, True, align, window, _device(device))


def _as_rows(mask: object, name: str, device: torch.device | None) -> torch.Tensor | None:
    if mask is None:
        return None
    arr = as_array(mask)
    check_mask_dtype(_name(arr), name)
    check_rank(tuple(arr.shape), 2, name)
    return to_torch(arr, name, device)


def attention_mask(
    query_mask: object = None,
    key_mask: object = None,
    *,
    causal: bool = False,
    align: str = "top_left",
    window: int | None = None,
    segment_ids: object = None,
    query_len: int | None = None,
    key_len: int | None = None,
    device: object = None,
) -> torch.Tensor:
    """The combined boolean ``(B, Lq, Lk)`` attention mask (Keras's ``MultiHeadAttention`` rule).

    Mirrors :func:`reference.attention_mask` (the rule is stated there: the
    AND of the query mask, the key mask, the causal / window band and the
    segment mask; sizes from the parts or ``query_len``/``key_len``). The
    parts are tensors, arrays or lists; the result is built on ``device``
    when given, else on the device of the first tensor part (the CPU when
    there is none), where the other parts are moved.

    >>> attention_mask(torch.tensor([[True, True, False]]), causal=True).int()
    tensor([[[1, 0, 0],
             [1, 1, 0],
             [0, 0, 0]]], dtype=torch.int32)
    """
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    dev = _device(device)
    ids = segment_ids if isinstance(segment_ids, tuple) else (segment_ids,)
    dev = dev if dev is not None else _first_device(query_mask, key_mask, *ids)
    qm = _as_rows(query_mask, "query_mask", dev)
    km = _as_rows(key_mask, "key_mask", dev)
    seg = None
    if segment_ids is not None:
        q_ids, k_ids = _segment_pair(segment_ids)
        q_ids, k_ids = as_array(q_ids), as_array(k_ids)
        seg = segment_mask(q_ids, k_ids).to(dev)
    parts = {
        "query_mask": None if qm is None else tuple(qm.shape),
        "key_mask": None if km is None else tuple(km.shape),
        "query_segment_ids": None if seg is None else tuple(q_ids.shape),
        "key_segment_ids": None if seg is None else tuple(k_ids.shape),
    }
    batch, lq, lk = attention_sizes(parts, query_len, key_len)
    keep = _band(lq, lk, causal, align, window, dev).expand(batch, lq, lk)
    if qm is not None:
        keep = keep & qm[:, :, None]
    if km is not None:
        keep = keep & km[:, None, :]
    if seg is not None:
        keep = keep & seg
    return keep.contiguous()


def _segment_ids(ids: object, name: str, device: torch.device | None = None) -> torch.Tensor:
    arr = as_array(ids)
    check_integer_dtype(_name(arr), name)
    check_rank(tuple(arr.shape), 2, name)
    t = to_torch(arr, name, device)
    # uint16/32/64 have few torch kernels: compare their bits as int64 (equality is exact).
    if t.dtype in (torch.uint16, torch.uint32):
        return t.to(torch.int64)
    return t.view(torch.int64) if t.dtype == torch.uint64 else t


def segment_mask(query_segment_ids: object, key_segment_ids: object = None) -> torch.Tensor:
    """Boolean ``(B, Lq, Lk)`` for packed documents: attend only within one's own segment.

    Mirrors :func:`reference.segment_mask` (the rule is stated there: equal
    ids, and id 0 is padding). Ids are integer tensors, arrays or lists; the
    key ids are moved to the query ids' device, where the mask is built.

    >>> segment_mask(torch.tensor([[1, 1, 2, 0]])).int()
    tensor([[[1, 1, 0, 0],
             [1, 1, 0, 0],
             [0, 0, 1, 0],
             [0, 0, 0, 0]]], dtype=torch.int32)
    """
    q = _segment_ids(query_segment_ids, "query_segment_ids")
    k = q if key_segment_ids is None else _segment_ids(key_segment_ids, "key_segment_ids", q.device)
    if q.shape[0] != k.shape[0]:
        raise ValueError(
            f"query_segment_ids shape {tuple(q.shape)} and key_segment_ids shape "
            f"{tuple(k.shape)} must have the same batch size"
        )
    return (q[:, :, None] == k[:, None, :]) & (q[:, :, None] != 0)


def _document_lengths(lengths_per_row: object) -> torch.Tensor:
    """``(B, K)`` int64 lengths; ragged lists (of lists, arrays or 1-D tensors) padded with 0."""
    ragged = (list, tuple, np.ndarray, torch.Tensor)
    if isinstance(lengths_per_row, (list, tuple)) and any(
        isinstance(r, ragged) for r in lengths_per_row
    ):
        rows = [as_array(r) for r in lengths_per_row]
        for r in rows:
            if r.ndim != 1:
                raise ValueError("lengths_per_row must be (B, K) or a list of 1-D lists")
            if r.shape[0]:
                check_integer_dtype(_name(r), "lengths_per_row")
        device = _first_device(*rows)
        return pad_sequence(
            [to_torch(r, "lengths_per_row", device).to(torch.int64) for r in rows], batch_first=True
        )
    arr = as_array(lengths_per_row)
    if math.prod(arr.shape) == 0 and _name(arr).startswith(("float", "bfloat")):
        arr = to_torch(arr, "lengths_per_row").to(torch.int64)
    check_integer_dtype(_name(arr), "lengths_per_row")
    check_rank(tuple(arr.shape), 2, "lengths_per_row")
    return to_torch(arr, "lengths_per_row").to(torch.int64)


def segment_ids_from_lengths(lengths_per_row: object, seqlen: int) -> torch.Tensor:
    """int64 ``(B, seqlen)`` segment ids of rows that pack documents of the given lengths.

    Mirrors :func:`reference.segment_ids_from_lengths` (the rule is stated
    there). ``lengths_per_row`` is a ``(B, K)`` integer tensor or array, or a
    ragged list of lists or of 1-D tensors (padded with zeros by
    ``pad_sequence``); the ids come from a ``scatter_add`` of the document
    starts and a ``cumsum``, with no loop over the batch. Checking the
    lengths (``ValueError`` below 0 or above ``seqlen`` in all) waits for the
    device. The result is on the lengths' device.

    >>> segment_ids_from_lengths(torch.tensor([[2, 1], [3, 0]]), 4)
    tensor([[1, 1, 2, 0],
            [1, 1, 1, 0]])
    """
    seqlen = check_maxlen(seqlen, "seqlen")
    lengths = _document_lengths(lengths_per_row)
    if bool((lengths < 0).any()):
        raise negative_lengths_error("lengths_per_row")
    batch, docs = lengths.shape
    ends = torch.cumsum(lengths, dim=1)
    totals = ends[:, -1] if docs else torch.zeros(batch, dtype=torch.int64, device=lengths.device)
    check_segment_total(bool((totals <= seqlen).all()), seqlen)
    # A 1 where each document after the first starts; the ids are the running count.
    starts = torch.zeros((batch, seqlen + 1), dtype=torch.int64, device=lengths.device)
    index = ends[:, :-1]
    starts = starts.scatter_add(1, index, torch.ones_like(index))
    ids = torch.cumsum(starts[:, :seqlen], dim=1) + 1
    steps = torch.arange(seqlen, device=lengths.device)
    return torch.where(steps < totals[:, None], ids, 0)


# --- attention -----------------------------------------------------------------------------


def _work(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in LOW_PRECISION else dtype


def _to_4d(t: torch.Tensor, batch: tuple[int, ...]) -> torch.Tensor:
    """``t`` (``(..., N, D)``, its batch broadcasting to ``batch``) as ``(B, H, N, D)``.

    The fused CPU kernels want four axes and equal batch sizes: leading unit
    axes are added (views), or the leading batch axes folded into one.
    """
    t = t.expand(*batch, *t.shape[-2:])
    if len(batch) <= 2:
        return t.reshape((1,) * (2 - len(batch)) + tuple(t.shape))
    return t.reshape(math.prod(batch[:-1]), *t.shape[-3:])


def _mask_4d(m: torch.Tensor, batch: tuple[int, ...]) -> torch.Tensor:
    """An aligned mask (the scores' rank, sizes 1 or equal) as 4 axes, kept as small."""
    if len(batch) <= 2:
        return m.reshape((1,) * (2 - len(batch)) + tuple(m.shape))
    lead = m.shape[:-3]
    if all(n == 1 for n in lead):
        return m.reshape(1, *m.shape[-3:])
    return m.expand(*batch[:-1], *m.shape[-3:]).reshape(math.prod(batch[:-1]), *m.shape[-3:])


Prepared = tuple[
    torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, float, tuple[int, ...]
]


def _prepare(
    query: object,
    key: object,
    value: object,
    mask: object,
    causal: bool,
    scale: float | None,
    empty: str,
    align: str,
    window: int | None,
) -> Prepared:
    """``(q, k, v, mask, scale, batch)``: the inputs as 4-D tensors of equal batch sizes
    (``v`` None without a value), the boolean 4-D mask with the band folded in (None: all
    visible), the scale as a float and the batch shape; checked in the reference's order."""
    check_choice("empty", empty, ATTENTION_EMPTY)
    check_choice("align", align, ALIGNS)
    window = check_window(window)
    given = [as_array(query), as_array(key)] + ([] if value is None else [as_array(value)])
    names = ("query", "key", "value")[: len(given)]
    check_attention_dtypes(names, tuple(_name(a) for a in given))
    shapes = [tuple(a.shape) for a in given] + [None] * (3 - len(given))
    batch, lq, lk = attention_shapes(*shapes)
    full = batch + (lq, lk)
    device = _first_device(*given, mask)
    m = None
    if mask is not None:
        m = as_array(mask)
        check_mask_dtype(_name(m), "mask")
        m = to_torch(m, "mask", device).reshape(aligned_mask_shape(tuple(m.shape), full))
    scale = check_scale(scale, given[0].shape[-1])
    if causal or window is not None:
        band = _band(lq, lk, causal, align, window, device)
        m = band.reshape((1,) * len(batch) + (lq, lk)) if m is None else m & band
    q, k, *v = (_to_4d(to_torch(a, n, device), batch) for a, n in zip(given, names))
    return q, k, (v[0] if v else None), None if m is None else _mask_4d(m, batch), scale, batch


def _visibility(m: torch.Tensor, lq: int, lk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``has_key`` ``(..., L|1, 1)``: rows with a visible key; ``seen`` ``(..., S|1, 1)``:
    keys some query of the slice may see. Small: the mask's shape, reduced."""
    return _any(m, -1, lk), _any(m, -2, lq).transpose(-1, -2)


def _any(m: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """``m.any(dim, keepdim=True)`` for a mask broadcast to ``size`` along ``dim`` (a size-1
    axis broadcast over nothing holds nothing), as a max of its bytes: on the CPU
    ``amax`` of uint8 is vectorised where ``any`` of bool is not (about 15x faster)."""
    if size == 0 or m.shape[dim] == 0:
        shape = list(m.shape)
        shape[dim] = 1
        return torch.zeros(shape, dtype=torch.bool, device=m.device)
    return m.view(torch.uint8).amax(dim=dim, keepdim=True).view(torch.bool)


def _masked_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    m: torch.Tensor | None,
    has_key: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    """Softmax over the visible keys of ``q . k * scale`` (``q``, ``k`` sanitised), in the
    working dtype; hidden keys and rows without a visible key get 0 (torch_impl's
    masked_softmax rule: where before exp, a detached shift, a safe divisor)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if m is None:
        return torch.softmax(scores, dim=-1)
    neg_inf = torch.tensor(-math.inf, dtype=scores.dtype, device=scores.device)
    xs = torch.where(m, scores, neg_inf)
    if scores.shape[-1] == 0:
        top = torch.zeros(has_key.shape, dtype=scores.dtype, device=scores.device)
    else:
        top = torch.amax(xs, dim=-1, keepdim=True)
    shift = torch.where(has_key, top, 0.0).detach()
    shifted = torch.where(m, xs - shift, neg_inf)
    e = torch.where(m, torch.exp(shifted), 0.0)
    total = torch.where(has_key, e.sum(dim=-1, keepdim=True), 1.0)
    return torch.where(m, e / total, 0.0)


def _all_true(t: torch.Tensor) -> bool:
    """Whether the small bool ``t`` is all True, where that costs nothing to ask (CPU, eager,
    no torch.func transform: reductions' fast-path condition); False (unknown) elsewhere,
    so that compiled graphs and GPU streams never wait for a value."""
    return _fast_paths_apply(t) and bool(t.all())


def _sanitised(t: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    return t if keep is None else torch.where(keep, t, 0.0)


def attention_weights(
    query: object,
    key: object,
    mask: object = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> torch.Tensor:
    """The attention weights ``(..., L, S)``: a masked softmax of ``query . key * scale``.

    Mirrors :func:`reference.attention_weights` (the rule is stated there:
    hidden keys get 0, rows with no visible key follow ``empty``). Written
    out, as the fused kernel returns no weights: the keys no query can see
    and the query rows with no visible key are replaced with ``torch.where``
    before the matmul, so NaN or inf there never reaches the weights or
    their gradient (finite, 0 there). float16/bfloat16 are computed in
    float32; the result has the query's dtype and device.

    >>> q, k = torch.zeros(2, 1), torch.tensor([[0.0], [0.0], [float("nan")]])
    >>> attention_weights(q, k, torch.tensor([[True, True, False], [False] * 3]))
    tensor([[0.5000, 0.5000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    q, k, _, m, scale, batch = _prepare(query, key, None, mask, causal, scale, empty, align, window)
    lq, lk = q.shape[-2], k.shape[-2]
    work = _work(q.dtype)
    has_key = seen = None
    if m is not None:
        has_key, seen = _visibility(m, lq, lk)
    qs, ks = _sanitised(q, has_key).to(work), _sanitised(k, seen).to(work)
    weights = _masked_weights(qs, ks, m, has_key, scale)
    if has_key is not None and empty != "zeros":
        fill = math.nan if empty == "nan" else (1.0 / lk if lk else 0.0)
        weights = torch.where(has_key, weights, fill)
    return weights.to(q.dtype).reshape(*batch, lq, lk)


def _empty_fill(v: torch.Tensor, empty: str, work: torch.dtype) -> torch.Tensor | float:
    """What a row with no visible key returns: 0, NaN or the mean of all ``S`` values."""
    if empty == "zeros":
        return 0.0
    if empty == "nan":
        return math.nan
    lk = v.shape[-2]
    if lk == 0:
        return 0.0
    return (v.to(work).sum(dim=-2, keepdim=True) / lk).to(v.dtype)


def scaled_dot_product_attention(
    query: object,
    key: object,
    value: object,
    mask: object = None,
    *,
    causal: bool = False,
    scale: float | None = None,
    empty: str = "zeros",
    align: str = "top_left",
    window: int | None = None,
) -> torch.Tensor:
    """Masked attention ``softmax(q . k * scale) . v`` with a stated rule for empty rows.

    Mirrors :func:`reference.scaled_dot_product_attention` (the rule is
    stated there: mask layouts ``(L, S)``, ``(B, L, S)``, ``(B, H, L, S)`` or
    broadcastable such as ``(B, 1, 1, S)``; ``causal``/``align``/``window``;
    ``empty`` = ``"zeros"``, ``"nan"`` or ``"mean"``).

    torch: a thin layer over ``torch.nn.functional.scaled_dot_product_attention``.
    The causal / window band is folded into the boolean mask (``is_causal`` is
    never used), which stays as small as the user's; inputs are viewed as
    ``(B, H, L, E)`` with equal batch sizes, which the fused CPU kernel needs.
    Before the kernel, ``torch.where`` replaces with 0 the query rows that see
    no key and the keys and values that no query of the slice sees, and those
    rows get an all-True mask row (no kernel meets a fully masked row); after
    it, ``torch.where`` fills them by ``empty``. On the CPU in eager mode, a
    replacement that would change nothing (every row has a key, every key is
    seen; read from the small mask) is skipped; compiled graphs and other
    devices always replace, and never wait for a value. Without a mask,
    ``causal`` or ``window`` the kernel is called directly. Zero-sized inputs
    (``L``, ``S``, ``E``, ``Ev`` or a batch axis of 0) take a written-out
    path. The result has the inputs' dtype (float16/bfloat16 go to the kernel
    as they are; it accumulates in float32) and the query's device.

    What is guaranteed: keys and values that no query of their slice may see
    (padding), and the query vectors of rows with no visible key, never
    influence anything, NaN and inf included, forward and backward: the
    gradients with respect to query, key and value are finite and exactly 0
    there (``empty="mean"`` reads every value by its rule: the rows with no
    visible key pass 1/S of their gradient to each value).

    What is not: a NaN or inf in a key or value that *some* query of the
    slice may see reaches, through the kernel's arithmetic, the rows that may
    not see it (a NaN score plus the mask's ``-inf`` is NaN; a weight 0 times
    an infinite value is NaN), where the reference excludes every hidden pair
    exactly. Checked with torch 2.13 on the CPU (flash and math kernels): a
    NaN, inf or -inf in one key or one value that a single query may see
    made every row of its slice NaN (the reference: that query's row alone).

    >>> q, k = torch.zeros(2, 1), torch.zeros(3, 1)
    >>> v = torch.tensor([[1.0], [3.0], [float("nan")]])
    >>> scaled_dot_product_attention(q, k, v, torch.tensor([[True, True, False], [False] * 3]))
    tensor([[2.],
            [0.]])
    """
    q, k, v, m, scale, batch = _prepare(
        query, key, value, mask, causal, scale, empty, align, window
    )
    lq, lk, ev = q.shape[-2], k.shape[-2], v.shape[-1]
    sized = min(q.shape + k.shape + v.shape) > 0
    if m is None and sized:
        return F.scaled_dot_product_attention(q, k, v, scale=scale).reshape(*batch, lq, ev)
    if m is None:
        m = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=q.device)
    has_key, seen = _visibility(m, lq, lk)
    if not sized:  # the kernels' zero-size behaviour differs between backends: written out
        work = _work(q.dtype)
        qs, ks, vs = (
            _sanitised(t, keep).to(work) for t, keep in ((q, has_key), (k, seen), (v, seen))
        )
        out = torch.matmul(_masked_weights(qs, ks, m, has_key, scale), vs).to(v.dtype)
        out = torch.where(has_key, out, _empty_fill(v, empty, work))
        return out.reshape(*batch, lq, ev)
    every_row, every_key = _all_true(has_key), _all_true(seen)
    ks, vs = (k, v) if every_key else (torch.where(seen, k, 0.0), torch.where(seen, v, 0.0))
    if every_row:
        out = F.scaled_dot_product_attention(q, ks, vs, attn_mask=m, scale=scale)
    else:
        qs = torch.where(has_key, q, 0.0)
        out = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=m | ~has_key, scale=scale)
        out = torch.where(has_key, out, _empty_fill(v, empty, _work(v.dtype)))
    return out.reshape(*batch, lq, ev)

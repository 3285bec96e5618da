"""Attention kernels in PyTorch, over the fused kernel (rules and checks: the front ends,
:mod:`maskref.api.attention`).

Masks are ``torch.bool`` with ``True`` = the query may attend to the key.
:func:`scaled_dot_product_attention` is a thin layer over
``torch.nn.functional.scaled_dot_product_attention`` (the fused kernel): the
mask (the user's, broadcastable, with the causal / window band folded in) is
handed to the kernel after every input it must not see has been replaced with
``torch.where`` (query rows with no visible key, keys and values that no query
sees), and rows with no visible key get an all-True mask row, so that no
kernel ever meets a fully masked row; those rows are then filled by
``empty``. :func:`attention_weights` is written out (the kernel returns no
weights): a matmul and a masked softmax (where before exp, a detached shift,
a safe divisor), float16/bfloat16 computed in float32. The CPU shortcuts live
in :mod:`torch_impl._fast_attention`.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F

from maskref.api.attention import band_rule

from . import _fast_attention as fast

#: Computed in float32 (the weights; the kernel widens them itself).
LOW_PRECISION = (torch.float16, torch.bfloat16)


# --- masks ---------------------------------------------------------------------------------


class _Arange:
    """The array namespace :func:`maskref.api.attention.band_rule` needs: ``arange`` on a
    device."""

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
    """The causal / window band, bool ``(L, S)`` on ``device``."""
    return band_rule(query_len, key_len, causal, align, window, _Arange(device))


def causal_mask(
    query_len: int, key_len: int, align: str, window: int | None, device: torch.device | None
) -> torch.Tensor:
    """``device`` is None (the default device) or a torch device (or its name), where the
    mask is made.

    >>> causal_mask(2, 4, align="bottom_right").int()
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    return _band(query_len, key_len, True, align, window, device)


def _ids(t: torch.Tensor) -> torch.Tensor:
    """Segment ids whose equality torch can test: uint16/32/64 have few kernels, so their
    bits are compared as int64 (equality is exact)."""
    if t.dtype in (torch.uint16, torch.uint32):
        return t.to(torch.int64)
    return t.view(torch.int64) if t.dtype == torch.uint64 else t


def _same_segment(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    q, k = _ids(q), _ids(k.to(q.device))
    return (q[:, :, None] == k[:, None, :]) & (q[:, :, None] != 0)


def attention_mask(
    query_mask: torch.Tensor | None,
    key_mask: torch.Tensor | None,
    query_segment_ids: torch.Tensor | None,
    key_segment_ids: torch.Tensor | None,
    causal: bool,
    align: str,
    window: int | None,
    sizes: tuple[int, int, int],
    device: torch.device | None,
) -> torch.Tensor:
    """The result is made on ``device`` when given, else on the device of the first tensor
    part (the default device when there is none), where the other parts are moved.

    >>> attention_mask(torch.tensor([[True, True, False]]), causal=True).int()
    tensor([[[1, 0, 0],
             [1, 1, 0],
             [0, 0, 0]]], dtype=torch.int32)
    """
    parts = (query_mask, key_mask, query_segment_ids)
    if device is None:
        device = next((p.device for p in parts if p is not None), None)
    batch, lq, lk = sizes
    keep = _band(lq, lk, causal, align, window, device).expand(batch, lq, lk)
    if query_mask is not None:
        keep = keep & query_mask.to(device)[:, :, None]
    if key_mask is not None:
        keep = keep & key_mask.to(device)[:, None, :]
    if query_segment_ids is not None:
        keep = keep & _same_segment(
            query_segment_ids.to(device), cast(torch.Tensor, key_segment_ids)
        )
    return keep.contiguous()


def segment_mask(query_segment_ids: torch.Tensor, key_segment_ids: torch.Tensor) -> torch.Tensor:
    """Any integer dtype (uint64 too); the key ids are moved to the query ids' device, where
    the mask is made.

    >>> segment_mask(torch.tensor([[1, 1, 2, 0]])).int()
    tensor([[[1, 1, 0, 0],
             [1, 1, 0, 0],
             [0, 0, 1, 0],
             [0, 0, 0, 0]]], dtype=torch.int32)
    """
    return _same_segment(query_segment_ids, key_segment_ids)


def document_ends(lengths: torch.Tensor, seqlen: int) -> torch.Tensor:
    """Running totals of each row's int64 lengths, each length capped at ``seqlen + 1``."""
    return torch.cumsum(torch.clamp(lengths, max=seqlen + 1), dim=1)


def segment_ids_from_lengths(ends: torch.Tensor, seqlen: int) -> torch.Tensor:
    """``lengths_per_row`` may also be a list of 1-D tensors or a jagged ``torch.nested``
    tensor (padded with 0). A ``scatter_add`` of the document starts and a ``cumsum``, no loop
    over the batch; checking the lengths waits for the device. The result is on the lengths'
    device.

    >>> segment_ids_from_lengths([torch.tensor([2, 1]), torch.tensor([3])], 4)
    tensor([[1, 1, 2, 0],
            [1, 1, 1, 0]])
    """
    batch, docs = ends.shape
    device = ends.device
    totals = ends[:, -1] if docs else torch.zeros(batch, dtype=torch.int64, device=device)
    # A 1 where each document after the first starts; the ids are the running count.
    starts = torch.zeros((batch, seqlen + 1), dtype=torch.int64, device=device)
    index = ends[:, :-1]
    starts = starts.scatter_add(1, index, torch.ones_like(index))
    ids = torch.cumsum(starts[:, :seqlen], dim=1) + 1
    steps = torch.arange(seqlen, device=device)
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
    """A mask of the scores' rank (sizes 1 or equal) as 4 axes, kept as small."""
    if len(batch) <= 2:
        return m.reshape((1,) * (2 - len(batch)) + tuple(m.shape))
    lead = m.shape[:-3]
    if all(n == 1 for n in lead):
        return m.reshape(1, *m.shape[-3:])
    return m.expand(*batch[:-1], *m.shape[-3:]).reshape(math.prod(batch[:-1]), *m.shape[-3:])


def _prepare(
    tensors: tuple[torch.Tensor, ...],
    mask: torch.Tensor | None,
    causal: bool,
    align: str,
    window: int | None,
) -> tuple[list[torch.Tensor], torch.Tensor | None, tuple[int, ...]]:
    """The inputs as 4-D tensors of equal batch sizes on the query's device, the boolean 4-D
    mask with the band folded in (None: all visible) and the batch shape."""
    q, k = tensors[0], tensors[1]
    batch = tuple(torch.broadcast_shapes(*(t.shape[:-2] for t in tensors)))
    lq, lk = q.shape[-2], k.shape[-2]
    device = q.device
    m = None if mask is None else mask.to(device)
    if causal or window is not None:
        band = _band(lq, lk, causal, align, window, device)
        m = band.reshape((1,) * len(batch) + (lq, lk)) if m is None else m & band
    shaped = [_to_4d(t.to(device), batch) for t in tensors]
    return shaped, None if m is None else _mask_4d(m, batch), batch


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
    working dtype; hidden keys and rows without a visible key get 0 whatever their scores
    (where before exp, a detached shift, a safe divisor)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if m is None:
        return torch.softmax(scores, dim=-1)
    has_key = cast(torch.Tensor, has_key)  # given whenever m is
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


def _weighted_values(weights: torch.Tensor, values: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``weights @ values`` where a hidden (query, key) pair adds nothing even when its value
    is inf or NaN (``0 * inf`` would be NaN): the non-finite values are left out of the
    matmul and their visible contributions (``+inf``, ``-inf`` or NaN, as a sum over the
    visible pairs gives them) counted with 0/1 matmuls, not an ``(..., L, S, Ev)`` product."""
    finite = torch.isfinite(values)
    base = torch.matmul(weights, torch.where(finite, values, 0.0))
    if fast.all_true(finite):  # unknown (compiled, other devices): counted all the same
        return base
    work = weights.dtype
    visible = m.expand(weights.shape)

    def hits(pairs: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
        return torch.matmul(pairs.to(work), special.to(work)) > 0

    counted = visible & (weights > 0)
    nan = hits(visible, torch.isnan(values)) | hits(visible & (weights == 0), torch.isinf(values))
    plus = hits(counted, values == math.inf)
    minus = hits(counted, values == -math.inf)
    nan = nan | (plus & minus)
    extra = torch.where(plus, math.inf, torch.where(minus, -math.inf, 0.0)).to(work)
    return base + torch.where(nan, math.nan, extra)


def _sanitised(t: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    return t if keep is None else torch.where(keep, t, 0.0)


def attention_weights(q, k, mask, causal, scale, empty, align, window) -> torch.Tensor:
    """Written out, as the fused kernel returns no weights: the keys no query can see and the
    query rows with no visible key are replaced with ``torch.where`` before the matmul, so
    NaN or inf there never reaches the weights or their gradient (finite, 0 there).
    float16/bfloat16 are computed in float32; the result has the query's dtype and device.

    >>> q, k = torch.zeros(2, 1), torch.tensor([[0.0], [0.0], [float("nan")]])
    >>> attention_weights(q, k, torch.tensor([[True, True, False], [False] * 3]))
    tensor([[0.5000, 0.5000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    """
    (q, k), m, batch = _prepare((q, k), mask, causal, align, window)
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


def _written_out(q, k, v, m, has_key, seen, scale) -> torch.Tensor:
    """Attention without the fused kernel, every hidden pair left out exactly (NaN and inf
    included), in the working dtype: for zero sizes and for non-finite inputs."""
    work = _work(q.dtype)
    qs, ks, vs = (_sanitised(t, keep).to(work) for t, keep in ((q, has_key), (k, seen), (v, seen)))
    weights = _masked_weights(qs, ks, m, has_key, scale)
    return _weighted_values(weights, vs, m).to(v.dtype)


def _rows_that_see(m: torch.Tensor, bad: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(..., L|1, 1)``: the rows that may see one of the ``bad`` keys (``(..., S, 1)``)."""
    return torch.matmul(m.to(dtype), bad.to(dtype)) > 0


def scaled_dot_product_attention(
    q, k, v, mask, causal, scale, empty, align, window
) -> torch.Tensor:
    """A thin layer over ``torch.nn.functional.scaled_dot_product_attention``. The causal /
    window band is folded into the boolean mask (``is_causal`` is never used), which stays as
    small as the user's; inputs are viewed as ``(B, H, L, E)`` with equal batch sizes, which
    the fused CPU kernel needs. Before the kernel, ``torch.where`` replaces with 0 the query
    rows that see no key and the keys and values that no query of the slice sees, and those
    rows get an all-True mask row (no kernel meets a fully masked row); after it,
    ``torch.where`` fills them by ``empty``. Without a mask, ``causal`` or ``window`` the
    kernel is called directly. Zero-sized inputs take a written-out path. The result has the
    inputs' dtype (float16/bfloat16 go to the kernel as they are; it accumulates in float32)
    and the query's device.

    Non-finite keys and values that one query may see and another may not: the fused kernel
    computes every score and every ``weight * value`` before the mask applies, so one NaN or
    inf there would reach the rows that may not see it. On the CPU in eager mode, when the
    mask has such keys (a causal band does; a ``(B, 1, 1, S)`` key padding mask does not),
    the keys and values are checked first (one sum each) and, when one is not finite, a
    written-out path leaves every hidden pair out exactly, as the reference does. Compiled
    graphs and other devices never wait for a value: there such keys and values are
    replaced by 0 before the kernel when they are not finite, and the rows that may see one
    are NaN (the reference's answer for a NaN key or value, or an infinite score; a key
    whose score is -inf, or an infinite value, gives the reference a finite or infinite row
    instead). Rows that cannot see them are exact everywhere.

    The CPU shortcuts also skip a replacement that would change nothing (every row has a
    key, every key is seen; read from the small mask); the gradients with respect to query,
    key and value are finite and exactly 0 at every replaced element (``empty="mean"``
    reads every value by its rule: the rows with no visible key pass 1/S of their gradient
    to each value).

    >>> q, k = torch.zeros(4, 2), torch.zeros(4, 2)
    >>> k[3] = float("nan")
    >>> scaled_dot_product_attention(q, k, torch.ones(4, 2), causal=True)
    tensor([[1., 1.],
            [1., 1.],
            [1., 1.],
            [nan, nan]])
    """
    (q, k, v), m, batch = _prepare((q, k, v), mask, causal, align, window)
    lq, lk, ev = q.shape[-2], k.shape[-2], v.shape[-1]
    sized = min(q.shape + k.shape + v.shape) > 0
    if m is None and sized:
        return F.scaled_dot_product_attention(q, k, v, scale=scale).reshape(*batch, lq, ev)
    if m is None:
        m = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=q.device)
    has_key, seen = _visibility(m, lq, lk)
    if not sized:  # the kernels' zero-size behaviour differs between backends: written out
        out = _written_out(q, k, v, m, has_key, seen, scale)
        out = torch.where(has_key, out, _empty_fill(v, empty, _work(v.dtype)))
        return out.reshape(*batch, lq, ev)
    every_row, every_key = fast.all_true(has_key), fast.all_true(seen)
    ks, vs = (k, v) if every_key else (torch.where(seen, k, 0.0), torch.where(seen, v, 0.0))
    qs = q if every_row else torch.where(has_key, q, 0.0)
    # Rows with no visible key get an all-True mask row (no kernel meets a fully masked row).
    kernel_mask = m if every_row else m | ~has_key
    # Keys that one query sees and another (with a key) does not: the kernel computes every
    # score and every weight * value, so a non-finite one would reach the rows that may not
    # see it. A key padding mask (B, 1, 1, S) has none.
    fully_seen = kernel_mask.view(torch.uint8).amin(dim=-2, keepdim=True).view(torch.bool)
    leaky = seen & ~fully_seen.transpose(-1, -2)
    finite = True if fast.all_true(~leaky) else fast.all_finite(ks, vs)
    if finite is False:
        out = _written_out(qs, ks, vs, m, has_key, None, scale)
    else:
        bad = None
        if finite is None:  # unknown: no value is read; those keys are replaced if not finite
            ok = torch.isfinite(ks).all(-1, keepdim=True) & torch.isfinite(vs).all(-1, keepdim=True)
            ok = ok | ~leaky
            bad = _rows_that_see(m, ~ok, _work(q.dtype))
            ks, vs = torch.where(ok, ks, 0.0), torch.where(ok, vs, 0.0)
        out = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=kernel_mask, scale=scale)
        if bad is not None:
            out = torch.where(bad, math.nan, out)
    if not every_row:
        out = torch.where(has_key, out, _empty_fill(v, empty, _work(v.dtype)))
    return out.reshape(*batch, lq, ev)

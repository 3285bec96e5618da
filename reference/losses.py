"""Loss kernels in NumPy (the rules and checks are the front ends', :mod:`maskref.api.losses`).

Masked entries are replaced with ``np.where`` before any arithmetic; sums run
in the work dtype (float32 for float16, bfloat16 and float32 data).
"""

from __future__ import annotations

import numpy as np

from maskref.api.losses import KERAS_EPSILON, token_mean_class, work_dtype

from ._backend import BACKEND

TokenMean = token_mean_class(BACKEND)


def _work(x: np.ndarray) -> np.dtype:
    return np.dtype(work_dtype(x.dtype.name))


def _ratio(num: object, den: object, empty: str, dtype: np.dtype) -> np.ndarray:
    """``num / den``, or ``empty`` where ``den`` is 0 (0-d, of ``dtype``)."""
    num, den = np.asarray(num), np.asarray(den)
    ok = den != 0
    with np.errstate(all="ignore"):
        value = np.where(ok, num / np.where(ok, den, 1), 0.0 if empty == "zero" else np.nan)
    return np.asarray(value.astype(num.dtype)).astype(dtype)


def _finish(num: object, den: object, empty: str, dtype: np.dtype) -> np.ndarray:
    if den is None:  # "sum"
        return np.asarray(num).astype(dtype)
    return _ratio(num, den, empty, dtype)


def _reduce(
    loss: np.ndarray, weight: np.ndarray, counted: np.ndarray, reduction: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The numerator and the denominator of ``reduction`` (``loss`` and ``weight`` are 0
    wherever ``counted`` is False)."""
    if reduction == "sum":
        return loss.sum(), None
    if reduction == "keras":
        return loss.sum(), counted.sum(dtype=loss.dtype)
    if reduction == "sequence_mean":
        num, den = loss.sum(axis=1), weight.sum(axis=1)
        rows = den != 0
        with np.errstate(all="ignore"):
            means = np.where(rows, num / np.where(rows, den, 1), 0)
        return means.sum(dtype=loss.dtype), rows.sum(dtype=loss.dtype)
    return loss.sum(), weight.sum()  # token_mean, weighted_mean


def masked_loss(
    per_step: np.ndarray,
    mask: np.ndarray,
    sample_weight: np.ndarray | None,
    reduction: str,
    empty: str,
) -> np.ndarray:
    work = _work(per_step)
    loss = np.where(mask, per_step, 0).astype(work)
    if sample_weight is None:
        weight = mask.astype(work)
    else:
        rows = sample_weight.reshape(-1, 1) if sample_weight.ndim == 1 else sample_weight
        weight = np.where(mask, rows, 0).astype(work)
    loss = loss * weight
    if reduction == "none":
        return loss.astype(per_step.dtype)
    num, den = _reduce(loss, weight, mask, reduction)
    return _finish(num, den, empty, per_step.dtype)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    shifted = x - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _step_losses(
    logits: np.ndarray,
    targets: np.ndarray,
    counted: np.ndarray | None,
    class_weight: np.ndarray | None,
    smoothing: float,
    from_logits: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: the loss ``l`` and the weight ``w_y``, both 0 where not counted; and the
    counted mask."""
    work = _work(logits)
    keep = np.ones(targets.shape, bool) if counted is None else counted
    with np.errstate(all="ignore"):
        if from_logits:
            x = np.where(keep[..., None], logits, 0).astype(work)
        else:
            p = np.where(keep[..., None], logits, 1).astype(work)
            x = np.log(np.clip(p, work.type(KERAS_EPSILON), work.type(1 - KERAS_EPSILON)))
        logp = _log_softmax(x)
        t = np.where(keep, targets, 0)
        nll = -np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
        if class_weight is None:
            wy = np.ones(t.shape, work)
            loss = nll
        else:
            cw = class_weight.astype(work)
            wy = cw[t]
            loss = wy * nll
        if smoothing:
            spread = -(logp.sum(axis=-1) if class_weight is None else (logp * cw).sum(axis=-1))
            loss = (1 - smoothing) * loss + (smoothing / logits.shape[-1]) * spread
    return np.where(keep, loss, 0).astype(work), np.where(keep, wy, 0).astype(work), keep


def masked_cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    counted: np.ndarray | None,
    class_weight: np.ndarray | None,
    label_smoothing: float,
    from_logits: bool,
    steps: int | None,
    reduction: str,
    empty: str,
) -> np.ndarray:
    loss, weight, keep = _step_losses(
        logits, targets, counted, class_weight, label_smoothing, from_logits
    )
    if reduction == "none":
        if steps is not None:  # shifted: aligned with the logits, the last step 0
            loss = np.concatenate([loss, np.zeros((loss.shape[0], 1), loss.dtype)], 1)[:, :steps]
        return loss.astype(logits.dtype)
    num, den = _reduce(loss, weight, keep, reduction)
    return _finish(num, den, empty, logits.dtype)


def masked_accuracy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    work = _work(logits)
    predicted = np.argmax(np.where(mask[..., None], logits, 0), axis=-1)
    hits = (predicted == targets) & mask
    return _ratio(hits.sum(dtype=work), mask.sum(dtype=work), "zero", work)


def accumulated_loss(
    micro_batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    class_weight: np.ndarray | None,
    label_smoothing: float,
    from_logits: bool,
    reduction: str,
    empty: str,
) -> np.ndarray:
    num: np.ndarray | None = None
    den: np.ndarray | None = None
    for logits, targets, counted in micro_batches:
        loss, weight, keep = _step_losses(
            logits, targets, counted, class_weight, label_smoothing, from_logits
        )
        n, d = _reduce(loss, weight, keep, reduction)
        num = n if num is None else num + n
        if d is not None:
            den = d if den is None else den + d
    assert num is not None  # micro_batches is not empty
    return _finish(num, den, empty, micro_batches[0][0].dtype)


def token_sums(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float64 sum of the valid values and their int64 count."""
    total = np.where(mask, values, 0).sum(dtype=np.float64)
    return np.asarray(total), np.asarray(mask.sum(dtype=np.int64))


def token_result(total: object, count: object, empty: str, dtype: str) -> np.ndarray:
    if total is None:
        return np.asarray(0.0 if empty == "zero" else np.nan, dtype=dtype)
    return _ratio(total, count, empty, np.dtype(dtype))

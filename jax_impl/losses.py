"""Loss kernels in JAX (rules and checks: :mod:`maskref.api.losses`).

Masked entries (NaN/inf logits, out-of-range targets) are replaced with
``jnp.where`` before any arithmetic, and every division gets a safe
denominator first, so the loss and its gradient (exactly 0 at masked logits)
never see them, under ``jit`` and ``grad``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maskref.api.losses import KERAS_EPSILON, token_mean_class, work_dtype

from ._backend import BACKEND
from ._convert import canonical

TokenMean = token_mean_class(BACKEND)


def _work(x: Any) -> Any:
    return jnp.dtype(work_dtype(x.dtype.name))


def _ratio(num: Any, den: Any, empty: str, dtype: Any) -> Any:
    ok = den != 0
    value = jnp.where(ok, num / jnp.where(ok, den, 1), 0.0 if empty == "zero" else jnp.nan)
    return value.astype(dtype)


def _finish(num: Any, den: Any, empty: str, dtype: Any) -> Any:
    return num.astype(dtype) if den is None else _ratio(num, den, empty, dtype)


def _reduce(loss: Any, weight: Any, counted: Any, reduction: str) -> tuple[Any, Any]:
    if reduction == "sum":
        return loss.sum(), None
    if reduction == "keras":
        return loss.sum(), counted.sum(dtype=loss.dtype)
    if reduction == "sequence_mean":
        num, den = loss.sum(axis=1), weight.sum(axis=1)
        rows = den != 0
        means = jnp.where(rows, num / jnp.where(rows, den, 1), 0)
        return means.sum(dtype=loss.dtype), rows.sum(dtype=loss.dtype)
    return loss.sum(), weight.sum()  # token_mean, weighted_mean


def masked_loss(per_step: Any, mask: Any, sample_weight: Any, reduction: str, empty: str) -> Any:
    work = _work(per_step)
    loss = jnp.where(mask, per_step, 0).astype(work)
    if sample_weight is None:
        weight = mask.astype(work)
    else:
        rows = sample_weight.reshape(-1, 1) if sample_weight.ndim == 1 else sample_weight
        weight = jnp.where(mask, rows, 0).astype(work)
    loss = loss * weight
    if reduction == "none":
        return loss.astype(per_step.dtype)
    num, den = _reduce(loss, weight, mask, reduction)
    return _finish(num, den, empty, per_step.dtype)


def _step_losses(logits, targets, counted, class_weight, smoothing, from_logits) -> tuple:
    work = _work(logits)
    keep = jnp.ones(targets.shape, bool) if counted is None else counted
    if from_logits:
        x = jnp.where(keep[..., None], logits, 0).astype(work)
    else:
        p = jnp.where(keep[..., None], logits, 1).astype(work)
        x = jnp.log(jnp.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON))
    logp = jax.nn.log_softmax(x, axis=-1)
    t = jnp.where(keep, targets, 0)
    nll = -jnp.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    if class_weight is None:
        wy, loss = jnp.ones(t.shape, work), nll
    else:
        cw = class_weight.astype(work)
        wy = cw[t]
        loss = wy * nll
    if smoothing:
        spread = -(logp.sum(axis=-1) if class_weight is None else (logp * cw).sum(axis=-1))
        loss = (1 - smoothing) * loss + (smoothing / logits.shape[-1]) * spread
    return jnp.where(keep, loss, 0).astype(work), jnp.where(keep, wy, 0).astype(work), keep


def masked_cross_entropy(logits, targets, counted, class_weight, label_smoothing, from_logits,
                         steps, reduction, empty) -> Any:  # fmt: skip
    loss, weight, keep = _step_losses(
        logits, targets, counted, class_weight, label_smoothing, from_logits
    )
    if reduction == "none":
        if steps is not None:  # shifted: aligned with the logits, the last step 0
            pad = jnp.zeros((loss.shape[0], 1), loss.dtype)
            loss = jnp.concatenate([loss, pad], 1)[:, :steps]
        return loss.astype(logits.dtype)
    num, den = _reduce(loss, weight, keep, reduction)
    return _finish(num, den, empty, logits.dtype)


def masked_accuracy(logits: Any, targets: Any, mask: Any) -> Any:
    work = _work(logits)
    predicted = jnp.argmax(jnp.where(mask[..., None], logits, 0), axis=-1)
    hits = (predicted == targets) & mask
    return _ratio(hits.sum(dtype=work), mask.sum(dtype=work), "zero", work)


def accumulated_loss(micro_batches, class_weight, label_smoothing, from_logits, reduction,
                     empty) -> Any:  # fmt: skip
    nums, dens = [], []
    for logits, targets, counted in micro_batches:
        loss, weight, keep = _step_losses(
            logits, targets, counted, class_weight, label_smoothing, from_logits
        )
        num, den = _reduce(loss, weight, keep, reduction)
        nums.append(num)
        dens.append(den)
    dtype = micro_batches[0][0].dtype
    den = None if reduction == "sum" else jnp.sum(jnp.stack(dens))
    return _finish(jnp.sum(jnp.stack(nums)), den, empty, dtype)


def token_sums(values: Any, mask: Any) -> tuple[Any, Any]:
    """The sum of the valid values (float64 with x64, else float32) and their count."""
    total = jnp.where(mask, values, 0).sum(dtype=canonical(np.dtype(np.float64)))
    return total, mask.sum(dtype=canonical(np.dtype(np.int64)))


def token_result(total: object, count: object, empty: str, dtype: str) -> Any:
    out = canonical(np.dtype(dtype))
    if total is None:
        return jnp.asarray(0.0 if empty == "zero" else jnp.nan, out)
    return _ratio(jnp.asarray(total), jnp.asarray(count), empty, out)

"""Batches as ragged rows: parsing the user's ``(x, mask)``, laying rows out pre- or
post-padded at any length, and reading the valid outputs back.

Which positions count:

* a **sequence output** (its first two axes are the batch and the input's time
  axis, e.g. ``(B, T, H)``): the valid steps of each row, ``mask[i, t]``; the
  steps are compared in order, so a pre- and a post-padded row line up;
* a **pooled output** (only its first axis is the batch, e.g. ``(B, H)``): the
  whole row, for every row with at least one valid step (a row with no valid
  step has no valid output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SEQUENCE = "sequence"
POOLED = "pooled"

VALID_POSITIONS = {
    SEQUENCE: "sequence output: the valid steps of each row (mask True), compared in order",
    POOLED: "pooled output: every row with at least one valid step (the whole row)",
}


def to_numpy(value: Any, name: str) -> np.ndarray:
    """A NumPy copy of an array, a list, a torch or TensorFlow tensor."""
    if value is None:
        raise TypeError(f"{name}: expected an array, got None")
    detach = getattr(value, "detach", None)
    if callable(detach):  # torch
        value = detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy().copy()
    numpy = getattr(value, "numpy", None)
    if callable(numpy) and not isinstance(value, np.ndarray):  # tf eager tensors
        return np.asarray(numpy()).copy()
    return np.array(value)


@dataclass
class Batch:
    """The user's batch as ragged rows (each row's valid steps) plus how it is padded."""

    rows: list[np.ndarray]
    maxlen: int
    dtype: np.dtype
    feature_shape: tuple[int, ...]
    pad_value: Any

    @property
    def lengths(self) -> list[int]:
        return [len(r) for r in self.rows]

    @property
    def is_ids(self) -> bool:
        return self.dtype.kind in "iu"

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), self.maxlen, *self.feature_shape)


def parse_batch(batch: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mask)`` as NumPy, checked: ``mask`` bool ``(B, T)``, post-padded, a prefix of
    ``x``'s shape."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(
            "batch: expected (x, mask): the post-padded inputs and a bool mask, True = valid"
        )
    x = to_numpy(batch[0], "batch[0] (x)")
    mask = to_numpy(batch[1], "batch[1] (mask)")
    if mask.dtype != np.bool_:
        raise TypeError(
            f"batch: the mask must be bool (True = valid), got {mask.dtype.name} "
            "(convert it, e.g. reference.convert_mask(m, 'transformers', 'keep'))"
        )
    if mask.ndim != 2 or x.shape[:2] != mask.shape:
        raise ValueError(
            f"batch: the mask must have shape (B, T), a prefix of x's shape; "
            f"got x {x.shape} and mask {mask.shape}"
        )
    if x.dtype.kind not in "iuf" and x.dtype.name != "bfloat16":
        raise TypeError(f"batch: x must hold integer ids or floats, got {x.dtype.name}")
    if mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ValueError(f"batch: needs at least one row and one step, got x {x.shape}")
    lengths = mask.sum(axis=1)
    steps = np.arange(mask.shape[1])
    bad = np.flatnonzero((mask != (steps[None, :] < lengths[:, None])).any(axis=1))
    if bad.size:
        raise ValueError(
            f"batch: the mask must be post-padded (the valid steps first, then padding); "
            f"row {int(bad[0])} is {mask[bad[0]].astype(int).tolist()}"
        )
    return x, mask


def make_batch(x: np.ndarray, mask: np.ndarray, pad_value: Any = None) -> Batch:
    lengths = mask.sum(axis=1)
    rows = [x[i, : int(n)].copy() for i, n in enumerate(lengths)]
    if pad_value is None:
        padded = x[~mask]
        if padded.size and (padded == padded.reshape(-1)[0]).all():
            pad_value = padded.reshape(-1)[0].item()
        else:
            pad_value = 0
    return Batch(rows, int(mask.shape[1]), x.dtype, tuple(x.shape[2:]), pad_value)


def layout(
    rows: list[np.ndarray],
    maxlen: int,
    side: str,
    batch: Batch,
    fill: Callable[[tuple[int, ...]], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` padded on ``side`` to ``maxlen`` with the batch's pad value, then (``fill``)
    the padded entries overwritten with ``fill(shape)``."""
    x = np.full((len(rows), maxlen, *batch.feature_shape), batch.pad_value, dtype=batch.dtype)
    mask = np.zeros((len(rows), maxlen), dtype=bool)
    for i, r in enumerate(rows):
        n = len(r)
        if n:
            where = slice(0, n) if side == "post" else slice(maxlen - n, maxlen)
            x[i, where] = r
            mask[i, where] = True
    if fill is not None and (~mask).any():
        shape = (int((~mask).sum()), *batch.feature_shape)
        x[~mask] = fill(shape).astype(batch.dtype)
    return x, mask


def output_kind(y: np.ndarray, batch_size: int, maxlen: int) -> str:
    """``sequence`` when ``y`` is ``(B, T, ...)``, ``pooled`` when ``(B, ...)``."""
    if y.ndim >= 2 and y.shape[:2] == (batch_size, maxlen):
        return SEQUENCE
    if y.ndim >= 1 and y.shape[0] == batch_size:
        return POOLED
    raise ValueError(
        f"output: cannot find the batch axis in the output of shape {y.shape} for a batch of "
        f"{batch_size} rows of {maxlen} steps (select another output with output=..., "
        "e.g. output=lambda out: out[0], or make the batch axis come first)"
    )


class OutputShapeError(ValueError):
    """The model's output does not have the shape the check expects."""


def valid_outputs(
    y: np.ndarray, lengths: list[int], maxlen: int, side: str, kind: str
) -> list[np.ndarray | None]:
    """Each row's valid outputs (None for a row without any)."""
    if y.shape[0] != len(lengths) or (kind == SEQUENCE and (y.ndim < 2 or y.shape[1] != maxlen)):
        want = f"({len(lengths)}, {maxlen}, ...)" if kind == SEQUENCE else f"({len(lengths)}, ...)"
        raise OutputShapeError(f"the output has shape {y.shape} where {want} was expected")
    out: list[np.ndarray | None] = []
    for i, n in enumerate(lengths):
        if n == 0:
            out.append(None)
        elif kind == SEQUENCE:
            out.append(y[i, :n] if side == "post" else y[i, maxlen - n :])
        else:
            out.append(y[i])
    return out


def valid_and_weights(
    shape: tuple[int, ...],
    weights: list[np.ndarray | None],
    maxlen: int,
    side: str,
    kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The output positions that count (bool, broadcastable to ``shape``) and the loss
    weights laid out like the output (each row's weights on its valid positions)."""
    w = np.zeros(shape, dtype=np.float64)
    if kind == SEQUENCE:
        valid = np.zeros(shape[:2], dtype=bool)
        for i, wi in enumerate(weights):
            if wi is None:
                continue
            n = len(wi)
            where = slice(0, n) if side == "post" else slice(maxlen - n, maxlen)
            valid[i, where] = True
            w[i, where] = wi
        valid = valid.reshape(valid.shape + (1,) * (len(shape) - 2))
    else:
        valid = np.zeros(shape[:1], dtype=bool)
        for i, wi in enumerate(weights):
            if wi is not None:
                valid[i] = True
                w[i] = wi
        valid = valid.reshape(valid.shape + (1,) * (len(shape) - 1))
    return np.broadcast_to(valid, shape).copy(), w


def abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|`` where equal values (NaN with NaN, inf with the same inf) count as 0 and
    a NaN against a number as inf."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise OutputShapeError(f"outputs of shapes {a.shape} and {b.shape} cannot be compared")
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b)
    d = np.where(same, 0.0, d)
    return np.where(np.isnan(d), np.inf, d)


def scale_of(values: list[np.ndarray | None]) -> float:
    """The largest finite ``|value|`` (1 when there is none)."""
    best = 0.0
    for v in values:
        if v is None or v.size == 0:
            continue
        f = np.abs(np.asarray(v, dtype=np.float64))
        f = f[np.isfinite(f)]
        if f.size:
            best = max(best, float(f.max()))
    return best if best > 0 else 1.0


def describe_padded(y: np.ndarray, mask: np.ndarray, kind: str) -> str:
    """What the model writes at padded positions (sequence) or in empty rows (pooled)."""
    if kind == SEQUENCE:
        if y.ndim < 2 or y.shape[:2] != mask.shape:
            return f"output of shape {y.shape}"
        vals = y[~mask]
        where = "padded steps"
    else:
        vals = y[~mask.any(axis=1)]
        where = "rows with no valid step"
    if vals.size == 0:
        return f"no {where} in the batch"
    f = np.asarray(vals, dtype=np.float64)
    if np.isnan(f).any():
        return f"{where}: NaN ({int(np.isnan(f).sum())} of {f.size} values)"
    if np.isinf(f).any():
        return f"{where}: inf"
    if (f == 0).all():
        return f"{where}: exactly 0"
    return f"{where}: finite values (max |y| = {np.abs(f).max():.3g})"

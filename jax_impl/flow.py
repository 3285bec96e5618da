"""Mask-flow kernels in JAX (rules, tables and checks: :mod:`maskref.api.flow`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._convert import canonical


def _fold(op: Callable, xs: list[Any]) -> Any:
    return functools.reduce(op, xs[1:], xs[0])


def merge_masks(masks: list[Any]) -> Any:
    return _fold(jnp.logical_or, masks)


def merge_masks_strict(masks: list[Any]) -> Any:
    return _fold(jnp.logical_and, masks)


def _broadcast(mask: Any, shape: tuple[int, ...]) -> Any:
    return jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


def concatenate_masks(masks: list[Any], shapes: list[tuple[int, ...]], axis: int) -> Any:
    full = [jnp.ones(s, bool) if m is None else _broadcast(m, s) for m, s in zip(masks, shapes)]
    return jnp.any(jnp.concatenate(full, axis=axis), axis=-1)


_OPS: dict[str, Callable[[list[Any]], Any]] = {
    "add": lambda xs: _fold(jnp.add, xs),
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: _fold(jnp.multiply, xs),
    "maximum": lambda xs: _fold(jnp.maximum, xs),
    "minimum": lambda xs: _fold(jnp.minimum, xs),
}


def merge_values(op: str, xs: list[Any], masks: list[Any], dtype: str | None) -> Any:
    """Masked steps of ``multiply``, ``maximum`` and ``minimum`` are replaced before the op
    (``jnp.where``); dtypes as NumPy's, narrowed to 32 bits unless x64 is on."""
    target = canonical(np.dtype(dtype)) if dtype is not None else xs[0].dtype
    if op == "average":
        acc = jnp.float32 if np.dtype(target).itemsize < 4 else target
        return (_fold(jnp.add, [x.astype(acc) for x in xs]) / len(xs)).astype(target)
    arrays = [x.astype(target) for x in xs]
    if op in ("add", "subtract") or all(m is None for m in masks):
        return _OPS[op](arrays)
    full = [None if m is None else _broadcast(m, x.shape) for m, x in zip(masks, arrays)]
    if op == "multiply":
        factors = [x if m is None else jnp.where(m, x, 1) for x, m in zip(arrays, full)]
        out = _fold(jnp.multiply, factors)
        if all(m is not None for m in full):
            out = jnp.where(_fold(jnp.logical_or, full), out, 0)
        return out.astype(target)
    extreme = jnp.maximum if op == "maximum" else jnp.minimum
    out, out_mask = arrays[0], full[0]
    for x, m in zip(arrays[1:], full[1:]):
        if m is not None:
            x = jnp.where(m, x, out)
        if out_mask is not None:
            out = jnp.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = extreme(out, x)
    return out

"""Checks that depend on data values, written once over the backend's value-check hook.

Each helper builds its error here, then hands the condition to
``B.require(ok, error, message)``: the reference and eager code raise at once,
a ``tf.function`` asserts, so the class and the message are the same in every
backend. The conditions use only operators every array type has (``>=``,
``&``) plus ``B.a.all``; ``B.a.in_int64`` handles unsigned 64-bit data.
"""

from __future__ import annotations

import numpy as np

from .checks import INT64_MAX, lengths_range_error
from .core import Backend
from .types import Array

__all__ = ["check_at_most", "check_lengths"]


def _first(values: np.ndarray, bad: np.ndarray) -> object:
    item = values[bad].flat[0]
    return item.item() if hasattr(item, "item") else item


def check_lengths(B: Backend, lengths: Array, name: str = "lengths") -> Array:
    """Require integers from 0 to ``2**63 - 1`` (what int64 holds); return ``lengths``.

    Lengths of any integer dtype pass through unchanged; a negative length, or
    an unsigned one that int64 cannot hold, is a ``ValueError`` naming ``name``.
    """
    ok = B.a.all(B.a.in_int64(lengths))

    def error() -> ValueError:
        values = np.asarray(B.a.numpy(lengths)).astype(object)
        bad = (values < 0) | (values > INT64_MAX)
        return lengths_range_error(name, _first(values, bad) if bad.any() else "?")

    B.require(ok, error, f"{name} must hold non-negative integers up to 2**63 - 1")
    return lengths


def check_at_most(B: Backend, values: Array, limit: object, name: str, limit_name: str) -> None:
    """Require ``values <= limit`` everywhere (``ValueError`` naming both arguments)."""
    ok = B.a.all(values <= limit)

    def error() -> ValueError:
        arr = np.asarray(B.a.numpy(values))
        worst = arr.max() if arr.size else "?"
        return ValueError(f"{name} must be at most {limit_name}={limit}, got {worst}")

    B.require(ok, error, f"{name} must be at most {limit_name}")

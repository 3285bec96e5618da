"""Conversions for the reference: inputs to NumPy arrays, shapes and dtype names.

The same small set of helpers exists in every backend (``tf_impl._convert``,
``torch_impl._convert``) so that a front end in :mod:`maskref.api` can read
any backend's arrays the same way: ``B.a.asarray``, ``B.a.shape_of``,
``B.a.dtype_name``.
"""

from __future__ import annotations

import numpy as np

from maskref.api.checks import check_data


def asarray(x: object, name: str, like: object = None) -> np.ndarray:
    """``x`` as a NumPy array (nothing is copied); ``None`` is a ``TypeError`` naming ``name``.

    ``like`` (the array whose device the result must share) has no meaning here.
    """
    check_data(x, name)
    return np.asarray(x)


def shape_of(x: object) -> tuple[int, ...]:
    """The shape of an array, or of what ``np.asarray`` would make of ``x``."""
    return tuple(np.shape(x))


def dtype_name(x: np.ndarray) -> str:
    """The dtype's name as :mod:`maskref.api.checks` reads it (``"int64"``, ``"bool"``)."""
    return str(x.dtype)

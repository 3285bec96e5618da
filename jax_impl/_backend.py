"""JAX as a backend of :mod:`maskref.api`.

Value checks raise at once on concrete arrays. Under ``jax.jit`` (and inside
``vmap``/``grad`` traces) the condition is a tracer whose value is unknown: the
check is skipped, as ``tf_impl``'s are under XLA (documented).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from maskref.api import Backend

from . import _convert


def require(ok: object, error: Callable[[], Exception], message: str | None = None) -> None:
    """Raise ``error()`` unless ``ok``; skipped when ``ok`` is traced."""
    if isinstance(ok, jax.core.Tracer):
        return
    if not bool(ok):
        raise error()


BACKEND = Backend("jax_impl", adapter=_convert, require=require)

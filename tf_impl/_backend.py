"""TensorFlow as a backend of :mod:`maskref.api`.

Value checks raise at once in eager mode. Inside a ``tf.function`` they become
``tf.debugging.Assert`` ops, collected while the public function runs and
attached to its result (:func:`guard`); XLA (``jit_compile=True``) drops them.
Any ``tf.errors.OpError`` that still escapes becomes a Python error.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from maskref.api import Backend

from . import _convert

_PENDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("pending", default=None)


def require(ok: object, error: Callable[[], Exception], message: str | None = None) -> None:
    """Eager: raise ``error()`` unless ``ok``. Graph: add a ``tf.debugging.Assert``."""
    if tf.executing_eagerly() or isinstance(ok, bool):
        if not bool(ok):
            raise error()
        return
    op = tf.debugging.Assert(ok, [message or "maskref: a value check failed"])
    pending = _PENDING.get()
    if pending is not None:
        pending.append(op)


def after_checks(t: tf.Tensor) -> tf.Tensor:
    """``t``, made to wait for the value checks asserted so far (graph mode), so that bad
    input fails the assertion, not a later op that the assertion guards."""
    pending = _PENDING.get()
    if tf.executing_eagerly() or not pending:
        return t
    with tf.control_dependencies(list(pending)):
        return tf.identity(t)


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with graph-mode checks attached to its result and no ``OpError`` let out."""
    checked = _convert.python_errors(fn)

    @functools.wraps(fn)
    @tf.autograph.experimental.do_not_convert  # plain TF ops: nothing for AutoGraph to rewrite
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _PENDING.set([])
        try:
            result = checked(*args, **kwargs)
            checks = _PENDING.get()
        finally:
            _PENDING.reset(token)
        return _convert.with_checks(result, checks) if checks else result

    return run


BACKEND = Backend(
    "tf_impl", adapter=_convert, require=require, guard=guard, after_checks=after_checks
)

"""The paths of tf_impl's ragged layouts that depend on the data or the size.

:mod:`tf_impl.ragged` states each kernel as the plain rule; these are the places
where TensorFlow does better with more:

* :func:`compact` (``ragged_from_padded``, ``unpad``): an all-valid mask (no
  padding at all) is a reshape, with no copy; eagerly, a batch of at least
  :data:`COMPILE_FROM` elements runs the plain compaction through a traced
  graph, once per dtype and step rank (a few percent faster: the graph
  runtime's allocations).
* :func:`to_tensor_applies` / :func:`to_tensor` (``padded_from_ragged``):
  where the rule is ``RaggedTensor.to_tensor``'s (post-padding that keeps the
  first steps of every row), TensorFlow's own kernel pads in one pass, where
  the gather needs the values and the fill concatenated. Not under XLA.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import tensorflow as tf

from ._convert import eager, static_shape

__all__ = ["COMPILE_FROM", "compact", "in_xla", "to_tensor", "to_tensor_applies"]

#: Elements of ``x`` from which an eager compaction runs as a traced graph.
COMPILE_FROM = 2**16

Compaction = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]

try:  # TensorFlow's own test for "tracing for XLA" (not public API)
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext as _xla_context
except ImportError:  # pragma: no cover - a TensorFlow that moved it
    _xla_context = None


def in_xla() -> bool:
    """True while tracing for XLA (``tf.function(jit_compile=True)``)."""
    if eager() or _xla_context is None:
        return False
    return bool(_xla_context(tf.compat.v1.get_default_graph()))


def _whole(x: tf.Tensor, m: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The compaction of an all-valid mask: every step, in order (a reshape)."""
    dims = tf.shape(x, out_type=tf.int64)
    flat = tf.reshape(x, tf.concat([[dims[0] * dims[1]], dims[2:]], 0))
    starts = tf.range(dims[0] + 1, dtype=tf.int64) * dims[1]
    return flat, tf.range(dims[0] * dims[1], dtype=tf.int64), starts


def compact(x: tf.Tensor, m: tf.Tensor, plain: Compaction) -> tuple[tf.Tensor, ...]:
    """``plain(x, m)`` (``(values, indices, row_splits)``), or the same by a faster path."""
    if eager() and x.shape.num_elements() >= COMPILE_FROM:
        return _compacting(x.dtype, len(x.shape) - 2, plain)(x, m)
    return _compact(x, m, plain)


def _compact(x: tf.Tensor, m: tf.Tensor, plain: Compaction) -> tuple[tf.Tensor, ...]:
    everything = tf.reduce_all(m)
    if eager():
        return _whole(x, m) if bool(everything) else plain(x, m)
    shape = static_shape(x, "x")
    values, indices, splits = tf.cond(everything, lambda: _whole(x, m), lambda: plain(x, m))
    values.set_shape([None, *shape[2:]])
    indices.set_shape([None])
    splits.set_shape([None if shape[0] is None else shape[0] + 1])
    return values, indices, splits


@functools.cache
def _compacting(dtype: tf.DType, inner_rank: int, plain: Compaction) -> Compaction:
    """:func:`_compact` as a concrete function, traced once per dtype and step rank."""
    spec = [tf.TensorSpec([None] * (2 + inner_rank), dtype), tf.TensorSpec([None, None], tf.bool)]

    @tf.function(input_signature=spec, autograph=False)
    def run(x: tf.Tensor, m: tf.Tensor) -> tuple[tf.Tensor, ...]:
        return _compact(x, m, plain)

    return run.get_concrete_function()


def to_tensor_applies(
    lengths: tf.Tensor, maxlen: int | tf.Tensor | None, padding: str, truncating: str
) -> bool:
    """True when padding keeps the first steps of every row (``RaggedTensor.to_tensor``'s
    rule) and the result comes out of TensorFlow's kernel (not under XLA)."""
    if padding != "post" or in_xla():
        return False
    if maxlen is None or truncating == "post":
        return not isinstance(maxlen, tf.Tensor)
    if eager():  # nothing to truncate: "pre" changes nothing
        return int(tf.reduce_max(tf.concat([lengths, tf.zeros([1], tf.int64)], 0))) <= maxlen
    return False


def to_tensor(
    values: tf.Tensor, row_splits: tf.Tensor, maxlen: int | None, fill: tf.Tensor
) -> tf.Tensor:
    """Post-padding by ``RaggedTensor.to_tensor`` (rows keep their first steps)."""
    rt = tf.RaggedTensor.from_row_splits(values, row_splits, validate=False)
    width = None if maxlen is None else [None, maxlen, *values.shape[1:]]
    return rt.to_tensor(default_value=fill, shape=width)

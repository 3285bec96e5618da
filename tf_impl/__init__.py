"""maskref's TensorFlow backend: the rules of :mod:`reference`, on ``tf.Tensor`` data.

The public functions are the front ends of :mod:`maskref.api` bound to this
package's TensorFlow kernels, so names, signatures, defaults and errors are
those of :mod:`reference`; results are ``tf.Tensor`` (masks ``tf.bool``,
lengths ``tf.int64``). Inputs may be tensors, NumPy arrays or Python lists;
``pad_sequences`` also takes a ``tf.RaggedTensor`` or a list of tensors,
``segment_ids_from_lengths`` a ``tf.RaggedTensor``. String and object dtypes
are reference-only. Data-dependent checks raise in eager mode and become
``tf.debugging.Assert`` ops in a ``tf.function`` (XLA drops those).
"""

from typing import Any

from maskref.api import namespace

from ._backend import BACKEND as _BACKEND

globals().update(namespace(_BACKEND))


def __getattr__(name: str) -> Any:
    """Only reached for a name the export table does not bind (PEP 562); it also tells type
    checkers that the generated names exist."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""maskref's JAX backend: the rules of :mod:`reference`, on ``jax.Array`` data.

The public functions are the front ends of :mod:`maskref.api` bound to this
package's JAX kernels, so names, signatures, defaults and errors are those of
:mod:`reference`. Everything works under ``jax.jit`` (sizes that decide shapes,
``maxlen`` and the like, must be Python ints: static arguments), ``jax.vmap``
and ``jax.grad`` (gradients finite everywhere and exactly 0 under the mask).
Value checks raise outside ``jit`` and are skipped under it. JAX's default
32-bit mode is respected: where the reference returns int64 or float64, the
result is int32 or float32 unless ``jax_enable_x64`` is on (values agree).
"""

from typing import Any

from maskref.api import namespace

from ._backend import BACKEND as _BACKEND

globals().update(namespace(_BACKEND))


def __getattr__(name: str) -> Any:
    """Only reached for a name the export table does not bind (PEP 562); it also tells type
    checkers that the generated names exist."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""maskref's PyTorch backend: the rules of :mod:`reference`, on ``torch.Tensor`` data.

The public functions are the front ends of :mod:`maskref.api` bound to this
package's PyTorch kernels, so names, signatures, defaults and errors are
those of :mod:`reference`; results are tensors on the input's device (masks
``torch.bool``, lengths ``torch.int64``). Inputs may be tensors, NumPy arrays
or Python lists. String and object dtypes are reference-only.
"""

from typing import Any

from maskref.api import namespace

from ._backend import BACKEND as _BACKEND

globals().update(namespace(_BACKEND))


def __getattr__(name: str) -> Any:
    """Only reached for a name the export table does not bind (PEP 562); it also tells type
    checkers that the generated names exist."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

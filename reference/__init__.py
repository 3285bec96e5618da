"""maskref's reference: the padding and masking rules, defined in NumPy alone.

Importing this package imports NumPy and nothing else (no TensorFlow, no
torch). Every public function is a front end of :mod:`maskref.api` (where its
signature, rule and checks are stated once) bound to this package's NumPy
kernels; the names come from :mod:`maskref.api.exports`.
"""

from typing import Any

from maskref.api import namespace

from ._backend import BACKEND as _BACKEND

globals().update(namespace(_BACKEND))


def __getattr__(name: str) -> Any:
    """Only reached for a name the export table does not bind (PEP 562); it also tells type
    checkers that the generated names exist."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

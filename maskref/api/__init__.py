"""maskref's API layer: each public function stated once, bound to every backend.

* :mod:`maskref.api.exports`: the table of public names and their modules.
* :mod:`maskref.api.core`: :class:`~maskref.api.core.Backend`, front ends and binding.
* :mod:`maskref.api.checks`: static argument checks (types, dtypes by name, shapes,
  choices, axes, flags, sizes); every error message of the API is built here or
  in a front end.
* :mod:`maskref.api.dtypes`: the lossless-cast rule and dtype names.
* ``maskref.api.<module>`` (``padding``, ``masks``, ``reductions``, ...): the front
  ends, whose docstrings state the rules.

Importing this package imports NumPy alone; each backend package builds its
namespace with :func:`namespace`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .core import FRONTENDS, Backend, bind, frontend
from .exports import EXTRAS, SHARED, public_names

__all__ = ["Backend", "bind", "frontend", "namespace", "public_names"]


def _load_frontends(module: str) -> None:
    try:
        importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{module}":
            raise


def namespace(backend: Backend) -> dict[str, Any]:
    """The public names of ``backend``: front ends bound to its kernels, its own classes
    and extras, ``BACKEND`` and ``__all__`` (from the export table)."""
    names: dict[str, Any] = {}
    for module, public in SHARED.items():
        _load_frontends(module)
        kernels = backend.module(module)
        for name in public:
            kernel = getattr(kernels, name, None)
            if name in FRONTENDS:
                names[name] = bind(FRONTENDS[name], backend, kernel)
            elif kernel is None:
                raise ImportError(f"{backend.package}.{module} supplies no {name}")
            else:
                names[name] = kernel
    for module, extra in EXTRAS[backend.package].items():
        kernels = backend.module(module)
        for name in extra:
            names[name] = getattr(kernels, name)
    names["BACKEND"] = backend.package
    names["__all__"] = public_names(backend.package)
    return names

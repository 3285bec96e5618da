"""PyTorch as a backend of :mod:`maskref.api`: value checks raise at once (eager)."""

from __future__ import annotations

from maskref.api import Backend

from . import _convert

BACKEND = Backend("torch_impl", adapter=_convert, aliases={"dim": "axis", "keepdim": "keepdims"})

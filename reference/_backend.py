"""The NumPy reference as a backend of :mod:`maskref.api`: eager, every check raises at once."""

from __future__ import annotations

from maskref.api import Backend

from . import _convert

BACKEND = Backend("reference", adapter=_convert)

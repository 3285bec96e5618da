"""maskref.testing: prove that a model ignores its padding.

:func:`check_padding_invariance` runs six checks on a model and a padded batch
(``one_by_one``, ``extra_padding``, ``pad_side``, ``pad_contents``,
``neighbours``, ``mask_used``) and returns a :class:`CheckReport` (text and
JSON); :func:`padding_invariance_test` draws batches with hypothesis and fails
with the smallest failing batch. ``maskref check file.py:make_model`` is the
command-line front end.
"""

from __future__ import annotations

from .checks import check_padding_invariance
from .property import batches_like, padding_invariance_test
from .results import (
    CHECKS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    TOLERANCES,
    CheckReport,
    CheckResult,
    Detail,
    Shrunk,
    Tolerance,
)

__all__ = [
    "CHECKS",
    "FAILED",
    "NOT_APPLICABLE",
    "PASSED",
    "TOLERANCES",
    "CheckReport",
    "CheckResult",
    "Detail",
    "Shrunk",
    "Tolerance",
    "batches_like",
    "check_padding_invariance",
    "padding_invariance_test",
]

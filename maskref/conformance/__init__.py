"""The registry of conformance cases shared by the tests and ``maskref report``.

To add a case, append it to the list returned by one of the modules below
(or add a module and list it in :func:`all_cases`): the test suite and the
report pick it up from here.
"""

from __future__ import annotations

from . import (
    invariants,
    invariants_attention,
    invariants_ragged,
    native_attention_keras,
    native_attention_torch,
    native_flow_keras,
    native_masks,
    native_padding,
    native_ragged,
    native_reductions,
    operations,
)
from .core import Case, Finding, Raised, check_inputs, describe, differences, outcome, probe

__all__ = [
    "Case",
    "Finding",
    "Raised",
    "all_cases",
    "check_inputs",
    "describe",
    "differences",
    "outcome",
    "probe",
]


def all_cases() -> list[Case]:
    """Every registered case: the reference's laws, maskref's backends, the frameworks' APIs."""
    cases = (
        invariants.cases()
        + invariants_attention.cases()
        + invariants_ragged.cases()
        + operations.backend_cases()
        + native_padding.cases()
        + native_masks.cases()
        + native_reductions.cases()
        + native_attention_torch.cases()
        + native_attention_keras.cases()
        + native_ragged.cases()
        + native_flow_keras.cases()
    )
    ids = [c.case_id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RuntimeError(f"duplicate case ids: {sorted(duplicates)}")
    return cases

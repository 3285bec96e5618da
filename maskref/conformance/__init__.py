"""The registry of conformance cases shared by the tests and ``maskref report``.

To add a case, append it to the list returned by one of the modules below
(or add a module and list it in :func:`all_cases`): the test suite and the
report pick it up from here.
"""

from __future__ import annotations

import importlib
import pkgutil

from .core import (
    Case,
    Finding,
    OnBackend,
    Raised,
    case_family,
    check_inputs,
    describe,
    differences,
    outcome,
    probe,
)

__all__ = [
    "Case",
    "Finding",
    "OnBackend",
    "Raised",
    "all_cases",
    "case_family",
    "check_inputs",
    "describe",
    "differences",
    "outcome",
    "probe",
]


#: The registry's modules in report order; any other module of this package that defines
#: ``cases()`` (a new capability's cases) is picked up after them, in name order.
ORDER = (
    "invariants",
    "invariants_attention",
    "invariants_ragged",
    "operations",
    "native_padding",
    "native_masks",
    "native_reductions",
    "native_attention_torch",
    "native_attention_keras",
    "native_ragged",
    "native_flow_keras",
)


def _modules() -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [*ORDER, *(m for m in found if m not in ORDER)]


def all_cases() -> list[Case]:
    """Every registered case: the reference's laws, maskref's backends, the frameworks' APIs."""
    cases: list[Case] = []
    for name in _modules():
        module = importlib.import_module(f"{__name__}.{name}")
        make = getattr(module, "cases", None) or getattr(module, "backend_cases", None)
        if make is not None:
            cases += make()
    ids = [c.case_id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RuntimeError(f"duplicate case ids: {sorted(duplicates)}")
    return cases

"""Every registered conformance case: agreements hold, recorded divergences still show.

The registry (``maskref.conformance``) is the one ``maskref report`` runs, so
these tests and the report can never disagree about what is checked.
"""

from __future__ import annotations

import pytest
from conftest import require
from hypothesis import settings

from maskref.conformance import all_cases, describe, probe

CASES = all_cases()


def _explain(finding) -> str:
    return (
        f"{finding.case.case_id}: {finding.why}\n  input: {describe(finding.inputs)}\n"
        f"  reference: {describe(finding.expected)}\n  got: {describe(finding.got)}"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_case(case):
    for module in case.requires:
        require(module)
    current = settings()
    finding = probe(case, current.max_examples, derandomize=current.derandomize)
    if case.expect is None:
        assert finding.status == "agrees", _explain(finding)
    else:
        assert finding.status == "diverges", (
            f"recorded divergence {case.expect!r} of {case.api} no longer shows"
        )
        assert finding.inputs is not None


def test_every_divergence_has_an_explanation_and_a_pinned_example():
    for case in CASES:
        if case.expect:
            assert case.explanation, case.case_id
            assert case.example is not None, case.case_id


def test_every_reference_operation_has_a_case_per_backend():
    import reference

    backend_ops = {c.operation for c in CASES if c.kind == "backend"}
    public = {
        n
        for n in reference.__all__
        if callable(getattr(reference, n)) and not isinstance(getattr(reference, n), type)
    }
    assert public <= backend_ops

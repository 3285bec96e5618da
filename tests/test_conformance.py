"""Every registered conformance case: agreements hold, recorded divergences still show.

The registry (``maskref.conformance``) is the one ``maskref report`` runs, so
these tests and the report can never disagree about what is checked.
"""

from __future__ import annotations

import pytest
from conftest import require
from hypothesis import settings

from maskref import runner
from maskref.conformance import all_cases, describe, probe
from maskref.keras_backends import KERAS_BACKENDS

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
        for backend, there in (case.keras_elsewhere or {}).items():
            assert backend in KERAS_BACKENDS and backend != "tensorflow", case.case_id
            assert there.explanation, (case.case_id, backend)
            assert (there.example is not None) == (there.expect is not None), case.case_id


def test_recorded_differences_between_keras_backends_still_show():
    """What a case records on Keras's torch or JAX backend (``Case.keras_elsewhere``) is what
    Keras does there: each such case runs on that backend, in worker processes."""
    for module in ("keras", "tensorflow", "torch", "jax"):
        require(module)
    recorded = [c for c in CASES if c.keras_elsewhere is not None]
    elsewhere = {b: [c for c in recorded if b in c.keras_elsewhere] for b in ("torch", "jax")}
    assert all(elsewhere.values()), "no case records a difference of that backend"
    _, theirs = runner.run_all([], elsewhere, settings().max_examples, jobs=runner.default_jobs())
    wrong = [f for found in theirs.values() for f in found if not f.as_expected]
    assert not wrong, "\n".join(_explain(f) for f in wrong)


def test_every_reference_operation_has_a_case_per_backend():
    import reference

    backend_ops = {c.operation for c in CASES if c.kind == "backend"}
    public = {
        n
        for n in reference.__all__
        if callable(getattr(reference, n)) and not isinstance(getattr(reference, n), type)
    }
    assert public <= backend_ops

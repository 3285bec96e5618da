"""The behaviour report: every conformance case run, and what was found, as a table.

For each case it says whether the API agrees with the reference on the
inputs drawn, or diverges, and then shows the smallest input found with both
outcomes. Recorded divergences are expected findings; an unexpected one
(a maskref backend that disagrees, or a framework whose behaviour changed)
is flagged.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from . import runner
from .conformance import Case, Finding, all_cases, describe
from .conformance.operations import OPERATIONS, ragged_operations
from .keras_backends import (
    cases_for,
    current_backend,
    installed_backends,
    is_keras_case,
    on_backend,
)
from .progress import ProgressBar
from .report_html import format_html

EXTRAS = {"tensorflow": "tf", "keras": "tf", "torch": "torch", "jax": "jax", "flax": "jax"}
DISTRIBUTIONS = (
    "numpy",
    "hypothesis",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "torch",
    "jax",
    "flax",
)


KIND_ORDER = {"invariant": 0, "backend": 1, "native": 2}


def select(cases: Iterable[Case], only: str | None) -> list[Case]:
    """The cases ``only`` names, grouped by operation (in the reference's order), then
    laws, backends, frameworks' APIs.

    ``only`` is an operation's name (exactly that operation's cases), or else a
    substring of the case id (``operation:api[detail]``, any case) or a glob.
    """
    cases = list(cases)
    if only and only in {c.operation for c in cases}:
        cases = [c for c in cases if c.operation == only]
    elif only:
        pattern = only if any(ch in only for ch in "*?[") else f"*{only}*"
        cases = [c for c in cases if fnmatch.fnmatch(c.case_id.lower(), pattern.lower())]
    order = {op.name: i for i, op in enumerate(OPERATIONS + ragged_operations())}
    return sorted(
        cases,
        key=lambda c: (order.get(c.operation, len(order)), c.operation, KIND_ORDER.get(c.kind, 3)),
    )


def run(
    cases: list[Case],
    examples: int,
    progress: Callable[[int, int, Case, float], None] | None = None,
    jobs: int = 1,
    keras_backends: list[str] | None = None,
) -> list[Finding]:
    """Probe every case, and Keras's cases again on ``keras_backends`` (None: every installed
    one); ``jobs`` > 1 runs them in worker processes, with the same findings;
    ``progress(i, n, case, seconds)`` is called as each finishes."""
    here = current_backend()
    base = cases
    if here is not None and here != "tensorflow":  # what Keras records on this backend
        cases = [on_backend(c, here, label=False) if is_keras_case(c) else c for c in base]
    elsewhere = keras_elsewhere(base, keras_backends)
    mine, theirs = runner.run_all(cases, elsewhere, examples, progress, jobs)
    return with_keras_backends(mine, base, elsewhere, theirs)


def versions() -> dict[str, str]:
    found = {}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


#: For a finding of another Keras backend: the status on the report's own backend.
_BASELINE: dict[str, tuple[str, str]] = {}


def status_word(f: Finding) -> str:
    if f.status == "unavailable":
        return "not installed"
    baseline = _BASELINE.get(f.case.case_id)
    if baseline is not None and baseline[0] != f.status:
        if f.as_expected:
            return f"{f.status} here, {baseline[0]} on keras/{baseline[1]} (recorded)"
        return f"{f.status} here, {baseline[0]} on keras/{baseline[1]}: BACKENDS DIFFER"
    if f.status == "agrees":
        return "agrees" if f.as_expected else "AGREES (recorded divergence gone)"
    if f.case.expect:
        return f"diverges: {f.case.expect}"
    return "DIVERGES (unexpected)"


def failed(findings: list[Finding]) -> list[Finding]:
    """The findings that make the report fail: a maskref backend or law that diverges."""
    return [f for f in findings if f.case.kind != "native" and f.status == "diverges"]


def missing_extras(findings: list[Finding]) -> list[str]:
    extras = set()
    for f in findings:
        for module in f.case.missing():
            extras.add(EXTRAS.get(module, module))
    return sorted(extras)


def summary_counts(findings: list[Finding]) -> dict[str, int]:
    """How many cases agree, diverge (recorded or not) and could not run.

    ``unexpected`` counts the findings that differ from the registry: an
    unrecorded divergence, or a recorded one that is gone.
    """
    diverging = [f for f in findings if f.status == "diverges"]
    return {
        "cases": len(findings),
        "agrees": sum(f.status == "agrees" for f in findings),
        "diverges": len(diverging),
        "unexpected": sum(not f.as_expected for f in findings),
        "unavailable": sum(f.status == "unavailable" for f in findings),
        "recorded_divergences": sum(f.as_expected for f in diverging),
    }


def summary_line(findings: list[Finding]) -> str:
    """One line, e.g. ``20 agree, 98 diverge (all recorded), 2 not installed``."""
    counts = summary_counts(findings)
    gone = sum(f.status == "agrees" and not f.as_expected for f in findings)
    parts = []
    if counts["agrees"]:
        parts.append(
            f"{counts['agrees']} agree{'s' if counts['agrees'] == 1 else ''}"
            + (f" ({gone} where a recorded divergence is gone)" if gone else "")
        )
    if counts["diverges"]:
        recorded, n = counts["recorded_divergences"], counts["diverges"]
        known = (
            "all recorded"
            if recorded == n
            else "none recorded"
            if not recorded
            else f"{recorded} recorded, {n - recorded} not recorded"
        )
        parts.append(f"{n} diverge{'s' if n == 1 else ''} ({known})")
    if counts["unavailable"]:
        parts.append(f"{counts['unavailable']} not installed")
    return ", ".join(parts) or "no case"


def _finding_lines(f: Finding, indent: str) -> list[str]:
    lines = []
    if f.case.explanation:
        lines.append(f"{indent}why:       {f.case.explanation}")
    if f.status == "diverges" and f.inputs is not None:
        lines.append(f"{indent}input:     {describe(f.inputs)}")
        lines.append(f"{indent}reference: {describe(f.expected)}")
        lines.append(f"{indent}{f.case.api}: {describe(f.got)}")
        lines.append(f"{indent}(differs: {f.why})")
    elif f.status == "unavailable":
        lines.append(f"{indent}{f.why}")
    return lines


def format_text(findings: list[Finding], examples: int) -> str:
    out = [
        f"maskref behaviour report: {len(findings)} cases, up to {examples} examples each",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
    ]
    operation = None
    for f in findings:
        if f.case.operation != operation:
            operation = f.case.operation
            out.append(operation)
        label = f.case.api + (f" [{f.case.domain}]" if f.case.domain else "")
        out.append(f"  {status_word(f):<44} {label}")
        if f.status != "agrees" or not f.as_expected:
            out.extend(_finding_lines(f, "      "))
    out.append("")
    out.append("summary: " + summary_line(findings))
    extras = missing_extras(findings)
    if extras:
        out.append(
            "more cases with: pip install -c constraints.txt 'maskref[" + ",".join(extras) + "]'"
        )
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(findings: list[Finding], examples: int) -> str:
    out = [
        "# maskref behaviour report",
        "",
        f"{len(findings)} cases, up to {examples} examples each. Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions().items())
        + ".",
        "",
        "| operation | API | result | why | smallest input | reference gives | API gives |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in findings:
        label = f.case.api + (f" [{f.case.domain}]" if f.case.domain else "")
        # An agreement needs no "why"; anything else explains itself (or says what is missing).
        why = f.case.explanation if f.status != "agrees" or not f.as_expected else ""
        if f.status == "unavailable":
            why = f.why
        row = [f.case.operation, label, status_word(f), why]
        if f.status == "diverges" and f.inputs is not None:
            row += [describe(f.inputs, 120), describe(f.expected, 120), describe(f.got, 120)]
        else:
            row += ["", "", ""]
        out.append(
            "| "
            + " | ".join(f"`{_md(c)}`" if i > 3 and c else _md(c) for i, c in enumerate(row))
            + " |"
        )
    out += ["", "Summary: " + summary_line(findings) + "."]
    return "\n".join(out) + "\n"


def as_json(findings: list[Finding], examples: int) -> str:
    records = []
    for f in findings:
        records.append(
            {
                "id": f.case.case_id,
                "operation": f.case.operation,
                "api": f.case.api,
                "kind": f.case.kind,
                "domain": f.case.domain,
                "expected_divergence": f.case.expect,
                "status": f.status,
                "as_expected": f.as_expected,
                "explanation": f.case.explanation,
                "why": f.why,
                "input": describe(f.inputs, 2000) if f.inputs is not None else None,
                "reference": describe(f.expected, 2000) if f.status == "diverges" else None,
                "api_result": describe(f.got, 2000) if f.status == "diverges" else None,
            }
        )
    return (
        json.dumps(
            {
                "examples": examples,
                "versions": versions(),
                "summary": summary_counts(findings),
                "summary_line": summary_line(findings),
                "cases": records,
            },
            indent=2,
        )
        + "\n"
    )


def keras_elsewhere(cases: list[Case], backends: list[str] | None) -> dict[str, list[Case]]:
    """Keras's cases among ``cases`` to run again on each of ``backends`` (default: every
    installed one) other than this process's."""
    here = current_backend()
    if here is None:
        return {}
    others = [b for b in (installed_backends() if backends is None else backends) if b != here]
    mine = [c for c in cases if not c.missing()]
    return {b: found for b in others if (found := cases_for(b, mine))}


def with_keras_backends(
    findings: list[Finding],
    cases: list[Case],
    elsewhere: dict[str, list[Case]],
    theirs: dict[str, list[Finding]],
) -> list[Finding]:
    """``findings`` (of ``cases``, in order) with, after each Keras case, its findings on
    the other backends (``theirs[b][i]`` is case ``elsewhere[b][i]`` on backend ``b``);
    none for a case unavailable here."""
    here = current_backend()
    extra: dict[int, list[Finding]] = {}
    for backend, found in theirs.items():
        for case, g in zip(elsewhere[backend], found):
            extra.setdefault(id(case), []).append(g)
    merged = []
    for f, case in zip(findings, cases):
        merged.append(f)
        if f.status == "unavailable":
            continue
        for g in extra.get(id(case), []):
            _BASELINE[g.case.case_id] = (f.status, str(here))
            merged.append(g)
    return merged


FORMATS = {"text": format_text, "markdown": format_markdown, "json": as_json, "html": format_html}


def report(
    examples: int = 100,
    fmt: str = "text",
    only: str | None = None,
    stream: TextIO = sys.stdout,
    progress: bool | None = None,
    keras_backends: list[str] | None = None,
    jobs: int = 1,
) -> int:
    """Run the report and write it to ``stream``; return the exit status.

    ``keras_backends``: the Keras backends to run Keras's cases on (default: every
    installed one); each other than this process's runs in worker processes of its own.
    ``jobs``: processes that run cases at once (the findings do not depend on it).

    The status is 1 when a maskref backend (or a law of the reference)
    disagrees with the reference, else 0: a framework's divergence is a
    finding, not a failure.
    """
    cases = select(all_cases(), only)
    if not cases:
        print(f"no case matches {only!r} (see `maskref cases`)", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() if progress is None else progress
    with runner.quiet_output() as err:
        bar = ProgressBar(err)

        def tick(i: int, n: int, case: Case, seconds: float) -> None:
            bar.update(i, n, case.case_id)

        findings = run(cases, examples, tick if show else None, jobs, keras_backends)
    stream.write(FORMATS[fmt](findings, examples))
    return 1 if failed(findings) else 0

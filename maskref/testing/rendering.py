"""A :class:`~maskref.testing.results.CheckReport` as text (for a person) and as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .results import FAILED, NOT_APPLICABLE, PASSED

if TYPE_CHECKING:
    from .results import CheckReport

_MARK = {PASSED: "passed", FAILED: "FAILED", NOT_APPLICABLE: "n/a"}


def to_dict(report: CheckReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "framework": report.framework,
        "adapter": report.adapter,
        "passed": report.passed,
        "failures": report.failures,
        "output_kind": report.output_kind,
        "valid_positions": report.valid_positions,
        "batch_shape": list(report.batch_shape),
        "lengths": report.lengths,
        "padding_sides": list(report.sides),
        "training": report.training,
        "tolerance": report.tolerance.to_dict(),
        "padded_outputs": report.padded_outputs,
        "notes": report.notes,
        "seconds": round(report.seconds, 3),
        "runs": report.runs,
        "checks": [c.to_dict() for c in report.checks],
    }


def to_json(report: CheckReport, indent: int | None = 2) -> str:
    return json.dumps(to_dict(report), indent=indent, allow_nan=False)


def to_text(report: CheckReport) -> str:
    mode = "training" if report.training else "eval"
    lengths = report.lengths if len(report.lengths) <= 16 else [*report.lengths[:16], "..."]
    lines = [
        f"maskref check: {report.model} ({report.adapter})",
        f"batch: {tuple(report.batch_shape)}, lengths {lengths}; "
        f"padding sides: {', '.join(report.sides)}; {mode} mode",
        f"compared: {report.valid_positions}",
        f"tolerance: {report.tolerance.describe()}",
    ]
    if report.padded_outputs:
        shown = "; ".join(f"{side}: {text}" for side, text in report.padded_outputs.items())
        lines.append(f"outputs at padding (not compared): {shown}")
    lines += [f"note: {n}" for n in report.notes]
    lines.append("")
    width = max(len(c.name) for c in report.checks) if report.checks else 0
    pad = " " * (width + 12)
    for c in report.checks:
        failed = [d for d in c.details if d.status == FAILED]
        if len(failed) > 1:
            lines.append(f"  {_MARK[c.status]:<7} {c.name:<{width}}  {len(failed)} failures:")
            for d in failed:
                lines.append(f"{pad}- [{d.label()}] {d.why}")
                if d.smallest is not None:
                    lines.append(f"{pad}  smallest failing: {d.smallest.describe()}")
            continue
        lines.append(f"  {_MARK[c.status]:<7} {c.name:<{width}}  {c.why}")
        if failed and failed[0].smallest is not None:
            lines.append(f"{pad}smallest failing: {failed[0].smallest.describe()}")
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in _MARK}
    lines += [
        "",
        f"summary: {counts[PASSED]} passed, {counts[FAILED]} failed, "
        f"{counts[NOT_APPLICABLE]} not applicable "
        f"({report.seconds:.1f} s, {report.runs} model runs)",
    ]
    if report.failures:
        lines.append(f"failed: {', '.join(report.failures)}")
    return "\n".join(lines)

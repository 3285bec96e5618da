"""What a padding-invariance check found: the structured result and its tolerances.

A :class:`CheckReport` holds one :class:`CheckResult` per check (``one_by_one``,
``extra_padding``, ``pad_side``, ``pad_contents``, ``neighbours``, ``mask_used``);
each result aggregates its :class:`Detail` rows (one per padding side and
variant) and carries the smallest failing input found by shrinking
(:class:`Shrunk`). Rendering (text, JSON) is in :mod:`maskref.testing.rendering`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not applicable"

#: The six checks, in the order they run and are reported.
CHECKS = ("one_by_one", "extra_padding", "pad_side", "pad_contents", "neighbours", "mask_used")

#: Default tolerance per floating dtype: ``|diff| <= atol + rtol * scale``, where the scale is
#: the largest finite ``|value|`` among the valid outputs of the batch (or, for a gradient,
#: of that parameter's gradient). Integer and bool outputs must agree exactly.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-2),
    "bfloat16": (3e-2, 3e-2),
    "float32": (1e-4, 1e-5),
    "float64": (1e-9, 1e-12),
}


@dataclass(frozen=True)
class Tolerance:
    """``|diff| <= atol + rtol * scale`` for outputs of ``dtype``."""

    dtype: str
    rtol: float
    atol: float
    scale: float = 1.0

    @classmethod
    def for_dtype(
        cls, dtype: str, rtol: float | None = None, atol: float | None = None
    ) -> Tolerance:
        default = TOLERANCES.get(dtype, (0.0, 0.0))
        return cls(
            dtype,
            default[0] if rtol is None else float(rtol),
            default[1] if atol is None else float(atol),
        )

    def scaled(self, scale: float) -> Tolerance:
        return Tolerance(self.dtype, self.rtol, self.atol, float(scale))

    @property
    def bound(self) -> float:
        return self.atol + self.rtol * self.scale

    def describe(self) -> str:
        if self.rtol == 0 and self.atol == 0:
            return f"{self.dtype}: exact"
        return (
            f"{self.dtype}: |diff| <= {self.atol:g} + {self.rtol:g} * {self.scale:.3g} "
            f"(largest |valid output|) = {self.bound:.3g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "rtol": self.rtol,
            "atol": self.atol,
            "scale": _number(self.scale),
            "bound": _number(self.bound),
        }


@dataclass
class Shrunk:
    """The smallest failing input found by shrinking (rows, lengths and padded length)."""

    side: str | None
    variant: str | None
    lengths: list[int]
    maxlen: int
    rows: list[Any] | None  # the valid steps of each row (None when too large to show)
    feature_shape: tuple[int, ...]
    max_abs_diff: float
    runs: int  # model runs spent shrinking

    def describe(self) -> str:
        where = ", ".join(p for p in (self.side, self.variant) if p)
        where = f" ({where})" if where else ""
        rows = f", rows {_short(_rounded(self.rows))}" if self.rows is not None else ""
        feat = f", features {self.feature_shape}" if self.feature_shape else ""
        return (
            f"{len(self.lengths)} row(s) of lengths {self.lengths} padded to {self.maxlen}"
            f"{where}{feat}{rows}: max abs diff {_fmt(self.max_abs_diff)}"
            f" (found in {self.runs} runs)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "variant": self.variant,
            "lengths": self.lengths,
            "maxlen": self.maxlen,
            "rows": _json_safe(self.rows),
            "feature_shape": list(self.feature_shape),
            "max_abs_diff": _number(self.max_abs_diff),
            "runs": self.runs,
        }


@dataclass
class Detail:
    """One comparison of a check: one padding side, one variant."""

    side: str | None
    variant: str | None
    status: str
    why: str
    max_abs_diff: float | None = None
    row: int | None = None  # the row with the largest difference
    parameter: str | None = None  # for a gradient: the parameter with the largest difference
    smallest: Shrunk | None = None

    def label(self) -> str:
        parts = [p for p in (self.side, self.variant) if p]
        return ", ".join(parts) if parts else "-"

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "variant": self.variant,
            "status": self.status,
            "why": self.why,
            "max_abs_diff": _number(self.max_abs_diff),
            "row": self.row,
            "parameter": self.parameter,
            "smallest": self.smallest.to_dict() if self.smallest else None,
        }


@dataclass
class CheckResult:
    """One of the six checks: its status, the largest difference seen, and why."""

    name: str
    status: str
    why: str
    tolerance: Tolerance | None
    details: list[Detail] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float | None:
        diffs = [d.max_abs_diff for d in self.details if d.max_abs_diff is not None]
        if not diffs:
            return None
        return max(diffs, key=lambda v: math.inf if math.isnan(v) else v)

    @property
    def smallest(self) -> Shrunk | None:
        """The smallest failing input found by shrinking (of the first failing detail)."""
        return next((d.smallest for d in self.details if d.smallest is not None), None)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def detail(self, side: str | None = None, variant: str | None = None) -> Detail:
        """The detail of ``side`` and ``variant`` (``KeyError`` when absent)."""
        for d in self.details:
            if (side is None or d.side == side) and (variant is None or d.variant == variant):
                return d
        raise KeyError((self.name, side, variant))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "why": self.why,
            "max_abs_diff": _number(self.max_abs_diff),
            "tolerance": self.tolerance.to_dict() if self.tolerance else None,
            "smallest": self.smallest.to_dict() if self.smallest else None,
            "details": [d.to_dict() for d in self.details],
        }


@dataclass
class CheckReport:
    """The result of :func:`maskref.testing.check_padding_invariance`."""

    model: str
    framework: str
    adapter: str
    output_kind: str
    valid_positions: str
    batch_shape: tuple[int, ...]
    lengths: list[int]
    sides: tuple[str, ...]
    training: bool
    tolerance: Tolerance
    checks: list[CheckResult]
    notes: list[str] = field(default_factory=list)
    padded_outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    runs: int = 0

    @property
    def passed(self) -> bool:
        """True when no check failed (not applicable counts as not failed)."""
        return not any(c.failed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [c.name for c in self.checks if c.failed]

    @property
    def statuses(self) -> dict[str, str]:
        """``{check name: status}``."""
        return {c.name: c.status for c in self.checks}

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        from .rendering import to_dict

        return to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        from .rendering import to_json

        return to_json(self, indent=indent)

    def to_text(self) -> str:
        from .rendering import to_text

        return to_text(self)

    def __str__(self) -> str:
        return self.to_text()

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the text report when a check failed."""
        if not self.passed:
            raise AssertionError("padding leaks into the outputs\n" + self.to_text())


def _number(value: float | None) -> float | str | None:
    """JSON-safe: NaN and infinities as strings."""
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _short(rows: list[Any] | None, limit: int = 160) -> str:
    text = repr(rows)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rounded(value: Any) -> Any:
    """Floats to 4 significant digits, for showing (JSON keeps them whole)."""
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _json_safe(value: Any) -> Any:
    """Nested lists with NaN and infinities as strings (JSON has neither)."""
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return _number(value)
    return value

"""The six padding-invariance checks and :func:`check_padding_invariance`.

Each check runs the model on inputs derived from the user's batch and compares
the valid outputs (see :mod:`maskref.testing.batches` for which positions
count) with those of the batch itself, per padding side:

``one_by_one``     each row run alone, unpadded, against the same row in the batch;
``extra_padding``  the batch padded to a longer length;
``pad_side``       pre- against post-padding (only when both sides are checked);
``pad_contents``   other values written into the padded positions (other ids, the
                   largest id, out-of-range ids; zeros, random, large values, NaN,
                   inf), outputs and the gradient of a masked loss w.r.t. every
                   parameter;
``neighbours``     the other rows replaced (other contents and lengths), and a fully
                   padded row added (outputs and gradients: no NaN may spread);
``mask_used``      the mask flipped and dropped: fails when neither changes any valid
                   output (the model never reads its mask).
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

import reference

from . import batches as bt
from .adapters import ADAPTERS, Adapter, OutputSelector, implicit_mask_source, infer_framework
from .adapters import vocabulary_size as _vocabulary_size
from .results import (
    CHECKS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    CheckReport,
    CheckResult,
    Detail,
    Shrunk,
    Tolerance,
)
from .shrinking import Outcome, shrink

SIDES = ("post", "pre")
ID_VARIANTS = ("other_ids", "largest_id", "out_of_range")
FLOAT_VARIANTS = ("zeros", "random", "large", "nan", "inf")


class _Progress:
    """Progress lines on stderr: always (True), never (False), or once a run is slow (None)."""

    def __init__(self, enabled: bool | None, stream: TextIO | None = None, after: float = 2.0):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.after = after

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        if self.enabled or (self.enabled is None and elapsed > self.after):
            print(f"maskref check [{elapsed:5.1f}s] {message}", file=self.stream, flush=True)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class _Runner:
    """Runs the model on layouts of the batch's rows and compares valid outputs."""

    def __init__(
        self,
        adapter: Adapter,
        batch: bt.Batch,
        *,
        kind: str | None,
        tolerance: tuple[float | None, float | None],
        gradients: bool,
        seed: int,
    ) -> None:
        self.adapter = adapter
        self.batch = batch
        self.kind = kind
        self.rtol, self.atol = tolerance
        self.use_gradients = gradients
        self.seed = seed
        self._originals = {id(r) for r in batch.rows}
        self._memo: dict[tuple, Any] = {}
        self.tol: Tolerance | None = None
        self.grad_tol: Tolerance | None = None
        self.output_tail: tuple[int, ...] | None = None
        self._weights: dict[tuple[int, int], np.ndarray] = {}
        self.vocab_size: int | None = None  # ids >= this are out of range (None: unknown)

    # -- running ---------------------------------------------------------------------------
    def _key(self, rows: list[np.ndarray], *rest: object) -> tuple | None:
        if all(id(r) in self._originals for r in rows):
            return (tuple(id(r) for r in rows), *rest)
        return None

    def output(
        self,
        rows: list[np.ndarray],
        maxlen: int,
        side: str,
        *,
        fill: str | None = None,
        mask_mode: str = "given",
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's selected output and the true mask of this layout."""
        key = self._key(rows, maxlen, side, fill, mask_mode)
        if key is not None and key in self._memo:
            return self._memo[key]
        x, mask = bt.layout(rows, maxlen, side, self.batch, self.filler(fill))
        given = {"given": mask, "flipped": ~mask, "dropped": None}[mask_mode]
        y = self.adapter.forward(x, given, mask)
        if key is not None:
            self._memo[key] = (y, mask)
        return y, mask

    def valid(
        self,
        rows: list[np.ndarray],
        maxlen: int,
        side: str,
        *,
        fill: str | None = None,
        mask_mode: str = "given",
    ) -> list[np.ndarray | None]:
        y, _ = self.output(rows, maxlen, side, fill=fill, mask_mode=mask_mode)
        if self.kind is None:
            self.kind = bt.output_kind(y, len(rows), maxlen)
        return bt.valid_outputs(y, [len(r) for r in rows], maxlen, side, self.kind)

    def alone(self, row: np.ndarray) -> np.ndarray | None:
        """The valid outputs of one row run alone, unpadded."""
        if len(row) == 0:
            return None
        return self.valid([row], len(row), "post")[0]

    # -- comparing -------------------------------------------------------------------------
    def compare(
        self,
        base: list[np.ndarray | None],
        other: list[np.ndarray | None],
        rows: Sequence[int] | None = None,
    ) -> Outcome:
        assert self.tol is not None
        out = Outcome()
        for i in range(len(base)) if rows is None else rows:
            a, b = base[i], other[i]
            if a is None or b is None:
                continue
            out.compared += 1
            d = bt.abs_diff(a, b)
            worst = float(d.max()) if d.size else 0.0
            if worst > out.max_diff or out.row is None:
                out.max_diff, out.row = worst, i
            if worst > self.tol.bound:
                out.failing.append(i)
        return out

    def compare_gradients(
        self, base: dict[str, np.ndarray], other: dict[str, np.ndarray]
    ) -> Outcome:
        out = Outcome()
        worst_ratio = -1.0
        for name, g0 in base.items():
            g1 = other[name]
            d = bt.abs_diff(g0, g1)
            diff = float(d.max()) if d.size else 0.0
            f = np.abs(g0[np.isfinite(g0)])
            scale = float(f.max()) if f.size else 0.0
            tol = Tolerance.for_dtype("float32", self.rtol, self.atol).scaled(max(scale, 1.0))
            ratio = diff / tol.bound if tol.bound > 0 else (math.inf if diff > 0 else 0.0)
            if ratio > worst_ratio:
                worst_ratio, out.max_diff, out.parameter = ratio, diff, name
            if diff > tol.bound:
                out.failing.append(0)
        out.compared = len(base)
        return out

    # -- gradients -------------------------------------------------------------------------
    #: Gradients are taken over at most this many rows (the most padded ones): a backward
    #: pass costs several forward passes, and a leak shows on any padded row.
    gradient_row_count = 4

    def gradient_rows(self, rows: list[np.ndarray], maxlen: int) -> list[np.ndarray]:
        if len(rows) <= self.gradient_row_count:
            return rows
        order = sorted(
            range(len(rows)),
            key=lambda i: (-(maxlen - len(rows[i])) if len(rows[i]) else maxlen + 1, i),
        )
        keep = sorted(order[: self.gradient_row_count])
        return [rows[i] for i in keep]

    def row_weights(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        key = (index, shape[0] if shape else -1)
        if key not in self._weights:
            rng = np.random.default_rng([self.seed, index, 31])
            self._weights[key] = rng.standard_normal(shape)
        return self._weights[key]

    def gradients(
        self,
        rows: list[np.ndarray],
        maxlen: int,
        side: str,
        *,
        fill: str | None = None,
        count: int | None = None,
    ) -> dict[str, np.ndarray] | None:
        """Gradients of a fixed random masked loss over the valid outputs of the first
        ``count`` rows (all by default)."""
        if not self.use_gradients:
            return None
        key = self._key(rows, maxlen, side, fill, count, "grad")
        if key is not None and key in self._memo:
            return self._memo[key]
        count = len(rows) if count is None else count
        kind = self.kind or bt.POOLED

        def loss_weights(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
            tail = shape[2:] if kind == bt.SEQUENCE else shape[1:]
            weights: list[np.ndarray | None] = []
            for i, r in enumerate(rows):
                if i >= count or len(r) == 0:
                    weights.append(None)
                elif kind == bt.SEQUENCE:
                    weights.append(self.row_weights(i, (len(r), *tail)))
                else:
                    weights.append(self.row_weights(i, tuple(tail)))
            return bt.valid_and_weights(shape, weights, maxlen, side, kind)

        x, m = bt.layout(rows, maxlen, side, self.batch, self.filler(fill))
        grads = self.adapter.gradients(x, m, loss_weights)
        if key is not None:
            self._memo[key] = grads
        return grads

    # -- padding contents ------------------------------------------------------------------
    def filler(self, fill: str | None) -> Callable[[tuple[int, ...]], np.ndarray] | None:
        if fill is None:
            return None
        rng = np.random.default_rng([self.seed, len(fill), 17])
        b = self.batch
        if fill == "other_ids":
            high = self.vocab_size or max(2, self.max_id + 1)
            return lambda shape: rng.integers(0, high, shape)
        if fill == "largest_id":
            return lambda shape: np.full(shape, (self.vocab_size or self.max_id + 1) - 1)
        if fill == "out_of_range":
            return lambda shape: np.full(shape, self.vocab_size)
        if fill == "zeros":
            return lambda shape: np.zeros(shape)
        if fill == "random":
            return lambda shape: rng.standard_normal(shape) * self.spread
        if fill == "large":
            big = 1e4 if b.dtype.itemsize <= 2 else 1e6
            return lambda shape: np.where(np.arange(math.prod(shape)) % 2, -big, big).reshape(shape)
        if fill == "nan":
            return lambda shape: np.full(shape, np.nan)
        if fill == "inf":
            return lambda shape: np.where(np.arange(math.prod(shape)) % 2, -np.inf, np.inf).reshape(
                shape
            )
        raise ValueError(f"unknown padding contents {fill!r}")

    @property
    def max_id(self) -> int:
        vals = [int(r.max()) for r in self.batch.rows if r.size]
        return max(vals) if vals else 1

    @property
    def spread(self) -> float:
        vals = [np.asarray(r, np.float64) for r in self.batch.rows if r.size]
        if not vals:
            return 1.0
        s = float(np.std(np.concatenate([v.reshape(-1) for v in vals])))
        return s if math.isfinite(s) and s > 0 else 1.0

    def fresh_row(self, index: int, length: int, maxlen: int, avoid: Any = None) -> np.ndarray:
        """A new row of another length (1..maxlen) and other contents, for neighbours."""
        rng = np.random.default_rng([self.seed, index, 53])
        n = maxlen - length if 0 < maxlen - length != length else (length % maxlen) + 1
        n = min(max(n, 1), maxlen)
        b = self.batch
        shape = (n, *b.feature_shape)
        values: np.ndarray
        if b.is_ids:
            high = self.vocab_size or max(2, self.max_id + 1)
            values = rng.integers(0, high, shape)
            if avoid is not None:
                values = np.where(values == avoid, (values + 1) % high, values)
        else:
            values = rng.standard_normal(shape) * self.spread
        return values.astype(b.dtype)


def _status_of(details: list[Detail]) -> str:
    if any(d.status == FAILED for d in details):
        return FAILED
    if any(d.status == PASSED for d in details):
        return PASSED
    return NOT_APPLICABLE


def _summary(name: str, details: list[Detail]) -> str:
    status = _status_of(details)
    picked = [d for d in details if d.status == status]
    if not picked:
        return ""
    first = picked[0]
    label = f"[{first.label()}] " if first.label() != "-" and len(details) > 1 else ""
    more = f" (and {len(picked) - 1} more)" if len(picked) > 1 and status == FAILED else ""
    return f"{label}{first.why}{more}"


class _Checker:
    def __init__(
        self,
        runner: _Runner,
        *,
        sides: tuple[str, ...],
        extra: int,
        variants: tuple[str, ...] | None,
        implicit: tuple[Any, str] | None,
        do_shrink: bool,
        progress: _Progress,
        notes: list[str],
        shrink_seconds: float = 4.0,
    ) -> None:
        self.r = runner
        self.b = runner.batch
        self.sides = sides
        self.extra = extra
        self.variants = variants
        self.implicit = implicit
        self.do_shrink = do_shrink
        self.progress = progress
        self.notes = notes
        self.current = ""  # the check running now
        self.shrunk_in: str | None = None  # the check whose first failure was shrunk last
        self.shrink_left = shrink_seconds  # seconds left for shrinking, all checks together

    # -- helpers -----------------------------------------------------------------------------
    def _detail(
        self,
        side: str | None,
        variant: str | None,
        outcome: Outcome,
        ok: str,
        bad: str,
        probe: Callable[[list[np.ndarray], int], Outcome] | None = None,
        what: str = "valid outputs",
    ) -> Detail:
        tol = self.r.tol
        assert tol is not None
        if outcome.error is None and outcome.compared == 0:
            return Detail(side, variant, NOT_APPLICABLE, "no row has a valid output to compare")
        if outcome.error is not None:
            why = f"{bad}: the model raised {outcome.error}"
            d = Detail(side, variant, FAILED, why, None, None, outcome.parameter)
        elif outcome.failed:
            where = (
                f" in the gradient of {outcome.parameter}"
                if outcome.parameter
                else f" (row {outcome.row})"
            )
            why = f"{bad}: {what} differ by {bt_fmt(outcome.max_diff)}{where}"
            d = Detail(side, variant, FAILED, why, outcome.max_diff, outcome.row, outcome.parameter)
        else:
            why = f"{ok} (max abs diff {bt_fmt(outcome.max_diff)})"
            d = Detail(side, variant, PASSED, why, outcome.max_diff, outcome.row, outcome.parameter)
        if d.status == FAILED and probe is not None and self._may_shrink():
            d.smallest = self._shrink(probe, side, variant, outcome)
        return d

    def _may_shrink(self) -> bool:
        """Shrink the first failure of each check, within the whole check's time budget."""
        if not self.do_shrink or self.shrunk_in == self.current:
            return False
        return self.shrink_left > 0.05

    def _shrink(
        self,
        probe: Callable[[list[np.ndarray], int], Outcome],
        side: str | None,
        variant: str | None,
        outcome: Outcome,
    ) -> Shrunk | None:
        self.shrunk_in = self.current
        started = time.perf_counter()

        def guarded(rows: list[np.ndarray], maxlen: int) -> Outcome:
            return self._guard(lambda: probe(rows, maxlen))

        rows, maxlen, got, used = shrink(
            guarded,
            self.b.rows,
            self.b.maxlen,
            outcome,
            max_probes=30,
            seconds=min(2.0, self.shrink_left),
        )
        self.shrink_left -= time.perf_counter() - started
        count = sum(len(r) for r in rows) * max(1, math.prod(self.b.feature_shape))
        shown = [np.asarray(r).tolist() for r in rows] if count <= 48 else None
        diff = got.max_diff if got.error is None else math.inf
        return Shrunk(
            side,
            variant,
            [len(r) for r in rows],
            maxlen,
            shown,
            self.b.feature_shape,
            diff,
            used,
        )

    def _guard(self, fn: Callable[[], Outcome]) -> Outcome:
        try:
            return fn()
        except bt.OutputShapeError as exc:
            return Outcome(error=f"OutputShapeError: {exc}")
        except Exception as exc:  # the model raised: a finding, reported per detail
            return Outcome(error=_error_text(exc))

    def _padded(self) -> bool:
        return any(len(r) < self.b.maxlen for r in self.b.rows)

    # -- the checks --------------------------------------------------------------------------
    def one_by_one(self) -> list[Detail]:
        out = []
        skipped = sum(1 for r in self.b.rows if len(r) == 0)
        for side in self.sides:

            def probe(rows: list[np.ndarray], maxlen: int, side: str = side) -> Outcome:
                base = self.r.valid(rows, maxlen, side)
                return self.r.compare(base, [self.r.alone(r) for r in rows])

            outcome = self._guard(functools.partial(probe, self.b.rows, self.b.maxlen))
            note = f"; {skipped} row(s) with no valid step skipped" if skipped else ""
            out.append(
                self._detail(
                    side,
                    None,
                    outcome,
                    f"each row alone, unpadded, gives its outputs in the batch{note}",
                    "a row alone and the same row in the padded batch give different outputs",
                    probe,
                )
            )
        return out

    def extra_padding(self) -> list[Detail]:
        out = []
        for side in self.sides:

            def probe(rows: list[np.ndarray], maxlen: int, side: str = side) -> Outcome:
                base = self.r.valid(rows, maxlen, side)
                return self.r.compare(base, self.r.valid(rows, maxlen + self.extra, side))

            outcome = self._guard(functools.partial(probe, self.b.rows, self.b.maxlen))
            out.append(
                self._detail(
                    side,
                    f"+{self.extra} steps",
                    outcome,
                    f"padding to {self.b.maxlen + self.extra} steps changes no valid output",
                    f"padding {self.extra} more steps changes the valid outputs",
                    probe,
                )
            )
        return out

    def pad_side(self, results: dict[str, list[Detail]]) -> list[Detail]:
        if set(SIDES) - set(self.sides):
            return [
                Detail(
                    None,
                    None,
                    NOT_APPLICABLE,
                    f"only {self.sides[0]}-padding is checked (padding_sides={self.sides!r})",
                )
            ]

        def probe(rows: list[np.ndarray], maxlen: int) -> Outcome:
            return self.r.compare(
                self.r.valid(rows, maxlen, "post"), self.r.valid(rows, maxlen, "pre")
            )

        outcome = self._guard(lambda: probe(self.b.rows, self.b.maxlen))
        if not self._padded():
            return [
                Detail(
                    None,
                    None,
                    NOT_APPLICABLE,
                    "no row of the batch is padded: pre and post are the same batch",
                )
            ]
        decisive = ("one_by_one", "extra_padding", "pad_contents")
        verdict = {
            side: not any(
                d.status == FAILED and d.side == side
                for name in decisive
                for d in results.get(name, [])
            )
            for side in SIDES
        }
        advice = ""
        if verdict["post"] and not verdict["pre"]:
            advice = (
                "; post-padding passes one_by_one, extra_padding and pad_contents, "
                "pre-padding does not: pad on the right"
            )
        elif verdict["pre"] and not verdict["post"]:
            advice = (
                "; pre-padding passes one_by_one, extra_padding and pad_contents, "
                "post-padding does not: pad on the left"
            )
        detail = self._detail(
            None,
            "pre vs post",
            outcome,
            "pre- and post-padding give the same valid outputs: either side works",
            "pre- and post-padding give different outputs",
            probe,
        )
        if detail.status == FAILED and advice:
            detail.why += advice
        return [detail]

    def _variants(self) -> list[str]:
        allowed = ID_VARIANTS if self.b.is_ids else FLOAT_VARIANTS
        chosen = list(self.variants) if self.variants is not None else list(allowed)
        unknown = [v for v in chosen if v not in allowed]
        if unknown:
            kind = "ids" if self.b.is_ids else "float inputs"
            raise ValueError(
                f"pad_variants: {unknown} are not variants for {kind}; choose from {allowed}"
            )
        return chosen

    def pad_contents(self) -> list[Detail]:
        variants = self._variants()
        if self.implicit is not None:
            value, source = self.implicit
            what = "ids" if self.b.is_ids else "values"
            return [
                Detail(
                    None,
                    None,
                    NOT_APPLICABLE,
                    f"the mask is derived from the padded {what} ({source}): any other "
                    f"contents would unmask the padded steps, so only {value!r} can be "
                    "written there",
                )
            ]
        if not self._padded():
            return [
                Detail(
                    None,
                    None,
                    NOT_APPLICABLE,
                    "no row of the batch is padded: give rows of different lengths",
                )
            ]
        out = []
        for side in self.sides:
            for variant in variants:
                if variant == "zeros" and self.b.pad_value == 0:
                    out.append(
                        Detail(side, variant, NOT_APPLICABLE, "the batch is already padded with 0")
                    )
                    continue
                if variant == "out_of_range":
                    vocab = self.r.vocab_size
                    if vocab is None:
                        out.append(
                            Detail(
                                side,
                                variant,
                                NOT_APPLICABLE,
                                "the vocabulary size is unknown (pass vocab_size=...)",
                            )
                        )
                        continue
                    if vocab > np.iinfo(self.b.dtype).max:
                        out.append(
                            Detail(
                                side,
                                variant,
                                NOT_APPLICABLE,
                                f"{self.b.dtype.name} cannot hold the id {vocab}",
                            )
                        )
                        continue
                self.progress(f"pad_contents ({side}, {variant})")
                out.append(self._pad_contents(side, variant))
        return out

    def _pad_contents(self, side: str, variant: str) -> Detail:
        def probe(
            rows: list[np.ndarray], maxlen: int, grads: bool = False, side: str = side
        ) -> Outcome:
            base = self.r.valid(rows, maxlen, side)
            got = self.r.compare(base, self.r.valid(rows, maxlen, side, fill=variant))
            if got.failed or not grads:
                return got
            sub = self.r.gradient_rows(rows, maxlen)
            g0 = self.r.gradients(sub, maxlen, side)
            g1 = self.r.gradients(sub, maxlen, side, fill=variant)
            if g0 is None or g1 is None:
                return got
            gout = self.r.compare_gradients(g0, g1)
            if gout.failed:
                gout.row = None
                return gout
            got.parameter = None
            return got

        outcome = self._guard(lambda: probe(self.b.rows, self.b.maxlen, True))
        written = {
            "other_ids": "other in-range ids",
            "largest_id": f"the largest id ({(self.r.vocab_size or self.r.max_id + 1) - 1})",
            "out_of_range": f"out-of-range ids ({self.r.vocab_size})",
            "zeros": "zeros",
            "random": "random values",
            "large": "large values (+-1e6)" if self.b.dtype.itemsize > 2 else "large values",
            "nan": "NaN",
            "inf": "+-inf",
        }[variant]
        grads_note = " nor the gradients" if self.r.use_gradients else ""
        what = "gradients" if outcome.parameter else "valid outputs"

        def shrink_probe(rows: list[np.ndarray], maxlen: int) -> Outcome:
            return probe(rows, maxlen, outcome.parameter is not None)

        return self._detail(
            side,
            variant,
            outcome,
            f"{written} in the padded positions change no valid output{grads_note}",
            f"{written} in the padded positions change the {what}",
            shrink_probe,
            what,
        )

    def neighbours(self) -> list[Detail]:
        out = []
        avoid = self.implicit[0] if self.implicit is not None else None
        for side in self.sides:

            def probe(rows: list[np.ndarray], maxlen: int, side: str = side) -> Outcome:
                base = self.r.valid(rows, maxlen, side)
                if len(rows) == 1:
                    other = self.r.valid(
                        [rows[0], self.r.fresh_row(1, len(rows[0]), maxlen, avoid)],
                        maxlen,
                        side,
                    )
                    return self.r.compare(base, other, [0])
                total = Outcome()
                for parity in (0, 1):
                    kept = [i for i in range(len(rows)) if i % 2 == parity]
                    changed = [
                        r if i % 2 == parity else self.r.fresh_row(i, len(r), maxlen, avoid)
                        for i, r in enumerate(rows)
                    ]
                    got = self.r.compare(base, self.r.valid(changed, maxlen, side), kept)
                    if got.max_diff >= total.max_diff:
                        total.max_diff, total.row = got.max_diff, got.row
                    total.failing += got.failing
                    total.compared += got.compared
                return total

            outcome = self._guard(functools.partial(probe, self.b.rows, self.b.maxlen))
            out.append(
                self._detail(
                    side,
                    "other rows",
                    outcome,
                    "other contents and lengths in the other rows change no row's outputs",
                    "a row's outputs depend on the other rows of the batch",
                    probe,
                )
            )
            out.append(self._empty_neighbour(side))
        return out

    def _empty_neighbour(self, side: str) -> Detail:
        empty = np.zeros((0, *self.b.feature_shape), self.b.dtype)

        def probe(rows: list[np.ndarray], maxlen: int, grads: bool = False) -> Outcome:
            base = self.r.valid(rows, maxlen, side)
            got = self.r.compare(base, self.r.valid([*rows, empty], maxlen, side), range(len(rows)))
            if got.failed or not grads:
                return got
            sub = self.r.gradient_rows(rows, maxlen)
            g0 = self.r.gradients(sub, maxlen, side)
            g1 = self.r.gradients([*sub, empty], maxlen, side, count=len(sub))
            if g0 is None or g1 is None:
                return got
            gout = self.r.compare_gradients(g0, g1)
            if gout.failed:
                return gout
            return got

        outcome = self._guard(lambda: probe(self.b.rows, self.b.maxlen, True))
        what = "gradients" if outcome.parameter else "valid outputs"
        bad = "a fully padded row added to the batch changes the other rows' " + what
        if outcome.error is None and math.isinf(outcome.max_diff):
            bad = f"a fully padded row added to the batch turns the other rows' {what} to NaN/inf"
        grads_note = " nor their gradients" if self.r.use_gradients else ""
        return self._detail(
            side,
            "empty row added",
            outcome,
            f"a fully padded row added to the batch changes no other row's outputs{grads_note}",
            bad,
            lambda rows, maxlen: probe(rows, maxlen, outcome.parameter is not None),
            what,
        )

    def mask_used(self) -> list[Detail]:
        if not self.r.adapter.explicit_mask:
            source = (
                f"; its mask comes from the values ({self.implicit[1]})"
                if self.implicit is not None
                else ""
            )
            return [
                Detail(
                    None,
                    None,
                    NOT_APPLICABLE,
                    f"the model is given no mask (mask_arg=None){source}: there is no mask "
                    "argument to flip or drop",
                )
            ]
        out = []
        for side in self.sides:
            base = self._guard_valid(side)
            if all(v is None for v in base):
                out.append(
                    Detail(side, None, NOT_APPLICABLE, "no row has a valid output to compare")
                )
                continue
            changes: dict[str, str] = {}
            diffs = []
            cannot_drop = ""
            for mode in ("flipped", "dropped"):
                try:
                    other = self.r.valid(self.b.rows, self.b.maxlen, side, mask_mode=mode)
                    got = self.r.compare(base, other)
                    if got.failed:
                        changes[mode] = f"{mode}: max abs diff {bt_fmt(got.max_diff)}"
                    diffs.append(got.max_diff)
                except Exception as exc:
                    if mode == "flipped":  # raising on other mask values is reading them
                        changes[mode] = f"{mode}: the model raised {_error_text(exc)}"
                    else:  # a required mask argument is not evidence that it is read
                        cannot_drop = f"; it cannot be dropped ({_error_text(exc)})"
            worst = max(diffs) if diffs else None
            if changes:
                out.append(
                    Detail(
                        side,
                        "flipped, dropped",
                        PASSED,
                        "the model reads its mask: the valid outputs change when it is "
                        + "; ".join(changes.values())
                        + cannot_drop,
                        worst,
                    )
                )
            else:
                out.append(
                    Detail(
                        side,
                        "flipped, dropped",
                        FAILED,
                        "neither flipping nor dropping the mask changes any valid output "
                        f"(max abs diff {bt_fmt(worst or 0.0)}){cannot_drop}: the model never "
                        f"reads its mask (is it the argument {self.r.adapter.mask_arg!r}?)",
                        worst,
                    )
                )
        return out

    def _guard_valid(self, side: str) -> list[np.ndarray | None]:
        return self.r.valid(self.b.rows, self.b.maxlen, side)


def bt_fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf (NaN or inf on one side)"
    return f"{value:.3g}"


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{name}: expected a non-empty tuple of {tuple(allowed)}, got {value!r}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ValueError(f"{name}: {bad!r} not among {tuple(allowed)}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name}: {tuple(value)!r} names a value twice")
    return tuple(value)


def check_padding_invariance(
    model: Any,
    batch: Any,
    *,
    framework: str | None = None,
    mask_arg: str | None = None,
    mask_convention: str = "keep",
    padding_sides: Sequence[str] = ("post", "pre"),
    checks: Sequence[str] | None = None,
    output: OutputSelector = None,
    output_kind: str | None = None,
    call: Callable[[Any, Any, Any], Any] | None = None,
    position_ids_arg: str | None = None,
    training: bool = False,
    pad_value: Any = None,
    implicit_mask: bool | None = None,
    vocab_size: int | None = None,
    pad_variants: Sequence[str] | None = None,
    extra_padding: int | None = None,
    gradients: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    shrink: bool = True,
    seed: int = 0,
    progress: bool | None = None,
) -> CheckReport:
    """Run the six padding-invariance checks on ``model`` and say which pass.

    ``batch`` is ``(x, mask)``: the post-padded inputs (float features ``(B, T, ...)`` or
    integer ids ``(B, T)``) and maskref's bool mask ``(B, T)`` (True = valid). The model
    receives the mask as the keyword ``mask_arg`` converted with ``convert_mask`` to
    ``mask_convention`` (``"drop"`` for ``src_key_padding_mask``/``key_padding_mask``,
    ``"transformers"`` for ``attention_mask``), or through ``call(model, x, mask)``; with
    ``mask_arg=None`` it gets none (Keras's implicit masks: ``Embedding(mask_zero=True)``,
    ``Masking``; ``torch_impl``'s masked modules).

    Only valid positions are compared: the valid steps of a sequence output ``(B, T, ...)``,
    the rows with a valid step of a pooled output ``(B, ...)`` (``output_kind``: detected
    when None). ``output`` picks what to compare out of what the model returns (None: the
    tensor, the first element of a tuple, ``last_hidden_state``; or an index, a key, a
    callable). The tolerance is per dtype (``results.TOLERANCES``, or ``rtol``/``atol``)
    relative to the largest valid output. The model runs in ``training`` mode or not
    (restored afterwards) with ``seed`` set before each run. ``padding_sides`` are the
    sides the model claims to support; ``pad_side`` compares them.

    Returns a :class:`~maskref.testing.results.CheckReport` (``.passed``, ``report["name"]``,
    ``.to_text()``, ``.to_json()``).
    """
    started = time.perf_counter()
    sides = _check_choice("padding_sides", padding_sides, SIDES)
    chosen = _check_choice("checks", checks if checks is not None else CHECKS, CHECKS)
    for flag, value in (("training", training), ("gradients", gradients), ("shrink", shrink)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag}: expected a bool, got {value!r}")
    if output_kind not in (None, bt.SEQUENCE, bt.POOLED):
        raise ValueError(f"output_kind: expected None, 'sequence' or 'pooled', got {output_kind!r}")
    reference.convert_mask(np.ones((1, 1), bool), "keep", mask_convention)  # a known convention
    framework = framework if framework is not None else infer_framework(model)
    if framework not in ADAPTERS:
        raise ValueError(f"framework: expected one of {tuple(ADAPTERS)}, got {framework!r}")
    progress_fn = _Progress(progress)

    x, mask = bt.parse_batch(batch)
    implicit: tuple[Any, str] | None = None
    if mask_arg is None and call is None and implicit_mask is not False:
        implicit = implicit_mask_source(model)
        if implicit is None and implicit_mask:
            value = pad_value if pad_value is not None else bt.make_batch(x, mask).pad_value
            implicit = (value, "a mask derived from the values (implicit_mask=True)")
    if implicit is not None and pad_value is None:
        pad_value = implicit[0]
    data = bt.make_batch(x, mask, pad_value)
    if implicit is not None:
        _check_implicit(data, implicit)

    adapter = ADAPTERS[framework](
        model,
        mask_arg=mask_arg,
        mask_convention=mask_convention,
        position_ids_arg=position_ids_arg,
        call=call,
        output=output,
        training=bool(training),
        seed=seed,
    )
    runner = _Runner(
        adapter,
        data,
        kind=output_kind,
        tolerance=(rtol, atol),
        gradients=bool(gradients),
        seed=seed,
    )
    runner.vocab_size = (
        vocab_size if vocab_size is not None else (_vocabulary_size(model) if data.is_ids else None)
    )
    extra = extra_padding if extra_padding is not None else max(4, data.maxlen // 4)
    if not isinstance(extra, int) or isinstance(extra, bool) or extra < 1:
        raise ValueError(f"extra_padding: expected an int >= 1, got {extra!r}")
    notes: list[str] = []
    padded: dict[str, str] = {}
    results: dict[str, list[Detail]] = {}
    with adapter.session():
        random_layers = adapter.random_layers()
        if random_layers:
            notes.append(
                "training mode with random layers: "
                + ", ".join(random_layers[:4])
                + (" ..." if len(random_layers) > 4 else "")
                + f"; each run is seeded with {seed}, so runs of the same shape see the same "
                "random draws and runs of another shape do not"
            )
        progress_fn("base runs")
        bases: dict[str, list[np.ndarray | None]] = {}
        for side in sides:
            try:
                bases[side] = runner.valid(data.rows, data.maxlen, side)
            except Exception as exc:
                _add_note(exc, f"maskref check: the model raised on the {side}-padded batch")
                raise
            y, m = runner.output(data.rows, data.maxlen, side)
            padded[side] = bt.describe_padded(y, m, runner.kind or bt.POOLED)
        if output_kind is None and runner.kind == bt.SEQUENCE:
            # a pooled (B, F) output with F == T would look like a sequence: check on T + extra
            y2, _ = runner.output(data.rows, data.maxlen + extra, sides[0])
            if y2.ndim < 2 or y2.shape[1] != data.maxlen + extra:
                runner.kind = bt.POOLED
                bases = {s: runner.valid(data.rows, data.maxlen, s) for s in sides}
        dtype = adapter.output_dtype or "float32"
        scale = bt.scale_of([v for vals in bases.values() for v in vals])
        runner.tol = Tolerance.for_dtype(dtype, rtol, atol).scaled(scale)
        # determinism: the same batch twice
        first = sides[0]
        x0, m0 = bt.layout(data.rows, data.maxlen, first, data)
        again = adapter.forward(x0, m0, m0)
        y0, _ = runner.output(data.rows, data.maxlen, first)
        if again.shape == y0.shape:
            d = bt.abs_diff(y0, again)
            if d.size and float(d.max()) > 0:
                notes.append(
                    f"the model is not deterministic: the same batch run twice differs by "
                    f"{float(d.max()):.3g} (random layers in training mode?); every check "
                    "compares runs that differ by that much anyway"
                )
        nan_rows = [
            i for i, v in enumerate(bases[first]) if v is not None and not np.isfinite(v).all()
        ]
        if nan_rows:
            notes.append(
                f"the batch's own valid outputs hold NaN/inf in rows {nan_rows[:8]}: those "
                "positions compare equal only to the same NaN/inf"
            )
        checker = _Checker(
            runner,
            sides=sides,
            extra=extra,
            variants=tuple(pad_variants) if pad_variants is not None else None,
            implicit=implicit,
            do_shrink=bool(shrink),
            progress=progress_fn,
            notes=notes,
        )
        for name in CHECKS:
            if name not in chosen or name == "pad_side":
                continue
            progress_fn(name)
            checker.current = name
            results[name] = getattr(checker, name)()
        if "pad_side" in chosen:
            progress_fn("pad_side")
            checker.current = "pad_side"
            results["pad_side"] = checker.pad_side(results)
    check_results = [
        CheckResult(
            name,
            _status_of(results[name]),
            _summary(name, results[name]),
            runner.tol,
            results[name],
        )
        for name in CHECKS
        if name in results
    ]
    kind = runner.kind or bt.POOLED
    report = CheckReport(
        model=_model_name(model),
        framework=framework,
        adapter=adapter.describe(),
        output_kind=kind,
        valid_positions=bt.VALID_POSITIONS[kind],
        batch_shape=data.shape,
        lengths=data.lengths,
        sides=sides,
        training=bool(training),
        tolerance=runner.tol,
        checks=check_results,
        notes=notes,
        padded_outputs=padded,
        seconds=time.perf_counter() - started,
        runs=adapter.runs,
    )
    progress_fn(f"done: {len(report.failures)} check(s) failed")
    return report


def _model_name(model: Any) -> str:
    name = getattr(model, "__name__", None)
    if isinstance(name, str):
        return name
    return type(model).__name__


def _add_note(exc: BaseException, note: str) -> None:
    add = getattr(exc, "add_note", None)
    if callable(add):
        add(note)


def _check_implicit(data: bt.Batch, implicit: tuple[Any, str]) -> None:
    """A valid step that holds the pad value would be masked by the model itself."""
    value, source = implicit
    for i, r in enumerate(data.rows):
        if not r.size:
            continue
        steps = r == value
        if steps.ndim > 1:
            steps = steps.reshape(len(r), -1).all(axis=1)
        if steps.any():
            t = int(np.flatnonzero(steps)[0])
            raise ValueError(
                f"batch: row {i} step {t} is valid but holds the pad value {value!r}, which the "
                f"model masks ({source}); the batch's mask must be the one the model derives"
            )

"""The input strategies of ``reference.losses``'s operations, and one backend case each.

Inputs: ``B <= 3``, ``T <= 5``, ``C <= 5``, float16/float32/float64 values in
[-4, 4]; NaN or inf are planted wherever a step is not counted (masked,
ignored, or not predicted under the causal shift), and the targets there are
junk (-100, 99, -7), which must change nothing. Invalid arguments are drawn
sometimes (a wrong reduction, a weight of the wrong shape, an out-of-range
counted target, an empty list of micro-batches), so that error classes are
compared too. ``TokenMean`` is run over 1-3 batches of different padded
lengths.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from maskref.api.losses import EMPTY, REDUCTIONS
from reference import strategies as rs

from .core import Case, Inputs, to_numpy
from .operations import BACKENDS, FLOAT_TOLERANCES, Operation, backend_call, rarely, reference_call

JUNK_TARGETS = (-100, 99, -7)
SPECIAL = (np.nan, np.inf, -np.inf)


# Strategies are built once (building them on every draw costs more than the checks).
_SPECIAL = st.sampled_from(SPECIAL)
_REDUCTION = {
    False: rarely(st.sampled_from(REDUCTIONS), st.sampled_from(["mean", "", "MEAN"])),
    True: rarely(st.sampled_from(REDUCTIONS[:-1]), st.sampled_from(["mean", "none"])),
}
_EMPTY = rarely(st.none() | st.sampled_from(EMPTY), st.sampled_from(["0", "NaN"]))
_DAMAGE = st.integers(0, 15)
_SIZES = {n: st.integers(0, n) for n in range(6)}
_FLOATS = rs.dtypes("f")
_WEIGHTING = st.sampled_from(["none", "steps", "rows", "rows1"])
_JUNK = st.sampled_from(JUNK_TARGETS)
_SMOOTHING = st.sampled_from([0.1, 0.5, 1.0])
_BAD_SMOOTHING = st.sampled_from([1.5, -0.1, True])
_IGNORE = {c: st.none() | st.sampled_from([-100, 0, c - 1]) for c in range(1, 6)}
_FROM_LOGITS = rarely(st.just(True), st.just(False))
_COUNT = rarely(st.integers(1, 3), st.just(0))


@functools.cache
def _values(dtype: np.dtype, low: float = -4.0, high: float = 4.0) -> st.SearchStrategy[float]:
    width = dtype.itemsize * 8
    return st.floats(low, high, width=width, allow_subnormal=False)  # type: ignore[arg-type]


@functools.cache
def _classes(classes: int) -> st.SearchStrategy[int]:
    return st.integers(0, classes - 1)


_BOOLS = st.booleans()
_WEIGHTS64 = st.floats(0, 3, allow_subnormal=False)
_WEIGHTS32 = st.floats(0, 3, width=32, allow_subnormal=False)
_CLASS_WEIGHTS = st.floats(0, 2, width=32, allow_subnormal=False)


@functools.cache
def _masks(b: int, t: int) -> st.SearchStrategy[np.ndarray]:
    """``rs.masks((b, t))``'s layouts (post, pre, holes), built once per shape."""
    steps = np.arange(t)
    lengths = _arrays(np.dtype(np.int64), (b,), st.integers(0, t))
    return st.one_of(
        lengths.map(lambda n: steps < n[:, None]),
        lengths.map(lambda n: steps >= t - n[:, None]),
        _arrays(np.dtype(np.bool_), (b, t), _BOOLS),
    )


@functools.cache
def _arrays(
    dtype: np.dtype, shape: tuple[int, ...], elements: st.SearchStrategy
) -> st.SearchStrategy:
    """``hnp.arrays`` built once per dtype, shape and elements."""
    return hnp.arrays(dtype, shape, elements=elements)


def _plant(draw, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``x`` with NaN/inf at the steps where ``keep`` is False (all features of a step)."""
    if not x.size or keep.all():
        return x
    special = draw(_SPECIAL)
    full = np.broadcast_to(keep.reshape(keep.shape + (1,) * (x.ndim - keep.ndim)), x.shape)
    return np.where(full, x, special).astype(x.dtype)


def _reduction(scalar: bool = False) -> st.SearchStrategy:
    return _REDUCTION[scalar]


def _empty() -> st.SearchStrategy:
    return _EMPTY


def _with_options(inputs: Inputs, **options: Any) -> Inputs:
    """``inputs`` plus the options that are not None (None: leave the default)."""
    return {**inputs, **{k: v for k, v in options.items() if v is not None}}


# -- masked_loss ---------------------------------------------------------------------------


@st.composite
def masked_loss_inputs(draw) -> Inputs:
    dtype = draw(_FLOATS)
    b, t = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    mask = draw(_masks(b, t))
    loss = _plant(draw, draw(_arrays(dtype, (b, t), _values(dtype))), mask)
    weight = draw(_WEIGHTING if b else st.just("none"))
    inputs: Inputs = dict(per_step=loss, mask=mask)
    if weight == "steps":
        sw = draw(_arrays(np.dtype(np.float64), (b, t), _WEIGHTS64))
        inputs["sample_weight"] = np.where(mask, sw, np.nan)  # NaN weights under the mask
    elif weight in ("rows", "rows1"):
        sw = draw(_arrays(np.dtype(np.float32), (b,), _WEIGHTS32))
        inputs["sample_weight"] = sw if weight == "rows" else sw[:, None]
    damage = draw(_DAMAGE)
    if damage == 11:
        inputs["sample_weight"] = np.ones((b + 1, t))
    elif damage == 10:
        inputs["mask"] = mask.astype(np.int64)
    elif damage == 9:
        inputs["per_step"] = np.zeros((b, t), np.int32)
    return _with_options(inputs, reduction=draw(_reduction()), empty=draw(_empty()))


# -- masked_cross_entropy, masked_accuracy, accumulated_loss ---------------------------------


def _counted(targets: np.ndarray, mask: np.ndarray | None, ignore: int | None, shift: bool):
    """The counted steps of the logits (the reference's rule, restated for planting)."""
    keep = np.ones(targets.shape, bool) if mask is None else mask.copy()
    if ignore is not None:
        keep &= targets != ignore
    if shift:
        keep = np.concatenate(
            [keep[:, 1:], np.zeros((keep.shape[0], min(1, keep.shape[1])), bool)], 1
        )
    return keep


@st.composite
def _batch(
    draw,
    dtype: np.dtype,
    classes: int,
    ignore: int | None,
    shift: bool,
    from_logits: bool = True,
    mask_optional: bool = True,
    max_batch: int = 3,
    max_steps: int = 5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(logits, targets, mask)``: valid targets in ``[0, C)`` where counted, junk and
    NaN/inf logits elsewhere."""
    b, t = draw(_SIZES[max_batch]), draw(_SIZES[max_steps])
    mask = draw(_masks(b, t))
    if mask_optional and draw(st.integers(0, 4)) == 0:
        mask = None
    targets = draw(_arrays(np.dtype(np.int64), (b, t), _classes(classes)))
    if ignore is not None and targets.size:
        hit = draw(_arrays(np.dtype(np.bool_), (b, t), _BOOLS))
        targets = np.where(hit, ignore, targets)
    if mask is not None and targets.size:
        junk = draw(_JUNK)
        targets = np.where(mask, targets, junk if junk != ignore or ignore is None else 98)
    if from_logits:
        logits = draw(_arrays(dtype, (b, t, classes), _values(dtype)))
    else:
        raw = draw(_arrays(dtype, (b, t, classes), _values(dtype, 0.0, 1.0)))
        logits = raw
    keep = _counted(targets, mask, ignore, shift)
    logits = _plant(draw, logits, keep)
    return logits, targets, mask


@st.composite
def _ce_options(draw, classes: int, scalar: bool = False) -> dict:
    ignore = draw(_IGNORE[classes])
    options = dict(
        ignore_index=ignore,
        shift=draw(st.booleans()),
        from_logits=draw(_FROM_LOGITS),
        reduction=draw(_reduction(scalar)),
        empty=draw(_empty()),
    )
    if draw(st.booleans()):
        options["class_weight"] = draw(_arrays(np.dtype(np.float32), (classes,), _CLASS_WEIGHTS))
    if draw(st.integers(0, 2)) == 0:
        options["label_smoothing"] = draw(_SMOOTHING)
    return options


def _damage_options(draw, options: dict, classes: int) -> None:
    damage = draw(_DAMAGE)
    if damage == 15:
        options["class_weight"] = np.ones(classes + 1, np.float32)
    elif damage == 14:
        options["label_smoothing"] = draw(_BAD_SMOOTHING)
    elif damage == 13:
        options["ignore_index"] = 1.0


@st.composite
def masked_cross_entropy_inputs(draw) -> Inputs:
    dtype, classes = draw(_FLOATS), draw(st.integers(1, 5))
    options = draw(_ce_options(classes))
    logits, targets, mask = draw(
        _batch(dtype, classes, options["ignore_index"], options["shift"], options["from_logits"])
    )
    if draw(st.integers(0, 11)) == 11 and targets.size:  # an out-of-range counted target
        targets = targets.copy()
        targets.flat[draw(st.integers(0, targets.size - 1))] = classes
    _damage_options(draw, options, classes)
    inputs: Inputs = dict(logits=logits, targets=targets)
    if mask is not None:
        inputs["mask"] = mask
    return _with_options(inputs, **options)


@st.composite
def masked_accuracy_inputs(draw) -> Inputs:
    dtype, classes = draw(_FLOATS), draw(st.integers(1, 5))
    logits, targets, mask = draw(_batch(dtype, classes, None, False, mask_optional=False))
    inputs: Inputs = dict(logits=logits, targets=targets, mask=mask)
    damage = draw(st.integers(0, 11))
    if damage == 11 and targets.size and mask.any():
        inputs["targets"] = np.where(mask, classes, targets)
    elif damage == 10:
        inputs["mask"] = None
    return inputs


@st.composite
def accumulated_loss_inputs(draw) -> Inputs:
    dtype, classes = draw(_FLOATS), draw(st.integers(1, 4))
    options = draw(_ce_options(classes, scalar=True))
    count = draw(_COUNT)
    batches = [
        draw(
            _batch(
                dtype,
                classes,
                options["ignore_index"],
                options["shift"],
                options["from_logits"],
                max_batch=2,
                max_steps=4,
            )
        )
        for _ in range(count)
    ]
    _damage_options(draw, options, classes)
    return _with_options(dict(micro_batches=batches), **options)


# -- TokenMean -----------------------------------------------------------------------------


@st.composite
def token_mean_inputs(draw) -> Inputs:
    dtype = draw(_FLOATS)
    batches = []
    for _ in range(draw(st.integers(0, 3))):
        b, t = draw(st.integers(0, 3)), draw(st.integers(0, 5))
        mask = draw(_masks(b, t))
        values = _plant(draw, draw(_arrays(dtype, (b, t), _values(dtype))), mask)
        batches.append((values, mask))
    return _with_options(dict(batches=batches), empty=draw(_empty()))


def _token_mean(backend: str):
    def call(inputs: Inputs) -> Any:
        from .operations import tensors_to_native

        module = importlib.import_module(backend)
        metric = module.TokenMean(**({"empty": inputs["empty"]} if "empty" in inputs else {}))
        for values, mask in inputs["batches"]:
            if backend != "reference":
                values, mask = tensors_to_native(backend, (values, mask))
            metric.update(values, mask)
        return metric.result()

    if backend != "jax_impl":
        return call

    def with_x64(inputs: Inputs) -> Any:  # as backend_call runs JAX: dtypes compare exactly
        import jax

        with jax.enable_x64(True):
            return to_numpy(call(inputs))

    return with_x64


LOSS_OPERATIONS = [
    Operation(
        "masked_loss",
        masked_loss_inputs,
        ("per_step", "mask", "sample_weight"),
        tolerances=FLOAT_TOLERANCES,
    ),
    Operation(
        "masked_cross_entropy",
        masked_cross_entropy_inputs,
        ("logits", "targets", "mask", "class_weight"),
        tolerances=FLOAT_TOLERANCES,
    ),
    Operation(
        "masked_accuracy",
        masked_accuracy_inputs,
        ("logits", "targets", "mask"),
        tolerances=FLOAT_TOLERANCES,
    ),
    Operation(
        "accumulated_loss",
        accumulated_loss_inputs,
        ("micro_batches", "class_weight"),
        tolerances=FLOAT_TOLERANCES,
    ),
]


def cases() -> list[Case]:
    """One agreement case per operation (and ``TokenMean``) and backend."""
    out = [
        Case(
            operation=op.name,
            api=f"{backend}.{op.name}",
            inputs=op.inputs,
            reference=reference_call(op.name),
            candidate=backend_call(backend, op),
            requires=requires,
            kind="backend",
            same_error_class=True,
            tolerances=op.tolerances,
        )
        for op in LOSS_OPERATIONS
        for backend, requires in BACKENDS.items()
    ]
    out += [
        Case(
            operation="TokenMean",
            api=f"{backend}.TokenMean",
            inputs=token_mean_inputs,
            reference=_token_mean("reference"),
            candidate=_token_mean(backend),
            requires=requires,
            kind="backend",
            same_error_class=True,
            tolerances=FLOAT_TOLERANCES,
            domain="update over 0-3 batches of different padded lengths, then result()",
        )
        for backend, requires in BACKENDS.items()
    ]
    return out

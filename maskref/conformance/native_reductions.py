"""Other libraries' masked reductions, measured against ``reference.reductions``.

``numpy.ma`` (whose mask means *invalid*: the opposite of maskref's) and
``torch.masked`` define some of the same operations; where they agree it is
asserted, where they differ the divergence is named with its smallest input.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import reference as ref

from .core import Case, Inputs
from .operations import FLOAT_TOLERANCES, masked_tensor

MA_OPS = ("sum", "mean", "max", "min", "prod", "var", "std")


def _full(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)


def _ma_call(op: str):
    def call(inputs: Inputs):
        x, mask = inputs["x"], inputs["mask"]
        arr = np.ma.array(x, mask=~_full(x, mask))  # numpy.ma: True = invalid
        result = getattr(arr, op)(axis=inputs["axis"])
        default = getattr(ref, f"masked_{op}")(x, np.zeros_like(mask), inputs["axis"])
        return np.ma.filled(np.ma.asarray(result), default).astype(default.dtype)

    return call


@st.composite
def _float_domain(draw, nonempty_axis: bool = False) -> Inputs:
    x, mask = draw(masked_tensor())
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    axes = [a for a in range(x.ndim) if x.shape[a] or not nonempty_axis]
    assume(axes)
    return dict(x=x, mask=mask, axis=draw(st.sampled_from(axes)))


def _nonempty_axis() -> st.SearchStrategy[Inputs]:
    return _float_domain(nonempty_axis=True)


ZERO_LENGTH = dict(x=np.zeros((0,)), mask=np.zeros((0,), bool), axis=0)
ZERO_LENGTH_WHY = (
    "reducing an axis of length 0 raises (no identity for max/min); the reference "
    "returns empty, -inf for max and +inf for min by default."
)


def _ma_cases() -> list[Case]:
    def case(
        op,
        inputs=_float_domain,
        expect=None,
        example=None,
        explanation="",
        domain="float data, one axis; mask inverted; masked results filled",
    ):
        return Case(
            operation=f"masked_{op}",
            api=f"numpy.ma.MaskedArray.{op}",
            inputs=inputs,
            reference=lambda i: getattr(ref, f"masked_{op}")(**i),
            candidate=_ma_call(op),
            expect=expect,
            example=example,
            explanation=explanation,
            domain="" if expect else domain,
            tolerances=FLOAT_TOLERANCES,
        )

    cases = []
    for op in MA_OPS:
        if op in ("max", "min"):
            cases.append(case(op, _nonempty_axis, domain="float data, one axis of length >= 1"))
            cases.append(
                case(
                    op,
                    lambda: st.just(ZERO_LENGTH),
                    "zero-length-axis-raises",
                    ZERO_LENGTH,
                    ZERO_LENGTH_WHY,
                )
            )
        else:
            cases.append(case(op))

    def ma_argmax(inputs: Inputs):
        x, mask = inputs["x"], inputs["mask"]
        return np.ma.array(x, mask=~_full(x, mask)).argmax(axis=inputs["axis"])

    cases.append(
        Case(
            operation="masked_argmax",
            api="numpy.ma.MaskedArray.argmax",
            inputs=_float_domain,
            reference=lambda i: ref.masked_argmax(**i),
            candidate=ma_argmax,
            expect="fully-masked-slice-gives-0",
            example=dict(x=np.array([1.0]), mask=np.array([False]), axis=0),
            explanation="argmax fills masked entries and returns index 0 for a slice with no "
            "valid element, a real index; the reference returns empty=-1.",
            check_dtype=False,
        )
    )
    return cases


def _torch_masked(op: str):
    def call(inputs: Inputs):
        import torch

        x = torch.from_numpy(inputs["x"].copy())
        mask = torch.from_numpy(_full(inputs["x"], inputs["mask"]).copy())
        return getattr(torch.masked, op)(x, dim=inputs["axis"], mask=mask)

    return call


def _torch_masked_cases() -> list[Case]:
    def case(
        op: str,
        expect=None,
        example=None,
        explanation="",
        domain="",
        ref_name=None,
        inputs=_float_domain,
    ):
        return Case(
            operation=f"masked_{ref_name or op}",
            api=f"torch.masked.{op}",
            inputs=inputs,
            reference=lambda i: getattr(ref, f"masked_{ref_name or op}")(**i),
            candidate=_torch_masked(op),
            requires=("torch",),
            expect=expect,
            example=example,
            explanation=explanation,
            domain=domain,
            tolerances=FLOAT_TOLERANCES,
        )

    f64 = np.float64
    return [
        case("sum", domain="float data, one axis"),
        case("mean", domain="float data, one axis"),
        case(
            "amax",
            ref_name="max",
            domain="float data, one axis of length >= 1",
            inputs=_nonempty_axis,
        ),
        case(
            "amax",
            "zero-length-axis-raises",
            ZERO_LENGTH,
            ZERO_LENGTH_WHY,
            ref_name="max",
            inputs=lambda: st.just(ZERO_LENGTH),
        ),
        case(
            "amin",
            ref_name="min",
            domain="float data, one axis of length >= 1",
            inputs=_nonempty_axis,
        ),
        case(
            "amin",
            "zero-length-axis-raises",
            ZERO_LENGTH,
            ZERO_LENGTH_WHY,
            ref_name="min",
            inputs=lambda: st.just(ZERO_LENGTH),
        ),
        case("logsumexp", domain="float data, one axis"),
        case("prod", domain="float data, one axis"),
        case(
            "softmax",
            expect="fully-masked-row-is-nan",
            example=dict(x=np.array([[0.0]]), mask=np.array([[False]]), axis=1),
            explanation="a slice with no valid element gives NaN everywhere; the reference's "
            "default empty='zeros' gives 0 (empty='nan' matches torch.masked).",
        ),
        case(
            "var",
            expect="unbiased-by-default",
            example=dict(x=np.array([0.0, 1.0], dtype=f64), mask=np.array([True, True]), axis=0),
            explanation="torch.masked.var divides by n - 1 by default (unbiased); the "
            "reference's default is ddof=0, as NumPy.",
        ),
    ]


def cases() -> list[Case]:
    """Every native reduction case."""
    return _ma_cases() + _torch_masked_cases() + pooling_cases()


@st.composite
def _pooling_domain(draw) -> Inputs:
    """(B, T, D) float32 values in [-4, 4] with a (B, T) mask (pre, post, holes), and
    NaN, inf or 1e6 planted under the mask."""
    from hypothesis.extra import numpy as hnp

    from reference import strategies as rs

    from .operations import reduction_elements

    f32 = np.dtype(np.float32)
    shape = draw(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(1, 3)))
    x = draw(hnp.arrays(f32, shape, elements=reduction_elements(f32)))
    mask = draw(rs.masks(shape[:2]))
    x = np.where(mask[..., None], x, draw(st.sampled_from([np.nan, np.inf, 1e6])))
    return dict(x=x.astype(f32), mask=mask)


def _keras_layer(name: str, **kwargs):
    def call(inputs: Inputs):
        import keras

        layer = getattr(keras.layers, name)(**kwargs)
        if name == "GlobalMaxPooling1D":
            return layer(inputs["x"])  # it takes no mask: the mask is ignored
        return layer(inputs["x"], mask=inputs["mask"])

    return call


def _keras_pooling_cases() -> list[Case]:
    def case(
        api,
        reference,
        candidate,
        expect=None,
        inputs=_pooling_domain,
        example=None,
        explanation="",
        domain="",
        operation="masked_mean",
    ):
        return Case(
            operation=operation,
            api=api,
            inputs=inputs,
            reference=reference,
            candidate=candidate,
            requires=("keras",),
            expect=expect,
            example=example,
            explanation=explanation,
            domain=domain,
            tolerances=FLOAT_TOLERANCES,
        )

    f32 = np.float32
    return [
        case(
            "keras.layers.GlobalAveragePooling1D",
            lambda i: ref.masked_mean(i["x"], i["mask"], axis=1),
            _keras_layer("GlobalAveragePooling1D"),
            domain="(B, T, D) float32 with a (B, T) mask; NaN under the mask; empty rows NaN",
        ),
        case(
            "keras.layers.GlobalMaxPooling1D",
            lambda i: ref.masked_max(i["x"], i["mask"], axis=1),
            _keras_layer("GlobalMaxPooling1D"),
            expect="ignores-the-mask",
            operation="masked_max",
            example=dict(x=np.array([[[1.0], [1e6]]], f32), mask=np.array([[True, False]])),
            explanation="it has no mask argument: padded steps take part in the max (a mask "
            "attached to the input is dropped with a warning).",
        ),
        case(
            "keras.layers.Softmax",
            lambda i: ref.masked_softmax(i["x"], i["mask"], axis=1),
            lambda i: _keras_layer("Softmax", axis=1)(dict(x=i["x"], mask=i["mask"][..., None])),
            operation="masked_softmax",
            domain="softmax over T of (B, T, D) logits in [-4, 4]; fully masked rows give 0",
        ),
        case(
            "keras.layers.Softmax",
            lambda i: ref.masked_softmax(i["x"], i["mask"], axis=-1),
            lambda i: _keras_layer("Softmax")(i),
            expect="valid-logits-below-minus-1e9-lose-their-weight",
            operation="masked_softmax",
            inputs=lambda: st.just(
                dict(x=np.array([[-2e9, 0.0]], f32), mask=np.array([[True, False]]))
            ),
            example=dict(x=np.array([[-2e9, 0.0]], f32), mask=np.array([[True, False]])),
            explanation="masked logits are replaced by -1e9, not removed: a valid logit below "
            "-1e9 loses to the masked slot, which is then zeroed, so the row sums to 0.",
        ),
    ]


def _minus_inf_softmax(framework: str):
    def call(inputs: Inputs):
        x = np.where(inputs["mask"], inputs["x"], -np.inf).astype(inputs["x"].dtype)
        if framework == "keras":
            import keras

            return keras.ops.softmax(x, axis=-1)
        import torch

        return torch.softmax(
            torch.from_numpy(inputs["x"]).masked_fill(
                ~torch.from_numpy(inputs["mask"]), float("-inf")
            ),
            dim=-1,
        )

    return call


@st.composite
def _logits(draw, min_valid: int = 1) -> Inputs:
    from hypothesis.extra import numpy as hnp

    from .operations import reduction_elements

    dtype = np.dtype(np.float32)
    shape = draw(st.tuples(st.integers(1, 3), st.integers(1, 5)))
    x = draw(hnp.arrays(dtype, shape, elements=reduction_elements(dtype)))
    mask = draw(hnp.arrays(np.bool_, shape))
    if min_valid:
        mask[:, 0] = True
    return dict(x=x, mask=mask)


def _softmax_idiom_cases() -> list[Case]:
    def case(
        api,
        candidate,
        requires,
        expect=None,
        inputs=_logits,
        example=None,
        explanation="",
        domain="",
    ):
        return Case(
            operation="masked_softmax",
            api=api,
            inputs=inputs,
            reference=lambda i: ref.masked_softmax(i["x"], i["mask"]),
            candidate=candidate,
            requires=requires,
            expect=expect,
            example=example,
            explanation=explanation,
            domain=domain,
            tolerances=FLOAT_TOLERANCES,
        )

    fully_masked = dict(x=np.array([[0.0]], np.float32), mask=np.array([[False]]))
    nan_row = (
        "a fully masked row is softmax of all -inf: NaN everywhere; the reference's "
        "default empty='zeros' gives 0 (empty='nan' matches)."
    )
    return [
        case(
            "keras.ops.softmax(where(mask, x, -inf))",
            _minus_inf_softmax("keras"),
            ("keras",),
            domain="rows with at least one valid logit",
        ),
        case(
            "keras.ops.softmax(where(mask, x, -inf))",
            _minus_inf_softmax("keras"),
            ("keras",),
            "fully-masked-row-is-nan",
            lambda: _logits(0),
            fully_masked,
            nan_row,
        ),
        case(
            "torch.softmax(x.masked_fill(~mask, -inf))",
            _minus_inf_softmax("torch"),
            ("torch",),
            domain="rows with at least one valid logit",
        ),
        case(
            "torch.softmax(x.masked_fill(~mask, -inf))",
            _minus_inf_softmax("torch"),
            ("torch",),
            "fully-masked-row-is-nan",
            lambda: _logits(0),
            fully_masked,
            nan_row,
        ),
    ]


def _multiply_by_mask(inputs: Inputs):
    x, mask = inputs["x"], inputs["mask"][..., None].astype(inputs["x"].dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * mask).sum(axis=1) / mask.sum(axis=1)


def _idiom_cases() -> list[Case]:
    return [
        Case(
            operation="masked_mean",
            api="idiom: (x * mask).sum(1) / mask.sum(1)",
            inputs=_pooling_domain,
            reference=lambda i: ref.masked_mean(i["x"], i["mask"], axis=1),
            candidate=_multiply_by_mask,
            expect="nan-under-the-mask-leaks",
            example=dict(
                x=np.array([[[1.0], [np.nan]]], np.float32), mask=np.array([[True, False]])
            ),
            explanation="0 * NaN and 0 * inf are NaN, so one NaN or inf in a padded slot "
            "poisons the whole row; the reference replaces masked values before summing.",
            tolerances=FLOAT_TOLERANCES,
        )
    ]


def pooling_cases() -> list[Case]:
    """Keras pooling/softmax layers and the common hand-written idioms."""
    return _keras_pooling_cases() + _softmax_idiom_cases() + _idiom_cases()

"""Masked losses and metrics on padded batches: one number in Keras, PyTorch and Hugging Face.

Common rules of every function here:

* Data are ``(B, T)`` per step (a per-step loss, targets, a mask) or ``(B, T, C)``
  (logits over ``C`` classes). ``mask`` is boolean, ``True`` = valid, of shape
  ``(B, T)``. Losses and logits are floating point (float16 and bfloat16 are
  computed in float32 and rounded once); targets are integers.
* Masked entries never influence a result or a gradient: logits, targets,
  losses and weights are replaced (``where``) *before* any arithmetic, so NaN or
  inf logits, NaN weights and out-of-range targets under the mask change
  nothing, and in ``tf_impl``/``torch_impl`` the gradient is finite and exactly
  0 there whatever the incoming gradient holds.
* ``reduction`` (:data:`REDUCTIONS`), with per-step losses ``l``, weights ``w``
  (``sample_weight``, or the class weight ``w_y`` of the target; 1 when none)
  and mask ``m``:

  ==================  ===================================================================
  ``"token_mean"``    ``Σ l·w·m / Σ w·m``: the mean over valid tokens (PyTorch's weighted
                      mean when there are weights)
  ``"keras"``         ``Σ l·w·m / count(m)``: Keras 3's ``"sum_over_batch_size"`` with a
                      mask (divided by the number of valid entries, not by ``Σ w·m``)
  ``"sequence_mean"`` the ``token_mean`` of each row, then the plain mean over the rows
                      whose denominator is not 0 (short rows weigh as much as long ones)
  ``"sum"``           ``Σ l·w·m``
  ``"weighted_mean"`` ``Σ l·w·m / Σ w·m``: Keras's ``"mean_with_sample_weight"`` (the same
                      number as ``"token_mean"``; both names are kept for their users)
  ``"none"``          ``l·w`` per step, exactly 0 at masked steps
  ==================  ===================================================================

* ``empty`` (:data:`EMPTY`): what a mean with a zero denominator (no valid
  entry) gives: ``"zero"`` (Keras: ``divide_no_nan``) or ``"nan"`` (PyTorch: an
  all-ignored batch). ``"sum"`` of nothing is 0 and ``"none"`` has no division.
* Results are 0-d arrays of the data's dtype (``"none"``: ``(B, T)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .checks import (
    check_choice,
    check_data,
    check_flag,
    check_int,
    check_integer_dtype,
    check_mask_dtype,
    check_numeric,
    check_rank,
    check_scalar,
)
from .core import Backend, frontend
from .types import Array, ArrayLike

#: The reductions of :func:`masked_loss`, :func:`masked_cross_entropy` and
#: :func:`accumulated_loss` (which returns one scalar, so not ``"none"``).
REDUCTIONS = ("token_mean", "keras", "sequence_mean", "sum", "weighted_mean", "none")
#: What a mean over no valid entry gives.
EMPTY = ("zero", "nan")
#: Floating dtypes a loss or logits may have.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: Keras's ``backend.epsilon()``: probabilities are clipped to ``[eps, 1 - eps]``.
KERAS_EPSILON = 1e-7
_INT64 = (-(2**63), 2**63 - 1)
_OPTIONS = (
    "ignore_index",
    "class_weight",
    "label_smoothing",
    "from_logits",
    "shift",
    "reduction",
    "empty",
)


def _base(dtype_name: str) -> str:
    return dtype_name.rsplit(".", 1)[-1].strip("<>' ")


def check_float_dtype(dtype_name: str, name: str) -> None:
    """Raise ``TypeError`` unless ``dtype_name`` is float16, bfloat16, float32 or float64.

    >>> check_float_dtype("int64", "logits")
    Traceback (most recent call last):
    ...
    TypeError: logits must have a floating dtype (float16, bfloat16, float32, float64), got int64
    """
    if _base(dtype_name) not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have a floating dtype ({', '.join(FLOAT_DTYPES)}), got {dtype_name}"
        )


def work_dtype(dtype_name: str) -> str:
    """The dtype a loss of ``dtype_name`` is computed in: float16 and bfloat16 in float32.

    >>> work_dtype("float16"), work_dtype("float64")
    ('float32', 'float64')
    """
    name = _base(dtype_name)
    return "float32" if name in ("float16", "bfloat16") else name


def _same_shape(got: tuple, want: tuple, name: str, want_text: str) -> None:
    """``ValueError`` unless ``got == want`` (``None``, an unknown static size, matches)."""
    ok = len(got) == len(want) and all(a is None or b is None or a == b for a, b in zip(got, want))
    if not ok:
        raise ValueError(f"{name} must have shape {want_text} {tuple(want)}, got {tuple(got)}")


def _floats(B: Backend, x: object, name: str, rank: int, like: object = None) -> Array:
    arr = B.a.asarray(x, name, like)
    check_float_dtype(B.a.dtype_name(arr), name)
    check_rank(B.a.shape_of(arr), rank, name)
    return arr


def _mask(B: Backend, mask: object, shape: tuple, like: object, name: str = "mask") -> Array:
    arr = B.a.asarray(mask, name, like)
    check_mask_dtype(B.a.dtype_name(arr), name)
    _same_shape(B.a.shape_of(arr), shape, name, "(B, T)")
    return arr


def _sample_weight(B: Backend, sample_weight: object, shape: tuple, like: object) -> Array | None:
    """None, or numeric weights of shape ``(B, T)`` (per step), ``(B,)`` or ``(B, 1)`` (per row)."""
    if sample_weight is None:
        return None
    arr = B.a.asarray(sample_weight, "sample_weight", like)
    check_numeric(B.a.dtype_name(arr), "sample_weight")
    got = B.a.shape_of(arr)
    b = shape[0]
    for want in (shape, (b,), (b, 1)):
        if len(got) == len(want) and all(
            x is None or y is None or x == y for x, y in zip(got, want)
        ):
            return arr
    raise ValueError(
        f"sample_weight must have shape (B, T) {tuple(shape)} (one weight per step) or "
        f"(B,) ({b},) (one per row), got {tuple(got)}"
    )


def cross_entropy_options(
    ignore_index: object,
    label_smoothing: object,
    from_logits: object,
    shift: object,
    reduction: object,
    empty: object,
    *,
    scalar: bool = False,
) -> tuple[int | None, float, bool, bool, str, str]:
    """The checked options of :func:`masked_cross_entropy`: ``(ignore_index, label_smoothing,
    from_logits, shift, reduction, empty)`` (``scalar``: ``"none"`` is refused).

    >>> cross_entropy_options(-100, 0, True, False, "sum", "nan")
    (-100, 0.0, True, False, 'sum', 'nan')
    """
    if ignore_index is not None:
        ignore_index = check_int(ignore_index, "ignore_index")
        if not _INT64[0] <= ignore_index <= _INT64[1]:
            raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
    if isinstance(label_smoothing, (bool, np.bool_)) or label_smoothing is None:
        raise TypeError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    check_scalar(label_smoothing, "label_smoothing")
    smoothing = float(label_smoothing)  # type: ignore[arg-type]
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {smoothing}")
    from_logits = check_flag(from_logits, "from_logits")
    shift = check_flag(shift, "shift")
    check_choice("reduction", reduction, REDUCTIONS[:-1] if scalar else REDUCTIONS)
    check_choice("empty", empty, EMPTY)
    return ignore_index, smoothing, from_logits, shift, reduction, empty  # type: ignore[return-value]


def _class_weight(B: Backend, class_weight: object, classes: int | None, like: object) -> Array:
    if class_weight is None:
        return None
    arr = B.a.asarray(class_weight, "class_weight", like)
    check_numeric(B.a.dtype_name(arr), "class_weight")
    _same_shape(B.a.shape_of(arr), (classes,), "class_weight", "(C,)")
    return arr


def _out_of_range(B: Backend, targets: Array, counted: Array | None, classes: object) -> None:
    """Require class indices in ``[0, C)`` wherever a target is counted."""
    ok = (targets >= 0) & (targets < classes)
    if counted is not None:
        ok = ok | ~counted

    def error() -> ValueError:
        values = np.asarray(B.a.numpy(targets))
        bad = ~np.asarray(B.a.numpy(ok))
        first = values[bad].flat[0].item() if bad.any() else "?"
        return ValueError(
            f"targets must be class indices in [0, {classes}) where counted (mask and "
            f"ignore_index), got {first}"
        )

    B.require(B.a.all(ok), error, "targets must be class indices in [0, C) where counted")


def _batch(
    B: Backend,
    logits: ArrayLike,
    targets: ArrayLike,
    mask: ArrayLike | None,
    ignore_index: int | None,
    shift: bool,
    where: str = "",
) -> tuple[Array, Array, Array | None, int | None, Any]:
    """Checked ``(logits, targets as int64, counted)`` aligned step by step (after the causal
    shift when ``shift``), the number of classes and the unshifted number of steps (``T``;
    a 0-d tensor when unknown while tracing). ``counted`` is None when every step counts."""
    logits = _floats(B, logits, f"{where}logits", 3)
    shape = B.a.shape_of(logits)
    classes = shape[-1]
    if classes == 0:
        raise ValueError(f"{where}logits must have at least one class, got shape {shape}")
    targets = B.a.asarray(targets, f"{where}targets", logits)
    check_integer_dtype(B.a.dtype_name(targets), f"{where}targets")
    _same_shape(B.a.shape_of(targets), shape[:-1], f"{where}targets", "(B, T) =")
    if mask is not None:
        mask = _mask(B, mask, shape[:-1], logits, f"{where}mask")
    targets = B.a.int64(targets)
    steps = B.a.dim(logits, 1)
    if shift:  # logits[:, t] predict targets[:, t + 1], counted where mask[:, t + 1]
        logits, targets = logits[:, :-1], targets[:, 1:]
        mask = None if mask is None else mask[:, 1:]
    counted = mask
    if ignore_index is not None:
        keep = targets != ignore_index
        counted = keep if counted is None else counted & keep
    _out_of_range(B, targets, counted, classes if classes is not None else B.a.dim(logits, -1))
    return logits, targets, counted, classes, steps


@frontend
def masked_loss(
    B: Backend,
    per_step: ArrayLike,
    mask: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "token_mean",
    empty: str = "zero",
) -> Array:
    """Reduce a ``(B, T)`` per-step loss over the valid steps of ``mask``.

    Rule (``l`` = ``per_step``, ``w`` = ``sample_weight`` or 1, ``m`` = ``mask``):
    ``"token_mean"`` and ``"weighted_mean"`` give ``Σ l·w·m / Σ w·m``;
    ``"keras"`` gives ``Σ l·w·m / count(m)`` (Keras 3's ``sum_over_batch_size``
    with a mask, exactly); ``"sequence_mean"`` the token mean of each row, then
    the mean over rows that have one; ``"sum"`` ``Σ l·w·m``; ``"none"`` ``l·w``
    with 0 at masked steps. A mean over no valid step gives ``empty``
    (``"zero"`` or ``"nan"``).

    ``sample_weight``: numbers of shape ``(B, T)`` (one per step) or ``(B,)``
    (one per row; ``(B, 1)`` too). Keras 3 broadcasts a ``(B,)`` weight against
    the *last* axis of a ``(B, T)`` loss, so it refuses one unless ``B == T``,
    and then weighs steps, not rows: a recorded divergence.

    >>> loss = np.array([[1.0, 2.0, np.nan], [4.0, np.nan, np.inf]], np.float32)
    >>> mask = np.array([[True, True, False], [True, False, False]])
    >>> masked_loss(loss, mask)
    array(2.3333333, dtype=float32)
    >>> masked_loss(loss, mask, reduction="sequence_mean")  # (1.5 + 4) / 2
    array(2.75, dtype=float32)
    >>> masked_loss(loss, mask, sample_weight=np.array([1.0, 3.0]), reduction="keras")
    array(5., dtype=float32)
    >>> masked_loss(loss, mask, sample_weight=np.array([1.0, 3.0]))  # 15 / (1 + 1 + 3)
    array(3., dtype=float32)
    >>> masked_loss(loss, np.zeros((2, 3), bool), empty="nan")
    array(nan, dtype=float32)
    """
    per_step = _floats(B, per_step, "per_step", 2)
    shape = B.a.shape_of(per_step)
    mask = _mask(B, mask, shape, per_step)
    weight = _sample_weight(B, sample_weight, shape, per_step)
    check_choice("reduction", reduction, REDUCTIONS)
    check_choice("empty", empty, EMPTY)
    return B.k.masked_loss(per_step, mask, weight, reduction, empty)


@frontend
def masked_cross_entropy(
    B: Backend,
    logits: ArrayLike,
    targets: ArrayLike,
    mask: ArrayLike | None = None,
    *,
    ignore_index: int | None = None,
    class_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = True,
    shift: bool = False,
    reduction: str = "token_mean",
    empty: str = "zero",
) -> Array:
    """Cross-entropy of ``(B, T, C)`` logits against ``(B, T)`` integer targets, over the
    counted steps.

    A step is *counted* where ``mask`` (None: every step) AND ``targets !=
    ignore_index`` (None: no index is ignored; Hugging Face uses -100, PyTorch's
    default). Counted targets must be class indices in ``[0, C)``
    (``ValueError``); anything at an uncounted step is ignored. An ignored class
    inside ``[0, C)`` still takes part in every softmax (as in PyTorch).

    Per step, with ``logp = log_softmax(logits)``, ``ε = label_smoothing``,
    class weights ``w`` (1 when None) and ``y`` the target::

        l = (1 - ε)·w_y·(-logp_y) + (ε / C)·Σ_c w_c·(-logp_c),   weight w_y

    (PyTorch's ``cross_entropy`` with ``weight``, ``label_smoothing`` and
    ``ignore_index``); the reductions are :func:`masked_loss`'s with that
    weight, so ``"token_mean"`` is PyTorch's ``Σ l / Σ w_y`` over counted steps
    and ``empty="nan"`` gives its NaN for an all-ignored batch.
    ``from_logits=False``: ``logits`` are probabilities, clipped to
    ``[1e-7, 1 - 1e-7]`` and renormalised (``log_softmax(log(clip(p)))``,
    Keras's rule on TensorFlow).

    ``shift=True`` is the causal-LM rule: ``logits[:, :-1]`` predict
    ``targets[:, 1:]``, counted where ``mask[:, 1:]`` (and ``targets[:, 1:] !=
    ignore_index``), as Hugging Face's ``ForCausalLMLoss`` does with labels
    padded by -100 (the count is of shifted labels: one fewer per row than
    the unshifted labels). With ``reduction="none"`` the result is ``(B, T)``,
    aligned with the logits (step ``t`` holds the loss of predicting
    ``targets[:, t + 1]``; the last step is 0).

    >>> logits = np.zeros((1, 3, 4), np.float32)  # uniform: every loss is log(4)
    >>> masked_cross_entropy(logits, [[1, 3, 9]], [[True, True, False]])
    array(1.3862944, dtype=float32)
    >>> masked_cross_entropy(logits, [[1, -100, 2]], ignore_index=-100, reduction="sum")
    array(2.7725887, dtype=float32)
    >>> masked_cross_entropy(logits, [[5, 1, 2]], shift=True, reduction="none")
    array([[1.3862944, 1.3862944, 0.       ]], dtype=float32)
    >>> masked_cross_entropy(logits, [[0, 0, 0]], [[False, False, False]], empty="nan")
    array(nan, dtype=float32)
    """
    ignore_index, smoothing, from_logits, shift, reduction, empty = cross_entropy_options(
        ignore_index, label_smoothing, from_logits, shift, reduction, empty
    )
    logits, targets, counted, classes, steps = _batch(B, logits, targets, mask, ignore_index, shift)
    weight = _class_weight(B, class_weight, classes, logits)
    return B.k.masked_cross_entropy(
        logits,
        targets,
        counted,
        weight,
        smoothing,
        from_logits,
        steps if shift else None,
        reduction,
        empty,
    )


@frontend
def masked_accuracy(B: Backend, logits: ArrayLike, targets: ArrayLike, mask: ArrayLike) -> Array:
    """The token mean of ``argmax(logits) == targets`` over the valid steps of ``mask``.

    Rule: ``Σ m·[argmax_c logits[..., c] == y] / count(m)``; the first largest
    logit wins a tie (NumPy's ``argmax``); 0 when no step is valid (Keras's
    metrics divide with ``divide_no_nan``). Logits, NaN included, and targets
    at masked steps are ignored; a valid target must be a class index in
    ``[0, C)`` (``ValueError``). float16 and bfloat16 logits give a float32
    result, float32 and float64 keep their dtype.

    Over batches of different padded lengths, :class:`TokenMean` (or
    ``tf_impl.MaskedAccuracy``) gives the token mean of the concatenation; Keras's
    ``SparseCategoricalAccuracy`` does not (a recorded divergence).

    >>> logits = np.array([[[0.0, 1.0], [2.0, 0.0], [np.nan, 0.0]]], np.float32)
    >>> masked_accuracy(logits, [[1, 1, 7]], [[True, True, False]])
    array(0.5, dtype=float32)
    """
    check_data(mask, "mask")
    logits, targets, counted, _, _ = _batch(B, logits, targets, mask, None, False)
    return B.k.masked_accuracy(logits, targets, counted)


@frontend
def accumulated_loss(B: Backend, micro_batches: Sequence[tuple], **options: Any) -> Array:
    """The cross-entropy of the concatenated big batch, from its micro-batches.

    ``micro_batches``: a non-empty sequence of ``(logits, targets, mask)``
    triples (``mask`` may be None), each as :func:`masked_cross_entropy` takes
    them; ``options``: :func:`masked_cross_entropy`'s keyword options
    (``ignore_index``, ``class_weight``, ``label_smoothing``, ``from_logits``,
    ``shift``, ``reduction``, ``empty``), except ``reduction="none"``.

    Rule: each micro-batch contributes the numerator and the denominator of the
    reduction (``Σ l·w`` and ``Σ w`` for ``"token_mean"``; ``count`` for
    ``"keras"``; the sum of row means and the number of rows for
    ``"sequence_mean"``), and the result is their ratio: the number
    :func:`masked_cross_entropy` gives on all the micro-batches concatenated
    (padded to one length), for any split. It is differentiable: ``backward()``
    gives each micro-batch its share of the big batch's gradient. Averaging
    per-micro-batch means instead is the gradient-accumulation bug of
    transformers#34191; Hugging Face's fix divides the summed loss by
    ``num_items_in_batch``, the count of counted (shifted) labels.

    >>> a = (np.zeros((1, 2, 2), np.float32), [[0, 1]], [[True, True]])
    >>> b = (np.array([[[0.0, 3.0]]], np.float32), [[1]], [[True]])
    >>> accumulated_loss([a, b])  # (log 2 + log 2 + 0.0486) / 3
    array(0.4782939, dtype=float32)
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(
            f"accumulated_loss got unexpected option(s) {', '.join(unknown)}; the options are "
            f"masked_cross_entropy's: {', '.join(_OPTIONS)}"
        )
    ignore_index, smoothing, from_logits, shift, reduction, empty = cross_entropy_options(
        options.get("ignore_index"),
        options.get("label_smoothing", 0.0),
        options.get("from_logits", True),
        options.get("shift", False),
        options.get("reduction", "token_mean"),
        options.get("empty", "zero"),
        scalar=True,
    )
    if (
        micro_batches is None
        or isinstance(micro_batches, (str, bytes))
        or B.a.is_tensor(micro_batches)
    ):
        raise TypeError(
            f"micro_batches must be a sequence of (logits, targets, mask) triples, got "
            f"{type(micro_batches).__name__}"
        )
    batches = list(micro_batches)
    if not batches:
        raise ValueError("micro_batches must hold at least one (logits, targets, mask) triple")
    checked, classes, dtype = [], None, None
    for i, triple in enumerate(batches):
        if not isinstance(triple, (tuple, list)) or len(triple) != 3:
            raise TypeError(
                f"micro_batches[{i}] must be a (logits, targets, mask) triple, got "
                f"{type(triple).__name__}"
            )
        logits, targets, counted, c, _ = _batch(
            B, *triple, ignore_index, shift, where=f"micro_batches[{i}] "
        )
        name = B.a.dtype_name(logits)
        if i and (c != classes or name != dtype):
            raise ValueError(
                f"micro_batches[{i}] logits have {c} classes of {name}; micro_batches[0] "
                f"logits have {classes} of {dtype}: every micro-batch must have the same"
            )
        classes, dtype = c, name
        checked.append((logits, targets, counted))
    weight = _class_weight(B, options.get("class_weight"), classes, checked[0][0])
    return B.k.accumulated_loss(checked, weight, smoothing, from_logits, reduction, empty)


# --- TokenMean: one streaming implementation over every backend ---------------------------------


class TokenMeanState:
    """A streaming token mean: ``update(values, mask)`` for each batch, ``result()`` at the end.

    The state is the sum of the valid values (float64) and their count (int64):
    ``result()`` is ``total / count``, so the value over an epoch equals the
    token mean of the concatenated batches, whatever their padded lengths
    (Keras's ``Mean`` metrics weigh each batch by ``1 / T`` instead). Each
    backend's ``TokenMean`` is this class bound to it (:func:`token_mean_class`);
    it runs eagerly. ``empty`` (``"zero"``, the default, or ``"nan"``): the
    result before any valid value. The result has the dtype of the values
    (float16 and bfloat16: float32; float32 before any update).

    >>> import reference
    >>> metric = reference.TokenMean()
    >>> metric.update(np.array([[1.0, 2.0, 0.0]]), np.array([[True, True, False]]))
    >>> metric.update(np.array([[6.0]]), np.array([[True]]))
    >>> metric.result()
    array(3.)
    >>> metric.reset(); metric.result()
    array(0., dtype=float32)
    """

    backend: Backend

    def __init__(self, empty: str = "zero") -> None:
        self.empty = check_choice("empty", empty, EMPTY)
        self.reset()

    def __repr__(self) -> str:
        return f"{self.backend.package}.TokenMean(empty={self.empty!r})"

    def reset(self) -> None:
        """Forget every update."""
        self.total: Array | None = None
        self.count: Array | None = None
        self.dtype = "float32"

    def update(self, values: ArrayLike, mask: ArrayLike) -> None:
        """Add the valid steps of ``(B, T)`` float ``values`` (``mask``: ``(B, T)`` bool)."""
        B = self.backend
        values = _floats(B, values, "values", 2)
        mask = _mask(B, mask, B.a.shape_of(values), values)
        total, count = B.kernel("losses", "token_sums")(values, mask)
        self.dtype = work_dtype(B.a.dtype_name(values))
        if self.total is None:
            self.total, self.count = total, count
        else:
            self.total, self.count = self.total + total, self.count + count

    def result(self) -> Array:
        """``total / count`` (``empty`` when nothing valid was seen), a 0-d array."""
        return self.backend.kernel("losses", "token_result")(
            self.total, self.count, self.empty, self.dtype
        )


def token_mean_class(backend: Backend) -> type:
    """The ``TokenMean`` class of ``backend``: :class:`TokenMeanState` bound to it."""
    return type(
        "TokenMean",
        (TokenMeanState,),
        {"backend": backend, "__module__": backend.package, "__doc__": TokenMeanState.__doc__},
    )

"""Keras's and PyTorch's own recurrent layers, measured against ``reference.recurrence``.

**Keras** (``keras.layers.SimpleRNN``/``LSTM``/``GRU``/``Bidirectional``):
each layer is built once per configuration and input width, its weights set
from the drawn Keras-layout weights, and called with ``mask=`` (and
``initial_state=`` when drawn) on float32 ``x`` with NaN/inf at masked steps;
the reference is :func:`reference.lstm` (and friends) with the same weights.
On the TensorFlow backend the call is traced once in a ``tf.function``
(``reduce_retracing``): the same ``backend.rnn`` code as an eager call (no
cuDNN on these machines), 50x faster. Divergence cases call Keras eagerly.

**PyTorch** (``torch.nn.RNN``/``LSTM``/``GRU``): the module gets the same
weights through :func:`reference.lstm_weights_keras_to_torch` (and friends) and
runs either on ``pack_padded_sequence(x, mask.sum(1), batch_first=True,
enforce_sorted=False)`` (outputs back through ``pad_packed_sequence(...,
total_length=T)``) or on the padded batch as it is; the candidate returns
``(outputs, h_n[, c_n])`` (``h_n`` of each direction) and the reference the
sequence with ``return_state=True``. Padded steps hold NaN where the API never
reads them (packed), 0.0 where it does (padded), as real padding would. The
modules run PyTorch's native kernels (oneDNN off: its LSTM builds a primitive
per new shape, 40x slower for drawn shapes; the same results).

Inputs: ``B <= 3``, ``T <= 4``, ``D <= 2``, 1-2 units; values from drawn seeds
(x in [-2, 2], weights in [-1, 1]). Tolerances: float32 1e-5 / 1e-5 (float64
1e-10); the gradient case compares with central differences of the float64
reference (1e-4 / 1e-5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

import reference as ref
from maskref.api.recurrence import GATES, STATES
from reference import strategies as rs

from .core import Case, Inputs, OnBackend, case_family
from .operations import FLOAT_TOLERANCES

F32 = np.float32
KERAS = ("keras",)
TORCH = ("torch",)
KERAS_NAMES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
TORCH_NAMES = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
LAYER_ARGS = ("kernel", "recurrent_kernel", "bias")


# -- inputs --------------------------------------------------------------------------------


def _uniform(draw, shape: tuple[int, ...], scale: float) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.uniform(-scale, scale, shape).astype(F32)


def _weights(draw, kind: str, features: int, units: int, reset_after: bool = True) -> tuple:
    n = GATES[kind]
    bias_shape = (2, n * units) if kind == "gru" and reset_after else (n * units,)
    return (
        _uniform(draw, (features, n * units), 1.0),
        _uniform(draw, (units, n * units), 1.0),
        _uniform(draw, bias_shape, 1.0),
    )


@st.composite
def _inputs(
    draw,
    kind: str,
    *,
    layout: str | None = None,
    empty_rows: bool = True,
    padding: str = "nan",
    states: bool | str = True,
    bidirectional: bool = False,
    reset_after: bool = True,
    fixed_widths: bool = False,
    first_valid: bool = False,
    **flags: Any,
) -> Inputs:
    """``x``, ``mask``, the weights (``kernel``... or ``forward_weights`` and
    ``backward_weights``), sometimes ``initial_state``; ``flags`` are strategies (or values)
    of keyword options. ``padding``: "nan" (NaN/inf at masked steps) or "zeros".
    ``fixed_widths``: D = 2 features and 2 units (Keras cases: fewer traces).
    ``states``: True (sometimes), False or "always"; ``first_valid``: every row's
    first step is valid."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    d, units = (2, 2) if fixed_widths else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mask = np.array(draw(rs.masks((b, t), layout=layout)))
    if first_valid:
        mask[:, 0] = True
    if not empty_rows:
        mask[:, 0] |= ~mask.any(axis=1)  # a valid first step where a row had none
        if layout == "pre":
            mask = np.sort(mask, axis=1)
    x = _uniform(draw, (b, t, d), 2.0)
    fill = draw(st.sampled_from([np.nan, np.inf, -np.inf])) if padding == "nan" else 0.0
    x[~mask] = fill
    inputs: Inputs = dict(x=x, mask=mask)
    if bidirectional:
        inputs["forward_weights"] = _weights(draw, kind, d, units, reset_after)
        inputs["backward_weights"] = _weights(draw, kind, d, units, reset_after)
    else:
        inputs.update(zip(LAYER_ARGS, _weights(draw, kind, d, units, reset_after)))
    count = STATES[kind] * (2 if bidirectional else 1)
    if states == "always" or (states and draw(st.booleans())):
        inputs["initial_state"] = [_uniform(draw, (b, units), 1.0) for _ in range(count)]
    for name, value in flags.items():
        inputs[name] = draw(value) if isinstance(value, st.SearchStrategy) else value
    return inputs


def _one(kind: str, steps: list[bool], values: list[float] | None = None, **extra: Any) -> Inputs:
    """A pinned example: one row, D = 1, one unit, weights 0.5 (bias 0)."""
    n = GATES[kind]
    mask = np.array([steps])
    x = np.array([[[v] for v in (values or [1.0] * len(steps))]], F32)
    bias = np.zeros((2, n) if kind == "gru" else (n,), F32)
    weights = (np.full((1, n), 0.5, F32), np.full((1, n), 0.5, F32), bias)
    inputs: Inputs = dict(x=x, mask=mask)
    if extra.pop("bidirectional", False):
        inputs.update(forward_weights=weights, backward_weights=weights)
    else:
        inputs.update(zip(LAYER_ARGS, weights))
    return {**inputs, **extra}


#: Why Keras on JAX starts a masked layer's carried output at the initial state.
JAX_CARRIES_THE_STATE = (
    "on JAX, Keras carries the initial state's h as the previous output, as the reference "
    "does: masked steps before a row's first valid step (and a fully masked row) output the "
    "initial h."
)


def _reference(kind: str, **fixed: Any):
    """The reference layer (or ``bidirectional`` of it) on the inputs, with ``fixed`` options."""

    def call(inputs: Inputs) -> Any:
        args = {**inputs, **fixed}
        if "forward_weights" in args:
            return ref.bidirectional(getattr(ref, kind), **args)
        return getattr(ref, kind)(**args)

    return call


# -- Keras ---------------------------------------------------------------------------------

_LAYERS: dict[tuple, Any] = {}
#: Options read from the inputs and given to the layer's constructor.
CONSTRUCTOR = ("return_sequences", "return_state", "go_backwards", "zero_output_for_mask")


def _keras_layer(
    kind: str,
    features: int,
    units: int,
    options: tuple,
    bidirectional: bool,
    steps: int,
    states: int,
):
    """A built Keras layer (cached per configuration) and its call: on TensorFlow traced once
    per configuration (batch and time sizes left open; the time fixed for ``unroll``)."""
    key = (kind, features, units, options, bidirectional)
    if key not in _LAYERS:
        import keras

        cls = getattr(keras.layers, KERAS_NAMES[kind])
        layer = cls(units, **dict(options))
        if bidirectional:
            layer = keras.layers.Bidirectional(layer)
        layer.build((None, None, features))
        _LAYERS[key] = (layer, {})
    layer, runs = _LAYERS[key]
    time = steps if dict(options).get("unroll") else None
    if (time, states) not in runs:
        import keras

        def run(x, mask, *states):
            return layer(x, mask=mask, initial_state=list(states) if states else None)

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            signature = [
                tf.TensorSpec([None, time, features], tf.float32),
                tf.TensorSpec([None, time], tf.bool),
                *[tf.TensorSpec([None, units], tf.float32)] * states,
            ]
            run = tf.function(run, input_signature=signature)
        runs[(time, states)] = run
    return layer, runs[(time, states)]


def _keras(kind: str, eager: bool = False, **fixed: Any):
    """Keras's layer on the inputs: ``fixed`` options and the inputs' ``CONSTRUCTOR`` ones go
    to its constructor; its outputs as a list (or one array)."""

    def call(inputs: Inputs) -> Any:
        options = {**fixed, **{k: bool(inputs[k]) for k in CONSTRUCTOR if k in inputs}}
        bidirectional = "forward_weights" in inputs
        weights = inputs["forward_weights"] if bidirectional else [inputs[a] for a in LAYER_ARGS]
        features, units = weights[0].shape[0], weights[1].shape[0]
        states = inputs.get("initial_state") or []
        layer, run = _keras_layer(
            kind, features, units, tuple(sorted(options.items())), bidirectional,
            inputs["x"].shape[1], len(states),
        )  # fmt: skip
        if bidirectional:
            layer.forward_layer.set_weights(list(inputs["forward_weights"]))
            layer.backward_layer.set_weights(list(inputs["backward_weights"]))
        else:
            layer.set_weights(weights)
        if eager:
            out = layer(inputs["x"], mask=inputs["mask"], initial_state=states or None)
        else:
            out = run(inputs["x"], inputs["mask"], *states)
        return _numpy(out)

    return call


def _numpy(out: Any) -> Any:
    """Keras outputs (one or a list) as NumPy on any backend (torch's may require grad)."""
    from keras import ops

    if isinstance(out, (list, tuple)):
        return [ops.convert_to_numpy(o) for o in out]
    return ops.convert_to_numpy(out)


def _keras_auto_mask(kind: str):
    """The layer called on the output of ``keras.layers.Masking(0.0)`` with ``initial_state=``
    and no ``mask=``: Keras should take the mask from the tensor."""

    def call(inputs: Inputs) -> Any:
        import keras

        x = np.where(inputs["mask"][..., None], inputs["x"], F32(0))
        layer = getattr(keras.layers, KERAS_NAMES[kind])(
            inputs["recurrent_kernel"].shape[0], return_sequences=True
        )
        layer.build((None, None, x.shape[2]))
        layer.set_weights([inputs[a] for a in LAYER_ARGS])
        masked = keras.layers.Masking(0.0)(x)
        return _numpy(layer(masked, initial_state=list(inputs["initial_state"])))

    return call


def _zero_output_drawn(inputs: Inputs) -> st.SearchStrategy[Inputs]:
    """``zero_output_for_mask`` drawn where the sequence is returned (the last output with
    it is a recorded divergence of its own)."""
    if not inputs.get("return_sequences"):
        return st.just(inputs)
    return st.booleans().map(lambda zero: {**inputs, "zero_output_for_mask": zero})


def _zero_states(kind: str, inputs: Inputs) -> list[np.ndarray]:
    shape = (inputs["x"].shape[0], inputs["recurrent_kernel"].shape[0])
    return [np.zeros(shape, F32) for _ in range(STATES[kind])]


def _with_zero_states(kind: str) -> Callable[[Inputs], Inputs]:
    """The inputs with ``initial_state`` set to zeros."""
    return lambda i: {**i, "initial_state": _zero_states(kind, i)}


def _masked_zeros(inputs: Inputs) -> Inputs:
    """The inputs with 0.0 at masked steps (what ``Masking(0.0)`` reads as padding)."""
    return {**inputs, "x": np.where(inputs["mask"][..., None], inputs["x"], F32(0))}


def _keras_gradient(kind: str):
    """The gradient of ``sum(outputs)`` with respect to the layer's kernel, in Keras."""

    def call(inputs: Inputs) -> Any:
        import keras

        units = inputs["recurrent_kernel"].shape[0]
        layer = getattr(keras.layers, KERAS_NAMES[kind])(units, return_sequences=True)
        layer.build((None, None, inputs["x"].shape[2]))
        layer.set_weights([inputs[a] for a in LAYER_ARGS])
        x, mask = inputs["x"], inputs["mask"]
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                total = tf.reduce_sum(layer(x, mask=mask))
            return np.asarray(tape.gradient(total, layer.cell.kernel.value))
        if backend == "torch":
            import torch

            total = layer(torch.from_numpy(x), mask=torch.from_numpy(mask)).sum()
            (grad,) = torch.autograd.grad(total, [layer.cell.kernel.value])
            return grad.numpy()
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        others = [v.value for v in layer.non_trainable_variables]
        index = [id(v) for v in layer.trainable_variables].index(id(layer.cell.kernel))

        def summed(values):
            out, _ = layer.stateless_call(values, others, x, mask=mask)
            return out.sum()

        return np.asarray(jax.grad(summed)(trainable)[index])

    return call


def _reference_gradient(kind: str):
    """d sum(outputs) / d kernel by central differences of the float64 reference: NaN/inf at
    masked steps change nothing (maskref's rule)."""

    def call(inputs: Inputs) -> Any:
        args = {k: v.astype(np.float64) for k, v in inputs.items() if k in (*LAYER_ARGS, "x")}
        kernel = args.pop("kernel")
        grad, eps = np.zeros_like(kernel), 1e-6
        for index in np.ndindex(kernel.shape):
            total = []
            for sign in (1, -1):
                k = kernel.copy()
                k[index] += sign * eps
                out = getattr(ref, kind)(
                    mask=inputs["mask"], kernel=k, return_sequences=True, **args
                )
                total.append(out.sum())
            grad[index] = (total[0] - total[1]) / (2 * eps)
        return grad.astype(F32)

    return call


def _keras_cases() -> list[Case]:
    cases: list[Case] = []
    flags: dict[str, Any] = dict(
        return_sequences=st.booleans(), go_backwards=st.booleans(), fixed_widths=True
    )
    for kind, name in KERAS_NAMES.items():
        api = f"keras.layers.{name}"
        family = case_family(
            operation=kind,
            api=api,
            reference=_reference(kind),
            candidate=_keras(kind),
            requires=KERAS,
            tolerances=FLOAT_TOLERANCES,
        )
        unroll = dict(unroll=True, go_backwards=True, zero_output_for_mask=True)
        cases += [
            family(
                domain="mask= post/pre/holes/empty rows, NaN/inf at masked steps; "
                "return_sequences, go_backwards (and zero_output_for_mask with "
                "return_sequences) drawn",
                inputs=lambda kind=kind: _inputs(kind, states=False, **flags).flatmap(
                    _zero_output_drawn
                ),
                candidate=_keras(kind, return_state=True),
                reference=_reference(kind, return_state=True),
            ),
            family(
                domain="initial_state=, every row's first step valid (post/holes), "
                "return_sequences drawn",
                inputs=lambda kind=kind: _inputs(
                    kind,
                    states="always",
                    first_valid=True,
                    return_sequences=st.booleans(),
                    fixed_widths=True,
                ),
                candidate=_keras(kind, return_state=True),
                reference=_reference(kind, return_state=True),
            ),
            family(
                "previous-output-starts-at-zero",
                lambda kind=kind: _inputs(kind, states="always", return_sequences=True),
                {
                    **_one(kind, [False, True], return_sequences=True),
                    "initial_state": [np.full((1, 1), 0.5, F32)] * STATES[kind],
                },
                "Keras's TensorFlow (and torch) backend starts the carried output at 0, so "
                "masked steps before a row's first valid step (and a fully masked row) output "
                "0 whatever initial_state; the reference starts at the initial h (Keras's "
                "contract: the first state is the previous output), as Keras's JAX backend "
                "does. With the default zero initial state both agree.",
                api=f"{api}(initial_state=...)",
                keras_elsewhere={"jax": OnBackend(None, JAX_CARRIES_THE_STATE)},
            ),
            family(
                "zero-output-for-mask-zeroes-last-output",
                lambda kind=kind: _inputs(kind),
                _one(kind, [True, False]),
                "with zero_output_for_mask=True and return_sequences=False Keras returns the "
                "output of the last step processed, which is 0 when that step is masked "
                "(backend.rnn's last_output = outputs[-1]); the reference returns the last "
                "valid output, as cuDNN, PyTorch's h_n and zero_output_for_mask=False do.",
                api=f"{api}(zero_output_for_mask=True)",
                candidate=_keras(kind, zero_output_for_mask=True),
                reference=_reference(kind, zero_output_for_mask=True),
            ),
            family(
                "unroll-zeroes-by-the-unreversed-mask",
                lambda kind=kind: _inputs(kind, return_sequences=True),
                _one(kind, [True, False], return_sequences=True),
                "with unroll=True, go_backwards=True and zero_output_for_mask=True the outputs "
                "(in processing order, reversed) are zeroed with the mask in input order, so "
                "valid steps become 0 and masked ones keep the carried output "
                "(keras-team/keras#17596); without unroll the same layer agrees.",
                api=f"{api}(unroll=True, go_backwards=True, zero_output_for_mask=True)",
                candidate=_keras(kind, **unroll),
                reference=_reference(kind, go_backwards=True, zero_output_for_mask=True),
            ),
            family(
                "initial-state-turns-the-mask-off",
                lambda kind=kind: _inputs(kind, states=False, padding="zeros").map(
                    _with_zero_states(kind)
                ),
                {
                    **_one(kind, [True, False], [1.0, 0.0]),
                    "initial_state": [np.zeros((1, 1), F32)] * STATES[kind],
                },
                "called on Masking's output with initial_state= and no mask=, the layer runs "
                "unmasked (two tensor arguments: Keras does not fill in mask=), although its "
                "output still carries the mask; pass mask= explicitly with initial_state.",
                api=f"keras.layers.Masking(0.0) -> {api}(..., initial_state=...)",
                candidate=_keras_auto_mask(kind),
                reference=lambda i, kind=kind: _reference(kind, return_sequences=True)(
                    _masked_zeros(i)
                ),
            ),
        ]
    lstm = case_family(
        operation="lstm",
        api="keras.layers.LSTM",
        reference=_reference("lstm"),
        candidate=_keras("lstm"),
        requires=KERAS,
        tolerances=FLOAT_TOLERANCES,
    )
    gru = case_family(
        operation="gru",
        api="keras.layers.GRU(reset_after=False)",
        reference=_reference("gru", reset_after=False),
        candidate=_keras("gru", reset_after=False),
        requires=KERAS,
        tolerances=FLOAT_TOLERANCES,
        inputs=lambda: _inputs("gru", reset_after=False, states=False, **flags),
    )
    cases += [
        lstm(
            api="keras.layers.LSTM(unroll=True)",
            domain="zero_output_for_mask=False, return_sequences and go_backwards drawn",
            inputs=lambda: _inputs("lstm", states=False, **flags),
            candidate=_keras("lstm", unroll=True),
            keras_elsewhere={
                "torch": OnBackend(
                    "unroll-go-backwards-with-a-mask-raises",
                    "on torch, an unrolled layer with go_backwards=True and a mask raises "
                    "AttributeError ('tuple' object has no attribute 'shape'): the unrolled "
                    "loop reverses the list of per-step masks with a tensor flip. Without "
                    "go_backwards, without unroll or without a mask it agrees.",
                    _one("lstm", [True, False], go_backwards=True),
                )
            },
        ),
        gru(domain="mask= post/pre/holes/empty rows, one bias (3 * units,)"),
        lstm(
            "nan-in-padding-poisons-gradients",
            lambda: _inputs("lstm", states=False),
            _one("lstm", [True, False], [1.0, np.nan]),
            "a masked step is still computed and its output discarded with where: NaN/inf "
            "there make the step's result NaN, and where's gradient times it (0 * NaN) "
            "makes every weight's gradient NaN; maskref replaces masked inputs by 0 first, "
            "so its gradients are those of the valid steps (here: central differences).",
            api="keras.layers.LSTM (gradient of sum(outputs) w.r.t. kernel)",
            candidate=_keras_gradient("lstm"),
            reference=_reference_gradient("lstm"),
            tolerances={"float32": (1e-4, 1e-5)},
        ),
    ]
    bidi = case_family(
        operation="bidirectional",
        requires=KERAS,
        tolerances=FLOAT_TOLERANCES,
    )
    for kind in ("lstm", "gru"):
        name = KERAS_NAMES[kind]
        cases += [
            bidi(
                api=f"keras.layers.Bidirectional({name})",
                domain="mask= post/pre/holes/empty rows, return_sequences drawn, merge concat",
                inputs=lambda kind=kind: _inputs(
                    kind,
                    bidirectional=True,
                    states=False,
                    return_sequences=st.booleans(),
                    fixed_widths=True,
                ),
                candidate=_keras(kind),
                reference=_reference(kind),
            ),
            bidi(
                "unroll-zeroes-valid-backward-steps",
                lambda kind=kind: _inputs(kind, bidirectional=True, states=False),
                _one(kind, [True, False], bidirectional=True),
                "Bidirectional sets zero_output_for_mask=True on both copies of a "
                "return_sequences layer; with unroll=True the backward copy (go_backwards) "
                "then zeroes its reversed outputs with the unreversed mask "
                "(keras-team/keras#17596): valid backward steps become 0.",
                api=f"keras.layers.Bidirectional({name}(return_sequences=True, unroll=True))",
                candidate=_keras(kind, return_sequences=True, unroll=True),
                reference=_reference(kind, return_sequences=True),
            ),
        ]
    return cases


# -- PyTorch -------------------------------------------------------------------------------


_MODULES: dict[tuple, Any] = {}


def _native_kernels():
    """PyTorch's native RNN kernels instead of oneDNN's, whose LSTM builds a primitive for
    every new shape (milliseconds each, 40x PyTorch's native kernel: most of a case's time
    with drawn shapes). The rule the cases record does not depend on the kernel."""
    import torch

    return torch.backends.mkldnn.flags(enabled=False)


def _torch_module(kind: str, inputs: Inputs):
    """The ``nn`` module (cached per configuration) holding the inputs' weights."""
    import torch

    bidirectional = "forward_weights" in inputs
    directions = (
        [inputs["forward_weights"], inputs["backward_weights"]]
        if bidirectional
        else [[inputs[a] for a in LAYER_ARGS]]
    )
    features, units = directions[0][0].shape[0], directions[0][1].shape[0]
    key = (kind, features, units, bidirectional)
    if key not in _MODULES:
        cls = getattr(torch.nn, TORCH_NAMES[kind])
        _MODULES[key] = cls(features, units, batch_first=True, bidirectional=bidirectional)
    module = _MODULES[key]
    convert = getattr(ref, f"{kind}_weights_keras_to_torch")
    with torch.no_grad():
        for suffix, weights in zip(("_l0", "_l0_reverse"), directions):
            for name, value in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), convert(*weights)
            ):
                getattr(module, f"{name}{suffix}").copy_(torch.from_numpy(np.array(value)))
    return module


def _torch(kind: str, packed: bool):
    """``(outputs, h_n, [c_n])`` of the ``nn`` module on the batch (packed or not), each
    state as the list of its directions."""

    def call(inputs: Inputs) -> Any:
        import torch
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        module = _torch_module(kind, inputs)
        x, mask = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["mask"])
        steps = x.shape[1]
        with torch.no_grad(), _native_kernels():
            if packed:
                lengths = mask.sum(dim=1)
                seq = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                out, state = module(seq)
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
            else:
                out, state = module(x)
        states = state if isinstance(state, tuple) else (state,)
        directions = 2 if "forward_weights" in inputs else 1
        flat = [s[d].numpy() for d in range(directions) for s in states]
        return [out.numpy(), *flat]

    return call


def _torch_cases() -> list[Case]:
    cases: list[Case] = []
    for kind, name in TORCH_NAMES.items():
        family = case_family(
            operation=kind,
            api=f"torch.nn.{name} (packed)",
            candidate=_torch(kind, packed=True),
            reference=_reference(kind, return_sequences=True, return_state=True),
            requires=TORCH,
            tolerances=FLOAT_TOLERANCES,
        )
        cases.append(
            family(
                domain="post-padded rows of length >= 1 (NaN in the padding), vs "
                "zero_output_for_mask=True",
                inputs=lambda kind=kind: _inputs(
                    kind, layout="post", empty_rows=False, states=False
                ),
                reference=_reference(
                    kind, return_sequences=True, return_state=True, zero_output_for_mask=True
                ),
            )
        )
    lstm = case_family(
        operation="lstm",
        api="torch.nn.LSTM (packed)",
        candidate=_torch("lstm", packed=True),
        reference=_reference("lstm", return_sequences=True, return_state=True),
        requires=TORCH,
        tolerances=FLOAT_TOLERANCES,
    )
    zero_ref = _reference(
        "lstm", return_sequences=True, return_state=True, zero_output_for_mask=True
    )
    cases += [
        lstm(
            "padded-outputs-are-zeros-not-carried",
            lambda: _inputs("lstm", layout="post", empty_rows=False, states=False),
            _one("lstm", [True, False]),
            "pad_packed_sequence writes padding_value (0.0) at padded steps; Keras's rule "
            "(the reference's default) carries the last valid output there. h_n and c_n agree "
            "(each row's state after its last valid step); zero_output_for_mask=True agrees.",
        ),
        lstm(
            "empty-row-is-refused",
            lambda: _inputs("lstm", layout="post", states=False),
            _one("lstm", [False, False]),
            "pack_padded_sequence raises RuntimeError for a length of 0 (a fully padded row); "
            "Keras and the reference allow it: outputs 0, final state = the initial state.",
            reference=zero_ref,
        ),
        lstm(
            "pre-padding-packs-the-padding",
            lambda: _inputs("lstm", layout="pre", empty_rows=False, states=False, padding="zeros"),
            _one("lstm", [False, True], [0.0, 1.0]),
            "pack_padded_sequence keeps each row's first `length` steps: on a pre-padded "
            "batch (Keras's default padding) it runs the padding and drops the last valid "
            "steps, silently; holes fail the same way. Move the valid steps to the front "
            "first (torch_impl.lstm and MaskedLSTM do).",
            reference=zero_ref,
        ),
        lstm(
            "runs-through-the-padding",
            lambda: _inputs("lstm", layout="post", empty_rows=False, states=False, padding="zeros"),
            _one("lstm", [True, False], [1.0, 0.0]),
            "nn.LSTM has no mask: on the padded batch it runs the padded steps too, so h_n/c_n "
            "are the states after the last padded step and padded outputs are new outputs "
            "(the valid steps of a post-padded row agree).",
            api="torch.nn.LSTM (padded, no packing)",
            candidate=_torch("lstm", packed=False),
        ),
    ]
    for kind in ("lstm", "gru"):
        name = TORCH_NAMES[kind]
        bidi = case_family(
            operation="bidirectional",
            api=f"torch.nn.{name}(bidirectional=True) (packed)",
            candidate=_torch(kind, packed=True),
            reference=_reference(kind, return_sequences=True, return_state=True),
            requires=TORCH,
            tolerances=FLOAT_TOLERANCES,
        )
        cases.append(
            bidi(
                domain="post-padded rows of length >= 1 (NaN in the padding): the backward "
                "direction starts at each row's last valid step",
                inputs=lambda kind=kind: _inputs(
                    kind, layout="post", empty_rows=False, states=False, bidirectional=True
                ),
            )
        )
    cases.append(
        case_family(
            operation="bidirectional",
            requires=TORCH,
            tolerances=FLOAT_TOLERANCES,
            reference=_reference("lstm", return_sequences=True, return_state=True),
        )(
            "backward-direction-reads-the-padding-first",
            lambda: _inputs(
                "lstm",
                layout="post",
                empty_rows=False,
                states=False,
                bidirectional=True,
                padding="zeros",
            ),
            _one("lstm", [True, False], [1.0, 0.0], bidirectional=True),
            "unpacked, the backward direction starts at the last padded step, so even the "
            "valid steps' backward outputs depend on the padding (pytorch/pytorch#3662); "
            "packed, it agrees.",
            api="torch.nn.LSTM(bidirectional=True) (padded, no packing)",
            candidate=_torch("lstm", packed=False),
        )
    )
    return cases


def cases() -> list[Case]:
    """Every Keras and PyTorch recurrence case."""
    return _keras_cases() + _torch_cases()

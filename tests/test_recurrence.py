"""Masked recurrence: the rule's properties, gradients, weights between Keras and PyTorch,
the torch modules and the loaders.

The registry (``maskref/conformance/operations_recurrence.py``) checks every backend
against the reference on drawn inputs; this file checks what a comparison of results
cannot: the laws of the rule (final state = a run over the valid steps alone, an
all-True mask = no mask, pre = post), gradients with NaN/inf planted at masked steps
(finite, exactly 0 there) in TensorFlow and PyTorch, bit-identical weight round trips,
PyTorch's packed fast path against the plain loop (with its default oneDNN kernel too),
graph mode and XLA, the ``Masked*`` modules and the weight loaders.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import installed_backends, require
from helpers import assert_same, plant
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
from reference import strategies as rs

F32 = np.float32
KINDS = ("simple_rnn", "lstm", "gru")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}
CLOSE = dict(rtol=1e-5, atol=1e-6)
#: post-padding, pre-padding, holes, a fully masked row, a length-1 row
MASK = np.array(
    [
        [True, True, True, False, False],
        [False, False, True, True, True],
        [True, False, True, False, True],
        [False, False, False, False, False],
        [False, False, False, True, False],
    ]
)


def weights(kind: str, features: int = 3, units: int = 4, seed: int = 0, reset_after=True):
    rng = np.random.default_rng(seed)
    n = GATES[kind]
    bias_shape = (2, n * units) if kind == "gru" and reset_after else (n * units,)
    return (
        rng.uniform(-1, 1, (features, n * units)).astype(F32),
        rng.uniform(-1, 1, (units, n * units)).astype(F32),
        rng.uniform(-1, 1, bias_shape).astype(F32),
    )


def batch(seed: int = 0, mask: np.ndarray = MASK, features: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-2, 2, mask.shape + (features,)).astype(F32)
    return plant(x, mask)


def layer(module, kind: str):
    return getattr(module, kind)


# --- the laws of the rule (reference; the registry holds every backend to it) --------------


@st.composite
def layer_inputs(draw):
    kind = draw(st.sampled_from(KINDS))
    b, t = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    mask = draw(rs.masks((b, t)))
    seed = draw(st.integers(0, 1000))
    reset_after = draw(st.booleans()) if kind == "gru" else True
    options = {"reset_after": reset_after} if kind == "gru" else {}
    return kind, batch(seed, mask, 2), mask, weights(kind, 2, 3, seed, reset_after), options


@settings(max_examples=25, deadline=None)
@given(layer_inputs(), st.booleans())
def test_final_state_is_a_run_over_the_valid_steps_alone(inputs, backwards):
    kind, x, mask, w, options = inputs
    fn = layer(ref, kind)
    last, *states = fn(x, mask, *w, return_state=True, go_backwards=backwards, **options)
    for i in range(x.shape[0]):
        valid = x[i : i + 1, mask[i]]
        if not valid.shape[1]:
            assert not last[i].any() and all(not s[i].any() for s in states)
            continue
        alone_last, *alone = fn(
            valid, None, *w, return_state=True, go_backwards=backwards, **options
        )
        np.testing.assert_allclose(last[i], alone_last[0], **CLOSE)
        for s, a in zip(states, alone):
            np.testing.assert_allclose(s[i], a[0], **CLOSE)


@settings(max_examples=15, deadline=None)
@given(layer_inputs())
def test_pre_and_post_padding_give_the_same_final_state(inputs):
    kind, x, mask, w, options = inputs
    lengths = mask.sum(axis=1)
    steps = mask.shape[1]
    post, pre = np.zeros_like(x), np.zeros_like(x)
    for i, n in enumerate(lengths):
        post[i, :n] = pre[i, steps - n :] = x[i, mask[i]]
    post_mask, pre_mask = (
        ref.sequence_mask(lengths, steps),
        ref.sequence_mask(lengths, steps, "pre"),
    )
    fn = layer(ref, kind)
    a = fn(post, post_mask, *w, return_state=True, **options)
    b = fn(pre, pre_mask, *w, return_state=True, **options)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, **CLOSE)


@pytest.mark.parametrize("backend", installed_backends())
@pytest.mark.parametrize("kind", KINDS)
def test_an_all_true_mask_is_no_mask(backend, kind):
    from helpers import native

    module = importlib.import_module(backend)
    x = np.random.default_rng(1).uniform(-2, 2, (3, 4, 3)).astype(F32)
    w = [native(backend, a) for a in weights(kind)]
    args = dict(return_sequences=True, return_state=True)
    masked = layer(module, kind)(
        native(backend, x), native(backend, np.ones((3, 4), bool)), *w, **args
    )
    unmasked = layer(module, kind)(native(backend, x), None, *w, **args)
    assert_same(masked, unmasked, **CLOSE)


def test_masked_steps_carry_the_output_or_give_zeros():
    x, w = batch(), weights("lstm")
    carried = ref.lstm(x, MASK, *w, return_sequences=True)
    zeros = ref.lstm(x, MASK, *w, return_sequences=True, zero_output_for_mask=True)
    np.testing.assert_array_equal(zeros[~MASK], 0)
    np.testing.assert_array_equal(zeros[MASK], carried[MASK])
    np.testing.assert_array_equal(carried[0, 3], carried[0, 2])  # post: the last valid output
    np.testing.assert_array_equal(carried[1, :2], 0)  # pre: 0 before the first valid step
    np.testing.assert_array_equal(carried[2, 1], carried[2, 0])  # a hole
    last = ref.lstm(x, MASK, *w, zero_output_for_mask=True)
    np.testing.assert_array_equal(last, carried[:, -1])  # the last valid output either way


@pytest.mark.parametrize("backend", installed_backends())
def test_before_the_first_valid_step_the_output_is_the_initial_h(backend):
    """Keras's contract (the first state is the previous output): a fully padded row outputs
    its initial h and keeps its initial states; leading padding outputs h0 (Keras's
    TensorFlow backend gives 0 there: a recorded divergence)."""
    from helpers import native

    module = importlib.import_module(backend)
    x, w = batch(), weights("lstm")
    h0 = np.full((5, 4), 0.5, F32)
    state = [native(backend, h0), native(backend, -h0)]
    args = [native(backend, a) for a in (x, MASK, *w)]
    out, h, c = module.lstm(*args, initial_state=state, return_sequences=True, return_state=True)
    out, h, c = (np.asarray(a) for a in (out, h, c))
    np.testing.assert_array_equal(out[3], 0.5)
    np.testing.assert_array_equal(h[3], 0.5)
    np.testing.assert_array_equal(c[3], -0.5)
    np.testing.assert_array_equal(out[1, :2], 0.5)  # pre-padding
    last = np.asarray(module.lstm(*args, initial_state=state, zero_output_for_mask=True))
    np.testing.assert_array_equal(last[3], 0.5)
    zeros = np.asarray(
        module.lstm(*args, initial_state=state, return_sequences=True, zero_output_for_mask=True)
    )
    np.testing.assert_array_equal(zeros[~MASK], 0)


def test_rnn_with_a_custom_step_and_no_steps():
    def step(x_t, states):
        h = states[0] * 0.5 + x_t.sum(axis=-1, keepdims=True)
        return h * 2, [h]

    x = np.ones((2, 3, 2), F32)
    mask = np.array([[True, False, True], [False, False, False]])
    last, outputs, (h,) = ref.rnn(step, x, mask, [np.zeros((2, 1), F32)], go_backwards=True)
    np.testing.assert_allclose(outputs[0, :, 0], [4.0, 4.0, 6.0])  # processing order, reversed
    np.testing.assert_allclose(last[:, 0], [6.0, 0.0])
    np.testing.assert_allclose(h[:, 0], [3.0, 0.0])
    last, outputs, state = ref.rnn(step, x[:, :0], mask[:, :0], [np.zeros((2, 1), F32)])
    assert outputs.shape == (2, 0, 1) and last.shape == (2, 1) and not last.any()
    assert state[0].shape == (2, 1)


# --- errors that the bad-input matrix does not reach ---------------------------------------


def _errors(call) -> dict[str, tuple[type, str]]:
    out = {}
    for backend in installed_backends():
        module = importlib.import_module(backend)
        with pytest.raises((TypeError, ValueError)) as info:
            call(module)
        out[backend] = (type(info.value), str(info.value))
    assert len(set(out.values())) == 1, out
    return out["reference"]


@pytest.mark.parametrize(
    ("step", "error", "words"),
    [
        (lambda x_t, s: x_t, TypeError, "step must return (output, new_states)"),
        (lambda x_t, s: (x_t[:, :1], [s[0], s[0]]), ValueError, "2 new state(s) for 1"),
        (lambda x_t, s: (x_t[:, :1], [x_t]), ValueError, "new state 0 has shape"),
    ],
)
def test_a_bad_step_is_named(step, error, words):
    from helpers import native

    def call(module):
        name = module.__name__
        x = native(name, np.ones((2, 3, 2), F32))
        return module.rnn(step, x, None, [native(name, np.zeros((2, 1), F32))])

    cls, message = _errors(call)
    assert cls is error and words in message


def test_bidirectional_options_are_checked():
    w = weights("lstm")
    cls, message = _errors(lambda m: m.bidirectional(m.lstm, batch(), MASK, w, w, unroll=True))
    assert cls is TypeError and "unroll" in message
    cls, message = _errors(
        lambda m: m.bidirectional("lstm", batch(), MASK, w, w, zero_output_for_mask=True)
    )
    assert cls is ValueError and "zero_output_for_mask" in message
    cls, message = _errors(lambda m: m.bidirectional(m.gru, batch(), MASK, w, w))
    assert cls is ValueError and "kernel" in message


# --- weights between Keras and PyTorch -----------------------------------------------------


def _bits(a) -> bytes:
    from helpers import to_numpy

    return b"" if a is None else np.ascontiguousarray(to_numpy(a)).tobytes()


SPECIAL_BIAS = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1e-45, -3.5, 2.0], F32)


@pytest.mark.parametrize("backend", installed_backends())
@pytest.mark.parametrize("kind", KINDS)
def test_weights_there_and_back_are_bit_identical(backend, kind):
    from helpers import native

    module = importlib.import_module(backend)
    kernel, recurrent, bias = weights(kind, 3, 2)
    bias = np.resize(SPECIAL_BIAS, bias.shape)  # signed zeros, NaN, inf, a subnormal
    keras_w = [native(backend, a) for a in (kernel, recurrent, bias)]
    torch_w = getattr(module, f"{kind}_weights_keras_to_torch")(*keras_w)
    back = getattr(module, f"{kind}_weights_torch_to_keras")(*torch_w)
    assert [_bits(a) for a in back] == [_bits(a) for a in keras_w]
    again = getattr(module, f"{kind}_weights_keras_to_torch")(*back)
    assert [_bits(a) for a in again] == [_bits(a) for a in torch_w]
    no_bias = getattr(module, f"{kind}_weights_keras_to_torch")(*keras_w[:2], None)
    assert no_bias[2:] == (None, None)
    assert getattr(module, f"{kind}_weights_torch_to_keras")(*no_bias)[2] is None


@pytest.mark.parametrize("kind", KINDS)
def test_torch_to_keras_keeps_the_sum_of_the_biases(kind):
    rng = np.random.default_rng(3)
    n = GATES[kind]
    w_ih, w_hh = rng.normal(size=(n * 2, 3)).astype(F32), rng.normal(size=(n * 2, 2)).astype(F32)
    b_ih, b_hh = rng.normal(size=n * 2).astype(F32), rng.normal(size=n * 2).astype(F32)
    kernel, recurrent, bias = getattr(ref, f"{kind}_weights_torch_to_keras")(w_ih, w_hh, b_ih, b_hh)
    again = getattr(ref, f"{kind}_weights_keras_to_torch")(kernel, recurrent, bias)
    assert _bits(again[0]) == _bits(w_ih) and _bits(again[1]) == _bits(w_hh)
    if kind == "gru":  # two biases in Keras too: both kept
        assert _bits(again[2]) == _bits(b_ih) and _bits(again[3]) == _bits(b_hh)
    else:
        np.testing.assert_array_equal(again[2] + again[3], b_ih + b_hh)


# --- gradients: NaN/inf at masked steps reach nothing --------------------------------------

GRAD_CASES = [
    (kind, options)
    for kind in KINDS
    for options in (
        {},
        {"zero_output_for_mask": True, "go_backwards": True},
        {"return_sequences": False},
    )
] + [("gru", {"reset_after": False})]


def _layer_args(kind: str, options: dict):
    reset_after = options.get("reset_after", True)
    x = batch(2)
    w = weights(kind, reset_after=reset_after)
    h0 = [np.full((5, 4), 0.25, F32)] * STATES[kind]
    return x, w, h0


def _torch_grads(fn, x, w, h0, options, upstream=None):
    import torch

    xt = torch.from_numpy(x).requires_grad_()
    wt = [torch.from_numpy(a).requires_grad_() for a in w]
    ht = [torch.from_numpy(a.copy()).requires_grad_() for a in h0]
    opts = {"return_sequences": True, **options}
    out = fn(xt, torch.from_numpy(MASK), *wt, initial_state=ht, **opts)
    seed = torch.ones_like(out) if upstream is None else torch.from_numpy(upstream)
    grads = torch.autograd.grad(out, [xt, *wt, *ht], seed)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _tf_grads(fn, x, w, h0, options, upstream=None):
    import tensorflow as tf

    xt, wt, ht = tf.constant(x), [tf.constant(a) for a in w], [tf.constant(a) for a in h0]
    opts = {"return_sequences": True, **options}
    with tf.GradientTape() as tape:
        tape.watch([xt, *wt, *ht])
        out = fn(xt, tf.constant(MASK), *wt, initial_state=ht, **opts)
    seed = tf.ones_like(out) if upstream is None else tf.constant(upstream)
    grads = tape.gradient(out, [xt, *wt, *ht], output_gradients=seed)
    return out.numpy(), [g.numpy() for g in grads]


def _check_grads(out, grads, reference_out):
    np.testing.assert_allclose(out, reference_out, rtol=1e-5, atol=1e-5)
    for g in grads:
        assert np.isfinite(g).all()
    gx = grads[0]
    assert (gx[~MASK] == 0).all()
    assert np.abs(gx[MASK]).sum() > 0


@pytest.mark.parametrize(("kind", "options"), GRAD_CASES)
def test_torch_gradients_are_finite_and_zero_at_masked_steps(kind, options):
    require("torch")
    import torch_impl

    x, w, h0 = _layer_args(kind, options)
    expected = layer(ref, kind)(
        x, MASK, *w, initial_state=h0, **{"return_sequences": True, **options}
    )
    out, grads = _torch_grads(layer(torch_impl, kind), x, w, h0, options)
    _check_grads(out, grads, expected)


@pytest.mark.parametrize(("kind", "options"), GRAD_CASES)
def test_tf_gradients_are_finite_and_zero_at_masked_steps(kind, options):
    require("tensorflow")
    import tf_impl

    x, w, h0 = _layer_args(kind, options)
    expected = layer(ref, kind)(
        x, MASK, *w, initial_state=h0, **{"return_sequences": True, **options}
    )
    out, grads = _tf_grads(layer(tf_impl, kind), x, w, h0, options)
    _check_grads(out, grads, expected)


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_nan_incoming_gradient_at_zeroed_outputs_reaches_nothing(framework):
    require(framework)
    backend = importlib.import_module("torch_impl" if framework == "torch" else "tf_impl")
    x, w, h0 = _layer_args("lstm", {})
    upstream = np.where(MASK[..., None], 1.0, np.nan).astype(F32) * np.ones((1, 1, 4), F32)
    run = _torch_grads if framework == "torch" else _tf_grads
    options = {"zero_output_for_mask": True}
    _, grads = run(backend.lstm, x, w, h0, options, upstream)
    for g in grads:
        assert np.isfinite(g).all()
    assert (grads[0][~MASK] == 0).all()


def test_bidirectional_gradients_are_finite_in_torch_and_tf():
    require("torch")
    require("tensorflow")
    import tensorflow as tf
    import torch

    import tf_impl
    import torch_impl

    x, w = batch(4), weights("gru")
    xt = torch.from_numpy(x).requires_grad_()
    out = torch_impl.bidirectional(
        torch_impl.gru, xt, torch.from_numpy(MASK), w, w, return_sequences=True
    )
    (gx,) = torch.autograd.grad(out.sum(), [xt])
    xf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xf)
        total = tf.reduce_sum(
            tf_impl.bidirectional(tf_impl.gru, xf, MASK, w, w, return_sequences=True)
        )
    gx_tf = tape.gradient(total, xf).numpy()
    for g in (gx.numpy(), gx_tf):
        assert np.isfinite(g).all() and (g[~MASK] == 0).all()
    np.testing.assert_allclose(gx.numpy(), gx_tf, rtol=1e-4, atol=1e-5)


# --- PyTorch: the packed fast path ---------------------------------------------------------


@pytest.fixture
def plain_loop(monkeypatch):
    """torch_impl with its packed fast path switched off (the rule as a loop)."""
    require("torch")
    from torch_impl import _fast_recurrence

    monkeypatch.setattr(_fast_recurrence, "usable", lambda *args, **kwargs: False)


def _torch_run(kind, options, bidirectional=False):
    import torch

    import torch_impl

    x, w = batch(5), weights(kind)
    xt = torch.from_numpy(x).requires_grad_()
    wt = [torch.from_numpy(a).requires_grad_() for a in w]
    mask = torch.from_numpy(MASK)
    if bidirectional:
        out = torch_impl.bidirectional(layer(torch_impl, kind), xt, mask, wt, wt, **options)
        out = torch.cat(out, -1) if isinstance(out, tuple) else out
    else:
        out = layer(torch_impl, kind)(xt, mask, *wt, **options)
    grads = torch.autograd.grad(out.sum(), [xt, *wt])
    return out.detach().numpy(), [g.numpy() for g in grads]


FAST_CASES = [
    (kind, options, False)
    for kind in KINDS
    for options in (
        {"return_sequences": True},
        {"return_sequences": True, "zero_output_for_mask": True, "go_backwards": True},
        {},
    )
] + [
    ("lstm", {"return_sequences": True, "merge_mode": None}, True),
    ("gru", {"return_sequences": False}, True),
]


@pytest.mark.parametrize(("kind", "options", "bidirectional"), FAST_CASES)
def test_torch_packed_path_equals_the_plain_loop(kind, options, bidirectional, request):
    require("torch")
    fast = _torch_run(kind, options, bidirectional)
    request.getfixturevalue("plain_loop")
    slow = _torch_run(kind, options, bidirectional)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(fast[1], slow[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_torch_packed_path_on_post_padding_equals_nn_lstm_packed():
    require("torch")
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    import torch_impl

    mask = np.arange(5) < np.array([5, 3, 1, 4])[:, None]
    x, w = batch(6, mask), weights("lstm")
    module = torch.nn.LSTM(3, 4, batch_first=True)
    torch_impl.load_keras_weights(module, _FakeKeras("lstm", w))
    packed = pack_padded_sequence(
        torch.from_numpy(np.nan_to_num(x)),
        torch.tensor([5, 3, 1, 4]),
        batch_first=True,
        enforce_sorted=False,
    )
    with torch.no_grad():
        out, (h, c) = module(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=5)
    got = torch_impl.lstm(
        torch.from_numpy(x),
        torch.from_numpy(mask),
        *map(torch.from_numpy, w),
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=True,
    )
    assert_same(got, (out, h[0], c[0]), **CLOSE)


def _sigmoid(x):  # only its name is read (Keras's activations are named functions)
    return x


_sigmoid.__name__ = "sigmoid"


class _FakeCell:
    def __init__(self, kind, w, reset_after=True):
        self.kernel, self.recurrent_kernel, self.bias = w
        self.units = w[1].shape[0]
        self.activation = np.tanh
        self.recurrent_activation = _sigmoid if kind != "simple_rnn" else None
        self.reset_after, self.use_bias = reset_after, w[2] is not None


class _FakeKeras:
    """A stand-in with a Keras layer's attributes (the loaders duck-type), so the loader
    tests need no Keras: LSTM/GRU/SimpleRNN by the cell's class name."""

    def __init__(self, kind, w, reset_after=True):
        names = {"lstm": "LSTMCell", "gru": "GRUCell", "simple_rnn": "SimpleRNNCell"}
        self.cell = type(names[kind], (_FakeCell,), {})(kind, w, reset_after)
        self.built = True


# --- the Masked* modules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "twin"), [("MaskedLSTM", "LSTM"), ("MaskedGRU", "GRU"), ("MaskedRNN", "RNN")]
)
def test_masked_modules_carry_the_nn_parameter_names(cls, twin):
    require("torch")
    import torch

    import torch_impl

    module = getattr(torch_impl, cls)(3, 4, bidirectional=True)
    plain = getattr(torch.nn, twin)(3, 4, bidirectional=True, batch_first=True)
    assert [(n, p.shape) for n, p in module.named_parameters()] == [
        (n, p.shape) for n, p in plain.named_parameters()
    ]
    module.load_state_dict(plain.state_dict())  # a state_dict loads as it is


def test_masked_lstm_equals_the_functional_form_and_flows_the_mask():
    require("torch")
    import torch

    import torch_impl

    torch.manual_seed(0)
    module = torch_impl.MaskedLSTM(3, 4, zero_output_for_mask=True)
    x, mask = torch.from_numpy(batch(7)), torch.from_numpy(MASK)
    out, out_mask = module(x, mask)
    kernel, recurrent, bias = (a.detach().numpy() for a in module.keras_weights())
    expected = ref.lstm(
        batch(7), MASK, kernel, recurrent, bias, return_sequences=True, zero_output_for_mask=True
    )
    assert_same(out, expected, **CLOSE)
    assert torch.equal(out_mask, mask)
    assert (out[3] == 0).all()  # a fully padded row: zeros (= the zero initial state)
    last = torch_impl.MaskedLSTM(3, 4, return_sequences=False)
    last.load_state_dict(module.state_dict())
    y, y_mask = last(x, mask)
    assert y_mask is None
    assert_same(y, ref.lstm(batch(7), MASK, kernel, recurrent, bias), **CLOSE)
    time_major = torch_impl.MaskedLSTM(3, 4, batch_first=False, zero_output_for_mask=True)
    time_major.load_state_dict(module.state_dict())
    out_t, mask_t = time_major(x.transpose(0, 1), mask.transpose(0, 1))
    assert_same(out_t.transpose(0, 1), expected, **CLOSE)
    assert torch.equal(mask_t, mask.transpose(0, 1))


def test_masked_modules_stack_in_masked_sequential():
    require("torch")
    import torch
    from torch import nn

    import torch_impl

    torch.manual_seed(0)
    model = torch_impl.MaskedSequential(
        torch_impl.Embedding(10, 3, mask_zero=True),
        torch_impl.MaskedGRU(3, 4, bidirectional=True),
        torch_impl.MaskedGlobalAveragePooling1D(),
        nn.Linear(8, 1),
    )
    ids = torch.tensor([[4, 2, 0, 0], [0, 0, 5, 1]])
    out, mask = model(ids)
    assert out.shape == (2, 1) and mask is None
    flipped = torch.tensor([[0, 0, 4, 2], [5, 1, 0, 0]])
    assert torch.allclose(model(flipped)[0], out, atol=1e-6)  # padding side does not matter
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_masked_module_options_are_checked():
    require("torch")
    import torch_impl

    with pytest.raises(TypeError, match="bidirectional"):
        torch_impl.MaskedLSTM(3, 4, bidirectional=1)
    with pytest.raises(TypeError, match="hidden_size"):
        torch_impl.MaskedLSTM(3, 4.0)
    with pytest.raises(ValueError, match="mask shape"):
        torch_impl.MaskedLSTM(3, 4)(np.zeros((2, 3, 3), F32), np.ones((2, 4), bool))


# --- loaders -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_load_keras_weights_checks_the_pair(kind):
    require("torch")
    import torch

    import torch_impl

    w = weights(kind, 3, 4)
    twin = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[kind]
    module = torch_impl.load_keras_weights(twin(3, 4, batch_first=True), _FakeKeras(kind, w))
    expected = getattr(ref, f"{kind}_weights_keras_to_torch")(*w)
    assert _bits(module.weight_ih_l0) == _bits(expected[0])
    assert _bits(module.bias_hh_l0) == _bits(expected[3])
    with pytest.raises(ValueError, match="hidden_size=5"):
        torch_impl.load_keras_weights(twin(3, 5), _FakeKeras(kind, w))
    with pytest.raises(ValueError, match="num_layers=2"):
        torch_impl.load_keras_weights(twin(3, 4, num_layers=2), _FakeKeras(kind, w))
    with pytest.raises(ValueError, match="bidirectional"):
        torch_impl.load_keras_weights(twin(3, 4, bidirectional=True), _FakeKeras(kind, w))
    other = "gru" if kind != "gru" else "lstm"
    with pytest.raises(ValueError, match="kinds must match"):
        torch_impl.load_keras_weights(twin(3, 4), _FakeKeras(other, weights(other, 3, 4)))
    with pytest.raises(TypeError, match="keras_layer"):
        torch_impl.load_keras_weights(twin(3, 4), object())


def test_load_keras_weights_refuses_what_pytorch_cannot_express():
    require("torch")
    import torch

    import torch_impl

    gru = _FakeKeras("gru", weights("gru", 3, 4, reset_after=False), reset_after=False)
    with pytest.raises(ValueError, match="reset_after=False"):
        torch_impl.load_keras_weights(torch.nn.GRU(3, 4), gru)
    with pytest.raises(ValueError, match="relu"):
        torch_impl.load_keras_weights(
            torch.nn.RNN(3, 4, nonlinearity="relu"),
            _FakeKeras("simple_rnn", weights("simple_rnn", 3, 4)),
        )
    no_bias = _FakeKeras("lstm", (*weights("lstm", 3, 4)[:2], None))
    with pytest.raises(ValueError, match="use_bias=False"):
        torch_impl.load_keras_weights(torch.nn.LSTM(3, 4), no_bias)
    module = torch_impl.load_keras_weights(torch.nn.LSTM(3, 4, bias=False), no_bias)
    assert _bits(module.weight_hh_l0) == _bits(no_bias.cell.recurrent_kernel.T.copy())


@pytest.mark.parametrize("kind", KINDS)
def test_keras_layer_to_torch_and_back(kind):
    require("tensorflow")
    require("torch")
    import keras
    import torch

    import tf_impl
    import torch_impl

    cls = {
        "lstm": keras.layers.LSTM,
        "gru": keras.layers.GRU,
        "simple_rnn": keras.layers.SimpleRNN,
    }[kind]
    keras_layer = keras.layers.Bidirectional(cls(4, return_sequences=True))
    keras_layer.build((None, None, 3))
    masked = getattr(
        torch_impl, {"lstm": "MaskedLSTM", "gru": "MaskedGRU", "simple_rnn": "MaskedRNN"}[kind]
    )(3, 4, bidirectional=True)
    torch_impl.load_keras_weights(masked, keras_layer)
    x = np.where(MASK[..., None], batch(8), F32(0))
    expected = np.asarray(keras_layer(x, mask=MASK))
    with torch.no_grad():
        got, _ = masked(torch.from_numpy(x), torch.from_numpy(MASK))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    fresh = keras.layers.Bidirectional(cls(4, return_sequences=True))
    tf_impl.load_torch_weights(fresh, masked)  # builds the layer for input_size
    np.testing.assert_allclose(np.asarray(fresh(x, mask=MASK)), expected, rtol=1e-6, atol=1e-7)


# --- TensorFlow: graphs and XLA ------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_tf_layers_and_rnn_in_tf_function(jit):
    require("tensorflow")
    import tensorflow as tf

    import tf_impl

    w = weights("lstm")
    spec = [tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([None, None], tf.bool)]

    @tf.function(input_signature=spec, jit_compile=jit)
    def run(x, mask):
        out = tf_impl.lstm(x, mask, *w, return_sequences=True, go_backwards=True)
        b = tf_impl.bidirectional(tf_impl.gru, x, mask, weights("gru"), weights("gru"))

        def step(x_t, states):
            h = tf.tanh(tf.matmul(x_t, w[0][:, :4]) + states[0])
            return h, [h]

        last, _, _ = tf_impl.rnn(step, x, mask, [tf.zeros([tf.shape(x)[0], 4])])
        return out, b, last

    def step(x_t, states):
        h = np.tanh(x_t @ w[0][:, :4] + states[0])
        return h, [h]

    x = batch(9)
    got = run(tf.constant(x), tf.constant(MASK))
    expected = (
        ref.lstm(x, MASK, *w, return_sequences=True, go_backwards=True),
        ref.bidirectional(ref.gru, x, MASK, weights("gru"), weights("gru")),
        ref.rnn(step, x, MASK, [np.zeros((5, 4), F32)])[0],
    )
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-5)
    for g in got:
        assert np.isfinite(g.numpy()).all()

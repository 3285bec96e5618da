"""Masked recurrence kernels in TensorFlow (rules and checks: :mod:`maskref.api.recurrence`).

Graph friendly: the loops are ``tf.while_loop``\\ s over time (no Python loop
over the batch or, in graphs, over time), so every function works inside
``tf.function`` with unknown batch and time sizes, and under XLA. The built-in
layers run their loop as a ``tf.function`` of its own (``reduce_retracing``),
so an eager call is not a Python loop of eager ops (6x faster than Keras's
eager layer at 64 x 256 x 128). Masked inputs are replaced by 0 with
``tf.where`` and states are selected with ``tf.where``: the gradient is finite
everywhere and exactly 0 at masked inputs, NaN/inf there included.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import tensorflow as tf

from maskref.api._recurrent_port import keras_cells, pair_kind, torch_parameters
from maskref.api.recurrence import GATES, STATES, check_step_result, compute_dtype, gru_gate_order

States = list[tf.Tensor]


def _shape(t: object) -> tuple:
    return tuple(tf.convert_to_tensor(t).shape.as_list())


def _rows(m: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A ``(B,)`` mask shaped to broadcast against ``like`` ``(B, ...)``."""
    return tf.reshape(m, tf.concat([tf.shape(m), tf.ones([like.shape.rank - 1], tf.int32)], 0))


def _time_major(t: tf.Tensor) -> tf.Tensor:
    perm = [1, 0, *range(2, t.shape.rank)]
    return tf.transpose(t, perm)


def _stack(array: tf.TensorArray, steps: tf.Tensor, shape: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """The outputs ``(T, B, ...)``; zeros of ``shape`` for ``T = 0`` (a TensorArray with no
    element and an unknown batch size cannot be stacked)."""
    return tf.cond(
        steps > 0, lambda: tf.reshape(array.stack(), shape), lambda: tf.zeros(shape, dtype)
    )


def _start(states: list, out: tf.Tensor) -> tf.Tensor:
    """The previous output before the first step: the first state (Keras's contract: it is
    the previous output), or zeros when there is none of the output's shape."""
    if states and _shape(states[0]) == _shape(out):
        return tf.cast(states[0], out.dtype)
    return tf.zeros_like(out)


def rnn(
    step: Callable,
    x: tf.Tensor,
    mask: tf.Tensor | None,
    initial_state: States,
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[tf.Tensor, tf.Tensor, States]:
    """A ``tf.while_loop`` over time (``step`` is traced once); in eager mode the loop runs
    eagerly, as Keras's own. ``step`` is called once more, on zeros, to learn the shape
    and dtype of its output (Keras does the same)."""
    batch = tf.shape(x)[0]
    static_batch = x.shape[0]
    shapes = [_shape(s) for s in initial_state]
    states = [tf.convert_to_tensor(s) for s in initial_state]
    xs = _time_major(x)
    keep = None if mask is None else tf.transpose(mask)
    if go_backwards:
        xs = tf.reverse(xs, [0])
        keep = None if keep is None else tf.reverse(keep, [0])
    steps = tf.shape(xs)[0]
    probe = tf.zeros(tf.concat([[batch], tf.shape(x)[2:]], 0), x.dtype)
    out0, _ = check_step_result(
        step(probe, list(states)), len(states), _shape, static_batch, shapes
    )
    out0 = tf.convert_to_tensor(out0)
    zero_x = tf.zeros([], x.dtype)

    def body(t, outputs, prev, *states):
        x_t = xs[t]
        m = tf.ones([batch], tf.bool) if keep is None else keep[t]
        x_t = tf.where(_rows(m, x_t), x_t, zero_x)
        out, new = check_step_result(
            step(x_t, list(states)), len(states), _shape, static_batch, shapes
        )
        out = tf.convert_to_tensor(out)
        mo = _rows(m, out)
        prev = tf.where(mo, out, prev)
        y = tf.where(mo, out, tf.zeros_like(out)) if zero_output_for_mask else prev
        new = [tf.where(_rows(m, s), tf.cast(n, s.dtype), s) for n, s in zip(new, states)]
        return (t + 1, outputs.write(t, y), prev, *new)

    outputs = tf.TensorArray(out0.dtype, size=steps, element_shape=out0.shape)
    result = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), outputs, _start(states, out0), *states),
    )
    shape = tf.concat([[steps], tf.shape(out0)], 0)
    outputs = _time_major(_stack(result[1], steps, shape, out0.dtype))
    return result[2], outputs, list(result[3:])


# --- the built-in layers -------------------------------------------------------------------


def _cell(kind: str, reset_after: bool) -> Callable:
    """``cell(zx_t, states, recurrent_kernel, recurrent_bias) -> (h, new_states)`` where
    ``zx_t`` is the step's input already projected (``x_t @ kernel + input bias``)."""

    def simple_rnn(zx, states, rk, rb):
        h = tf.tanh(zx + tf.matmul(states[0], rk))
        return h, [h]

    def lstm(zx, states, rk, rb):
        h, c = states
        i, f, g, o = tf.split(zx + tf.matmul(h, rk), 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, [h, c]

    def gru(zx, states, rk, rb):
        h = states[0]
        xz, xr, xh = tf.split(zx, 3, axis=-1)
        if reset_after:
            inner = tf.matmul(h, rk)
            if rb is not None:
                inner = inner + rb
            hz, hr, hh = tf.split(inner, 3, axis=-1)
            z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)
            candidate = tf.tanh(xh + r * hh)
        else:
            uz, ur, uh = tf.split(rk, 3, axis=1)
            z = tf.sigmoid(xz + tf.matmul(h, uz))
            r = tf.sigmoid(xr + tf.matmul(h, ur))
            candidate = tf.tanh(xh + tf.matmul(r * h, uh))
        h = z * h + (1 - z) * candidate
        return h, [h]

    return {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}[kind]


def _tiled(m: tf.Tensor, width: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A ``(B, 1)`` mask tiled to ``like``'s shape ``(B, width)`` (its static shape kept)."""
    tiled = tf.tile(m, tf.stack([1, width]))
    tiled.set_shape(like.shape)
    return tiled


@tf.function(reduce_retracing=True, autograph=False)
def _scan(
    x: tf.Tensor,
    keep: tf.Tensor,
    kernel: tf.Tensor,
    rk: tf.Tensor,
    b_in: tf.Tensor,
    rb: tf.Tensor,
    states: tuple,
    kind: str,
    reset_after: bool,
    zero_output_for_mask: bool,
) -> tuple:
    """The masked loop over ``x`` ``(B, T, D)`` in processing order, ``keep`` ``(B, T)``:
    ``(last output, outputs, states)``. Each step projects its own input (``x_t @ kernel``
    is off the recurrence's critical path: with ``parallel_iterations`` it overlaps the
    previous step, faster than one matmul over every step first); masks are tiled to the
    operands' shapes (``tf.where`` on equal shapes is TF's fast select). Only the kind and
    the flags are Python values, so a handful of traces serve every call."""
    units, features = tf.shape(rk)[0], tf.shape(x)[2]
    cell = _cell(kind, reset_after)
    steps, batch = tf.shape(x)[1], tf.shape(x)[0]
    inputs = tf.TensorArray(x.dtype, size=steps).unstack(_time_major(x))
    masks = tf.TensorArray(tf.bool, size=steps).unstack(tf.transpose(keep))
    zero = tf.zeros([], x.dtype)

    def body(t, outputs, prev, *states):
        m = masks.read(t)[:, None]
        x_t = inputs.read(t)
        x_t = tf.where(_tiled(m, features, x_t), x_t, zero)
        h, new = cell(tf.matmul(x_t, kernel) + b_in, list(states), rk, rb)
        m = _tiled(m, units, states[0])
        prev = tf.where(m, h, prev)
        new_states = [tf.where(m, n, s) for n, s in zip(new, states)]
        y = tf.where(m, h, tf.zeros_like(h)) if zero_output_for_mask else prev
        return (t + 1, outputs.write(t, y), prev, *new_states)

    outputs = tf.TensorArray(x.dtype, size=steps, element_shape=tf.TensorShape([None, rk.shape[0]]))
    result = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), outputs, states[0], *states),
        parallel_iterations=32,
        maximum_iterations=steps,
    )
    stacked = _stack(result[1], steps, tf.stack([steps, batch, units]), x.dtype)
    return result[2], _time_major(stacked), tuple(result[3:])


def _layer(
    kind: str,
    x: tf.Tensor,
    mask: tf.Tensor | None,
    kernel: tf.Tensor,
    recurrent_kernel: tf.Tensor,
    bias: tf.Tensor | None,
    initial_state: States | None,
    return_sequences: bool,
    go_backwards: bool,
    zero_output_for_mask: bool,
    reset_after: bool = True,
) -> tuple[tf.Tensor, States]:
    dtype = tf.as_dtype(compute_dtype(x.dtype.name))
    units = int(recurrent_kernel.shape[0])
    xc = tf.cast(x, dtype)
    keep = tf.ones(tf.shape(x)[:2], tf.bool) if mask is None else mask
    width = GATES[kind] * units
    b_in, rb = tf.zeros([width], dtype), tf.zeros([width], dtype)
    if bias is not None:
        bias = tf.cast(bias, dtype)
        if kind == "gru" and reset_after:
            b_in, rb = bias[0], bias[1]
        else:
            b_in = bias
    if go_backwards:
        xc, keep = tf.reverse(xc, [1]), tf.reverse(keep, [1])
    if initial_state is None:
        zeros = tf.zeros(tf.stack([tf.shape(x)[0], units]), dtype)
        states = tuple(zeros for _ in range(STATES[kind]))
    else:
        states = tuple(tf.cast(s, dtype) for s in initial_state)
    last, outputs, final = _scan(
        xc, keep, tf.cast(kernel, dtype), tf.cast(recurrent_kernel, dtype), b_in, rb, states,
        kind, reset_after, zero_output_for_mask,
    )  # fmt: skip
    output = outputs if return_sequences else last
    return tf.cast(output, x.dtype), [tf.cast(s, x.dtype) for s in final]


def simple_rnn(
    x: tf.Tensor, mask: tf.Tensor | None, kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
    bias: tf.Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool,
) -> tuple[tf.Tensor, States]:  # fmt: skip
    return _layer(
        "simple_rnn", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask,
    )  # fmt: skip


def lstm(
    x: tf.Tensor, mask: tf.Tensor | None, kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
    bias: tf.Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool,
) -> tuple[tf.Tensor, States]:  # fmt: skip
    """A compiled ``tf.while_loop`` (Keras's generic loop, leaner; no cuDNN, so the padded
    outputs follow the rule on every device, tensorflow#49241)."""
    return _layer(
        "lstm", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask,
    )  # fmt: skip


def gru(
    x: tf.Tensor, mask: tf.Tensor | None, kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
    bias: tf.Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool, reset_after: bool,
) -> tuple[tf.Tensor, States]:  # fmt: skip
    return _layer(
        "gru", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask, reset_after,
    )  # fmt: skip


def _merge(merge_mode: str | None, y: tf.Tensor, y_rev: tf.Tensor) -> object:
    if merge_mode == "concat":
        return tf.concat([y, y_rev], axis=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    return (y, y_rev)


def bidirectional(
    kind: str, x: tf.Tensor, mask: tf.Tensor | None, forward_weights: tuple,
    backward_weights: tuple, merge_mode: str | None, return_sequences: bool,
    initial_state: States | None, reset_after: bool,
) -> tuple[object, States]:  # fmt: skip
    n = STATES[kind]
    halves = (None, None) if initial_state is None else (initial_state[:n], initial_state[n:])
    runs = []
    for weights, states, backwards in zip(
        (forward_weights, backward_weights), halves, (False, True)
    ):
        runs.append(
            _layer(
                kind,
                x,
                mask,
                *typing.cast("tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]", weights),
                states,
                return_sequences,
                backwards,
                return_sequences,
                reset_after,
            )
        )
    (y, forward), (y_rev, backward) = runs
    if return_sequences:
        y_rev = tf.reverse(y_rev, [1])
    return _merge(merge_mode, y, y_rev), forward + backward


# --- weights -------------------------------------------------------------------------------


def _to_torch(kernel, recurrent_kernel, bias, order=None):
    if order is not None:
        kernel = tf.gather(kernel, order, axis=1)
        recurrent_kernel = tf.gather(recurrent_kernel, order, axis=1)
    w_ih, w_hh = tf.transpose(kernel), tf.transpose(recurrent_kernel)
    if bias is None:
        return w_ih, w_hh, None, None
    if order is not None:
        return w_ih, w_hh, tf.gather(bias[0], order), tf.gather(bias[1], order)
    return w_ih, w_hh, tf.identity(bias), tf.fill(tf.shape(bias), tf.constant(-0.0, bias.dtype))


def _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, order=None):
    kernel, recurrent_kernel = tf.transpose(weight_ih), tf.transpose(weight_hh)
    if order is not None:
        kernel = tf.gather(kernel, order, axis=1)
        recurrent_kernel = tf.gather(recurrent_kernel, order, axis=1)
    if bias_ih is None or bias_hh is None:
        return kernel, recurrent_kernel, None
    if order is not None:
        return (
            kernel,
            recurrent_kernel,
            tf.stack([tf.gather(bias_ih, order), tf.gather(bias_hh, order)]),
        )
    return kernel, recurrent_kernel, tf.where(bias_hh == 0, bias_ih, bias_ih + bias_hh)


def lstm_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias)


def lstm_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def simple_rnn_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias)


def simple_rnn_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def gru_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias, gru_gate_order(recurrent_kernel.shape[0]))


def gru_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, gru_gate_order(weight_hh.shape[1]))


# --- Keras layers from PyTorch modules -----------------------------------------------------


def load_torch_weights(keras_layer: object, module: object) -> object:
    """Copy an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (or a ``torch_impl`` ``Masked*`` module) into
    a ``keras.layers.LSTM``/``GRU``/``SimpleRNN``, or into a ``Bidirectional`` of one from a
    bidirectional module; returns ``keras_layer`` (built for the module's ``input_size`` if
    it was not).

    The weights go through the ``*_weights_torch_to_keras`` rules (GRU gates
    reordered, the two biases summed). The pair must match: the same kind,
    ``units == hidden_size``, one layer, both bidirectional or neither; the Keras
    layer must use PyTorch's activations (tanh, sigmoid), a GRU
    ``reset_after=True``, and ``use_bias`` exactly when the module has biases.
    Anything else is a ``ValueError`` naming what differs (a ``TypeError`` for
    objects of other types). ``go_backwards`` is not a weight: it is not copied.
    """
    import tf_impl as _public

    kind = pair_kind(keras_layer, module)
    convert = getattr(_public, f"{kind}_weights_torch_to_keras")
    for cell, params in zip(keras_cells(keras_layer, module), torch_parameters(module)):
        arrays = [None if p is None else p.detach().cpu().numpy() for p in params]
        kernel, recurrent, bias = convert(*arrays)
        cell.kernel.assign(kernel)
        cell.recurrent_kernel.assign(recurrent)
        if bias is not None:
            cell.bias.assign(bias)
    return keras_layer

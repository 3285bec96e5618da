"""Masked recurrence in PyTorch (rules and checks: :mod:`maskref.api.recurrence`), and the
``MaskedLSTM``/``MaskedGRU``/``MaskedRNN`` modules.

The generic loop is a Python loop over time steps (eager; no loop over the
batch). The built-in layers run on PyTorch's fused kernels over packed
sequences whatever the mask (:mod:`torch_impl._fast_recurrence`: valid steps
moved to the front of each row, packed, run by ``torch.lstm``/``torch.gru``/
``torch.rnn_tanh``, outputs put back); Keras's GRU with ``reset_after=False``,
which PyTorch has no kernel for, runs the loop. Masked inputs are replaced by
0 with ``torch.where`` and states are selected with ``torch.where``: the
gradient is finite everywhere and exactly 0 at masked inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn

from maskref.api._recurrent_port import keras_cells, pair_kind, torch_parameters
from maskref.api.recurrence import GATES, STATES, check_step_result, compute_dtype

from . import _fast_recurrence as _fast
from .flow import MaskedModule

Tensor = torch.Tensor
States = list[torch.Tensor]


def _shape(t: object) -> tuple:
    return tuple(t.shape) if hasattr(t, "shape") else tuple(np.shape(cast(Any, t)))


def _rows(m: Tensor, like: Tensor) -> Tensor:
    """A ``(B,)`` mask shaped to broadcast against ``like`` ``(B, ...)``."""
    return m.reshape(m.shape + (1,) * (like.ndim - 1))


def _start(states: States, out: Tensor) -> Tensor:
    """The previous output before the first step: the first state (Keras's contract: it is
    the previous output), or zeros when there is none of the output's shape."""
    if states and _shape(states[0]) == _shape(out):
        return states[0].to(out.dtype)
    return torch.zeros_like(out)


def rnn(
    step: Callable,
    x: Tensor,
    mask: Tensor | None,
    initial_state: States,
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> tuple[Tensor, Tensor, States]:
    """A Python loop over the steps (eager), each output and state selected with
    ``torch.where``; ``step`` may be any function of tensors (autograd flows through it)."""
    batch, steps = x.shape[:2]
    states = list(initial_state)
    shapes = [_shape(s) for s in states]
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    prev: Tensor | None = None
    outputs: list[Tensor] = []
    for t in order:
        x_t = x[:, t]
        m = None if mask is None else mask[:, t]
        if m is not None:
            x_t = torch.where(_rows(m, x_t), x_t, zero)
        result = check_step_result(step(x_t, list(states)), len(states), _shape, batch, shapes)
        out, new = cast(Tensor, result[0]), result[1]
        if m is None:
            prev, states = out, list(new)
            outputs.append(out)
            continue
        mo = _rows(m, out)
        prev = torch.where(mo, out, _start(states, out) if prev is None else prev)
        outputs.append(
            torch.where(mo, out, torch.zeros_like(out)) if zero_output_for_mask else prev
        )
        states = [torch.where(_rows(m, s), n, s) for n, s in zip(new, states)]
    if prev is None:  # no step: learn the output's shape from one call on zeros
        probe = x.new_zeros((batch,) + tuple(x.shape[2:]))
        result = check_step_result(step(probe, list(states)), len(states), _shape, batch, shapes)
        out = cast(Tensor, result[0])
        prev = _start(states, out)
        return prev, prev.new_zeros((batch, 0) + tuple(prev.shape[1:])), states
    return prev, torch.stack(outputs, dim=1), states


# --- the built-in layers -------------------------------------------------------------------


def _cell(kind: str, units: int, reset_after: bool) -> Callable:
    """``cell(zx_t, states, recurrent_kernel, recurrent_bias) -> (h, new_states)`` where
    ``zx_t`` is the step's projected input (``x_t @ kernel + input bias``)."""

    def simple_rnn(zx, states, rk, rb):
        h = torch.tanh(zx + states[0] @ rk)
        return h, [h]

    def lstm(zx, states, rk, rb):
        h, c = states
        i, f, g, o = (zx + h @ rk).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, [h, c]

    def gru(zx, states, rk, rb):
        h = states[0]
        xz, xr, xh = zx.chunk(3, dim=-1)
        if reset_after:
            inner = h @ rk if rb is None else h @ rk + rb
            hz, hr, hh = inner.chunk(3, dim=-1)
            z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
            candidate = torch.tanh(xh + r * hh)
        else:
            inner = h @ rk[:, : 2 * units]
            z = torch.sigmoid(xz + inner[:, :units])
            r = torch.sigmoid(xr + inner[:, units:])
            candidate = torch.tanh(xh + (r * h) @ rk[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        return h, [h]

    return {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}[kind]


def _loop(
    kind: str,
    x: Tensor,
    mask: Tensor | None,
    kernel: Tensor,
    rk: Tensor,
    bias: Tensor | None,
    states: States,
    go_backwards: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
    reset_after: bool,
) -> tuple[Tensor | None, Tensor, States]:
    """The rule as a loop over the steps: ``(outputs or None, last output, states)``."""
    units = rk.shape[0]
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    if mask is not None:
        x = torch.where(mask[:, :, None], x, zero)
    zx, rb = x @ kernel, None
    if bias is not None:
        if kind == "gru" and reset_after:
            zx, rb = zx + bias[0], bias[1]
        else:
            zx = zx + bias
    cell = _cell(kind, units, reset_after)
    steps = x.shape[1]
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    prev, outputs = states[0], []
    for t in order:
        h, new = cell(zx[:, t], states, rk, rb)
        if mask is None:
            prev, states, y = h, new, h
        else:
            m = mask[:, t, None]
            prev = torch.where(m, h, prev)
            states = [torch.where(m, n, s) for n, s in zip(new, states)]
            y = torch.where(m, h, zero) if zero_output_for_mask else prev
        outputs.append(y)
    if not return_sequences:
        return None, prev, states
    stacked = torch.stack(outputs, dim=1) if outputs else x.new_zeros(x.shape[0], 0, units)
    return stacked, prev, states


def _prepared(
    kind: str,
    x: Tensor,
    kernel: Tensor,
    rk: Tensor,
    bias: Tensor | None,
    initial_state: States | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, States]:
    """Everything in the compute dtype; zero initial states where none are given."""
    dtype = getattr(torch, compute_dtype(str(x.dtype).replace("torch.", "")))
    kernel, rk = kernel.to(x.device, dtype), rk.to(x.device, dtype)
    bias = None if bias is None else bias.to(x.device, dtype)
    if initial_state is None:
        states = [x.new_zeros((x.shape[0], rk.shape[0]), dtype=dtype) for _ in range(STATES[kind])]
    else:
        states = [s.to(x.device, dtype) for s in initial_state]
    return x.to(dtype), kernel, rk, bias, states


def _layer(
    kind: str,
    x: Tensor,
    mask: Tensor | None,
    kernel: Tensor,
    recurrent_kernel: Tensor,
    bias: Tensor | None,
    initial_state: States | None,
    return_sequences: bool,
    go_backwards: bool,
    zero_output_for_mask: bool,
    reset_after: bool = True,
) -> tuple[Tensor, States]:
    xc, k, rk, b, states = _prepared(kind, x, kernel, recurrent_kernel, bias, initial_state)
    mask = None if mask is None else mask.to(x.device)
    if _fast.usable(kind, xc, reset_after):
        params = _fast.torch_parameters(kind, k, rk, b)
        outputs, lasts, finals = _fast.run(
            kind, xc, mask, [params], states, go_backwards, zero_output_for_mask, return_sequences
        )
        last, final = lasts[0], finals[0]
    else:
        outputs, last, final = _loop(
            kind, xc, mask, k, rk, b, states, go_backwards, zero_output_for_mask,
            return_sequences, reset_after,
        )  # fmt: skip
    output = cast(Tensor, outputs) if return_sequences else last
    return output.to(x.dtype), [s.to(x.dtype) for s in final]


def simple_rnn(
    x: Tensor, mask: Tensor | None, kernel: Tensor, recurrent_kernel: Tensor,
    bias: Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool,
) -> tuple[Tensor, States]:  # fmt: skip
    """Runs ``torch.rnn_tanh`` (``nn.RNN``'s kernel) over packed rows."""
    return _layer(
        "simple_rnn", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask,
    )  # fmt: skip


def lstm(
    x: Tensor, mask: Tensor | None, kernel: Tensor, recurrent_kernel: Tensor,
    bias: Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool,
) -> tuple[Tensor, States]:  # fmt: skip
    """Runs ``torch.lstm`` (``nn.LSTM``'s kernel, cuDNN on a GPU) over packed rows: any
    mask (pre-padded, holes and empty rows too), Keras's padded outputs."""
    return _layer(
        "lstm", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask,
    )  # fmt: skip


def gru(
    x: Tensor, mask: Tensor | None, kernel: Tensor, recurrent_kernel: Tensor,
    bias: Tensor | None, initial_state: States | None, return_sequences: bool,
    go_backwards: bool, zero_output_for_mask: bool, reset_after: bool,
) -> tuple[Tensor, States]:  # fmt: skip
    """``reset_after=True`` runs ``torch.gru`` over packed rows; ``reset_after=False`` (no
    PyTorch kernel) a loop over the steps."""
    return _layer(
        "gru", x, mask, kernel, recurrent_kernel, bias, initial_state, return_sequences,
        go_backwards, zero_output_for_mask, reset_after,
    )  # fmt: skip


def _merge(merge_mode: str | None, y: Tensor, y_rev: Tensor) -> object:
    if merge_mode == "concat":
        return torch.cat([y, y_rev], dim=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    return (y, y_rev)


def bidirectional(
    kind: str, x: Tensor, mask: Tensor | None, forward_weights: tuple,
    backward_weights: tuple, merge_mode: str | None, return_sequences: bool,
    initial_state: States | None, reset_after: bool,
) -> tuple[object, States]:  # fmt: skip
    """Both directions in one packed call of PyTorch's bidirectional kernel where the layer
    has one (the backward direction starts at each row's last valid step)."""
    n = STATES[kind]
    halves = (None, None) if initial_state is None else (initial_state[:n], initial_state[n:])
    prepared = [
        _prepared(kind, x, *cast("tuple[Tensor, Tensor, Tensor | None]", weights), half)
        for weights, half in zip((forward_weights, backward_weights), halves)
    ]
    xc = prepared[0][0]
    if _fast.usable(kind, xc, reset_after):
        params = [_fast.torch_parameters(kind, *p[1:4]) for p in prepared]
        if len(params[0]) != len(params[1]):  # one direction without biases
            params = [p if len(p) == 4 else [*p, *_zero_biases(p)] for p in params]
        states = prepared[0][4] + prepared[1][4]
        mask = None if mask is None else mask.to(x.device)
        outputs, lasts, finals = _fast.run(
            kind, xc, mask, params, states, False, return_sequences, return_sequences
        )
        units = params[0][1].shape[1]
        if return_sequences:
            seq = cast(Tensor, outputs)  # returned with return_sequences
            y, y_rev = seq[..., :units], seq[..., units:]
        else:
            y, y_rev = lasts
        merged = _merge(merge_mode, y.to(x.dtype), y_rev.to(x.dtype))
        return merged, [s.to(x.dtype) for s in finals[0] + finals[1]]
    halves = (None, None) if initial_state is None else (initial_state[:n], initial_state[n:])
    runs = [
        _layer(
            kind,
            x,
            mask,
            *cast("tuple[Tensor, Tensor, Tensor | None]", weights),
            states,
            return_sequences,
            backwards,
            return_sequences,
            reset_after,
        )
        for weights, states, backwards in zip(
            (forward_weights, backward_weights), halves, (False, True)
        )
    ]
    (y, forward), (y_rev, backward) = runs
    if return_sequences:
        y_rev = y_rev.flip(1)
    return _merge(merge_mode, y, y_rev), forward + backward


def _zero_biases(params: list[Tensor]) -> list[Tensor]:
    rows = params[0].shape[0]
    zeros = params[0].new_zeros(rows)
    return [zeros, zeros]


# --- weights -------------------------------------------------------------------------------


def _gate_order(units: int, device: torch.device) -> Tensor:
    from maskref.api.recurrence import gru_gate_order

    return torch.as_tensor(gru_gate_order(units), device=device)


def _to_torch(kernel: Tensor, recurrent_kernel: Tensor, bias: Tensor | None, gru: bool = False):
    if gru:
        order = _gate_order(recurrent_kernel.shape[0], kernel.device)
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    w_ih, w_hh = kernel.T.contiguous(), recurrent_kernel.T.contiguous()
    if bias is None:
        return w_ih, w_hh, None, None
    if gru:
        return w_ih, w_hh, bias[0, order].contiguous(), bias[1, order].contiguous()
    return w_ih, w_hh, bias.clone(), torch.full_like(bias, -0.0)


def _to_keras(
    weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
    gru: bool = False,
):  # fmt: skip
    kernel, recurrent_kernel = weight_ih.T, weight_hh.T
    if gru:
        order = _gate_order(weight_hh.shape[1], weight_ih.device)
        kernel, recurrent_kernel = kernel[:, order], recurrent_kernel[:, order]
    kernel, recurrent_kernel = kernel.contiguous(), recurrent_kernel.contiguous()
    if bias_ih is None or bias_hh is None:
        return kernel, recurrent_kernel, None
    if gru:
        return kernel, recurrent_kernel, torch.stack([bias_ih[order], bias_hh[order]])
    return kernel, recurrent_kernel, torch.where(bias_hh == 0, bias_ih, bias_ih + bias_hh)


def lstm_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias)


def lstm_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def simple_rnn_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias)


def simple_rnn_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh)


def gru_weights_keras_to_torch(kernel, recurrent_kernel, bias):
    return _to_torch(kernel, recurrent_kernel, bias, gru=True)


def gru_weights_torch_to_keras(weight_ih, weight_hh, bias_ih, bias_hh):
    return _to_keras(weight_ih, weight_hh, bias_ih, bias_hh, gru=True)


# --- modules -------------------------------------------------------------------------------


class _MaskedRecurrent(MaskedModule):
    recurrent_kind: ClassVar[str]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bidirectional: bool = False,
        batch_first: bool = True,
        zero_output_for_mask: bool = False,
        return_sequences: bool = True,
        bias: bool = True,
    ) -> None:
        from maskref.api.checks import check_flag, check_int

        super().__init__()
        self.input_size = check_int(input_size, "input_size", minimum=0)
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=0)
        self.bidirectional = check_flag(bidirectional, "bidirectional")
        self.batch_first = check_flag(batch_first, "batch_first")
        self.zero_output_for_mask = check_flag(zero_output_for_mask, "zero_output_for_mask")
        self.return_sequences = check_flag(return_sequences, "return_sequences")
        check_flag(bias, "bias")
        rows = GATES[self.recurrent_kind] * self.hidden_size
        for suffix in ("_l0", "_l0_reverse") if self.bidirectional else ("_l0",):
            self.register_parameter(
                f"weight_ih{suffix}", nn.Parameter(torch.empty(rows, self.input_size))
            )
            self.register_parameter(
                f"weight_hh{suffix}", nn.Parameter(torch.empty(rows, self.hidden_size))
            )
            for name in ("bias_ih", "bias_hh"):
                param = nn.Parameter(torch.empty(rows)) if bias else None
                self.register_parameter(f"{name}{suffix}", param)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTM``'s initialisation: every parameter uniform in ``±1/sqrt(hidden_size)``."""
        bound = 1.0 / self.hidden_size**0.5 if self.hidden_size else 0.0
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, bidirectional={self.bidirectional}, "
            f"batch_first={self.batch_first}, zero_output_for_mask={self.zero_output_for_mask}, "
            f"return_sequences={self.return_sequences}"
        )

    def keras_weights(self, reverse: bool = False) -> tuple:
        """One direction's parameters in Keras's layout ``(kernel, recurrent_kernel, bias)``
        (differentiable: gradients reach the parameters)."""
        import torch_impl as _public

        suffix = "_l0_reverse" if reverse else "_l0"
        params = [
            getattr(self, f"{name}{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        if self.recurrent_kind == "gru":
            return _public.gru_weights_torch_to_keras(*params)
        w_ih, w_hh, b_ih, b_hh = params  # the plain sum: both biases get their gradient
        return w_ih.T, w_hh.T, None if b_ih is None else b_ih + b_hh

    def forward(
        self, x: Tensor, mask: Tensor | None = None, initial_state: States | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(output, output mask)``: the layer on ``x`` under ``mask`` (True = valid;
        ``(B, T)``, or ``(T, B)`` when ``batch_first=False``); ``initial_state`` as the
        functional form takes it (the backward direction's after the forward one's)."""
        import torch_impl as _public

        layer = getattr(_public, self.recurrent_kind)
        seq_mask = mask
        if not self.batch_first:
            x = x.transpose(0, 1)
            seq_mask = None if mask is None else torch.as_tensor(mask).transpose(0, 1)
        if self.bidirectional:
            output = _public.bidirectional(
                layer, x, seq_mask, self.keras_weights(), self.keras_weights(reverse=True),
                return_sequences=self.return_sequences, initial_state=initial_state,
            )  # fmt: skip
        else:
            output = layer(
                x, seq_mask, *self.keras_weights(), initial_state=initial_state,
                return_sequences=self.return_sequences,
                zero_output_for_mask=self.zero_output_for_mask,
            )  # fmt: skip
        if self.return_sequences and not self.batch_first:
            output = output.transpose(0, 1)
        return output, _public.flow_mask("recurrent", mask, return_sequences=self.return_sequences)


_MODULE_DOC = """Keras's masked ``{keras}`` as an ``nn.Module`` with ``{torch}``'s parameters.

    ``{name}(input_size, hidden_size, *, bidirectional=False, batch_first=True,
    zero_output_for_mask=False, return_sequences=True, bias=True)``. Parameters
    carry ``{torch}``'s names and layouts (``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0``, and ``..._l0_reverse``), so a ``{torch}``'s
    ``state_dict`` loads as it is, and :func:`load_keras_weights` fills it from a
    Keras layer. ``forward(x, mask=None, initial_state=None)`` returns ``(output,
    mask)`` (the mask-flow protocol, so it stacks in ``MaskedSequential``): the
    output of :func:`{function}` on ``x`` under ``mask`` (the sequence with
    ``return_sequences``, else the last valid output; the output mask is the
    input mask with ``return_sequences``, else None). A bidirectional module is
    ``keras.layers.Bidirectional`` (concat): its padded outputs are zeros
    whatever ``zero_output_for_mask``. Any mask runs on PyTorch's fused kernel
    over packed rows (post-padding directly; pre-padding and holes after moving
    the valid steps to the front). A fully padded row is allowed: its output
    is its initial state (its ``h``; zeros by default), as the functional form
    gives.

    >>> torch.manual_seed(0) is not None
    True
    >>> layer = {name}(3, 2)
    >>> out, mask = layer(torch.ones(2, 4, 3), torch.tensor([[True, True, False, False],
    ...                                                     [False] * 4]))
    >>> out.shape, bool((out[0, 2] == out[0, 1]).all()), bool((out[1] == 0).all())
    (torch.Size([2, 4, 2]), True, True)
    """


class MaskedLSTM(_MaskedRecurrent):
    __doc__ = _MODULE_DOC.format(keras="LSTM", torch="nn.LSTM", name="MaskedLSTM", function="lstm")
    recurrent_kind: ClassVar[str] = "lstm"


class MaskedGRU(_MaskedRecurrent):
    __doc__ = _MODULE_DOC.format(keras="GRU", torch="nn.GRU", name="MaskedGRU", function="gru")
    recurrent_kind: ClassVar[str] = "gru"


class MaskedRNN(_MaskedRecurrent):
    __doc__ = _MODULE_DOC.format(
        keras="SimpleRNN", torch="nn.RNN", name="MaskedRNN", function="simple_rnn"
    )
    recurrent_kind: ClassVar[str] = "simple_rnn"


def load_keras_weights(module: nn.Module, keras_layer: object) -> nn.Module:
    """Copy a Keras ``LSTM``/``GRU``/``SimpleRNN`` (or a ``Bidirectional`` of one) into an
    ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (bidirectional too) or a ``Masked*`` module; returns
    ``module``.

    The weights go through the ``*_weights_keras_to_torch`` rules (GRU gates
    reordered; ``bias_ih`` = Keras's bias, ``bias_hh`` = -0.0 for LSTM and RNN).
    The pair must match: the same kind, ``units == hidden_size``, one layer,
    both bidirectional or neither, tanh/sigmoid activations, a GRU with
    ``reset_after=True`` (``reset_after=False`` has no PyTorch equivalent,
    keras-team/keras#15915), ``use_bias`` exactly when the module has biases;
    else ``ValueError`` naming what differs (``TypeError`` for other objects). An
    unbuilt Keras layer is built for the module's ``input_size`` first (its
    initial weights are then copied). ``go_backwards`` is not a weight: a plain
    ``nn.LSTM`` runs forward whatever the Keras layer did.
    """
    import torch_impl as _public

    kind = pair_kind(keras_layer, module)
    convert = getattr(_public, f"{kind}_weights_keras_to_torch")
    for cell, params in zip(keras_cells(keras_layer, module), torch_parameters(module)):
        bias = getattr(cell, "bias", None)
        converted = convert(
            np.asarray(cell.kernel),
            np.asarray(cell.recurrent_kernel),
            None if bias is None else np.asarray(bias),
        )
        with torch.no_grad():
            for param, value in zip(params, converted):
                if param is not None:
                    param.copy_(value)
    flatten = getattr(module, "flatten_parameters", None)
    if callable(flatten):
        flatten()
    return module

"""Internal: matching a Keras recurrent layer with a PyTorch recurrent module.

Used by ``torch_impl.load_keras_weights`` and ``tf_impl.load_torch_weights``
(the same checks and messages both ways). Framework objects are read by duck
typing (class names, attributes), so this module imports NumPy alone.

* PyTorch side: ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (their ``mode``), or a
  ``torch_impl`` ``MaskedLSTM``/``MaskedGRU``/``MaskedRNN`` (their
  ``recurrent_kind``); parameters ``weight_ih_l0``, ``weight_hh_l0``,
  ``bias_ih_l0``, ``bias_hh_l0`` and the ``_reverse`` ones.
* Keras side: ``LSTM``/``GRU``/``SimpleRNN`` (or ``RNN`` over their cells), or a
  ``Bidirectional`` of one (its ``forward_layer`` and ``backward_layer``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["keras_cells", "pair_kind", "torch_parameters"]

_TORCH_MODES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "simple_rnn"}
_KERAS_CELLS = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "simple_rnn"}
_KERAS_NAMES = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
_TORCH_NAMES = {"lstm": "nn.LSTM", "gru": "nn.GRU", "simple_rnn": "nn.RNN"}


def torch_kind(module: object) -> tuple[str, bool, int, int, bool]:
    """``(kind, bidirectional, input_size, hidden_size, bias)`` of a recurrent module."""
    kind = getattr(module, "recurrent_kind", None)
    if kind is None:
        mode = getattr(module, "mode", None)
        if mode == "RNN_RELU":
            raise ValueError(
                "nn.RNN(nonlinearity='relu') has no Keras SimpleRNN twin here: maskref ports "
                "tanh RNNs only"
            )
        kind = _TORCH_MODES.get(mode)  # type: ignore[arg-type]
        if kind is None:
            raise TypeError(
                f"module must be an nn.LSTM, nn.GRU, nn.RNN or a torch_impl Masked* module, "
                f"got {type(module).__name__}"
            )
        if getattr(module, "num_layers", 1) != 1:
            raise ValueError(
                f"module has num_layers={module.num_layers}; a Keras layer is one layer: "  # type: ignore[attr-defined]
                f"port each layer separately"
            )
        if getattr(module, "proj_size", 0):
            raise ValueError("module has proj_size > 0, which Keras's LSTM has no twin for")
    return (
        kind,
        bool(getattr(module, "bidirectional", False)),
        int(module.input_size),  # type: ignore[attr-defined]
        int(module.hidden_size),  # type: ignore[attr-defined]
        getattr(module, "bias_ih_l0", None) is not None,
    )


def _cell(layer: object) -> object:
    cell = getattr(layer, "cell", None)
    if cell is None or type(cell).__name__ not in _KERAS_CELLS:
        raise TypeError(
            f"keras_layer must be a keras.layers.LSTM, GRU, SimpleRNN (or RNN over their cell) "
            f"or a Bidirectional of one, got {type(layer).__name__}"
        )
    return cell


def _keras_side(keras_layer: object) -> tuple[str, bool, list]:
    """``(kind, bidirectional, [layer per direction])``."""
    if type(keras_layer).__name__ == "Bidirectional":
        layers = [keras_layer.forward_layer, keras_layer.backward_layer]  # type: ignore[attr-defined]
    else:
        layers = [keras_layer]
    kinds = {_KERAS_CELLS.get(type(_cell(layer)).__name__) for layer in layers}
    if len(kinds) != 1:
        raise ValueError("the two directions of keras_layer must be layers of one kind")
    return kinds.pop(), len(layers) == 2, layers  # type: ignore[return-value]


def _activation(fn: object) -> str:
    return getattr(fn, "__name__", repr(fn))


def pair_kind(keras_layer: object, module: object) -> str:
    """The kind shared by ``keras_layer`` and ``module`` after checking that one's weights
    can be the other's; builds an unbuilt Keras layer for the module's ``input_size``."""
    kind, bidirectional, input_size, hidden_size, bias = torch_kind(module)
    keras_kind, keras_bidirectional, layers = _keras_side(keras_layer)
    if keras_kind != kind:
        raise ValueError(
            f"keras_layer is a Keras {_KERAS_NAMES[keras_kind]} but module is a "
            f"{_TORCH_NAMES[kind]} (or its Masked* twin): the kinds must match"
        )
    if keras_bidirectional != bidirectional:
        which = "a Bidirectional layer" if keras_bidirectional else "one direction"
        raise ValueError(
            f"keras_layer is {which} but module has bidirectional={bidirectional}: use "
            f"keras.layers.Bidirectional exactly with a bidirectional module"
        )
    if not getattr(keras_layer, "built", True):
        keras_layer.build((None, None, input_size))  # type: ignore[attr-defined]
    for layer in layers:
        cell = _cell(layer)
        units = int(cell.units)  # type: ignore[attr-defined]
        if units != hidden_size:
            raise ValueError(
                f"keras_layer has units={units} but module has hidden_size={hidden_size}"
            )
        kernel = getattr(cell, "kernel", None)
        if kernel is None:
            raise ValueError("keras_layer is not built: call it once, or build it, first")
        if int(kernel.shape[0]) != input_size:
            raise ValueError(
                f"keras_layer takes {int(kernel.shape[0])} input features but module has "
                f"input_size={input_size}"
            )
        if _activation(cell.activation) != "tanh":  # type: ignore[attr-defined]
            raise ValueError(
                f"keras_layer uses activation {_activation(cell.activation)}; PyTorch's "  # type: ignore[attr-defined]
                f"recurrent modules use tanh"
            )
        recurrent = getattr(cell, "recurrent_activation", None)
        if recurrent is not None and _activation(recurrent) != "sigmoid":
            raise ValueError(
                f"keras_layer uses recurrent_activation {_activation(recurrent)}; PyTorch's "
                f"gates use sigmoid"
            )
        if kind == "gru" and not cell.reset_after:  # type: ignore[attr-defined]
            raise ValueError(
                "keras_layer is a GRU with reset_after=False, which has no PyTorch "
                "equivalent: nn.GRU applies the reset gate after the recurrent matmul "
                "(reset_after=True); keras-team/keras#15915"
            )
        if bool(cell.use_bias) != bias:  # type: ignore[attr-defined]
            raise ValueError(
                f"keras_layer has use_bias={bool(cell.use_bias)} but module has bias={bias}"  # type: ignore[attr-defined]
            )
    return kind


def keras_cells(keras_layer: object, module: object) -> list[Any]:
    """The Keras cells holding the weights: one per direction, forward first."""
    return [_cell(layer) for layer in _keras_side(keras_layer)[2]]


def torch_parameters(module: object) -> list[tuple]:
    """``(weight_ih, weight_hh, bias_ih, bias_hh)`` per direction (biases None when absent)."""
    suffixes = ["_l0", "_l0_reverse"] if getattr(module, "bidirectional", False) else ["_l0"]
    return [
        tuple(
            getattr(module, f"{name}{suffix}", None)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )
        for suffix in suffixes
    ]

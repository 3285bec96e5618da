"""Keras mask-flow facts that ``maskref/conformance/native_flow_keras.py`` relies on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require

import reference
from maskref.api.flow import KERAS_LAYER_KINDS

F32 = np.float32
X = np.array([[[1.0], [0.0], [2.0]]], F32)  # step 1 is padding for Masking(0.0)
M = [[True, False, True]]


@pytest.fixture
def keras():
    require("keras")
    require("tensorflow")
    import keras

    return keras


def _mask(tensor):
    from keras.src.backend import get_keras_mask

    mask = get_keras_mask(tensor)
    return None if mask is None else np.asarray(mask).tolist()


def _call(layer, *args, **kwargs):
    """``layer(*args)`` and the messages of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = layer(*args, **kwargs)
    return out, [str(w.message) for w in caught]


def test_the_cases_record_the_tensorflow_backend(keras):
    assert keras.backend.backend() == "tensorflow"


def test_cases_are_well_formed_and_divergences_show_on_their_examples(keras):
    from maskref.conformance.core import check_inputs
    from maskref.conformance.native_flow_keras import cases

    found = cases()
    ids = [c.case_id for c in found]
    assert len(ids) == len(set(ids))
    for case in found:
        assert case.requires == ("keras", "tensorflow")
        if case.expect:
            assert case.explanation and case.example is not None, case.case_id
            assert check_inputs(case, case.example) is not None, case.case_id


def test_a_functional_model_can_output_the_symbolic_mask(keras):
    """The functional mode reads the mask as a model output; an output without a mask has
    no ``_keras_mask`` at all, and a one-output model returns a tensor, not a list."""
    inputs = keras.Input((None, 1))
    dense = keras.layers.Dense(2)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, [dense, dense._keras_mask])
    assert np.asarray(model(X)[1]).tolist() == M
    pooled = keras.layers.GlobalAveragePooling1D()(dense)
    assert _mask(pooled) is None
    assert not isinstance(keras.Model(inputs, [pooled])(X), (list, tuple))


def test_masking_zeroes_with_where_not_by_multiplying(keras):
    """An inf mask_value gives 0 at the masked step (inf * 0 would be NaN): Keras 3.15 uses
    where, as reference.masking_values does."""
    x = np.array([[[np.inf], [1.0]]], F32)
    out = keras.layers.Masking(np.inf)(x)
    assert np.asarray(out).ravel().tolist() == [0.0, 1.0]
    assert _mask(out) == [[False, True]]
    values, mask = reference.masking_values(x, np.inf)
    assert values.ravel().tolist() == [0.0, 1.0] and mask.tolist() == [[False, True]]


@pytest.mark.parametrize(
    "name", sorted(k for k, v in KERAS_LAYER_KINDS.items() if v in ("propagate", "destroy"))
)
def test_supports_masking_matches_the_kind(keras, name):
    """Layers of kind "propagate" support masking (default compute_mask); "destroy" ones do
    not (Keras warns and drops the mask)."""
    layers = keras.layers
    makers = {
        "Dense": lambda: layers.Dense(1),
        "Dropout": lambda: layers.Dropout(0.5),
        "Activation": lambda: layers.Activation("relu"),
        "TimeDistributed": lambda: layers.TimeDistributed(layers.Dense(1)),
        "Conv1D": lambda: layers.Conv1D(1, 1),
    }
    layer = makers.get(name, lambda: getattr(layers, name)())()
    assert layer.supports_masking == (KERAS_LAYER_KINDS[name] == "propagate")


def test_a_layer_without_masking_support_warns_and_drops_the_mask(keras):
    class Plain(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    out, messages = _call(Plain(), keras.layers.Masking(0.0)(X))
    assert _mask(out) is None
    assert any(
        "does not support masking and will therefore destroy the mask" in m for m in messages
    )


def test_overriding_compute_mask_turns_masking_support_on(keras):
    class Transform(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else keras.ops.logical_not(mask)

    layer = Transform()
    assert layer.supports_masking
    out, messages = _call(layer, keras.layers.Masking(0.0)(X))
    assert _mask(out) == [[False, True, False]] and not messages


def test_call_with_a_mask_parameter_receives_the_mask_but_destroys_it(keras):
    class Reads(keras.layers.Layer):
        def call(self, inputs, mask=None):
            self.seen = None if mask is None else np.asarray(mask).tolist()
            return inputs * 2.0

    layer = Reads()
    out, messages = _call(layer, keras.layers.Masking(0.0)(X))
    assert layer.seen == M and not layer.supports_masking
    assert _mask(out) is None and messages


def test_lambda_supports_masking_only_with_a_mask_argument(keras):
    assert not keras.layers.Lambda(lambda t: t).supports_masking
    propagate = keras.layers.Lambda(lambda t: t * 2.0, mask=lambda t, m: m)
    assert propagate.supports_masking
    assert _mask(propagate(keras.layers.Masking(0.0)(X))) == M


def test_an_identity_lambda_warns_but_its_output_keeps_the_mask(keras):
    """The mask lives on the tensor object: returning the input object returns the mask."""
    masked = keras.layers.Masking(0.0)(X)
    out, messages = _call(keras.layers.Lambda(lambda t: t), masked)
    assert out is masked and _mask(out) == M and messages
    symbolic, _ = _call(
        keras.layers.Lambda(lambda t: t), keras.layers.Masking(0.0)(keras.Input((None, 1)))
    )
    assert _mask(symbolic) is None


def test_mha_clears_the_skip_mask_eager_add_has_none_functional_add_has_it(keras):
    layers = keras.layers
    masking, mha, add = layers.Masking(0.0), layers.MultiHeadAttention(1, 2), layers.Add()
    x = masking(X)
    assert _mask(add([x, mha(x, x)])) is None
    assert _mask(x) is None  # cleared by the attention call
    inputs = keras.Input((None, 1))
    s = masking(inputs)
    total = add([s, mha(s, s)])
    graph_mask = keras.Model(inputs, [total, total._keras_mask])(X)[1]
    assert np.asarray(graph_mask).tolist() == M
    assert _mask(keras.Model(inputs, total)(X)) is None  # the run-time output has none


def test_attention_does_not_clear_its_inputs_masks(keras):
    x = keras.layers.Masking(0.0)(X)
    out = keras.layers.Attention()([x, x])
    assert _mask(x) == M and _mask(out) == M
    assert _mask(keras.layers.Add()([x, out])) == M


def test_lstm_with_initial_state_runs_unmasked_but_keeps_the_mask_on_its_output(keras):
    lstm = keras.layers.LSTM(2, return_sequences=True)
    x = keras.layers.Masking(0.0)(X)
    state = [np.zeros((1, 2), F32)] * 2
    auto = lstm(x, initial_state=state)
    explicit = lstm(x, initial_state=state, mask=np.array(M))
    unmasked = lstm(np.asarray(x), initial_state=state)
    np.testing.assert_array_equal(np.asarray(auto), np.asarray(unmasked))
    assert not np.allclose(np.asarray(auto), np.asarray(explicit))
    assert _mask(auto) == M


def test_lstm_fully_masked_row_outputs_zero_not_the_initial_state(keras):
    lstm = keras.layers.LSTM(2)
    h = np.full((1, 2), 0.5, F32)
    out = lstm(np.zeros((1, 1, 1), F32), initial_state=[h, h], mask=np.array([[False]]))
    assert np.asarray(out).tolist() == [[0.0, 0.0]]


def test_multiply_passes_the_other_input_through_a_masked_step(keras):
    masked = keras.layers.Masking(0.0)(np.array([[[0.0], [2.0]]], F32))
    out = keras.layers.Multiply()([masked, np.array([[[3.0], [3.0]]], F32)])
    assert np.asarray(out).ravel().tolist() == [3.0, 6.0]
    assert _mask(out) is None  # one input has no mask


def test_concatenate_on_time_joins_masks_of_different_lengths(keras):
    masking = keras.layers.Masking(0.0)
    a, b = masking(np.array([[[1.0]]], F32)), masking(np.array([[[0.0], [1.0]]], F32))
    assert _mask(keras.layers.Concatenate(axis=1)([a, b])) == [[True, False, True]]

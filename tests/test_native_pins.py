"""Framework facts the registry relies on, pinned one by one."""

from __future__ import annotations

import numpy as np
from conftest import require


def test_tf_keras_pad_sequences_is_keras_pad_sequences():
    require("tensorflow")
    import keras
    import tensorflow as tf

    assert tf.keras.preprocessing.sequence.pad_sequences is keras.utils.pad_sequences


def test_keras_masking_on_tensorflow_flushes_subnormals_to_zero():
    """On the TF backend (CPU), 1e-45 == 0, so Masking(0.) masks a subnormal step.

    The reference (NumPy) keeps it valid; the strategies exclude subnormals.
    """
    require("tensorflow")
    import keras
    from keras.src.backend import get_keras_mask

    import reference as ref

    x = np.array([[[1e-45]]], dtype=np.float32)
    assert ref.mask_from_value(x).tolist() == [[True]]
    if keras.backend.backend() == "tensorflow":
        assert get_keras_mask(keras.layers.Masking(0.0)(x)).numpy().tolist() == [[False]]


def test_keras_masking_rejects_a_mask_argument_and_reduces_the_last_axis():
    require("keras")
    import keras
    from keras.src.backend import get_keras_mask

    y = keras.layers.Masking(0.0)(np.array([[0, 0, 0], [1, 0, 2]], dtype=np.float32))
    assert np.asarray(get_keras_mask(y)).tolist() == [False, True]


def test_embedding_mask_zero_keeps_row_zero_in_the_lookup():
    require("keras")
    import keras

    emb = keras.layers.Embedding(4, 2, mask_zero=True)
    out = np.asarray(emb(np.array([[0, 1]])))
    np.testing.assert_array_equal(out[0, 0], np.asarray(emb.embeddings)[0])


def test_torch_pad_sequence_rejects_unknown_side():
    require("torch")
    import pytest
    import torch
    from torch.nn.utils.rnn import pad_sequence

    with pytest.raises(RuntimeError, match="padding_side"):
        pad_sequence([torch.tensor([1])], batch_first=True, padding_side="middle")

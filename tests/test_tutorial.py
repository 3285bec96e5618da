"""The tutorial this project grew from: every output it shows, reproduced.

Through the reference and through Keras itself (shared/seeds/...notebook).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import reference as ref

INPUTS = [[1, 2, 3], [4, 5], [1, 4, 8, 19]]
PADDED = [[1, 2, 3, 0], [4, 5, 0, 0], [1, 4, 8, 19]]
TILED_MASK_4 = [[True, True, True, True], [False, True, True, True], [True, False, True, True]]


def tiled(padded: np.ndarray) -> np.ndarray:
    return np.tile(padded.astype(np.float32)[:, :, None], (1, 1, 5))


def test_reference_reproduces_the_tutorial():
    padded = ref.pad_sequences(INPUTS, padding="post")
    assert padded.dtype == np.int32
    np.testing.assert_array_equal(padded, PADDED)
    values = padded.astype(np.float32)
    mask = ref.mask_from_value(values, 0.0)  # Masking(0.) on (3, 4): one entry per row
    np.testing.assert_array_equal(mask, [True, True, True])
    np.testing.assert_array_equal(ref.apply_mask(values, mask), PADDED)
    np.testing.assert_array_equal(ref.mask_from_value(tiled(padded), 4.0), TILED_MASK_4)
    # the tutorial's tf.tile trick, as expand_mask
    full = ref.expand_mask(ref.mask_from_value(tiled(padded), 4.0), tiled(padded))
    assert full.shape == (3, 4, 5)


def test_keras_reproduces_the_tutorial():
    require("tensorflow")
    import tensorflow as tf

    padded = tf.keras.preprocessing.sequence.pad_sequences(INPUTS, padding="post")
    np.testing.assert_array_equal(padded, PADDED)
    assert padded.dtype == np.int32
    masked = tf.keras.layers.Masking(mask_value=0.0)(tf.cast(padded, tf.float32))
    np.testing.assert_array_equal(masked.numpy(), PADDED)
    np.testing.assert_array_equal(masked._keras_mask.numpy(), [True, True, True])
    tiled_mask = tf.keras.layers.Masking(mask_value=4.0)(
        tf.tile(tf.expand_dims(tf.cast(padded, tf.float32), axis=-1), multiples=[1, 1, 5])
    )._keras_mask
    np.testing.assert_array_equal(tiled_mask.numpy(), TILED_MASK_4)


@pytest.mark.parametrize("name", ["tf_impl", "torch_impl"])
def test_backends_reproduce_the_tutorial(name):
    from conftest import FRAMEWORK, to_numpy

    require(FRAMEWORK[name])
    import importlib

    b = importlib.import_module(name)
    padded = to_numpy(b.pad_sequences(INPUTS, padding="post"))
    np.testing.assert_array_equal(padded, PADDED)
    np.testing.assert_array_equal(
        to_numpy(b.mask_from_value(tiled(np.asarray(padded)), 4.0)), TILED_MASK_4
    )

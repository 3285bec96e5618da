"""The tutorial's section "Flow of Masks in Keras Layers", reproduced in Keras 3.15.

Each claim of the section (shared/seeds/keras-masking-and-padding-notebook.txt)
is a test: the two layers that create masks, masks flowing through layers
that support them, ``compute_mask``, ``call(self, inputs, mask=None)``, and
custom layers destroying the mask by default (Keras 3 now warns). The
section prints no outputs of its own, so the masks are checked against the
tutorial's printed ``Masking(4.)`` mask (In [95]) as it flows on. Each custom
layer is written twice: as the tutorial says (plain ``keras.layers.Layer``)
and with maskref's base classes (``tf_impl.flow``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require
from test_tutorial import PADDED, TILED_MASK_4

DESTROY_WARNING = (
    r"was passed an input with a mask attached to it\. However, this layer does "
    r"not support masking and will therefore destroy the mask information\. "
    r"Downstream layers will not see the mask\."
)
# The tutorial's In [95] output, as TensorFlow prints it.
PRINTED_MASK = """<tf.Tensor: shape=(3, 4), dtype=bool, numpy=
array([[ True,  True,  True,  True],
       [False,  True,  True,  True],
       [ True, False,  True,  True]])>"""


@pytest.fixture
def tf():
    require("tensorflow")
    import tensorflow

    return tensorflow


def tutorial_masked(tf):
    """The tutorial's In [95]: Masking(4.) over the padded inputs tiled to (3, 4, 5)."""
    padded = tf.keras.preprocessing.sequence.pad_sequences(
        [[1, 2, 3], [4, 5], [1, 4, 8, 19]], padding="post"
    )
    np.testing.assert_array_equal(padded, PADDED)
    tiled = tf.tile(tf.expand_dims(tf.cast(padded, dtype=tf.float32), axis=-1), multiples=[1, 1, 5])
    masked = tf.keras.layers.Masking(mask_value=4.0)(tiled)
    assert repr(masked._keras_mask) == PRINTED_MASK
    return masked


def tutorial_tiled() -> np.ndarray:
    return np.tile(np.asarray(PADDED, np.float32)[:, :, None], (1, 1, 5))


# Keep (+1 on the Masking output, whose 4.0 steps are zeroed), flip, then the mean over the
# valid steps: rows [2, 3, 4, 1], [1, 6, 1, 1] without its step 0, [2, 1, 9, 20] without step 1.
EXPECTED_MEAN = [2.5, 8 / 3, 31 / 3]


def layers(tf):
    """The section's four custom layers: keep, transform, read (consume), and the default."""
    keras = tf.keras

    class Keep(keras.layers.Layer):  # "put self.supports_masking = True in the constructor"
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return inputs + 1.0

    class Transform(keras.layers.Layer):  # "implement a compute_mask"
        def call(self, inputs):
            return inputs[:, ::-1]

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else mask[:, ::-1]

    class Read(keras.layers.Layer):  # "call(self, inputs, mask=None)"
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            self.seen = mask
            keep = tf.cast(mask, inputs.dtype)[..., None]
            return tf.reduce_sum(inputs * keep, axis=1) / tf.reduce_sum(keep, axis=1)

        def compute_mask(self, inputs, mask=None):
            return None

    class Default(keras.layers.Layer):  # "Custom Layers by default destroy the mask"
        def call(self, inputs):
            return inputs * 2.0

    return Keep, Transform, Read, Default


def maskref_layers(tf):
    """The same four layers on maskref's bases."""
    from tf_impl import ConsumingLayer, PropagatingLayer, TransformingLayer

    _, _, _, default = layers(tf)

    class Keep(PropagatingLayer):
        def call(self, inputs):
            return inputs + 1.0

    class Transform(TransformingLayer):
        def call(self, inputs):
            return inputs[:, ::-1]

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else mask[:, ::-1]

    class Read(ConsumingLayer):
        def call(self, inputs, mask=None):
            self.seen = mask
            keep = tf.cast(mask, inputs.dtype)[..., None]
            return tf.reduce_sum(inputs * keep, axis=1) / tf.reduce_sum(keep, axis=1)

    return Keep, Transform, Read, default


def test_two_layers_create_masks(tf):
    """'Two layers that can generate or attach masks are: Embedding, Masking'."""
    masked = tutorial_masked(tf)
    np.testing.assert_array_equal(masked._keras_mask.numpy(), TILED_MASK_4)
    emb = tf.keras.layers.Embedding(20, 3, mask_zero=True)(np.asarray(PADDED))
    np.testing.assert_array_equal(emb._keras_mask.numpy(), np.asarray(PADDED) != 0)
    assert emb.shape == (3, 4, 3) and emb._keras_mask.shape == (3, 4)  # one axis less
    assert not hasattr(tf.keras.layers.Embedding(20, 3)(np.asarray(PADDED)), "_keras_mask")


def test_masks_flow_through_layers_that_support_masking(tf):
    """'Once masking is attached/generated they flow through the subsequent layers'."""
    masked = tutorial_masked(tf)
    y = tf.keras.layers.Dropout(0.5)(tf.keras.layers.Dense(2)(masked))
    assert repr(y._keras_mask) == PRINTED_MASK
    # ... and are computed by compute_mask(), which the layers that support masking implement
    mask_layer = tf.keras.layers.Masking(mask_value=4.0)
    assert repr(mask_layer.compute_mask(tf.constant(tutorial_tiled()))) == PRINTED_MASK
    lstm = tf.keras.layers.LSTM(2, return_sequences=True)  # "Check the LSTM layer"
    out = lstm(masked)
    assert repr(out._keras_mask) == PRINTED_MASK
    assert repr(lstm.compute_mask(masked, masked._keras_mask)) == PRINTED_MASK
    # ... and are used by passing mask= to __call__: the same as the attached mask
    np.testing.assert_array_equal(lstm(masked, mask=masked._keras_mask).numpy(), out.numpy())


@pytest.mark.parametrize("make", [layers, maskref_layers], ids=["tutorial", "maskref"])
def test_custom_layers_keep_transform_read_and_destroy(tf, make):
    keep, transform, read, default = make(tf)
    masked = tutorial_masked(tf)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # keeping, transforming and reading give no warning
        kept = keep()(masked)
        assert repr(kept._keras_mask) == PRINTED_MASK
        np.testing.assert_array_equal(kept.numpy(), masked.numpy() + 1.0)

        flipped = transform()(kept)
        np.testing.assert_array_equal(
            flipped._keras_mask.numpy(), np.asarray(TILED_MASK_4)[:, ::-1]
        )

        reader = read()
        mean = reader(flipped)
        np.testing.assert_array_equal(reader.seen.numpy(), np.asarray(TILED_MASK_4)[:, ::-1])
        assert not hasattr(mean, "_keras_mask") or mean._keras_mask is None
        np.testing.assert_allclose(mean.numpy()[:, 0], EXPECTED_MEAN, rtol=1e-6)

    with pytest.warns(UserWarning, match=DESTROY_WARNING):
        destroyed = default()(masked)
    assert getattr(destroyed, "_keras_mask", None) is None
    assert not default().supports_masking


def test_in_a_functional_model(tf):
    keep, transform, read, default = maskref_layers(tf)
    keras = tf.keras
    inp = keras.Input((4, 5))
    x = keras.layers.Masking(mask_value=4.0)(inp)
    y = read()(transform()(keep()(x)))
    model = keras.Model(inp, y)
    np.testing.assert_allclose(model(tutorial_tiled()).numpy()[:, 0], EXPECTED_MEAN, rtol=1e-6)
    with pytest.warns(UserWarning, match=DESTROY_WARNING):
        z = default()(x)
    assert z._keras_mask is None if hasattr(z, "_keras_mask") else True


def test_default_custom_layer_keeps_the_mask_only_on_the_same_object(tf):
    """Keras 3 detail: the warning fires, but a layer returning its input leaves the mask on it.

    And a layer that only reads ``mask`` in ``call`` (without ``supports_masking``)
    receives the mask, warns, and returns no mask: why ``ConsumingLayer`` sets the flag.
    """
    keras = tf.keras
    masked = tutorial_masked(tf)

    class Identity(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    with pytest.warns(UserWarning, match=DESTROY_WARNING):
        same = Identity()(masked)
    assert same is masked and repr(same._keras_mask) == PRINTED_MASK

    class ReadOnly(keras.layers.Layer):
        def call(self, inputs, mask=None):
            self.seen = mask
            return inputs * 1.0

    layer = ReadOnly()
    with pytest.warns(UserWarning, match=DESTROY_WARNING):
        out = layer(masked)
    assert repr(layer.seen) == PRINTED_MASK
    assert getattr(out, "_keras_mask", None) is None

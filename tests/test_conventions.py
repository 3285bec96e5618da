"""Hand-written examples of the mask conventions and their conversions, in every backend."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import to_numpy

from maskref.api.conventions import (
    ADDITIVE_THRESHOLD,
    CONVENTIONS,
    EXTRA_CONVENTIONS,
    NAMED_CONVENTIONS,
)

T, F = True, False
KEEP = np.array([[T, F, T], [F, F, T]])


def _dtype_name(value) -> str:
    return np.asarray(to_numpy(value)).dtype.name


@pytest.mark.parametrize(
    ("target", "expected", "dtype"),
    [
        ("keep", [[T, F, T], [F, F, T]], "bool"),
        ("drop", [[F, T, F], [T, T, F]], "bool"),
        ("int", [[1, 0, 1], [0, 0, 1]], "int64"),
        ("additive", [[0, -np.inf, 0], [-np.inf, -np.inf, 0]], "float32"),
        (
            "additive_min",
            [[0, np.finfo(np.float32).min, 0], [np.finfo(np.float32).min] * 2 + [0]],
            "float32",
        ),
    ],
)
def test_writing_each_convention(backend, native, target, expected, dtype):
    out = backend.convert_mask(native(KEEP), "keep", target)
    assert _dtype_name(out) == dtype
    np.testing.assert_array_equal(to_numpy(out), np.asarray(expected, dtype))
    back = backend.convert_mask(out, target, "keep")
    np.testing.assert_array_equal(to_numpy(back), KEEP)


def test_named_conventions_are_the_frameworks_polarities(backend, native):
    keras = native(KEEP)
    kpm = to_numpy(
        backend.convert_mask(keras, "keras", "torch.nn.MultiheadAttention.key_padding_mask")
    )
    np.testing.assert_array_equal(kpm, ~KEEP)
    sdpa = to_numpy(
        backend.convert_mask(keras, "keras", "torch.nn.functional.scaled_dot_product_attention")
    )
    np.testing.assert_array_equal(sdpa, KEEP)
    np.testing.assert_array_equal(to_numpy(backend.convert_mask(keras, "keras", "numpy.ma")), ~KEEP)
    hf = backend.convert_mask(keras, "keras", "transformers")
    assert _dtype_name(hf) == "int64"
    np.testing.assert_array_equal(to_numpy(hf), KEEP.astype(int))


def test_additive_threshold(backend, native):
    bias = np.array(
        [0.0, -0.5, -9999.0, -1e4, -1e9, -np.inf, np.finfo(np.float32).min, 3.0], np.float32
    )
    keep = to_numpy(backend.convert_mask(native(bias), "additive", "keep"))
    np.testing.assert_array_equal(keep, [T, T, T, F, F, F, F, T])
    assert ADDITIVE_THRESHOLD == -1e4
    strict = to_numpy(backend.convert_mask(native(bias), "additive", "keep", threshold=-0.25))
    np.testing.assert_array_equal(strict, [T, F, F, F, F, F, F, T])


def test_float16_additive_min_and_dtype_argument(backend, native):
    out = backend.convert_mask(native(np.array([T, F])), "keep", "additive_min", dtype="float16")
    np.testing.assert_array_equal(to_numpy(out), np.array([0, -65504], np.float16))
    keeps_float = backend.convert_mask(
        native(np.array([0.0, -np.inf], np.float64)), "additive", "additive_min"
    )
    assert _dtype_name(keeps_float) == "float64"
    as_float = backend.convert_mask(native(np.array([T, F])), "keep", "int", dtype="float32")
    np.testing.assert_array_equal(to_numpy(as_float), np.array([1.0, 0.0], np.float32))


@pytest.mark.parametrize(
    ("mask", "source", "target", "kwargs", "error"),
    [
        (np.array([1, 0]), "keep", "drop", {}, TypeError),  # keep masks are boolean
        (np.array([T, F]), "int", "keep", {}, TypeError),  # a bool mask is 'keep' or 'drop'
        (np.array([1, 2]), "int", "keep", {}, ValueError),  # counts are not masks
        (np.array([0.0, 0.5]), "int", "keep", {}, ValueError),
        (np.array([1, 0]), "additive", "keep", {}, TypeError),  # biases are floats
        (np.array([0.0, np.nan]), "additive", "keep", {}, ValueError),
        (np.array([T, F]), "keep", "additive", {"dtype": "int32"}, TypeError),
        (np.array([T, F]), "keep", "int", {"dtype": "bool"}, TypeError),
        (np.array([T, F]), "keep", "keep", {"dtype": "float32"}, TypeError),
        (np.array([T, F]), "Keras", "keep", {}, ValueError),
        (np.array([T, F]), "keep", "torch", {}, ValueError),
        (np.array([T, F]), "keep", "drop", {"threshold": 0.0}, ValueError),
    ],
)
def test_bad_masks_and_conventions(backend, native, mask, source, target, kwargs, error):
    with pytest.raises(error):
        backend.convert_mask(native(mask), source, target, **kwargs)


def test_unknown_name_lists_the_known_ones(backend):
    with pytest.raises(ValueError, match=r"torch\.nn\.MultiheadAttention\.key_padding_mask"):
        backend.mask_convention("torch.MultiheadAttention")
    entry = backend.mask_convention("transformers")
    assert (entry.convention, entry.name) == ("int", "transformers")
    assert set(NAMED_CONVENTIONS) >= {
        "keras",
        "torch.nn.MultiheadAttention.key_padding_mask",
        "torch.nn.MultiheadAttention.attn_mask",
        "torch.nn.functional.scaled_dot_product_attention",
        "numpy.ma",
        "transformers",
        "jax.nn.dot_product_attention",
        "flax",
    }
    for name, entry in NAMED_CONVENTIONS.items():
        assert entry.name == name and entry.shape
        assert entry.convention in CONVENTIONS + EXTRA_CONVENTIONS


def test_input_is_not_mutated(backend, native):
    mask = np.array([T, F, T])
    given = native(mask)
    backend.convert_mask(given, "keep", "drop")
    np.testing.assert_array_equal(to_numpy(given), mask)


def test_empty_and_scalar_masks(backend, native):
    empty = backend.convert_mask(native(np.zeros((0, 3), bool)), "keep", "additive")
    assert to_numpy(empty).shape == (0, 3)
    scalar = backend.convert_mask(native(np.array(1)), "int", "drop")
    assert to_numpy(scalar).shape == () and not to_numpy(scalar)


# --- issue 12, item 19: bfloat16 in every backend -------------------------------------------


def _native_dtype_name(t) -> str:
    dtype = t.dtype
    if hasattr(dtype, "is_floating_point"):  # torch.dtype
        return str(dtype).rsplit(".", 1)[-1]
    return dtype.name


def _bfloat16_of(backend):
    """The backend's own spelling of bfloat16."""
    if backend.__name__ == "torch_impl":
        import torch

        return torch.bfloat16
    if backend.__name__ == "tf_impl":
        import tensorflow as tf

        return tf.bfloat16
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return ml_dtypes.bfloat16


@pytest.mark.parametrize("spelling", ["name", "native"])
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("additive_min", [0.0, -3.3895313892515355e38]),
        ("additive", [0.0, -np.inf]),
        ("int", [1, 0]),
    ],
)
def test_convert_mask_writes_bfloat16(backend, native, spelling, target, expected):
    """Item 19: dtype="bfloat16" worked in torch_impl only."""
    if backend.__name__ == "reference":
        pytest.importorskip("ml_dtypes")
    dtype = "bfloat16" if spelling == "name" else _bfloat16_of(backend)
    out = backend.convert_mask(native(np.array([T, F])), "keep", target, dtype=dtype)
    assert _native_dtype_name(out) == "bfloat16"
    np.testing.assert_array_equal(np.asarray(to_numpy(out), np.float64), expected)
    back = backend.convert_mask(out, "int" if target == "int" else "additive", "keep")
    np.testing.assert_array_equal(to_numpy(back), [T, F])


def test_the_reference_names_ml_dtypes_when_it_is_missing():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"  # `import ml_dtypes` fails
        "import reference\n"
        "try:\n"
        "    reference.convert_mask([True], 'keep', 'additive', dtype='bfloat16')\n"
        "except TypeError as err:\n"
        "    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pip install ml_dtypes" in result.stdout


# --- JAX/Flax conventions: nonzero masks and lengths ----------------------------------------


@pytest.mark.parametrize("name", ["flax", "maxtext.decoder_segment_ids"])
def test_nonzero_masks_round_trip(backend, native, name):
    keep = np.array([[True, True, False], [False, True, True]])
    written = to_numpy(backend.convert_mask(native(keep), "keep", name))
    np.testing.assert_array_equal(written, keep.astype(np.float32))
    assert written.dtype == np.float32
    back = to_numpy(backend.convert_mask(native(np.array([[2.0, 0.0, -1.0]])), name, "keep"))
    np.testing.assert_array_equal(back, [[True, False, True]])


@pytest.mark.parametrize("which", ["key_value_seq_lengths", "query_seq_lengths"])
def test_lengths_conventions_are_right_padding_only(backend, native, which):
    name = f"jax.nn.dot_product_attention.{which}"
    keep = np.array([[True, True, False], [False, False, False]])
    lengths = to_numpy(backend.convert_mask(native(keep), "keep", name))
    np.testing.assert_array_equal(lengths, [2, 0])
    assert lengths.dtype == np.int32
    again = to_numpy(backend.convert_mask(native(lengths), name, "keep", seqlen=3))
    np.testing.assert_array_equal(again, keep)
    with pytest.raises(ValueError, match="row 1 is not right-padded"):
        backend.convert_mask(native(np.array([[True, False], [False, True]])), "keep", name)
    with pytest.raises(ValueError, match="seqlen"):
        backend.convert_mask(native(keep), "keep", "drop", seqlen=3)

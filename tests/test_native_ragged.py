"""Framework facts that ``maskref.conformance.native_ragged`` relies on, pinned one by one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require

import reference as rr

# -- TensorFlow ---------------------------------------------------------------------------


def test_tf_from_tensor_lengths_clip_above_t_and_negative_means_empty():
    """``lengths`` are clipped to ``[0, T]``: above T keeps the row, below 0 empties it."""
    require("tensorflow")
    import tensorflow as tf

    rt = tf.RaggedTensor.from_tensor(np.array([[1, 2], [3, 4], [5, 6]]), lengths=[5, -1, 1])
    assert rt.to_list() == [[1, 2], [], [5]]
    assert rt.row_splits.dtype == tf.int64


def test_tf_from_tensor_lengths_keep_a_prefix_even_for_a_mask_with_holes():
    require("tensorflow")
    import tensorflow as tf

    x, mask = np.array([[1, 2, 3]]), np.array([[False, True, True]])
    rt = tf.RaggedTensor.from_tensor(x, lengths=mask.sum(1))
    assert rt.to_list() == [[1, 2]]
    assert tf.ragged.boolean_mask(x, mask).to_list() == [[2, 3]]
    assert rr.ragged_from_padded(x, mask)[0].tolist() == [2, 3]


def test_tf_from_tensor_padding_strips_only_the_trailing_suffix():
    require("tensorflow")
    import tensorflow as tf

    rt = tf.RaggedTensor.from_tensor(np.array([[1, 0, 2, 0, 0], [0, 0, 0, 0, 0]]), padding=0)
    assert rt.to_list() == [[1, 0, 2], []]


def test_tf_to_tensor_truncates_post_and_its_batch_entry_drops_or_adds_rows():
    require("tensorflow")
    import tensorflow as tf

    rt = tf.RaggedTensor.from_row_splits(np.array([1, 2, 3, 4]), np.array([0, 3, 4]))
    assert rt.to_tensor(-1, shape=[2, 2]).numpy().tolist() == [[1, 2], [4, -1]]
    assert rt.to_tensor(-1, shape=[1, 2]).numpy().tolist() == [[1, 2]]
    assert rt.to_tensor(-1, shape=[3, 1]).numpy().tolist() == [[1], [4], [-1]]
    x, _ = rr.padded_from_ragged(
        np.array([1, 2, 3, 4]), [0, 3, 4], maxlen=2, value=-1, truncating="post"
    )
    assert x.tolist() == [[1, 2], [4, -1]]


def test_tf_reverse_sequence_refuses_lengths_out_of_range_eager_and_in_a_graph():
    require("tensorflow")
    import tensorflow as tf

    x = np.arange(4).reshape(1, 4)
    graph = tf.function(lambda x, n: tf.reverse_sequence(x, n, seq_axis=1, batch_axis=0))
    for lengths in ([5], [-1]):
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)
        with pytest.raises(tf.errors.InvalidArgumentError):
            graph(x, tf.constant(lengths, tf.int64))
        with pytest.raises(ValueError):
            rr.reverse_sequences(x, lengths)


# -- PyTorch ------------------------------------------------------------------------------


def test_torch_pack_padded_enforce_sorted_gives_no_indices():
    require("torch")
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(torch.zeros(2, 3), [3, 1], batch_first=True)
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    mine = rr.pack_sequences(np.zeros((2, 3)), [3, 1], enforce_sorted=True)
    assert mine.sorted_indices.tolist() == [0, 1]


def test_torch_pack_padded_keeps_ties_in_order_up_to_16_rows_only():
    """The agreement domain (B <= 4) relies on torch's sort being stable for few rows."""
    require("torch")
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    rng = np.random.default_rng(0)
    for batch in range(1, 17):
        for lengths in (np.ones(batch, np.int64), rng.integers(1, 4, batch)):
            packed = pack_padded_sequence(
                torch.zeros(batch, 3),
                torch.from_numpy(lengths),
                batch_first=True,
                enforce_sorted=False,
            )
            stable = np.argsort(-lengths, kind="stable")
            assert packed.sorted_indices.tolist() == stable.tolist(), (batch, lengths)
    packed = pack_padded_sequence(
        torch.zeros(17, 1),
        torch.ones(17, dtype=torch.int64),
        batch_first=True,
        enforce_sorted=False,
    )
    assert packed.sorted_indices.tolist() != list(range(17))


def test_torch_pack_padded_refuses_zero_lengths_and_empty_tensors():
    require("torch")
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(torch.zeros(2, 2), [2, 0], batch_first=True, enforce_sorted=False)
    with pytest.raises(RuntimeError, match="empty"):
        pack_padded_sequence(
            torch.zeros(0, 2),
            torch.zeros(0, dtype=torch.int64),
            batch_first=True,
            enforce_sorted=False,
        )


def test_torch_pad_packed_refuses_a_short_total_length_as_the_reference():
    require("torch")
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(torch.zeros(2, 3), [3, 1], batch_first=True)
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(packed, batch_first=True, total_length=2)
    with pytest.raises(ValueError, match="total_length"):
        rr.unpack_sequences(rr.pack_sequences(np.zeros((2, 3)), [3, 1]), total_length=2)


def _jagged(values, offsets, **kwargs):
    import torch
    from torch.nested import nested_tensor_from_jagged

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nested_tensor_from_jagged(torch.tensor(values), torch.tensor(offsets), **kwargs)


def test_torch_jagged_pads_to_all_steps_unless_told_the_longest_row():
    require("torch")

    assert _jagged([1, 2, 3], [0, 1, 3]).to_padded_tensor(0).tolist() == [[1, 0, 0], [2, 3, 0]]
    assert _jagged([1, 2, 3], [0, 1, 3], max_seqlen=2).to_padded_tensor(0).tolist() == [
        [1, 0],
        [2, 3],
    ]
    assert _jagged([1, 2, 3], [0, 1, 3]).to_padded_tensor(0, output_size=(2, 2)).tolist() == [
        [1, 0],
        [2, 3],
    ]


def test_torch_jagged_output_size_truncates_post_and_ignores_its_batch_entry():
    require("torch")

    nt = _jagged([1, 2, 3], [0, 1, 3])
    assert nt.to_padded_tensor(0, output_size=(2, 1)).tolist() == [[1], [2]]
    for batch in (0, 1, 5):
        assert nt.to_padded_tensor(0, output_size=(batch, 2)).shape == (2, 2)


def test_torch_jagged_empty_batch_and_zero_length_rows_as_the_reference():
    require("torch")

    empty = np.zeros(0, np.float32)
    for splits, shape in (([0], (0, 0)), ([0, 0, 0], (2, 0))):
        got = _jagged(empty, splits).to_padded_tensor(0.0)
        assert tuple(got.shape) == shape
        assert rr.padded_from_ragged(empty, splits)[0].shape == shape

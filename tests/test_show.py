"""maskref.show: batches, attention masks and layouts as text, and the ``maskref show`` command."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import maskref.show
import reference
from maskref.cli import main
from maskref.show import compute_layouts, render_attention_mask, render_batch, render_layouts

LEGEND = "░ masked step (mask False)   mask: █ valid · masked"


def test_render_batch_marks_masked_steps_and_prints_the_mask():
    x = reference.pad_sequences([[1, 2, 3], [4, 5], [6]])
    mask = reference.sequence_mask([3, 2, 1], 3, padding="pre")
    assert render_batch(x, mask) == "\n".join(
        [
            "    t=0 t=1 t=2  mask",
            "b=0   1   2   3  ███",
            "b=1 ░░0   4   5  ·██",
            "b=2 ░░0 ░░0   6  ··█",
            LEGEND,
        ]
    )


def test_render_batch_without_a_mask_spells_out_nan_and_inf():
    x = np.array([[0.5, np.nan], [-np.inf, 1234.5]])
    assert render_batch(x) == "\n".join(
        [
            "         t=0      t=1",
            "b=0      0.5      nan",
            "b=1     -inf 1.23e+03",
        ]
    )


def test_a_masked_value_as_wide_as_its_column_still_shows_the_shade():
    assert render_batch([[-1.5, 2.0]], [[False, True]]).splitlines()[1] == "b=0 ░-1.5     2  ·█"


def test_render_batch_3d_shows_the_first_feature_and_a_sequence_mask():
    x = np.arange(8).reshape(2, 2, 2)
    assert render_batch(x, np.array([True, False])) == "\n".join(
        [
            "(cells show x[..., 0], feature 0 of 2)",
            "    t=0 t=1  mask",
            "b=0   0   2  ██",
            "b=1 ░░4 ░░6  ··",
            LEGEND,
        ]
    )


def test_width_elides_the_middle_steps():
    x = np.arange(12).reshape(1, 12)
    mask = np.arange(12).reshape(1, 12) < 11
    assert render_batch(x, mask, width=32) == "\n".join(
        [
            "     t=0  t=1 … t=10 t=11  mask",
            "b=0    0    1 …   10 ░░11  ██…█·",
            LEGEND,
        ]
    )
    assert render_batch(x, mask, width=31).splitlines()[1] == "b=0    0    1 … ░░11  ██…·"


def test_render_attention_mask():
    assert render_attention_mask(reference.causal_mask(3)) == "\n".join(
        [
            "q\\k 0 1 2",
            "  0 █ · ·",
            "  1 █ █ ·",
            "  2 █ █ █",
            "█ may attend (True)   · masked (False)",
        ]
    )


def test_render_batched_attention_mask_marks_queries_without_a_key():
    m = reference.sequence_mask([2, 1], 2)
    assert render_attention_mask(reference.attention_mask(m, m)[:, None]) == "\n".join(
        [
            "b=0, h=0:",
            "q\\k 0 1",
            "  0 █ █",
            "  1 █ █",
            "",
            "b=1, h=0:",
            "q\\k 0 1",
            "  0 █ ·",
            "  1 · ·  (no key)",
            "█ may attend (True)   · masked (False)",
        ]
    )


def test_render_layouts():
    assert render_layouts([[1], [2, 3, 4], [5, 6]]) == "\n".join(
        [
            "lengths [1, 3, 2], T = 3",
            "",
            "pre-padded (Keras pad_sequences, padding='pre'):",
            "    t=0 t=1 t=2  mask",
            "b=0 ░░0 ░░0   1  ··█",
            "b=1   2   3   4  ███",
            "b=2 ░░0   5   6  ·██",
            "",
            "post-padded (PyTorch pad_sequence, padding='post'):",
            "    t=0 t=1 t=2  mask",
            "b=0   1 ░░0 ░░0  █··",
            "b=1   2   3   4  ███",
            "b=2   5   6 ░░0  ██·",
            "",
            "ragged (values + row_splits):",
            "  values     = [1 | 2 3 4 | 5 6]",
            "  row_splits = [0, 1, 4, 6]",
            "",
            "packed (PyTorch PackedSequence: time-major data + batch_sizes):",
            "  data           = [2 5 1 | 3 6 | 4]   (step 0 | step 1 | ...)",
            "  batch_sizes    = [3, 2, 1]",
            "  sorted_indices = [1, 2, 0]   (rows longest first)",
            "",
            "varlen (FlashAttention: concatenated values + cu_seqlens):",
            "  values      = [1 | 2 3 4 | 5 6]",
            "  cu_seqlens  = [0, 1, 4, 6]   max_seqlen = 3",
            "  segment_ids = [1 | 2 2 2 | 3 3]",
            "░ padding (mask False)   mask: █ valid · padding",
        ]
    )


def test_layouts_are_the_references_and_agree_with_each_other():
    seqs = [[1.5, 2.0, 3.0], [], [4.0, 5.0]]
    lay = compute_layouts(seqs, maxlen=2, value=-1)
    post = reference.pad_sequences(seqs, maxlen=2, dtype="float64", padding="post", value=-1)
    np.testing.assert_array_equal(lay.post, post)
    np.testing.assert_array_equal(lay.lengths, [2, 0, 2])
    np.testing.assert_array_equal(lay.values, [2.0, 3.0, 4.0, 5.0])  # truncating="pre"
    np.testing.assert_array_equal(lay.row_splits, reference.row_splits_from_lengths([2, 0, 2]))
    np.testing.assert_array_equal(lay.cu_seqlens, lay.row_splits)
    np.testing.assert_array_equal(lay.segment_ids, [1, 1, 3, 3])
    packed = reference.pack_sequences(post, [2, 0, 2])
    np.testing.assert_array_equal(lay.data, packed.data)
    # each packed element comes from the row data_rows names, at step data_steps
    np.testing.assert_array_equal(lay.data, post[lay.data_rows, lay.data_steps])
    padded, _ = reference.padded_from_ragged(lay.values, lay.row_splits, maxlen=2, value=-1)
    np.testing.assert_array_equal(padded, post)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: render_batch(np.zeros(3)), ValueError, "x must be"),
        (lambda: render_batch(np.zeros((2, 3)), np.ones((2, 3), int)), TypeError, "mask must be"),
        (lambda: render_batch(np.zeros((2, 3)), np.ones((3, 2), bool)), ValueError, "mask shape"),
        (lambda: render_batch(np.zeros((2, 3)), width=0), ValueError, "width must be"),
        (lambda: render_attention_mask(np.ones((2, 2), np.float32)), TypeError, "boolean"),
        (lambda: render_attention_mask(np.ones(2, bool)), ValueError, r"\(L, S\)"),
        (lambda: render_layouts([[1, 2], [[3]]]), ValueError, r"sequences\[1\]"),
        (lambda: render_layouts([["a"]]), TypeError, "numbers"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_docstring_examples_print_exactly_what_they_show():
    result = doctest.testmod(maskref.show, globs={"np": np, **vars(maskref.show)})
    assert result.failed == 0 and result.attempted > 0


# --- maskref show ------------------------------------------------------------------------------


def test_cli_pads_and_prints_the_batch_and_its_mask(capsys):
    assert main(["show", "[[1,2,3],[4,5],[6]]", "--padding", "post"]) == 0
    assert capsys.readouterr().out == "\n".join(
        [
            "pad_sequences(padding='post'): x (3, 3), lengths [3, 2, 1]",
            "    t=0 t=1 t=2  mask",
            "b=0   1   2   3  ███",
            "b=1   4   5 ░░0  ██·",
            "b=2   6 ░░0 ░░0  █··",
            LEGEND,
            "",
        ]
    )


def test_cli_causal(capsys):
    assert main(["show", "--causal", "2"]) == 0
    out = capsys.readouterr().out
    assert out == "causal_mask(2): (2, 2)\nq\\k 0 1\n  0 █ ·\n  1 █ █\n" + (
        "█ may attend (True)   · masked (False)\n"
    )


def test_cli_lengths_prints_the_sequence_mask_and_the_attention_masks(capsys):
    assert main(["show", "--lengths", "2,1", "--causal", "2"]) == 0
    assert capsys.readouterr().out == "\n".join(
        [
            "m = sequence_mask([2, 1], 2): (2, 2)",
            "b\\t 0 1",
            "  0 █ █",
            "  1 █ ·",
            "",
            "attention_mask(m, m, causal=True): (2, 2, 2), queries as rows, keys as columns",
            "b=0:",
            "q\\k 0 1",
            "  0 █ ·",
            "  1 █ █",
            "",
            "b=1:",
            "q\\k 0 1",
            "  0 █ ·",
            "  1 · ·  (no key)",
            "█ may attend (True)   · masked (False)",
            "",
        ]
    )


def test_cli_layouts(capsys):
    assert main(["show", "[[1],[2,3,4],[5,6]]", "--layouts"]) == 0
    assert capsys.readouterr().out == render_layouts([[1], [2, 3, 4], [5, 6]]) + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give SEQUENCES"),
        (["[[1,2"], "argument SEQUENCES: not JSON"),
        (["[1,2]"], "expected a JSON list of lists of numbers"),
        (["[[1]]", "--causal", "3"], "cannot be combined"),
        (["--layouts", "--lengths", "2"], "--layouts needs SEQUENCES"),
        (["--causal", "0"], "argument --causal: expected a whole number >= 1"),
        (["--lengths", "3,x"], "argument --lengths: expected comma-separated lengths"),
        (["--lengths", "5", "--causal", "3"], "--lengths 5 is longer than --causal 3"),
        (["[[1]]", "--padding", "middle"], "invalid choice: 'middle'"),
    ],
)
def test_cli_bad_input_is_an_argparse_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["show", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "maskref show: error:" in err and message in err

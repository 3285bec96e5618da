"""maskref.testing: the checker's verdicts on models no one here wrote, and its mechanics.

Each framework test builds a small, seeded model, runs the six checks and
asserts which pass, which fail and why (the findings are listed in the
module docstring of ``maskref.testing`` and in the issue's closing note).
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from conftest import require

import reference as mr
from maskref.testing import (
    CHECKS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    check_padding_invariance,
    padding_invariance_test,
)


def features(lengths=(6, 2, 4, 1), maxlen=6, dim=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    mask = np.arange(maxlen)[None, :] < np.asarray(lengths)[:, None]
    x = rng.standard_normal((len(lengths), maxlen, dim)).astype(dtype)
    x[~mask] = 0
    return x, mask


def ids(lengths=(6, 2, 4, 1), maxlen=6, vocab=50, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.arange(maxlen)[None, :] < np.asarray(lengths)[:, None]
    x = rng.integers(1, vocab, (len(lengths), maxlen))
    x[~mask] = 0
    return x, mask


def statuses(report, **expected):
    """Every check's status; unnamed checks must have passed."""
    want = {name: expected.get(name, PASSED) for name in CHECKS}
    assert report.statuses == want, report.to_text()


def failed_details(report, name):
    return {(d.side, d.variant) for d in report[name].details if d.status == FAILED}


# -- NumPy models: the checker itself ------------------------------------------------------
def masked_mean(x, mask):
    return mr.masked_mean(x, mask, axis=1)


def test_masked_mean_passes_every_check():
    report = check_padding_invariance(masked_mean, features(), mask_arg="mask")
    statuses(report)
    assert report.passed and report.framework == "numpy"
    assert report.output_kind == "pooled"
    assert "every row with at least one valid step" in report.valid_positions
    assert {d.variant for d in report["pad_contents"].details} == {
        "zeros",
        "random",
        "large",
        "nan",
        "inf",
    }
    assert report["pad_contents"].detail("post", "zeros").status == NOT_APPLICABLE


def test_unmasked_mean_leaks_and_never_reads_its_mask():
    report = check_padding_invariance(lambda x, mask: x.mean(1), features(), mask_arg="mask")
    # pre and post hold the same values, so the mean over all steps agrees across sides
    statuses(report, one_by_one=FAILED, extra_padding=FAILED, pad_contents=FAILED, mask_used=FAILED)
    assert "never reads its mask" in report["mask_used"].why
    assert "cannot be dropped (TypeError" in report["mask_used"].why
    assert failed_details(report, "pad_contents") == {
        (side, v) for side in ("post", "pre") for v in ("random", "large", "nan", "inf")
    }


def test_a_fully_padded_row_that_turns_the_batch_to_nan_is_caught():
    def centred(x, mask):  # batch statistics over rows: an empty row's NaN mean spreads
        means = mr.masked_mean(x, mask, axis=1)
        return means - means.mean(0)

    report = check_padding_invariance(centred, features(), mask_arg="mask")
    statuses(report, one_by_one=FAILED, neighbours=FAILED)
    empty = report["neighbours"].detail("post", "empty row added")
    assert empty.status == FAILED and math.isinf(empty.max_abs_diff)
    assert "turns the other rows' valid outputs to NaN/inf" in empty.why
    assert "depend on the other rows" in report["neighbours"].detail("post", "other rows").why


def test_a_causal_model_without_a_mask_is_post_padding_only():
    report = check_padding_invariance(lambda x: np.cumsum(x, 1), features(), padding_sides="post")
    statuses(report, pad_side=NOT_APPLICABLE, mask_used=NOT_APPLICABLE)
    assert report.output_kind == "sequence"
    assert "the valid steps of each row" in report.valid_positions
    assert "no mask argument" in report["mask_used"].why
    assert "only post-padding" in report["pad_side"].why
    # the same model, pre-padded: the padded steps come first and reach every output
    pre = check_padding_invariance(lambda x: np.cumsum(x, 1), features(), padding_sides="pre")
    assert pre["pad_contents"].status == FAILED


def test_shrinking_finds_the_smallest_failing_row():
    def leaky(x, mask):  # a row's output depends on its padding from 2 padded steps on
        pads = (~mask).sum(1, keepdims=True)
        return mr.masked_sum(x, mask, axis=1) + (pads >= 2)

    x, mask = features(lengths=(6, 5, 1, 3, 6), maxlen=6)
    report = check_padding_invariance(leaky, (x, mask), mask_arg="mask", padding_sides="post")
    one = report["one_by_one"]
    assert one.status == FAILED and one.details[0].row in (2, 3)
    small = one.smallest
    assert small is not None
    assert small.lengths == [1] and small.maxlen == 3  # one step, two padded steps
    assert small.rows == [x[2, :1].tolist()]
    extra = report["extra_padding"].smallest
    assert extra.lengths == [1] and extra.maxlen == 1  # no padding, then 4 more steps
    assert "smallest failing: 1 row(s) of lengths [1] padded to 3" in report.to_text()


def test_report_as_text_and_json():
    report = check_padding_invariance(lambda x, mask: x.mean(1), features(), mask_arg="mask")
    text = report.to_text()
    assert text.startswith("maskref check: <lambda> (numpy adapter: mask as mask=")
    assert "tolerance: float32: |diff| <= 1e-05 + 0.0001 *" in text
    assert "FAILED  one_by_one" in text and "passed  pad_side" in text
    assert "failed: one_by_one, extra_padding, pad_contents, mask_used" in text
    data = json.loads(report.to_json())
    assert data["passed"] is False
    assert [c["name"] for c in data["checks"]] == list(CHECKS)
    nan = next(
        d for d in data["checks"][3]["details"] if d["variant"] == "nan" and d["side"] == "post"
    )
    assert nan["status"] == FAILED and nan["max_abs_diff"] == "inf"  # JSON has no inf
    assert data["checks"][0]["smallest"]["lengths"]
    assert data["tolerance"]["dtype"] == "float32"


def test_tolerance_per_dtype():
    report = check_padding_invariance(masked_mean, features(dtype=np.float64), mask_arg="mask")
    assert (report.tolerance.dtype, report.tolerance.rtol) == ("float64", 1e-9)
    half = check_padding_invariance(
        masked_mean, features(dtype=np.float16), mask_arg="mask", checks=["one_by_one"]
    )
    assert (half.tolerance.dtype, half.tolerance.rtol, half.tolerance.atol) == (
        "float16",
        1e-2,
        1e-2,
    )
    given = check_padding_invariance(masked_mean, features(), mask_arg="mask", rtol=0, atol=0.5)
    assert given.tolerance.bound == 0.5
    exact = check_padding_invariance(
        lambda x, mask: mask.sum(1), features(), mask_arg="mask", checks=["one_by_one"]
    )
    assert exact.tolerance.describe() == "int64: exact" and exact.passed


def test_a_pooled_output_as_wide_as_the_batch_is_long():
    x, mask = features(lengths=(4, 2, 3), maxlen=4, dim=4)  # (B, T, D) with D == T
    report = check_padding_invariance(masked_mean, (x, mask), mask_arg="mask")
    assert report.output_kind == "pooled" and report.passed


def test_implicit_mask_from_the_values():
    def masking(x):  # keras.layers.Masking(0.0) and a masked mean
        mask = mr.mask_from_value(x, 0.0)
        return mr.masked_mean(x, mask, axis=1)

    report = check_padding_invariance(masking, features(), implicit_mask=True)
    statuses(report, pad_contents=NOT_APPLICABLE, mask_used=NOT_APPLICABLE)
    assert "any other contents would unmask" in report["pad_contents"].why
    x, mask = features()
    x[1, 0] = 0.0  # a valid step the model would mask
    with pytest.raises(ValueError, match="row 1 step 0 is valid but holds the pad value 0"):
        check_padding_invariance(masking, (x, mask), implicit_mask=True)


def test_bad_arguments():
    x, mask = features()
    with pytest.raises(TypeError, match="the mask must be bool"):
        check_padding_invariance(masked_mean, (x, mask.astype(int)), mask_arg="mask")
    with pytest.raises(ValueError, match="must be post-padded"):
        check_padding_invariance(masked_mean, (x, mask[:, ::-1]), mask_arg="mask")
    with pytest.raises(ValueError, match="checks"):
        check_padding_invariance(masked_mean, (x, mask), checks=["one_by_two"])
    with pytest.raises(ValueError, match="padding_sides"):
        check_padding_invariance(masked_mean, (x, mask), padding_sides=("left",))
    with pytest.raises(ValueError):
        check_padding_invariance(masked_mean, (x, mask), mask_convention="upside-down")
    with pytest.raises(TypeError, match="training"):
        check_padding_invariance(masked_mean, (x, mask), training=1)
    with pytest.raises(TypeError, match="batch"):
        check_padding_invariance(masked_mean, x)
    with pytest.raises(ValueError, match="at least one row"):
        check_padding_invariance(masked_mean, (x[:0], mask[:0]))
    with pytest.raises(ValueError, match="pad_variants"):
        check_padding_invariance(masked_mean, (x, mask), mask_arg="mask", pad_variants=["ids"])


def test_progress_goes_to_stderr(capsys):
    check_padding_invariance(masked_mean, features(), mask_arg="mask", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "maskref check [" in captured.err and "one_by_one" in captured.err


def test_padding_invariance_test_passes_and_shrinks_a_failure():
    padding_invariance_test(masked_mean, features(), mask_arg="mask", max_examples=5)
    with pytest.raises(AssertionError, match="padding leaks into the outputs") as info:
        padding_invariance_test(
            lambda x, mask: x.mean(1), features(), mask_arg="mask", checks=["extra_padding"]
        )
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Falsifying example" in notes or "Failing test case" in notes  # hypothesis < / >= 6.16x
    # hypothesis shrinks to one row of one step (extra padding changes its mean)
    assert "lengths [1]" in str(info.value)
    assert "batch: (1, 1, 4)" in str(info.value)


# -- PyTorch ---------------------------------------------------------------------------------
@pytest.fixture
def torch_one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    require("torch")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield torch
    torch.set_num_threads(threads)


def transformer_encoder(torch, dropout):
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=dropout, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "enable_nested_tensor is True, but ..."
        return torch.nn.TransformerEncoder(layer, 2)


NESTED_WARNING = "ignore:The PyTorch API of nested tensors:UserWarning"


@pytest.mark.filterwarnings(NESTED_WARNING)
def test_transformer_encoder_eval(torch_one_thread):
    enc = transformer_encoder(torch_one_thread, dropout=0.1)
    report = check_padding_invariance(
        enc,
        features(dim=8),
        mask_arg="src_key_padding_mask",
        mask_convention="torch.nn.MultiheadAttention.key_padding_mask",
    )
    statuses(report, pad_contents=FAILED)
    # eval + no_grad with right padding takes the nested-tensor path: padded outputs are 0,
    # and padded inputs are never read ...
    assert report.padded_outputs["post"] == "padded steps: exactly 0"
    assert report.padded_outputs["pre"].startswith("padded steps: finite values")
    pad = report["pad_contents"]
    assert pad.detail("post", "random").status == PASSED
    assert pad.detail("post", "large").status == PASSED
    # ... but the gradient (the slow path, with grad) is NaN when the padding holds NaN
    post_nan = pad.detail("post", "nan")
    assert post_nan.status == FAILED and post_nan.parameter.startswith("layers.0.self_attn")
    # left padding disables the nested path: NaN padding reaches the valid outputs
    pre_nan = pad.detail("pre", "nan")
    assert pre_nan.status == FAILED and pre_nan.parameter is None and pre_nan.row is not None
    assert failed_details(report, "pad_contents") == {
        ("post", "nan"),
        ("post", "inf"),
        ("pre", "nan"),
        ("pre", "inf"),
    }
    assert pad.smallest is not None and pad.smallest.lengths == [1]


@pytest.mark.filterwarnings(NESTED_WARNING)
def test_transformer_encoder_train(torch_one_thread):
    enc = transformer_encoder(torch_one_thread, dropout=0.1).eval()
    kwargs = {"mask_arg": "src_key_padding_mask", "mask_convention": "drop", "training": True}
    report = check_padding_invariance(enc, features(dim=8), **kwargs)
    # dropout draws depend on the batch's shape: every check that reshapes the batch fails
    statuses(
        report,
        one_by_one=FAILED,
        extra_padding=FAILED,
        pad_side=FAILED,
        pad_contents=FAILED,
        neighbours=FAILED,
    )
    assert any("training mode with random layers" in n for n in report.notes)
    assert report.padded_outputs["post"].startswith("padded steps: finite values")
    assert not any(m.training for m in enc.modules())  # the mode is restored
    # without dropout, training mode ignores padding too, except NaN/inf padding, which now
    # reaches the valid outputs (no nested fast path with grad enabled)
    calm = transformer_encoder(torch_one_thread, dropout=0.0)
    report = check_padding_invariance(calm, features(dim=8), **kwargs)
    statuses(report, pad_contents=FAILED)
    post_nan = report["pad_contents"].detail("post", "nan")
    assert post_nan.status == FAILED and post_nan.parameter is None
    assert report.padded_outputs["post"].startswith("padded steps: finite values")


class PackedLSTM:
    """The usual idiom: ``pack_padded_sequence`` around an ``nn.LSTM`` (sequence output)."""

    def __new__(cls, torch, features=4, hidden=8):
        nn = torch.nn

        class Packed(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(features, hidden, batch_first=True)

            def forward(self, x, mask):
                lengths = mask.sum(-1).cpu()
                seq = nn.utils.rnn.pack_padded_sequence(
                    x, lengths, batch_first=True, enforce_sorted=False
                )
                out, _ = self.lstm(seq)
                out, _ = nn.utils.rnn.pad_packed_sequence(
                    out, batch_first=True, total_length=x.shape[1]
                )
                return out

        return Packed()


def test_lstm_with_packing(torch_one_thread):
    report = check_padding_invariance(PackedLSTM(torch_one_thread), features(), mask_arg="mask")
    # packing assumes right padding: every pre-padded check fails, post passes, and a row
    # with no valid step cannot be packed at all
    statuses(
        report,
        one_by_one=FAILED,
        extra_padding=FAILED,
        pad_side=FAILED,
        pad_contents=FAILED,
        neighbours=FAILED,
    )
    for name in ("one_by_one", "extra_padding", "pad_contents"):
        assert {side for side, _ in failed_details(report, name)} == {"pre"}, name
    assert "post-padding passes one_by_one" in report["pad_side"].why
    assert "pad on the right" in report["pad_side"].why
    assert failed_details(report, "neighbours") == {
        ("post", "empty row added"),
        ("pre", "empty row added"),
    }
    assert "Length of all samples has to be greater than 0" in report["neighbours"].why
    assert report.padded_outputs["post"] == "padded steps: exactly 0"
    assert "flipped: the model raised RuntimeError" in report["mask_used"].why


def test_lstm_without_packing(torch_one_thread):
    lstm = torch_one_thread.nn.LSTM(4, 8, batch_first=True)
    report = check_padding_invariance(lstm, features())  # output, not given a mask
    statuses(
        report,
        one_by_one=FAILED,
        extra_padding=FAILED,
        pad_side=FAILED,
        pad_contents=FAILED,
        mask_used=NOT_APPLICABLE,
    )
    # a causal output ignores right padding in the forward pass ...
    assert {s for s, _ in failed_details(report, "one_by_one")} == {"pre"}
    # ... but NaN/inf padding still poisons the gradient through the input weights
    post_nan = report["pad_contents"].detail("post", "nan")
    assert post_nan.status == FAILED and post_nan.parameter == "weight_ih_l0"
    assert report["pad_contents"].detail("post", "random").status == PASSED
    # the final state h_n (a pooled output) has run through the padding: it leaks
    h_n = check_padding_invariance(
        lstm, features(), output=lambda out: out[1][0][-1], checks=["one_by_one"]
    )
    assert h_n.output_kind == "pooled"
    assert {d.side for d in h_n["one_by_one"].details if d.status == FAILED} == {"post", "pre"}


def test_multihead_attention(torch_one_thread):
    mha = torch_one_thread.nn.MultiheadAttention(8, 2, batch_first=True)
    convention = "torch.nn.MultiheadAttention.key_padding_mask"
    report = check_padding_invariance(
        mha,
        features(dim=8),
        call=lambda model, x, mask: model(x, x, x, key_padding_mask=mask),
        mask_convention=convention,
    )
    statuses(report, pad_contents=FAILED, neighbours=FAILED)
    # NaN/inf in masked keys leak into every output (masking is additive: 0 * NaN)
    assert failed_details(report, "pad_contents") == {
        (s, v) for s in ("post", "pre") for v in ("nan", "inf")
    }
    # a fully padded row: NaN in its own output, NaN gradients for every parameter
    empty = report["neighbours"].detail("post", "empty row added")
    assert empty.status == FAILED and empty.parameter == "in_proj_weight"
    assert "turns the other rows' gradients to NaN/inf" in empty.why
    # need_weights=False goes through scaled_dot_product_attention: fully masked rows are 0
    report = check_padding_invariance(
        mha,
        features(dim=8),
        call=lambda model, x, mask: model(x, x, x, key_padding_mask=mask, need_weights=False),
        mask_convention=convention,
        checks=["neighbours"],
    )
    assert report.passed, report.to_text()


def test_torch_impl_masked_modules(torch_one_thread):
    require("torch_impl")
    import torch_impl as tm

    nn = torch_one_thread.nn
    model = tm.MaskedSequential(
        tm.Embedding(50, 8, mask_zero=True), nn.Linear(8, 8), tm.MaskedGlobalAveragePooling1D()
    )
    report = check_padding_invariance(model, ids())
    statuses(report, pad_contents=NOT_APPLICABLE, mask_used=NOT_APPLICABLE)
    assert "Embedding(mask_zero=True) masks the id 0" in report["pad_contents"].why
    assert report.output_kind == "pooled"


# -- Keras -------------------------------------------------------------------------------------
@pytest.fixture
def keras():
    require("keras")
    require("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    return keras


def test_keras_embedding_lstm_dense(keras):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            layers.Embedding(50, 8, mask_zero=True),
            layers.LSTM(6),
            layers.Dense(3),
        ]
    )
    report = check_padding_invariance(model, ids())
    statuses(report, pad_contents=NOT_APPLICABLE, mask_used=NOT_APPLICABLE)
    assert report.framework == "keras" and report.output_kind == "pooled"
    assert "Embedding(mask_zero=True) masks the id 0" in report["pad_contents"].why
    assert "only 0 can be written there" in report["pad_contents"].why


def mha_add_gap(keras, subclassed):
    layers = keras.layers
    if subclassed:

        class Model(keras.Model):
            def __init__(self):
                super().__init__()
                self.emb = layers.Embedding(50, 8, mask_zero=True)
                self.mha = layers.MultiHeadAttention(2, 4)
                self.add = layers.Add()
                self.pool = layers.GlobalAveragePooling1D()
                self.out = layers.Dense(3)

            def call(self, x):
                e = self.emb(x)
                return self.out(self.pool(self.add([e, self.mha(e, e)])))

        return Model()
    tokens = keras.Input((None,), dtype="int32")
    e = layers.Embedding(50, 8, mask_zero=True)(tokens)
    pooled = layers.GlobalAveragePooling1D()(
        layers.Add()([e, layers.MultiHeadAttention(2, 4)(e, e)])
    )
    return keras.Model(tokens, layers.Dense(3)(pooled))


def test_keras_mha_add_gap_drops_the_mask(keras):
    report = check_padding_invariance(mha_add_gap(keras, subclassed=True), ids())
    # at run time MultiHeadAttention clears its inputs' masks, so Add gets one mask and
    # returns none: the pooling averages the padded steps too
    statuses(
        report,
        one_by_one=FAILED,
        extra_padding=FAILED,
        pad_contents=NOT_APPLICABLE,
        mask_used=NOT_APPLICABLE,
    )
    # attention without positions is permutation-equivariant: the mean over every step is
    # the same for pre- and post-padding, so pad_side cannot see this leak
    assert report["pad_side"].status == PASSED
    # the functional model computed the mask symbolically: the pooling is masked ...
    report = check_padding_invariance(mha_add_gap(keras, subclassed=False), ids())
    statuses(report, pad_contents=NOT_APPLICABLE, mask_used=NOT_APPLICABLE, neighbours=FAILED)
    # ... and a fully padded row (a 0/0 mean) turns the gradients NaN
    empty = report["neighbours"].detail("post", "empty row added")
    assert "turns the other rows' gradients to NaN/inf" in empty.why


@pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d':UserWarning")
def test_keras_explicit_mask_input_and_tf_impl_pooling(keras):
    require("tf_impl")
    import tf_impl

    layers = keras.layers
    x_in = keras.Input((None, 4), name="x")
    m_in = keras.Input((None,), dtype="bool", name="mask")
    pooled = tf_impl.MaskedGlobalMaxPooling1D()(layers.Dense(5, name="proj")(x_in), mask=m_in)
    model = keras.Model([x_in, m_in], pooled)
    report = check_padding_invariance(model, features(), mask_arg="mask")
    # NaN padding through Dense: 0 * NaN in the kernel's gradient; forward is fine
    statuses(report, pad_contents=FAILED)
    nan = report["pad_contents"].detail("post", "nan")
    assert nan.parameter == "proj/kernel" and report["neighbours"].passed
    # keras.layers.GlobalMaxPooling1D drops the mask: the padded steps' Dense(0) = bias
    # takes part in the max (the same with more padding: only one_by_one sees it)
    tokens = keras.Input((None,), dtype="int32")
    e = layers.Dense(4)(layers.Embedding(50, 4, mask_zero=True)(tokens))
    model = keras.Model(tokens, layers.GlobalMaxPooling1D()(e))
    report = check_padding_invariance(model, ids(), checks=["one_by_one", "extra_padding"])
    assert report.statuses == {"one_by_one": FAILED, "extra_padding": PASSED}


# -- Hugging Face transformers ---------------------------------------------------------------
def hf_model(torch, arch):
    require("transformers")
    import transformers

    torch.manual_seed(0)
    if arch == "bert":
        config = transformers.BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        )
        return transformers.BertModel(config)
    config = transformers.GPT2Config(
        vocab_size=50,
        n_embd=16,
        n_layer=2,
        n_head=2,
        n_positions=32,
        bos_token_id=1,
        eos_token_id=2,
    )
    return transformers.GPT2Model(config)


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_hugging_face_left_padding_needs_position_ids(torch_one_thread, arch):
    model = hf_model(torch_one_thread, arch)
    kwargs = {"mask_arg": "attention_mask", "mask_convention": "transformers"}
    report = check_padding_invariance(model, ids(), **kwargs)
    assert report.framework == "transformers" and report.output_kind == "sequence"
    # right padding: every check passes; left padding without position ids shifts every
    # token's position (transformers#33095)
    statuses(report, one_by_one=FAILED, extra_padding=FAILED, pad_side=FAILED, pad_contents=FAILED)
    for name in ("one_by_one", "extra_padding"):
        assert {side for side, _ in failed_details(report, name)} == {"pre"}, name
    # padded ids are looked up even though they are masked: out-of-range ids raise
    assert failed_details(report, "pad_contents") == {
        ("post", "out_of_range"),
        ("pre", "out_of_range"),
    }
    assert "IndexError" in report["pad_contents"].why
    assert report["pad_contents"].detail("pre", "other_ids").status == PASSED
    # position ids from the mask (cumsum - 1): left padding works too
    report = check_padding_invariance(model, ids(), position_ids_arg="position_ids", **kwargs)
    statuses(report, pad_contents=FAILED)
    assert failed_details(report, "pad_contents") == {
        ("post", "out_of_range"),
        ("pre", "out_of_range"),
    }
    assert "position ids as position_ids=" in report.adapter

"""torch_impl behaviour that only torch has: nested tensors, devices, dtypes, autograd, compile.

The agreement with the reference on drawn inputs is checked by the conformance
cases (tests/test_conformance.py); these tests pin what those cannot see.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import require

require("torch")

import helpers
import torch

import reference as ref
import torch_impl as ti
from torch_impl import _convert

SEQS = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
SIDES = [(p, t) for p in ("pre", "post") for t in ("pre", "post")]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tensors(seqs=SEQS, dtype=torch.int64, device="cpu"):
    return [torch.tensor(s, dtype=dtype, device=device) for s in seqs]


def assert_same(got: torch.Tensor, expected: np.ndarray) -> None:
    """A ``torch.Tensor`` equal to the reference's result (helpers.assert_same: dtype, shape,
    values; exact for integers)."""
    assert isinstance(got, torch.Tensor), type(got)
    helpers.assert_same(got, expected)


# --- pad_sequences: the input forms --------------------------------------------------------


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 0, 2, 7])
def test_list_of_tensors_matches_reference(padding, truncating, maxlen):
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    assert_same(ti.pad_sequences(tensors(), **kw), ref.pad_sequences(SEQS, **kw))
    assert_same(ti.pad_sequences(tuple(tensors()), **kw), ref.pad_sequences(SEQS, **kw))


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 0, 1, 3])
def test_jagged_nested_tensor(padding, truncating, maxlen):
    seqs = [np.arange(n * 2, dtype=np.float32).reshape(n, 2) + n for n in (3, 1, 4)]
    njt = torch.nested.nested_tensor([torch.from_numpy(s) for s in seqs], layout=torch.jagged)
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=0.5)
    got = ti.pad_sequences(njt, dtype=torch.float32, **kw)
    assert_same(got, ref.pad_sequences(seqs, dtype="float32", **kw))


def test_jagged_nested_tensor_with_holes_is_refused():
    base = torch.arange(12).reshape(3, 4)
    holes = torch.nested.narrow(
        base, 1, torch.tensor([0, 1, 0]), torch.tensor([2, 3, 1]), layout=torch.jagged
    )
    assert holes.lengths() is not None
    with pytest.raises(ValueError, match="holes"):
        ti.pad_sequences(holes)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_strided_nested_and_dense_tensors():
    nt = torch.nested.nested_tensor([torch.tensor([1, 2]), torch.tensor([3])])
    assert_same(
        ti.pad_sequences(nt, padding="post"), ref.pad_sequences([[1, 2], [3]], padding="post")
    )
    dense = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert_same(
        ti.pad_sequences(dense, maxlen=2, truncating="post"),
        ref.pad_sequences(dense.numpy(), maxlen=2, truncating="post"),
    )
    assert ti.pad_sequences(torch.zeros(0, 3, 2)).shape == (0, 0)  # as the reference


def test_lists_arrays_and_mixed_inputs_go_through_the_reference():
    arrays = [np.array(s) for s in SEQS]
    mixed = [torch.tensor([1, 2]), [3], np.array([4, 5, 6])]
    for seqs in (SEQS, arrays, (s for s in SEQS)):
        assert_same(ti.pad_sequences(seqs), ref.pad_sequences(SEQS))
    assert_same(ti.pad_sequences(mixed), ref.pad_sequences([[1, 2], [3], [4, 5, 6]]))


@pytest.mark.parametrize(
    ("seqs", "dtype"),
    [
        ([torch.tensor([2**53 + 1]), torch.tensor([1.0], dtype=torch.float32)], "int64"),
        ([torch.tensor([2**53 + 1]), torch.tensor([2**63 + 1], dtype=torch.uint64)], "uint64"),
        ([torch.tensor([2**62 + 1]), torch.tensor([1.5], dtype=torch.float64)], "int64"),
        ([torch.tensor([2**40 + 1]), torch.tensor([], dtype=torch.float32)], "int64"),
    ],
)
def test_mixed_tensor_dtypes_are_each_cast_never_promoted(seqs, dtype):
    """Each tensor is cast to ``dtype`` on its own, as the reference does: int64 with float32
    used to pass through float64 first (2**53 + 1 became 2**53)."""
    arrays = [s.numpy() for s in seqs]
    helpers.agree("torch_impl", "pad_sequences", seqs, dtype=dtype)
    try:
        expected = ref.pad_sequences(arrays, dtype=dtype)
    except ValueError:
        return
    assert ti.pad_sequences(seqs, dtype=dtype).tolist() == expected.tolist()


def test_inner_shapes_and_steps():
    vecs = [torch.ones(2, 3), torch.zeros(0), torch.ones(1, 3)]
    assert ti.pad_sequences(vecs).shape == (3, 2, 3)
    bad = [torch.ones(2, 3), torch.ones(1, 4)]
    with pytest.raises(ValueError, match=r"sequences\[1\] has steps of shape \(4,\)"):
        ti.pad_sequences(bad)
    with pytest.raises(TypeError, match=r"sequences\[1\] must be a sequence"):
        ti.pad_sequences([torch.ones(2), torch.tensor(1)])


# --- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", ["int16", np.dtype("int16"), np.int16, torch.int16, torch.float16, torch.bool]
)
def test_dtype_argument_forms(dtype):
    out = ti.pad_sequences(tensors([[1, 0], [1]]), dtype=dtype)
    expected = _convert.resolve_dtype(dtype)
    assert out.dtype == expected
    assert_same(out, ref.pad_sequences([[1, 0], [1]], dtype=_convert.numpy_dtype(expected)))


def test_bfloat16_target():
    out = ti.pad_sequences(tensors([[1, 2], [3]]), dtype=torch.bfloat16, value=0.5)
    assert out.dtype == torch.bfloat16
    assert out.float().tolist() == [[1.0, 2.0], [0.5, 3.0]]
    assert ti.pad_sequences([[1, 2], [3]], dtype=torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("seqs", "dtype", "message"),
    [
        ([torch.tensor([1.5])], "int32", r"sequences: 1\.5 cannot be cast to int32"),
        ([torch.tensor([float("nan")])], torch.int64, "not an integer in range"),
        ([torch.tensor([300])], torch.uint8, r"sequences: 300 cannot be cast to uint8"),
        ([torch.tensor([-1], dtype=torch.int8)], torch.uint8, "sequences: -1"),
        ([torch.tensor([2])], torch.bool, "only 0 and 1 are booleans"),
        ([torch.tensor([1 + 1j])], torch.float32, "imaginary part"),
    ],
)
def test_lossy_casts_of_tensors_are_refused(seqs, dtype, message):
    with pytest.raises(ValueError, match=message):
        ti.pad_sequences(seqs, dtype=dtype)


def test_lossless_and_rounding_casts_of_tensors_are_allowed():
    assert ti.pad_sequences([torch.tensor([1.0, 2.0])]).tolist() == [[1, 2]]
    assert ti.pad_sequences([torch.tensor([1, 0])], dtype=torch.bool).tolist() == [[True, False]]
    out = ti.pad_sequences([torch.tensor([0.1], dtype=torch.float64)], dtype=torch.float16)
    assert out.item() == float(np.float16(0.1))
    assert ti.pad_sequences([torch.tensor([2**62])], dtype=torch.int64).item() == 2**62
    with pytest.raises(ValueError, match=r"value: 0\.5"):
        ti.pad_sequences([torch.tensor([1])], value=0.5)


def test_strings_are_the_references_alone():
    for dtype in (str, object, "U3"):
        with pytest.raises(TypeError, match="padded only by the reference backend"):
            ti.pad_sequences([["a"]], dtype=dtype)
    with pytest.raises(TypeError, match="padded only by the reference backend"):
        ti.pad_flat(np.array(["a", "b"]), [2])
    with pytest.raises(TypeError, match="dtype"):
        ti.pad_sequences([[1]], dtype="no-such-dtype")


# --- pad_flat, unpad_sequences -------------------------------------------------------------


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 0, 1, 3, 9])
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.bool_])
def test_pad_flat_matches_reference(padding, truncating, maxlen, dtype):
    rng = np.random.default_rng(maxlen or 0)
    lengths = rng.integers(0, 6, 7)
    values = rng.integers(0, 2, (int(lengths.sum()), 2)).astype(dtype)
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=True)
    got = ti.pad_flat(torch.from_numpy(values), torch.from_numpy(lengths), **kw)
    assert_same(got, ref.pad_flat(values, lengths, **kw))


def test_pad_flat_non_contiguous_values_and_0d_maxlen():
    values = torch.arange(12).reshape(2, 6).t()  # (6, 2), not contiguous
    lengths = torch.tensor([4, 2], dtype=torch.int32)
    got = ti.pad_flat(values, lengths, maxlen=torch.tensor(3), padding="post")
    assert_same(got, ref.pad_flat(values.numpy(), lengths.numpy(), maxlen=3, padding="post"))


def test_unpad_sequences_returns_copies_that_carry_gradients():
    padded = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]], requires_grad=True)
    parts = ti.unpad_sequences(padded, torch.tensor([2, 1]))
    assert [p.tolist() for p in parts] == [[1.0, 2.0], [3.0]]
    for p in parts:
        assert p.untyped_storage().data_ptr() != padded.untyped_storage().data_ptr()
    (parts[0].sum() * 2 + parts[1].sum()).backward()
    assert padded.grad.tolist() == [[2.0, 2.0, 0.0], [1.0, 0.0, 0.0]]
    with torch.no_grad():
        parts[0][0] = 99.0
    assert padded[0, 0].item() == 1.0


def test_pad_sequences_gradient_reaches_the_sequences():
    seqs = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)]
    out = ti.pad_sequences(seqs, dtype=torch.float32, maxlen=1, value=0.0)
    out.sum().backward()
    assert seqs[0].grad.tolist() == [0.0, 1.0] and seqs[1].grad.tolist() == [1.0]


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 300, 1500])
def test_few_long_tensors_are_copied_row_by_row_without_a_concatenated_copy(
    monkeypatch, padding, truncating, maxlen
):
    """The pad_sequence way (rows copied into the output): no torch.cat of the whole batch,
    so no more memory than the inputs plus the output."""
    rng = np.random.default_rng(3)
    arrays = [rng.integers(-9, 9, n) for n in (1000, 0, 700, 1200)]
    seqs = [torch.from_numpy(a) for a in arrays]
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    expected = ref.pad_sequences(arrays, dtype="int32", **kw)

    def no_cat(*args, **kwargs):
        raise AssertionError("torch.cat copied the whole batch")

    monkeypatch.setattr(torch, "cat", no_cat)
    assert_same(ti.pad_sequences(seqs, **kw), expected)
    with pytest.raises(ValueError, match="cannot be cast to int8"):
        ti.pad_sequences(seqs + [torch.tensor([300] * 600)], dtype="int8")


@pytest.mark.parametrize(("padding", "truncating"), SIDES)
@pytest.mark.parametrize("maxlen", [None, 0, 2, 5, 7])
@pytest.mark.parametrize("value", [-1, 2**60 + 1])
def test_tensors_of_the_result_dtype_match_the_reference(padding, truncating, maxlen, value):
    """Rows already of the result's dtype go to pad_sequence itself when the float
    padding_value holds the fill exactly (2**60 + 1 does not: the general path)."""
    kw = dict(maxlen=maxlen, padding=padding, truncating=truncating, value=value)
    expected = ref.pad_sequences(SEQS, dtype="int64", **kw)
    assert_same(ti.pad_sequences(tensors(), dtype=torch.int64, **kw), expected)
    vectors = [torch.arange(2 * n, dtype=torch.float32).reshape(n, 2) for n in (3, 1, 4)]
    expected = ref.pad_sequences([v.numpy() for v in vectors], dtype="float32", **kw)
    assert_same(ti.pad_sequences(vectors, dtype=torch.float32, **kw), expected)


# --- masks ---------------------------------------------------------------------------------


def test_apply_mask_gradient_is_zero_at_masked_steps_even_with_nan():
    x = torch.tensor(
        [[[1.0, float("nan")], [float("inf"), 2.0]], [[3.0, 4.0], [float("nan"), float("-inf")]]],
        requires_grad=True,
    )
    mask = torch.tensor([[True, False], [True, False]])
    x_kept = torch.where(mask[..., None], x.detach(), 0.0)
    out = ti.apply_mask(x, mask, fill=0.0)
    assert torch.equal(torch.isnan(out), torch.isnan(x_kept))
    assert torch.isfinite(out[:, 1]).all() and (out[:, 1] == 0).all()
    (out[:, 0, 0].sum() * 3).backward()
    grad = x.grad
    assert torch.isfinite(grad).all()
    assert (grad[:, 1] == 0).all()
    assert grad[:, 0, 0].tolist() == [3.0, 3.0]


def test_masks_are_bool_and_lengths_int64():
    lengths = torch.tensor([2, 0, 3], dtype=torch.int16)
    mask = ti.sequence_mask(lengths, maxlen=4, padding="pre")
    assert mask.dtype == torch.bool
    assert_same(mask, ref.sequence_mask(lengths.numpy(), maxlen=4, padding="pre"))
    assert ti.lengths_from_mask(mask).dtype == torch.int64
    assert ti.lengths_from_mask(mask).tolist() == [2, 0, 3]
    assert ti.sequence_mask(torch.tensor(2), maxlen=3).tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: ti.lengths_from_mask(torch.ones(2, 3, dtype=torch.int64)),
            TypeError,
            "got dtype int64",
        ),
        (
            lambda: ti.apply_mask(torch.zeros(2, 3), torch.ones(3, dtype=torch.bool)),
            ValueError,
            "leading prefix",
        ),
        (lambda: ti.sequence_mask(torch.tensor([1.0])), TypeError, "integer dtype, got float32"),
        (
            lambda: ti.sequence_mask(torch.tensor([-1])),
            ValueError,
            r"lengths must hold non-negative integers .*, got -1",
        ),
        (lambda: ti.mask_from_ids(torch.tensor([0.5])), TypeError, "integer dtype"),
        (
            lambda: ti.mask_from_ids(torch.tensor([1]), pad_id=torch.tensor(0)),
            TypeError,
            "pad_id must be an int",
        ),
        (
            lambda: ti.apply_mask(torch.tensor([1, 2]), torch.tensor([True, False]), float("nan")),
            ValueError,
            "fill: nan cannot be cast to int64",
        ),
    ],
)
def test_mask_errors_match_the_reference(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_mask_from_value_nan_rule_and_dtypes():
    nan = float("nan")
    x = torch.tensor([[[nan, nan], [nan, 1.0], [0.0, 0.0]]])
    assert ti.mask_from_value(x, nan).tolist() == [[False, True, True]]
    assert ti.mask_from_value(x, torch.tensor(nan)).tolist() == [[False, True, True]]
    assert ti.mask_from_value(x).tolist() == [[True, True, False]]
    assert ti.mask_from_value(x.to(torch.bfloat16)).tolist() == [[True, True, False]]
    ints = torch.tensor([[1, 0], [0, 0]], dtype=torch.uint8)
    assert ti.mask_from_value(ints, 300).tolist() == [True, True]  # no uint8 equals 300
    assert ti.mask_from_ids(ints, pad_id=-1).tolist() == [[True, True], [True, True]]


def test_expand_mask_is_a_new_tensor():
    mask = torch.tensor([[True, False]])
    out = ti.expand_mask(mask, torch.zeros(1, 2, 3))
    assert out.shape == (1, 2, 3) and out.dtype == torch.bool
    same_shape = ti.expand_mask(mask, torch.zeros(1, 2))
    same_shape[0, 0] = False
    assert mask.tolist() == [[True, False]]


def test_inputs_are_never_mutated():
    x = torch.tensor([[1.0, float("nan")], [3.0, 4.0]])
    mask = torch.tensor([[True, False], [False, True]])
    seqs = tensors()
    values, lengths = torch.arange(5), torch.tensor([2, 3])
    before = [t.clone() for t in (x, mask, values, lengths, *seqs)]
    ti.apply_mask(x, mask)
    ti.apply_mask(x, mask[:, 0])
    ti.expand_mask(mask, x)
    ti.mask_from_value(x, float("nan"))
    ti.pad_sequences(seqs, maxlen=2)
    ti.pad_flat(values, lengths, maxlen=1, truncating="post")
    ti.unpad_sequences(x, torch.tensor([1, 2]))
    after = (x, mask, values, lengths, *seqs)
    for b, a in zip(before, after):
        assert torch.equal(torch.nan_to_num(b), torch.nan_to_num(a))
    array = np.array([[1, 2], [3, 4]])
    out = ti.pad_sequences(array)
    out[0, 0] = 9
    assert array[0, 0] == 1


# --- devices and compile -------------------------------------------------------------------


def test_device_is_kept_without_touching_data():
    """Meta tensors have a device and no data: the mask functions must not need any."""
    x = torch.empty(2, 3, 4, device="meta")
    mask = torch.empty(2, 3, dtype=torch.bool, device="meta")
    assert ti.apply_mask(x, mask, fill=1.0).device.type == "meta"
    assert ti.expand_mask(mask, x).device.type == "meta"
    assert ti.lengths_from_mask(mask).device.type == "meta"
    assert ti.mask_from_value(x).device.type == "meta"
    assert ti.mask_from_ids(torch.empty(2, 3, dtype=torch.int64, device="meta")).device.type == (
        "meta"
    )


@pytest.mark.parametrize("device", DEVICES)
def test_results_stay_on_the_input_device(device):
    seqs = tensors(device=device)
    assert ti.pad_sequences(seqs).device.type == device
    values, lengths = torch.arange(4, device=device), torch.tensor([3, 1], device=device)
    assert ti.pad_flat(values, lengths, maxlen=2).device.type == device
    assert ti.pad_flat(np.arange(4), lengths).device.type == device
    padded = torch.zeros(2, 3, device=device)
    assert all(p.device.type == device for p in ti.unpad_sequences(padded, lengths))
    assert ti.sequence_mask(lengths).device.type == device
    assert ti.apply_mask(padded, np.ones((2, 3), bool)).device.type == device


def test_mask_functions_compile_to_one_graph():
    import torch._dynamo

    def fn(x, mask, ids):
        keep = mask & ti.mask_from_ids(ids, pad_id=0) & ti.mask_from_value(x, 0.0)
        return ti.apply_mask(x, keep, fill=-1.0), ti.lengths_from_mask(keep)

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend="eager", fullgraph=True)
    x = torch.tensor([[[1.0, float("nan")], [0.0, 0.0], [2.0, 3.0]]])
    mask = torch.tensor([[True, True, False]])
    ids = torch.tensor([[4, 5, 6]])
    for a, b in zip(compiled(x, mask, ids), fn(x, mask, ids)):
        assert torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
    torch._dynamo.reset()


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_unsigned_dtypes_with_few_torch_kernels(dtype):
    top = int(torch.iinfo(dtype).max)
    values = torch.tensor([1, 2, 3], dtype=torch.int64).to(dtype)
    out = ti.pad_flat(values, torch.tensor([2, 1], dtype=dtype), maxlen=1, value=top)
    assert out.dtype == dtype and out.tolist() == [[2], [3]]
    out = ti.pad_sequences([values, values[:1]], dtype=dtype, value=top, padding="post")
    assert out.tolist() == [[1, 2, 3], [1, top, top]]
    parts = ti.unpad_sequences(out, torch.tensor([3, 1]))
    assert [p.dtype for p in parts] == [dtype, dtype] and parts[1].tolist() == [1]
    with pytest.raises(ValueError, match="cannot be cast to int8"):
        ti.pad_sequences([torch.tensor([200]).to(dtype)], dtype="int8")


def test_dim_and_keepdim_are_torch_spellings_of_axis_and_keepdims():
    x = torch.tensor([[1.0, 2.0, float("nan")], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert ti.masked_sum(x, mask, dim=1).tolist() == [3.0, 4.0]
    assert ti.masked_mean(x, mask, dim=1, keepdim=True).shape == (2, 1)
    assert ti.masked_softmax(x, mask, dim=-1).shape == (2, 3)
    assert float(ti.masked_sum(x, mask, dim=None)) == 7.0  # dim=None: every axis, as torch.sum
    for call in (
        lambda: ti.masked_sum(x, mask, axis=1, dim=1),
        lambda: ti.masked_sum(x, mask, 1, dim=1),
        lambda: ti.masked_mean(x, mask, 1, True, keepdim=True),
    ):
        with pytest.raises(TypeError, match=r"got both \w+= and its alias"):
            call()
    assert "dim" in inspect.signature(ti.masked_max).parameters
    assert "``dim`` is accepted as another name for ``axis``" in ti.masked_max.__doc__
    assert "dim" not in inspect.signature(ti.pad_sequences).parameters  # no axis there

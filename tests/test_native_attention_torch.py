"""PyTorch attention facts that ``maskref/conformance/native_attention_torch.py`` relies on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import require

import reference as ref


def _identity_mha(embed_dim: int = 1):
    """A one-head MultiheadAttention whose projections are the identity (no bias)."""
    import torch

    layer = torch.nn.MultiheadAttention(embed_dim, 1, batch_first=True)
    with torch.no_grad():
        layer.in_proj_weight.copy_(torch.eye(embed_dim).repeat(3, 1))
        layer.in_proj_bias.zero_()
        layer.out_proj.weight.copy_(torch.eye(embed_dim))
        layer.out_proj.bias.zero_()
    return layer


def _half_padded():
    """Batch row 0: every key padded (its query rows see nothing); batch row 1: no padding."""
    import torch

    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    padding = torch.tensor([[True, True, True], [False, False, False]])  # True = ignore
    return x, padding


def test_bool_mask_polarity_sdpa_keeps_what_multihead_attention_drops():
    """The same bool mask: SDPA attends where it is True, MultiheadAttention where it is False."""
    require("torch")
    import torch
    import torch.nn.functional as F

    query, key, value = torch.zeros(1, 1, 1), torch.zeros(1, 2, 1), torch.tensor([[[1.0], [2.0]]])
    mask = torch.tensor([[True, False]])  # (B, S) for key_padding_mask, (L, S) for the others
    sdpa = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    mha = _identity_mha()
    by_padding, _ = mha(query, key, value, key_padding_mask=mask)
    by_attn_mask, _ = mha(query, key, value, attn_mask=mask)
    assert sdpa.item() == 1.0  # key 0, where the mask is True
    assert by_padding.item() == pytest.approx(2.0)  # key 1, where the mask is False
    assert by_attn_mask.item() == pytest.approx(2.0)


def test_multihead_attention_fully_masked_row_gives_nan_gradients():
    """pytorch#41508: with need_weights=True (the default) a fully masked row's NaN reaches the
    shared projection weights' gradient even when the loss only reads the other rows."""
    require("torch")
    import torch

    x, padding = _half_padded()
    layer = torch.nn.MultiheadAttention(4, 2, batch_first=True)
    out, _ = layer(x, x, x, key_padding_mask=padding)
    assert out[0].isnan().all() and out[1].isfinite().all()
    out[1].sum().backward()
    assert layer.in_proj_weight.grad.isnan().any()


def test_multihead_attention_need_weights_false_gives_finite_gradients():
    """The workaround: need_weights=False (SDPA) gives 0 before out_proj and finite gradients."""
    require("torch")
    import torch

    x, padding = _half_padded()
    layer = torch.nn.MultiheadAttention(4, 2, batch_first=True)
    out, weights = layer(x, x, x, key_padding_mask=padding, need_weights=False)
    assert weights is None
    torch.testing.assert_close(out[0], layer.out_proj.bias.expand(3, 4))
    out.sum().backward()
    assert layer.in_proj_weight.grad.isfinite().all()


def test_multihead_attention_fast_path_is_taken_in_eval_without_grad():
    """The same eval-mode layer: without grad (the native fast path) a fully masked row is NaN
    even with need_weights=False; with grad enabled (the regular path) it is 0 before out_proj."""
    require("torch")
    import torch

    assert torch.backends.mha.get_fastpath_enabled()
    x, padding = _half_padded()
    layer = torch.nn.MultiheadAttention(4, 2, batch_first=True).eval()
    with torch.no_grad():
        fast, _ = layer(x, x, x, key_padding_mask=padding, need_weights=False)
    regular, _ = layer(x, x, x, key_padding_mask=padding, need_weights=False)
    assert fast[0].isnan().all()
    torch.testing.assert_close(regular[0].detach(), layer.out_proj.bias.detach().expand(3, 4))
    torch.testing.assert_close(fast[1], regular[1].detach())


def test_multihead_attention_refuses_integer_key_padding_mask():
    require("torch")
    import torch

    x = torch.zeros(1, 2, 2)
    layer = torch.nn.MultiheadAttention(2, 1, batch_first=True)
    with pytest.raises(AssertionError, match="only bool and floating types"):
        layer(x, x, x, key_padding_mask=torch.tensor([[1, 0]]))


def test_generate_square_subsequent_mask_is_float32_additive():
    require("torch")
    import torch

    mask = torch.nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.dtype == torch.float32
    np.testing.assert_array_equal(
        mask.numpy(), ref.convert_mask(ref.causal_mask(3), "keep", "additive")
    )


def test_sdpa_fully_masked_row_is_zero_on_both_cpu_kernels():
    require("torch")
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q = k = v = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[True, True], [False, False]])
    for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION):
        with sdpa_kernel(backend):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert out[0, 0, 1].tolist() == [0.0, 0.0], backend


def test_sdpa_attn_mask_with_is_causal_depends_on_the_kernel():
    """The CPU flash kernel ANDs attn_mask with the causal pattern; the math kernel raises."""
    require("torch")
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    q, k, v = torch.randn(1, 1, 3, 2), torch.randn(1, 1, 4, 2), torch.randn(1, 1, 4, 2)
    mask = torch.tensor([[True, True, False, True]] * 3)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        both = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)
    anded = F.scaled_dot_product_attention(q, k, v, attn_mask=mask & torch.ones(3, 4).tril().bool())
    torch.testing.assert_close(both, anded)
    with sdpa_kernel(SDPBackend.MATH), pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)


def test_causal_lower_right_warns_of_nan_but_gives_zeros_for_rows_without_keys():
    require("torch")
    import torch
    import torch.nn.functional as F
    from torch.nn.attention.bias import causal_lower_right

    q, k = torch.ones(1, 1, 3, 1), torch.ones(1, 1, 2, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bias = causal_lower_right(3, 2)
    assert any("NaN" in str(w.message) for w in caught)
    out = F.scaled_dot_product_attention(q, k, k, attn_mask=bias)
    assert out[0, 0, :, 0].tolist() == [0.0, 1.0, 1.0]

"""maskref's PyTorch backend: the reference's padding and masking rules on torch tensors.

Same modules, functions, signatures, defaults and errors as :mod:`reference`;
results are ``torch.Tensor`` (masks ``torch.bool``) on the input's device.
Tensors, NumPy arrays and Python lists are accepted wherever the reference
accepts them. String and object data are the reference's alone.
"""

from .attention import (
    attention_mask,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
    segment_ids_from_lengths,
    segment_mask,
)
from .conventions import convert_mask, mask_convention
from .masks import (
    apply_mask,
    expand_mask,
    lengths_from_mask,
    mask_from_ids,
    mask_from_value,
    sequence_mask,
)
from .padding import pad_flat, pad_sequences, unpad_sequences
from .pooling import MaskedGlobalAveragePooling1D, MaskedGlobalMaxPooling1D
from .ragged import (
    PackedSequences,
    first_valid,
    from_nested,
    from_packed_sequence,
    last_valid,
    lengths_from_row_splits,
    pack_sequences,
    padded_from_ragged,
    positions_from_mask,
    ragged_from_padded,
    repad,
    reverse_sequences,
    row_splits_from_lengths,
    to_nested,
    to_packed_sequence,
    unpack_sequences,
    unpad,
)
from .reductions import (
    masked_all,
    masked_any,
    masked_argmax,
    masked_argmin,
    masked_count,
    masked_cumsum,
    masked_log_softmax,
    masked_logsumexp,
    masked_max,
    masked_mean,
    masked_min,
    masked_prod,
    masked_softmax,
    masked_std,
    masked_sum,
    masked_var,
)

BACKEND = "torch_impl"

__all__ = [
    "BACKEND",
    "MaskedGlobalAveragePooling1D",
    "MaskedGlobalMaxPooling1D",
    "PackedSequences",
    "apply_mask",
    "attention_mask",
    "attention_weights",
    "causal_mask",
    "convert_mask",
    "expand_mask",
    "first_valid",
    "from_nested",
    "from_packed_sequence",
    "last_valid",
    "lengths_from_mask",
    "lengths_from_row_splits",
    "mask_convention",
    "mask_from_ids",
    "mask_from_value",
    "masked_all",
    "masked_any",
    "masked_argmax",
    "masked_argmin",
    "masked_count",
    "masked_cumsum",
    "masked_log_softmax",
    "masked_logsumexp",
    "masked_max",
    "masked_mean",
    "masked_min",
    "masked_prod",
    "masked_softmax",
    "masked_std",
    "masked_sum",
    "masked_var",
    "pack_sequences",
    "pad_flat",
    "pad_sequences",
    "padded_from_ragged",
    "positions_from_mask",
    "ragged_from_padded",
    "repad",
    "reverse_sequences",
    "row_splits_from_lengths",
    "scaled_dot_product_attention",
    "segment_ids_from_lengths",
    "segment_mask",
    "sequence_mask",
    "to_nested",
    "to_packed_sequence",
    "unpack_sequences",
    "unpad",
    "unpad_sequences",
]

"""maskref's reference: the padding and masking rules, defined in NumPy alone.

Importing this package imports NumPy and nothing else (no TensorFlow, no
torch). ``tf_impl`` and ``torch_impl`` mirror this API module by module.
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
from .ragged import (
    PackedSequences,
    first_valid,
    last_valid,
    lengths_from_row_splits,
    pack_sequences,
    padded_from_ragged,
    positions_from_mask,
    ragged_from_padded,
    repad,
    reverse_sequences,
    row_splits_from_lengths,
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

BACKEND = "reference"

__all__ = [
    "BACKEND",
    "PackedSequences",
    "apply_mask",
    "attention_mask",
    "attention_weights",
    "causal_mask",
    "convert_mask",
    "expand_mask",
    "first_valid",
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
    "unpack_sequences",
    "unpad",
    "unpad_sequences",
]

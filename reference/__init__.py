"""maskref's reference: the padding and masking rules, defined in NumPy alone.

Importing this package imports NumPy and nothing else (no TensorFlow, no
torch). ``tf_impl`` and ``torch_impl`` mirror this API module by module.
"""

from .masks import (
    apply_mask,
    expand_mask,
    lengths_from_mask,
    mask_from_ids,
    mask_from_value,
    sequence_mask,
)
from .padding import pad_flat, pad_sequences, unpad_sequences

BACKEND = "reference"

__all__ = [
    "BACKEND",
    "apply_mask",
    "expand_mask",
    "lengths_from_mask",
    "mask_from_ids",
    "mask_from_value",
    "pad_flat",
    "pad_sequences",
    "sequence_mask",
    "unpad_sequences",
]

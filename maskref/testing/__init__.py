"""maskref.testing: prove that a model ignores its padding.

:func:`check_padding_invariance` runs six checks on a model and a padded batch
(``one_by_one``, ``extra_padding``, ``pad_side``, ``pad_contents``,
``neighbours``, ``mask_used``) and returns a :class:`CheckReport` (text and
JSON); :func:`padding_invariance_test` draws batches with hypothesis and fails
with the smallest failing batch. ``maskref check file.py:make_model`` is the
command-line front end (exit status 1 when a check fails, ``--format json``).

Typical calls (``batch = (x, mask)``: post-padded inputs, bool mask, True = valid)::

    check_padding_invariance(keras_model, batch)                    # implicit Keras mask
    check_padding_invariance(encoder, batch, mask_arg="src_key_padding_mask",
                             mask_convention="drop")
    check_padding_invariance(mha, batch, mask_convention="drop",
                             call=lambda m, x, mask: m(x, x, x, key_padding_mask=mask))
    check_padding_invariance(bert, batch, mask_arg="attention_mask",
                             mask_convention="transformers", position_ids_arg="position_ids")

What it found on models no one here wrote (``tests/test_checker.py``; torch 2.13,
Keras 3.15, transformers 5.24):

* ``nn.TransformerEncoder``, eval: ignores padding in the forward pass (right padding
  takes the nested-tensor path: padded outputs exactly 0, padded inputs never read),
  but NaN/inf padding makes the gradients NaN (with grad enabled the slow path runs),
  and with left padding (no nested path) NaN/inf padding reaches the valid outputs.
  Training mode with dropout: outputs depend on the batch's shape; without dropout,
  NaN/inf padding reaches the valid outputs.
* ``nn.LSTM`` + ``pack_padded_sequence``: right padding passes; left padding fails
  every check; a row with no valid step cannot be packed (RuntimeError). Unpacked: the
  per-step output ignores right padding (causal) but NaN/inf padding poisons
  ``weight_ih_l0``'s gradient; ``h_n`` has run through the padding.
* ``nn.MultiheadAttention`` (``key_padding_mask``): NaN/inf in masked keys reach every
  output; a fully padded row gives NaN gradients for every parameter (pytorch#41508),
  not with ``need_weights=False``.
* Keras ``Embedding(mask_zero) -> LSTM -> Dense``: passes (pad_contents and mask_used
  not applicable: the mask comes from the ids). ``MultiHeadAttention -> Add ->
  GlobalAveragePooling1D`` in a subclassed model: the mask is dropped, ``one_by_one``
  and ``extra_padding`` fail (``pad_side`` passes: a mean over every step of a
  permutation-equivariant layer); functional: passes, except that a fully padded row
  (a 0/0 mean) makes the gradients NaN.
* ``BertModel``/``GPT2Model``: right padding passes; left padding without
  ``position_ids`` fails one_by_one/extra_padding/pad_side (transformers#33095); with
  ``position_ids`` from the mask it passes; out-of-range ids in masked positions raise
  (IndexError): padded ids are still looked up.
"""

from __future__ import annotations

from .checks import check_padding_invariance
from .property import batches_like, padding_invariance_test
from .results import (
    CHECKS,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    TOLERANCES,
    CheckReport,
    CheckResult,
    Detail,
    Shrunk,
    Tolerance,
)

__all__ = [
    "CHECKS",
    "FAILED",
    "NOT_APPLICABLE",
    "PASSED",
    "TOLERANCES",
    "CheckReport",
    "CheckResult",
    "Detail",
    "Shrunk",
    "Tolerance",
    "batches_like",
    "check_padding_invariance",
    "padding_invariance_test",
]

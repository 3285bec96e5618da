"""The export table: every public name, and the module that holds it.

This is the one list of maskref's public API. ``reference``, ``tf_impl`` and
``torch_impl`` build their namespaces and ``__all__`` from it
(:func:`maskref.api.namespace`); a test checks that every backend exports
exactly :func:`public_names` with identical signatures.

``SHARED`` names exist in every backend: functions are front ends in
``maskref.api.<module>`` bound to the backend's kernels of the same name;
classes and constants are taken from the backend's module as they are.
``EXTRAS`` are a backend's own names (framework layers and modules, converters
to framework objects), taken from the backend module that the table names.
"""

from __future__ import annotations

SHARED: dict[str, tuple[str, ...]] = {
    "padding": ("pad_flat", "pad_sequences", "unpad_sequences"),
    "masks": (
        "apply_mask",
        "expand_mask",
        "lengths_from_mask",
        "mask_from_ids",
        "mask_from_value",
        "sequence_mask",
    ),
    "reductions": (
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
    ),
    "conventions": ("convert_mask", "mask_convention"),
    "attention": (
        "attention_mask",
        "attention_weights",
        "causal_mask",
        "scaled_dot_product_attention",
        "segment_ids_from_lengths",
        "segment_mask",
    ),
    "ragged": (
        "PackedSequences",
        "first_valid",
        "last_valid",
        "lengths_from_row_splits",
        "pack_sequences",
        "padded_from_ragged",
        "positions_from_mask",
        "ragged_from_padded",
        "repad",
        "reverse_sequences",
        "row_splits_from_lengths",
        "unpack_sequences",
        "unpad",
    ),
    "flow": (
        "concatenate_masks",
        "flow_mask",
        "masking_values",
        "merge_masks",
        "merge_masks_strict",
        "merge_values",
    ),
    "recurrence": (
        "bidirectional",
        "gru",
        "gru_weights_keras_to_torch",
        "gru_weights_torch_to_keras",
        "lstm",
        "lstm_weights_keras_to_torch",
        "lstm_weights_torch_to_keras",
        "rnn",
        "simple_rnn",
        "simple_rnn_weights_keras_to_torch",
        "simple_rnn_weights_torch_to_keras",
    ),
    "losses": (
        "TokenMean",
        "accumulated_loss",
        "masked_accuracy",
        "masked_cross_entropy",
        "masked_loss",
    ),
}

EXTRAS: dict[str, dict[str, tuple[str, ...]]] = {
    "reference": {},
    "jax_impl": {},
    "tf_impl": {
        "flow": (
            "ConsumingLayer",
            "LayerMasks",
            "MaskExplanation",
            "MaskSummary",
            "PropagatingLayer",
            "TransformingLayer",
            "explain_masks",
            "get_mask",
            "set_mask",
        ),
        "pooling": ("MaskedGlobalAveragePooling1D", "MaskedGlobalMaxPooling1D"),
        "ragged": ("from_ragged_tensor", "to_ragged_tensor"),
        "recurrence": ("load_torch_weights",),
        "losses": ("MaskedAccuracy", "MaskedSparseCategoricalCrossentropy"),
    },
    "torch_impl": {
        "flow": (
            "Add",
            "Average",
            "Concatenate",
            "DropMask",
            "Embedding",
            "MaskedModule",
            "MaskedSequential",
            "Masking",
            "Maximum",
            "Minimum",
            "Multiply",
            "PerStep",
            "Subtract",
            "call_masked",
        ),
        "pooling": ("MaskedGlobalAveragePooling1D", "MaskedGlobalMaxPooling1D"),
        "ragged": ("from_nested", "from_packed_sequence", "to_nested", "to_packed_sequence"),
        "recurrence": ("MaskedGRU", "MaskedLSTM", "MaskedRNN", "load_keras_weights"),
        "losses": ("MaskedCrossEntropyLoss",),
    },
}

_MODULE_OF = {name: module for module, names in SHARED.items() for name in names}


def module_of(name: str) -> str:
    """The module (``"reductions"``) that holds the shared public ``name``."""
    try:
        return _MODULE_OF[name]
    except KeyError:
        raise AttributeError(f"{name!r} is not a shared public name of maskref") from None


def shared_names() -> list[str]:
    """Every name each backend exports, sorted."""
    return sorted(_MODULE_OF)


def public_names(package: str) -> list[str]:
    """What ``package`` exports (its ``__all__``): the shared names, its extras, ``BACKEND``."""
    extras = [n for names in EXTRAS[package].values() for n in names]
    return sorted({"BACKEND", *_MODULE_OF, *extras})

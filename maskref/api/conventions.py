"""Mask conventions: what ``True``, ``1`` or ``-inf`` means to each framework; exact conversions.

maskref's own masks are boolean with ``True`` = valid/keep. Other conventions
enter and leave only through :func:`convert_mask`:

================  =========  ==============================================================
convention        dtype      meaning
================  =========  ==============================================================
``"keep"``        bool       ``True`` = valid / may attend (Keras, maskref, SDPA's bool mask)
``"drop"``        bool       ``True`` = masked out (``numpy.ma``, ``nn.MultiheadAttention``)
``"int"``         int/float  ``1`` = valid, ``0`` = masked (Hugging Face ``attention_mask``)
``"additive"``    float      ``0`` = valid, ``-inf`` = masked (a bias added to the scores)
``"additive_min"``float      ``0`` = valid, the dtype's most negative finite value = masked
================  =========  ==============================================================

:data:`NAMED_CONVENTIONS` maps framework arguments (``"keras"``,
``"torch.nn.MultiheadAttention.key_padding_mask"``, ...) to one of these and to
the shape the framework expects; those names are accepted wherever a
convention is. The tables live here, once, for every backend (and for
``maskref conventions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_numeric, check_scalar
from .core import Backend, frontend
from .dtypes import dtype_name as _dtype_name
from .types import Array, ArrayLike, DTypeLike

#: The conventions every name resolves to.
CONVENTIONS = ("keep", "drop", "int", "additive", "additive_min")

#: Reading an additive mask: a value at or below this is "masked". It catches
#: ``-inf``, every dtype's ``finfo.min``, Keras's ``-0.7 * finfo.max``, ``-1e9``
#: and the ``-10000.0`` of older BERT-style code, and leaves soft biases (ALiBi,
#: relative positions: small negative numbers) valid.
ADDITIVE_THRESHOLD = -1e4


@dataclass(frozen=True)
class NamedConvention:
    """A framework's mask argument: its convention, the shape it expects, what to watch."""

    name: str
    convention: str
    shape: str
    note: str


def _named(*rows: tuple[str, str, str, str]) -> dict[str, NamedConvention]:
    return {row[0]: NamedConvention(*row) for row in rows}


#: Framework mask arguments and their conventions (checked against the frameworks'
#: own behaviour by the conformance cases of ``maskref report``).
NAMED_CONVENTIONS: dict[str, NamedConvention] = _named(
    (
        "keras",
        "keep",
        "(B, T) with (B, T, ...) data; MultiHeadAttention attention_mask "
        "(B, Lq, Lk) or broadcastable",
        "any nonzero value is read as True; a (B, Lk) attention_mask is read as (Lq, Lk): "
        "silently wrong when B == Lq, an error otherwise (pass a (B, 1, Lk) mask)",
    ),
    (
        "keras.ops.dot_product_attention",
        "keep",
        "mask broadcastable to (B, N, T, S)",
        "a fully masked row gives the mean of the values; `bias` is additive",
    ),
    (
        "torch.nn.MultiheadAttention.key_padding_mask",
        "drop",
        "(B, S)",
        "True = padding; a float mask is additive; integer masks are refused",
    ),
    (
        "torch.nn.MultiheadAttention.attn_mask",
        "drop",
        "(L, S) or (B * num_heads, L, S), batch-major",
        "True = may NOT attend (opposite of scaled_dot_product_attention); float is additive",
    ),
    (
        "torch.nn.TransformerEncoder.src_key_padding_mask",
        "drop",
        "(B, S)",
        "as MultiheadAttention's key_padding_mask",
    ),
    (
        "torch.nn.Transformer.generate_square_subsequent_mask",
        "additive",
        "(L, L) float32",
        "0 on and below the diagonal, -inf above",
    ),
    (
        "torch.nn.functional.scaled_dot_product_attention",
        "keep",
        "broadcastable to (B, H, L, S): a key padding mask is (B, 1, 1, S)",
        "True = may attend; a float mask is additive; fully masked rows give 0",
    ),
    ("numpy.ma", "drop", "the data's shape", "True = invalid"),
    (
        "transformers",
        "int",
        "(B, S) int64 attention_mask",
        "1 = real token, 0 = padding; models turn it into an additive finfo.min bias",
    ),
    (
        "jax.nn.dot_product_attention",
        "keep",
        "mask broadcastable to (B, N, T, S)",
        "True = may attend",
    ),
    (
        "flax",
        "nonzero",
        "float32 (B, 1, Lq, Lk), as flax.linen.make_attention_mask returns",
        "1 = may attend, 0 = masked (read as nonzero = keep); a fully masked row attends "
        "uniformly (finfo.min fill)",
    ),
    (
        "jax.nn.dot_product_attention.key_value_seq_lengths",
        "lengths",
        "(B,) int32 lengths of a (B, S) keep mask",
        "right padding only: a left-padded row or a hole is a ValueError naming the row",
    ),
    (
        "jax.nn.dot_product_attention.query_seq_lengths",
        "lengths",
        "(B,) int32 lengths of a (B, T) keep mask",
        "right padding only, as key_value_seq_lengths; padded query rows give 0",
    ),
    (
        "maxtext.decoder_segment_ids",
        "nonzero",
        "(B, S) int32 segment ids, 0 = padding",
        "one document per row reads and writes as ids 1/0; several documents: segment_mask",
    ),
)

#: Conventions of the framework names that are not plain masks of the same shape:
#: ``nonzero`` (read: ``mask != 0``; written: 1/0, float32 by default) and ``lengths``
#: (a ``(B, S)`` right-padded keep mask as ``(B,)`` int32 lengths, and back).
EXTRA_CONVENTIONS = ("nonzero", "lengths")


def convention_entry(name: object, arg: str = "name") -> NamedConvention:
    """The table entry of ``name`` (a convention or a framework argument); an unknown name
    (or anything but a string) is a ``ValueError`` naming ``arg`` and listing every known
    one; None is a ``TypeError``."""
    if name is None:
        raise TypeError(f"{arg} must name a mask convention, got None")
    if isinstance(name, str):
        if name in CONVENTIONS or name in EXTRA_CONVENTIONS:
            return NamedConvention(name, name, "any", "")
        if name in NAMED_CONVENTIONS:
            return NAMED_CONVENTIONS[name]
    known = ", ".join(repr(n) for n in CONVENTIONS + EXTRA_CONVENTIONS + tuple(NAMED_CONVENTIONS))
    raise ValueError(f"{arg}={name!r} is not a known mask convention; expected one of {known}")


@frontend
def mask_convention(B: Backend, name: str) -> NamedConvention:
    """The entry for ``name``: a convention (``"keep"``, ...) or a framework argument.

    The entry says which convention the name uses, the shape the framework
    expects and what to watch for. An unknown name is a ``ValueError`` that
    lists every known one. Pure Python: the same in every backend.

    >>> mask_convention("torch.nn.MultiheadAttention.key_padding_mask").convention
    'drop'
    """
    return convention_entry(name)


def dtype_kind(dtype_name: str) -> str:
    """``"b"``, ``"i"`` (signed or unsigned integer), ``"f"`` or ``"?"`` for a dtype name."""
    name = dtype_name.rsplit(".", 1)[-1]
    if name == "bool":
        return "b"
    if name.startswith(("int", "uint")) or name in ("long", "short"):
        return "i"
    if name.startswith(("float", "bfloat")) or name in ("half", "double"):
        return "f"
    return "?"


def check_source_dtype(convention: str, dtype_name: str, name: str = "mask") -> None:
    """``TypeError`` unless a mask of ``dtype_name`` can be read in ``convention``."""
    kind = dtype_kind(dtype_name)
    if convention in ("keep", "drop") and kind != "b":
        raise TypeError(
            f"{name} in convention {convention!r} must be boolean, got dtype {dtype_name}; "
            f"an integer 0/1 mask is convention 'int', a bias 'additive'"
        )
    if convention == "int" and kind not in "if":
        raise TypeError(
            f"{name} in convention 'int' must hold integers or floats 0/1, got dtype "
            f"{dtype_name}; a boolean mask is convention 'keep' (True = valid) or 'drop'"
        )
    if convention in ("additive", "additive_min") and kind != "f":
        raise TypeError(
            f"{name} in convention {convention!r} must be floating point, got dtype {dtype_name}"
        )


def target_dtype_name(convention: str, dtype_name: str | None, mask_dtype_name: str) -> str:
    """The dtype name of a converted mask (``dtype_name`` None: the convention's default).

    ``keep``/``drop``: bool. ``int``: int64 by default; any integer or float dtype.
    ``additive``/``additive_min``: the mask's dtype if it is floating, else float32;
    any float dtype (bfloat16 included). A dtype the convention cannot hold is a
    ``TypeError``.
    """
    if dtype_name is None:
        if convention in ("keep", "drop"):
            return "bool"
        if convention == "int":
            return "int64"
        return mask_dtype_name if dtype_kind(mask_dtype_name) == "f" else "float32"
    kind = dtype_kind(dtype_name)
    allowed = {"keep": "b", "drop": "b", "int": "if"}.get(convention, "f")
    if kind not in allowed:
        raise TypeError(f"dtype={dtype_name} cannot hold a mask in convention {convention!r}")
    return dtype_name


def check_threshold(threshold: object) -> float:
    """The additive threshold as a float: a real number below 0 (bools and strings are a
    ``TypeError``; 0, positive numbers and NaN a ``ValueError``)."""
    if isinstance(threshold, bool) or type(threshold).__name__ == "bool_":
        raise TypeError(f"threshold must be a negative number, got {threshold!r}")
    check_scalar(threshold, "threshold")
    if "bool" in str(getattr(threshold, "dtype", "")):
        raise TypeError(f"threshold must be a negative number, got {threshold!r}")
    value = float(threshold)  # type: ignore[arg-type]
    if not value < 0:
        raise ValueError(f"threshold must be a negative number, got {threshold!r}")
    return value


def bad_int_value_error(value: object, name: str = "mask") -> ValueError:
    return ValueError(f"{name} in convention 'int' must hold only 0 and 1, found {value!r}")


def nan_additive_error(name: str = "mask") -> ValueError:
    return ValueError(f"{name} is an additive mask holding NaN, which is neither kept nor masked")


def _first(values: np.ndarray, bad: np.ndarray) -> object:
    item = values[bad].flat[0]
    return item.item() if hasattr(item, "item") else item


def _check_values(B: Backend, mask: Array, convention: str) -> None:
    """The data-dependent checks of reading ``mask``: 0/1 only for ``int``, no NaN in an
    additive mask (``ValueError``; an assertion inside ``tf.function``)."""
    if convention == "int":

        def not_binary() -> ValueError:
            values = np.asarray(B.a.numpy(mask))
            return bad_int_value_error(_first(values, (values != 0) & (values != 1)))

        ok = B.a.all((mask == 0) | (mask == 1))
        B.require(ok, not_binary, "mask in convention 'int' must hold only 0 and 1")
    elif convention in ("additive", "additive_min"):
        B.require(
            B.a.all(mask == mask),  # False only at NaN
            nan_additive_error,
            "mask is an additive mask holding NaN, which is neither kept nor masked",
        )


@frontend
def convert_mask(
    B: Backend,
    mask: ArrayLike,
    source: str,
    target: str,
    *,
    dtype: DTypeLike = None,
    threshold: float = ADDITIVE_THRESHOLD,
    seqlen: int | None = None,
) -> Array:
    """``mask`` read in convention ``source`` and written in convention ``target``.

    ``source`` and ``target`` are conventions (``"keep"``, ``"drop"``, ``"int"``,
    ``"additive"``, ``"additive_min"``, ``"nonzero"``, ``"lengths"``) or framework
    names from :data:`NAMED_CONVENTIONS`. The shape never changes, except through
    ``lengths``: a ``(B, S)`` keep mask written as ``(B,)`` int32 lengths (right
    padding only: a row with a hole or left padding is a ``ValueError`` naming
    the row), and lengths read back as a ``(B, seqlen)`` mask (``seqlen``
    defaults to the longest length). ``nonzero`` reads ``mask != 0`` (any number
    or bool) and writes 1/0, float32 by default (Flax's masks).

    Reading: ``keep``/``drop`` masks must be boolean; ``int`` masks integer or
    float holding only 0 and 1 (anything else is a ``ValueError``: a count or
    a segment id is not a mask); ``additive`` and ``additive_min`` masks are
    floats where a value at or below ``threshold`` (default
    :data:`ADDITIVE_THRESHOLD`, ``-1e4``, compared in the mask's dtype) is
    masked and anything above it, soft biases included, is valid (NaN is a
    ``ValueError``). ``threshold`` is a negative number.
    Writing: ``dtype`` (a name, a NumPy dtype or a framework dtype) as
    :func:`target_dtype_name` states: bool for ``keep``/``drop``, int64 for
    ``int``, float32 or the mask's float dtype for the additive ones;
    ``additive_min`` writes the dtype's most negative finite value.
    ``bfloat16`` is a float dtype like the others in every backend (the
    reference uses the ``ml_dtypes`` package for it, a ``TypeError`` naming
    the package when it is missing). Round trips through any convention are
    exact. The result is a new array; the input is never modified.

    >>> convert_mask([True, False], "keras", "torch.nn.MultiheadAttention.key_padding_mask")
    array([False,  True])
    >>> convert_mask([1, 0], "transformers", "additive")
    array([  0., -inf], dtype=float32)
    """
    src = convention_entry(source, "source").convention
    dst = convention_entry(target, "target").convention
    mask = B.a.asarray(mask, "mask")
    threshold = check_threshold(threshold)
    if seqlen is not None and src != "lengths":
        raise ValueError(f"seqlen={seqlen!r} is only read with source convention 'lengths'")
    if src in EXTRA_CONVENTIONS or dst in EXTRA_CONVENTIONS:
        return _convert_extra(B, mask, src, dst, dtype, threshold, seqlen)
    mask_dtype = B.a.dtype_name(mask)
    check_source_dtype(src, mask_dtype)
    wanted = None if dtype is None else _dtype_name(dtype)
    out_dtype = target_dtype_name(dst, wanted, mask_dtype)
    _check_values(B, mask, src)
    return B.k.convert_mask(mask, src, dst, out_dtype, threshold)


def _convert_extra(
    B: Backend, mask: Array, src: str, dst: str, dtype: object, threshold: float, seqlen: object
) -> Array:
    """The ``nonzero`` and ``lengths`` conventions, through a keep mask and the front ends."""
    from .core import FRONTENDS

    convert = FRONTENDS["convert_mask"]
    if src == "lengths":
        keep = FRONTENDS["sequence_mask"](B, mask, seqlen)
    elif src == "nonzero":
        check_numeric(B.a.dtype_name(mask), "mask")
        keep = mask != 0
    else:
        keep = convert(B, mask, src, "keep", threshold=threshold)
    if dst == "lengths":
        return _lengths_of(B, keep, dtype)
    if dst == "nonzero":
        return convert(B, keep, "keep", "int", dtype="float32" if dtype is None else dtype)
    return convert(B, keep, "keep", dst, dtype=dtype)


def _lengths_of(B: Backend, keep: Array, dtype: object) -> Array:
    """``(B,)`` lengths of a right-padded ``(B, S)`` keep mask (int32 by default)."""
    from .core import FRONTENDS

    shape = B.a.shape_of(keep)
    if len(shape) != 2:
        raise ValueError(f"mask must have shape (B, S) to be written as lengths, got {shape}")
    lengths = FRONTENDS["lengths_from_mask"](B, keep)
    right = FRONTENDS["sequence_mask"](B, lengths, shape[1])

    def not_right_padded() -> ValueError:
        bad = np.asarray(B.a.numpy(keep)) != np.asarray(B.a.numpy(right))
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        return ValueError(
            f"mask row {row} is not right-padded (a hole or left padding): lengths assume the "
            f"valid steps come first"
        )

    B.require(B.a.all(keep == right), not_right_padded, "mask rows must be right-padded")
    wanted = "int32" if dtype is None else _dtype_name(dtype)
    if dtype_kind(wanted) != "i":
        raise TypeError(f"dtype={wanted} cannot hold lengths: an integer dtype is needed")
    return B.a.cast(lengths, wanted)

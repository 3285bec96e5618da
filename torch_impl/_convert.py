"""Conversions for the torch backend: inputs to tensors, dtypes, and the lossless-cast rule.

The rule itself is :mod:`reference._dtypes`'s (casts never lose information
silently, float rounding excepted); :func:`cast_tensor` applies it to tensors
without leaving the tensor's device, and :func:`cast_fill` reuses the
reference's scalar cast for fill values. Validation of Python-level arguments
stays with :mod:`reference._checks`, so error classes and messages match.
"""

from __future__ import annotations

import typing
from typing import Any

import numpy as np
import torch

from maskref.api import dtypes as ref_dtypes
from maskref.api.checks import check_data
from maskref.api.checks import check_maxlen as check_maxlen  # the adapter's, as is

ArrayOrTensor = np.ndarray | torch.Tensor

_NP_TO_TORCH: dict[np.dtype, torch.dtype] = {
    np.dtype(np.bool_): torch.bool,
    np.dtype(np.uint8): torch.uint8,
    np.dtype(np.int8): torch.int8,
    np.dtype(np.int16): torch.int16,
    np.dtype(np.int32): torch.int32,
    np.dtype(np.int64): torch.int64,
    np.dtype(np.uint16): torch.uint16,
    np.dtype(np.uint32): torch.uint32,
    np.dtype(np.uint64): torch.uint64,
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
    np.dtype(np.complex64): torch.complex64,
    np.dtype(np.complex128): torch.complex128,
}
_TORCH_TO_NP: dict[torch.dtype, np.dtype] = {t: n for n, t in _NP_TO_TORCH.items()}

#: torch dtypes without a NumPy twin: the NumPy dtype whose values they round from.
_NP_PROXY: dict[torch.dtype, np.dtype] = {
    torch.bfloat16: np.dtype(np.float64),
    torch.complex32: np.dtype(np.complex128),
}


#: Unsigned dtypes torch has few kernels for; their bits are moved as the signed twin.
SIGNED_TWIN: dict[torch.dtype, torch.dtype] = {
    torch.uint16: torch.int16,
    torch.uint32: torch.int32,
    torch.uint64: torch.int64,
}


def strings_unsupported(subject: str) -> TypeError:
    """The error for string/object data or dtypes, which only the reference handles."""
    return TypeError(
        f"{subject}: strings and objects are supported only by the NumPy reference "
        f"backend (`reference`); torch_impl works on numeric tensors"
    )


def dtype_name(x: ArrayOrTensor | torch.dtype | np.dtype) -> str:
    """The dtype's name as :mod:`reference._checks` expects it: ``"int64"``, ``"bool"``."""
    dtype = x if isinstance(x, (torch.dtype, np.dtype)) else x.dtype
    if isinstance(dtype, np.dtype):
        return ref_dtypes.dtype_label(dtype)
    return str(dtype).replace("torch.", "")


def as_array(x: object) -> ArrayOrTensor:
    """A tensor stays as it is; anything else becomes a NumPy array (nothing is copied)."""
    return x if isinstance(x, torch.Tensor) else np.asarray(x)


def to_torch(x: object, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """``x`` as a tensor (a tensor is returned as is, or moved to ``device``).

    NumPy arrays and lists are converted without a copy where possible; the
    backend never writes into what it is given, so sharing memory is safe.
    String and object data raise ``TypeError``.
    """
    if isinstance(x, torch.Tensor):
        return x if device is None else x.to(device)
    arr = np.asarray(x)
    if arr.dtype not in _NP_TO_TORCH:
        if arr.dtype.kind in "OUSV":
            raise strings_unsupported(f"{name} has dtype {arr.dtype}")
        native = arr.dtype.newbyteorder("=")
        if native not in _NP_TO_TORCH:
            raise TypeError(f"{name} has dtype {arr.dtype}, which torch cannot hold")
        arr = arr.astype(native)
    if not (arr.flags.c_contiguous and arr.flags.writeable):
        arr = arr.copy(order="C")  # torch.from_numpy warns about read-only arrays
    t = torch.from_numpy(arr)
    return t if device is None else t.to(device)


def numpy_dtype(dtype: torch.dtype) -> np.dtype | None:
    """The NumPy twin of a torch dtype, or None (bfloat16, complex32, quantized...)."""
    return _TORCH_TO_NP.get(dtype)


def torch_dtype(dtype: np.dtype, name: str = "dtype") -> torch.dtype:
    """The torch twin of a NumPy dtype; ``TypeError`` for strings, objects and the like."""
    if dtype.kind in "OUSV":
        raise strings_unsupported(f"{name}={dtype}")
    try:
        return _NP_TO_TORCH[dtype.newbyteorder("=")]
    except KeyError:
        raise TypeError(f"{name}={dtype} has no torch equivalent") from None


def resolve_dtype(dtype: object, name: str = "dtype") -> torch.dtype:
    """A target dtype as a ``torch.dtype``: a name, a ``np.dtype`` or a ``torch.dtype``.

    Unknown dtypes raise ``TypeError`` (as :func:`reference._dtypes.resolve_dtype`);
    so do string and object dtypes, which only the reference supports.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    return torch_dtype(ref_dtypes.resolve_dtype(dtype, name), name)


def _integer_info(dtype: torch.dtype) -> tuple[int, int]:
    if dtype == torch.bool:
        return 0, 1
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def _is_integer(dtype: torch.dtype) -> bool:
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def _raise_first(
    t: torch.Tensor, bad: torch.Tensor, name: str, target: torch.dtype, why: str
) -> None:
    """Raise the reference's lossy-cast error for the first ``bad`` value, if any."""
    if bool(bad.any()):
        first = t[bad].reshape(-1)[0].item()
        raise ref_dtypes.lossy_cast_error(name, first, dtype_name(target), why)


def cast_tensor(t: torch.Tensor, dtype: torch.dtype, name: str) -> torch.Tensor:
    """Cast ``t`` to ``dtype`` by the lossless-cast rule; ``ValueError`` on any loss.

    Same rule and message as :func:`reference._dtypes.cast_array`: into bool
    only 0 and 1; into an integer dtype only integers in range (from floats:
    finite, integral, in range); into a float dtype anything (rounding is the
    accepted loss); a complex value must have no imaginary part unless the
    target is complex. The check runs on ``t``'s device.
    """
    src = t.dtype
    if src == dtype or dtype.is_complex:
        return t.to(dtype)
    if src.is_complex:
        _raise_first(t, t.imag != 0, name, dtype, "it has an imaginary part")
        return cast_tensor(t.real, dtype, name)
    if dtype.is_floating_point:
        if src == torch.float64 and dtype in (torch.float16, torch.bfloat16):
            return _round_once(t, dtype)
        return t.to(dtype)  # rounding is the documented, accepted loss
    if src in SIGNED_TWIN or dtype in SIGNED_TWIN:  # few torch kernels: check in NumPy
        arr = ref_dtypes.cast_array(numpy_of(t), typing.cast(np.dtype, numpy_dtype(dtype)), name)
        return to_torch(arr, name, t.device).to(dtype)
    if dtype == torch.bool:
        _raise_first(t, (t != 0) & (t != 1), name, dtype, "only 0 and 1 are booleans")
        return t.to(dtype)
    if _is_integer(dtype):
        lo, hi = _integer_info(dtype)
        if src.is_floating_point:
            # The bounds are 0 or +-powers of two: exact in every float dtype.
            bad = ~torch.isfinite(t) | (torch.trunc(t) != t)
            bad |= (t < float(lo)) | (t >= float(hi) + 1.0)
            _raise_first(t, bad, name, dtype, "it is not an integer in range")
        elif src != torch.bool and t.numel():
            src_lo, src_hi = _integer_info(src)
            bad = None
            if lo > src_lo:
                bad = t < lo
            if hi < src_hi:
                bad = t > hi if bad is None else bad | (t > hi)
            if bad is not None:
                _raise_first(t, bad, name, dtype, "it is not an integer in range")
    return t.to(dtype)


def _round_once(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 -> float16/bfloat16 rounded once, to nearest even, as NumPy rounds.

    ``Tensor.to`` goes through float32 and so rounds twice (``1 + 2**-8 + 2**-30``
    becomes 1.0 in bfloat16 instead of 1.0078125). Rounding to float32 *to odd*
    first makes the second rounding exact. The gradient is the plain cast's.
    """
    f32 = t.detach().to(torch.float32)
    back = f32.to(torch.float64)
    inexact = (back != t.detach()) & ~torch.isnan(back)
    bits = f32.view(torch.int32)
    bits = torch.where(inexact & (back.abs() > t.detach().abs()), bits - 1, bits)  # truncate
    bits = torch.where(inexact, bits | 1, bits)  # the sticky bit
    rounded = bits.view(torch.float32).to(dtype)
    if not t.requires_grad:
        return rounded
    plain = t.to(dtype)
    return plain + (rounded - plain).detach()


def cast_fill(value: object, dtype: torch.dtype, name: str) -> bool | int | float | complex:
    """Cast one fill value to ``dtype`` by the rule; a Python scalar for ``torch.full``.

    The reference's :func:`~reference._dtypes.cast_scalar` does the work (so
    the messages are the same); the result is exactly representable in
    ``dtype``. A 0-d tensor is read as its value.
    """
    return _cast_fill(scalar_value(value), dtype_name(dtype), name)


@torch.compiler.assume_constant_result
def _cast_fill(value: object, dtype: str, name: str) -> bool | int | float | complex:
    # A pure function of constants: torch.compile evaluates it while tracing
    # (NumPy and all), so a constant fill costs no graph break.
    torch_dtype: Any = getattr(torch, dtype, None)
    np_dtype = numpy_dtype(torch_dtype)
    if np_dtype is None:
        np_dtype = _NP_PROXY.get(torch_dtype)
        if np_dtype is None:
            raise TypeError(f"{name} cannot be cast to {dtype}: maskref does not handle it")
    return typing.cast(Any, ref_dtypes.cast_scalar(value, np_dtype, name)).item()


def numpy_of(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as a NumPy array (on the CPU; bfloat16 widened exactly)."""
    t = t.detach().cpu()
    if numpy_dtype(t.dtype) is None:
        t = t.to(torch.complex128 if t.is_complex() else torch.float64)
    return t.numpy()


def scalar_value(value: Any) -> Any:
    """A 0-d tensor as a NumPy scalar array; anything else unchanged."""
    return numpy_of(value) if isinstance(value, torch.Tensor) else value


# --- the adapter every backend supplies to the front ends (maskref.api) ----------------------


def asarray(x: object, name: str, like: object = None) -> torch.Tensor | np.ndarray:
    """``x`` as a tensor (:func:`to_torch`); ``None`` is a ``TypeError`` naming ``name``.

    ``like``: a tensor (or a device) whose device a non-tensor ``x`` is put on; a tensor
    ``x`` is returned as is, wherever it lives. String and object data stay NumPy arrays
    (torch cannot hold them): the front end's dtype checks then give the reference's
    errors, and a kernel that receives one raises :func:`strings_unsupported`.
    """
    check_data(x, name)
    if not isinstance(x, torch.Tensor):
        arr = np.asarray(x)
        if arr.dtype.kind in "OUSV":  # left as NumPy: the front end's dtype checks name it
            return arr
    if isinstance(like, torch.Tensor):
        like = like.device
    if isinstance(x, torch.Tensor) or not isinstance(like, (torch.device, str)):
        return to_torch(x, name)
    return to_torch(x, name, like)


def shape_of(x: object) -> tuple[int, ...]:
    """The shape of a tensor, or of what ``np.asarray`` would make of ``x``."""
    return tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(np.shape(typing.cast(Any, x)))


def all(x: torch.Tensor) -> bool:
    """True when every element is true (a Python bool)."""
    return bool(torch.all(x))


def in_int64(t: torch.Tensor) -> torch.Tensor:
    """Per element: an integer from 0 to ``2**63 - 1`` (what int64 holds)."""
    if t.dtype == torch.uint64:  # few uint64 kernels: the sign bit of the int64 view
        return t.view(torch.int64) >= 0
    if t.dtype in (torch.uint8, torch.uint16, torch.uint32, torch.bool):
        return torch.ones(t.shape, dtype=torch.bool, device=t.device)
    return t >= 0


def numpy(t: torch.Tensor) -> np.ndarray:
    """The values as a NumPy array (for error messages)."""
    return numpy_of(t)


def is_tensor(x: object) -> bool:
    """True for a ``torch.Tensor``."""
    return isinstance(x, torch.Tensor)


def is_symbolic(x: object) -> bool:
    """True for a value that cannot be read while tracing; torch reads every tensor."""
    return False


def longest(lengths: torch.Tensor) -> int:
    """``max(lengths)``, 0 for no lengths, as a Python int (lengths already checked)."""
    if not lengths.numel():
        return 0
    if lengths.dtype == torch.uint64:
        lengths = lengths.view(torch.int64)  # checked to fit in int64
    return int(lengths.max())


def int64(t: torch.Tensor) -> torch.Tensor:
    """An integer tensor as int64 (its values already checked to fit; uint64 is viewed)."""
    if t.dtype == torch.uint64:
        return t.view(torch.int64)
    return t.to(torch.int64)


def dim(x: torch.Tensor, axis: int) -> int:
    """The size of ``axis`` (a Python int)."""
    return int(x.shape[axis])


def to_int64(x: torch.Tensor) -> torch.Tensor:
    """Integers already checked to fit in int64, as int64 (uint64 reinterpreted: no copy)."""
    if x.dtype == torch.uint64:
        return x.view(torch.int64)
    return x.to(torch.int64)


def total(x: torch.Tensor) -> torch.Tensor:
    """The int64 sum of ``x`` (callers check first that it cannot wrap around)."""
    return x.sum(dtype=torch.int64)


def device(value: object) -> torch.device | None:
    """Where results are made: None, a ``torch.device`` or its name, as a ``torch.device``;
    anything else is a ``ValueError`` naming ``device``."""
    if value is None or isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        try:
            return torch.device(value)
        except RuntimeError:
            pass
    raise ValueError(f"device={value!r} is not a torch device (None, a torch.device or a name)")


def dense_rows(x: object) -> torch.Tensor | None:
    """A jagged ``torch.nested`` tensor as a dense tensor, short rows padded with 0 on the
    right; None for anything else."""
    if isinstance(x, torch.Tensor) and x.is_nested:
        return x.to_padded_tensor(0)
    return None


def cast(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """``x`` as ``dtype`` (a name); callers cast only values the dtype holds."""
    return x.to(getattr(torch, dtype))

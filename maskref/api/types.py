"""Type aliases shared by the front ends' signatures.

maskref's functions take NumPy arrays, Python (nested) lists and each
backend's own tensors; they return the backend's array type. The aliases say
which is meant without naming a framework.
"""

from __future__ import annotations

from typing import Any, TypeAlias

#: An array of the backend in use: ``np.ndarray``, ``tf.Tensor`` or ``torch.Tensor``.
Array: TypeAlias = Any
#: What a function accepts as data: a backend array, a NumPy array or a (nested) list.
ArrayLike: TypeAlias = Any
#: A Python or NumPy number or bool (or a 0-d array).
Scalar: TypeAlias = "bool | int | float | Any"
#: ``None`` (every axis), one axis, or a tuple of axes; negative axes count from the end.
Axis: TypeAlias = "int | tuple[int, ...] | None"
#: A dtype: a name (``"int32"``), a NumPy dtype, or a framework dtype.
DTypeLike: TypeAlias = Any

__all__ = ["Array", "ArrayLike", "Axis", "DTypeLike", "Scalar"]

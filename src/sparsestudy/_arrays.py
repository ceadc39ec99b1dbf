"""Array plumbing shared by the library: NumPy in -> NumPy out, torch in -> torch out.

Every public numerical function converts its inputs with :func:`as_tensor`, computes in torch
and converts back with :func:`restore`. Validation errors name the offending argument.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

_FLOATS = (torch.float32, torch.float64)


def is_numpy_like(x: Any) -> bool:
    return not isinstance(x, torch.Tensor)


def as_tensor(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    check_finite: bool = True,
) -> torch.Tensor:
    """Convert ``x`` (NumPy array, torch tensor or nested list) to a floating torch tensor.

    Integer and boolean inputs become float64 (like scikit-learn); float32 and float64 are kept
    unless ``dtype`` is given. Raises ``TypeError`` for non-numeric input and ``ValueError`` for
    a wrong number of dimensions or non-finite entries, naming ``name``.
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, (np.ndarray, list, tuple, numbers.Number, np.generic)):
        try:
            arr = np.asarray(x)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from None
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        elif arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        # ascontiguousarray turns 0-d into 1-d: restore the shape
        t = torch.from_numpy(np.ascontiguousarray(arr)).reshape(arr.shape)
    else:
        raise TypeError(
            f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}"
        )
    if t.is_complex():
        raise TypeError(f"{name} must be real-valued, got dtype {t.dtype}")
    if t.dtype not in _FLOATS:
        if t.dtype.is_floating_point:  # float16 / bfloat16
            t = t.to(torch.float32)
        else:
            t = t.to(torch.float64)
    if dtype is not None:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(t.shape)}")
    if min_ndim is not None and t.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(t.shape)}"
        )
    if check_finite and t.numel() and not _all_finite(t):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def _all_finite(t: torch.Tensor) -> bool:
    """Whether every entry is finite: ``max |t|`` is finite exactly then (NaN propagates through
    ``amax``), and it is one reduction instead of a boolean tensor (several times faster)."""
    if not t.is_floating_point():
        return True
    return bool(torch.isfinite(t.detach().abs().amax()))


def restore(t: torch.Tensor, like_numpy: bool) -> Any:
    """Give back a NumPy array when the caller passed NumPy, else the tensor."""
    if like_numpy:
        return t.detach().cpu().numpy()
    return t


def common_dtype(*tensors: torch.Tensor) -> torch.dtype:
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = torch.promote_types(dt, t.dtype)
    return dt


def check_scalar(
    value: Any,
    name: str,
    *,
    kind: type | tuple[type, ...] = numbers.Real,
    min_value: float | None = None,
    max_value: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
) -> Any:
    """Validate a scalar argument, raising ``TypeError``/``ValueError`` that name it."""
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if isinstance(value, numbers.Real) and not np.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None:
        bad = value < min_value if include_min else value <= min_value
        if bad:
            op = ">=" if include_min else ">"
            raise ValueError(f"{name} must be {op} {min_value}, got {value}")
    if max_value is not None:
        bad = value > max_value if include_max else value >= max_value
        if bad:
            op = "<=" if include_max else "<"
            raise ValueError(f"{name} must be {op} {max_value}, got {value}")
    return value


def check_int(value: Any, name: str, *, min_value: int | None = None,
              max_value: int | None = None) -> int:
    check_scalar(value, name, kind=numbers.Integral, min_value=min_value, max_value=max_value)
    return int(value)

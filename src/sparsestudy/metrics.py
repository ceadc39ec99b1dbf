r"""Measurements on codes and estimates: recovery error in dB, supports, exact zeros.

Every function accepts NumPy arrays or torch tensors. Scalars come back as Python floats /
ints / bools; with ``axis`` given, arrays come back in the kind that was passed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._arrays import as_tensor, check_scalar, is_numpy_like, restore

__all__ = ["nmse_db", "support_equal", "n_exact_zeros", "sparsity", "lasso_duality_gap"]


def _pair(a: Any, b: Any, name_a: str, name_b: str) -> tuple[torch.Tensor, torch.Tensor]:
    at = as_tensor(a, name_a)
    bt = as_tensor(b, name_b, device=at.device)
    if at.shape != bt.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(at.shape)} "
            f"and {tuple(bt.shape)}"
        )
    dt = torch.promote_types(at.dtype, bt.dtype)
    return at.to(dt), bt.to(dt)


def nmse_db(estimate: Any, truth: Any) -> float:
    r"""Normalised mean squared error of a batch, in decibels:
    :math:`10\log_{10}\big(\sum_i\|\hat z_i - z_i\|^2 / \sum_i\|z_i\|^2\big)`.

    The sums run over the whole batch (the pooled convention of Chen et al. 2018's code), so
    ``-40`` means the error energy is 1e-4 of the signal energy. Open-L2O reports instead the
    mean over samples of each sample's dB (:func:`sparsestudy.unrolled.nmse_db_per_sample`);
    the two differ when a few samples have much larger errors than the rest. An exact estimate
    gives ``-inf``. Raises ``ValueError`` when ``truth`` is all zeros.
    """
    est, tru = _pair(estimate, truth, "estimate", "truth")
    tru = tru.double()
    err = est.double() - tru
    # scale by the largest magnitude so that tiny or huge values neither under- nor overflow
    scale = float(tru.abs().max()) if tru.numel() else 0.0
    if scale == 0.0:
        raise ValueError("truth must not be all zeros (the NMSE is undefined)")
    num = float(((err / scale) ** 2).sum())
    den = float(((tru / scale) ** 2).sum())
    return -math.inf if num == 0.0 else 10.0 * math.log10(num / den)


def support_equal(a: Any, b: Any, *, atol: float = 0.0, axis: int | None = None) -> Any:
    """Whether ``a`` and ``b`` have the same support, the entries with ``|.| > atol``.

    ``axis=None`` compares the whole arrays and returns a bool; ``axis=-1`` (say) compares
    along that axis and returns one bool per sample, as the kind that was passed.
    """
    at, bt = _pair(a, b, "a", "b")
    check_scalar(atol, "atol", min_value=0)
    same = (at.abs() > atol) == (bt.abs() > atol)
    if axis is None:
        return bool(same.all())
    return restore(same.all(dim=_check_axis(axis, at.ndim)), is_numpy_like(a))


def n_exact_zeros(x: Any, *, axis: int | None = None) -> Any:
    """Number of entries exactly equal to 0 (no tolerance), in all of ``x`` (an int) or along
    ``axis``."""
    xt = as_tensor(x, "x")
    zeros = xt == 0
    if axis is None:
        return int(zeros.sum())
    return restore(zeros.sum(dim=_check_axis(axis, xt.ndim)), is_numpy_like(x))


def sparsity(x: Any, *, axis: int | None = None) -> Any:
    """Fraction of entries exactly equal to 0, in all of ``x`` (a float) or along ``axis``."""
    xt = as_tensor(x, "x")
    if xt.numel() == 0:
        raise ValueError("x must not be empty")
    zeros = (xt == 0).double()
    if axis is None:
        return float(zeros.mean())
    return restore(zeros.mean(dim=_check_axis(axis, xt.ndim)), is_numpy_like(x))


def lasso_duality_gap(A: Any, y: Any, w: Any, alpha: float, *, relative: bool = True
                      ) -> float:
    r"""Duality gap of a regression lasso solution, in scikit-learn's scaling.

    The primal is scikit-learn's ``Lasso`` objective
    :math:`P(w) = \frac{1}{2n}\|y - Aw\|^2 + \alpha\|w\|_1` (no intercept). With the
    residual :math:`r = y - Aw`, the dual point is :math:`\nu = s\,r` with
    :math:`s = \min(1, n\alpha / \|A^\top r\|_\infty)` (feasible:
    :math:`\|A^\top\nu\|_\infty \le n\alpha`), and the dual objective
    :math:`D(\nu) = \frac1n(\nu^\top y - \frac12\|\nu\|^2)`. The gap
    :math:`P(w) - D(\nu) \ge P(w) - P(w^\star) \ge 0` certifies how far ``w`` is from
    optimal; it is 0 exactly at a solution.

    Computed in float64 NumPy, independently of the solvers.

    Parameters
    ----------
    A : array (n_samples, n_features)
    y : array (n_samples,)
    w : array (n_features,)
    alpha : float >= 0
        scikit-learn's penalty.
    relative : bool
        ``True`` (default): the gap divided by :math:`P(w)` (0 when both are 0);
        ``False``: the gap itself.

    Returns
    -------
    float
    """
    A = np.asarray(A.detach().cpu().numpy() if isinstance(A, torch.Tensor) else A, np.float64)
    y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y, np.float64)
    w = np.asarray(w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else w, np.float64)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-d (n_samples, n_features), got shape {A.shape}")
    if y.shape != (A.shape[0],):
        raise ValueError(f"y must have shape ({A.shape[0]},), got {y.shape}")
    if w.shape != (A.shape[1],):
        raise ValueError(f"w must have shape ({A.shape[1]},), got {w.shape}")
    for name, arr in (("A", A), ("y", y), ("w", w)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    check_scalar(alpha, "alpha", min_value=0)
    n = A.shape[0]
    lam = n * float(alpha)
    r = y - A @ w
    primal = 0.5 * float(r @ r) + lam * float(np.abs(w).sum())
    cmax = float(np.abs(A.T @ r).max()) if A.shape[1] else 0.0
    s = 1.0 if cmax <= lam else lam / cmax
    dual = s * float(r @ y) - 0.5 * s * s * float(r @ r)
    gap = max(primal - dual, 0.0)
    if not relative:
        return gap / n
    return 0.0 if primal == 0.0 else gap / primal


def _check_axis(axis: Any, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"axis must be an int or None, got {type(axis).__name__}")
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"axis {axis} is out of range for an array of {ndim} dimensions")
    return axis

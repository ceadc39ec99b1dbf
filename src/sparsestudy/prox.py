r"""Thresholding operators: the proximal maps behind sparse coding and their network twins.

=========================  ==========================================  ==========================
operator                   proximal map of                             network counterpart
=========================  ==========================================  ==========================
``soft_threshold``         :math:`t\,\|y\|_1`                          shrinkage unit (LISTA)
``nonneg_soft_threshold``  :math:`t\,\|y\|_1 + \iota(y \ge 0)`         ReLU with bias :math:`-t`
``hard_threshold``         :math:`\tfrac{t^2}{2}\,\|y\|_0`             thresholded linear unit
``top_k``                  :math:`\iota(\|y\|_0 \le k)` (projection)   max-k pooling
=========================  ==========================================  ==========================

Each function accepts a NumPy array or a torch tensor and returns the same kind. ``thresh`` is
a non-negative scalar or an array that broadcasts against ``x`` (e.g. one threshold per atom).
The torch versions are differentiable where the operator is (almost everywhere); gradients with
respect to ``thresh`` flow through the soft thresholds but not through the hard threshold, whose
derivative in ``thresh`` is zero almost everywhere.

The underscore-prefixed functions are the unchecked kernels used inside solvers and networks.
"""

from __future__ import annotations

from typing import Any

import torch

from ._arrays import as_tensor, check_int, is_numpy_like, restore


# --------------------------------------------------------------------------- kernels (no checks)
def _soft(x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return torch.sign(x) * torch.relu(x.abs() - t)


def _nonneg_soft(x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return torch.relu(x - t)


def _hard(x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return x * (x.abs() > t).to(x.dtype)


def _top_k(x: torch.Tensor, k: int) -> torch.Tensor:
    n = x.shape[-1]
    if k >= n:
        return x.clone()
    if k == 0:
        return torch.zeros_like(x)
    idx = x.abs().topk(k, dim=-1, sorted=False).indices
    mask = torch.zeros_like(x, dtype=torch.bool).scatter_(-1, idx, True)
    return x * mask.to(x.dtype)


# --------------------------------------------------------------------------- public, validated
def _prep(x: Any, thresh: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    numpy_in = is_numpy_like(x)
    xt = as_tensor(x, "x")
    tt = as_tensor(thresh, "thresh", dtype=xt.dtype, device=xt.device)
    if bool((tt < 0).any()):
        raise ValueError("thresh must be non-negative")
    try:
        fits = torch.broadcast_shapes(xt.shape, tt.shape) == xt.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"thresh of shape {tuple(tt.shape)} does not broadcast to x of shape "
            f"{tuple(xt.shape)}"
        )
    return xt, tt, numpy_in


def soft_threshold(x: Any, thresh: Any) -> Any:
    r"""Soft threshold :math:`\operatorname{sign}(x)\max(|x| - t, 0)`, the prox of :math:`t\|\cdot\|_1`."""
    xt, tt, numpy_in = _prep(x, thresh)
    return restore(_soft(xt, tt), numpy_in)


def nonneg_soft_threshold(x: Any, thresh: Any) -> Any:
    r"""Non-negative soft threshold :math:`\max(x - t, 0)` = ``relu(x - thresh)``.

    The prox of :math:`t\|y\|_1 + \iota(y \ge 0)`: a ReLU whose bias is :math:`-t`.
    """
    xt, tt, numpy_in = _prep(x, thresh)
    return restore(_nonneg_soft(xt, tt), numpy_in)


def hard_threshold(x: Any, thresh: Any) -> Any:
    r"""Hard threshold: keep the entries with :math:`|x| > t`, zero the rest.

    It is the prox of :math:`\lambda\|\cdot\|_0` with :math:`t = \sqrt{2\lambda}`.
    """
    xt, tt, numpy_in = _prep(x, thresh)
    return restore(_hard(xt, tt), numpy_in)


def top_k(x: Any, k: int) -> Any:
    r"""Keep the ``k`` entries of largest magnitude along the last axis, zero the rest.

    This is a Euclidean projection onto the L0 ball :math:`\{y : \|y\|_0 \le k\}` (ties are
    broken arbitrarily; every tie-break is a projection). ``0 <= k <= x.shape[-1]``.
    """
    numpy_in = is_numpy_like(x)
    xt = as_tensor(x, "x", min_ndim=1)
    k = check_int(k, "k", min_value=0, max_value=xt.shape[-1])
    return restore(_top_k(xt, k), numpy_in)


__all__ = ["soft_threshold", "nonneg_soft_threshold", "hard_threshold", "top_k"]


# --------------------------------------------------------------------------- grouped top-k (pooling)
def _grouped_top_k(x: torch.Tensor, k: int, window: int) -> torch.Tensor:
    """Unchecked kernel: ``x`` is ``(..., H, W)`` with ``window`` dividing ``H`` and ``W``."""
    *lead, h, w = x.shape
    hb, wb = h // window, w // window
    blocks = x.reshape(*lead, hb, window, wb, window).transpose(-3, -2)   # (..., hb, wb, w, w)
    kept = _top_k(blocks.reshape(*lead, hb, wb, window * window), k)
    return kept.reshape(*lead, hb, wb, window, window).transpose(-3, -2).reshape(x.shape)


def grouped_top_k(x: Any, k: int, window: int) -> Any:
    r"""Keep the ``k`` entries of largest magnitude in each ``window x window`` block of a
    feature map, zero the rest ("max-k pooling" before the pooling sum).

    Per block this is the Euclidean projection onto :math:`\{y : \|y\|_0 \le k\}` (see
    :func:`top_k`); the blocks are square, non-overlapping and tile the map (stride =
    ``window``). For non-negative ``x`` (after a ReLU) and ``k = 1``, summing the result over
    each block gives ``torch.nn.functional.max_pool2d(x, window)``.

    Parameters
    ----------
    x : array (N, C, H, W)
        Feature maps (NumPy or torch; the same kind is returned, same shape as ``x``).
    k : int
        Entries kept per block, ``0 <= k <= window * window``.
    window : int
        Block side, ``1 <= window <= min(H, W)``; must divide both ``H`` and ``W``.
    """
    numpy_in = is_numpy_like(x)
    xt = as_tensor(x, "x", ndim=4)
    h, w = xt.shape[-2:]
    window = check_int(window, "window", min_value=1)
    if window > min(h, w):
        raise ValueError(f"window={window} is larger than the {h}x{w} feature map")
    if h % window or w % window:
        raise ValueError(f"window={window} must divide the map's height {h} and width {w}")
    k = check_int(k, "k", min_value=0, max_value=window * window)
    return restore(_grouped_top_k(xt, k, window), numpy_in)


__all__.append("grouped_top_k")

r"""What sets the sparsity of a ReLU unit: its bias, and its standardised margin.

A unit :math:`h = \mathrm{ReLU}(w^\top x + b)` is exactly zero on the inputs where
:math:`w^\top x \le -b`. Over a distribution of inputs, its zero fraction is
:math:`P(w^\top x + b \le 0)`, which depends on the bias only through the *standardised
margin*

.. math:: m = \frac{b + \mathbb E[w^\top x]}{\operatorname{sd}(w^\top x)}

(for Gaussian :math:`w^\top x` the zero fraction is exactly :math:`\Phi(-m)`). The bias alone
predicts the sparsity only where the units' :math:`\mathbb E[w^\top x]` and
:math:`\operatorname{sd}(w^\top x)` are alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["linear_unit_statistics", "standardised_margin", "unit_zero_fraction"]


def _np(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x,
                     dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def linear_unit_statistics(weight: Any, bias: Any, X: Any) -> dict[str, np.ndarray]:
    """Per unit of the layer ``x -> x @ weight.T + bias`` (``nn.Linear``'s layout: ``weight``
    is ``(n_units, n_inputs)``) on the inputs ``X`` ``(n_samples, n_inputs)``:
    ``bias``, ``mean`` (:math:`\\mathbb E[w^\\top x]`), ``sd`` (its population standard
    deviation) and ``margin`` (:func:`standardised_margin`; ``inf`` times the sign of
    ``bias + mean`` where ``sd`` is 0)."""
    W, b, X = _np(weight, "weight"), _np(bias, "bias"), _np(X, "X")
    if W.ndim != 2 or b.shape != (W.shape[0],) or X.ndim != 2 or X.shape[1] != W.shape[1]:
        raise ValueError(f"weight (n_units, n_inputs), bias (n_units,) and X (n_samples, "
                         f"n_inputs) do not fit: {W.shape}, {b.shape}, {X.shape}")
    pre = X @ W.T
    mean, sd = pre.mean(axis=0), pre.std(axis=0)
    num = b + mean
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.where(sd > 0, num / np.where(sd > 0, sd, 1.0), np.sign(num) * np.inf)
    return {"bias": b, "mean": mean, "sd": sd, "margin": margin}


def standardised_margin(weight: Any, bias: Any, X: Any) -> np.ndarray:
    """``(b + E[w.x]) / sd(w.x)`` of every unit of a linear layer on the inputs ``X``."""
    return linear_unit_statistics(weight, bias, X)["margin"]


def unit_zero_fraction(H: Any) -> np.ndarray:
    """The fraction of samples (rows of ``H``, ``(n_samples, n_units)``) on which each unit is
    exactly zero."""
    return (_np(H, "H") == 0).mean(axis=0)

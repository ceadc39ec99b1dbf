r"""One step of a proximal-gradient method: a linear map, then a prox (unchecked kernels).

Every iterative solver in :mod:`sparsestudy.solvers` and every layer of the unfolded networks in
:mod:`sparsestudy.unrolled` is built from the functions here, so that a network as initialised
and the solver it unfolds run the same operations.

With :math:`L` the largest eigenvalue of :math:`DD^\top` (:func:`lipschitz_constant`),
:math:`W = D^\top / L` and :math:`S = I - DD^\top / L` (:func:`network_weights`), the gradient
step on :math:`\tfrac12\|x - zD\|^2` is linear in :math:`(x, z)` and comes in two forms:

* the plain ("network") form, :func:`linear_step`: :math:`v = xW + zS` (LISTA learns ``W, S``);
* the coupled form, :func:`coupled_linear_step`: :math:`v = z + (x - zD)W` (LISTA-CP and ALISTA
  learn ``W`` only; equal to the plain form with :math:`S = I - DW`, without forming ``S``).

The prox is then the soft threshold (:func:`prox_l1`, the lasso; ``nonneg`` gives the shifted
ReLU), or the hard threshold / top-``k`` projection (:func:`prox_l0`, IHT). :func:`ista_step`
and :func:`iht_step` are the two compositions. :func:`support_selection_threshold` is the
per-entry threshold of LISTA-CPSS's support selection.

Row conventions: ``x`` is ``(n, n_features)``, ``D`` is ``(n_atoms, n_features)``, codes ``z``
are ``(n, n_atoms)``; ``z=None`` stands for the zero code (a first layer / first iteration).
These kernels do not validate their input; the public solvers and networks do.
"""

from __future__ import annotations

from typing import Any

import torch

from ._arrays import as_tensor
from .prox import _hard, _nonneg_soft, _soft, _top_k

__all__ = [
    "lipschitz_constant", "network_weights", "linear_step", "coupled_linear_step", "prox_l1",
    "prox_l0", "ista_step", "iht_step", "support_selection_threshold",
]


# ------------------------------------------------------------------------------- the weights
def lipschitz_constant(D: Any) -> float:
    """Largest eigenvalue of ``D @ D.T`` (the squared spectral norm of ``D``), in float64.

    Parameters
    ----------
    D : array (n_atoms, n_features)
        NumPy array or torch tensor.

    Returns
    -------
    float
    """
    Dt = as_tensor(D, "D", ndim=2)
    return float(torch.linalg.matrix_norm(Dt.double(), ord=2) ** 2)


def network_weights(D: torch.Tensor, L: float | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The weights of ISTA in network form for a dictionary tensor ``D``.

    Parameters
    ----------
    D : tensor (n_atoms, n_features)
    L : float, optional
        Step-size constant; default :func:`lipschitz_constant` of ``D``.

    Returns
    -------
    W : tensor (n_features, n_atoms)
        ``D.T / L``.
    S : tensor (n_atoms, n_atoms)
        ``I - D D.T / L``.
    L : float
    """
    if L is None:
        L = float(torch.linalg.matrix_norm(D.double(), ord=2) ** 2)
    if L <= 0:
        raise ValueError("D must not be all zeros")
    W = D.T / L
    S = torch.eye(D.shape[0], dtype=D.dtype, device=D.device) - (D @ D.T) / L
    return W, S, L


# ------------------------------------------------------------------------------ linear parts
def linear_step(z: torch.Tensor | None, b: torch.Tensor, S: torch.Tensor | None) -> torch.Tensor:
    """Plain form of the linear part: ``b + z S`` with ``b = x W`` (``b`` itself if ``z`` is
    None)."""
    return b if z is None else torch.addmm(b, z, S)


def coupled_linear_step(z: torch.Tensor | None, x: torch.Tensor, D: torch.Tensor,
                        W: torch.Tensor) -> torch.Tensor:
    """Coupled form of the linear part (LISTA-CP, ALISTA): ``z + (x - z D) W``, i.e. the plain
    form with ``S = I - D W``; ``x W`` if ``z`` is None."""
    return x @ W if z is None else z + (x - z @ D) @ W


# --------------------------------------------------------------------------------- the proxes
def prox_l1(v: torch.Tensor, thresh: torch.Tensor | float, nonneg: bool = False) -> torch.Tensor:
    """Soft threshold at ``thresh`` (scalar, per atom or per entry), or with ``nonneg`` the
    shifted ReLU ``relu(v - thresh)``."""
    return _nonneg_soft(v, thresh) if nonneg else _soft(v, thresh)


def prox_l0(v: torch.Tensor, *, thresh: torch.Tensor | float | None = None,
            n_nonzero: int | None = None) -> torch.Tensor:
    """Hard threshold at ``thresh``, or (``n_nonzero`` given) the projection onto
    ``n_nonzero``-sparse rows."""
    return _hard(v, thresh) if n_nonzero is None else _top_k(v, n_nonzero)


def ista_step(z: torch.Tensor | None, b: torch.Tensor, S: torch.Tensor | None,
              thresh: torch.Tensor | float, nonneg: bool = False) -> torch.Tensor:
    r"""One ISTA step in network form: :math:`\operatorname{prox}_\theta(b + zS)`.

    ``b = x W`` is the input map's output, ``S`` the recurrent (``n_atoms x n_atoms``) map and
    ``thresh`` a scalar or per-atom threshold; ``z=None`` means the zero code (first layer).
    The prox is the soft threshold, or with ``nonneg=True`` the shifted ReLU.
    """
    return prox_l1(linear_step(z, b, S), thresh, nonneg)


def iht_step(z: torch.Tensor | None, b: torch.Tensor, S: torch.Tensor | None, *,
             thresh: torch.Tensor | float | None = None,
             n_nonzero: int | None = None) -> torch.Tensor:
    r"""One iterative-hard-thresholding step: :math:`H(b + zS)`, with ``H`` the hard threshold
    at ``thresh`` or the projection onto ``n_nonzero``-sparse vectors."""
    return prox_l0(linear_step(z, b, S), thresh=thresh, n_nonzero=n_nonzero)


# ------------------------------------------------------------------------- support selection
def support_selection_threshold(v: torch.Tensor, thresh: torch.Tensor | float,
                                n_keep: int) -> torch.Tensor:
    r"""Per-entry threshold for the support-selection prox (Chen et al. 2018).

    Equal to ``thresh`` everywhere except on the ``n_keep`` largest-magnitude entries of each
    row of ``v`` that also exceed ``thresh`` in magnitude, where it is 0: soft-thresholding
    ``v`` with it keeps those entries unshrunk and shrinks the rest. The selection carries no
    gradient (as in Chen et al.'s code).
    """
    thresh = torch.as_tensor(thresh, dtype=v.dtype, device=v.device)
    with torch.no_grad():
        selected = _top_k(v.abs(), n_keep) > thresh
    return thresh * (~selected).to(v.dtype)

r"""Unfolded (unrolled) ISTA networks: the LISTA family, built from a dictionary.

Every network here is a stack of ``n_layers`` proximal-gradient steps written in network form,

.. math:: z^{k+1} = \operatorname{prox}_{\theta_k}(x W_k + z^k S_k), \qquad z^0 = 0,

and every layer calls :func:`sparsestudy.steps.ista_step` (or its linear part,
:func:`~sparsestudy.steps.linear_step` / :func:`~sparsestudy.steps.coupled_linear_step`, then
:func:`~sparsestudy.steps.prox_l1`), the one definition of that step that
:func:`sparsestudy.solvers.ista` iterates. The members differ only in how ``W_k, S_k`` and
``θ_k`` are parametrised (row conventions: ``x`` is ``(n, n_features)``, the dictionary ``D`` is
``(n_atoms, n_features)``, codes are ``(n, n_atoms)``):

=====================  ==========================================  ==============================
network                weights of layer k                          learned per layer
=====================  ==========================================  ==============================
:class:`UnfoldedISTA`  ``W``, ``S``, ``θ`` (tied: one set)         nothing new (tied) or all
:class:`LISTA`         ``W_k``, ``S_k``, ``θ_k`` (untied)          Gregor & LeCun (2010)
:class:`LISTACP`       ``W_k``, ``S_k = I - D W_k`` (coupled)      Chen et al. (2018)
:class:`LISTACPSS`     as LISTA-CP, prox with support selection    Chen et al. (2018)
:class:`ALISTA`        ``γ_k W̃``, ``I - γ_k D W̃``, ``W̃`` analytic  Liu et al. (2019): γ_k, θ_k
=====================  ==========================================  ==============================

As initialised (``W = Dᵀ/L``, ``S = I − DDᵀ/L``, ``θ = α/L``) every member computes exactly
``n_layers`` ISTA iterations. With ``nonneg=True`` the prox is ``relu(v − θ)``: each layer is a
linear map, a bias ``−θ`` and a ReLU.

Support selection (:func:`support_selection_threshold`): in layer ``k`` the ``p_k`` fraction of
entries with the largest magnitudes (those also above ``θ_k``) bypass the threshold, with
``p_k = min(p_max, k · p_step)`` (``k = 1 … n_layers``; Chen et al. use 1.2 % per layer up to
13 %). It is implemented as a per-entry threshold that is zero on the selected support, so the
step is still :func:`~sparsestudy.steps.ista_step`.

Training (:mod:`sparsestudy.unrolled.training`), samplers (:mod:`~sparsestudy.unrolled.samplers`)
and saving (:mod:`~sparsestudy.unrolled.persistence`) live beside this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._arrays import as_tensor, check_int, check_scalar, is_numpy_like, restore
from ..metrics import nmse_db
from ..steps import (coupled_linear_step, ista_step, network_weights, prox_l1,
                     support_selection_threshold)

__all__ = [
    "UnfoldedISTA", "LISTA", "LISTACP", "LISTACPSS", "ALISTA", "relu_layer",
    "support_selection_threshold", "soft_threshold_ss", "analytic_weight", "nmse_per_layer",
    "nmse_db_per_sample", "LinearISTA", "ista_numpy",
]


# ------------------------------------------------------------------------- support selection
def soft_threshold_ss(x: Any, thresh: float, fraction: float, *, nonneg: bool = False) -> Any:
    r"""Soft threshold with support selection: the ``fraction`` of entries of each row with the
    largest magnitude (those above ``thresh``) pass unchanged, the rest are soft-thresholded
    (``relu(x - thresh)`` with ``nonneg=True``). ``fraction=0`` is the plain soft threshold."""
    numpy_in = is_numpy_like(x)
    xt = as_tensor(x, "x", min_ndim=1)
    check_scalar(thresh, "thresh", min_value=0)
    check_scalar(fraction, "fraction", min_value=0, max_value=1)
    t = support_selection_threshold(xt, float(thresh), int(fraction * xt.shape[-1]))
    return restore(prox_l1(xt, t, nonneg), numpy_in)


def analytic_weight(D: Any) -> Any:
    r"""ALISTA's analytic weight :math:`\tilde W` (``n_features x n_atoms``) for a dictionary
    ``D`` (``n_atoms x n_features``): column ``i`` minimises :math:`\|D \tilde w\|_2` subject to
    :math:`d_i^\top \tilde w = 1`, i.e. :math:`\tilde w_i = G^{-1} d_i / (d_i^\top G^{-1} d_i)`
    with :math:`G = D^\top D` (Liu et al. 2019; needs ``n_atoms >= n_features`` and ``D`` of full
    column rank). This minimises the mutual coherence :math:`\|\tilde W^\top D^\top\|_F` with
    unit diagonal."""
    numpy_in = is_numpy_like(D)
    Dt = as_tensor(D, "D", ndim=2)
    G = Dt.T @ Dt
    if Dt.shape[0] < Dt.shape[1] or torch.linalg.matrix_rank(G) < G.shape[0]:
        raise ValueError("D must have full column rank (n_atoms >= n_features, spanning atoms)")
    GinvD = torch.linalg.solve(G, Dt.T)                      # (n_features, n_atoms)
    W = GinvD / (Dt.T * GinvD).sum(dim=0, keepdim=True)
    return restore(W, numpy_in)


# --------------------------------------------------------------------------------- the networks
def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


class _Unfolded(nn.Module):
    """Common machinery: the dictionary buffer, validation, the layer loop."""

    #: whether layer k has weights of its own (False for tied networks)
    untied: bool = True

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        Dt = as_tensor(D, "D", ndim=2, dtype=dtype).detach().clone()
        if Dt.shape[0] == 0 or Dt.shape[1] == 0:
            raise ValueError(f"D must be non-empty, got shape {tuple(Dt.shape)}")
        if not bool(Dt.abs().sum(dim=1).gt(0).all()):
            raise ValueError("D has an all-zero atom")
        check_scalar(alpha, "alpha", min_value=0)
        self.n_layers = check_int(n_layers, "n_layers", min_value=1)
        self.nonneg = _check_bool(nonneg, "nonneg")
        self.alpha = float(alpha)
        self.register_buffer("D", Dt)
        W, S, L = network_weights(Dt)
        self.L = L
        self._W0, self._S0, self._theta0 = W, S, torch.tensor(self.alpha / L, dtype=Dt.dtype)

    @property
    def n_atoms(self) -> int:
        return self.D.shape[0]

    @property
    def n_features(self) -> int:
        return self.D.shape[1]

    def _copies(self, init: torch.Tensor, n: int) -> nn.ParameterList:
        return nn.ParameterList([nn.Parameter(init.detach().clone()) for _ in range(n)])

    def _layer(self, k: int, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        """The trainable parameters that layer ``k`` (0-based) uses."""
        raise NotImplementedError

    def forward(self, X: Any, n_layers: int | None = None, return_all: bool = False) -> Any:
        """Codes after ``n_layers`` layers (default: all); with ``return_all`` the list of the
        codes after each layer. NumPy input gives NumPy output (computed without gradients)."""
        numpy_in = is_numpy_like(X)
        Xt = as_tensor(X, "X", ndim=2, dtype=self.D.dtype, device=self.D.device)
        if Xt.shape[1] != self.n_features:
            raise ValueError(f"X has {Xt.shape[1]} features but the network expects "
                             f"{self.n_features}")
        T = self.n_layers if n_layers is None else check_int(
            n_layers, "n_layers", min_value=1, max_value=self.n_layers)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not numpy_in):
            z, outs = None, []
            for k in range(T):
                z = self._layer(k, Xt, z)
                outs.append(z)
        if return_all:
            return [restore(o, numpy_in) for o in outs]
        return restore(z, numpy_in)

    def extra_repr(self) -> str:
        return (f"n_atoms={self.n_atoms}, n_features={self.n_features}, "
                f"n_layers={self.n_layers}, nonneg={self.nonneg}")


class UnfoldedISTA(_Unfolded):
    r"""``n_layers`` ISTA steps from zero codes as a trainable network.

    Parameters
    ----------
    D : array (n_atoms, n_features)
        Dictionary, atoms as rows (NumPy or torch; its dtype is kept, float32 or float64).
    alpha : float >= 0
        Lasso penalty used to initialise the thresholds, ``θ = alpha / L``.
    n_layers : int >= 1
    nonneg : bool
        Non-negative codes: the prox is ``relu(v − θ)``.
    tied : bool
        One ``(W, S, θ)`` shared by all layers (default; as initialised exactly ISTA), or one set
        per layer (LISTA).

    The parameters ``W`` (n_features x n_atoms), ``S`` (n_atoms x n_atoms) and ``theta``
    (scalar) are ``nn.ParameterList`` s of length 1 (tied) or ``n_layers`` (untied; ``S`` has
    ``n_layers - 1``: the first layer starts from zero codes and has no recurrent map).
    """

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 tied: bool = True, dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, dtype=dtype)
        self.untied = not _check_bool(tied, "tied")
        n = self.n_layers if self.untied else 1
        self.W = self._copies(self._W0, n)
        # the first layer starts from z = 0 and has no recurrent map
        self.S = self._copies(self._S0, n - 1 if self.untied else int(self.n_layers > 1))
        self.theta = self._copies(self._theta0, n)

    def _i(self, k: int) -> int:
        return k if self.untied else 0

    def _S(self, k: int) -> nn.Parameter | None:
        if k == 0:
            return None
        return self.S[k - 1] if self.untied else self.S[0]

    def _layer(self, k, x, z):
        i = self._i(k)
        return ista_step(z, x @ self.W[i], self._S(k), self.theta[i], self.nonneg)

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        i = self._i(k)
        S = self._S(k) if self.untied else (self.S[0] if len(self.S) else None)
        return [self.W[i], self.theta[i]] + ([S] if S is not None else [])


class LISTA(UnfoldedISTA):
    """LISTA (Gregor & LeCun 2010): :class:`UnfoldedISTA` with untied ``W_k, S_k, θ_k``."""

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, tied=False, dtype=dtype)


class LISTACP(_Unfolded):
    r"""LISTA-CP (Chen et al. 2018): coupled weights, ``z ← prox_θk(z + (x − zD) W_k)``.

    In network form ``b = x W_k`` and ``S_k = I − D W_k``; learned: ``W_k`` (n_features x
    n_atoms, initialised ``Dᵀ/L``) and ``θ_k``. ``p_step > 0`` adds support selection (see the
    module notes; :class:`LISTACPSS` sets Chen et al.'s values).
    """

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 p_step: float = 0.0, p_max: float = 0.0,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, dtype=dtype)
        self.p_step = float(check_scalar(p_step, "p_step", min_value=0, max_value=1))
        self.p_max = float(check_scalar(p_max, "p_max", min_value=0, max_value=1))
        self.W = self._copies(self._W0, self.n_layers)
        self.theta = self._copies(self._theta0, self.n_layers)

    def n_selected(self, k: int) -> int:
        """Entries per sample that bypass the threshold in layer ``k`` (0-based)."""
        return int(min(self.p_max, (k + 1) * self.p_step) * self.n_atoms)

    def _W(self, k: int) -> torch.Tensor:
        """Layer ``k``'s input map ``W_k`` (n_features x n_atoms)."""
        return self.W[k]

    def weights(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``k``'s weights in network form: ``(W_k, S_k = I - D W_k)``."""
        W = self._W(k)
        eye = torch.eye(self.n_atoms, dtype=self.D.dtype, device=self.D.device)
        return W, eye - self.D @ W

    def _layer(self, k, x, z):
        # b + zS with b = x W_k and S_k = I - D W_k, computed in the coupled form
        # z + (x - zD) W_k, without forming the n_atoms x n_atoms matrix S_k (3x fewer flops).
        v = coupled_linear_step(z, x, self.D, self._W(k))
        theta = self.theta[k]
        n_keep = self.n_selected(k)
        if n_keep > 0:
            theta = support_selection_threshold(v, theta, n_keep)
        return prox_l1(v, theta, self.nonneg)

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.W[k], self.theta[k]]


class LISTACPSS(LISTACP):
    """LISTA-CPSS (Chen et al. 2018): LISTA-CP with support selection, by default
    ``p_k = min(13 %, k · 1.2 %)``."""

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 p_step: float = 0.012, p_max: float = 0.13,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, p_step=p_step, p_max=p_max,
                         dtype=dtype)


class ALISTA(LISTACP):
    r"""ALISTA (Liu, Chen, Wang & Yin 2019): ``z ← prox_θk(z + γ_k (x − zD) W̃)`` with the
    analytic weight ``W̃`` (:func:`analytic_weight`, fixed) and only ``γ_k`` (init ``gamma0``,
    1.0 as in the reference code of Liu et al.) and ``θ_k`` (init ``alpha / L``) learned;
    support selection as LISTA-CPSS by default.

    As initialised it is a proximal step with ``γ W̃`` in place of ``Dᵀ/L`` (not ISTA itself;
    ``gamma0 = 1/L`` makes it ISTA with ``W̃`` in place of ``Dᵀ``).

    Notes
    -----
    Why the last steps barely move in training: the gradient of the loss with respect to
    ``γ_k`` is the inner product of the loss's gradient at layer ``k`` with ``(x − z_{k−1}D)W̃``,
    so it is proportional to the residual of the previous layer. In a trained network that
    residual is tens of dB below the signal (C02 measured about −40 dB before layer 16 at
    64×128), so the loss is nearly flat in ``γ_16`` and ``γ_16`` stays near its initial 1.0,
    which ``W̃``'s normalisation (``d_iᵀ w̃_i = 1``) makes a near-optimal step on the selected
    support. Nothing detaches or clamps ``γ``: the support selection's mask alone carries no
    gradient.
    """

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 p_step: float = 0.012, p_max: float = 0.13, gamma0: float = 1.0,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, p_step=p_step, p_max=p_max,
                         dtype=dtype)
        check_scalar(gamma0, "gamma0", min_value=0, include_min=False)
        del self.W
        self.register_buffer("W_analytic", analytic_weight(self.D))
        # the reference code (VITA-Group/ALISTA, models/ALISTA.py) starts every step at 1.0:
        # W̃ is normalised so that d_iᵀ w̃_i = 1, so γ = 1 is the natural step (1/L is ISTA's)
        self.gamma = self._copies(torch.tensor(float(gamma0), dtype=self.D.dtype),
                                  self.n_layers)

    def _W(self, k: int) -> torch.Tensor:
        return self.gamma[k] * self.W_analytic

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.gamma[k], self.theta[k]]


# ------------------------------------------------------------ the network from nn.Linear layers
class LinearISTA(nn.Module):
    r"""``n_layers`` ISTA steps written as a plain network: an input layer
    ``nn.Linear(n_features, n_atoms, bias=False)`` holding ``W`` (its weight is ``Wᵀ = D/L``),
    a recurrent layer ``nn.Linear(n_atoms, n_atoms, bias=False)`` holding ``S`` (weight
    ``Sᵀ = I − DDᵀ/L``, symmetric) shared by the layers, and the soft threshold
    ``torch.nn.functional.softshrink`` at ``θ = alpha / L`` (``relu(v − θ)`` with ``nonneg``):

    .. math:: z^1 = \operatorname{soft}_\theta(\mathrm{in}(x)), \qquad
              z^{k+1} = \operatorname{soft}_\theta(\mathrm{in}(x) + \mathrm{rec}(z^k)).

    It shares no code with :mod:`sparsestudy.steps` or :mod:`sparsestudy.solvers`, so
    comparing it with an ISTA written from the formula is a check that can fail
    (register C02a, amendment 5).
    """

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False) -> None:
        super().__init__()
        Dt = as_tensor(D, "D", ndim=2).detach().clone()
        if Dt.shape[0] == 0 or Dt.shape[1] == 0 or not bool(Dt.abs().sum() > 0):
            raise ValueError("D must be a non-empty, non-zero (n_atoms, n_features) array")
        check_scalar(alpha, "alpha", min_value=0)
        self.n_layers = check_int(n_layers, "n_layers", min_value=1)
        self.nonneg = _check_bool(nonneg, "nonneg")
        n_atoms, n_features = Dt.shape
        L = float(torch.linalg.matrix_norm(Dt.double(), ord=2) ** 2)
        self.L = L
        self.theta = float(alpha) / L
        self.input = nn.Linear(n_features, n_atoms, bias=False, dtype=Dt.dtype)
        self.recurrent = nn.Linear(n_atoms, n_atoms, bias=False, dtype=Dt.dtype)
        with torch.no_grad():
            self.input.weight.copy_(Dt / L)
            self.recurrent.weight.copy_(torch.eye(n_atoms, dtype=Dt.dtype) - Dt @ Dt.T / L)

    def _prox(self, v: torch.Tensor) -> torch.Tensor:
        if self.nonneg:
            return torch.relu(v - self.theta)
        return nn.functional.softshrink(v, self.theta) if self.theta > 0 else v

    def forward(self, X: Any) -> Any:
        numpy_in = is_numpy_like(X)
        Xt = as_tensor(X, "X", ndim=2, dtype=self.input.weight.dtype)
        if Xt.shape[1] != self.input.in_features:
            raise ValueError(f"X has {Xt.shape[1]} features but the network expects "
                             f"{self.input.in_features}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not numpy_in):
            b = self.input(Xt)
            z = self._prox(b)
            for _ in range(self.n_layers - 1):
                z = self._prox(b + self.recurrent(z))
        return restore(z, numpy_in)


def ista_numpy(X: np.ndarray, D: np.ndarray, alpha: float, n_iter: int, *,
               nonneg: bool = False) -> np.ndarray:
    r"""ISTA written from its formula in NumPy, for checks: from :math:`z = 0`, ``n_iter`` times
    :math:`z \leftarrow \operatorname{soft}_{\alpha/L}(z - (zD - x)D^\top / L)` with
    :math:`L = \|D\|_2^2` (rows are signals; ``nonneg``: :math:`\max(v - \alpha/L, 0)`)."""
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    if X.ndim != 2 or D.ndim != 2 or X.shape[1] != D.shape[1]:
        raise ValueError(f"X (n, n_features) and D (n_atoms, n_features) must agree, got "
                         f"{X.shape} and {D.shape}")
    n_iter = check_int(n_iter, "n_iter", min_value=1)
    L = np.linalg.norm(D, 2) ** 2
    t = alpha / L
    z = np.zeros((X.shape[0], D.shape[0]))
    for _ in range(n_iter):
        v = z - (z @ D - X) @ D.T / L
        z = np.maximum(v - t, 0.0) if nonneg else np.sign(v) * np.maximum(np.abs(v) - t, 0.0)
    return z


# ------------------------------------------------------------------- relu layers (claim C03)
def relu_layer(D: Any, thresh: float) -> nn.Sequential:
    r"""``nn.Sequential(nn.Linear(n_features, n_atoms), nn.ReLU())`` with weight ``D / L``
    (i.e. ``x ↦ x Dᵀ/L``) and bias ``−thresh / L``: one non-negative ISTA step from zero codes
    for the penalty ``thresh`` (``solvers.ista(X, D, thresh, nonneg=True, max_iter=1, tol=0)``).
    """
    Dt = as_tensor(D, "D", ndim=2)
    check_scalar(thresh, "thresh", min_value=0)
    W, _, L = network_weights(Dt)
    lin = nn.Linear(Dt.shape[1], Dt.shape[0], dtype=Dt.dtype)
    with torch.no_grad():
        lin.weight.copy_(W.T)
        lin.bias.fill_(-float(thresh) / L)
    return nn.Sequential(lin, nn.ReLU())


# ------------------------------------------------------------------------------------ metrics
def _nmse_db(est: torch.Tensor, truth: torch.Tensor) -> float:
    return nmse_db(est.detach(), truth)


def nmse_db_per_sample(estimate: Any, truth: Any) -> float:
    r"""Open-L2O's NMSE: the mean over samples (rows) of each sample's
    :math:`10\log_{10}(\|\hat z_i - z_i\|^2 / \|z_i\|^2)` (rows with an all-zero truth are
    skipped; an exact row counts as -300 dB so that one exact sample cannot make the mean
    ``-inf``)."""
    est = as_tensor(estimate, "estimate", ndim=2).detach().double().cpu()
    tru = as_tensor(truth, "truth", ndim=2).detach().double().cpu()
    if est.shape != tru.shape:
        raise ValueError(f"estimate and truth must have the same shape, got "
                         f"{tuple(est.shape)} and {tuple(tru.shape)}")
    den = tru.pow(2).sum(dim=1)
    keep = den > 0
    if not bool(keep.any()):
        raise ValueError("truth must have a non-zero row (the NMSE is undefined)")
    num = (est - tru).pow(2).sum(dim=1)[keep]
    ratio = (num / den[keep]).clamp_min(1e-30)
    return float((10 * torch.log10(ratio)).mean())


def nmse_per_layer(model: _Unfolded, X: Any, Z: Any, convention: str = "pooled") -> np.ndarray:
    r"""NMSE in dB after each layer; array of length ``model.n_layers``.

    ``convention="pooled"``: :math:`10\log_{10}(\sum\|\hat z - z\|^2 / \sum\|z\|^2)` over the
    batch (Chen et al.'s code, :func:`sparsestudy.metrics.nmse_db`); ``"per_sample"``: the mean
    over samples of each sample's dB (Open-L2O's, :func:`nmse_db_per_sample`)."""
    if convention not in ("pooled", "per_sample"):
        raise ValueError(f"convention must be 'pooled' or 'per_sample', got {convention!r}")
    Xt = as_tensor(X, "X", ndim=2, dtype=model.D.dtype, device=model.D.device)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=model.D.dtype, device=model.D.device)
    with torch.no_grad():
        outs = model(Xt, return_all=True)
    f = _nmse_db if convention == "pooled" else nmse_db_per_sample
    return np.array([f(o, Zt) for o in outs])

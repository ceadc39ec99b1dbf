r"""Unfolded (unrolled) ISTA networks: the LISTA family, built from a dictionary.

Every network here is a stack of ``n_layers`` proximal-gradient steps written in network form,

.. math:: z^{k+1} = \operatorname{prox}_{\theta_k}(x W_k + z^k S_k), \qquad z^0 = 0,

and every layer calls :func:`sparsestudy.solvers.ista_step`, the one definition of that step
that :func:`sparsestudy.solvers.ista` iterates. The members differ only in how ``W_k, S_k`` and
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
step is still :func:`~sparsestudy.solvers.ista_step`.

Training: :func:`train_layerwise` (Chen et al.'s schedule), on batches drawn by a sampler such
as :func:`bernoulli_gaussian_sampler` or :func:`array_sampler`; :func:`nmse_per_layer` measures
the result. Save and load with ``torch.save(model.state_dict(), path)`` and
``model.load_state_dict(torch.load(path, weights_only=True))`` (or :func:`save_model` /
:func:`load_model`).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ._arrays import as_tensor, check_int, check_scalar, is_numpy_like, restore
from .metrics import nmse_db
from .prox import _top_k
from .solvers import ista_step, network_weights

Sampler = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


# ------------------------------------------------------------------------- support selection
def support_selection_threshold(v: torch.Tensor, thresh: torch.Tensor | float,
                                n_keep: int) -> torch.Tensor:
    r"""Per-entry threshold for the support-selection prox (unchecked kernel).

    Equal to ``thresh`` everywhere except on the ``n_keep`` largest-magnitude entries of each
    row of ``v`` that also exceed ``thresh`` in magnitude, where it is 0: soft-thresholding
    ``v`` with it keeps those entries unshrunk and shrinks the rest. The selection carries no
    gradient (as in Chen et al.'s code).
    """
    thresh = torch.as_tensor(thresh, dtype=v.dtype, device=v.device)
    with torch.no_grad():
        selected = _top_k(v.abs(), n_keep) > thresh
    return thresh * (~selected).to(v.dtype)


def soft_threshold_ss(x: Any, thresh: float, fraction: float, *, nonneg: bool = False) -> Any:
    r"""Soft threshold with support selection: the ``fraction`` of entries of each row with the
    largest magnitude (those above ``thresh``) pass unchanged, the rest are soft-thresholded
    (``relu(x - thresh)`` with ``nonneg=True``). ``fraction=0`` is the plain soft threshold."""
    numpy_in = is_numpy_like(x)
    xt = as_tensor(x, "x", min_ndim=1)
    check_scalar(thresh, "thresh", min_value=0)
    check_scalar(fraction, "fraction", min_value=0, max_value=1)
    t = support_selection_threshold(xt, float(thresh), int(fraction * xt.shape[-1]))
    return restore(ista_step(None, xt, None, t, nonneg), numpy_in)


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

    def _apply_W(self, k: int, r: torch.Tensor) -> torch.Tensor:
        return r @ self.W[k]

    def weights(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``k``'s weights in network form: ``(W_k, S_k = I - D W_k)``."""
        W = self._apply_W(k, torch.eye(self.n_features, dtype=self.D.dtype,
                                       device=self.D.device))
        eye = torch.eye(self.n_atoms, dtype=self.D.dtype, device=self.D.device)
        return W, eye - self.D @ W

    def _layer(self, k, x, z):
        # b + zS with b = x W_k and S_k = I - D W_k, computed as z + (x - zD) W_k: the same
        # ista_step, without forming the n_atoms x n_atoms matrix S_k (3x fewer flops).
        v = self._apply_W(k, x) if z is None else z + self._apply_W(k, x - z @ self.D)
        theta = self.theta[k]
        n_keep = self.n_selected(k)
        if n_keep > 0:
            theta = support_selection_threshold(v, theta, n_keep)
        return ista_step(None, v, None, theta, self.nonneg)

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
    analytic weight ``W̃`` (:func:`analytic_weight`, fixed) and only ``γ_k`` (init ``1/L``) and
    ``θ_k`` learned; support selection as LISTA-CPSS by default.

    As initialised it is ISTA with ``W̃`` in place of ``Dᵀ`` (not ISTA itself).
    """

    def __init__(self, D: Any, alpha: float, n_layers: int, *, nonneg: bool = False,
                 p_step: float = 0.012, p_max: float = 0.13,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(D, alpha, n_layers, nonneg=nonneg, p_step=p_step, p_max=p_max,
                         dtype=dtype)
        del self.W
        self.register_buffer("W_analytic", analytic_weight(self.D))
        self.gamma = self._copies(torch.tensor(1.0 / self.L, dtype=self.D.dtype),
                                  self.n_layers)

    def _apply_W(self, k, r):
        return self.gamma[k] * (r @ self.W_analytic)

    def layer_parameters(self, k: int) -> list[nn.Parameter]:
        return [self.gamma[k], self.theta[k]]


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


# ----------------------------------------------------------------------------- data samplers
def bernoulli_gaussian_sampler(D: Any, batch_size: int, *, density: float = 0.1,
                               snr_db: float | None = None, nonneg: bool = False) -> Sampler:
    r"""A sampler of fresh batches ``(X, Z)`` with ``X = Z D + noise``: ``Z`` Bernoulli(
    ``density``)–Gaussian (``|N(0,1)|`` with ``nonneg``), noise white Gaussian scaled over the
    batch to ``snr_db`` exactly (as ``data.make_sparse_coding_problem``); ``None`` is noiseless. Call it
    with a ``torch.Generator``; batches live on the generator's device, in ``D``'s dtype."""
    Dt = as_tensor(D, "D", ndim=2)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    check_scalar(density, "density", min_value=0, max_value=1)
    if snr_db is not None:
        check_scalar(snr_db, "snr_db")
    _check_bool(nonneg, "nonneg")
    cache: dict[Any, torch.Tensor] = {}

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        dev = gen.device
        Dd = cache.setdefault(str(dev), Dt.to(dev))
        shape = (batch_size, Dd.shape[0])
        mask = torch.rand(shape, generator=gen, device=dev, dtype=Dd.dtype) < density
        amp = torch.randn(shape, generator=gen, device=dev, dtype=Dd.dtype)
        Z = (amp.abs() if nonneg else amp) * mask
        X = Z @ Dd
        if snr_db is not None:
            raw = torch.randn(X.shape, generator=gen, device=dev, dtype=Dd.dtype)
            scale = (X.pow(2).sum() / (raw.pow(2).sum() * 10.0 ** (snr_db / 10.0))).sqrt()
            X = X + scale * raw
        return X, Z

    return sample


def array_sampler(X: Any, Z: Any, batch_size: int) -> Sampler:
    """A sampler of minibatches (drawn with replacement) from fixed arrays ``X``, ``Z``."""
    Xt = as_tensor(X, "X", ndim=2)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=Xt.dtype)
    if Xt.shape[0] != Zt.shape[0]:
        raise ValueError(f"X has {Xt.shape[0]} samples but Z has {Zt.shape[0]}")
    batch_size = check_int(batch_size, "batch_size", min_value=1)

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(Xt.shape[0], (batch_size,), generator=gen, device=gen.device)
        idx = idx.to(Xt.device)
        return Xt[idx].to(gen.device), Zt[idx].to(gen.device)

    return sample


# ------------------------------------------------------------------------------------ metrics
def _nmse_db(est: torch.Tensor, truth: torch.Tensor) -> float:
    return nmse_db(est.detach(), truth)


def nmse_per_layer(model: _Unfolded, X: Any, Z: Any) -> np.ndarray:
    r"""NMSE in dB after each layer: :math:`10\log_{10}(\sum\|\hat z - z\|^2 / \sum\|z\|^2)`
    over the batch (Chen et al.'s definition); array of length ``model.n_layers``."""
    Xt = as_tensor(X, "X", ndim=2, dtype=model.D.dtype, device=model.D.device)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=model.D.dtype, device=model.D.device)
    with torch.no_grad():
        outs = model(Xt, return_all=True)
    return np.array([_nmse_db(o, Zt) for o in outs])


def solver_nmse_curve(X: Any, D: Any, alpha: float, Z: Any, n_iter: int, *,
                      accelerated: bool = False, nonneg: bool = False) -> np.ndarray:
    r"""NMSE (dB, over the batch) of ISTA's (or, with ``accelerated``, FISTA's) iterates to the
    reference codes ``Z`` after each of ``n_iter`` iterations from zero: the iterates of
    ``solvers.ista`` / ``solvers.fista`` with ``tol=0``, in one pass (array of length
    ``n_iter``)."""
    Xt = as_tensor(X, "X", ndim=2)
    Dt = as_tensor(D, "D", ndim=2, dtype=Xt.dtype)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=Xt.dtype)
    if Dt.shape[1] != Xt.shape[1] or Zt.shape != (Xt.shape[0], Dt.shape[0]):
        raise ValueError(f"shapes do not match: X {tuple(Xt.shape)}, D {tuple(Dt.shape)}, "
                         f"Z {tuple(Zt.shape)}")
    check_scalar(alpha, "alpha", min_value=0)
    n_iter = check_int(n_iter, "n_iter", min_value=1)
    W, S, L = network_weights(Dt)
    b, theta = Xt @ W, float(alpha) / L
    z = y = None
    t, out = 1.0, np.empty(n_iter)
    with torch.no_grad():
        for k in range(n_iter):
            z_new = ista_step(y, b, S, theta, nonneg)
            if accelerated and z is not None:
                t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
                y = z_new + ((t - 1.0) / t_new) * (z_new - z)
                t = t_new
            elif accelerated:
                t_new = (1.0 + math.sqrt(5.0)) / 2.0
                y, t = z_new, t_new
            else:
                y = z_new
            z = z_new
            out[k] = _nmse_db(z, Zt)
    return out


# ----------------------------------------------------------------------------------- training
def train_layerwise(model: _Unfolded, sampler: Sampler, *, val_X: Any, val_Z: Any,
                    n_steps_per_stage: int = 1000, lrs: Sequence[float] = (1e-3, 2e-4, 2e-5),
                    eval_every: int = 20, patience: int = 10, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = True,
                    time_budget_s: float | None = None) -> dict[str, Any]:
    r"""Train an unfolded network layer by layer (Chen et al. 2018), in place.

    For each layer ``k = 1 … n_layers``: stage 1 trains the new layer's parameters alone at
    ``lrs[0]``, then each further stage trains all layers ``1 … k`` at ``lrs[1]``, ``lrs[2]``,
    … (Adam), on the loss ``mean ‖z_k − z‖²`` of layer ``k``'s output on fresh batches from
    ``sampler``. A stage ends after ``n_steps_per_stage`` steps, or when the validation NMSE of
    layer ``k`` on ``(val_X, val_Z)`` (checked every ``eval_every`` steps) has not improved for
    ``patience`` checks; the best parameters seen are kept. Tied networks train their shared
    weights at every stage.

    ``time_budget_s`` caps the total time: layer ``k``'s stages must end by
    ``k / n_layers`` of it (unused time carries over), so every layer gets trained. The run is
    deterministic given ``seed`` (one ``torch.Generator`` on ``device`` drives the sampler).

    Returns a history dict: ``"val_nmse_db"`` (validation NMSE per layer at the end, dB),
    ``"layer_val_db"`` (validation NMSE of layer ``k`` when its training ended), ``"stages"``
    (one dict per stage: layer, lr, steps, best), ``"steps"``, ``"elapsed_s"`` and
    ``"budget_hit"`` (stages cut short by the time budget).
    """
    if not isinstance(model, _Unfolded):
        raise TypeError(f"model must be an unfolded network, got {type(model).__name__}")
    if not callable(sampler):
        raise TypeError("sampler must be callable: sampler(generator) -> (X, Z)")
    n_steps = check_int(n_steps_per_stage, "n_steps_per_stage", min_value=1)
    eval_every = check_int(eval_every, "eval_every", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    seed = check_int(seed, "seed")
    lrs = [float(check_scalar(lr, "lrs", min_value=0, include_min=False)) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    if time_budget_s is not None:
        check_scalar(time_budget_s, "time_budget_s", min_value=0, include_min=False)
    device = torch.device(device)
    model.to(device)
    dt = model.D.dtype
    vX = as_tensor(val_X, "val_X", ndim=2, dtype=dt, device=device)
    vZ = as_tensor(val_Z, "val_Z", ndim=2, dtype=dt, device=device)
    if vX.shape[0] != vZ.shape[0] or vZ.shape[1] != model.n_atoms:
        raise ValueError(f"val_Z must be ({vX.shape[0]}, {model.n_atoms}), got "
                         f"{tuple(vZ.shape)}")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    T = model.n_layers
    t0 = time.perf_counter()
    hist: dict[str, Any] = {"stages": [], "layer_val_db": [], "steps": 0, "budget_hit": 0}

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=T * len(lrs), desc=type(model).__name__, leave=False)

    def val_db(k: int) -> float:
        with torch.no_grad():
            return _nmse_db(model(vX, n_layers=k), vZ)

    for k in range(1, T + 1):
        new = model.layer_parameters(k - 1)
        upto = list({id(p): p for j in range(k) for p in model.layer_parameters(j)}.values())
        for s, lr in enumerate(lrs):
            params = new if (s == 0 and model.untied) else upto
            deadline = None
            if time_budget_s is not None:
                deadline = t0 + time_budget_s * (k - 1 + (s + 1) / len(lrs)) / T
            opt = torch.optim.Adam(params, lr=lr)
            best = val_db(k)
            best_state = [p.detach().clone() for p in params]
            bad = steps = 0
            while steps < n_steps:
                if deadline is not None and time.perf_counter() > deadline:
                    hist["budget_hit"] += 1
                    break
                X, Z = sampler(gen)
                X, Z = X.to(device=device, dtype=dt), Z.to(device=device, dtype=dt)
                loss = (model(X, n_layers=k) - Z).pow(2).sum(dim=1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                if steps % eval_every == 0:
                    cur = val_db(k)
                    if cur < best:
                        best, bad = cur, 0
                        best_state = [p.detach().clone() for p in params]
                    else:
                        bad += 1
                        if bad >= patience:
                            break
            with torch.no_grad():
                for p, b in zip(params, best_state):
                    p.copy_(b)
            hist["steps"] += steps
            hist["stages"].append({"layer": k, "lr": lr, "steps": steps, "best": best})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(layer=k, val_db=f"{best:.1f}")
        hist["layer_val_db"].append(best)
    if bar is not None:
        bar.close()
    hist["val_nmse_db"] = nmse_per_layer(model, vX, vZ)
    hist["elapsed_s"] = time.perf_counter() - t0
    return hist


# -------------------------------------------------------------------------------- persistence
def save_model(model: nn.Module, path: Any) -> None:
    """``torch.save(model.state_dict(), path)``: tensors only, loadable with
    ``weights_only=True``."""
    torch.save(model.state_dict(), path)


def load_model(model: nn.Module, path: Any, map_location: Any = None) -> nn.Module:
    """Load a state dict saved by :func:`save_model` into ``model`` (built with the same
    dictionary shape and depth), with ``torch.load(weights_only=True)``; returns ``model``."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    return model


# The L0 members of the family (unfolded IHT, thresholded linear units, max-M pooling) live in
# sparsestudy.l0 and are part of this namespace too.
from .l0 import DeepL0Encoder, HardThresholdEncoder, TopM, threshold_surrogate  # noqa: E402

__all__ = [
    "DeepL0Encoder", "HardThresholdEncoder", "TopM", "threshold_surrogate",
    "UnfoldedISTA", "LISTA", "LISTACP", "LISTACPSS", "ALISTA", "relu_layer",
    "support_selection_threshold", "soft_threshold_ss", "analytic_weight",
    "bernoulli_gaussian_sampler", "array_sampler", "nmse_per_layer", "solver_nmse_curve",
    "train_layerwise",
    "save_model", "load_model",
]

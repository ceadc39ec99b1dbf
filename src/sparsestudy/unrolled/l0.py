r"""L0 networks: hard-threshold units, unfolded iterative hard thresholding and max-M pooling.

The L0 counterparts of the LISTA family in :mod:`sparsestudy.unrolled` (claims C04 and C05);
import them from there (``from sparsestudy.unrolled import DeepL0Encoder``):

* :class:`HardThresholdEncoder` — one linear map followed by a hard threshold with learned,
  per-unit thresholds: the "thresholded linear unit" of Konda, Memisevic & Krueger (ICLR 2015),
  ``h = v * 1[|v| > theta]`` (``nonneg=True``: their one-sided ``v * 1[v > theta]``). Built
  from a dictionary it is exactly one IHT step from zero codes.
* :class:`DeepL0Encoder` — ``n_layers`` unfolded IHT steps with learnable ``W``, ``S`` and
  thresholds: Wang, Ling & Huang's deep L0 encoder (AAAI 2016) in its penalised form
  (``thresh=``) and its M-sparse form (``n_nonzero=``, a top-M "max-M pooling" unit per layer).
* :class:`TopM` — the top-M layer: keep the M largest magnitudes of each vector, or of each
  pooling window of a feature map, and optionally sum over the window (max pooling when
  ``M = 1`` and the input is non-negative).

Every layer computes :func:`sparsestudy.steps.iht_step` (its linear part
:func:`~sparsestudy.steps.linear_step`, then :func:`~sparsestudy.steps.prox_l0`), the same
definition the solver
:func:`sparsestudy.solvers.iht` iterates, so a network built by ``from_dictionary`` reproduces
the solver's iterates to floating-point precision.

Gradients through the threshold
-------------------------------
The hard threshold :math:`H_\theta(v) = v\,\mathbf 1[|v| > \theta]` is differentiable in
:math:`v` almost everywhere (derivative :math:`\mathbf 1[|v|>\theta]`, which autograd gives),
but its derivative in :math:`\theta` is zero almost everywhere, so a learned threshold would
never move. The forward value here is always the exact hard threshold; for the backward pass
in :math:`\theta` two estimators are offered (``surrogate=``):

* ``"sigmoid"`` (default): the gradient of the smooth surrogate
  :math:`v\,\sigma\big((|v| - \theta)/\tau\big)`, i.e.
  :math:`\partial h/\partial\theta = -v\,\sigma'\big((|v|-\theta)/\tau\big)/\tau`, with
  temperature :math:`\tau` (``temperature=``, in the units of :math:`v`). It is non-zero for
  entries near the threshold — the ones a change of :math:`\theta` switches on or off — and the
  surrogate tends to the hard threshold as :math:`\tau \to 0`.
* ``"ste"``: a straight-through estimator that borrows the soft threshold's derivative,
  :math:`\partial h/\partial\theta = -\operatorname{sign}(v)\,\mathbf 1[|v| > \theta]`.

Both are added as a term whose value is exactly zero (``g - g.detach()``), so they change only
the gradient with respect to the threshold, never the forward value or the gradient in ``v``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._arrays import as_tensor, check_int, check_scalar
from ..prox import _grouped_top_k, _top_k
from ..steps import linear_step, network_weights, prox_l0

__all__ = ["HardThresholdEncoder", "DeepL0Encoder", "TopM", "threshold_surrogate"]

_SURROGATES = ("sigmoid", "ste")


def threshold_surrogate(v: torch.Tensor, thresh: torch.Tensor, *, surrogate: str = "sigmoid",
                        temperature: float = 0.05) -> torch.Tensor:
    r"""A tensor whose value is zero and whose gradient with respect to ``thresh`` is the chosen
    estimator of :math:`\partial H_\theta(v) / \partial\theta` (see the module docstring).

    Add it to the exact hard threshold ``H(v)``. ``v`` is detached inside: the gradient in ``v``
    stays the exact one, :math:`\mathbf 1[|v| > \theta]`.
    """
    if surrogate not in _SURROGATES:
        raise ValueError(f"surrogate must be one of {_SURROGATES}, got {surrogate!r}")
    v = v.detach()
    if surrogate == "sigmoid":
        g = v * torch.sigmoid((v.abs() - thresh) / temperature)
    else:
        g = -torch.sign(v) * (v.abs() > thresh).to(v.dtype) * thresh
    return g - g.detach()


def _check_surrogate(surrogate: Any, temperature: Any) -> tuple[str, float]:
    if surrogate not in _SURROGATES:
        raise ValueError(f"surrogate must be one of {_SURROGATES}, got {surrogate!r}")
    check_scalar(temperature, "temperature", min_value=0, include_min=False)
    return surrogate, float(temperature)


def _thresh_tensor(thresh: Any, n_atoms: int, dtype: torch.dtype, name: str = "thresh"
                   ) -> torch.Tensor:
    t = as_tensor(thresh, name, ndim=(0, 1), dtype=dtype)
    if t.ndim == 1 and t.shape[0] not in (1, n_atoms):
        raise ValueError(f"{name} must be a scalar or have {n_atoms} entries (one per atom), "
                         f"got {t.shape[0]}")
    if bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative")
    return t.expand(n_atoms).clone()


def _check_input(x: Any, n_features: int, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"x must have shape (n_samples, {n_features}), got {tuple(x.shape)}")
    return x.to(dtype)


def _hard_with_surrogate(v: torch.Tensor, t: torch.Tensor, surrogate: str,
                         temperature: float) -> torch.Tensor:
    """The hard threshold of ``v`` at ``t`` (its value), with the surrogate's gradient for a
    learned ``t`` (see :func:`threshold_surrogate`)."""
    z = prox_l0(v, thresh=t)
    if t.requires_grad and torch.is_grad_enabled():
        z = z + threshold_surrogate(v, t, surrogate=surrogate, temperature=temperature)
    return z


class HardThresholdEncoder(nn.Module):
    r"""Linear map + hard threshold with learned per-unit thresholds (a thresholded linear unit).

    ``codes = H_theta(x @ weight)`` with :math:`H_\theta(v) = v\,\mathbf 1[|v| > \theta]`
    (``nonneg=True``: :math:`v\,\mathbf 1[v > \theta]`, Konda et al.'s TRec), computed by
    :func:`sparsestudy.steps.prox_l0` (an IHT step from zero codes).

    Parameters
    ----------
    weight : array (n_features, n_units)
        Initial input map (e.g. ``D.T`` for a dictionary ``D`` of shape ``(n_atoms, n_features)``).
    thresh : float or array (n_units,)
        Initial thresholds, non-negative.
    nonneg : bool
        One-sided unit (zero for negative pre-activations).
    learn_weight, learn_thresh : bool
        Which tensors are ``nn.Parameter`` s (the others are buffers).
    surrogate : {"sigmoid", "ste"}, temperature : float > 0
        Gradient estimator for the thresholds (see the module docstring).
    """

    def __init__(self, weight: Any, thresh: Any = 0.0, *, nonneg: bool = False,
                 learn_weight: bool = True, learn_thresh: bool = True,
                 surrogate: str = "sigmoid", temperature: float = 0.05) -> None:
        super().__init__()
        W = as_tensor(weight, "weight", ndim=2)
        if not isinstance(nonneg, bool):
            raise TypeError(f"nonneg must be a bool, got {type(nonneg).__name__}")
        self.surrogate, self.temperature = _check_surrogate(surrogate, temperature)
        self.nonneg = nonneg
        t = _thresh_tensor(thresh, W.shape[1], W.dtype)
        W = W.detach().clone()
        if learn_weight:
            self.weight = nn.Parameter(W)
        else:
            self.register_buffer("weight", W)
        if learn_thresh:
            self.thresh = nn.Parameter(t)
        else:
            self.register_buffer("thresh", t)

    @classmethod
    def from_dictionary(cls, D: Any, thresh: Any = 0.0, *, scale: str = "none",
                        **kwargs: Any) -> "HardThresholdEncoder":
        """Encoder with ``weight = D.T`` (``scale="none"``) or ``D.T / L`` (``scale="lipschitz"``,
        then the encoder is exactly one IHT step from zero codes at threshold ``thresh``)."""
        Dt = as_tensor(D, "D", ndim=2)
        if scale == "none":
            W = Dt.T
        elif scale == "lipschitz":
            W, _, _ = network_weights(Dt)
        else:
            raise ValueError(f"scale must be 'none' or 'lipschitz', got {scale!r}")
        return cls(W, thresh, **kwargs)

    @property
    def n_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_input(x, self.n_features, self.weight.dtype)
        b = x @ self.weight
        if self.nonneg:
            b = torch.relu(b)
        return _hard_with_surrogate(b, self.thresh.clamp_min(0), self.surrogate,
                                    self.temperature)


class DeepL0Encoder(nn.Module):
    r"""Unfolded iterative hard thresholding (Wang, Ling & Huang 2016, "deep L0 encoders").

    Layer ``k`` computes ``z_k = iht_step(z_{k-1}, x @ W, S_k, thresh=theta_k)`` (penalised
    form, hard-threshold units) or ``iht_step(..., n_nonzero=M)`` (M-sparse form: a top-M unit,
    "max-M pooling"), from ``z_0 = 0``. Built by :meth:`from_dictionary` with
    ``W = D.T / L``, ``S = I - D D.T / L`` it reproduces ``n_layers`` iterations of
    :func:`sparsestudy.solvers.iht`; training then unties what ``tied=False`` unties.

    Parameters
    ----------
    D : array (n_atoms, n_features)
        Dictionary used to initialise the weights.
    n_layers : int >= 1
    thresh : float or array (n_atoms,), optional
        Initial (learnable) hard thresholds. Give exactly one of ``thresh`` and ``n_nonzero``.
    n_nonzero : int, optional
        ``M``, the number of nonzeros kept per sample by each layer (``1 <= M <= n_atoms``).
    tied : bool
        Share ``S`` and the thresholds across layers (default) or give each layer its own.
    learn : bool
        Make ``W``, ``S`` and the thresholds trainable parameters (else buffers).
    surrogate, temperature :
        Gradient estimator for the thresholds (see the module docstring).
    """

    def __init__(self, D: Any, n_layers: int, *, thresh: Any = None, n_nonzero: int | None = None,
                 tied: bool = True, learn: bool = True, surrogate: str = "sigmoid",
                 temperature: float = 0.05) -> None:
        super().__init__()
        Dt = as_tensor(D, "D", ndim=2)
        n_atoms = Dt.shape[0]
        self.n_layers = check_int(n_layers, "n_layers", min_value=1)
        if (thresh is None) == (n_nonzero is None):
            raise ValueError("give exactly one of thresh and n_nonzero")
        self.surrogate, self.temperature = _check_surrogate(surrogate, temperature)
        self.n_nonzero = (None if n_nonzero is None else
                          check_int(n_nonzero, "n_nonzero", min_value=1, max_value=n_atoms))
        self.tied = bool(tied)
        W, S, L = network_weights(Dt)
        self.lipschitz = L
        n_s = 1 if tied else self.n_layers

        def make(t: torch.Tensor) -> nn.Parameter | torch.Tensor:
            t = t.detach().clone()
            return nn.Parameter(t) if learn else t

        def register(name: str, value: Any) -> None:
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            else:
                self.register_buffer(name, value)

        register("W", make(W))
        for k in range(n_s):
            register(f"S{k}", make(S))
        self.thresh_names: list[str] = []
        if thresh is not None:
            t = _thresh_tensor(thresh, n_atoms, Dt.dtype)
            for k in range(n_s):
                register(f"thresh{k}", make(t))
                self.thresh_names.append(f"thresh{k}")

    @classmethod
    def from_dictionary(cls, D: Any, n_layers: int, **kwargs: Any) -> "DeepL0Encoder":
        """Same as the constructor; named for symmetry with the other unrolled networks."""
        return cls(D, n_layers, **kwargs)

    @property
    def n_features(self) -> int:
        return self.W.shape[0]

    def forward(self, x: torch.Tensor, n_layers: int | None = None) -> torch.Tensor:
        """Codes after ``n_layers`` layers (default: all of them)."""
        x = _check_input(x, self.n_features, self.W.dtype)
        K = self.n_layers if n_layers is None else check_int(
            n_layers, "n_layers", min_value=1, max_value=self.n_layers)
        b = x @ self.W
        z = None
        for k in range(K):
            j = 0 if self.tied else k
            v = linear_step(z, b, getattr(self, f"S{j}"))      # iht_step = prox_l0(linear_step)
            if self.n_nonzero is not None:
                z = prox_l0(v, n_nonzero=self.n_nonzero)
                continue
            z = _hard_with_surrogate(v, getattr(self, self.thresh_names[j]).clamp_min(0),
                                     self.surrogate, self.temperature)
        return z


class TopM(nn.Module):
    r"""Top-M layer ("max-M pooling", Wang, Ling & Huang 2016).

    * ``window=None``: input ``(..., n)``; keep the ``M`` entries of largest magnitude along the
      last axis (the projection onto M-sparse vectors, :func:`sparsestudy.prox.top_k`).
    * ``window=w``: input ``(N, C, H, W)``; keep the ``M`` largest magnitudes in each
      non-overlapping ``w x w`` block (:func:`sparsestudy.prox.grouped_top_k`). With
      ``pool=True`` the block is then summed, giving ``(N, C, H/w, W/w)``: for ``M = 1`` and a
      non-negative input this is max pooling, gradients included.

    Gradients flow to the kept entries (the projection's derivative almost everywhere).
    """

    def __init__(self, M: int, *, window: int | None = None, pool: bool = False) -> None:
        super().__init__()
        self.M = check_int(M, "M", min_value=0)
        self.window = None if window is None else check_int(window, "window", min_value=1)
        if pool and window is None:
            raise ValueError("pool=True needs a window")
        if self.window is not None and self.M > self.window ** 2:
            raise ValueError(f"M must be <= window*window = {self.window ** 2}, got {self.M}")
        self.pool = bool(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
        if self.window is None:
            if x.ndim < 1 or self.M > x.shape[-1]:
                raise ValueError(f"M={self.M} is larger than the last dimension of x "
                                 f"(shape {tuple(x.shape)})")
            return _top_k(x, self.M)
        w = self.window
        if x.ndim != 4:
            raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
        h, wd = x.shape[-2:]
        if w > min(h, wd):
            raise ValueError(f"window={w} is larger than the {h}x{wd} feature map")
        if h % w or wd % w:
            raise ValueError(f"window={w} must divide the map's height {h} and width {wd}")
        y = _grouped_top_k(x, self.M, w)
        if self.pool:
            n, c = x.shape[:2]
            y = y.reshape(n, c, h // w, w, wd // w, w).sum(dim=(3, 5))
        return y

    def extra_repr(self) -> str:
        return f"M={self.M}, window={self.window}, pool={self.pool}"

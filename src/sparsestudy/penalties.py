r"""Penalties on a representation, and the sparse autoencoder they regularise (claim C09).

Goodfellow et al. (*Deep Learning* §7.10, eq. 7.48) regularise a representation :math:`h` by
adding :math:`\alpha\,\Omega(h)` to the loss. Three choices of :math:`\Omega`, each a function
(averaged over the samples of a batch ``h`` of shape ``(n_samples, n_units)``) and a small
``torch.nn.Module`` holding its weight:

=====================  ==================================================  ====================
function               :math:`\Omega(h)` per batch                          module
=====================  ==================================================  ====================
:func:`l1`             :math:`\frac1n\sum_{i,j}|h_{ij}|`                    :class:`L1Penalty`
:func:`student_t`      :math:`\frac1n\sum_{i,j}\log(1 + h_{ij}^2)`          :class:`StudentTPenalty`
:func:`kl_sparsity`    :math:`\sum_j \mathrm{KL}(\rho\,\|\,\hat\rho_j)`,
                       :math:`\hat\rho_j = \frac1n\sum_i h_{ij}`            :class:`KLSparsityPenalty`
=====================  ==================================================  ====================

The KL penalty is the UFLDL sparse autoencoder's (Ng, *CS294A lecture notes*): sigmoid units,
a target mean activation :math:`\rho`, weight :math:`\beta`; it is defined for activations in
:math:`[0, 1]`. The modules add: ``L1Penalty(0.1) + KLSparsityPenalty(0.05, 3.0)`` is a module
computing the sum.

:class:`Autoencoder` is one hidden layer ``h = act(x W1ᵀ + b1)`` with a linear decoder
``x̂ = h W2ᵀ + b2``; :func:`fit_autoencoder` trains it to a validation plateau with
:func:`sparsestudy.training.train_to_plateau`, with a representation penalty in the loss or an
L1 penalty on the weights handled by its prox (:class:`sparsestudy.optim.ProxAdam`).
:func:`activation_sparsity` is the register's sparsity: the fraction of activations below 1% of
the largest.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._arrays import as_tensor, check_int, check_scalar
from .optim import ProxAdam
from .training import StageReport, train_to_plateau

__all__ = ["l1", "student_t", "kl_sparsity", "Penalty", "L1Penalty", "StudentTPenalty",
           "KLSparsityPenalty", "make_penalty", "PENALTY_NAMES", "activation_sparsity",
           "Autoencoder", "fit_autoencoder", "reconstruction_error"]


def _check_h(h: Any, name: str = "h") -> torch.Tensor:
    if not isinstance(h, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(h).__name__}")
    if not h.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {h.dtype}")
    if h.ndim != 2 or h.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_samples >= 1, n_units), got "
                         f"{tuple(h.shape)}")
    return h


# ------------------------------------------------------------------------------- functions
def l1(h: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac1n\sum_{i,j}|h_{ij}|` of a batch ``h`` (n_samples, n_units)."""
    h = _check_h(h)
    return h.abs().sum() / h.shape[0]


def student_t(h: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac1n\sum_{i,j}\log(1 + h_{ij}^2)`: the negative log of a Student-t prior
    (up to constants) on each activation."""
    h = _check_h(h)
    return torch.log1p(h * h).sum() / h.shape[0]


def kl_sparsity(h: torch.Tensor, rho: float) -> torch.Tensor:
    r""":math:`\sum_j \rho\log\frac{\rho}{\hat\rho_j} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j}`
    with :math:`\hat\rho_j` the mean activation of unit ``j`` over the batch.

    ``h`` must hold activations in ``[0, 1]`` (sigmoid units), ``0 < rho < 1``. A mean activation
    of exactly 0 or 1 gives an infinite penalty, as the formula does.
    """
    h = _check_h(h)
    check_scalar(rho, "rho", min_value=0, max_value=1, include_min=False, include_max=False)
    with torch.no_grad():
        if bool((h < 0).any() | (h > 1).any()):
            raise ValueError("h must hold activations in [0, 1] for the KL penalty (sigmoid "
                             "units)")
    rho_hat = h.mean(dim=0)
    return (rho * torch.log(rho / rho_hat)
            + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


# --------------------------------------------------------------------------------- modules
class Penalty(nn.Module):
    """A weighted penalty ``weight * omega(h)``; penalties add (``p + q`` sums them)."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        check_scalar(weight, "weight", min_value=0)
        self.weight = float(weight)

    def omega(self, h: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.weight * self.omega(h)

    def __add__(self, other: "Penalty") -> "Penalty":
        if not isinstance(other, Penalty):
            return NotImplemented
        return _Sum(self, other)

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"


class _Sum(Penalty):
    def __init__(self, *terms: Penalty) -> None:
        super().__init__(1.0)
        self.terms = nn.ModuleList(terms)

    def omega(self, h: torch.Tensor) -> torch.Tensor:
        return sum(t(h) for t in self.terms)

    def extra_repr(self) -> str:
        return ""


class L1Penalty(Penalty):
    """``weight * l1(h)``."""

    def omega(self, h: torch.Tensor) -> torch.Tensor:
        return l1(h)


class StudentTPenalty(Penalty):
    """``weight * student_t(h)``."""

    def omega(self, h: torch.Tensor) -> torch.Tensor:
        return student_t(h)


class KLSparsityPenalty(Penalty):
    """``weight * kl_sparsity(h, rho)`` (UFLDL: ``weight`` is beta, e.g. 3, rho 0.01-0.05)."""

    def __init__(self, rho: float, weight: float) -> None:
        super().__init__(weight)
        check_scalar(rho, "rho", min_value=0, max_value=1, include_min=False,
                     include_max=False)
        self.rho = float(rho)

    def omega(self, h: torch.Tensor) -> torch.Tensor:
        return kl_sparsity(h, self.rho)

    def extra_repr(self) -> str:
        return f"rho={self.rho:g}, weight={self.weight:g}"


#: representation penalties by name, and the activation each acts on in claim C09
PENALTY_NAMES = {"l1": "relu", "student_t": "relu", "kl": "sigmoid"}


def make_penalty(name: str, weight: float, *, rho: float = 0.05) -> Penalty:
    """The penalty called ``name`` (``"l1"``, ``"student_t"`` or ``"kl"``) with ``weight``."""
    if name == "l1":
        return L1Penalty(weight)
    if name == "student_t":
        return StudentTPenalty(weight)
    if name == "kl":
        return KLSparsityPenalty(rho, weight)
    raise ValueError(f"name must be one of {tuple(PENALTY_NAMES)}, got {name!r}")


# --------------------------------------------------------------------------------- measures
def activation_sparsity(h: Any, rel: float = 0.01) -> float:
    """Fraction of entries of ``h`` whose magnitude is below ``rel`` times the largest
    magnitude in ``h`` (the register's sparsity of C09 with ``rel = 0.01``). An all-zero ``h``
    is entirely sparse (1.0)."""
    ht = as_tensor(h, "h")
    if ht.numel() == 0:
        raise ValueError("h must not be empty")
    check_scalar(rel, "rel", min_value=0, max_value=1)
    a = ht.detach().abs()
    top = a.max()
    if top == 0:
        return 1.0
    return float((a < rel * top).double().mean())


def reconstruction_error(model: "Autoencoder", X: torch.Tensor) -> float:
    r"""Mean over samples of :math:`\frac12\|\hat x - x\|^2`."""
    with torch.no_grad():
        return float(_recon(model(X)[0], X))


def _recon(xhat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((xhat - x) ** 2).sum() / x.shape[0]


# ------------------------------------------------------------------------------ autoencoder
class Autoencoder(nn.Module):
    """One hidden layer, linear decoder: ``h = act(encoder(x))``, ``x̂ = decoder(h)``.

    Parameters
    ----------
    n_features, n_hidden : int >= 1
    activation : {"relu", "sigmoid"}
    seed : int >= 0
        The initial parameters (PyTorch's default ``Linear`` initialisation) depend on it only;
        the global generator is left as it was.
    dtype : torch dtype
    """

    def __init__(self, n_features: int, n_hidden: int, *, activation: str = "relu",
                 seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        n_features = check_int(n_features, "n_features", min_value=1)
        n_hidden = check_int(n_hidden, "n_hidden", min_value=1)
        seed = check_int(seed, "seed", min_value=0)
        acts = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}
        if activation not in acts:
            raise ValueError(f"activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.activation = activation
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Linear(n_features, n_hidden, dtype=dtype)
            self.decoder = nn.Linear(n_hidden, n_features, dtype=dtype)
        self.act = acts[activation]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.encoder(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x̂, h)``."""
        h = self.encode(x)
        return self.decoder(h), h

    def weights(self) -> list[torch.Tensor]:
        """The two weight matrices (not the biases)."""
        return [self.encoder.weight, self.decoder.weight]


def fit_autoencoder(model: Autoencoder, X: Any, X_val: Any, *, penalty: Penalty | None = None,
                    weight_l1: float = 0.0, weight_decay: float = 0.0, lr: float = 1e-3,
                    batch_size: int = 128, max_epochs: int = 200, patience: int = 5,
                    rel_improvement: float = 1e-3, seed: int = 0,
                    device: Any = None) -> StageReport:
    r"""Train ``model`` by minibatch Adam until its validation objective plateaus.

    The objective is :math:`\frac1n\sum\frac12\|\hat x - x\|^2 + \text{penalty}(h) +
    \frac{\text{weight\_decay}}{2}\sum\|W\|^2 + \text{weight\_l1}\sum\|W\|_1` (``W``: the two
    weight matrices; biases are not penalised). The L1 weight term is handled by its prox
    (:class:`~sparsestudy.optim.ProxAdam`), so it makes weights exactly zero; the other terms
    enter the gradient. The validation objective (on ``X_val``, the full objective) is
    evaluated before training and after every epoch; training stops when its best value improved
    by less than ``rel_improvement`` times its initial value over ``patience`` epochs
    (:func:`~sparsestudy.training.train_to_plateau`, keeping the best epoch's parameters), or at
    ``max_epochs`` (``stop_reason="cap"``).

    Returns
    -------
    StageReport
        With ``info["epochs"]``.
    """
    if not isinstance(model, Autoencoder):
        raise TypeError(f"model must be an Autoencoder, got {type(model).__name__}")
    if penalty is not None and not isinstance(penalty, nn.Module):
        raise TypeError(f"penalty must be a Penalty module or None, got "
                        f"{type(penalty).__name__}")
    for name, v in (("weight_l1", weight_l1), ("weight_decay", weight_decay),
                    ("rel_improvement", rel_improvement)):
        check_scalar(v, name, min_value=0)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    max_epochs = check_int(max_epochs, "max_epochs", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    seed = check_int(seed, "seed", min_value=0)
    if device is not None:
        model.to(device)
    p0 = next(model.parameters())
    Xt = as_tensor(X, "X", ndim=2, dtype=p0.dtype, device=p0.device)
    Xv = as_tensor(X_val, "X_val", ndim=2, dtype=p0.dtype, device=p0.device)
    if Xt.shape[1] != model.encoder.in_features or Xv.shape[1] != Xt.shape[1]:
        raise ValueError(f"X and X_val must have {model.encoder.in_features} features, got "
                         f"{Xt.shape[1]} and {Xv.shape[1]}")
    weights = model.weights()
    biases = [model.encoder.bias, model.decoder.bias]
    opt = ProxAdam([{"params": weights, "strength": float(weight_l1)},
                    {"params": biases, "strength": 0.0}], lr=lr, penalty="l1")

    def objective(x: torch.Tensor) -> torch.Tensor:
        xhat, h = model(x)
        loss = _recon(xhat, x)
        if penalty is not None:
            loss = loss + penalty(h)
        if weight_decay:
            loss = loss + 0.5 * weight_decay * sum((w * w).sum() for w in weights)
        return loss

    n = Xt.shape[0]
    n_batches = -(-n // batch_size)
    gen = torch.Generator().manual_seed(seed)
    order: dict[str, torch.Tensor] = {}

    def step_fn(step: int) -> torch.Tensor:
        i = step % n_batches
        if i == 0:
            order["perm"] = torch.randperm(n, generator=gen).to(Xt.device)
        return objective(Xt[order["perm"][i * batch_size:(i + 1) * batch_size]])

    def val_fn() -> float:
        with torch.no_grad():
            value = objective(Xv)
            if weight_l1:
                value = value + weight_l1 * sum(w.abs().sum() for w in weights)
            return float(value)

    start = val_fn()
    report = train_to_plateau(opt, step_fn, val_fn, max_steps=max_epochs * n_batches,
                              eval_every=n_batches, patience=patience,
                              min_improvement=rel_improvement * abs(start))
    report.info["epochs"] = -(-report.steps // n_batches)
    model.eval()
    return report

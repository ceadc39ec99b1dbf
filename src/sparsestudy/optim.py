r"""Proximal optimisers: a gradient step on the smooth loss, then the prox of a penalty.

For a loss :math:`f(w) + \lambda\,\Omega(w)` with :math:`f` smooth and :math:`\Omega` a
non-smooth penalty, the proximal-gradient step is

.. math:: w \leftarrow \operatorname{prox}_{\eta\lambda\Omega}\big(w - \eta\,\nabla f(w)\big).

For :math:`\Omega = \|\cdot\|_1` the prox is the soft threshold at :math:`\eta\lambda`
(:func:`sparsestudy.prox.soft_threshold`): it sets weights *exactly* to zero, where the
subgradient step :math:`w \leftarrow w - \eta(\nabla f + \lambda\operatorname{sign} w)` only
makes them hop around zero (claim C10). On a quadratic :math:`f` the step is one ISTA step
(:func:`sparsestudy.steps.ista_step`).

* :class:`ProxSGD` is :class:`torch.optim.SGD` (momentum, dampening, Nesterov, L2
  ``weight_decay``, with PyTorch's update formulas) followed by the prox of the parameter group's
  ``penalty``: ``"l1"`` (the soft threshold at ``lr * strength``), ``"group_l1"`` (the group
  soft threshold of each row, :math:`w_g \leftarrow w_g\max(0, 1 - \eta\lambda/\|w_g\|_2)`, the
  prox of :math:`\lambda\sum_g\|w_g\|_2`; a row is one output unit of a ``Linear`` weight) or
  ``None``.
* :class:`ProxAdam` is :class:`torch.optim.Adam`'s step followed by the L1 prox *in Adam's
  metric*: each coordinate is soft-thresholded at :math:`\eta\lambda / (\sqrt{\hat v} +
  \epsilon)`, the same per-coordinate step Adam takes (the prox of the scaled proximal-gradient
  method with the diagonal preconditioner; with a constant :math:`\hat v` it is ISTA with
  per-coordinate steps).

Both keep their options per parameter group (so biases can go unpenalised) and their state in
``state_dict()``; ``load_state_dict`` restores them exactly (PyTorch's own mechanism).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from ._arrays import check_scalar
from .prox import _soft

__all__ = ["PENALTIES", "ProxSGD", "ProxAdam", "prox_step", "group_soft_threshold"]

#: the penalties whose prox the optimisers apply
PENALTIES = (None, "l1", "group_l1")


def group_soft_threshold(w: torch.Tensor, thresh: float) -> torch.Tensor:
    r"""Group soft threshold of the rows of ``w`` (the prox of :math:`t\sum_g\|w_g\|_2`, one
    group per index of the first axis; a 1-D tensor is one group)."""
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"w must be a torch tensor, got {type(w).__name__}")
    check_scalar(thresh, "thresh", min_value=0)
    flat = w.reshape(1, -1) if w.ndim <= 1 else w.reshape(w.shape[0], -1)
    norms = torch.linalg.vector_norm(flat, dim=1, keepdim=True)
    scale = torch.clamp(1 - thresh / norms.clamp_min(torch.finfo(w.dtype).tiny), min=0)
    return (flat * scale).reshape(w.shape)


def prox_step(w: torch.Tensor, penalty: str | None, thresh: Any) -> torch.Tensor:
    """The prox of ``penalty`` at threshold ``thresh`` (a float, or for ``"l1"`` a tensor of
    per-coordinate thresholds), applied to ``w`` (a new tensor)."""
    if penalty is None:
        return w
    if penalty == "l1":
        return _soft(w, thresh)
    if penalty == "group_l1":
        return group_soft_threshold(w, float(thresh))
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")


def _check_penalty(penalty: Any, strength: Any, allowed: tuple = PENALTIES) -> None:
    if penalty not in allowed:
        raise ValueError(f"penalty must be one of {allowed}, got {penalty!r}")
    check_scalar(strength, "strength", min_value=0)


class ProxSGD(torch.optim.Optimizer):
    r"""SGD (PyTorch's, with momentum) followed by the prox of a weight penalty.

    Parameters
    ----------
    params : iterable of tensors or of dicts (parameter groups)
        Each group may set its own ``lr``, ``momentum``, ``dampening``, ``nesterov``,
        ``weight_decay``, ``penalty`` and ``strength``.
    lr : float > 0
    momentum : float >= 0
    dampening : float >= 0
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
    weight_decay : float >= 0
        L2 penalty, added to the gradient as :class:`torch.optim.SGD` does.
    penalty : {None, "l1", "group_l1"}
        The non-smooth penalty handled by its prox.
    strength : float >= 0
        Its weight :math:`\lambda`; the prox threshold is ``lr * strength``.

    Notes
    -----
    The update of a parameter ``p`` with gradient ``g`` is exactly ``torch.optim.SGD``'s (with
    ``b`` the momentum buffer, initialised to the first ``g``)::

        g = g + weight_decay * p
        b = momentum * b + (1 - dampening) * g         (if momentum)
        g = g + momentum * b if nesterov else b
        p = prox(p - lr * g, lr * strength)

    so with ``strength = 0`` (or ``penalty=None``) it reproduces ``torch.optim.SGD``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 penalty: str | None = "l1", strength: float = 0.0) -> None:
        check_scalar(lr, "lr", min_value=0, include_min=False)
        check_scalar(momentum, "momentum", min_value=0)
        check_scalar(dampening, "dampening", min_value=0)
        check_scalar(weight_decay, "weight_decay", min_value=0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {type(nesterov).__name__}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")
        _check_penalty(penalty, strength)
        defaults = dict(lr=float(lr), momentum=float(momentum), dampening=float(dampening),
                        nesterov=nesterov, weight_decay=float(weight_decay), penalty=penalty,
                        strength=float(strength))
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_penalty(group["penalty"], group["strength"])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One step: the SGD update, then the prox. ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("ProxSGD does not support sparse gradients")
                if group["weight_decay"]:
                    g = g.add(p, alpha=group["weight_decay"])
                if mom:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.detach().clone()
                    else:
                        buf.mul_(mom).add_(g, alpha=1 - damp)
                    g = g.add(buf, alpha=mom) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
                if group["penalty"] is not None and group["strength"] > 0:
                    p.copy_(prox_step(p, group["penalty"], lr * group["strength"]))
        return loss


class ProxAdam(torch.optim.Optimizer):
    r"""Adam (PyTorch's update) followed by the L1 prox in Adam's diagonal metric.

    Parameters
    ----------
    params : iterable of tensors or of dicts (parameter groups)
    lr : float > 0
    betas : (float, float) in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
        L2 penalty added to the gradient (``torch.optim.Adam``'s, not AdamW's).
    penalty : {None, "l1"}
    strength : float >= 0
        :math:`\lambda`. Each coordinate is soft-thresholded at
        ``lr * strength / (sqrt(v_hat) + eps)``, where Adam's step on it is
        ``lr * m_hat / (sqrt(v_hat) + eps)``.

    Notes
    -----
    With ``strength = 0`` the update is exactly ``torch.optim.Adam``'s (default options).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, penalty: str | None = "l1",
                 strength: float = 0.0) -> None:
        check_scalar(lr, "lr", min_value=0, include_min=False)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError("betas must be a pair of floats")
        for i, b in enumerate(betas):
            check_scalar(b, f"betas[{i}]", min_value=0, max_value=1, include_max=False)
        check_scalar(eps, "eps", min_value=0, include_min=False)
        check_scalar(weight_decay, "weight_decay", min_value=0)
        _check_penalty(penalty, strength, (None, "l1"))
        defaults = dict(lr=float(lr), betas=(float(betas[0]), float(betas[1])),
                        eps=float(eps), weight_decay=float(weight_decay), penalty=penalty,
                        strength=float(strength))
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_penalty(group["penalty"], group["strength"], (None, "l1"))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One step: Adam's update, then the per-coordinate soft threshold."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("ProxAdam does not support sparse gradients")
                if group["weight_decay"]:
                    g = g.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
                if group["penalty"] == "l1" and group["strength"] > 0:
                    p.copy_(_soft(p, lr * group["strength"] / denom))
        return loss


# --------------------------------------------------------------------- weight-penalised SGD
#: how :func:`fit_weight_penalized` handles each (penalty, method)
WEIGHT_METHODS = (("l2", "gradient"), ("l1", "subgradient"), ("l1", "proximal"))


def fit_weight_penalized(model: Any, X: Any, y: Any, X_val: Any, y_val: Any, *,
                         penalty: str, strength: float, method: str, lr: float = 0.05,
                         momentum: float = 0.9, batch_size: int = 64, max_epochs: int = 100,
                         patience: int = 5, target_loss: float = 0.2, seed: int = 0,
                         track: Any = None, device: Any = None) -> tuple[Any, Any]:
    r"""Train a classifier by minibatch SGD with an L1 or L2 penalty on its weights.

    The loss is the mean cross-entropy plus :math:`\lambda\sum|w|` (L1) or
    :math:`\frac\lambda2\sum w^2` (L2) over the weight matrices (parameters named
    ``*weight`` with two or more dimensions; biases are not penalised). ``method``:

    * ``"gradient"`` (L2) and ``"subgradient"`` (L1): the penalty is in the loss and autograd
      differentiates it (the subgradient ``sign(w)``, 0 at 0), with :class:`ProxSGD` at
      ``strength=0`` (``torch.optim.SGD``'s momentum update);
    * ``"proximal"`` (L1): the cross-entropy's gradient step, then the soft threshold at
      ``lr * strength`` (:class:`ProxSGD`).

    After every epoch the validation error and the training cross-entropy (the data term, on
    the whole training set, without the penalty) are evaluated; training stops on a plateau of
    the validation error over ``patience`` epochs (:func:`sparsestudy.training.train_to_plateau`,
    keeping the best epoch's parameters) or at ``max_epochs``.

    Parameters
    ----------
    model : torch.nn.Module
        Inputs -> logits; trained in place (seed its construction yourself).
    X, y, X_val, y_val : arrays
    penalty, method : see :data:`WEIGHT_METHODS`
    strength : float >= 0
    lr, momentum, batch_size : SGD's
    max_epochs, patience : int
    target_loss : float
        The training cross-entropy whose first crossing is reported (``epochs_to_target``).
    seed : int
        The minibatch order.
    track : int tensor (n_tracked, 2), optional
        ``(row, column)`` indices of entries of the first weight matrix whose values are
        recorded before every step and after the last (``info["trajectory"]``,
        ``(steps + 1, n_tracked)``).
    device : optional
        Where to train.

    Returns
    -------
    model, report : the trained module (evaluation mode) and the :class:`StageReport`, with
    ``info``: ``epochs``, ``train_loss`` (per evaluation, from epoch 0),
    ``epochs_to_target`` (int, or None when never reached), ``reached_target``, and
    ``trajectory`` when ``track`` is given.
    """
    from torch import nn

    from .training import _labels, _model_dtype, train_to_plateau
    from ._arrays import as_tensor, check_int

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (penalty, method) not in WEIGHT_METHODS:
        raise ValueError(f"(penalty, method) must be one of {WEIGHT_METHODS}, got "
                         f"{(penalty, method)!r}")
    check_scalar(strength, "strength", min_value=0)
    check_scalar(target_loss, "target_loss", min_value=0)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    max_epochs = check_int(max_epochs, "max_epochs", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    seed = check_int(seed, "seed", min_value=0)
    if device is not None:
        model.to(device)
    dtype = _model_dtype(model)
    dev = next(model.parameters()).device
    Xt = as_tensor(X, "X", ndim=2, dtype=dtype, device=dev)
    Xv = as_tensor(X_val, "X_val", ndim=2, dtype=dtype, device=dev)
    yt, yv = _labels(y, Xt.shape[0], "y", dev), _labels(y_val, Xv.shape[0], "y_val", dev)
    weights = [p for name, p in model.named_parameters()
               if name.endswith("weight") and p.ndim >= 2]
    others = [p for name, p in model.named_parameters()
              if not (name.endswith("weight") and p.ndim >= 2)]
    if not weights:
        raise ValueError("model has no weight matrix to penalise")
    prox = method == "proximal"
    groups = [{"params": weights, "strength": float(strength) if prox else 0.0}]
    if others:
        groups.append({"params": others, "strength": 0.0})
    opt = ProxSGD(groups, lr=lr, momentum=momentum, penalty="l1")
    first = weights[0]
    if track is not None:
        track = torch.as_tensor(track, dtype=torch.long)
        if track.ndim != 2 or track.shape[1] != 2:
            raise ValueError(f"track must have shape (n_tracked, 2), got {tuple(track.shape)}")
        if track.numel() and (bool((track < 0).any()) or
                              bool((track.max(dim=0).values >= torch.tensor(first.shape)).any())):
            raise ValueError(f"track indices must lie in the first weight's shape "
                             f"{tuple(first.shape)}")
    trajectory: list[torch.Tensor] = []

    def penalty_term() -> torch.Tensor:
        if prox or strength == 0:
            return torch.zeros((), dtype=dtype, device=dev)
        if penalty == "l1":
            return strength * sum(w.abs().sum() for w in weights)
        return 0.5 * strength * sum((w * w).sum() for w in weights)

    n = Xt.shape[0]
    n_batches = -(-n // batch_size)
    gen = torch.Generator().manual_seed(seed)
    order: dict[str, torch.Tensor] = {}

    def record() -> None:
        if track is not None:
            trajectory.append(first.detach()[track[:, 0], track[:, 1]].cpu().clone())

    def step_fn(step: int) -> torch.Tensor:
        record()
        model.train()
        i = step % n_batches
        if i == 0:
            order["perm"] = torch.randperm(n, generator=gen).to(dev)
        idx = order["perm"][i * batch_size:(i + 1) * batch_size]
        return nn.functional.cross_entropy(model(Xt[idx]), yt[idx]) + penalty_term()

    train_loss: list[float] = []

    def val_fn() -> float:
        model.eval()
        with torch.no_grad():
            train_loss.append(float(nn.functional.cross_entropy(model(Xt), yt)))
            return float((model(Xv).argmax(dim=1) != yv).double().mean())

    report = train_to_plateau(opt, step_fn, val_fn, max_steps=max_epochs * n_batches,
                              eval_every=n_batches, patience=patience, mode="min")
    record()
    hits = [e for e, v in enumerate(train_loss) if v <= target_loss]
    report.info.update(epochs=-(-report.steps // n_batches), train_loss=train_loss,
                       epochs_to_target=hits[0] if hits else None, reached_target=bool(hits))
    if track is not None:
        report.info["trajectory"] = torch.stack(trajectory).numpy()
    model.eval()
    return model, report


__all__ += ["WEIGHT_METHODS", "fit_weight_penalized"]

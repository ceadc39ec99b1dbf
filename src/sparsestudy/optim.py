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

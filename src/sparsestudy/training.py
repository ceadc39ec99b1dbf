r"""Training to a plateau, with a report of why each stage stopped.

:func:`train_to_plateau` runs one *stage* of gradient steps and stops it for one of three
reasons, recorded in its :class:`StageReport`:

* ``"plateau"``: the validation value stopped improving. The rule is the study register's
  (amendment 6 of ``CLAIMS.md``): the stage ends when the best validation value improved by less
  than ``min_improvement`` over its last ``patience`` evaluations (evaluations every
  ``eval_every`` steps, the first one before any step), with
  ``patience * eval_every <= max_steps / 4`` so that a plateau is observable before the cap.
  With ``lr_decay``, a plateau first multiplies the learning rate by ``lr_decay`` (at most
  ``max_decays`` times) and the stage goes on; it ends at the plateau after the last decay.
* ``"cap"``: ``max_steps`` steps ran without a plateau (the stage may be under-trained).
* ``"schedule"``: a fixed number of steps without validation (``val_fn=None``) completed.

A stage is *adequate* (:attr:`StageReport.adequate`) when it ended on a plateau or ran its
fixed schedule. Nothing here reads a clock: the stopping rules depend only on the values
computed, so a run is reproducible on any machine.

:func:`fit_classifier` fits a classifier by Adam on the cross-entropy, validated on held-out
data (error rate or loss), with the same trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ._arrays import as_tensor, check_int, check_scalar

__all__ = ["StageReport", "train_to_plateau", "fit_classifier", "STOP_REASONS"]

#: The reasons a stage can stop.
STOP_REASONS = ("plateau", "cap", "schedule")


@dataclass
class StageReport:
    """What a training stage did and why it stopped.

    Attributes
    ----------
    steps : int
        Gradient steps taken.
    stop_reason : {"plateau", "cap", "schedule"}
        See the module docstring.
    best_value : float or None
        Best validation value seen (None without validation).
    best_step : int or None
        Step at which it was seen (0: before any step).
    history : list of (int, float)
        Every evaluation, ``(step, value)``.
    n_decays : int
        Learning-rate decays applied.
    restored : bool
        Whether the parameters were reset to the best evaluation's at the end.
    info : dict
        Free-form details added by callers (e.g. the layer and learning rate of a stage).
    """

    steps: int
    stop_reason: str
    best_value: float | None = None
    best_step: int | None = None
    history: list[tuple[int, float]] = field(default_factory=list)
    n_decays: int = 0
    restored: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def adequate(self) -> bool:
        """Whether the stage ended on a plateau or completed its fixed schedule."""
        return self.stop_reason in ("plateau", "schedule")


def _as_optimizer(params_or_optimizer: Any, lr: float | None, weight_decay: float
                  ) -> torch.optim.Optimizer:
    if isinstance(params_or_optimizer, torch.optim.Optimizer):
        return params_or_optimizer
    if isinstance(params_or_optimizer, torch.Tensor):
        params = [params_or_optimizer]
    else:
        try:
            params = list(params_or_optimizer)
        except TypeError:
            raise TypeError("params_or_optimizer must be a torch optimizer or an iterable of "
                            f"parameters, got {type(params_or_optimizer).__name__}") from None
    if not params or not all(isinstance(p, torch.Tensor) for p in params):
        raise TypeError("params_or_optimizer must be a torch optimizer or a non-empty iterable "
                        "of parameter tensors")
    if lr is None:
        raise ValueError("lr must be given when params_or_optimizer holds parameters")
    check_scalar(lr, "lr", min_value=0, include_min=False)
    check_scalar(weight_decay, "weight_decay", min_value=0)
    return torch.optim.Adam(params, lr=float(lr), weight_decay=float(weight_decay))


def _parameters(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in opt.param_groups for p in group["params"]]


def train_to_plateau(params_or_optimizer: Any, step_fn: Callable[[int], Any],
                     val_fn: Callable[[], float] | None, *, max_steps: int,
                     eval_every: int = 1, patience: int = 1, min_improvement: float = 0.0,
                     mode: str = "min", lr: float | None = None, weight_decay: float = 0.0,
                     lr_decay: float | None = None, max_decays: int = 2,
                     restore_best: bool = True,
                     callback: Callable[[int, float], Any] | None = None) -> StageReport:
    r"""Run gradient steps until the validation value plateaus, or a step cap.

    Parameters
    ----------
    params_or_optimizer : torch optimizer or iterable of tensors
        The optimizer to step, or the parameters to train with Adam at ``lr``
        (``weight_decay`` as Adam's).
    step_fn : callable
        ``step_fn(step)`` (``step`` = 0, 1, …) returns the scalar loss tensor of one step; the
        trainer zeroes the gradients, back-propagates it and steps the optimizer.
    val_fn : callable or None
        ``val_fn()`` returns the validation value (a float; computed without gradients). It is
        evaluated before the first step and every ``eval_every`` steps. ``None``: no
        validation, run exactly ``max_steps`` steps (``stop_reason="schedule"``).
    max_steps : int >= 1
        The step cap (or, without validation, the schedule's length).
    eval_every, patience : int >= 1
        Evaluation interval (steps) and the plateau window (evaluations);
        ``patience * eval_every`` must be at most ``max_steps / 4``.
    min_improvement : float >= 0
        The plateau threshold, in the units of the validation value: the stage plateaus when
        the best value improved by less than this (or not at all) over the last ``patience``
        evaluations.
    mode : {"min", "max"}
        Whether a lower or a higher validation value is better.
    lr, weight_decay : float
        For the Adam optimizer built from parameters.
    lr_decay : float in (0, 1), optional
        On a plateau, multiply every learning rate by this and go on (the window restarts),
        at most ``max_decays`` times; the stage ends at the next plateau after that.
    restore_best : bool
        Reset the parameters to those of the best evaluation when the stage ends (and at each
        learning-rate decay).
    callback : callable, optional
        ``callback(step, value)`` after every evaluation (e.g. a progress bar).

    Returns
    -------
    StageReport

    Notes
    -----
    Non-finite validation values never count as improvements, so a diverging run plateaus and
    (with ``restore_best``) is reset to its best point.
    """
    opt = _as_optimizer(params_or_optimizer, lr, weight_decay)
    if not callable(step_fn):
        raise TypeError("step_fn must be callable: step_fn(step) -> loss")
    if val_fn is not None and not callable(val_fn):
        raise TypeError("val_fn must be callable (val_fn() -> float) or None")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable: callback(step, value)")
    max_steps = check_int(max_steps, "max_steps", min_value=1)
    eval_every = check_int(eval_every, "eval_every", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    check_scalar(min_improvement, "min_improvement", min_value=0)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if lr_decay is not None:
        check_scalar(lr_decay, "lr_decay", min_value=0, max_value=1, include_min=False,
                     include_max=False)
    max_decays = check_int(max_decays, "max_decays", min_value=0)
    if not isinstance(restore_best, bool):
        raise TypeError(f"restore_best must be a bool, got {type(restore_best).__name__}")
    if val_fn is not None and patience * eval_every > max_steps / 4:
        raise ValueError(
            f"patience * eval_every must be at most max_steps / 4 (the plateau window must fit "
            f"four times in the step cap), got patience={patience}, eval_every={eval_every}, "
            f"max_steps={max_steps}")

    params = _parameters(opt)

    def one_step(step: int) -> None:
        loss = step_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if val_fn is None:
        for step in range(max_steps):
            one_step(step)
        return StageReport(steps=max_steps, stop_reason="schedule")

    sign = 1.0 if mode == "min" else -1.0      # internally: lower is better

    def evaluate(step: int) -> float:
        value = float(val_fn())
        history.append((step, value))
        if callback is not None:
            callback(step, value)
        return value

    history: list[tuple[int, float]] = []
    value = evaluate(0)
    best = sign * value if math.isfinite(value) else math.inf
    best_step = 0
    best_state = [p.detach().clone() for p in params]
    window = [best]                           # best (signed) after each evaluation since start
    n_decays, steps, reason = 0, 0, "cap"

    def restore() -> None:
        with torch.no_grad():
            for p, b in zip(params, best_state):
                p.copy_(b)

    while steps < max_steps:
        one_step(steps)
        steps += 1
        if steps % eval_every and steps < max_steps:
            continue
        value = evaluate(steps)
        if math.isfinite(value) and sign * value < best:
            best, best_step = sign * value, steps
            best_state = [p.detach().clone() for p in params]
        window.append(best)
        if len(window) <= patience:
            continue
        gain = window[-1 - patience] - best
        if gain <= 0 or gain < min_improvement:
            if lr_decay is not None and n_decays < max_decays:
                n_decays += 1
                for group in opt.param_groups:
                    group["lr"] *= lr_decay
                if restore_best:
                    restore()
                window = [best]
                continue
            reason = "plateau"
            break
    if restore_best:
        restore()
    best_value = sign * best if math.isfinite(best) else math.nan
    return StageReport(steps=steps, stop_reason=reason, best_value=best_value,
                       best_step=best_step, history=history, n_decays=n_decays,
                       restored=restore_best)


# ------------------------------------------------------------------------------ classifiers
def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _labels(y: Any, n: int, name: str, device: Any) -> torch.Tensor:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-d array of {n} labels, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must hold non-negative class labels")
    return torch.as_tensor(arr.astype(np.int64), device=device)


def fit_classifier(model: nn.Module, X: Any, y: Any, *, X_val: Any = None, y_val: Any = None,
                   lr: float = 1e-3, batch_size: int | None = 100, max_epochs: int = 100,
                   patience: int = 5, seed: int = 0, weight_decay: float = 0.0,
                   validation: str = "error", min_improvement: float = 0.0,
                   device: Any = None) -> tuple[nn.Module, StageReport]:
    r"""Fit a classifier ``model`` (inputs -> logits) by Adam on the mean cross-entropy.

    Each epoch visits the training samples in a fresh random order (a ``torch.Generator``
    seeded with ``seed``) in minibatches of ``batch_size`` (``None``: one full batch per epoch,
    in the given order). With validation data, the error rate (``validation="error"``) or the
    mean cross-entropy (``"loss"``) on it is evaluated before training and after every epoch,
    and training stops on a plateau of ``patience`` epochs (:func:`train_to_plateau`;
    ``patience <= max_epochs / 4``), keeping the best epoch's parameters. Without validation
    data it runs exactly ``max_epochs`` epochs (``stop_reason="schedule"``).

    The result depends only on the model's initial parameters and ``seed`` (seed the model's
    construction yourself, e.g. ``torch.manual_seed``).

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; inputs are cast to its parameters' dtype.
    X : array (n_samples, ...)
    y : array (n_samples,) of int
    X_val, y_val : arrays, optional
        Validation data (both or neither).
    lr, weight_decay : float
        Adam's.
    batch_size : int or None
    max_epochs, patience : int
    seed : int
    validation : {"error", "loss"}
    min_improvement : float
        Plateau threshold, in the validation value's units (error: a fraction).
    device : str or torch.device, optional
        Where to train (default: where the model's parameters are).

    Returns
    -------
    model : torch.nn.Module
        The same module, trained (in evaluation mode).
    report : StageReport
        With ``steps`` counted in minibatch steps and ``info["epochs"]``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    if validation not in ("error", "loss"):
        raise ValueError(f"validation must be 'error' or 'loss', got {validation!r}")
    seed = check_int(seed, "seed", min_value=0)
    max_epochs = check_int(max_epochs, "max_epochs", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    if X_val is not None and patience > max_epochs / 4:
        raise ValueError(f"patience must be at most max_epochs / 4 (the plateau window must fit "
                         f"four times in the epoch cap), got patience={patience}, "
                         f"max_epochs={max_epochs}")
    if device is not None:
        model.to(device)
    dtype = _model_dtype(model)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    Xt = as_tensor(X, "X", min_ndim=2, dtype=dtype, device=dev)
    yt = _labels(y, Xt.shape[0], "y", dev)
    n = Xt.shape[0]
    if n == 0:
        raise ValueError("X must have at least one sample")
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", min_value=1)
    n_batches = 1 if batch_size is None else -(-n // batch_size)
    gen = torch.Generator().manual_seed(seed)
    order: dict[str, torch.Tensor] = {}

    def step_fn(step: int) -> torch.Tensor:
        model.train()
        if batch_size is None:
            xb, yb = Xt, yt
        else:
            i = step % n_batches
            if i == 0:
                order["perm"] = torch.randperm(n, generator=gen).to(dev)
            idx = order["perm"][i * batch_size:(i + 1) * batch_size]
            xb, yb = Xt[idx], yt[idx]
        return nn.functional.cross_entropy(model(xb), yb)

    val_fn = None
    if X_val is not None:
        Xv = as_tensor(X_val, "X_val", min_ndim=2, dtype=dtype, device=dev)
        yv = _labels(y_val, Xv.shape[0], "y_val", dev)
        if Xv.shape[1:] != Xt.shape[1:]:
            raise ValueError(f"X_val samples have shape {tuple(Xv.shape[1:])}, but X's have "
                             f"{tuple(Xt.shape[1:])}")

        def val_fn() -> float:
            model.eval()
            with torch.no_grad():
                logits = model(Xv)
                if validation == "loss":
                    return float(nn.functional.cross_entropy(logits, yv))
                return float((logits.argmax(dim=1) != yv).double().mean())

    report = train_to_plateau(model.parameters(), step_fn, val_fn,
                              max_steps=max_epochs * n_batches, eval_every=n_batches,
                              patience=patience, min_improvement=min_improvement, mode="min",
                              lr=lr, weight_decay=weight_decay)
    report.info["epochs"] = -(-report.steps // n_batches)
    model.eval()
    return model, report

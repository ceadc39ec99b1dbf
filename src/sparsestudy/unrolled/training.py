r"""Layer-wise training of the unfolded networks (Chen et al. 2018's schedule).

Every stage is one call of :func:`sparsestudy.training.train_to_plateau`, so every stage reports
why it stopped (``"plateau"``, ``"cap"`` or ``"schedule"``); nothing depends on a clock.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .._arrays import as_tensor, check_int, check_scalar
from ..metrics import nmse_db
from ..training import StageReport, train_to_plateau
from .networks import _Unfolded, nmse_per_layer

__all__ = ["train_layerwise", "train_unrolled", "resolve_device", "stage_dict"]

Sampler = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def train_layerwise(model: _Unfolded, sampler: Sampler, *, val_X: Any, val_Z: Any,
                    n_steps_per_stage: int = 1000, lrs: Sequence[float] = (1e-3, 2e-4, 2e-5),
                    eval_every: int = 20, patience: int = 10, min_improvement_db: float = 0.1,
                    warm_start_steps: int | None = None, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = True
                    ) -> dict[str, Any]:
    r"""Train an unfolded network layer by layer (Chen et al. 2018), in place.

    For each layer ``k = 1 … n_layers``: stage 1 trains the new layer's parameters alone at
    ``lrs[0]``, then each further stage trains all layers ``1 … k`` at ``lrs[1]``, ``lrs[2]``,
    … (Adam), on the loss ``mean ‖z_k − z‖²`` of layer ``k``'s output on fresh batches from
    ``sampler``. Tied networks train their shared weights at every stage.

    Each stage is :func:`sparsestudy.training.train_to_plateau` with the validation NMSE (dB)
    of layer ``k`` on ``(val_X, val_Z)``, evaluated every ``eval_every`` steps: it ends on a
    plateau when the best NMSE improved by less than ``min_improvement_db`` over the last
    ``patience`` evaluations (``patience * eval_every <= n_steps_per_stage / 4``), or at the
    cap of ``n_steps_per_stage`` steps; the best parameters seen are kept. With
    ``warm_start_steps``, the stages of layers ``1 … n_layers - 1`` (the warm start) instead run
    exactly that many steps without validation (``"schedule"``), and only the full-depth
    layer's stages train to a plateau. The run is deterministic given ``seed`` (one
    ``torch.Generator`` on ``device`` drives the sampler).

    Parameters
    ----------
    model : UnfoldedISTA, LISTA, LISTACP, LISTACPSS or ALISTA
    sampler : callable
        ``sampler(generator) -> (X, Z)``, e.g. :func:`sparsestudy.data.sparse_code_stream` or
        :func:`~sparsestudy.unrolled.array_sampler`.
    val_X, val_Z : arrays (n_val, n_features), (n_val, n_atoms)
    n_steps_per_stage, eval_every, patience : int >= 1
    lrs : sequence of float > 0
        One learning rate per stage of a layer.
    min_improvement_db : float >= 0
        The plateau threshold in dB (the register's 0.1 dB by default).
    warm_start_steps : int, optional
    seed : int
    device : str or torch.device
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    dict
        ``"stages"``: one :class:`~sparsestudy.training.StageReport` per stage, in order, with
        ``info = {"layer": k, "lr": lr, "warm_start": bool}`` (``stop_reason`` says why it
        stopped); ``"layer_val_db"``: the validation NMSE of layer ``k`` when its training
        ended; ``"val_nmse_db"``: the validation NMSE per layer at the end; ``"steps"``: the
        total number of steps; ``"adequate"``: whether every warm-start stage is adequate
        (plateau or schedule) and every full-depth stage ended on a plateau (amendment 6).
    """
    if not isinstance(model, _Unfolded):
        raise TypeError(f"model must be an unfolded network, got {type(model).__name__}")
    if not callable(sampler):
        raise TypeError("sampler must be callable: sampler(generator) -> (X, Z)")
    n_steps = check_int(n_steps_per_stage, "n_steps_per_stage", min_value=1)
    eval_every = check_int(eval_every, "eval_every", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    check_scalar(min_improvement_db, "min_improvement_db", min_value=0)
    if warm_start_steps is not None:
        warm_start_steps = check_int(warm_start_steps, "warm_start_steps", min_value=1)
    if patience * eval_every > n_steps / 4:
        raise ValueError(
            "patience * eval_every must be at most n_steps_per_stage / 4, got "
            f"patience={patience}, eval_every={eval_every}, n_steps_per_stage={n_steps}")
    seed = check_int(seed, "seed")
    lrs = [float(check_scalar(lr, "lrs", min_value=0, include_min=False)) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
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
    stages: list[StageReport] = []
    layer_val_db: list[float] = []

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=T * len(lrs), desc=type(model).__name__, leave=False)

    for k in range(1, T + 1):
        new = model.layer_parameters(k - 1)
        upto = list({id(p): p for j in range(k) for p in model.layer_parameters(j)}.values())
        warm = warm_start_steps is not None and k < T

        def val_db(k: int = k) -> float:
            with torch.no_grad():
                return nmse_db(model(vX, n_layers=k), vZ)

        def step(_: int, k: int = k) -> torch.Tensor:
            X, Z = sampler(gen)
            X, Z = X.to(device=device, dtype=dt), Z.to(device=device, dtype=dt)
            return (model(X, n_layers=k) - Z).pow(2).sum(dim=1).mean()

        for s, lr in enumerate(lrs):
            params = new if (s == 0 and model.untied) else upto
            if warm:
                report = train_to_plateau(params, step, None, max_steps=warm_start_steps, lr=lr)
            else:
                report = train_to_plateau(params, step, val_db, max_steps=n_steps,
                                          eval_every=eval_every, patience=patience,
                                          min_improvement=float(min_improvement_db), lr=lr)
            report.info.update(layer=k, lr=lr, warm_start=warm)
            stages.append(report)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(layer=k, stop=report.stop_reason)
        layer_val_db.append(val_db())
    if bar is not None:
        bar.close()
    final = [r for r in stages if r.info["layer"] == T]
    adequate = (all(r.adequate for r in stages)
                and all(r.stop_reason == "plateau" for r in final))
    return {"stages": stages, "layer_val_db": layer_val_db,
            "val_nmse_db": nmse_per_layer(model, vX, vZ),
            "steps": sum(r.steps for r in stages), "adequate": adequate}


# ------------------------------------------------------------------------- the fast recipe
def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; anything else as ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
                         ) from None


def stage_dict(report: StageReport) -> dict[str, Any]:
    """A :class:`~sparsestudy.training.StageReport` as plain JSON values."""
    return {"steps": int(report.steps), "stop_reason": report.stop_reason,
            "best_value": None if report.best_value is None else float(report.best_value),
            "best_step": report.best_step, "n_decays": int(report.n_decays),
            "history": [[int(s), float(v)] for s, v in report.history],
            "info": dict(report.info)}


def train_unrolled(model: _Unfolded, sampler: Sampler, *, val_X: Any, val_Z: Any,
                   warm_start_steps: int = 200, warm_lr: float = 1e-3, lr: float = 1e-3,
                   max_steps: int = 20_000, eval_every: int = 50, patience: int = 10,
                   min_improvement_db: float = 0.1, lr_decay: float = 0.3,
                   max_decays: int = 3, seed: int = 0, device: str | torch.device = "cpu",
                   progress: bool = False) -> dict[str, Any]:
    r"""Train an unfolded network in place: a short fixed layer-wise warm start, then
    end-to-end fine-tuning at full depth to a validation plateau.

    **Warm start** (a fixed schedule, no validation, ``stop_reason="schedule"``): for each
    layer ``k = 1 … n_layers``, ``warm_start_steps // 2`` Adam steps (at ``warm_lr``) on layer
    ``k``'s parameters alone, then the rest of ``warm_start_steps`` on all layers ``1 … k``, on
    the loss ``mean ‖z_k − z‖²`` of layer ``k``'s output (tied networks train their shared
    weights throughout).

    **Fine-tuning** (one :func:`~sparsestudy.training.train_to_plateau` stage): all parameters,
    the loss at full depth, Adam at ``lr``; the validation NMSE (dB, pooled) at full depth is
    evaluated every ``eval_every`` steps; on a plateau (the best NMSE improved by less than
    ``min_improvement_db`` over the last ``patience`` evaluations, amendment 6) the best
    parameters are restored and the learning rate is multiplied by ``lr_decay``, at most
    ``max_decays`` times; the next plateau ends the stage (``"plateau"``), or the cap of
    ``max_steps`` steps does (``"cap"``). The best parameters seen are kept.

    The run is deterministic given ``seed`` (one ``torch.Generator`` on ``device`` drives the
    sampler) and the model's initial parameters; nothing reads a clock.

    Parameters
    ----------
    model : UnfoldedISTA, LISTA, LISTACP, LISTACPSS or ALISTA
    sampler : callable
        ``sampler(generator) -> (X, Z)``, e.g. :func:`sparsestudy.data.sparse_code_stream`
        (its batch size is the training batch).
    val_X, val_Z : arrays (n_val, n_features), (n_val, n_atoms)
    warm_start_steps : int >= 0
        Steps per layer of the warm start (0: none).
    warm_lr, lr : float > 0
    max_steps, eval_every, patience : int >= 1
        ``patience * eval_every <= max_steps / 4``.
    min_improvement_db : float >= 0
    lr_decay : float in (0, 1)
    max_decays : int >= 0
    seed : int
    device : str or torch.device (``"auto"``: CUDA when present)
    progress : bool
        Show a tqdm bar of the fine-tuning's evaluations.

    Returns
    -------
    dict
        ``"stages"``: the :class:`~sparsestudy.training.StageReport` s (warm start: one per
        half layer, ``info = {"layer", "lr", "warm_start": True, "part"}``; then the
        fine-tuning, ``info["warm_start"] = False``); ``"curve"``: ``(step, validation NMSE
        dB at full depth)`` of the fine-tuning, steps counted from the start of the training;
        ``"warm_db"``: the validation NMSE of layer ``k`` after its warm start;
        ``"val_nmse_db"``: per layer at the end; ``"steps"``; ``"stop_reason"``: the
        fine-tuning's; ``"adequate"``: the fine-tuning ended on a plateau (amendment 6: the
        warm start is a fixed schedule).
    """
    if not isinstance(model, _Unfolded):
        raise TypeError(f"model must be an unfolded network, got {type(model).__name__}")
    if not callable(sampler):
        raise TypeError("sampler must be callable: sampler(generator) -> (X, Z)")
    warm_start_steps = check_int(warm_start_steps, "warm_start_steps", min_value=0)
    max_steps = check_int(max_steps, "max_steps", min_value=1)
    eval_every = check_int(eval_every, "eval_every", min_value=1)
    patience = check_int(patience, "patience", min_value=1)
    check_scalar(warm_lr, "warm_lr", min_value=0, include_min=False)
    check_scalar(lr, "lr", min_value=0, include_min=False)
    check_scalar(min_improvement_db, "min_improvement_db", min_value=0)
    check_scalar(lr_decay, "lr_decay", min_value=0, max_value=1, include_min=False,
                 include_max=False)
    max_decays = check_int(max_decays, "max_decays", min_value=0)
    seed = check_int(seed, "seed", min_value=0)
    if patience * eval_every > max_steps / 4:
        raise ValueError(
            "patience * eval_every must be at most max_steps / 4, got "
            f"patience={patience}, eval_every={eval_every}, max_steps={max_steps}")
    device = resolve_device(device)
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

    def loss_at(k: int) -> Callable[[int], torch.Tensor]:
        def step(_: int) -> torch.Tensor:
            X, Z = sampler(gen)
            X, Z = X.to(device=device, dtype=dt), Z.to(device=device, dtype=dt)
            return (model(X, n_layers=k) - Z).pow(2).sum(dim=1).mean()
        return step

    def val_db(k: int = T) -> float:
        with torch.no_grad():
            return nmse_db(model(vX, n_layers=k), vZ)

    stages: list[StageReport] = []
    warm_db: list[float] = []
    done = 0
    if warm_start_steps:
        first, second = warm_start_steps // 2, warm_start_steps - warm_start_steps // 2
        for k in range(1, T + 1):
            new = model.layer_parameters(k - 1)
            upto = list({id(p): p for j in range(k) for p in model.layer_parameters(j)}
                        .values())
            parts = [("new", new if model.untied else upto, first), ("all", upto, second)]
            for part, params, n in parts:
                if n == 0:
                    continue
                report = train_to_plateau(params, loss_at(k), None, max_steps=n, lr=warm_lr)
                report.info.update(layer=k, lr=warm_lr, warm_start=True, part=part)
                stages.append(report)
                done += n
            warm_db.append(val_db(k))

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=max_steps, desc=type(model).__name__, leave=False)

    def tick(step: int, value: float) -> None:
        if bar is not None:
            bar.n = step
            bar.set_postfix(nmse_db=f"{value:.1f}")
            bar.refresh()

    params = list(dict.fromkeys(p for p in model.parameters() if p.requires_grad))
    report = train_to_plateau(params, loss_at(T), val_db, max_steps=max_steps,
                              eval_every=eval_every, patience=patience,
                              min_improvement=float(min_improvement_db), lr=lr,
                              lr_decay=lr_decay, max_decays=max_decays, restore_best=True,
                              callback=tick)
    if bar is not None:
        bar.close()
    report.info.update(layer=T, lr=lr, warm_start=False, part="fine-tune")
    stages.append(report)
    curve = [(done + s, v) for s, v in report.history]
    return {"stages": stages, "curve": curve, "warm_db": warm_db,
            "val_nmse_db": nmse_per_layer(model, vX, vZ),
            "steps": done + report.steps, "stop_reason": report.stop_reason,
            "adequate": report.stop_reason == "plateau"}

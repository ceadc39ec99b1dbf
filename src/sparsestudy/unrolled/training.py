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

__all__ = ["train_layerwise"]

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

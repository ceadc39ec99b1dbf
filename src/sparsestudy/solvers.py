r"""Sparse-coding solvers, batched over samples and computed in torch.

``omp`` and ``lasso`` have a second implementation of the same algorithm for the CPU, their
default there: compiled per-signal loops on the Gram matrix (:mod:`sparsestudy._compiled`,
numba), which avoid the cost of many small tensor operations per step; ``backend="torch"``
selects the batched torch path (the default on a GPU).

Conventions (scikit-learn's): signals ``X`` are ``(n_samples, n_features)``, the dictionary
``D`` is ``(n_atoms, n_features)`` (one atom per row) and codes ``Z`` are
``(n_samples, n_atoms)``, so that ``X ≈ Z @ D``. The lasso objective, per sample, is

.. math:: F(z) = \tfrac12 \|x - zD\|_2^2 + \alpha \|z\|_1 \;(+\, \iota(z \ge 0) \text{ if nonneg}).

Every iteration here is written once, in "network form": with :math:`L` the largest eigenvalue
of :math:`DD^\top`, :math:`W = D^\top / L`, :math:`S = I - DD^\top / L`, one ISTA step is

.. math:: z^{k+1} = \operatorname{prox}_{\theta}(x W + z^k S), \qquad \theta = \alpha / L,

which is exactly a layer of the unfolded network (LISTA) when :math:`W, S, \theta` are learned.
:func:`ista_step` and :func:`iht_step` are that definition (in :mod:`sparsestudy.steps`,
re-exported here); the solvers and ``sparsestudy.unrolled`` both call them. ISTA, FISTA and IHT
run one loop, which calls a ``callback(k, codes)`` after every iterate (as benchopt records
iterates): ``history=True``, the stopping rules and :func:`nmse_curve` are such callbacks.

Stopping rules (``tol``):

* ``ista``, ``fista``: the relative duality gap ``(F(z) - D(θ)) / F(z)`` of every sample is at
  most ``tol`` (``θ`` is the residual rescaled to be dual feasible), checked every
  ``check_every`` iterations and at the last one. ``F(z) - F(z*) <= gap``, so ``tol`` certifies
  the objective's relative accuracy. ``tol=0`` runs exactly ``max_iter`` iterations.
* ``iht``: the relative change ``||z^{k+1} - z^k|| / ||z^k||`` of every sample is at most ``tol``.
* ``lasso`` (homotopy path): exact up to rounding; afterwards every sample's relative duality
  gap (as above) is computed, and samples above ``tol`` are finished by FISTA, so ``gap <= tol``
  certifies the result in the same sense.
* ``omp``: ``n_nonzero`` atoms per sample, or fewer where the squared residual norm falls to
  ``tol`` (scikit-learn's meaning) or the residual is orthogonal to every atom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import _compiled
from ._arrays import as_tensor, check_int, check_scalar, common_dtype, is_numpy_like, restore
from .metrics import nmse_db
from .steps import iht_step, ista_step, lipschitz_constant, network_weights


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    codes : array (n_samples, n_atoms)
        NumPy if the input ``X`` was NumPy, else a torch tensor.
    n_iter : int
        Iterations run (OMP: atoms selected for the longest support).
    converged : bool
        Whether the stopping rule was met for every sample before ``max_iter``.
    gap : array (n_samples,) or None
        ISTA / FISTA: the final relative duality gap of each sample.
    history : dict or None
        With ``history=True``: ``"objective"`` and ``"n_nonzero"``, arrays of shape
        ``(n_iter + 1, n_samples)`` (row 0 is the starting point).
    """

    codes: Any
    n_iter: int
    converged: bool
    gap: Any = None
    history: dict[str, np.ndarray] | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------------- validation
def _prepare(X: Any, D: Any, device: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    numpy_in = is_numpy_like(X)
    Xt = as_tensor(X, "X", ndim=2, device=device)
    Dt = as_tensor(D, "D", ndim=2, device=device if device is not None else Xt.device)
    if Dt.device != Xt.device:
        raise ValueError(f"X is on {Xt.device} but D is on {Dt.device}; pass device=")
    if Xt.shape[1] != Dt.shape[1]:
        raise ValueError(
            f"X has {Xt.shape[1]} features but D has {Dt.shape[1]} "
            "(D must be (n_atoms, n_features))"
        )
    if Dt.shape[0] == 0:
        raise ValueError("D must have at least one atom")
    if not bool(Dt.abs().sum(dim=1).gt(0).all()):
        raise ValueError("D has an all-zero atom")
    dt = common_dtype(Xt, Dt)
    return Xt.to(dt), Dt.to(dt), numpy_in


def lasso_objective(X: Any, D: Any, codes: Any, alpha: float) -> Any:
    r"""Per-sample lasso objective :math:`\frac12\|x - zD\|^2 + \alpha\|z\|_1`."""
    Xt, Dt, numpy_in = _prepare(X, D, None)
    Zt = as_tensor(codes, "codes", ndim=2, dtype=Xt.dtype, device=Xt.device)
    check_scalar(alpha, "alpha", min_value=0)
    return restore(_objective(Xt, Dt, Zt, alpha), numpy_in)


def _objective(X: torch.Tensor, D: torch.Tensor, Z: torch.Tensor, alpha: float) -> torch.Tensor:
    r = X - Z @ D
    return 0.5 * (r * r).sum(dim=1) + alpha * Z.abs().sum(dim=1)


def _relative_gap(X: torch.Tensor, D: torch.Tensor, Z: torch.Tensor, alpha: float,
                  nonneg: bool) -> torch.Tensor:
    """Relative duality gap per sample, with the dual point the rescaled residual."""
    r = torch.addmm(X, Z, D, alpha=-1.0)
    rr = torch.linalg.vector_norm(r, dim=1) ** 2
    primal = 0.5 * rr + alpha * torch.linalg.vector_norm(Z, ord=1, dim=1)
    c = r @ D.T
    cmax = (c.amax(dim=1).clamp_min(0) if nonneg
            else torch.linalg.vector_norm(c, ord=float("inf"), dim=1))
    tiny = torch.finfo(X.dtype).tiny
    scale = torch.where(cmax > alpha, alpha / cmax.clamp_min(tiny), torch.ones_like(cmax))
    # the dual point theta = scale * r: <theta, x> - |theta|^2 / 2
    dual = scale * (r * X).sum(dim=1) - 0.5 * scale * scale * rr
    gap = (primal - dual).clamp_min(0)
    return gap / primal.clamp_min(tiny)


def _chunks(n: int, batch_size: int | None, device: torch.device) -> list[slice]:
    """Slices of at most ``batch_size`` samples: 512 on the CPU (a chunk stays in cache),
    everything at once on a GPU, unless given."""
    if batch_size is None:
        batch_size = 512 if device.type == "cpu" else max(1, n)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    return [slice(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]


def _check_common(alpha: Any, max_iter: Any, tol: Any) -> tuple[float, int, float]:
    check_scalar(alpha, "alpha", min_value=0)
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    check_scalar(tol, "tol", min_value=0)
    return float(alpha), max_iter, float(tol)


_BACKENDS = ("auto", "compiled", "torch")
_NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64}


def _use_compiled(backend: Any, X: torch.Tensor) -> bool:
    """Whether to run the compiled per-signal kernel (CPU) rather than the batched torch path."""
    if not isinstance(backend, str) or backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if backend == "compiled" and X.device.type != "cpu":
        raise ValueError(f"backend='compiled' runs on the CPU, but X is on {X.device}")
    return backend == "compiled" or (backend == "auto" and X.device.type == "cpu")


# ------------------------------------------------------------ the proximal-gradient loop
Callback = Callable[[int, Any], Any]


def _iterate(step: Callable[[torch.Tensor | None], torch.Tensor], z0: torch.Tensor,
             max_iter: int, *, accelerated: bool = False, callbacks: Sequence[Callback] = (),
             from_zero: bool = True) -> tuple[torch.Tensor, int]:
    r"""The proximal-gradient loop, written once (unchecked kernel).

    ``step(y)`` is one step from the point ``y`` (``None``: the zero code). Without
    acceleration the next point is the new iterate (ISTA, IHT); with ``accelerated`` it is
    FISTA's extrapolation :math:`y = z_k + \frac{t_{k-1} - 1}{t_k}(z_k - z_{k-1})`. Every
    callback is called as ``cb(0, z0)`` and then ``cb(k, z_k)`` after iteration ``k``; the loop
    stops after the iterate where one of them returns ``False`` (all of them are called).
    ``from_zero`` says that ``z0`` is the zero code (the first step is then ``step(None)``).
    Returns the last iterate and the number of iterations run.
    """
    z, y, t = z0, (None if from_zero else z0), 1.0
    for cb in callbacks:
        cb(0, z)
    k = 0
    for k in range(1, max_iter + 1):
        z_new = step(y)
        if accelerated:
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            y = z_new + ((t - 1.0) / t_new) * (z_new - z)
            t = t_new
        else:
            y = z_new
        z = z_new
        if any([cb(k, z) is False for cb in callbacks]):     # a list: every callback runs
            break
    return z, k


class _History:
    """Callback recording the objective (``alpha`` times the L1 norm added, 0 for IHT's
    squared error) and the number of nonzeros of every iterate."""

    def __init__(self, X: torch.Tensor, D: torch.Tensor, alpha: float) -> None:
        self.X, self.D, self.alpha = X, D, alpha
        self.objective: list[torch.Tensor] = []
        self.n_nonzero: list[torch.Tensor] = []

    def __call__(self, k: int, z: torch.Tensor) -> None:
        self.objective.append(_objective(self.X, self.D, z, self.alpha))
        self.n_nonzero.append((z != 0).sum(dim=1))

    def result(self) -> dict[str, np.ndarray]:
        return {"objective": torch.stack(self.objective).cpu().numpy(),
                "n_nonzero": torch.stack(self.n_nonzero).cpu().numpy()}


def _user_callback(callback: Any, numpy_in: bool) -> Callback | None:
    """The public ``callback(k, codes)``, given codes of the caller's kind (NumPy views of the
    iterates for NumPy input: read them, do not keep or modify them in place)."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable as callback(k, codes), got "
                        f"{type(callback).__name__}")
    return lambda k, z: callback(k, restore(z, numpy_in))


def _check_init(init: Any, Xt: torch.Tensor, Dt: torch.Tensor) -> torch.Tensor | None:
    """The public ``init=`` (a warm start): codes of shape ``(n_samples, n_atoms)``, any
    array kind, cast to ``X``'s dtype and device."""
    if init is None:
        return None
    z0 = as_tensor(init, "init", ndim=2).detach().to(dtype=Xt.dtype, device=Xt.device)
    if tuple(z0.shape) != (Xt.shape[0], Dt.shape[0]):
        raise ValueError(f"init must be codes of shape (n_samples, n_atoms) = "
                         f"({Xt.shape[0]}, {Dt.shape[0]}), got {tuple(z0.shape)}")
    return z0.clone()


def _proximal_gradient(X, D, alpha, *, nonneg, max_iter, tol, check_every, history,
                       device, accelerated, init=None, callback=None) -> SolverResult:
    alpha, max_iter, tol = _check_common(alpha, max_iter, tol)
    check_every = check_int(check_every, "check_every", min_value=1)
    if not isinstance(nonneg, bool):
        raise TypeError(f"nonneg must be a bool, got {type(nonneg).__name__}")
    Xt, Dt, numpy_in = _prepare(X, D, device)
    init = _check_init(init, Xt, Dt)
    user = _user_callback(callback, numpy_in)
    W, S, L = network_weights(Dt)
    b = Xt @ W
    theta = alpha / L
    if init is None:
        z0 = torch.zeros(Xt.shape[0], Dt.shape[0], dtype=Xt.dtype, device=Xt.device)
    else:                                                # warm start (init=, lasso polish)
        z0 = init
    state: dict[str, Any] = {"converged": False, "gap": None, "k": -1}

    def check_gap(k: int, z: torch.Tensor) -> bool:
        if tol > 0 and k > 0 and (k % check_every == 0 or k == max_iter):
            state["gap"], state["k"] = _relative_gap(Xt, Dt, z, alpha, nonneg), k
            if bool((state["gap"] <= tol).all()):
                state["converged"] = True
                return False
        return True

    record = _History(Xt, Dt, alpha) if history else None
    callbacks = [cb for cb in (record, user) if cb is not None] + [check_gap]
    z, k = _iterate(lambda y: ista_step(y, b, S, theta, nonneg), z0, max_iter,
                    accelerated=accelerated, callbacks=callbacks, from_zero=init is None)
    gap = state["gap"] if state["k"] == k else _relative_gap(Xt, Dt, z, alpha, nonneg)
    hist = record.result() if history else None
    return SolverResult(restore(z, numpy_in), k, state["converged"], restore(gap, numpy_in),
                        hist)


def ista(X: Any, D: Any, alpha: float, *, nonneg: bool = False, max_iter: int = 1000,
         tol: float = 1e-6, check_every: int = 10, history: bool = False,
         callback: Callback | None = None, device: Any = None,
         init: Any = None) -> SolverResult:
    r"""Iterative shrinkage-thresholding (ISTA) for the lasso, batched over samples.

    Starts from zero codes (or from ``init``) with step :math:`1/L`;
    ``ista(X, D, alpha, max_iter=1, tol=0)`` is exactly one step,
    :math:`\operatorname{prox}_{\alpha/L}(X D^\top / L)`.

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
        The dictionary, one atom per row.
    alpha : float >= 0
        Weight of the L1 penalty.
    nonneg : bool
        Constrain codes to be non-negative (the prox becomes ``relu(v - alpha/L)``).
    max_iter : int >= 1
    tol : float >= 0
        Stop when every sample's relative duality gap is at most ``tol`` (see module docs).
    check_every : int
        How often the duality gap is evaluated.
    history : bool
        Record the objective and the number of nonzeros of every iterate.
    callback : callable, optional
        ``callback(k, codes)`` is called with the starting point (``k = 0``) and after every
        iteration ``k`` with its iterate (NumPy for NumPy input, else a tensor; do not modify
        it in place); returning ``False`` stops the solver after that iterate (then
        ``converged`` is False unless the stopping rule was met at the same iterate).
    device : str or torch.device, optional
        Where to compute (default: where ``X`` lives; NumPy input computes on the CPU).
    init : array (n_samples, n_atoms), optional
        Warm start: the first iterate (e.g. the solution at a nearby ``alpha``, for
        continuation along a penalty path). ``ista(init=ista(max_iter=k, tol=0).codes,
        max_iter=m, tol=0)`` runs the iterates ``k + 1, ..., k + m`` of the cold start. With
        ``nonneg``, give non-negative codes.

    Returns
    -------
    SolverResult
    """
    return _proximal_gradient(X, D, alpha, nonneg=nonneg, max_iter=max_iter, tol=tol,
                              check_every=check_every, history=history, device=device,
                              accelerated=False, callback=callback, init=init)


def fista(X: Any, D: Any, alpha: float, *, nonneg: bool = False, max_iter: int = 1000,
          tol: float = 1e-6, check_every: int = 10, history: bool = False,
          callback: Callback | None = None, device: Any = None,
          init: Any = None) -> SolverResult:
    """FISTA (Beck & Teboulle 2009): ISTA's step at an extrapolated point. Same arguments and
    stopping rule as :func:`ista` (``callback`` sees the iterates, not the extrapolated
    points); one iteration from zero equals one ISTA step. ``init`` warm-starts it (the
    momentum restarts there: the first extrapolated point is ``init`` itself)."""
    return _proximal_gradient(X, D, alpha, nonneg=nonneg, max_iter=max_iter, tol=tol,
                              check_every=check_every, history=history, device=device,
                              accelerated=True, callback=callback, init=init)


def nmse_curve(X: Any, D: Any, alpha: float, Z: Any, n_iter: int, *,
               accelerated: bool = False, nonneg: bool = False) -> np.ndarray:
    r"""NMSE (dB, over the batch) to reference codes ``Z`` of ISTA's (with ``accelerated``,
    FISTA's) iterates after each of ``n_iter`` iterations from zero.

    The iterates are those of :func:`ista` / :func:`fista` with ``tol=0``, recorded by a
    callback in one pass; the NMSE is :func:`sparsestudy.metrics.nmse_db`,
    :math:`10\log_{10}(\sum\|z_k - z\|^2 / \sum\|z\|^2)`.

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
    alpha : float >= 0
    Z : array (n_samples, n_atoms)
        Reference codes (e.g. the true codes of a synthetic problem).
    n_iter : int >= 1
    accelerated, nonneg : bool

    Returns
    -------
    ndarray (n_iter,)
    """
    Xt, Dt, _ = _prepare(X, D, None)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=Xt.dtype, device=Xt.device)
    if Zt.shape != (Xt.shape[0], Dt.shape[0]):
        raise ValueError(f"shapes do not match: X {tuple(Xt.shape)}, D {tuple(Dt.shape)}, "
                         f"Z {tuple(Zt.shape)} (Z must be (n_samples, n_atoms))")
    n_iter = check_int(n_iter, "n_iter", min_value=1)
    out = np.empty(n_iter)

    def record(k: int, z: torch.Tensor) -> None:
        if k:
            out[k - 1] = nmse_db(z, Zt)

    with torch.no_grad():
        _proximal_gradient(Xt.detach(), Dt.detach(), alpha, nonneg=nonneg, max_iter=n_iter,
                           tol=0.0, check_every=1, history=False, device=None,
                           accelerated=accelerated, callback=record)
    return out


# ---------------------------------------------------------------------------- lasso by homotopy
def lasso(X: Any, D: Any, alpha: float, *, nonneg: bool = False, max_iter: int = 500,
          tol: float = 1e-6, batch_size: int | None = None, device: Any = None,
          backend: str = "auto") -> SolverResult:
    r"""The lasso by the homotopy (LARS-lasso) path, batched over samples; certified by its gap.

    Minimises the same per-sample objective as :func:`ista`,
    :math:`\tfrac12\|x - zD\|^2 + \alpha\|z\|_1` (with ``nonneg``, over :math:`z \ge 0`), by
    following the piecewise-linear solution path from :math:`\lambda = \max_j |d_j x|` (where
    :math:`z = 0`) down to :math:`\lambda = \alpha` (Osborne, Presnell & Turlach 2000; Efron
    et al. 2004, with the lasso's drop rule). Each step moves every sample's active codes along
    the equiangular direction (one small batched Cholesky solve on the active atoms' Gram
    matrix, one matrix product for the correlations) until an atom joins, a code crosses zero or
    :math:`\lambda` reaches ``alpha``. The path is exact, so a sample needs about as many steps
    as it has nonzeros; this is the algorithm of SPAMS' ``lasso`` and scikit-learn's
    ``lars_path``. Two implementations of the same path: on the CPU (``backend="auto"`` or
    ``"compiled"``) each signal follows it in compiled code on the Gram matrix ``D D^T``
    (growing the active set's Cholesky factor by one row per join), signals spread over
    ``torch.get_num_threads()`` threads; ``backend="torch"`` (the default off the CPU) moves all
    samples of a chunk one step per batched tensor operation.

    Stopping rule (``tol``): the path ends at ``alpha`` for every sample (or after ``max_iter``
    steps); then the relative duality gap of each sample is computed exactly as in
    :func:`ista`. Samples whose gap exceeds ``tol`` (rounding on ill-conditioned supports, or a
    path cut by ``max_iter``) are finished by FISTA from the path's point until the gap is at
    most ``tol`` (at most 20,000 iterations). ``gap`` certifies
    ``(F(z) - F(z*)) / F(z) <= gap`` per sample; ``converged`` says every gap is at most
    ``tol``; ``n_iter`` counts path steps (plus FISTA iterations, if any).

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
    alpha : float >= 0
        Weight of the L1 penalty. ``alpha = 0`` is allowed but the path then ends at a
        least-squares fit, at most ``min(n_atoms, n_features)`` atoms.
    nonneg : bool
        Constrain codes to be non-negative (positive LARS-lasso).
    max_iter : int >= 1
        Maximum path steps (events) per sample.
    tol : float >= 0
        Relative duality gap to certify.
    batch_size : int, optional
        Samples per chunk. Compiled: at most this many signals per task (each task's
        product ``X D^T`` is computed by the thread that codes it); default
        ``max(16, 65536 // n_atoms)``. Torch: 512 on the CPU, all samples on a GPU.
    device : str or torch.device, optional
    backend : {"auto", "compiled", "torch"}
        ``"auto"``: compiled on the CPU, torch elsewhere.
    """
    alpha, max_iter, tol = _check_common(alpha, max_iter, tol)
    if not isinstance(nonneg, bool):
        raise TypeError(f"nonneg must be a bool, got {type(nonneg).__name__}")
    Xt, Dt, numpy_in = _prepare(X, D, device)
    Xt, Dt = Xt.detach(), Dt.detach()                  # a path is not differentiable
    n, a = Xt.shape[0], Dt.shape[0]
    Dt = Dt.contiguous()
    n_iter = 0
    gap = None
    if _use_compiled(backend, Xt):
        Xt = Xt.contiguous()
        Zn, steps, gap_n, err_n = _compiled.lasso_codes(Xt, Dt, alpha, nonneg, max_iter,
                                                        batch_size, torch.get_num_threads())
        codes = torch.from_numpy(Zn)
        n_iter = int(steps.max(initial=0))
        # the gap from the inner products; where its rounding bound leaves doubt (or it is
        # not finite), recompute it from X, D and the codes
        gap = torch.from_numpy(gap_n).to(Xt.dtype)
        doubt = np.flatnonzero(~(gap_n + err_n <= tol * 0.5))
        if doubt.size:
            rows = torch.from_numpy(doubt)
            gap[rows] = _relative_gap(Xt[rows], Dt, codes[rows], alpha, nonneg)
    else:
        codes = torch.zeros(n, a, dtype=Xt.dtype, device=Xt.device)
        DT = Dt.T.contiguous()
        for sl in _chunks(n, batch_size, Xt.device):
            z, it = _lars_chunk(Xt[sl], Dt, DT, alpha, nonneg, max_iter)
            codes[sl] = z
            n_iter = max(n_iter, it)
    if gap is None:
        gap = _relative_gap(Xt, Dt, codes, alpha, nonneg)
    bad = (~(gap <= tol)).nonzero().squeeze(1)          # NaN counts as uncertified
    if bad.numel():
        # finish the few uncertified samples by FISTA, warm-started at the path's point (or at
        # zero where a singular active set left non-finite codes)
        init = codes[bad]
        init = torch.where(torch.isfinite(init).all(dim=1, keepdim=True), init,
                           torch.zeros_like(init))
        res = _proximal_gradient(Xt[bad], Dt, alpha, nonneg=nonneg, max_iter=_POLISH_ITER,
                                 tol=tol, check_every=10, history=False, device=None,
                                 accelerated=True, init=init)
        codes[bad] = res.codes
        gap[bad] = res.gap
        n_iter += res.n_iter
    return SolverResult(restore(codes, numpy_in), n_iter, bool((gap <= tol).all()),
                        restore(gap, numpy_in))


_POLISH_ITER = 20_000  # FISTA iterations at most for the samples the path leaves uncertified


def _lars_chunk(X: torch.Tensor, D: torch.Tensor, DT: torch.Tensor, alpha: float,
                nonneg: bool, max_iter: int) -> tuple[torch.Tensor, int]:
    """The LARS-lasso path from ``lambda = max|c|`` down to ``alpha`` for one chunk of samples.

    Slot ``s`` of a sample holds the atom that joined at step ``s``, or nothing (``used``
    false) when the sample's event at that step was not a join or the atom dropped out. The
    active Gram matrix is padded with the identity on unused slots, so one batched Cholesky
    serves every sample. Finished samples are written out and removed from the working arrays
    once they are half of them, so the long paths of a few samples cost only their own rows.
    """
    n, f = X.shape
    a = D.shape[0]
    dt, dev = X.dtype, X.device
    eps = torch.finfo(dt).eps
    inf = torch.tensor(float("inf"), dtype=dt, device=dev)
    out = torch.zeros(n, a, dtype=dt, device=dev)
    live = torch.arange(n, device=dev)                   # chunk rows still in the arrays
    r = X.clone()                                        # residual x - zD
    c = torch.mm(r, DT)                                  # its correlations with the atoms
    lam = (c if nonneg else c.abs()).amax(dim=1)         # lambda: |c| on the active set
    done = lam <= alpha
    cap = min(16, max_iter + 1)
    idx = torch.zeros(n, cap, dtype=torch.long, device=dev)
    used = torch.zeros(n, cap, dtype=torch.bool, device=dev)
    sign = torch.zeros(n, cap, dtype=dt, device=dev)
    coef = torch.zeros(n, cap, dtype=dt, device=dev)
    Dsel = torch.zeros(n, cap, f, dtype=dt, device=dev)
    inset = torch.zeros(n, a, dtype=torch.bool, device=dev)   # atom is active

    def write_out(rows_done: torch.Tensor, K: int) -> None:
        z = torch.zeros(rows_done.numel(), a, dtype=dt, device=dev)
        z.scatter_add_(1, idx[rows_done, :K], coef[rows_done, :K] * used[rows_done, :K].to(dt))
        out[live[rows_done]] = z

    # the first atom: the most correlated one
    j = (c if nonneg else c.abs()).argmax(dim=1)
    rows = torch.arange(n, device=dev)
    steps, K = 0, 1
    for step in range(max_iter + 1):
        # atom j joins slot `step` for the samples in `joined` (all live ones at step 0)
        joined = ~done if step == 0 else joined
        if step == cap:                                  # grow the slot arrays
            grow = cap
            idx = torch.cat([idx, torch.zeros_like(idx[:, :grow])], 1)
            used = torch.cat([used, torch.zeros_like(used[:, :grow])], 1)
            sign = torch.cat([sign, torch.zeros_like(sign[:, :grow])], 1)
            coef = torch.cat([coef, torch.zeros_like(coef[:, :grow])], 1)
            Dsel = torch.cat([Dsel, torch.zeros_like(Dsel[:, :grow])], 1)
            cap += grow
        if step == max_iter:
            break
        jf = joined.to(dt)
        idx[:, step] = j
        used[:, step] = joined
        sign[:, step] = torch.sign(c.gather(1, j[:, None]).squeeze(1)) * jf
        Dsel[:, step] = D.index_select(0, j) * jf[:, None]
        inset[rows[joined], j[joined]] = True
        K = step + 1
        # drop finished samples from the working arrays once they are half of them
        n_done = int(done.sum())
        if n_done and 2 * n_done >= done.numel():
            write_out(done.nonzero().squeeze(1), K)
            keep = (~done).nonzero().squeeze(1)
            live, r, c, lam, done = live[keep], r[keep], c[keep], lam[keep], done[keep]
            idx, used, sign, coef = idx[keep], used[keep], sign[keep], coef[keep]
            Dsel, inset = Dsel[keep], inset[keep]
            rows = torch.arange(live.numel(), device=dev)
        if not live.numel():
            break
        # the equiangular direction: G u = sign on the active atoms
        usedf = used[:, :K].to(dt)
        Dk = Dsel[:, :K]
        G = torch.bmm(Dk, Dk.transpose(1, 2))
        G.diagonal(dim1=1, dim2=2).add_(1.0 - usedf)      # identity on unused slots
        u = torch.cholesky_solve(sign[:, :K, None], torch.linalg.cholesky_ex(G)[0]).squeeze(-1)
        v = torch.bmm(u[:, None, :], Dk).squeeze(1)        # direction of the fit, (n, f)
        av = torch.mm(v, DT)                               # its correlations, (n, a)
        # lambda falls at unit rate; an atom joins when its correlation reaches +-lambda
        tiny = (eps * 100) * lam.clamp_min(1.0)[:, None]
        g_join = (lam[:, None] - c) / (1.0 - av)
        g_join = torch.where(g_join > tiny, g_join, inf)
        if not nonneg:
            g_minus = (lam[:, None] + c) / (1.0 + av)
            torch.minimum(g_join, torch.where(g_minus > tiny, g_minus, inf), out=g_join)
        g_join.masked_fill_(inset, float("inf"))
        gj, j = g_join.min(dim=1)
        # an active code crosses zero: it drops out (the lasso modification of LARS)
        g_drop = -coef[:, :K] / u
        g_drop = torch.where(used[:, :K] & (g_drop > 0), g_drop, inf)
        gd, dd = g_drop.min(dim=1)
        g_end = (lam - alpha).clamp_min(0)
        gamma = torch.minimum(torch.minimum(gj, gd), g_end)
        gamma = torch.where(done, torch.zeros_like(gamma), gamma)
        coef[:, :K] += gamma[:, None] * u * usedf
        r.addcmul_(v, gamma[:, None], value=-1.0)
        c.addcmul_(av, gamma[:, None], value=-1.0)
        lam = lam - gamma
        steps = step + 1
        ended = ~done & (g_end <= torch.minimum(gj, gd))
        dropped = ~done & ~ended & (gd <= gj)
        joined = ~done & ~ended & ~dropped
        if bool(dropped.any()):
            who = rows[dropped]
            slot = dd[dropped]
            coef[who, slot] = 0.0
            used[who, slot] = False
            sign[who, slot] = 0.0
            Dsel[who, slot] = 0.0
            inset[who, idx[who, slot]] = False
        done = done | ended
        if bool(done.all()):
            break
    if live.numel():
        write_out(rows, K)
    return out, steps


# ------------------------------------------------------------------------------------------ IHT
def iht(X: Any, D: Any, *, thresh: float | None = None, n_nonzero: int | None = None,
        max_iter: int = 1000, tol: float = 1e-6, history: bool = False,
        callback: Callback | None = None, device: Any = None,
        init: Any = None) -> SolverResult:
    r"""Iterative hard thresholding, batched over samples, from zero codes (or from ``init``)
    with step :math:`1/L`.

    Give exactly one of:

    * ``thresh``: the penalised form, :math:`z \leftarrow H_{t}(z - \nabla/L)` with the hard
      threshold at ``t = thresh``; this minimises (locally)
      :math:`\frac12\|x - zD\|^2 + \lambda\|z\|_0` with :math:`\lambda = L t^2 / 2`.
    * ``n_nonzero``: the constrained form (Blumensath & Davies), projecting onto
      ``n_nonzero``-sparse codes at each step.

    Stops when every sample's relative change is at most ``tol``. ``history`` records
    ``"objective"`` (the squared-error term ½‖x − zD‖²) and ``"n_nonzero"``; ``callback`` is
    called as in :func:`ista`. ``init`` (codes, ``(n_samples, n_atoms)``) warm-starts it as
    in :func:`ista`: the first step is taken from ``init``.
    """
    if (thresh is None) == (n_nonzero is None):
        raise ValueError("give exactly one of thresh and n_nonzero")
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    check_scalar(tol, "tol", min_value=0)
    Xt, Dt, numpy_in = _prepare(X, D, device)
    if thresh is not None:
        check_scalar(thresh, "thresh", min_value=0)
    else:
        n_nonzero = check_int(n_nonzero, "n_nonzero", min_value=1, max_value=Dt.shape[0])
    user = _user_callback(callback, numpy_in)
    W, S, _ = network_weights(Dt)
    b = Xt @ W
    z0 = _check_init(init, Xt, Dt)
    if z0 is None:
        z0 = torch.zeros(Xt.shape[0], Dt.shape[0], dtype=Xt.dtype, device=Xt.device)
    tiny = torch.finfo(Xt.dtype).tiny
    state = {"previous": z0, "converged": False}

    def check_change(k: int, z: torch.Tensor) -> bool:
        prev, state["previous"] = state["previous"], z
        if k > 1:
            change = (z - prev).norm(dim=1) / prev.norm(dim=1).clamp_min(tiny)
            if bool((change <= tol).all()):
                state["converged"] = True
                return False
        return True

    record = _History(Xt, Dt, 0.0) if history else None
    callbacks = [cb for cb in (record, user) if cb is not None] + [check_change]
    z, k = _iterate(lambda y: iht_step(y, b, S, thresh=thresh, n_nonzero=n_nonzero), z0,
                    max_iter, callbacks=callbacks, from_zero=init is None)
    hist = record.result() if history else None
    return SolverResult(restore(z, numpy_in), k, state["converged"], None, hist)


# ------------------------------------------------------------------------------------------ OMP
def omp(X: Any, D: Any, n_nonzero: int | None = None, *, tol: float | None = None,
        batch_size: int | None = None, device: Any = None,
        backend: str = "auto") -> SolverResult:
    r"""Orthogonal matching pursuit, batched over samples.

    At each step every sample picks the atom most correlated with its residual, then its codes
    are the least-squares fit on the atoms picked so far. Two implementations of that sequence:

    * ``backend="compiled"`` (the default on the CPU): Batch-OMP (Rubinstein, Zibulevsky &
      Elad 2008), each signal in compiled code on the Gram matrix ``D D^T`` and its
      correlations ``X D^T`` only, with the selected atoms' Cholesky factor grown by one row
      per step (scikit-learn's ``orthogonal_mp(precompute=True)`` algorithm); signals are
      spread over ``torch.get_num_threads()`` threads.
    * ``backend="torch"`` (the default on a GPU): batched over samples. The fit is kept as a
    QR factorisation of the selected atoms, grown by one modified Gram-Schmidt step per selection (the
    orthonormalised atom updates the residual, one matrix product gives every sample's new
    correlations); the codes come from one batched triangular solve at the end. This is the
    same sequence of least-squares fits as the Cholesky form of Batch-OMP (Rubinstein,
    Zibulevsky & Elad 2008) and scikit-learn's ``orthogonal_mp``, computed for all samples at
    once; nothing loops over samples in Python.

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
        Atoms as rows; standard OMP assumes unit-norm atoms (selection uses raw correlations,
        as scikit-learn's ``orthogonal_mp`` does).
    n_nonzero : int, optional
        Atoms per sample, ``1 <= n_nonzero <= min(n_atoms, n_features)``. Default: that
        maximum when ``tol`` is given, else ``max(1, n_features // 10)`` like scikit-learn.
    tol : float, optional
        Stop a sample once its squared residual norm is at most ``tol``.
    batch_size : int, optional
        Samples per chunk. Compiled: at most this many signals per task (each task's
        product ``X D^T`` is computed by the thread that codes it); default
        ``max(16, 65536 // n_atoms)``. Torch (memory about
        ``batch_size * (n_nonzero * n_features + n_atoms)``): 512 on the CPU (the chunk stays
        in cache), all samples on a GPU.
    device : str or torch.device, optional
        Where to compute (default: where ``X`` lives).
    backend : {"auto", "compiled", "torch"}
        ``"auto"``: compiled on the CPU, torch elsewhere. Both give the same supports (up to
        ties) and codes to rounding.
    """
    Xt, Dt, numpy_in = _prepare(X, D, device)
    Xt, Dt = Xt.detach(), Dt.detach()                  # a greedy selection is not differentiable
    n, f = Xt.shape
    a = Dt.shape[0]
    kmax = min(a, f)
    if tol is not None:
        check_scalar(tol, "tol", min_value=0)
    if n_nonzero is None:
        n_nonzero = kmax if tol is not None else max(1, f // 10)
    n_nonzero = check_int(n_nonzero, "n_nonzero", min_value=1, max_value=kmax)
    if _use_compiled(backend, Xt):
        return _omp_compiled(Xt.contiguous(), Dt.contiguous(), n_nonzero, tol, batch_size,
                             numpy_in)
    chunks = _chunks(n, batch_size, Xt.device)
    Dt = Dt.contiguous()
    DT = Dt.T.contiguous()
    codes = torch.zeros(n, a, dtype=Xt.dtype, device=Xt.device)
    n_iter, all_met = 0, True
    for sl in chunks:
        idx, gamma, it, met = _omp_chunk(Xt[sl], Dt, DT, n_nonzero, tol)
        codes[sl].scatter_add_(1, idx, gamma)
        n_iter, all_met = max(n_iter, it), all_met and met
    return SolverResult(restore(codes, numpy_in), n_iter, all_met if tol is not None else True)


def _omp_compiled(X: torch.Tensor, D: torch.Tensor, k: int, tol: float | None,
                  batch_size: int | None, numpy_in: bool) -> SolverResult:
    Zn, n_sel, energy = _compiled.omp_codes(X, D, k, tol, batch_size, torch.get_num_threads())
    codes = torch.from_numpy(Zn)
    met = True
    if tol is not None:
        eps = float(torch.finfo(X.dtype).eps)
        met = bool((energy <= tol * (1 + 1e-6) + eps).all())
    return SolverResult(restore(codes, numpy_in), int(n_sel.max(initial=0)), met)


def _omp_chunk(X: torch.Tensor, D: torch.Tensor, DT: torch.Tensor, k: int,
               tol: float | None) -> tuple[torch.Tensor, torch.Tensor, int, bool]:
    """OMP on one chunk. Returns (atom indices (n, steps), their codes, steps, tol met).

    ``Q[s]`` holds each sample's s-th orthonormalised atom and ``R`` the upper-triangular
    factor, so that ``D[idx].T = Q R``; the residual is ``x - sum_s beta_s Q[s]`` and the codes
    solve ``R gamma = beta``. A sample that stops early gets dummy slots (``R`` = identity,
    ``beta`` = 0, a repeated atom index), which add zero to its codes.
    """
    n, f = X.shape
    dt, dev = X.dtype, X.device
    eps = torch.finfo(dt).eps
    r = X.clone()                                      # residuals
    energy = (r * r).sum(dim=1)
    Q = torch.zeros(k, n, f, dtype=dt, device=dev)
    R = torch.zeros(n, k, k, dtype=dt, device=dev)
    beta = torch.zeros(n, k, dtype=dt, device=dev)
    idx = torch.zeros(n, k, dtype=torch.long, device=dev)
    atom_sq = (D * D).sum(dim=1)
    alpha = torch.mm(r, DT)                           # correlations with the residual
    mag = torch.empty_like(alpha)
    active = torch.ones(n, dtype=torch.bool, device=dev)
    if tol is not None:
        active &= energy > tol
    x_norm = energy.sqrt().clamp_min(eps)
    steps = 0
    for s in range(k):
        best, j = torch.abs(alpha, out=mag).max(dim=1)
        # a sample whose residual is orthogonal to every atom cannot improve
        active &= best > eps * x_norm * 10
        if not bool(active.any()):
            break
        q = D.index_select(0, j)                       # (n, f) the chosen atoms
        for t in range(s):                             # modified Gram-Schmidt
            w = (Q[t] * q).sum(dim=1)
            R[:, t, s] = w
            q.addcmul_(Q[t], w[:, None], value=-1.0)
        d2 = (q * q).sum(dim=1)
        active &= d2 > eps * atom_sq[j] * 10           # linear dependence on the chosen atoms
        if not bool(active.any()):
            break
        d = torch.where(active, d2.sqrt(), torch.ones_like(d2))
        act = active.to(dt)
        if s:
            R[:, :s, s] *= act[:, None]
        R[:, s, s] = d
        q *= (act / d)[:, None]                        # zero for stopped samples
        Q[s] = q
        b = (r * q).sum(dim=1)
        beta[:, s] = b
        idx[:, s] = torch.where(active, j, idx[:, 0] if s else j)
        r.addcmul_(q, b[:, None], value=-1.0)
        steps = s + 1
        if tol is not None:
            active &= (r * r).sum(dim=1) > tol
        if s + 1 < k:
            torch.mm(r, DT, out=alpha)
    gamma = torch.linalg.solve_triangular(R[:, :steps, :steps], beta[:, :steps, None],
                                          upper=True).squeeze(-1)
    met = True
    if tol is not None:
        met = bool(((r * r).sum(dim=1) <= tol * (1 + 1e-6) + eps).all())
    return idx[:, :steps], gamma, steps, met


def omp1(X: Any, D: Any, *, device: Any = None) -> Any:
    r"""Orthogonal matching pursuit with one atom, in closed form: the codes of
    ``omp(X, D, n_nonzero=1).codes``.

    Each sample picks the atom most correlated with it, :math:`j = \arg\max_j |d_j x^\top|`
    (raw correlations, as :func:`omp` and scikit-learn's ``orthogonal_mp``), and its code is
    the least-squares coefficient :math:`d_j x^\top / \|d_j\|^2` on that atom (for unit-norm
    atoms, the correlation itself: gain-shape vector quantisation, Coates & Ng 2011).

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
        Nonzero atoms as rows.
    device : str or torch.device, optional

    Returns
    -------
    array (n_samples, n_atoms)
        One nonzero per row (none for a sample orthogonal to every atom); NumPy for NumPy
        input.
    """
    Xt, Dt, numpy_in = _prepare(X, D, device)
    return restore(_omp1(Xt, Dt), numpy_in)


def _omp1(X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    C = X @ D.T
    j = C.abs().argmax(dim=1, keepdim=True)
    coef = C.gather(1, j) / (D * D).sum(dim=1)[j]
    return torch.zeros_like(C).scatter_(1, j, coef)


__all__ = [
    "SolverResult", "ista", "fista", "lasso", "iht", "omp", "omp1", "nmse_curve", "ista_step",
    "iht_step", "lipschitz_constant", "network_weights", "lasso_objective",
]

r"""Threshold paths by continuation, and comparisons of sparsity at matched error.

Practitioners run ISTA and IHT over a range of thresholds by *continuation*: from the largest
threshold (where the codes are zero) down to the smallest, each solve warm-started at the
solution of the previous threshold (Hale, Yin & Zhang 2008; Blumensath & Davies 2008).
:func:`threshold_path` does that with the library's solvers and records, per threshold, whether
the solver's stopping rule was met.

:func:`fewest_nonzeros_at` reads a sweep at matched reconstruction error, and
:func:`support_recovery` compares supports with the true ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import solvers
from ._arrays import check_int, check_scalar

__all__ = ["ThresholdPath", "threshold_path", "fewest_nonzeros_at", "support_recovery"]

METHODS = ("ista", "fista", "iht")


@dataclass
class ThresholdPath:
    """What :func:`threshold_path` returns; every array is in the order of ``levels`` given.

    Attributes
    ----------
    levels : ndarray (n_levels,)
        ISTA / FISTA: the L1 weights ``alpha``; IHT: the hard thresholds ``t``.
    codes : ndarray (n_levels, n_samples, n_atoms)
    converged : ndarray of bool (n_levels,)
        Whether the solver's stopping rule was met at that level (every sample).
    n_iter : ndarray of int (n_levels,)
    warm_started : ndarray of bool (n_levels,)
        Whether that solve started from the previous level's codes (all but the largest
        level, with ``warm_start=True``).
    gap : ndarray (n_levels, n_samples) or None
        ISTA / FISTA: the relative duality gap of each sample.
    """

    levels: np.ndarray
    codes: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    warm_started: np.ndarray
    gap: np.ndarray | None = None

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


def threshold_path(X: Any, D: Any, levels: Any, *, method: str = "ista", nonneg: bool = False,
                   max_iter: int = 1000, tol: float = 1e-6, warm_start: bool = True,
                   device: Any = None) -> ThresholdPath:
    r"""Solve at every threshold of ``levels``, from the largest down, by continuation.

    Parameters
    ----------
    X : array (n_samples, n_features)
    D : array (n_atoms, n_features)
    levels : array of float > 0
        ``method="ista"`` or ``"fista"``: L1 weights ``alpha`` (the soft threshold of a step is
        ``alpha / L``); ``"iht"``: hard thresholds ``t`` (penalised IHT,
        :func:`sparsestudy.solvers.iht` with ``thresh=t``).
    method : {"ista", "fista", "iht"}
    nonneg : bool
        ISTA / FISTA only: non-negative codes.
    max_iter, tol
        Per level, as in the solver (ISTA / FISTA: relative duality gap; IHT: relative change).
    warm_start : bool
        Start each level from the codes of the next larger level (continuation); ``False``
        starts every level from zero.
    device : optional
        Passed to the solver.

    Returns
    -------
    ThresholdPath
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(warm_start, bool):
        raise TypeError(f"warm_start must be a bool, got {type(warm_start).__name__}")
    if nonneg and method == "iht":
        raise ValueError("nonneg applies to ista and fista only")
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    check_scalar(tol, "tol", min_value=0)
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size == 0:
        raise ValueError(f"levels must be a non-empty 1-d array, got shape {lv.shape}")
    if not (np.isfinite(lv).all() and (lv > 0).all()):
        raise ValueError("levels must be finite and positive")
    X = np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.float64)
    D = np.asarray(D.detach().cpu().numpy() if hasattr(D, "detach") else D, dtype=np.float64)
    order = np.argsort(-lv, kind="stable")               # largest threshold first
    n, a = X.shape[0], D.shape[0]
    codes = np.zeros((lv.size, n, a))
    converged = np.zeros(lv.size, dtype=bool)
    n_iter = np.zeros(lv.size, dtype=np.int64)
    warm = np.zeros(lv.size, dtype=bool)
    gap = None if method == "iht" else np.zeros((lv.size, n))
    prev = None
    for i in order:
        init = prev if warm_start else None
        if method == "iht":
            res = solvers.iht(X, D, thresh=float(lv[i]), max_iter=max_iter, tol=tol,
                              init=init, device=device)
        else:
            solve = solvers.ista if method == "ista" else solvers.fista
            res = solve(X, D, float(lv[i]), nonneg=nonneg, max_iter=max_iter, tol=tol,
                        init=init, device=device)
            gap[i] = np.asarray(res.gap)
        codes[i] = np.asarray(res.codes)
        converged[i], n_iter[i], warm[i] = bool(res.converged), int(res.n_iter), init is not None
        prev = codes[i]
    return ThresholdPath(lv, codes, converged, n_iter, warm, gap)


def fewest_nonzeros_at(error: Any, nnz: Any, levels: Any) -> np.ndarray:
    """The fewest nonzeros a sweep needs to reach error at most each of ``levels``.

    ``error[i]`` and ``nnz[i]`` describe point ``i`` of a sweep (e.g. error in dB, mean
    nonzeros per code). The points are sorted by error; the running minimum of ``nnz`` over
    them is the fewest nonzeros reaching each error, linearly interpolated at ``levels``
    (``numpy.interp``: constant beyond the sweep's range).
    """
    err = np.asarray(error, dtype=np.float64)
    nz = np.asarray(nnz, dtype=np.float64)
    if err.ndim != 1 or err.shape != nz.shape or err.size == 0:
        raise ValueError(f"error and nnz must be 1-d of the same non-zero length, got "
                         f"{err.shape} and {nz.shape}")
    order = np.argsort(err, kind="stable")
    return np.interp(np.asarray(levels, dtype=np.float64), err[order],
                     np.minimum.accumulate(nz[order]))


def support_recovery(codes: Any, truth: Any) -> dict[str, float]:
    """How well the supports of ``codes`` match those of ``truth`` (both
    ``(n_samples, n_atoms)``).

    Returns the means over samples of ``precision`` (true atoms among the selected; 1 when
    none is selected), ``recall`` (selected among the true atoms; 1 when there are none) and
    ``exact`` (the fraction of samples whose support is exactly the true one), and ``f1`` (of
    the mean precision and recall).
    """
    Z = np.asarray(codes.detach().cpu().numpy() if hasattr(codes, "detach") else codes) != 0
    T = np.asarray(truth.detach().cpu().numpy() if hasattr(truth, "detach") else truth) != 0
    if Z.shape != T.shape or Z.ndim != 2:
        raise ValueError(f"codes and truth must be 2-d of the same shape, got {Z.shape} and "
                         f"{T.shape}")
    hit = (Z & T).sum(axis=1)
    sel, tru = Z.sum(axis=1), T.sum(axis=1)
    precision = np.where(sel > 0, hit / np.maximum(sel, 1), 1.0).mean()
    recall = np.where(tru > 0, hit / np.maximum(tru, 1), 1.0).mean()
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": float(precision), "recall": float(recall),
            "exact": float((Z == T).all(axis=1).mean()), "f1": float(f1)}

r"""Dictionary learning for sparse coding, as scikit-learn estimators.

Three learners of a dictionary ``components_`` ``D`` of shape ``(n_atoms, n_features)`` (one
atom per row) from signals ``X`` of shape ``(n_samples, n_features)``, so that ``X ≈ Z D`` with
sparse codes ``Z`` (``(n_samples, n_atoms)``):

* :class:`OnlineDictionaryLearning`: Mairal, Bach, Ponce & Sapiro's online dictionary learning
  (ICML 2009; JMLR 2010, Algorithms 1 and 2), the algorithm of SPAMS' ``trainDL`` and
  scikit-learn's ``MiniBatchDictionaryLearning``. Mini-batches of signals are coded against the
  current dictionary, by the lasso (:func:`sparsestudy.solvers.lasso`, the exact homotopy path,
  its duality gap certified) or by OMP (:func:`sparsestudy.solvers.omp`); the sufficient
  statistics :math:`A = \sum z z^\top`, :math:`B = \sum z x^\top` are accumulated with the
  forgetting schedule of Mairal et al. (2010, §3.4.2; the one scikit-learn uses), and the atoms
  are updated by one pass of block coordinate descent,
  :math:`d_j \leftarrow \Pi(d_j + (B_j - A_j D) / A_{jj})` (compiled), with :math:`\Pi` the
  projection on the unit ball (lasso codes) or the unit sphere (OMP codes).
* :class:`KSVD`: Aharon, Elad & Bruckstein's K-SVD (IEEE TSP 2006): OMP-k codes of every
  signal, then each atom and its nonzero codes are replaced by the best rank-one fit of the
  residual of the signals that use it.
* :class:`MOD`: Engan, Aase & Husøy's method of optimal directions (ICASSP 1999): OMP-k codes,
  then the least-squares dictionary :math:`D = (Z^\top Z)^{-1} Z^\top X`, rows normalised.

**Objective and convergence.** Each learner records its objective :func:`dictionary_objective`
on the training signals after every pass over them (``objective_``, entry 0 at the initial
atoms): the mean over signals of :math:`\tfrac12\|x - zD\|^2 + \alpha\|z\|_1` with lasso codes,
or of :math:`\tfrac12\|x - zD\|^2` with OMP-k codes. A pass is one epoch of mini-batches
(online) or one coding-and-update iteration (K-SVD, MOD). Learning stops when the objective
changed by less than ``tol`` (relative) over the last pass, ``converged_ = True`` and
``stop_reason_ = "tol"``, or after ``max_iter`` passes (``"max_iter"``). No learner stops on a
clock.

**Atoms that fall out of use** (no signal codes with them) are replaced: online, by a random
nonzero signal of the mini-batch; in K-SVD and MOD, by the signal worst represented by the
current codes, as are atoms within an absolute cosine of 0.99 of an earlier atom (Aharon et
al.'s "clear dictionary" step). All three start from ``n_atoms`` distinct
random nonzero training signals, normalised; ``seed`` makes everything reproducible.

Every estimator follows scikit-learn's contract (``get_params`` / ``set_params`` /
:func:`sklearn.base.clone`, usable in a :class:`~sklearn.pipeline.Pipeline`): ``fit`` returns
``self``, ``transform`` returns the codes of the learner's coder. Computation is NumPy (float64)
with the library's compiled coders; NumPy in gives NumPy out, torch in gives torch out.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
from numba import njit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._arrays import as_tensor, check_int, check_scalar, is_numpy_like
from .solvers import lasso, omp

__all__ = ["OnlineDictionaryLearning", "KSVD", "MOD", "dictionary_objective", "sparse_codes",
           "omp_psnr", "LEARNERS"]

_CODERS = ("lasso", "omp")


# ------------------------------------------------------------------------------- validation
def _as_array(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous float64 array (2-D, finite, at least one row)."""
    t = as_tensor(X, name, ndim=2)
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one feature, got shape "
                         f"{tuple(t.shape)}")
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float64)


def _check_seed(seed: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")


def _check_coder(coder: Any, alpha: Any, n_nonzero: Any, n_atoms: int, n_features: int
                 ) -> tuple[str, float | None, int | None]:
    if not isinstance(coder, str) or coder not in _CODERS:
        raise ValueError(f"coder must be one of {_CODERS}, got {coder!r}")
    if coder == "lasso":
        if alpha is None:
            raise ValueError("alpha must be given (a float > 0) when coder='lasso'")
        check_scalar(alpha, "alpha", min_value=0, include_min=False)
        return coder, float(alpha), None
    n_nonzero = check_int(n_nonzero, "n_nonzero", min_value=1,
                          max_value=min(n_atoms, n_features))
    return coder, None, n_nonzero


def sparse_codes(X: Any, D: Any, *, coder: str = "omp", alpha: float | None = None,
                 n_nonzero: int | None = 5, tol: float = 1e-6) -> np.ndarray:
    """Codes of ``X`` against the atoms ``D`` (rows): lasso codes (``alpha``, relative duality
    gap at most ``tol``) or OMP codes with ``n_nonzero`` atoms. ``(n_samples, n_atoms)``."""
    Xa, Da = _as_array(X), _as_array(D, "D")
    if Da.shape[1] != Xa.shape[1]:
        raise ValueError(f"D has {Da.shape[1]} features but X has {Xa.shape[1]}")
    coder, alpha, n_nonzero = _check_coder(coder, alpha, n_nonzero, Da.shape[0], Da.shape[1])
    if coder == "lasso":
        return lasso(Xa, Da, alpha, tol=tol).codes
    return omp(Xa, Da, n_nonzero).codes


def _objective_of(X: np.ndarray, D: np.ndarray, Z: np.ndarray, alpha: float | None) -> float:
    R = X - Z @ D
    value = 0.5 * float(np.einsum("ij,ij->", R, R)) / X.shape[0]
    if alpha is not None:
        value += alpha * float(np.abs(Z).sum()) / X.shape[0]
    return value


def dictionary_objective(X: Any, D: Any, *, coder: str = "omp", alpha: float | None = None,
                         n_nonzero: int | None = 5) -> float:
    r"""The learners' objective at the atoms ``D``: the mean over the signals ``X`` of
    :math:`\tfrac12\|x - zD\|^2 + \alpha\|z\|_1` at the lasso codes (``coder="lasso"``) or of
    :math:`\tfrac12\|x - zD\|^2` at the OMP codes with ``n_nonzero`` atoms."""
    Xa, Da = _as_array(X), _as_array(D, "D")
    Z = sparse_codes(Xa, Da, coder=coder, alpha=alpha, n_nonzero=n_nonzero)
    return _objective_of(Xa, Da, Z, alpha if coder == "lasso" else None)


def omp_psnr(X: Any, D: Any, ks: Any, *, peak: float = 1.0) -> np.ndarray:
    r"""PSNR (dB) of the OMP-k reconstructions of ``X`` from the atoms ``D``, for each ``k`` in
    ``ks``: :math:`10\log_{10}(\text{peak}^2 / \text{MSE})`, the mean squared error over every
    entry of ``X`` (pixels in ``[0, peak]``; removing each patch's mean does not change it)."""
    Xa, Da = _as_array(X), _as_array(D, "D")
    check_scalar(peak, "peak", min_value=0, include_min=False)
    ks = [check_int(k, "ks", min_value=1) for k in np.atleast_1d(ks).tolist()]
    out = []
    for k in ks:
        Z = sparse_codes(Xa, Da, coder="omp", n_nonzero=k)
        R = Xa - Z @ Da
        mse = float(np.einsum("ij,ij->", R, R)) / R.size
        out.append(np.inf if mse == 0 else 10 * np.log10(peak * peak / mse))
    return np.asarray(out)


def _relative_change(old: float, new: float) -> float:
    return abs(old - new) / max(abs(old), np.finfo(float).tiny)


# ------------------------------------------------------------------------------ the kernel
@njit(nogil=True, cache=True)
def _bcd_update(D, A, B, sphere):  # pragma: no cover - compiled
    """One pass of block coordinate descent over the atoms (Mairal et al. 2010, Algorithm 2),
    in place: ``d_j <- proj(d_j + (B_j - A_j D) / A_jj)``. Returns the atoms with ``A_jj`` ~ 0
    (unused), which are left as they were."""
    K, f = D.shape
    dead = np.zeros(K, dtype=np.bool_)
    u = np.empty(f)
    for j in range(K):
        ajj = A[j, j]
        if ajj < 1e-12:
            dead[j] = True
            continue
        for c in range(f):
            u[c] = B[j, c]
        for i in range(K):
            a = A[j, i]
            if a != 0.0:
                for c in range(f):
                    u[c] -= a * D[i, c]
        nrm = 0.0
        for c in range(f):
            u[c] = D[j, c] + u[c] / ajj
            nrm += u[c] * u[c]
        nrm = np.sqrt(nrm)
        if nrm == 0.0:
            dead[j] = True
            continue
        scale = 1.0 / nrm if (sphere or nrm > 1.0) else 1.0
        for c in range(f):
            D[j, c] = u[c] * scale
    return dead


# ------------------------------------------------------------------------------ estimators
class _Learner(TransformerMixin, BaseEstimator):
    """Shared plumbing: validation, initial atoms, convergence bookkeeping, ``transform``."""

    def _start(self, X: Any) -> tuple[np.ndarray, int, np.random.Generator]:
        Xa = _as_array(X)
        n_atoms = check_int(self.n_atoms, "n_atoms", min_value=1)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_scalar(self.tol, "tol", min_value=0)
        _check_seed(self.seed)
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable or None, got {type(self.callback).__name__}")
        n, f = Xa.shape
        norms = np.linalg.norm(Xa, axis=1)
        nonzero = int(np.count_nonzero(norms > 1e-12 * max(norms.max(), 1e-300)))
        if n_atoms > nonzero:
            raise ValueError(f"n_atoms={n_atoms} is more atoms than X has nonzero samples "
                             f"({nonzero} of {n}): a dictionary needs at least as many")
        self.n_features_in_ = f
        return Xa, n_atoms, np.random.default_rng(self.seed)

    @staticmethod
    def _init_atoms(X: np.ndarray, n_atoms: int, rng: np.random.Generator) -> np.ndarray:
        norms = np.linalg.norm(X, axis=1)
        ok = np.flatnonzero(norms > 1e-12 * norms.max())
        pick = ok[rng.permutation(ok.size)[:n_atoms]]
        return np.ascontiguousarray(X[pick] / norms[pick, None])

    def _finish(self, D: np.ndarray, objective: list[float], n_iter: int, converged: bool) -> None:
        self.components_ = D
        self.n_atoms_ = int(D.shape[0])
        self.objective_ = np.asarray(objective)
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        self.stop_reason_ = "tol" if converged else "max_iter"
        self.final_change_ = (_relative_change(objective[-2], objective[-1])
                              if len(objective) > 1 else np.nan)

    def _check_transform(self, X: Any) -> tuple[np.ndarray, bool]:
        check_is_fitted(self, "components_")
        numpy_in = is_numpy_like(X)
        Xa = _as_array(X)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xa.shape[1]} features, but {type(self).__name__} was "
                             f"fitted with {self.n_features_in_}")
        return Xa, numpy_in

    def _restore(self, Z: np.ndarray, numpy_in: bool, like: Any) -> Any:
        if numpy_in:
            return Z
        import torch
        return torch.as_tensor(Z, dtype=like.dtype if like.is_floating_point() else None,
                               device=like.device)

    def score(self, X: Any, y: Any = None) -> float:
        """Minus :func:`dictionary_objective` on ``X`` (higher is better, scikit-learn's sign)."""
        Xa, _ = self._check_transform(X)
        coder, alpha, k = self._coder()
        return -dictionary_objective(Xa, self.components_, coder=coder, alpha=alpha, n_nonzero=k)

    def transform(self, X: Any) -> Any:
        """The codes of ``X`` against ``components_`` by the learner's coder;
        ``(n_samples, n_atoms)``."""
        Xa, numpy_in = self._check_transform(X)
        coder, alpha, k = self._coder()
        Z = sparse_codes(Xa, self.components_, coder=coder, alpha=alpha, n_nonzero=k)
        return self._restore(Z, numpy_in, X)


class OnlineDictionaryLearning(_Learner):
    r"""Online dictionary learning (Mairal, Bach, Ponce & Sapiro 2009, 2010).

    Parameters
    ----------
    n_atoms : int
        Number of atoms (at most the number of nonzero training signals).
    coder : {"lasso", "omp"}
        Sparse coder of the mini-batches and of ``transform``: the lasso with penalty ``alpha``
        (:func:`sparsestudy.solvers.lasso`), atoms in the unit ball; or OMP with ``n_nonzero``
        atoms (:func:`sparsestudy.solvers.omp`), atoms of unit norm.
    alpha : float
        Lasso penalty (``coder="lasso"``).
    n_nonzero : int
        OMP's atoms per signal (``coder="omp"``).
    batch_size : int
        Signals per mini-batch (scikit-learn's default, 256).
    max_iter : int
        Passes (epochs) over the training signals at most.
    tol : float
        Stop when the training objective changed by less than ``tol`` (relative) over a pass.
    seed : int or None
        Seeds the initial atoms, the order of the signals and the replacement of unused atoms.
    callback : callable, optional
        ``callback(step, D)`` after every mini-batch update (``D`` is the live array: copy it to
        keep it); its time is the caller's.

    Attributes
    ----------
    components_ : ndarray (n_atoms, n_features)
    objective_ : ndarray (n_iter_ + 1,)
        :func:`dictionary_objective` on the training signals at the initial atoms and after
        each pass.
    n_iter_ : int
        Passes run.
    n_steps_ : int
        Mini-batch updates run.
    converged_ : bool
    stop_reason_ : {"tol", "max_iter"}
    final_change_ : float
        The objective's relative change over the last pass.
    n_replaced_ : int
        Atoms replaced because no signal of a mini-batch used them.
    """

    def __init__(self, n_atoms: int = 100, *, coder: str = "lasso", alpha: float | None = 0.1,
                 n_nonzero: int = 5, batch_size: int = 256, max_iter: int = 100,
                 tol: float = 1e-4, seed: int | None = None,
                 callback: Callable[[int, np.ndarray], Any] | None = None):
        self.n_atoms = n_atoms
        self.coder = coder
        self.alpha = alpha
        self.n_nonzero = n_nonzero
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.callback = callback

    def _coder(self) -> tuple[str, float | None, int | None]:
        return _check_coder(self.coder, self.alpha, self.n_nonzero, self.components_.shape[0]
                            if hasattr(self, "components_") else self.n_atoms,
                            self.n_features_in_)

    def fit(self, X: Any, y: Any = None) -> "OnlineDictionaryLearning":
        """Learn the dictionary from ``X`` (n_samples, n_features); returns ``self``."""
        Xa, n_atoms, rng = self._start(X)
        n, f = Xa.shape
        coder, alpha, k = _check_coder(self.coder, self.alpha, self.n_nonzero, n_atoms, f)
        bs = min(check_int(self.batch_size, "batch_size", min_value=1), n)
        sphere = coder == "omp"
        D = self._init_atoms(Xa, n_atoms, rng)
        A = np.zeros((n_atoms, n_atoms))
        B = np.zeros((n_atoms, f))

        def objective() -> float:
            return dictionary_objective(Xa, D, coder=coder, alpha=alpha, n_nonzero=k)

        obj, step, converged, replaced = [objective()], 0, False, 0
        for _ in range(self.max_iter):
            perm = rng.permutation(n)
            for start in range(0, n - bs + 1, bs):            # full mini-batches only
                Xb = Xa[perm[start:start + bs]]
                Z = (lasso(Xb, D, alpha, tol=1e-6).codes if coder == "lasso"
                     else omp(Xb, D, k).codes)
                # forgetting schedule of Mairal et al. (2010, 3.4.2), as scikit-learn's
                theta = (step + 1) * bs if step < bs - 1 else bs * bs + step + 1 - bs
                beta = (theta + 1 - bs) / (theta + 1)
                A *= beta
                A += Z.T @ Z / bs
                B *= beta
                B += Z.T @ Xb / bs
                dead = _bcd_update(D, A, B, sphere)
                if dead.any():
                    nb = np.linalg.norm(Xb, axis=1)
                    cand = np.flatnonzero(nb > 1e-12 * nb.max())
                    for j in np.flatnonzero(dead):
                        i = cand[rng.integers(cand.size)]
                        D[j] = Xb[i] / nb[i]
                        A[j], A[:, j], B[j] = 0.0, 0.0, 0.0
                    replaced += int(dead.sum())
                step += 1
                if self.callback is not None:
                    self.callback(step, D)
            obj.append(objective())
            if _relative_change(obj[-2], obj[-1]) < self.tol:
                converged = True
                break
        self._finish(D, obj, len(obj) - 1, converged)
        self.n_steps_ = step
        self.n_replaced_ = replaced
        return self


class _BatchLearner(_Learner):
    """K-SVD and MOD: OMP-k codes of every signal, then a dictionary update, per pass."""

    def __init__(self, n_atoms: int = 100, *, n_nonzero: int = 5, max_iter: int = 100,
                 tol: float = 1e-4, seed: int | None = None,
                 callback: Callable[[int, np.ndarray], Any] | None = None):
        self.n_atoms = n_atoms
        self.n_nonzero = n_nonzero
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.callback = callback

    def _coder(self) -> tuple[str, float | None, int | None]:
        return _check_coder("omp", None, self.n_nonzero, self.components_.shape[0],
                            self.n_features_in_)

    def fit(self, X: Any, y: Any = None):
        """Learn the dictionary from ``X`` (n_samples, n_features); returns ``self``."""
        Xa, n_atoms, rng = self._start(X)
        k = _check_coder("omp", None, self.n_nonzero, n_atoms, Xa.shape[1])[2]
        D = self._init_atoms(Xa, n_atoms, rng)
        obj, converged, replaced = [], False, 0
        for it in range(self.max_iter + 1):
            Z = omp(Xa, D, k).codes
            R = Xa - Z @ D
            obj.append(0.5 * float(np.einsum("ij,ij->", R, R)) / Xa.shape[0])
            if it and _relative_change(obj[-2], obj[-1]) < self.tol:
                converged = True
                break
            if it == self.max_iter:
                break
            replaced += self._update(Xa, D, Z, R, rng)
            replaced += self._clear_duplicates(D, R)
            if self.callback is not None:
                self.callback(it + 1, D)
        self._finish(D, obj, len(obj) - 1, converged)
        self.n_replaced_ = replaced
        return self

    def _clear_duplicates(self, D: np.ndarray, R: np.ndarray) -> int:
        """Replace each atom within ``|d_i . d_j| > DUPLICATE`` of an earlier one (Aharon et
        al.'s "clear dictionary" step) by a badly represented signal; returns how many."""
        G = np.abs(D @ D.T)
        np.fill_diagonal(G, 0.0)
        dup = np.flatnonzero(np.triu(G > self.DUPLICATE).any(axis=0))
        used = np.zeros(R.shape[0], dtype=bool)
        for j in dup:
            self._replace(j, D, R, used)
        return int(dup.size)

    #: atoms closer than this (absolute cosine) to an earlier atom are replaced after a pass
    DUPLICATE = 0.99

    @staticmethod
    def _replace(j: int, D: np.ndarray, R: np.ndarray, used: np.ndarray) -> None:
        """Atom ``j`` <- the worst-represented signal not yet used as a replacement."""
        e = np.einsum("ij,ij->i", R, R)
        e[used] = -1.0
        i = int(np.argmax(e))
        used[i] = True
        nrm = np.sqrt(max(e[i], 0.0))
        if nrm > 0:
            D[j] = R[i] / nrm


class KSVD(_BatchLearner):
    r"""K-SVD (Aharon, Elad & Bruckstein 2006).

    Each pass codes every signal by OMP with ``n_nonzero`` atoms, then updates the atoms in
    turn: for atom :math:`j`, with :math:`I` the signals that use it and :math:`E` their
    residual without atom :math:`j`'s contribution, :math:`d_j` and the codes
    :math:`z_{Ij}` become the leading singular pair of :math:`E` (the best rank-one fit),
    computed by power iterations started at the current atom (each one an alternating
    least-squares step of the rank-one fit, so the residual never grows; Rubinstein,
    Zibulevsky & Elad's approximate K-SVD takes one, here ``_POWER = 3``). An atom no signal
    uses becomes the worst-represented signal.

    Parameters
    ----------
    n_atoms : int
        At most the number of nonzero training signals.
    n_nonzero : int
        OMP's atoms per signal, in training and in ``transform``.
    max_iter : int
        Passes at most.
    tol : float
        Stop when the objective (half the mean squared OMP residual) changed by less than
        ``tol`` (relative) over a pass.
    seed : int or None
    callback : callable, optional
        ``callback(pass, D)`` after every update.

    Attributes
    ----------
    components_, objective_, n_iter_, converged_, stop_reason_, final_change_, n_replaced_
        As :class:`OnlineDictionaryLearning` (``objective_[t]`` is the objective of the atoms
        after ``t`` updates).
    """

    _POWER = 3

    def _update(self, X: np.ndarray, D: np.ndarray, Z: np.ndarray, R: np.ndarray,
                rng: np.random.Generator) -> int:
        replaced = 0
        used = np.zeros(X.shape[0], dtype=bool)
        Zc = Z.T.copy()                                  # (n_atoms, n): rows are contiguous
        for j in range(D.shape[0]):
            idx = np.flatnonzero(Zc[j])
            if idx.size == 0:
                self._replace(j, D, R, used)
                replaced += 1
                continue
            E = R[idx] + np.outer(Zc[j, idx], D[j])
            d = D[j]
            for _ in range(self._POWER):               # alternating least squares, rank one
                d = E.T @ (E @ d)
                nrm = np.linalg.norm(d)
                if nrm == 0:
                    d = D[j]
                    break
                d = d / nrm
            D[j] = d
            Zc[j, idx] = E @ d
            R[idx] = E - np.outer(Zc[j, idx], D[j])
        return replaced


class MOD(_BatchLearner):
    r"""The method of optimal directions (Engan, Aase & Husøy 1999).

    Each pass codes every signal by OMP with ``n_nonzero`` atoms, then sets the dictionary to
    the least-squares fit :math:`D = (Z^\top Z)^{-1} Z^\top X` and normalises its rows. Atoms
    no signal uses become the worst-represented signals. Parameters and attributes as
    :class:`KSVD`.
    """

    def _update(self, X: np.ndarray, D: np.ndarray, Z: np.ndarray, R: np.ndarray,
                rng: np.random.Generator) -> int:
        G = Z.T @ Z
        dead = np.diag(G) <= 1e-12
        live = np.flatnonzero(~dead)
        Gl = G[np.ix_(live, live)]
        ridge = 1e-10 * max(float(np.trace(Gl)) / max(live.size, 1), 1e-300)
        Dl = np.linalg.solve(Gl + ridge * np.eye(live.size), Z[:, live].T @ X)
        D[live] = Dl / np.maximum(np.linalg.norm(Dl, axis=1, keepdims=True), 1e-300)
        used = np.zeros(X.shape[0], dtype=bool)
        for j in np.flatnonzero(dead):
            self._replace(j, D, R, used)
        return int(dead.sum())


#: Short names used by the notebooks and the benchmark.
LEARNERS = {"online": OnlineDictionaryLearning, "ksvd": KSVD, "mod": MOD}

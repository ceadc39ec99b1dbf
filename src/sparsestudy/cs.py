r"""Compressed sensing: exact basis pursuit, the Donoho–Tanner weak threshold, and the fit of an
empirical phase transition.

* :func:`basis_pursuit` solves :math:`\min \|x\|_1` subject to :math:`Ax = y` exactly, as a
  linear program (SciPy's ``linprog`` with HiGHS' dual simplex), not as an approximate lasso.
* :func:`weak_threshold` is Donoho & Tanner's weak threshold :math:`\rho_W(\delta)` of the
  cross-polytope (signed signals) from its closed form.
* :func:`fit_transition` fits a logistic curve of success against :math:`\rho` and gives its
  50% crossing with a 95% interval (delta method).
* :func:`recovery_trials` runs the trials of one grid point of a phase-transition experiment
  (L1 and OMP; Gaussian and Bernoulli matrices; Gaussian and ±1 amplitudes), seeded by the
  point alone, for :mod:`sparsestudy.sweep`.

Shapes follow compressed sensing here: ``A`` is ``(m, n)`` (m measurements of an n-vector).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from ._arrays import check_int, check_scalar

__all__ = ["BasisPursuitResult", "basis_pursuit", "measurement_matrix", "sparse_signal",
           "recovered", "omp_recover", "weak_threshold", "TransitionFit", "fit_transition",
           "interpolated_crossing", "recovery_trials", "MATRICES", "AMPLITUDES"]

MATRICES = ("gaussian", "bernoulli")
AMPLITUDES = ("gaussian", "sign")


# ------------------------------------------------------------------------------ basis pursuit
@dataclass(frozen=True)
class BasisPursuitResult:
    """``x`` the minimiser; ``status`` is ``linprog``'s (0: optimal to HiGHS' tolerances);
    ``optimal`` says ``status == 0``; ``n_iter`` the simplex iterations."""

    x: np.ndarray
    status: int
    optimal: bool
    n_iter: int
    message: str


def _check_system(A: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(A, np.ndarray) or A.ndim != 2:
        raise TypeError("A must be a 2-d NumPy array (m, n)")
    y = np.asarray(y, dtype=float)
    if y.shape != (A.shape[0],):
        raise ValueError(f"y must have shape ({A.shape[0]},) to match A, got {y.shape}")
    if not (np.isfinite(A).all() and np.isfinite(y).all()):
        raise ValueError("A and y must be finite")
    return A.astype(float, copy=False), y


def basis_pursuit(A: np.ndarray, y: Any) -> BasisPursuitResult:
    r"""Exact basis pursuit :math:`\min_x \|x\|_1` s.t. :math:`Ax = y`, by linear programming.

    Written as the standard LP over :math:`x = u - v`, :math:`u, v \ge 0`: minimise
    :math:`\mathbf 1^\top (u + v)` subject to :math:`[A, -A][u; v] = y`, solved by HiGHS' dual
    simplex (``scipy.optimize.linprog(method="highs-ds")``; presolve off, which is about twice
    as fast on these dense problems and changes nothing in the solution).
    """
    A, y = _check_system(A, y)
    n = A.shape[1]
    res = optimize.linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None),
                           method="highs-ds", options={"presolve": False})
    x = res.x[:n] - res.x[n:] if res.x is not None else np.full(n, np.nan)
    return BasisPursuitResult(x, int(res.status), res.status == 0, int(res.nit or 0),
                              str(res.message))


# --------------------------------------------------------------------------- problem draws
def measurement_matrix(kind: str, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(m, n)`` matrix: ``"gaussian"`` i.i.d. N(0, 1/m), ``"bernoulli"`` i.i.d. ±1/√m."""
    m, n = check_int(m, "m", min_value=1), check_int(n, "n", min_value=1)
    if kind == "gaussian":
        return rng.standard_normal((m, n)) / math.sqrt(m)
    if kind == "bernoulli":
        return rng.choice(np.array([-1.0, 1.0]), size=(m, n)) / math.sqrt(m)
    raise ValueError(f"kind must be one of {MATRICES}, got {kind!r}")


def sparse_signal(n: int, k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One k-sparse support with random signs, in both amplitude laws:
    ``{"gaussian": x, "sign": sign(x)}``, where ``x`` has i.i.d. N(0, 1) entries on a uniformly
    random support of size ``k``. Both share the support and the signs (which alone decide
    basis pursuit's success)."""
    n = check_int(n, "n", min_value=1)
    k = check_int(k, "k", min_value=0, max_value=n)
    x = np.zeros(n)
    support = rng.choice(n, size=k, replace=False)
    x[support] = rng.standard_normal(k)
    return {"gaussian": x, "sign": np.sign(x)}


def recovered(x_hat: Any, x: Any, tol: float = 1e-4) -> bool:
    r"""Exact recovery: :math:`\|\hat x - x\|_2 \le \mathrm{tol}\,\|x\|_2` (False for NaN)."""
    x_hat, x = np.asarray(x_hat, dtype=float), np.asarray(x, dtype=float)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat has shape {x_hat.shape}, x has {x.shape}")
    return bool(np.linalg.norm(x_hat - x) <= tol * np.linalg.norm(x))


def omp_recover(A: np.ndarray, y: Any, k: int) -> np.ndarray:
    """OMP with ``k`` steps (:func:`sparsestudy.solvers.omp`) on the column-normalised
    ``A``, mapped back to the scale of ``A``'s columns."""
    from .solvers import omp

    A, y = _check_system(A, y)
    k = check_int(k, "k", min_value=1, max_value=min(A.shape))
    norms = np.linalg.norm(A, axis=0)
    if not (norms > 0).all():
        raise ValueError("A has a zero column")
    codes = omp(y[None, :], np.ascontiguousarray((A / norms).T), n_nonzero=k).codes[0]
    return codes / norms


# ---------------------------------------------------------------------- Donoho–Tanner curve
def _mills(z: float) -> float:
    """Phi(-z) / phi(z), stably (erfcx)."""
    return math.sqrt(math.pi / 2) * float(special.erfcx(z / math.sqrt(2)))


def _delta_of(z: float) -> float:
    # delta(z) = 2 phi(z) / (z + 2 (phi(z) - z Phi(-z))), divided through by phi(z)
    return 2.0 / (z / _phi(z) + 2.0 * (1.0 - z * _mills(z)))


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def weak_threshold(delta: Any) -> Any:
    r"""Donoho–Tanner's weak threshold :math:`\rho_W(\delta)` for signed signals (the
    cross-polytope), from its closed form.

    The curve is the parametric one (Donoho & Tanner 2009/2010; Donoho, Maleki & Montanari 2009,
    who show it equals the combinatorial-geometry threshold), for :math:`z > 0`:

    .. math::
        \delta(z) = \frac{2\varphi(z)}{z + 2(\varphi(z) - z\Phi(-z))},\qquad
        \rho(z) = 1 - \frac{z\,\Phi(-z)}{\varphi(z)},

    with :math:`\varphi, \Phi` the standard normal density and distribution. ``delta`` is solved
    for ``z`` (``delta(z)`` falls from 1 at ``z = 0`` to 0). Scalar in, float out; array in,
    array out. Above the curve, basis pursuit fails with probability tending to 1 as
    :math:`n \to \infty`; below it, it succeeds.
    """
    arr = np.asarray(delta, dtype=float)
    if not ((arr > 0) & (arr < 1)).all():
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")

    def one(d: float) -> float:
        z = optimize.brentq(lambda t: _delta_of(t) - d, 1e-12, 30.0, xtol=1e-14, rtol=1e-14)
        return 1.0 - z * _mills(z)

    out = np.vectorize(one, otypes=[float])(arr)
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------------- transition fit
@dataclass(frozen=True)
class TransitionFit:
    """A logistic fit of success against ρ at one δ.

    ``rho50`` is the 50% crossing, ``low``/``high`` its 95% interval and ``half_width`` half
    its width. ``coef`` is ``(b0, b1)`` of ``P(success) = 1 / (1 + exp(-(b0 + b1 ρ)))``.
    ``separated`` says the data were separable (every trial succeeds below some ρ and fails
    above it): the maximum-likelihood curve is then a step, ``rho50`` is the middle of the gap
    and the interval is the gap itself (``converged`` is False).
    """

    rho50: float
    low: float
    high: float
    half_width: float
    coef: tuple[float, float]
    cov: tuple[tuple[float, float], tuple[float, float]] | None
    converged: bool
    separated: bool


def _grouped(rho: Any, successes: Any, trials: Any) -> tuple[np.ndarray, ...]:
    r = np.asarray(rho, dtype=float).ravel()
    s = np.asarray(successes, dtype=float).ravel()
    t = np.asarray(trials, dtype=float).ravel()
    if not (len(r) == len(s) == len(t)) or len(r) < 2:
        raise ValueError("rho, successes and trials must be 1-d of one length >= 2")
    if (t <= 0).any() or (s < 0).any() or (s > t).any():
        raise ValueError("need trials > 0 and 0 <= successes <= trials")
    return r, s, t


def fit_transition(rho: Any, successes: Any, trials: Any, *, max_iter: int = 100
                   ) -> TransitionFit:
    """Logistic regression of the success counts on ρ (grouped binomial maximum likelihood,
    Newton's method) and its 50% crossing ``-b0 / b1`` with a 95% delta-method interval.

    Parameters
    ----------
    rho : array (p,)
        The ρ of each grid point (points with equal ρ may repeat).
    successes, trials : arrays (p,)
        Successes out of trials at each point.
    """
    r, s, t = _grouped(rho, successes, trials)
    order = np.argsort(r)
    r, s, t = r[order], s[order], t[order]
    # separable: all successes strictly below all failures (no point with mixed outcomes)
    ok_rho, bad_rho = r[s > 0], r[s < t]
    if len(ok_rho) == 0 or len(bad_rho) == 0:
        raise ValueError("need at least one success and one failure to place a crossing")
    if ok_rho.max() < bad_rho.min():
        lo, hi = float(ok_rho.max()), float(bad_rho.min())
        return TransitionFit((lo + hi) / 2, lo, hi, (hi - lo) / 2, (math.nan, math.nan), None,
                             False, True)
    X = np.column_stack([np.ones_like(r), r])
    beta = np.zeros(2)
    converged = False
    for _ in range(max_iter):
        p = special.expit(X @ beta)
        w = t * p * (1 - p)
        H = X.T @ (w[:, None] * X)
        g = X.T @ (s - t * p)
        step = np.linalg.solve(H, g)
        beta = beta + step
        if np.abs(step).max() < 1e-10 * (1 + np.abs(beta).max()):
            converged = True
            break
    p = special.expit(X @ beta)
    cov = np.linalg.inv(X.T @ ((t * p * (1 - p))[:, None] * X))
    b0, b1 = beta
    rho50 = -b0 / b1
    grad = np.array([-1 / b1, b0 / b1 ** 2])
    se = float(np.sqrt(grad @ cov @ grad))
    half = 1.959963984540054 * se
    return TransitionFit(float(rho50), float(rho50 - half), float(rho50 + half), half,
                         (float(b0), float(b1)), tuple(map(tuple, cov.tolist())), converged,
                         False)


def interpolated_crossing(rho: Any, rate: Any) -> float:
    """The first ρ (in increasing order) at which the success rate falls through 0.5, by
    linear interpolation between grid points; NaN when it never does."""
    r = np.asarray(rho, dtype=float)
    q = np.asarray(rate, dtype=float)
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    for i in range(len(r) - 1):
        if q[i] >= 0.5 > q[i + 1]:
            return float(r[i] + (q[i] - 0.5) / (q[i] - q[i + 1]) * (r[i + 1] - r[i]))
    return math.nan


# -------------------------------------------------------------------------- one grid point
def recovery_trials(point: dict[str, Any], seed: int) -> dict[str, Any]:
    """The trials of one point of the phase-transition grid, for :func:`sparsestudy.sweep.sweep`.

    ``point`` holds ``n``, ``delta``, ``rho``, ``trials``, ``l1`` (whether to run basis
    pursuit here; OMP always runs) and optionally ``tol`` (default 1e-4). With
    ``m = round(delta n)`` and ``k = max(1, round(rho m))``, each trial draws one support with
    signs and Gaussian amplitudes (:func:`sparse_signal`), one Gaussian and one Bernoulli
    matrix, and counts exact recoveries of

    * ``l1_gaussian``, ``l1_bernoulli``: basis pursuit (Gaussian amplitudes) on each matrix;
    * ``omp_gaussian``, ``omp_sign``: OMP on the Gaussian matrix, Gaussian and ±1 amplitudes.

    ``lp_not_optimal`` counts the linear programs that did not end optimal. Everything is drawn
    from ``seed``, so a point gives the same counts wherever and in whatever order it runs.
    """
    n = check_int(point["n"], "point['n']", min_value=2)
    delta = check_scalar(point["delta"], "point['delta']", min_value=0, max_value=1,
                         include_min=False)
    rho = check_scalar(point["rho"], "point['rho']", min_value=0, max_value=1,
                       include_min=False)
    trials = check_int(point["trials"], "point['trials']", min_value=1)
    tol = float(point.get("tol", 1e-4))
    m = max(1, round(delta * n))
    k = min(m, max(1, round(rho * m)))
    rng = np.random.default_rng(seed)
    counts = {"l1_gaussian": 0, "l1_bernoulli": 0, "omp_gaussian": 0, "omp_sign": 0}
    not_optimal = 0
    for _ in range(trials):
        x = sparse_signal(n, k, rng)
        A = {kind: measurement_matrix(kind, m, n, rng) for kind in MATRICES}
        if point.get("l1", True):
            for kind in MATRICES:
                res = basis_pursuit(A[kind], A[kind] @ x["gaussian"])
                not_optimal += not res.optimal
                counts[f"l1_{kind}"] += recovered(res.x, x["gaussian"], tol)
        for amp in AMPLITUDES:
            xa = x[amp]
            counts[f"omp_{amp}"] += recovered(omp_recover(A["gaussian"], A["gaussian"] @ xa, k),
                                              xa, tol)
    return {"m": m, "k": k, "rho_actual": k / m, "trials": trials, "l1": bool(point.get("l1", True)),
            **counts, "lp_not_optimal": not_optimal}

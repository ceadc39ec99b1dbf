"""The public warm start ``init=`` of ista, fista and iht: it continues a cold start, it leaves
a solution where it is, and the warm-started solvers reach scikit-learn's Lasso."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from sparsestudy import solvers
from sparsestudy.data import random_dictionary


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    D = random_dictionary(30, 20, seed=rng)
    Z = np.where(rng.random((6, 30)) < 0.15, rng.standard_normal((6, 30)), 0.0)
    X = Z @ D + 0.01 * rng.standard_normal((6, 20))
    alpha = 0.1 * float(np.abs(X @ D.T).max())
    return X, D, alpha


def sklearn_codes(X, D, alpha, positive=False):
    """The lasso per sample by scikit-learn, as the independent reference: our objective
    1/2 ||x - z D||^2 + alpha ||z||_1 is sklearn's (1 / (2 n)) ||y - A w||^2 + (alpha / n) ||w||_1
    with A = D^T, n = n_features."""
    n = X.shape[1]
    out = []
    for x in X:
        m = Lasso(alpha=alpha / n, fit_intercept=False, tol=1e-14, max_iter=1_000_000,
                  positive=positive).fit(D.T, x)
        out.append(m.coef_)
    return np.array(out)


@pytest.mark.parametrize("nonneg", [False, True])
def test_ista_init_continues_the_cold_start(problem, nonneg):
    X, D, alpha = problem
    k, m = 37, 55
    first = solvers.ista(X, D, alpha, nonneg=nonneg, max_iter=k, tol=0)
    warm = solvers.ista(X, D, alpha, nonneg=nonneg, max_iter=m, tol=0, init=first.codes)
    cold = solvers.ista(X, D, alpha, nonneg=nonneg, max_iter=k + m, tol=0)
    assert warm.n_iter == m
    np.testing.assert_allclose(warm.codes, cold.codes, rtol=0, atol=1e-12)


def test_iht_init_continues_the_cold_start(problem):
    X, D, alpha = problem
    t = alpha / solvers.lipschitz_constant(D)
    first = solvers.iht(X, D, thresh=t, max_iter=12, tol=0)
    warm = solvers.iht(X, D, thresh=t, max_iter=20, tol=0, init=first.codes)
    cold = solvers.iht(X, D, thresh=t, max_iter=32, tol=0)
    np.testing.assert_allclose(warm.codes, cold.codes, rtol=0, atol=1e-12)
    # the constrained form too
    first = solvers.iht(X, D, n_nonzero=4, max_iter=9, tol=0)
    warm = solvers.iht(X, D, n_nonzero=4, max_iter=11, tol=0, init=first.codes)
    cold = solvers.iht(X, D, n_nonzero=4, max_iter=20, tol=0)
    np.testing.assert_allclose(warm.codes, cold.codes, rtol=0, atol=1e-12)


@pytest.mark.parametrize("solve", [solvers.ista, solvers.fista])
@pytest.mark.parametrize("nonneg", [False, True])
def test_warm_start_matches_a_longer_cold_start_and_sklearn(problem, solve, nonneg):
    X, D, alpha = problem
    ref = sklearn_codes(X, D, alpha, positive=nonneg)
    # warm start from the solution at a larger penalty (continuation), to a tight gap
    prev = solve(X, D, 2 * alpha, nonneg=nonneg, max_iter=20000, tol=1e-12).codes
    warm = solve(X, D, alpha, nonneg=nonneg, max_iter=20000, tol=1e-12, init=prev)
    cold = solve(X, D, alpha, nonneg=nonneg, max_iter=40000, tol=1e-12)
    assert warm.converged and cold.converged
    np.testing.assert_allclose(warm.codes, ref, atol=1e-6)
    np.testing.assert_allclose(warm.codes, cold.codes, atol=1e-6)


def test_init_at_the_solution_stays_there(problem):
    X, D, alpha = problem
    sol = solvers.lasso(X, D, alpha, tol=1e-12).codes
    res = solvers.ista(X, D, alpha, max_iter=50, tol=1e-10, check_every=1, init=sol)
    assert res.converged and res.n_iter == 1
    np.testing.assert_allclose(res.codes, sol, atol=1e-9)


def test_init_kinds_and_checks(problem):
    X, D, alpha = problem
    z0 = np.zeros((X.shape[0], D.shape[0]))
    cold = solvers.ista(X, D, alpha, max_iter=5, tol=0)
    for init in (z0, torch.from_numpy(z0), z0.tolist()):
        res = solvers.ista(X, D, alpha, max_iter=5, tol=0, init=init)
        np.testing.assert_allclose(res.codes, cold.codes, atol=1e-14)
    # the caller's array is never modified in place
    start = cold.codes.copy()
    solvers.fista(X, D, alpha, max_iter=5, tol=0, init=start)
    np.testing.assert_array_equal(start, cold.codes)
    with pytest.raises(ValueError, match="init"):
        solvers.ista(X, D, alpha, init=np.zeros((X.shape[0], D.shape[0] + 1)))
    with pytest.raises(ValueError, match="init"):
        solvers.iht(X, D, n_nonzero=3, init=np.zeros(D.shape[0]))
    with pytest.raises(ValueError, match="init"):
        solvers.fista(X, D, alpha, init=np.full((X.shape[0], D.shape[0]), np.nan))

"""Tests of the fast paths of ``sparsestudy.solvers``: the homotopy lasso and the QR form of OMP.

The homotopy (LARS-lasso) solver must give the lasso's solution (scikit-learn's ``Lasso`` at
tight tolerance, scikit-learn's ``lars_path``), its certified duality gap must bound the true
suboptimality, and its chunking, warm-start polish and non-negative variant must agree with the
plain paths. Speed is measured in ``benchmarks/``, never here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Lasso, lars_path

from sparsestudy.solvers import fista, lasso, lasso_objective, omp


def unit_dictionary(rng, n_atoms, n_features):
    D = rng.standard_normal((n_atoms, n_features))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def sparse_problem(seed, n=40, f=20, a=50, k=4, noise=0.01):
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, a, f)
    Z = np.zeros((n, a))
    for i in range(n):
        Z[i, rng.choice(a, k, replace=False)] = rng.standard_normal(k)
    return Z @ D + noise * rng.standard_normal((n, f)), D


def sklearn_lasso(X, D, alpha, nonneg=False):
    out = np.empty((X.shape[0], D.shape[0]))
    for i, x in enumerate(X):
        m = Lasso(alpha=alpha / D.shape[1], fit_intercept=False, tol=1e-14, max_iter=10**6,
                  positive=nonneg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[i] = m.fit(D.T, x).coef_
    return out


def penalty(X, D, frac):
    return float(frac * np.abs(X @ D.T).max(axis=1).mean())


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("seed,frac", [(0, 0.05), (1, 0.2), (2, 0.5)])
def test_lasso_matches_sklearn(seed, frac, nonneg):
    X, D = sparse_problem(seed)
    alpha = penalty(X, D, frac)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-10)
    ref = sklearn_lasso(X, D, alpha, nonneg)
    ours, theirs = lasso_objective(X, D, res.codes, alpha), lasso_objective(X, D, ref, alpha)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    np.testing.assert_allclose(res.codes, ref, atol=1e-6)
    np.testing.assert_array_equal(np.abs(res.codes) > 1e-6, np.abs(ref) > 1e-6)
    assert res.converged and np.all(res.gap <= 1e-10)
    if nonneg:
        assert np.all(res.codes >= 0)


def test_lasso_is_the_end_of_sklearns_lars_path():
    X, D = sparse_problem(3, n=10)
    alpha = penalty(X, D, 0.1)
    res = lasso(X, D, alpha, tol=0.0 + 1e-12)
    for i, x in enumerate(X):
        # lars_path's objective is 1/(2 n) ||y - Xw||^2 + alpha ||w||_1 with n = n_features
        _, _, coefs = lars_path(D.T, x, method="lasso", alpha_min=alpha / D.shape[1])
        np.testing.assert_allclose(res.codes[i], coefs[:, -1], atol=1e-9)


@pytest.mark.parametrize("nonneg", [False, True])
def test_certified_gap_bounds_suboptimality(nonneg):
    # a path cut short by max_iter leaves a real gap: it must bound F(z) - F(z*) relative to F(z)
    X, D = sparse_problem(4, n=30, k=8)
    alpha = penalty(X, D, 0.05)
    opt = lasso_objective(X, D, sklearn_lasso(X, D, alpha, nonneg), alpha)
    for max_iter in (1, 3, 6):
        res = fista(X, D, alpha, nonneg=nonneg, max_iter=max_iter, tol=0)
        F = lasso_objective(X, D, res.codes, alpha)
        assert np.all((F - opt) / F <= res.gap * (1 + 1e-9) + 1e-12)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-8)
    F = lasso_objective(X, D, res.codes, alpha)
    assert np.all((F - opt) / F <= res.gap + 1e-12)
    assert np.all(res.gap <= 1e-8)


def test_lasso_polish_when_the_path_is_cut():
    # max_iter=2 path steps cannot reach alpha for most samples; the FISTA polish certifies them
    X, D = sparse_problem(5, n=30, k=6)
    alpha = penalty(X, D, 0.05)
    res = lasso(X, D, alpha, max_iter=2, tol=1e-7)
    assert res.converged and np.all(res.gap <= 1e-7)
    ref = lasso(X, D, alpha, tol=1e-12)
    np.testing.assert_allclose(lasso_objective(X, D, res.codes, alpha),
                               lasso_objective(X, D, ref.codes, alpha), rtol=2e-7)


def test_lasso_chunks_and_types_agree():
    X, D = sparse_problem(6, n=70)
    alpha = penalty(X, D, 0.1)
    full = lasso(X, D, alpha, batch_size=70).codes
    for bs in (1, 9, 32):
        np.testing.assert_allclose(lasso(X, D, alpha, batch_size=bs).codes, full, atol=1e-12)
    rt = lasso(torch.from_numpy(X), torch.from_numpy(D), alpha)
    assert isinstance(rt.codes, torch.Tensor) and isinstance(rt.gap, torch.Tensor)
    np.testing.assert_allclose(rt.codes.numpy(), full, atol=1e-12)
    r32 = lasso(X.astype(np.float32), D.astype(np.float32), alpha, tol=1e-4)
    assert r32.codes.dtype == np.float32
    np.testing.assert_allclose(r32.codes, full, atol=1e-3)


def test_lasso_edge_cases_and_validation():
    X, D = sparse_problem(7, n=5)
    big = float(np.abs(X @ D.T).max()) * 1.01
    np.testing.assert_array_equal(lasso(X, D, big).codes, 0.0)     # above lambda_max: zero
    Xz = np.vstack([np.zeros(X.shape[1]), X[0]])
    np.testing.assert_array_equal(lasso(Xz, D, 0.1).codes[0], 0.0)
    with pytest.raises(ValueError, match="alpha"):
        lasso(X, D, -1.0)
    with pytest.raises(ValueError, match="max_iter"):
        lasso(X, D, 0.1, max_iter=0)
    with pytest.raises(TypeError, match="nonneg"):
        lasso(X, D, 0.1, nonneg=1)
    with pytest.raises(ValueError, match="batch_size"):
        lasso(X, D, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="features"):
        lasso(X[:, :5], D, 0.1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), frac=st.floats(0.02, 0.9), nonneg=st.booleans(),
       a=st.integers(3, 40), f=st.integers(2, 16))
def test_lasso_optimality_property(seed, frac, nonneg, a, f):
    # KKT: |d_j r| <= alpha everywhere, = alpha with the code's sign on the support
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, a, f)
    X = rng.standard_normal((6, f))
    alpha = penalty(X, D, frac)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-9)
    assert res.converged
    C = (X - res.codes @ D) @ D.T
    scale = alpha * (1 + 1e-6) + 1e-9
    if nonneg:
        assert np.all(C <= scale) and np.all(res.codes >= 0)
    else:
        assert np.all(np.abs(C) <= scale)
    on = np.abs(res.codes) > 1e-7
    np.testing.assert_allclose(C[on], alpha * np.sign(res.codes[on]), rtol=1e-4, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 6), bs=st.integers(1, 20))
def test_omp_qr_path_equals_least_squares_on_its_support(seed, k, bs):
    # the QR form: codes are the LS fit on the chosen atoms, chunking changes nothing
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, 25, 12)
    X = rng.standard_normal((20, 12))
    Z = omp(X, D, k, batch_size=bs).codes
    np.testing.assert_allclose(Z, omp(X, D, k, batch_size=20).codes, atol=1e-12)
    for i in range(X.shape[0]):
        supp = np.flatnonzero(Z[i])
        assert supp.size == k
        coef, *_ = np.linalg.lstsq(D[supp].T, X[i], rcond=None)
        np.testing.assert_allclose(Z[i, supp], coef, atol=1e-9)

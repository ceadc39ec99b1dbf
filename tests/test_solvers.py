"""Correctness tests of ``sparsestudy.solvers`` against scikit-learn, NumPy and brute force.

Shapes: X (n_samples, n_features), D (n_atoms, n_features) with atoms as rows, codes
(n_samples, n_atoms), X ≈ codes @ D. scikit-learn's Lasso divides the squared error by the
number of rows of its design (here n_features), so alpha_sklearn = alpha / n_features.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.linear_model import Lasso, orthogonal_mp, orthogonal_mp_gram

from sparsestudy.prox import hard_threshold, soft_threshold
from sparsestudy.solvers import (
    fista,
    iht,
    iht_step,
    ista,
    ista_step,
    lasso_objective,
    lipschitz_constant,
    network_weights,
    omp,
)


def unit_dictionary(rng, n_atoms, n_features, dtype=np.float64):
    D = rng.standard_normal((n_atoms, n_features))
    return (D / np.linalg.norm(D, axis=1, keepdims=True)).astype(dtype)


def lasso_problem(seed, n_samples=4, n_atoms=30, n_features=20):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_samples, n_features)), unit_dictionary(rng, n_atoms, n_features)


def sklearn_lasso(X, D, alpha, nonneg):
    f = D.shape[1]
    out = np.empty((X.shape[0], D.shape[0]))
    for i, x in enumerate(X):
        model = Lasso(alpha=alpha / f, fit_intercept=False, tol=1e-14, max_iter=10**6,
                      positive=nonneg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[i] = model.fit(D.T, x).coef_
    return out


def np_objective(X, D, Z, alpha):
    return 0.5 * np.sum((X - Z @ D) ** 2, axis=1) + alpha * np.abs(Z).sum(axis=1)


# ------------------------------------------------------------------------ ISTA / FISTA vs Lasso
LASSO_CASES = [  # (seed, n_atoms, n_features, alpha as a fraction of max|X D^T|)
    (0, 30, 20, 0.05), (1, 30, 20, 0.3), (2, 15, 25, 0.05), (3, 15, 25, 0.3),
    (4, 40, 10, 0.3), (5, 30, 20, 1.2), (6, 15, 25, 2.0),
]


@pytest.mark.parametrize("solver", [ista, fista])
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("seed, n_atoms, n_features, frac", LASSO_CASES)
def test_proximal_gradient_matches_sklearn_lasso(solver, nonneg, seed, n_atoms, n_features, frac):
    X, D = lasso_problem(seed, n_atoms=n_atoms, n_features=n_features)
    corr = X @ D.T
    alpha = frac * (corr.max() if nonneg else np.abs(corr).max())
    res = solver(X, D, alpha, nonneg=nonneg, tol=1e-10, max_iter=100_000)
    assert res.converged
    assert np.all(res.gap <= 1e-10)
    ref = sklearn_lasso(X, D, alpha, nonneg)
    ours_obj, ref_obj = np_objective(X, D, res.codes, alpha), np_objective(X, D, ref, alpha)
    np.testing.assert_allclose(ours_obj, ref_obj, rtol=1e-6, atol=0)
    np.testing.assert_allclose(lasso_objective(X, D, res.codes, alpha), ours_obj, rtol=1e-12)
    np.testing.assert_allclose(res.codes, ref, atol=1e-5)  # the solution is unique (generic D)
    if nonneg:
        assert np.all(res.codes >= 0)
    if frac > 1:  # alpha >= max|x D^T|: zero is the solution
        np.testing.assert_array_equal(res.codes, 0.0)


# -------------------------------------------------------------- one step, n_iter, history, gap
def test_lipschitz_constant_is_largest_eigenvalue():
    rng = np.random.default_rng(10)
    for shape in [(5, 3), (3, 5), (12, 12), (1, 4)]:
        D = rng.standard_normal(shape)
        ref = np.linalg.eigvalsh(D @ D.T).max()
        assert lipschitz_constant(D) == pytest.approx(ref, rel=1e-12)
        assert lipschitz_constant(torch.from_numpy(D).float()) == pytest.approx(ref, rel=1e-5)
        W, S, L = network_weights(torch.from_numpy(D))
        assert L == pytest.approx(ref, rel=1e-12)
        np.testing.assert_allclose(W.numpy(), D.T / L, rtol=1e-15)
        np.testing.assert_allclose(S.numpy(), np.eye(shape[0]) - D @ D.T / L, atol=1e-15)


def test_network_weights_rejects_zero_dictionary():
    with pytest.raises(ValueError, match="D"):
        network_weights(torch.zeros(3, 4))


@pytest.mark.parametrize("nonneg", [False, True])
def test_one_ista_iteration_is_one_threshold(nonneg):
    X, D = lasso_problem(11, n_samples=6)
    alpha = 0.2
    L = lipschitz_constant(D)
    res = ista(X, D, alpha, max_iter=1, tol=0, nonneg=nonneg)
    assert res.n_iter == 1 and not res.converged
    v = X @ D.T / L
    ref = np.maximum(v - alpha / L, 0) if nonneg else soft_threshold(v, alpha / L)
    np.testing.assert_allclose(res.codes, ref, rtol=1e-13, atol=1e-15)
    # network form: exactly the threshold of X W
    W, _, L2 = network_weights(torch.from_numpy(D))
    assert L2 == L
    net = soft_threshold(X @ W.numpy(), alpha / L) if not nonneg else np.maximum(
        X @ W.numpy() - alpha / L, 0.0)
    # torch's and NumPy's matmuls may round differently (BLAS, processor): a tolerance
    np.testing.assert_allclose(res.codes, net, rtol=0, atol=1e-12)
    one_fista = fista(X, D, alpha, max_iter=1, tol=0, nonneg=nonneg)
    np.testing.assert_array_equal(one_fista.codes, res.codes)
    assert one_fista.n_iter == 1


def test_fista_two_iterations_by_hand():
    X, D = lasso_problem(12, n_samples=3)
    alpha = 0.1
    W, S, L = network_weights(torch.from_numpy(D))
    W, S = W.numpy(), S.numpy()
    z1 = soft_threshold(X @ W, alpha / L)
    z2_ista = soft_threshold(X @ W + z1 @ S, alpha / L)
    np.testing.assert_allclose(ista(X, D, alpha, max_iter=2, tol=0).codes, z2_ista, atol=1e-14)
    # FISTA: t1 = 1, t2 = (1 + sqrt 5)/2, y = z1 + (t1 - 1)/t2 (z1 - z0) = z1 -> same as ISTA;
    # third step uses y2 = z2 + (t2 - 1)/t3 (z2 - z1)
    t2 = (1 + np.sqrt(5)) / 2
    t3 = (1 + np.sqrt(1 + 4 * t2**2)) / 2
    y2 = z2_ista + (t2 - 1) / t3 * (z2_ista - z1)
    z3 = soft_threshold(X @ W + y2 @ S, alpha / L)
    np.testing.assert_allclose(fista(X, D, alpha, max_iter=2, tol=0).codes, z2_ista, atol=1e-14)
    np.testing.assert_allclose(fista(X, D, alpha, max_iter=3, tol=0).codes, z3, atol=1e-14)


@pytest.mark.parametrize("solver", [ista, fista])
def test_n_iter_and_history_semantics(solver):
    X, D = lasso_problem(13, n_samples=5)
    alpha = 0.1
    res = solver(X, D, alpha, max_iter=7, tol=0, history=True)
    assert res.n_iter == 7 and not res.converged
    assert res.history["objective"].shape == (8, 5)
    assert res.history["n_nonzero"].shape == (8, 5)
    np.testing.assert_allclose(res.history["objective"][0], 0.5 * np.sum(X**2, axis=1))
    np.testing.assert_array_equal(res.history["n_nonzero"][0], 0)
    np.testing.assert_allclose(res.history["objective"][-1], np_objective(X, D, res.codes, alpha),
                               rtol=1e-12)
    np.testing.assert_array_equal(res.history["n_nonzero"][-1], np.count_nonzero(res.codes, 1))
    assert res.gap.shape == (5,) and np.all(res.gap >= 0)
    assert solver(X, D, alpha, max_iter=7, tol=0).history is None
    # with a tolerance: stops at a multiple of check_every, converged, every gap <= tol
    conv = solver(X, D, alpha, tol=1e-5, check_every=3, max_iter=100_000, history=True)
    assert conv.converged and conv.n_iter % 3 == 0 and np.all(conv.gap <= 1e-5)
    assert conv.history["objective"].shape == (conv.n_iter + 1, 5)
    # stopping is at the first check that succeeds: the gap at the previous check was too big
    prev = solver(X, D, alpha, tol=0, max_iter=conv.n_iter - 3)
    assert np.any(prev.gap > 1e-5)
    # a budget too small: n_iter == max_iter and not converged
    short = solver(X, D, alpha, tol=1e-12, max_iter=5)
    assert short.n_iter == 5 and not short.converged


def test_ista_objective_decreases_monotonically():
    for seed in range(3):
        X, D = lasso_problem(20 + seed, n_samples=6, n_atoms=40, n_features=15)
        for nonneg in (False, True):
            res = ista(X, D, 0.05, nonneg=nonneg, max_iter=300, tol=0, history=True)
            obj = res.history["objective"]
            assert np.all(np.diff(obj, axis=0) <= 1e-12 * obj[:-1])
            assert np.all(obj[-1] < obj[0])


@pytest.mark.parametrize("solver", [ista, fista])
@pytest.mark.parametrize("nonneg", [False, True])
def test_duality_gap_bounds_suboptimality(solver, nonneg):
    X, D = lasso_problem(30, n_samples=8, n_atoms=40, n_features=15)
    alpha = 0.1
    ref_obj = np_objective(X, D, sklearn_lasso(X, D, alpha, nonneg), alpha)
    for max_iter in (1, 5, 30, 200):
        res = solver(X, D, alpha, nonneg=nonneg, max_iter=max_iter, tol=0)
        F = np_objective(X, D, res.codes, alpha)
        true_rel = (F - ref_obj) / F
        assert np.all(true_rel >= -1e-12)
        assert np.all(true_rel <= res.gap + 1e-12)
        assert np.all(res.gap <= 1)


# ------------------------------------------------------------------ types, dtypes, determinism
@pytest.mark.parametrize("call", [
    lambda X, D: ista(X, D, 0.1, max_iter=50),
    lambda X, D: fista(X, D, 0.1, max_iter=50),
    lambda X, D: iht(X, D, n_nonzero=3, max_iter=50),
    lambda X, D: iht(X, D, thresh=0.1, max_iter=50),
    lambda X, D: omp(X, D, 3),
], ids=["ista", "fista", "iht_k", "iht_t", "omp"])
def test_types_dtypes_and_determinism(call):
    X, D = lasso_problem(40, n_samples=5, n_atoms=12, n_features=8)
    r64 = call(X, D)
    assert isinstance(r64.codes, np.ndarray) and r64.codes.dtype == np.float64
    assert r64.codes.shape == (5, 12)
    r32 = call(X.astype(np.float32), D.astype(np.float32))
    assert isinstance(r32.codes, np.ndarray) and r32.codes.dtype == np.float32
    np.testing.assert_allclose(r32.codes, r64.codes, atol=2e-3)
    rt = call(torch.from_numpy(X), torch.from_numpy(D))
    assert isinstance(rt.codes, torch.Tensor) and rt.codes.dtype == torch.float64
    np.testing.assert_allclose(rt.codes.numpy(), r64.codes, rtol=1e-12, atol=1e-12)
    rt32 = call(torch.from_numpy(X).float(), torch.from_numpy(D).float())
    assert rt32.codes.dtype == torch.float32
    if r64.gap is not None:
        assert isinstance(r64.gap, np.ndarray) and isinstance(rt.gap, torch.Tensor)
        assert r32.gap.dtype == np.float32
    again = call(X, D)
    np.testing.assert_array_equal(again.codes, r64.codes)
    assert again.n_iter == r64.n_iter
    # mixed precision promotes; integer signals are accepted
    assert call(X.astype(np.float32), D).codes.dtype == np.float64
    assert call(np.round(X * 10).astype(np.int64), D).codes.dtype == np.float64


def test_solvers_do_not_modify_inputs():
    X, D = lasso_problem(41, n_samples=4, n_atoms=10, n_features=6)
    X0, D0 = X.copy(), D.copy()
    ista(X, D, 0.1, max_iter=20)
    fista(X, D, 0.1, max_iter=20)
    iht(X, D, n_nonzero=2, max_iter=20)
    omp(X, D, 2)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)


# ------------------------------------------------------------------------------------------ OMP
BACKENDS = ["compiled", "torch"]  # the compiled Batch-OMP (CPU default) and the batched torch path

@pytest.fixture(scope="module")
def omp_problem():
    rng = np.random.default_rng(50)
    D = unit_dictionary(rng, 50, 30)
    X = rng.standard_normal((200, 30))
    return X, D


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_matches_sklearn(omp_problem, k, backend):
    X, D = omp_problem
    res = omp(X, D, k, backend=backend)
    ref = orthogonal_mp(D.T, X.T, n_nonzero_coefs=k).T
    np.testing.assert_array_equal(res.codes != 0, ref != 0)
    np.testing.assert_allclose(res.codes, ref, rtol=0, atol=1e-8)
    assert np.all(np.count_nonzero(res.codes, axis=1) == k)
    assert res.n_iter == k and res.converged
    gram = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=k).T
    np.testing.assert_allclose(res.codes, gram, rtol=0, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_tol_matches_sklearn(omp_problem, backend):
    X, D = omp_problem
    X = X[:80]
    energy = np.sum(X**2, axis=1)
    for tol in (0.5 * energy.min(), 0.1 * np.median(energy)):
        res = omp(X, D, tol=tol, backend=backend)
        ref = orthogonal_mp(D.T, X.T, tol=tol).T
        np.testing.assert_array_equal(res.codes != 0, ref != 0)
        np.testing.assert_allclose(res.codes, ref, rtol=0, atol=1e-8)
        gram = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=tol, norms_squared=energy).T
        np.testing.assert_allclose(res.codes, gram, rtol=0, atol=1e-8)
        resid = np.sum((X - res.codes @ D) ** 2, axis=1)
        assert np.all(resid <= tol * (1 + 1e-9))
        assert res.converged
        assert res.n_iter == np.count_nonzero(res.codes, axis=1).max()


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_residual_orthogonal_to_selected_atoms(omp_problem, backend):
    X, D = omp_problem
    Z = omp(X, D, 6, backend=backend).codes
    R = X - Z @ D
    for i in range(X.shape[0]):
        supp = np.flatnonzero(Z[i])
        assert supp.size == 6
        np.testing.assert_allclose(D[supp] @ R[i], 0.0, atol=1e-10)
        # and the codes are the least-squares fit on that support
        coef, *_ = np.linalg.lstsq(D[supp].T, X[i], rcond=None)
        np.testing.assert_allclose(Z[i, supp], coef, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_greedy_choice_brute_force(backend):
    # the first atom is the most correlated one; the second minimises the LS residual among
    # the remaining atoms only in the orthogonalised sense: check the first step exactly
    rng = np.random.default_rng(51)
    D = unit_dictionary(rng, 9, 6)
    X = rng.standard_normal((40, 6))
    Z = omp(X, D, 1, backend=backend).codes
    for i in range(40):
        j = np.argmax(np.abs(D @ X[i]))
        assert np.flatnonzero(Z[i]).tolist() == [j]
        assert Z[i, j] == pytest.approx(D[j] @ X[i], rel=1e-12)


def _incoherent_dictionary(f=64):
    """Union of the identity and an orthonormal DCT basis: coherence 1/sqrt(f) * sqrt(2)."""
    n = np.arange(f)
    C = np.cos(np.pi * (n[:, None] + 0.5) * n[None, :] / f) * np.sqrt(2 / f)
    C[:, 0] /= np.sqrt(2)  # orthonormal DCT-II, columns are basis vectors
    return np.vstack([np.eye(f), C.T])


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_recovers_exactly_sparse_signals(backend):
    D = _incoherent_dictionary(64)
    G = D @ D.T
    mu = np.abs(G - np.diag(np.diag(G))).max()
    k = 3
    assert (2 * k - 1) * mu < 1  # Tropp's exact-recovery condition holds for every support
    rng = np.random.default_rng(52)
    Z = np.zeros((100, D.shape[0]))
    for i in range(100):
        supp = rng.choice(D.shape[0], k, replace=False)
        Z[i, supp] = rng.choice([-1, 1], k) * rng.uniform(0.5, 2, k)
    res = omp(Z @ D, D, k, backend=backend)
    np.testing.assert_array_equal(res.codes != 0, Z != 0)
    np.testing.assert_allclose(res.codes, Z, atol=1e-10)
    # tol mode stops as soon as the signal is explained
    res_tol = omp(Z @ D, D, tol=1e-12, backend=backend)
    np.testing.assert_allclose(res_tol.codes, Z, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_batch_size_identical(omp_problem, backend):
    X, D = omp_problem
    # chunks run the same computation; batched BLAS may round the last bit differently for
    # different chunk sizes, so supports must be identical and values equal to rounding
    X = X[:60]
    full = omp(X, D, 5, batch_size=X.shape[0], backend=backend)
    for bs in (1, 7, 32):
        chunked = omp(X, D, 5, batch_size=bs, backend=backend)
        np.testing.assert_array_equal(chunked.codes != 0, full.codes != 0)
        np.testing.assert_allclose(chunked.codes, full.codes, rtol=1e-13, atol=1e-13)
        assert chunked.n_iter == full.n_iter
    np.testing.assert_array_equal(omp(X, D, 5, backend=backend).codes, full.codes)
    tol = 0.2 * np.median(np.sum(X**2, axis=1))
    a = omp(X, D, tol=tol, batch_size=13, backend=backend)
    b = omp(X, D, tol=tol, batch_size=60, backend=backend)
    np.testing.assert_array_equal(a.codes != 0, b.codes != 0)
    np.testing.assert_allclose(a.codes, b.codes, rtol=1e-13, atol=1e-13)
    assert a.n_iter == b.n_iter and a.converged == b.converged


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_float32_and_torch(omp_problem, backend):
    X, D = omp_problem
    ref = omp(X, D, 4, backend=backend).codes
    r32 = omp(X.astype(np.float32), D.astype(np.float32), 4, backend=backend).codes
    assert r32.dtype == np.float32
    same = np.all((r32 != 0) == (ref != 0), axis=1)
    assert same.mean() > 0.95  # near-ties may flip a late choice in single precision
    np.testing.assert_allclose(r32[same], ref[same], atol=1e-4)
    rt = omp(torch.from_numpy(X), torch.from_numpy(D), 4, backend=backend).codes
    assert isinstance(rt, torch.Tensor)
    np.testing.assert_allclose(rt.numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_zero_signal_and_full_support(backend):
    rng = np.random.default_rng(53)
    D = unit_dictionary(rng, 6, 4)
    X = np.vstack([np.zeros(4), rng.standard_normal(4)])
    res = omp(X, D, 4, backend=backend)
    np.testing.assert_array_equal(res.codes[0], 0.0)
    # with as many atoms as features the fit is exact
    np.testing.assert_allclose(res.codes[1] @ D, X[1], atol=1e-10)


# ------------------------------------------------------------------------------------------ IHT
def _near_orthonormal(rng, n_atoms=60, n_features=100, eps=0.003):
    Q = np.linalg.qr(rng.standard_normal((n_features, n_atoms)))[0].T  # orthonormal rows
    return Q + eps * rng.standard_normal((n_atoms, n_features))


def test_iht_recovers_sparse_signal_near_orthonormal_dictionary():
    rng = np.random.default_rng(60)
    D = _near_orthonormal(rng)
    ev = np.linalg.eigvalsh(D @ D.T)
    # every restricted isometry constant of D^T / sqrt(L) is below 1/sqrt(32): the
    # Blumensath-Davies (2009) condition for IHT with unit step; D has full row rank so the
    # k-sparse generating code is the unique exact solution
    assert ev.min() / ev.max() > 1 - 1 / np.sqrt(32)
    k = 5
    Z = np.zeros((30, D.shape[0]))
    for i in range(30):
        supp = rng.choice(D.shape[0], k, replace=False)
        Z[i, supp] = rng.choice([-1, 1], k) * rng.uniform(1, 2, k)
    res = iht(Z @ D, D, n_nonzero=k, tol=1e-14, max_iter=5000)
    assert res.converged
    np.testing.assert_array_equal(res.codes != 0, Z != 0)
    np.testing.assert_allclose(res.codes, Z, atol=1e-8)


def test_iht_n_nonzero_keeps_at_most_k():
    X, D = lasso_problem(61, n_samples=10, n_atoms=40, n_features=15)
    for k in (1, 4, 15, 40):
        res = iht(X, D, n_nonzero=k, max_iter=100, history=True)
        assert np.all(np.count_nonzero(res.codes, axis=1) <= k)
        assert np.all(res.history["n_nonzero"] <= k)
        assert res.history["objective"].shape == (res.n_iter + 1, 10)


@pytest.mark.parametrize("mode", ["thresh", "n_nonzero"])
def test_iht_objective_is_non_increasing(mode):
    # step 1/L majorises the squared error, and each step minimises the surrogate exactly,
    # so F = 0.5||x - zD||^2 + lambda ||z||_0 (lambda = L t^2 / 2), resp. the squared error on
    # the k-sparse set, never increases
    X, D = lasso_problem(62, n_samples=8, n_atoms=40, n_features=15)
    L = lipschitz_constant(D)
    kw = {"thresh": 0.3} if mode == "thresh" else {"n_nonzero": 4}
    res = iht(X, D, max_iter=200, tol=0, history=True, **kw)
    F = res.history["objective"]
    if mode == "thresh":
        F = F + L * 0.3**2 / 2 * res.history["n_nonzero"]
    np.testing.assert_allclose(res.history["objective"][0], 0.5 * np.sum(X**2, axis=1))
    assert np.all(np.diff(F, axis=0) <= 1e-12 * F[:-1])


def test_iht_thresh_mode_first_step_and_magnitudes():
    X, D = lasso_problem(63, n_samples=10, n_atoms=40, n_features=15)
    t = 0.4
    one = iht(X, D, thresh=t, max_iter=1)
    W, S, L = network_weights(torch.from_numpy(D))
    v = X @ W.numpy()                        # NumPy's matmul: may differ from torch's by an ulp
    ref = hard_threshold(v, t)
    near_tie = np.abs(np.abs(v) - t) < 1e-12
    np.testing.assert_allclose(np.where(near_tie, 0, one.codes), np.where(near_tie, 0, ref),
                               rtol=0, atol=1e-12)
    assert np.all(np.abs(one.codes[one.codes != 0]) > t)
    assert np.count_nonzero(one.codes) > 0
    many = iht(X, D, thresh=t, max_iter=50)
    assert np.all(np.abs(many.codes[many.codes != 0]) > t)
    # an explicit loop of iht_step reproduces the solver
    z = None
    b = torch.from_numpy(X) @ W
    for _ in range(many.n_iter):
        z = iht_step(z, b, S, thresh=t)
    np.testing.assert_allclose(many.codes, z.numpy(), atol=1e-12)


def test_iht_n_iter_semantics():
    X, D = lasso_problem(64, n_samples=4, n_atoms=20, n_features=15)
    res = iht(X, D, n_nonzero=3, max_iter=4, tol=0)
    assert res.n_iter == 4 and not res.converged and res.gap is None
    conv = iht(X, D, n_nonzero=3, max_iter=10_000, tol=1e-12)
    assert conv.converged and conv.n_iter < 10_000


@pytest.mark.parametrize("kw", [{}, {"thresh": 0.1, "n_nonzero": 2}])
def test_iht_needs_exactly_one_mode(kw):
    X, D = lasso_problem(65, n_samples=2, n_atoms=5, n_features=4)
    with pytest.raises(ValueError, match="thresh"):
        iht(X, D, **kw)


# ----------------------------------------------------------------------------------- bad input
SOLVERS = {
    "ista": lambda X, D, **kw: ista(X, D, kw.pop("alpha", 0.1), max_iter=5, **kw),
    "fista": lambda X, D, **kw: fista(X, D, kw.pop("alpha", 0.1), max_iter=5, **kw),
    "iht": lambda X, D, **kw: iht(X, D, n_nonzero=kw.pop("n_nonzero", 2), **kw),
    "omp": lambda X, D, **kw: omp(X, D, kw.pop("n_nonzero", 2), **kw),
}


def _ok():
    rng = np.random.default_rng(70)
    return rng.standard_normal((3, 6)), unit_dictionary(rng, 5, 6)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_bad_shapes(name):
    X, D = _ok()
    call = SOLVERS[name]
    with pytest.raises(ValueError, match=r"^X "):
        call(X[0], D)
    with pytest.raises(ValueError, match=r"^X "):
        call(X[None], D)
    with pytest.raises(ValueError, match=r"^D "):
        call(X, D[0])
    with pytest.raises(ValueError, match=r"X has 6 features but D has 5"):
        call(X, D[:, :5])


@pytest.mark.parametrize("name", list(SOLVERS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs(name, bad):
    X, D = _ok()
    call = SOLVERS[name]
    Xb, Db = X.copy(), D.copy()
    Xb[1, 2] = bad
    Db[0, 0] = bad
    with pytest.raises(ValueError, match=r"^X "):
        call(Xb, D)
    with pytest.raises(ValueError, match=r"^D "):
        call(X, Db)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_non_numeric_inputs(name):
    X, D = _ok()
    call = SOLVERS[name]
    with pytest.raises(TypeError, match=r"^X "):
        call(X.astype(object), D)
    with pytest.raises(TypeError, match=r"^D "):
        call(X, D.astype(object))
    with pytest.raises(TypeError, match=r"^X "):
        call("X", D)
    with pytest.raises(TypeError, match=r"^X "):
        call(X.astype(complex), D)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_zero_atom_rejected(name):
    X, D = _ok()
    D[2] = 0.0
    with pytest.raises(ValueError, match="D"):
        SOLVERS[name](X, D)


@pytest.mark.parametrize("solver", [ista, fista])
def test_proximal_gradient_bad_scalars(solver):
    X, D = _ok()
    with pytest.raises(ValueError, match="alpha"):
        solver(X, D, -0.1)
    for bad in ("0.1", None, [0.1], np.nan):
        with pytest.raises((TypeError, ValueError), match="alpha"):
            solver(X, D, bad)
    with pytest.raises(TypeError, match="alpha"):
        solver(X, D, "0.1")
    with pytest.raises(ValueError, match="max_iter"):
        solver(X, D, 0.1, max_iter=0)
    with pytest.raises(TypeError, match="max_iter"):
        solver(X, D, 0.1, max_iter=10.0)
    with pytest.raises(ValueError, match="tol"):
        solver(X, D, 0.1, tol=-1e-3)
    with pytest.raises(TypeError, match="tol"):
        solver(X, D, 0.1, tol="small")
    with pytest.raises(ValueError, match="check_every"):
        solver(X, D, 0.1, check_every=0)
    with pytest.raises(TypeError, match="nonneg"):
        solver(X, D, 0.1, nonneg=1)


def test_iht_bad_scalars():
    X, D = _ok()
    with pytest.raises(ValueError, match="n_nonzero"):
        iht(X, D, n_nonzero=0)
    with pytest.raises(ValueError, match="n_nonzero"):
        iht(X, D, n_nonzero=6)  # > n_atoms
    with pytest.raises(TypeError, match="n_nonzero"):
        iht(X, D, n_nonzero=2.0)
    with pytest.raises(ValueError, match="thresh"):
        iht(X, D, thresh=-0.5)
    with pytest.raises(TypeError, match="thresh"):
        iht(X, D, thresh="0.5")
    with pytest.raises(ValueError, match="max_iter"):
        iht(X, D, n_nonzero=2, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        iht(X, D, n_nonzero=2, tol=-1.0)


def test_omp_bad_scalars():
    X, D = _ok()  # 5 atoms, 6 features
    with pytest.raises(ValueError, match="n_nonzero"):
        omp(X, D, 0)
    with pytest.raises(ValueError, match="n_nonzero"):
        omp(X, D, 6)  # > min(n_atoms, n_features)
    with pytest.raises(ValueError, match="n_nonzero"):
        omp(X[:, :4], D[:, :4], 5)  # > n_features
    with pytest.raises(TypeError, match="n_nonzero"):
        omp(X, D, 2.0)
    with pytest.raises(TypeError, match="n_nonzero"):
        omp(X, D, "2")
    with pytest.raises(ValueError, match="tol"):
        omp(X, D, tol=-1.0)
    with pytest.raises(TypeError, match="tol"):
        omp(X, D, tol="1")
    with pytest.raises(ValueError, match="batch_size"):
        omp(X, D, 2, batch_size=0)


def test_lasso_objective_matches_numpy_and_validates():
    X, D = lasso_problem(71, n_samples=5)
    Z = np.random.default_rng(71).standard_normal((5, 30))
    np.testing.assert_allclose(lasso_objective(X, D, Z, 0.3), np_objective(X, D, Z, 0.3),
                               rtol=1e-13)
    with pytest.raises(ValueError, match="codes"):
        lasso_objective(X, D, Z[:, :3][:, :, None], 0.3)
    with pytest.raises(ValueError, match="alpha"):
        lasso_objective(X, D, Z, -1.0)


# ------------------------------------------------------------------ ISTA step: network == prox-grad
@settings(max_examples=50, deadline=None)
@given(
    dims=st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 5)),
    data=st.data(),
    t=st.floats(0, 5, allow_nan=False),
    nonneg=st.booleans(),
)
def test_ista_step_equals_proximal_gradient_step(dims, data, t, nonneg):
    n_atoms, n_features, n_samples = dims
    el = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
    D = data.draw(arrays(np.float64, (n_atoms, n_features), elements=el))
    X = data.draw(arrays(np.float64, (n_samples, n_features), elements=el))
    z = data.draw(arrays(np.float64, (n_samples, n_atoms), elements=el))
    L = np.linalg.eigvalsh(D @ D.T).max() if n_atoms else 0.0
    assume(L > 1e-3)
    W, S, L_net = network_weights(torch.from_numpy(D))
    assert L_net == pytest.approx(L, rel=1e-9, abs=1e-12)
    b = torch.from_numpy(X) @ W
    out = ista_step(torch.from_numpy(z), b, S, t / L_net, nonneg=nonneg).numpy()
    v = z - (z @ D - X) @ D.T / L_net
    ref = np.maximum(v - t / L_net, 0) if nonneg else soft_threshold(v, t / L_net)
    scale = 1 + np.abs(z).max() + np.abs(X).max() * np.abs(D).max() * n_features / L_net
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12 * scale * (1 + n_atoms))
    # z=None is the zero code
    first = ista_step(None, b, S, t / L_net, nonneg=nonneg).numpy()
    zero = ista_step(torch.zeros(n_samples, n_atoms, dtype=torch.float64), b, S, t / L_net,
                     nonneg=nonneg).numpy()
    np.testing.assert_array_equal(first, zero)

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

BACKENDS = ["compiled", "torch"]  # the compiled per-signal kernels (CPU default), batched torch


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
@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_matches_sklearn(seed, frac, nonneg, backend):
    X, D = sparse_problem(seed)
    alpha = penalty(X, D, frac)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-10, backend=backend)
    ref = sklearn_lasso(X, D, alpha, nonneg)
    ours, theirs = lasso_objective(X, D, res.codes, alpha), lasso_objective(X, D, ref, alpha)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    np.testing.assert_allclose(res.codes, ref, atol=1e-6)
    np.testing.assert_array_equal(np.abs(res.codes) > 1e-6, np.abs(ref) > 1e-6)
    assert res.converged and np.all(res.gap <= 1e-10)
    if nonneg:
        assert np.all(res.codes >= 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_is_the_end_of_sklearns_lars_path(backend):
    X, D = sparse_problem(3, n=10)
    alpha = penalty(X, D, 0.1)
    res = lasso(X, D, alpha, tol=0.0 + 1e-12, backend=backend)
    for i, x in enumerate(X):
        # lars_path's objective is 1/(2 n) ||y - Xw||^2 + alpha ||w||_1 with n = n_features
        _, _, coefs = lars_path(D.T, x, method="lasso", alpha_min=alpha / D.shape[1])
        np.testing.assert_allclose(res.codes[i], coefs[:, -1], atol=1e-9)


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_certified_gap_bounds_suboptimality(nonneg, backend):
    # a path cut short by max_iter leaves a real gap: it must bound F(z) - F(z*) relative to F(z)
    X, D = sparse_problem(4, n=30, k=8)
    alpha = penalty(X, D, 0.05)
    opt = lasso_objective(X, D, sklearn_lasso(X, D, alpha, nonneg), alpha)
    for max_iter in (1, 3, 6):
        res = fista(X, D, alpha, nonneg=nonneg, max_iter=max_iter, tol=0)
        F = lasso_objective(X, D, res.codes, alpha)
        assert np.all((F - opt) / F <= res.gap * (1 + 1e-9) + 1e-12)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-8, backend=backend)
    F = lasso_objective(X, D, res.codes, alpha)
    assert np.all((F - opt) / F <= res.gap + 1e-12)
    assert np.all(res.gap <= 1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_polish_when_the_path_is_cut(backend):
    # max_iter=2 path steps cannot reach alpha for most samples; the FISTA polish certifies them
    X, D = sparse_problem(5, n=30, k=6)
    alpha = penalty(X, D, 0.05)
    res = lasso(X, D, alpha, max_iter=2, tol=1e-7, backend=backend)
    assert res.converged and np.all(res.gap <= 1e-7)
    ref = lasso(X, D, alpha, tol=1e-12, backend=backend)
    np.testing.assert_allclose(lasso_objective(X, D, res.codes, alpha),
                               lasso_objective(X, D, ref.codes, alpha), rtol=2e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_chunks_and_types_agree(backend):
    X, D = sparse_problem(6, n=70)
    alpha = penalty(X, D, 0.1)
    full = lasso(X, D, alpha, batch_size=70, backend=backend).codes
    for bs in (1, 9, 32):
        chunked = lasso(X, D, alpha, batch_size=bs, backend=backend).codes
        np.testing.assert_allclose(chunked, full, atol=1e-12)
    rt = lasso(torch.from_numpy(X), torch.from_numpy(D), alpha, backend=backend)
    assert isinstance(rt.codes, torch.Tensor) and isinstance(rt.gap, torch.Tensor)
    np.testing.assert_allclose(rt.codes.numpy(), full, atol=1e-12)
    r32 = lasso(X.astype(np.float32), D.astype(np.float32), alpha, tol=1e-4, backend=backend)
    assert r32.codes.dtype == np.float32
    np.testing.assert_allclose(r32.codes, full, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_edge_cases_and_validation(backend):
    X, D = sparse_problem(7, n=5)
    big = float(np.abs(X @ D.T).max()) * 1.01
    # above lambda_max: zero
    np.testing.assert_array_equal(lasso(X, D, big, backend=backend).codes, 0.0)
    Xz = np.vstack([np.zeros(X.shape[1]), X[0]])
    np.testing.assert_array_equal(lasso(Xz, D, 0.1, backend=backend).codes[0], 0.0)
    with pytest.raises(ValueError, match="alpha"):
        lasso(X, D, -1.0, backend=backend)
    with pytest.raises(ValueError, match="max_iter"):
        lasso(X, D, 0.1, max_iter=0, backend=backend)
    with pytest.raises(TypeError, match="nonneg"):
        lasso(X, D, 0.1, nonneg=1, backend=backend)
    with pytest.raises(ValueError, match="batch_size"):
        lasso(X, D, 0.1, batch_size=0, backend=backend)
    with pytest.raises(ValueError, match="features"):
        lasso(X[:, :5], D, 0.1, backend=backend)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), frac=st.floats(0.02, 0.9), nonneg=st.booleans(),
       a=st.integers(3, 40), f=st.integers(2, 16))
@pytest.mark.parametrize("backend", BACKENDS)
def test_lasso_optimality_property(seed, frac, nonneg, a, f, backend):
    # KKT: |d_j r| <= alpha everywhere, = alpha with the code's sign on the support
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, a, f)
    X = rng.standard_normal((6, f))
    alpha = penalty(X, D, frac)
    res = lasso(X, D, alpha, nonneg=nonneg, tol=1e-9, backend=backend)
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
@pytest.mark.parametrize("backend", BACKENDS)
def test_omp_qr_path_equals_least_squares_on_its_support(seed, k, bs, backend):
    # the QR form: codes are the LS fit on the chosen atoms, chunking changes nothing
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, 25, 12)
    X = rng.standard_normal((20, 12))
    Z = omp(X, D, k, batch_size=bs, backend=backend).codes
    np.testing.assert_allclose(Z, omp(X, D, k, batch_size=20, backend=backend).codes, atol=1e-12)
    for i in range(X.shape[0]):
        supp = np.flatnonzero(Z[i])
        assert supp.size == k
        coef, *_ = np.linalg.lstsq(D[supp].T, X[i], rcond=None)
        np.testing.assert_allclose(Z[i, supp], coef, atol=1e-9)


# ------------------------------------------------------------- the compiled and torch backends
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 8), frac=st.floats(0.02, 0.5),
       nonneg=st.booleans(), a=st.integers(2, 60), f=st.integers(2, 24))
def test_backends_agree(seed, k, frac, nonneg, a, f):
    # two implementations of one algorithm: same OMP supports and codes, same lasso optimum
    rng = np.random.default_rng(seed)
    D = unit_dictionary(rng, a, f)
    X = rng.standard_normal((15, f))
    k = min(k, a, f)
    zc, zt = omp(X, D, k, backend="compiled").codes, omp(X, D, k, backend="torch").codes
    same = np.all((zc != 0) == (zt != 0), axis=1)
    assert same.mean() >= 0.8              # an exact tie may break either way in the last bit
    np.testing.assert_allclose(zc[same], zt[same], atol=1e-8)
    for Z in (zc, zt):                     # and either way the codes are OMP's LS fits
        R = X - Z @ D
        assert np.all(np.abs(np.sum(Z * (R @ D.T), axis=1)) <= 1e-8)
    alpha = penalty(X, D, frac)
    lc = lasso(X, D, alpha, nonneg=nonneg, tol=1e-9, backend="compiled")
    lt = lasso(X, D, alpha, nonneg=nonneg, tol=1e-9, backend="torch")
    assert lc.converged and lt.converged
    np.testing.assert_allclose(lasso_objective(X, D, lc.codes, alpha),
                               lasso_objective(X, D, lt.codes, alpha), rtol=1e-8)


@pytest.fixture
def small_tasks(monkeypatch):
    """Tasks of 16 signals, so that a few hundred signals make many tasks for the threads."""
    from sparsestudy import _compiled
    monkeypatch.setattr(_compiled, "_task_size", lambda a: 16)


def test_compiled_results_do_not_depend_on_threads(small_tasks):
    # bit-for-bit: the same arithmetic per signal whatever the tasks' assignment to threads
    X, D = sparse_problem(8, n=300, f=16, a=40)
    alpha = penalty(X, D, 0.1)
    before = torch.get_num_threads()
    try:
        out = {}
        for nt in (1, 2, 3):
            torch.set_num_threads(nt)
            lo = lasso(X, D, alpha)
            out[nt] = (omp(X, D, 5).codes, lo.codes, lo.gap,
                       omp(X.astype(np.float32), D.astype(np.float32), 5).codes)
    finally:
        torch.set_num_threads(before)
    for nt in (2, 3):
        for a, b in zip(out[1], out[nt]):
            np.testing.assert_array_equal(a, b)


def test_compiled_chunk_sizes_agree(small_tasks):
    # other chunk sizes round the product X D^T differently: same supports, codes to 1e-12
    X, D = sparse_problem(12, n=200, f=16, a=40)
    alpha = penalty(X, D, 0.1)
    ref_o, ref_l = omp(X, D, 6).codes, lasso(X, D, alpha).codes
    for bs in (1, 17, 64, 199):
        zo, zl = omp(X, D, 6, batch_size=bs).codes, lasso(X, D, alpha, batch_size=bs).codes
        np.testing.assert_array_equal(zo != 0, ref_o != 0)
        np.testing.assert_array_equal(zl != 0, ref_l != 0)
        np.testing.assert_allclose(zo, ref_o, rtol=0, atol=1e-12)
        np.testing.assert_allclose(zl, ref_l, rtol=0, atol=1e-12)


def test_compiled_omp_is_brute_force_omp():
    # every step by hand: the most correlated atom with the residual, then the LS fit
    rng = np.random.default_rng(13)
    D = unit_dictionary(rng, 30, 10)
    X = rng.standard_normal((25, 10))
    k = 5
    Z = omp(X, D, k, backend="compiled").codes
    for i, x in enumerate(X):
        chosen, r = [], x.copy()
        for _ in range(k):
            chosen.append(int(np.argmax(np.abs(D @ r))))
            coef, *_ = np.linalg.lstsq(D[chosen].T, x, rcond=None)
            r = x - coef @ D[chosen]
        np.testing.assert_array_equal(np.flatnonzero(Z[i]), np.sort(chosen))
        np.testing.assert_allclose(Z[i, chosen], coef, atol=1e-12)


def test_compiled_float32_omp_meets_the_accuracy_rule():
    # the float32 kernel's residual energy is within 0.1 % of scikit-learn's float64 OMP
    from sklearn.linear_model import orthogonal_mp_gram
    X, D = sparse_problem(14, n=400, f=32, a=96, k=6)
    Z32 = omp(X.astype(np.float32), D.astype(np.float32), 6).codes
    assert Z32.dtype == np.float32
    ref = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=6).T
    e32 = np.sum((X - Z32.astype(np.float64) @ D) ** 2, axis=1).mean()
    eref = np.sum((X - ref @ D) ** 2, axis=1).mean()
    assert e32 <= eref * 1.001
    assert np.mean(np.all((Z32 != 0) == (ref != 0), axis=1)) > 0.95


def test_lasso_gap_from_inner_products_equals_the_direct_gap():
    # the compiled path's certificate (from |x|^2, X D^T, D D^T) is the gap of solvers' formula
    from sparsestudy import _compiled
    from sparsestudy.solvers import _relative_gap
    X, D = sparse_problem(15, n=60, f=20, a=50, k=5)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    for nonneg, frac, max_iter in ((False, 0.1, 500), (True, 0.2, 500), (False, 0.05, 2)):
        alpha = penalty(X, D, frac)
        Z, steps, gap, err = _compiled.lasso_codes(Xt, Dt, alpha, nonneg, max_iter, None, 1)
        direct = _relative_gap(Xt, Dt, torch.from_numpy(Z), alpha, nonneg).numpy()
        np.testing.assert_allclose(gap, direct, rtol=1e-6, atol=1e-12)
        assert np.all(err < 1e-12)
        if max_iter == 2:                        # a cut path leaves a real gap
            assert gap.max() > 1e-3 and steps.max() == 2


def test_lasso_recomputes_doubtful_gaps(monkeypatch):
    # where the inner-product gap's rounding bound exceeds the tolerance, the gap is recomputed
    # from X, D and the codes; the result is the same certified solution
    from sparsestudy import _compiled
    X, D = sparse_problem(16, n=20)
    alpha = penalty(X, D, 0.1)
    ref = lasso(X, D, alpha, tol=1e-9)
    real = _compiled.lasso_codes

    def doubtful(*args, **kw):
        Z, steps, gap, err = real(*args, **kw)
        return Z, steps, gap * 0 + 1.0, err + 1.0      # every gap in doubt, and wrong
    monkeypatch.setattr(_compiled, "lasso_codes", doubtful)
    res = lasso(X, D, alpha, tol=1e-9)
    np.testing.assert_array_equal(res.codes, ref.codes)
    np.testing.assert_allclose(res.gap, ref.gap, rtol=1e-6, atol=1e-13)
    assert res.converged


def test_run_blocks_covers_every_row_once():
    from sparsestudy._compiled import run_blocks
    seen = np.zeros(1000, dtype=int)

    def kernel(arr, start, stop):
        arr[start:stop] += 1

    for nt in (1, 2, 3, 7):
        for task in (1, 64, 256, 5000):
            seen[:] = 0
            run_blocks(kernel, 1000, nt, seen, task=task)
            np.testing.assert_array_equal(seen, 1)


def test_backend_validation():
    X, D = sparse_problem(9, n=4)
    for fn in (lambda b: omp(X, D, 2, backend=b), lambda b: lasso(X, D, 0.1, backend=b)):
        for bad in ("numba", None, 1):
            with pytest.raises(ValueError, match="backend"):
                fn(bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_active_sets_are_certified(backend):
    # repeated atoms make active Gram matrices singular: the path stops and FISTA finishes,
    # with finite codes and a certified gap (the torch path used to return NaN here)
    X, D = sparse_problem(10, n=12, f=10, a=20)
    Dd = np.vstack([D, D[:5], -D[5:8]])
    alpha = penalty(X, Dd, 0.1)
    res = lasso(X, Dd, alpha, tol=1e-7, backend=backend)
    assert np.all(np.isfinite(res.codes)) and res.converged and np.all(res.gap <= 1e-7)
    ref = lasso(X, D, alpha, tol=1e-10, backend=backend)     # same optimum without the copies
    np.testing.assert_allclose(lasso_objective(X, Dd, res.codes, alpha),
                               lasso_objective(X, D, ref.codes, alpha), rtol=1e-6)
    Z = omp(X, Dd, 6, backend=backend).codes                 # OMP never picks a copy twice
    assert np.all(np.count_nonzero(Z, axis=1) == 6)
    R = X - Z @ Dd
    assert np.all(np.abs(R @ Dd.T)[Z != 0] <= 1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_requiring_grad_are_accepted(backend):
    X, D = sparse_problem(11, n=6)
    Xt = torch.from_numpy(X).requires_grad_()
    Dt = torch.from_numpy(D).requires_grad_()
    np.testing.assert_allclose(omp(Xt, Dt, 3, backend=backend).codes.detach().numpy(),
                               omp(X, D, 3, backend=backend).codes, atol=1e-12)
    np.testing.assert_allclose(lasso(Xt, Dt, 0.1, backend=backend).codes.detach().numpy(),
                               lasso(X, D, 0.1, backend=backend).codes, atol=1e-12)


# The kernels find their argmax / argmin by comparing floats' bits as integers (vectorised);
# these must pick exactly the index NumPy's sequential argmax / argmin picks, ties included.
_FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-300, -1e-300, 3.0, np.inf])


@settings(max_examples=200, deadline=None)
@given(st.lists(_FLOATS | st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=70),
       st.sampled_from([np.float64, np.float32]))
def test_bitwise_abs_argmax_is_numpys(values, dtype):
    from sparsestudy._compiled import _first_abs_bits, _max_abs_bits, _sign_mask
    x = np.asarray(values, dtype=dtype)
    mask = _sign_mask(dtype)
    bits = x.view(mask.dtype)
    best = _max_abs_bits(bits, mask[0])
    assert np.array([best], dtype=mask.dtype).view(dtype)[0] == np.abs(x).max()
    assert _first_abs_bits(bits, mask[0], best) == int(np.argmax(np.abs(x)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1e-300, 0.5, 2.0, 2.0, np.inf])
                | st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=70),
       st.sampled_from([np.float64, np.float32]))
def test_bitwise_argmin_of_nonnegatives_is_numpys(values, dtype):
    from sparsestudy._compiled import _argmin_nonneg_bits, _sign_mask
    x = np.asarray(values, dtype=dtype)
    value, index = _argmin_nonneg_bits(x.view(_sign_mask(dtype).dtype), x)
    assert value == x.min()
    assert index == (int(np.argmin(x)) if np.isfinite(x.min()) else -1)


def test_sign_mask_clears_only_the_sign_bit():
    from sparsestudy._compiled import _sign_mask
    for dtype in (np.float64, np.float32):
        x = np.array([-3.5, 2.0, -0.0, -np.inf], dtype=dtype)
        m = _sign_mask(dtype)
        assert m.dtype.itemsize == x.dtype.itemsize
        np.testing.assert_array_equal((x.view(m.dtype) & m[0]).view(dtype), np.abs(x))


def test_compiled_products_leave_numpys_blas_threads_as_they_were():
    # each task's product runs on one BLAS thread inside the workers; afterwards NumPy's BLAS
    # has the thread count it had before the call
    from threadpoolctl import threadpool_info
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    X, D = sparse_problem(3, n=300, f=16, a=40)
    omp(X, D, 4)
    lasso(X, D, penalty(X, D, 0.1))
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before

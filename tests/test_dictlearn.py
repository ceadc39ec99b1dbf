"""The dictionary learners of sparsestudy.dictlearn: against scikit-learn's learner on the same
data (objective within a stated tolerance), recovery of a planted dictionary up to permutation
and sign, the recorded convergence, determinism, the estimator contract and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sparsestudy.data import sample_patches
from sparsestudy.dictlearn import (KSVD, MOD, OnlineDictionaryLearning, dictionary_objective,
                                   omp_psnr, sparse_codes)

torch.set_num_threads(1)

#: ours may be at most this much above scikit-learn's objective (relative), same data and passes
SKLEARN_TOL = 0.05


@pytest.fixture(scope="module")
def small():
    """Small 4x4 patches for the comparisons with scikit-learn (its LARS learner is slow)."""
    X = sample_patches(500, 4, images=["camera", "grass", "brick"], seed=1, remove_mean=True)
    return X[np.linalg.norm(X, axis=1) > 1e-8]


@pytest.fixture(scope="module")
def sk_dictionary(small):
    return MiniBatchDictionaryLearning(n_components=24, alpha=0.02, batch_size=64, max_iter=8,
                                       tol=0, max_no_improvement=None, fit_algorithm="lars",
                                       random_state=0).fit(small).components_


@pytest.fixture(scope="module")
def patches():
    X = sample_patches(1200, 6, images=["camera", "grass", "brick"], seed=0)
    X = X - X.mean(axis=1, keepdims=True)
    return X[np.linalg.norm(X, axis=1) > 1e-8]


def planted(n=1500, f=16, K=24, k=3, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((K, f))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = np.zeros((n, K))
    for i in range(n):
        idx = rng.choice(K, k, replace=False)
        Z[i, idx] = rng.choice([-1, 1], k) * rng.uniform(0.5, 1.5, k)
    return Z @ D, D


def matched_correlations(D_true, D):
    """|<d_true, d>| of the best one-to-one matching (permutation and sign free)."""
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    C = np.abs(D_true @ D.T)
    r, c = linear_sum_assignment(-C)
    return C[r, c]


def test_dictionary_objective_matches_scikit_learn_codes(small):
    patches = small
    D = patches[:24] / np.linalg.norm(patches[:24], axis=1, keepdims=True)
    alpha = 0.02
    Z = sparse_encode(patches, D, algorithm="lasso_lars", alpha=alpha, max_iter=2000)
    R = patches - Z @ D
    ref = (0.5 * (R * R).sum() + alpha * np.abs(Z).sum()) / len(patches)
    assert dictionary_objective(patches, D, coder="lasso", alpha=alpha) == \
        pytest.approx(ref, rel=1e-6)
    Z = sparse_encode(patches, D, algorithm="omp", n_nonzero_coefs=4)
    R = patches - Z @ D
    assert dictionary_objective(patches, D, coder="omp", n_nonzero=4) == \
        pytest.approx(0.5 * (R * R).sum() / len(patches), rel=1e-8)


def test_online_lasso_objective_within_tolerance_of_scikit_learn(small, sk_dictionary):
    """Same data, penalty, mini-batch size and passes as the sk_dictionary fixture."""
    patches, alpha, K, passes = small, 0.02, 24, 8
    ours = OnlineDictionaryLearning(K, coder="lasso", alpha=alpha, batch_size=64,
                                    max_iter=passes, tol=0, seed=0).fit(patches)
    f_sk = dictionary_objective(patches, sk_dictionary, coder="lasso", alpha=alpha)
    f_ours = dictionary_objective(patches, ours.components_, coder="lasso", alpha=alpha)
    start = dictionary_objective(patches, ours._init_atoms(patches, K, np.random.default_rng(0)),
                                 coder="lasso", alpha=alpha)
    assert f_ours <= f_sk * (1 + SKLEARN_TOL)
    assert f_ours < 0.95 * start                        # it learned something
    assert ours.objective_[-1] == pytest.approx(f_ours, rel=1e-9)
    assert np.all(np.linalg.norm(ours.components_, axis=1) <= 1 + 1e-12)


@pytest.mark.parametrize("cls", [KSVD, MOD])
def test_omp_learners_beat_scikit_learn_on_the_omp_objective(cls, small, sk_dictionary):
    """scikit-learn trains with lasso codes; judged by OMP-k codes (as the benchmark does), the
    OMP-trained learners must be at least as good within the tolerance."""
    patches, K, k = small, 24, 3
    ours = cls(K, n_nonzero=k, max_iter=15, seed=0).fit(patches)
    f_sk = dictionary_objective(patches, sk_dictionary / np.linalg.norm(
        sk_dictionary, axis=1, keepdims=True), coder="omp", n_nonzero=k)
    assert dictionary_objective(patches, ours.components_, n_nonzero=k) <= f_sk * (1 + SKLEARN_TOL)


@pytest.mark.parametrize("make,share", [
    (lambda: KSVD(30, n_nonzero=3, max_iter=100, seed=1), 0.9),
    (lambda: MOD(30, n_nonzero=3, max_iter=100, seed=1), 0.9),
    # online learning with OMP codes ends with a few atoms stuck between two planted ones
    (lambda: OnlineDictionaryLearning(30, coder="omp", n_nonzero=3, batch_size=64,
                                      max_iter=60, seed=1), 0.8),
], ids=["ksvd", "mod", "online-omp"])
@pytest.mark.parametrize("seed", [0])
def test_planted_dictionary_is_recovered_up_to_permutation_and_sign(make, share, seed):
    """2,000 noiseless signals, each 3 of 30 random unit atoms in 20 dimensions: the share of
    planted atoms matched (one-to-one, either sign) by a learned atom with |cosine| > 0.99."""
    X, D_true = planted(n=2000, f=20, K=30, k=3, seed=seed)
    est = make().fit(X)
    corr = matched_correlations(D_true, est.components_)
    assert np.mean(corr > 0.99) >= share, np.sort(corr)
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0, atol=1e-10)


def test_convergence_is_recorded(patches):
    est = KSVD(20, n_nonzero=2, max_iter=200, tol=1e-3, seed=0).fit(patches)
    assert est.converged_ and est.stop_reason_ == "tol"
    assert len(est.objective_) == est.n_iter_ + 1
    rel = abs(est.objective_[-1] - est.objective_[-2]) / est.objective_[-2]
    assert rel < 1e-3 and est.final_change_ == pytest.approx(rel)
    assert all(abs(b - a) / a >= 1e-3 for a, b in zip(est.objective_[:-2], est.objective_[1:-1]))
    capped = KSVD(20, n_nonzero=2, max_iter=3, tol=0, seed=0).fit(patches)
    assert not capped.converged_ and capped.stop_reason_ == "max_iter" and capped.n_iter_ == 3
    online = OnlineDictionaryLearning(20, coder="omp", n_nonzero=2, max_iter=2, tol=0,
                                      batch_size=100, seed=0).fit(patches)
    assert online.n_iter_ == 2 and len(online.objective_) == 3
    assert online.n_steps_ == 2 * (len(patches) // 100)


def test_ksvd_update_never_raises_the_residual_for_fixed_supports(patches):
    """The rank-one step is alternating least squares: with the codes' supports fixed it cannot
    increase the residual."""
    est = KSVD(30, n_nonzero=3, seed=0)
    Xa, K, rng = est._start(patches)
    D = est._init_atoms(Xa, K, rng)
    Z = sparse_codes(Xa, D, n_nonzero=3)
    R = Xa - Z @ D
    before = float((R * R).sum())
    est._update(Xa, D, Z.copy(), R, rng)
    assert float((R * R).sum()) <= before * (1 + 1e-12)


def test_mod_update_is_the_least_squares_dictionary(patches):
    est = MOD(30, n_nonzero=3, seed=0)
    Xa, K, rng = est._start(patches)
    D = est._init_atoms(Xa, K, rng)
    Z = sparse_codes(Xa, D, n_nonzero=3)
    R = Xa - Z @ D
    est._update(Xa, D, Z, R, rng)
    ref = np.linalg.lstsq(Z, Xa, rcond=None)[0]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(D, ref, atol=1e-6)


def test_same_seed_same_dictionary(patches):
    for make in (lambda s: KSVD(16, n_nonzero=2, max_iter=4, seed=s),
                 lambda s: OnlineDictionaryLearning(16, coder="omp", n_nonzero=2, max_iter=2,
                                                    seed=s)):
        a, b, c = make(5).fit(patches), make(5).fit(patches), make(6).fit(patches)
        np.testing.assert_array_equal(a.components_, b.components_)
        assert not np.array_equal(a.components_, c.components_)


def test_estimator_contract(patches):
    est = OnlineDictionaryLearning(12, coder="omp", n_nonzero=2, max_iter=2, seed=0)
    assert clone(est).get_params() == est.get_params()
    pipe = Pipeline([("id", FunctionTransformer()), ("dl", est)]).fit(patches)
    codes = pipe.transform(patches[:10])
    assert codes.shape == (10, 12) and np.all((codes != 0).sum(1) <= 2)
    t = est.transform(torch.as_tensor(patches[:5]))
    assert isinstance(t, torch.Tensor) and t.shape == (5, 12)
    np.testing.assert_allclose(t.numpy(), codes[:5])
    assert est.score(patches) == pytest.approx(
        -dictionary_objective(patches, est.components_, n_nonzero=2))
    lasso_est = OnlineDictionaryLearning(12, coder="lasso", alpha=0.05, max_iter=1,
                                         seed=0).fit(patches)
    assert lasso_est.transform(patches[:4]).shape == (4, 12)


def test_omp_psnr_closed_form():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((16, 16)))[0]      # orthonormal: OMP-k keeps top k
    X = rng.standard_normal((50, 16)) * 0.1
    C = X @ Q.T
    for k in (1, 4, 16):
        keep = np.argsort(-np.abs(C), axis=1)[:, :k]
        Ck = np.zeros_like(C)
        np.put_along_axis(Ck, keep, np.take_along_axis(C, keep, 1), 1)
        mse = np.mean((X - Ck @ Q) ** 2)
        expect = np.inf if mse < 1e-30 else 10 * np.log10(1 / mse)
        got = omp_psnr(X, Q, [k])[0]
        assert (np.isinf(expect) and got > 250) or got == pytest.approx(expect, rel=1e-9)


@pytest.mark.parametrize("cls", [OnlineDictionaryLearning, KSVD, MOD])
def test_bad_input(cls, patches):
    kw = {"coder": "omp"} if cls is OnlineDictionaryLearning else {}
    bad = patches.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        cls(5, **kw).fit(bad)
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        cls(5, **kw).fit(patches[0])
    with pytest.raises(TypeError, match="X must be"):
        cls(5, **kw).fit("patches")
    with pytest.raises(ValueError, match="n_atoms=50 is more atoms than X has"):
        cls(50, **kw).fit(patches[:20])
    Xz = patches[:30].copy()
    Xz[5:] = 0
    with pytest.raises(ValueError, match="nonzero samples"):
        cls(10, **kw).fit(Xz)
    with pytest.raises(ValueError, match="n_atoms"):
        cls(0, **kw).fit(patches)
    with pytest.raises(ValueError, match="n_nonzero"):
        cls(5, n_nonzero=40, **kw).fit(patches)
    with pytest.raises(ValueError, match="tol"):
        cls(5, tol=-1, **kw).fit(patches)
    with pytest.raises(ValueError, match="max_iter"):
        cls(5, max_iter=0, **kw).fit(patches)
    with pytest.raises(TypeError, match="seed"):
        cls(5, seed=1.5, **kw).fit(patches)
    est = cls(5, max_iter=1, **kw).fit(patches)
    with pytest.raises(ValueError, match="features"):
        est.transform(patches[:, :10])


def test_online_bad_coder_arguments(patches):
    with pytest.raises(ValueError, match="coder"):
        OnlineDictionaryLearning(5, coder="lars").fit(patches)
    with pytest.raises(ValueError, match="alpha"):
        OnlineDictionaryLearning(5, coder="lasso", alpha=None).fit(patches)
    with pytest.raises(ValueError, match="alpha"):
        OnlineDictionaryLearning(5, coder="lasso", alpha=-0.1).fit(patches)
    with pytest.raises(ValueError, match="batch_size"):
        OnlineDictionaryLearning(5, coder="omp", batch_size=0).fit(patches)
    with pytest.raises(TypeError, match="callback"):
        OnlineDictionaryLearning(5, coder="omp", callback=3).fit(patches)
    with pytest.raises(ValueError, match="D has"):
        sparse_codes(patches, np.ones((3, 5)))


def test_sample_patches_remove_mean():
    a = sample_patches(30, 5, images=["camera"], seed=4)
    b = sample_patches(30, 5, images=["camera"], seed=4, remove_mean=True)
    np.testing.assert_allclose(b, a - a.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(b.mean(axis=1), 0.0, atol=1e-15)
    with pytest.raises(TypeError, match="remove_mean"):
        sample_patches(3, 5, images=["camera"], remove_mean=1)


def test_bench_dictlearn_target_and_ratios():
    """The benchmark's rule: the target is scikit-learn's best held-out error; a learner's time
    is its first snapshot at or below it; zero atoms are dropped before OMP."""
    import importlib.util
    from pathlib import Path

    import pandas as pd
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dictlearn.py"
    spec = importlib.util.spec_from_file_location("bench_dictlearn", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [("scikit-learn", "sk", t, e) for t, e in [(1, 3.0), (5, 2.0), (9, 2.5)]] + \
        [("sparsestudy", "fast", t, e) for t, e in [(0.5, 2.4), (1.0, 1.9), (2.0, 2.1)]] + \
        [("sparsestudy", "never", t, e) for t, e in [(0.1, 2.2), (0.2, 2.05)]]
    curves = pd.DataFrame([dict(library=a, method=b, round=0, seconds=t, held_out_mse=e)
                           for a, b, t, e in rows])
    table, target = bench.summarise(curves)
    assert target == 2.0
    t = table.set_index("method")
    assert t.loc["fast", "time_to_target_s"] == 1.0 and t.loc["fast", "x_sklearn"] == 5.0
    assert np.isinf(t.loc["never", "time_to_target_s"]) and t.loc["never", "x_sklearn"] == 0.0
    rng = np.random.default_rng(0)
    X, D = rng.standard_normal((20, 8)), rng.standard_normal((10, 8))
    D0 = np.vstack([D, np.zeros((1, 8))])
    assert bench.held_out_error(X, D0, k=2) == pytest.approx(bench.held_out_error(X, D, k=2))
    Dn = D / np.linalg.norm(D, axis=1, keepdims=True)
    alpha = bench.matched_alpha(X, Dn, nonzeros=3, n=20)
    from sparsestudy.solvers import lasso
    assert abs((lasso(X, Dn, alpha).codes != 0).sum(1).mean() - 3) <= 0.5

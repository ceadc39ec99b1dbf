"""Dictionary estimators: scikit-learn contract, OMP-1 training, reference comparisons."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sparsestudy.data import random_dictionary
from sparsestudy.dictionary import (DICTIONARIES, OMP1Dictionary, RandomGaussian, RandomPatches,
                                    SphericalKMeans, make_dictionary, omp1_objective)
from sparsestudy.solvers import omp, omp1

ESTIMATORS = [OMP1Dictionary, SphericalKMeans, RandomPatches, RandomGaussian]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    # clustered data: 8 directions plus noise
    centers = rng.standard_normal((8, 12))
    return centers[rng.integers(0, 8, 600)] * rng.uniform(0.5, 2, (600, 1)) \
        + 0.1 * rng.standard_normal((600, 12))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_contract_clone_params_pipeline(cls, X):
    est = cls(16, seed=3)
    params = est.get_params()
    assert params["n_atoms"] == 16 and params["seed"] == 3
    c = clone(est)
    assert c.get_params() == params and c is not est
    est.set_params(n_atoms=10)
    assert est.n_atoms == 10
    est.fit(X)
    D = est.components_
    assert D.shape == (10, 12)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, rtol=1e-10)
    assert est.transform(X).shape == (600, 10)
    pipe = Pipeline([("scale", StandardScaler()), ("dict", cls(7, seed=0))]).fit(X)
    assert pipe.transform(X[:5]).shape == (5, 7)
    assert not hasattr(clone(est), "components_")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_reproducible_with_seed(cls, X):
    a = cls(9, seed=5).fit(X).components_
    b = cls(9, seed=5).fit(X).components_
    c = cls(9, seed=6).fit(X).components_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_torch_in_torch_out(cls, X):
    est = cls(5, seed=0).fit(torch.tensor(X))
    out = est.transform(torch.tensor(X[:4]))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 5)
    assert isinstance(est.transform(X[:4]), np.ndarray)


def test_omp1_training_decreases_objective(X):
    est = OMP1Dictionary(12, max_iter=15, seed=0).fit(X)
    obj = est.objective_
    assert len(obj) == 16
    assert np.all(np.diff(obj) <= 1e-10 * obj[0])
    assert obj[-1] < 0.9 * obj[0]
    assert np.isclose(obj[-1], omp1_objective(X, est.components_))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 20), init=st.sampled_from(["data", "gaussian"]))
def test_omp1_objective_monotone_property(seed, k, init):
    rng = np.random.default_rng(seed)
    Xr = rng.standard_normal((80, 6))
    obj = OMP1Dictionary(k, max_iter=6, init=init, seed=seed).fit(Xr).objective_
    assert np.all(np.diff(obj) <= 1e-9 * obj[0])


def test_omp1_objective_brute_force(X):
    D = RandomGaussian(6, seed=1).fit(X).components_
    brute = np.mean([min(np.sum((x - (x @ d) * d) ** 2) for d in D) for x in X[:50]])
    assert np.isclose(omp1_objective(X[:50], D), brute)


def test_omp1_codes_match_solver(X):
    D = RandomGaussian(20, seed=2).fit(X).components_ * np.linspace(0.5, 2, 20)[:, None]
    D = torch.tensor(D)
    Xt = torch.tensor(X)
    np.testing.assert_allclose(omp1(Xt, D).numpy(), omp(Xt, D, 1).codes.numpy(),
                               rtol=1e-10, atol=1e-12)


def test_omp1_codes_match_sklearn_orthogonal_mp(X):
    from sklearn.linear_model import orthogonal_mp

    D = RandomGaussian(20, seed=4).fit(X).components_          # unit-norm atoms
    ref = orthogonal_mp(D.T, X.T, n_nonzero_coefs=1).T           # (n_samples, n_atoms)
    got = omp1(X, D)
    assert isinstance(got, np.ndarray) and np.all((got != 0).sum(1) == 1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_public_natural_encoder_attributes():
    assert OMP1Dictionary.has_natural_encoder and OMP1Dictionary.natural_code_signed
    assert SphericalKMeans.has_natural_encoder and not SphericalKMeans.natural_code_signed
    assert not RandomPatches.has_natural_encoder and not RandomGaussian.has_natural_encoder


def test_random_gaussian_is_random_dictionary(X):
    est = RandomGaussian(9, seed=5).fit(X)
    np.testing.assert_array_equal(est.components_, random_dictionary(9, 12, seed=5))
    init = OMP1Dictionary(9, init="gaussian", max_iter=0, seed=5).fit(X)
    np.testing.assert_array_equal(init.components_, random_dictionary(9, 12, seed=5))


def test_omp1_natural_is_omp1(X):
    est = OMP1Dictionary(10, seed=0).fit(X)
    Z = est.transform(X)
    assert np.all((Z != 0).sum(1) == 1)
    np.testing.assert_allclose(Z, omp(X, est.components_, 1).codes, atol=1e-12)


def test_spherical_kmeans_matches_brute_force_iteration(X):
    km = SphericalKMeans(8, max_iter=0, seed=0).fit(X)
    D0 = km.components_
    km1 = SphericalKMeans(8, max_iter=1, seed=0).fit(X)
    c = np.argmax(X @ D0.T, axis=1)
    ref = np.stack([X[c == j].sum(0) if np.any(c == j) else D0[j] for j in range(8)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(km1.components_, ref, atol=1e-12)
    assert np.all(np.diff(SphericalKMeans(8, max_iter=10, seed=0).fit(X).objective_) >= -1e-12)
    H = km1.transform(X)
    np.testing.assert_array_equal(H.sum(1), 1)
    # the assigned atom attains the largest correlation (to rounding: torch's matmul vs NumPy's)
    C = X @ km1.components_.T
    np.testing.assert_allclose(C[np.arange(len(X)), H.argmax(1)], C.max(1), rtol=0, atol=1e-12)


def test_random_patches_are_normalised_rows(X):
    D = RandomPatches(30, seed=0).fit(X).components_
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    # every atom is one of the normalised training rows, all distinct
    assert np.allclose(np.abs(D @ Xn.T).max(1), 1)
    assert len({tuple(np.round(d, 12)) for d in D}) == 30


def test_random_gaussian_ignores_data_values(X):
    a = RandomGaussian(5, seed=0).fit(X).components_
    b = RandomGaussian(5, seed=0).fit(np.zeros((3, 12))).components_
    np.testing.assert_array_equal(a, b)


def test_make_dictionary():
    assert isinstance(make_dictionary("omp1", 4, seed=0, max_iter=3), OMP1Dictionary)
    assert make_dictionary("omp1", 4, max_iter=3).max_iter == 3
    assert isinstance(make_dictionary("random_gaussian", 4, max_iter=3), RandomGaussian)
    assert set(DICTIONARIES) == {"omp1", "kmeans", "random_patches", "random_gaussian"}
    with pytest.raises(ValueError, match="name"):
        make_dictionary("pca", 3)


def test_errors(X):
    with pytest.raises(ValueError, match="n_atoms"):
        OMP1Dictionary(0).fit(X)
    with pytest.raises(TypeError, match="seed"):
        RandomPatches(3, seed=1.5).fit(X)
    with pytest.raises(ValueError, match="init"):
        OMP1Dictionary(3, init="pca").fit(X)
    with pytest.raises(ValueError, match="X"):
        OMP1Dictionary(3).fit(X[0])
    est = OMP1Dictionary(3, seed=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :5])
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        OMP1Dictionary(3).transform(X)

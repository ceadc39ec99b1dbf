"""The Coates–Ng pipeline: transformers against references, contracts, and the digits check."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.model_selection import train_test_split

from sparsestudy.data import load_digits
from sparsestudy.dictionary import OMP1Dictionary, RandomGaussian, RandomPatches, SphericalKMeans
from sparsestudy.features import (ConvolutionalFeatures, DictionaryEncoder, PatchNormalizer,
                                  ZCAWhitening, coates_ng_pipeline, extract_patches,
                                  linear_classifier, patch_pipeline, quadrant_pool,
                                  raw_pixels_pipeline)
from sparsestudy.solvers import omp


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.mark.parametrize("shape", [(8, 8), (7, 9, 3)])
def test_extract_patches_matches_sklearn_and_stride(shape):
    rng = np.random.default_rng(0)
    imgs = rng.random((3,) + shape)
    P = extract_patches(imgs.reshape(3, -1), shape, 4, stride=1)
    H, W = shape[:2]
    assert P.shape[:3] == (3, H - 3, W - 3)
    for i in range(3):
        ref = extract_patches_2d(imgs[i], (4, 4)).reshape(H - 3, W - 3, -1)
        np.testing.assert_array_equal(P[i], ref)
    P2 = extract_patches(imgs.reshape(3, -1), shape, 4, stride=2)
    np.testing.assert_array_equal(P2, P[:, ::2, ::2])


def test_quadrant_pool_brute_force():
    m = np.random.default_rng(1).random((2, 5, 4, 3))
    out = quadrant_pool(m)
    ref = np.concatenate([m[:, :3, :2].sum((1, 2)), m[:, :3, 2:].sum((1, 2)),
                          m[:, 3:, :2].sum((1, 2)), m[:, 3:, 2:].sum((1, 2))], axis=1)
    np.testing.assert_allclose(out, ref)
    with pytest.raises(ValueError, match="maps"):
        quadrant_pool(m[:, :1])


def test_patch_normalizer():
    X = np.random.default_rng(2).random((50, 16))
    Z = PatchNormalizer(eps=1e-3).fit(X).transform(X)
    ref = (X - X.mean(1, keepdims=True)) / np.sqrt(X.var(1, ddof=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(Z, ref)


def test_zca_whitens_and_is_symmetric():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4000, 6)) @ rng.standard_normal((6, 6)) + 5
    z = ZCAWhitening(eps=1e-8).fit(X)
    W = z.whitening_
    np.testing.assert_allclose(W, W.T, atol=1e-10)
    Y = z.transform(X)
    np.testing.assert_allclose(np.cov(Y.T), np.eye(6), atol=1e-5)
    # ZCA is the whitening closest to the identity: it matches the inverse matrix square root
    from scipy.linalg import sqrtm
    np.testing.assert_allclose(W, np.linalg.inv(sqrtm(np.cov(X.T)).real), rtol=1e-6, atol=1e-8)


def test_encoders_against_references():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 10))
    enc = DictionaryEncoder(RandomGaussian(7, seed=0), encoder="soft", alpha=0.25).fit(X)
    D = enc.components_
    F = enc.transform(X)
    Z = X @ D.T
    np.testing.assert_allclose(F, np.hstack([np.maximum(0, Z - 0.25), np.maximum(0, -Z - 0.25)]))
    enc2 = DictionaryEncoder(RandomGaussian(7, seed=0), encoder="omp", n_nonzero=2).fit(X)
    S = omp(X, D, 2).codes
    np.testing.assert_allclose(enc2.transform(X), np.hstack([np.maximum(S, 0), np.maximum(-S, 0)]))
    km = DictionaryEncoder(SphericalKMeans(5, seed=0), encoder="natural").fit(X)
    H = km.transform(X)
    assert H.shape == (30, 5) and np.all(H.sum(1) == 1) and km.n_output_features_ == 5
    o1 = DictionaryEncoder(OMP1Dictionary(5, seed=0), encoder="natural").fit(X)
    o1b = DictionaryEncoder(OMP1Dictionary(5, seed=0), encoder="omp", n_nonzero=1).fit(X)
    np.testing.assert_allclose(o1.transform(X), o1b.transform(X))
    with pytest.raises(ValueError, match="natural"):
        DictionaryEncoder(RandomPatches(5), encoder="natural").fit(X)
    with pytest.raises(ValueError, match="encoder"):
        DictionaryEncoder(RandomPatches(5), encoder="sc").fit(X)


def test_torch_in_torch_out():
    X = torch.randn(20, 9, dtype=torch.float64)
    pp = patch_pipeline(RandomPatches(4, seed=0)).fit(X)
    out = pp.transform(X)
    assert isinstance(out, torch.Tensor) and out.shape == (20, 8)


def test_convolutional_features_contract_and_reproducibility(digits):
    X, _ = digits
    feats = ConvolutionalFeatures(patch_pipeline(OMP1Dictionary(6, seed=0)), image_shape=(8, 8),
                                  patch_size=5, n_patches=500, seed=1)
    c = clone(feats)
    assert c.get_params()["patch_size"] == 5
    c.set_params(stride=2)
    assert c.stride == 2 and feats.stride == 1
    F1 = feats.fit(X[:100]).transform(X[:40])
    F2 = clone(feats).fit(X[:100]).transform(X[:40])
    assert F1.shape == (40, 4 * 12)
    np.testing.assert_array_equal(F1, F2)
    # batching does not change the result
    F3 = clone(feats).set_params(batch_size=7).fit(X[:100]).transform(X[:40])
    np.testing.assert_allclose(F1, F3, rtol=1e-5, atol=1e-6)


def test_convolutional_features_equal_manual_composition(digits):
    X, _ = digits
    feats = ConvolutionalFeatures(patch_pipeline(RandomGaussian(5, seed=0)), image_shape=(8, 8),
                                  patch_size=4, stride=2, n_patches=300, seed=0, dtype="float64")
    feats.fit(X[:50])
    P = extract_patches(X[:10], (8, 8), 4, stride=2)          # (10, 3, 3, 16)
    maps = feats.patch_transformer_.transform(P.reshape(90, 16)).reshape(10, 3, 3, -1)
    np.testing.assert_allclose(feats.transform(X[:10]), quadrant_pool(maps), rtol=1e-12)


def test_pipeline_on_digits_beats_raw_pixels(digits):
    X, y = digits
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    pipe = coates_ng_pipeline(OMP1Dictionary(50, seed=0), "soft", image_shape=(8, 8),
                              patch_size=5, n_patches=3000, seed=0)
    acc = pipe.fit(Xtr, ytr).score(Xte, yte)
    raw = raw_pixels_pipeline().fit(Xtr, ytr).score(Xte, yte)
    assert acc > raw + 0.02, (acc, raw)
    assert list(pipe.named_steps) == ["features", "scale", "clf"]


def test_linear_classifier_choices():
    assert type(linear_classifier("svm", C=0.5)[-1]).__name__ == "LinearSVC"
    with pytest.raises(ValueError, match="classifier"):
        linear_classifier("tree")


def test_input_errors(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="image_shape"):
        extract_patches(X[:2], (8,), 3)
    with pytest.raises(ValueError, match="columns"):
        extract_patches(X[:2], (7, 7), 3)
    with pytest.raises(ValueError, match="patch_size"):
        extract_patches(X[:2], (8, 8), 9)
    feats = ConvolutionalFeatures(patch_pipeline(RandomPatches(3, seed=0)), image_shape=(8, 8),
                                  patch_size=7, stride=2, n_patches=50, seed=0).fit(X[:20])
    with pytest.raises(ValueError, match="quadrant"):
        feats.transform(X[:2])

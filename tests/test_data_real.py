"""Offline loaders: digits, MNIST-5k and natural-image patches."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.feature_extraction.image import extract_patches_2d

from sparsestudy.data import (COLOR_IMAGES, NATURAL_IMAGES, load_digits, load_image,
                              load_mnist5k, sample_patches)


def test_load_digits_matches_sklearn():
    from sklearn.datasets import load_digits as skl

    X, y = load_digits()
    ref = skl()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X * 16, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_load_mnist5k():
    X, y = load_mnist5k()
    assert X.shape == (5000, 784) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 500))
    # pixel values are k / 255
    np.testing.assert_allclose(X[:50] * 255, np.round(X[:50] * 255), atol=1e-9)


@pytest.mark.parametrize("name", NATURAL_IMAGES)
def test_every_default_image_loads_offline(name):
    img = load_image(name)
    assert img.ndim == 2 and img.dtype == np.float64
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.05
    if name in COLOR_IMAGES:
        assert load_image(name, color=True).shape == img.shape + (3,)


def test_patches_are_real_subwindows():
    img = (np.arange(30 * 40) % 251).reshape(30, 40).astype(np.uint8)
    P = sample_patches(200, 7, images=[img], seed=1)
    ref = extract_patches_2d(img / 255.0, (7, 7)).reshape(-1, 49)
    # every sampled patch is one of the image's patches (brute force)
    d = ((P[:, None, :] - ref[None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(d, 0, atol=1e-20)


def test_patches_color_layout_matches_sklearn():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(12, 15, 3)).astype(np.uint8)
    P = sample_patches(50, 4, images=[img], color=True, seed=2)
    ref = extract_patches_2d(img / 255.0, (4, 4)).reshape(-1, 48)
    d = ((P[:, None, :] - ref[None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(d, 0, atol=1e-20)


def test_patches_uniform_over_positions():
    # two images: 2x2 gives 1 position of size-2 patches, 3x3 gives 4; the second should get ~4/5
    a = np.zeros((2, 2))
    b = np.ones((3, 3))
    P = sample_patches(5000, 2, images=[a, b], seed=0)
    frac = P[:, 0].mean()
    assert abs(frac - 0.8) < 0.03


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 50), size=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_patches_shape_range_and_seed(n, size, seed):
    P = sample_patches(n, size, images=["camera", "coffee"], seed=seed)
    assert P.shape == (n, size * size)
    assert P.min() >= 0 and P.max() <= 1
    again = sample_patches(n, size, images=["camera", "coffee"], seed=seed)
    np.testing.assert_array_equal(P, again)


def test_patches_default_gray_and_color():
    P = sample_patches(300, 8, seed=0)
    Q = sample_patches(300, 8, seed=1)
    assert P.shape == (300, 64) and not np.array_equal(P, Q)
    C = sample_patches(20, 5, color=True, seed=0)
    assert C.shape == (20, 75)


def test_patches_errors():
    with pytest.raises(ValueError, match="patch_size"):
        sample_patches(3, 600, images=["camera"])
    with pytest.raises(ValueError, match="images"):
        sample_patches(3, 4, images=["nope"])
    with pytest.raises(ValueError, match="color=True"):
        sample_patches(3, 4, images=["camera"], color=True)
    with pytest.raises(ValueError, match="n_patches"):
        sample_patches(0)
    with pytest.raises(TypeError, match="images"):
        sample_patches(3, images="camera")
    with pytest.raises(ValueError, match=r"images\[0\]"):
        sample_patches(3, 2, images=[np.full((5, 5), 2.0)])

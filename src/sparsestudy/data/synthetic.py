r"""Synthetic sparse problems: the one generator every claim uses.

:func:`make_sparse_coding_problem` draws signals ``X = Z @ D + noise`` from a dictionary ``D``
(atoms as rows) and sparse codes ``Z``, the setting of sparse coding, LISTA and compressed
sensing. With its defaults and ``n_features=250, n_atoms=500`` it is the benchmark of Chen et al.
(2018): ``A = D.T`` has i.i.d. :math:`\mathcal N(0, 1/m)` entries normalised to unit-norm
columns, and the codes are Bernoulli(0.1)–Gaussian.

:func:`make_sparse_regression` draws a sparse linear regression ``y = A w + noise`` with
standardised features, the setting of the lasso and ridge paths.

Everything random is drawn from one :class:`numpy.random.Generator` built from ``seed``
(:func:`make_rng`), in a fixed order (dictionary, supports, amplitudes, noise), so that the same
arguments and seed give the same arrays, and changing only ``snr_db`` changes only the noise.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import check_int, check_scalar

__all__ = ["SparseProblem", "make_sparse_coding_problem", "make_sparse_regression", "make_rng"]

_AMPLITUDES = ("gaussian", "sign", "uniform")


def make_rng(seed: Any = None) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``seed``: ``None`` (fresh entropy, not
    reproducible), a non-negative int, or a Generator (returned as is, so draws continue it)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be None, an int or a numpy.random.Generator, got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


@dataclass(frozen=True)
class SparseProblem:
    """A synthetic sparse-coding problem, ``X = Z @ D + noise``.

    Attributes
    ----------
    X : ndarray (n_samples, n_features)
        The signals.
    D : ndarray (n_atoms, n_features)
        The dictionary, one atom per row (``A = D.T`` in compressed-sensing notation).
    Z : ndarray (n_samples, n_atoms)
        The true sparse codes.
    noise : ndarray (n_samples, n_features)
        The noise that was added (zeros when noiseless).
    snr_db : float or None
        The signal-to-noise ratio of the batch, ``None`` when noiseless.
    """

    X: np.ndarray
    D: np.ndarray
    Z: np.ndarray
    noise: np.ndarray
    snr_db: float | None

    @property
    def support(self) -> np.ndarray:
        """Boolean mask of the true nonzeros, ``Z != 0``."""
        return self.Z != 0


def make_sparse_coding_problem(
    n_samples: int,
    n_features: int,
    n_atoms: int,
    *,
    density: float | None = None,
    n_nonzero: int | None = None,
    amplitude: str = "gaussian",
    nonneg: bool = False,
    snr_db: float | None = None,
    dictionary: Any = None,
    seed: Any = None,
    dtype: Any = np.float64,
) -> SparseProblem:
    r"""Draw signals ``X = Z @ D + noise`` with sparse codes ``Z``.

    Parameters
    ----------
    n_samples, n_features, n_atoms : int >= 1
        Number of signals, their dimension (``m`` measurements) and the number of atoms
        (``n`` in Chen et al.).
    density : float in (0, 1], optional
        Each code entry is nonzero independently with this probability (Bernoulli support).
        Default 0.1 when ``n_nonzero`` is not given; give at most one of the two.
    n_nonzero : int, optional
        Exactly this many nonzeros per sample, on a support drawn uniformly at random.
    amplitude : {"gaussian", "sign", "uniform"}
        Values on the support: :math:`\mathcal N(0, 1)`, :math:`\pm 1`, or a random sign times
        a magnitude uniform on (0, 1] (never exactly zero).
    nonneg : bool
        Take the absolute value of the amplitudes (non-negative codes).
    snr_db : float, optional
        Add Gaussian noise scaled over the whole batch so that
        :math:`10\log_{10}(\|ZD\|_F^2 / \|\text{noise}\|_F^2) = \text{snr\_db}`. ``None``: noiseless.
    dictionary : array (n_atoms, n_features), optional
        Use this dictionary as given (NumPy array or torch tensor; not renormalised). Default:
        i.i.d. :math:`\mathcal N(0, 1/n\_features)` entries, then each atom scaled to unit norm.
    seed : None, int or numpy.random.Generator
        Source of randomness (see :func:`make_rng`).
    dtype : float32 or float64
        Dtype of the returned arrays (everything is drawn in float64, then cast).

    Returns
    -------
    SparseProblem
        ``X``, ``D``, ``Z``, ``noise`` (NumPy arrays) and ``snr_db``.
    """
    n_samples = check_int(n_samples, "n_samples", min_value=1)
    n_features = check_int(n_features, "n_features", min_value=1)
    n_atoms = check_int(n_atoms, "n_atoms", min_value=1)
    if density is not None and n_nonzero is not None:
        raise ValueError("give at most one of density and n_nonzero")
    if n_nonzero is not None:
        n_nonzero = check_int(n_nonzero, "n_nonzero", min_value=0, max_value=n_atoms)
    else:
        density = 0.1 if density is None else density
        check_scalar(density, "density", min_value=0, max_value=1, include_min=False)
        density = float(density)
    if not isinstance(amplitude, str):
        raise TypeError(f"amplitude must be a str, got {type(amplitude).__name__}")
    if amplitude not in _AMPLITUDES:
        raise ValueError(f"amplitude must be one of {_AMPLITUDES}, got {amplitude!r}")
    if not isinstance(nonneg, (bool, np.bool_)):
        raise TypeError(f"nonneg must be a bool, got {type(nonneg).__name__}")
    if snr_db is not None:
        check_scalar(snr_db, "snr_db")
        snr_db = float(snr_db)
    dt = _check_dtype(dtype)
    rng = make_rng(seed)

    # 1. dictionary
    if dictionary is None:
        D = rng.standard_normal((n_atoms, n_features)) / np.sqrt(n_features)
        D /= np.linalg.norm(D, axis=1, keepdims=True)
    else:
        D = _as_dictionary(dictionary, n_atoms, n_features)

    # 2. supports
    if n_nonzero is not None:
        order = np.argsort(rng.random((n_samples, n_atoms)), axis=1)
        support = np.zeros((n_samples, n_atoms), dtype=bool)
        np.put_along_axis(support, order[:, :n_nonzero], True, axis=1)
    else:
        support = rng.random((n_samples, n_atoms)) < density

    # 3. amplitudes (drawn for every entry, so the draw count does not depend on the support)
    if amplitude == "gaussian":
        values = rng.standard_normal((n_samples, n_atoms))
    elif amplitude == "sign":
        values = np.where(rng.random((n_samples, n_atoms)) < 0.5, -1.0, 1.0)
    else:
        signs = np.where(rng.random((n_samples, n_atoms)) < 0.5, -1.0, 1.0)
        values = signs * (1.0 - rng.random((n_samples, n_atoms)))  # magnitude in (0, 1]
    if nonneg:
        values = np.abs(values)
    Z = np.where(support, values, 0.0)

    # 4. noise
    clean = Z @ D
    if snr_db is None:
        noise = np.zeros_like(clean)
    else:
        signal_energy = float(np.sum(clean * clean))
        if signal_energy == 0.0:
            raise ValueError("snr_db cannot be met: the noiseless signals are all zero")
        raw = rng.standard_normal(clean.shape)
        noise = raw * np.sqrt(signal_energy / (np.sum(raw * raw) * 10.0 ** (snr_db / 10.0)))
    X = clean + noise
    return SparseProblem(X=X.astype(dt), D=D.astype(dt), Z=Z.astype(dt),
                         noise=noise.astype(dt), snr_db=snr_db)


def _as_dictionary(dictionary: Any, n_atoms: int, n_features: int) -> np.ndarray:
    try:
        import torch

        if isinstance(dictionary, torch.Tensor):
            dictionary = dictionary.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(dictionary, (np.ndarray, list, tuple)):
        raise TypeError(
            f"dictionary must be a NumPy array or a torch tensor, got {type(dictionary).__name__}"
        )
    D = np.asarray(dictionary)
    if D.dtype == object or not (np.issubdtype(D.dtype, np.number) and not np.iscomplexobj(D)):
        raise TypeError(f"dictionary must be a real numeric array, got dtype {D.dtype}")
    if D.shape != (n_atoms, n_features):
        raise ValueError(
            f"dictionary must have shape (n_atoms, n_features) = ({n_atoms}, {n_features}), "
            f"got {D.shape}"
        )
    D = D.astype(np.float64)
    if not np.isfinite(D).all():
        raise ValueError("dictionary contains NaN or infinite values")
    return D


def make_sparse_regression(
    n_samples: int = 100,
    n_features: int = 200,
    n_informative: int = 10,
    noise: float = 0.5,
    *,
    standardize: bool = True,
    seed: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Draw a sparse linear regression ``y = A @ w_true + noise * e``.

    ``A`` has i.i.d. :math:`\mathcal N(0, 1)` entries; with ``standardize`` its columns are
    then scaled to zero mean and unit variance (``ddof=0``) *before* ``y`` is formed, so
    ``w_true`` holds for the standardised design, and ``y`` is centred (which only removes the
    noise's mean, since ``A @ w_true`` already has mean zero). ``w_true`` has ``n_informative``
    nonzeros at random positions, each a random sign times a magnitude uniform on [1, 2), and
    ``e`` is standard Gaussian.

    Returns
    -------
    A : ndarray (n_samples, n_features)
    y : ndarray (n_samples,)
    w_true : ndarray (n_features,)
    """
    n_samples = check_int(n_samples, "n_samples", min_value=2)
    n_features = check_int(n_features, "n_features", min_value=1)
    n_informative = check_int(n_informative, "n_informative", min_value=0, max_value=n_features)
    check_scalar(noise, "noise", min_value=0)
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be a bool, got {type(standardize).__name__}")
    rng = make_rng(seed)
    A = rng.standard_normal((n_samples, n_features))
    if standardize:
        A = A - A.mean(axis=0)
        A /= A.std(axis=0)
    w_true = np.zeros(n_features)
    idx = rng.choice(n_features, size=n_informative, replace=False)
    signs = np.where(rng.random(n_informative) < 0.5, -1.0, 1.0)
    w_true[idx] = signs * (1.0 + rng.random(n_informative))
    y = A @ w_true + float(noise) * rng.standard_normal(n_samples)
    if standardize:
        y = y - y.mean()
    return A, y, w_true

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

:func:`sparse_code_stream` is the streaming torch form of the same distribution: a sampler
``sampler(generator) -> (X, Z)`` of fresh batches for a fixed dictionary, drawn with a
``torch.Generator`` (on its device) for training networks. The NumPy and torch forms run the same
code (:func:`_draw_codes`, :func:`_draw_noise`) on two sources of uniform and Gaussian numbers,
so they draw the same distribution (not the same numbers).

:func:`random_dictionary` draws the random dictionaries (unit-norm atoms) everything else uses,
and :func:`make_sparse_classification_problem` a labelled problem whose class decides which
group of atoms a signal's code uses.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .._arrays import as_tensor, check_int, check_scalar

__all__ = ["SparseProblem", "ClassificationProblem", "make_sparse_coding_problem",
           "sparse_code_stream", "random_dictionary", "make_sparse_classification_problem",
           "make_sparse_regression", "make_rng"]

_AMPLITUDES = ("gaussian", "sign", "uniform")
_DICTIONARY_KINDS = ("gaussian", "rademacher")
Sampler = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


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
    spec = _code_spec(n_atoms, density, n_nonzero, amplitude, nonneg, snr_db)
    dt = _check_dtype(dtype)
    rng = make_rng(seed)

    # 1. dictionary
    D = _dictionary_or_draw(dictionary, rng, n_atoms, n_features)

    # 2.-3. supports and amplitudes; 4. noise
    draws = _NumpyDraws(rng)
    Z = _draw_codes(draws, n_samples, n_atoms, spec)
    clean = Z @ D
    if spec["snr_db"] is None:
        noise = np.zeros_like(clean)
    else:
        if float(np.sum(clean * clean)) == 0.0:
            raise ValueError("snr_db cannot be met: the noiseless signals are all zero")
        noise = _draw_noise(draws, clean, spec["snr_db"])
    X = clean + noise
    return SparseProblem(X=X.astype(dt), D=D.astype(dt), Z=Z.astype(dt),
                         noise=noise.astype(dt), snr_db=spec["snr_db"])


# ------------------------------------------------------------ the distribution, written once
class _NumpyDraws:
    """Uniform and Gaussian numbers (float64) from a NumPy Generator, and NumPy's ops."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.random(shape)

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.standard_normal(shape)

    @staticmethod
    def smallest(u: np.ndarray, k: int) -> np.ndarray:
        """Mask of the ``k`` smallest entries of each row of ``u``."""
        order = np.argsort(u, axis=1)
        mask = np.zeros(u.shape, dtype=bool)
        np.put_along_axis(mask, order[:, :k], True, axis=1)
        return mask

    where = staticmethod(np.where)
    abs = staticmethod(np.abs)
    sqrt = staticmethod(np.sqrt)


class _TorchDraws:
    """The same from a ``torch.Generator`` (on its device, in ``dtype``), and torch's ops."""

    def __init__(self, gen: torch.Generator, dtype: torch.dtype) -> None:
        self.gen, self.dtype = gen, dtype

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen, device=self.gen.device, dtype=self.dtype)

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, device=self.gen.device, dtype=self.dtype)

    @staticmethod
    def smallest(u: torch.Tensor, k: int) -> torch.Tensor:
        idx = u.topk(k, dim=1, largest=False).indices
        return torch.zeros(u.shape, dtype=torch.bool, device=u.device).scatter_(1, idx, True)

    def where(self, cond: torch.Tensor, a: Any, b: Any) -> torch.Tensor:
        as_t = (lambda v: v if isinstance(v, torch.Tensor)
                else torch.tensor(v, dtype=self.dtype, device=cond.device))
        return torch.where(cond, as_t(a), as_t(b))

    abs = staticmethod(torch.abs)
    sqrt = staticmethod(torch.sqrt)


def _code_spec(n_atoms: int, density: Any, n_nonzero: Any, amplitude: Any, nonneg: Any,
               snr_db: Any) -> dict[str, Any]:
    """Validate the arguments that define the code and noise distribution."""
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
    return dict(density=density, n_nonzero=n_nonzero, amplitude=amplitude,
                nonneg=bool(nonneg), snr_db=snr_db)


def _draw_amplitudes(draws: Any, shape: tuple[int, int], amplitude: str, nonneg: bool) -> Any:
    # drawn for every entry, so the draw count does not depend on the support
    if amplitude == "gaussian":
        values = draws.normal(shape)
    elif amplitude == "sign":
        values = draws.where(draws.uniform(shape) < 0.5, -1.0, 1.0)
    else:
        signs = draws.where(draws.uniform(shape) < 0.5, -1.0, 1.0)
        values = signs * (1.0 - draws.uniform(shape))  # magnitude in (0, 1]
    return draws.abs(values) if nonneg else values


def _draw_codes(draws: Any, n: int, n_atoms: int, spec: dict[str, Any]) -> Any:
    """Sparse codes ``(n, n_atoms)``: the support (Bernoulli(``density``) entries, or
    ``n_nonzero`` atoms uniformly at random per row), then the amplitudes on it."""
    u = draws.uniform((n, n_atoms))
    if spec["n_nonzero"] is not None:
        support = draws.smallest(u, spec["n_nonzero"])
    else:
        support = u < spec["density"]
    values = _draw_amplitudes(draws, (n, n_atoms), spec["amplitude"], spec["nonneg"])
    return draws.where(support, values, 0.0)


def _draw_noise(draws: Any, clean: Any, snr_db: float, *, exact: bool = True) -> Any:
    """Gaussian noise for the batch ``clean``: scaled so that the batch's SNR is ``snr_db``
    exactly (``exact``), or with the per-entry variance ``mean(clean**2) / 10**(snr_db/10)``
    (the SNR holds in expectation)."""
    raw = draws.normal(clean.shape)
    power = 10.0 ** (snr_db / 10.0)
    if exact:
        return raw * draws.sqrt((clean * clean).sum() / ((raw * raw).sum() * power))
    return raw * draws.sqrt((clean * clean).mean() / power)


def _draw_dictionary(rng: np.random.Generator, n_atoms: int, n_features: int,
                     kind: str) -> np.ndarray:
    if kind == "gaussian":
        D = rng.standard_normal((n_atoms, n_features)) / np.sqrt(n_features)
        D /= np.linalg.norm(D, axis=1, keepdims=True)
    else:
        D = np.where(rng.random((n_atoms, n_features)) < 0.5, -1.0, 1.0) / np.sqrt(n_features)
    return D


# ----------------------------------------------------------------------- the streaming form
def sparse_code_stream(D: Any, batch_size: int, *, density: float | None = None,
                       n_nonzero: int | None = None, amplitude: str = "gaussian",
                       nonneg: bool = False, snr_db: float | None = None) -> Sampler:
    r"""A sampler of fresh batches ``(X, Z)``, ``X = Z D + noise``, from the distribution of
    :func:`make_sparse_coding_problem` for a fixed dictionary ``D``.

    Parameters
    ----------
    D : array (n_atoms, n_features)
        The dictionary (NumPy or torch; its floating dtype is kept, float32 or float64).
    batch_size : int >= 1
    density, n_nonzero, amplitude, nonneg, snr_db :
        As in :func:`make_sparse_coding_problem` (``snr_db`` is met exactly over each batch;
        an all-zero batch gets no noise).

    Returns
    -------
    callable
        ``sampler(generator) -> (X, Z)``: tensors ``(batch_size, n_features)`` and
        ``(batch_size, n_atoms)`` in ``D``'s dtype on the generator's device, drawn with that
        ``torch.Generator`` only (so a seeded generator gives a reproducible stream).

    Notes
    -----
    The draws are the NumPy form's, in the same order (supports, amplitudes, noise), from
    torch's uniform and Gaussian generators: the two forms draw the same distribution.
    """
    Dt = as_tensor(D, "D", ndim=2).detach()
    if Dt.shape[0] == 0 or Dt.shape[1] == 0:
        raise ValueError(f"D must be non-empty, got shape {tuple(Dt.shape)}")
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    spec = _code_spec(Dt.shape[0], density, n_nonzero, amplitude, nonneg, snr_db)
    cache: dict[str, torch.Tensor] = {}

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(gen, torch.Generator):
            raise TypeError(f"the sampler takes a torch.Generator, got {type(gen).__name__}")
        Dd = cache.setdefault(str(gen.device), Dt.to(gen.device))
        draws = _TorchDraws(gen, Dd.dtype)
        Z = _draw_codes(draws, batch_size, Dd.shape[0], spec)
        X = Z @ Dd
        if spec["snr_db"] is not None:
            X = X + _draw_noise(draws, X, spec["snr_db"])
        return X, Z

    return sample


# ------------------------------------------------------------------------------ dictionaries
def random_dictionary(n_atoms: int, n_features: int, *, seed: Any = None,
                      kind: str = "gaussian", dtype: Any = np.float64) -> np.ndarray:
    r"""A random dictionary with unit-norm atoms (rows).

    Parameters
    ----------
    n_atoms, n_features : int >= 1
    seed : None, int or numpy.random.Generator
        See :func:`make_rng` (a Generator is continued).
    kind : {"gaussian", "rademacher"}
        ``"gaussian"``: i.i.d. :math:`\mathcal N(0, 1/n\_features)` entries, each row then
        scaled to unit norm (atoms uniform on the sphere; the default dictionary of
        :func:`make_sparse_coding_problem`, which draws it first from the same generator).
        ``"rademacher"``: i.i.d. :math:`\pm 1/\sqrt{n\_features}` entries.
    dtype : float32 or float64

    Returns
    -------
    ndarray (n_atoms, n_features)
    """
    n_atoms = check_int(n_atoms, "n_atoms", min_value=1)
    n_features = check_int(n_features, "n_features", min_value=1)
    if kind not in _DICTIONARY_KINDS:
        raise ValueError(f"kind must be one of {_DICTIONARY_KINDS}, got {kind!r}")
    dt = _check_dtype(dtype)
    return _draw_dictionary(make_rng(seed), n_atoms, n_features, kind).astype(dt)


# ----------------------------------------------------------------------- labelled problems
@dataclass(frozen=True)
class ClassificationProblem:
    """Labelled synthetic signals, ``X = Z @ D + noise``, whose class picks the atoms.

    Attributes
    ----------
    X : ndarray (n_samples, n_features)
    y : ndarray (n_samples,), int64
    Z : ndarray (n_samples, n_atoms)
    D : ndarray (n_atoms, n_features)
    snr_db : float or None
    """

    X: np.ndarray
    y: np.ndarray
    Z: np.ndarray
    D: np.ndarray
    snr_db: float | None


def make_sparse_classification_problem(
    n_samples: int,
    n_features: int,
    n_atoms: int,
    n_classes: int,
    *,
    n_nonzero: int,
    amplitude_range: tuple[float, float] = (0.5, 1.5),
    snr_db: float | None = None,
    exact_snr: bool = False,
    dictionary: Any = None,
    seed: Any = None,
) -> ClassificationProblem:
    r"""Draw labelled signals whose sparse code lives on the atoms of their class.

    The atoms are split into ``n_classes`` consecutive groups of ``n_atoms // n_classes``
    (atoms left over are never used). Each sample draws its class ``y`` uniformly, then
    ``n_nonzero`` atoms of group ``y`` uniformly without replacement, with amplitudes uniform on
    ``amplitude_range`` (positive), and ``X = Z @ D`` plus Gaussian noise of per-entry variance
    ``mean((Z @ D)**2) / 10**(snr_db / 10)`` over the batch (so the SNR holds in expectation;
    ``exact_snr=True`` scales it to hold exactly, as :func:`make_sparse_coding_problem` does).
    This is the task of claim C05 (a classifier must find which group is active).

    Parameters
    ----------
    n_samples, n_features, n_atoms, n_classes : int >= 1
        ``n_atoms // n_classes >= n_nonzero`` is required.
    n_nonzero : int >= 1
        Nonzeros per sample.
    amplitude_range : (low, high), 0 <= low < high
    snr_db : float, optional
        ``None``: noiseless.
    exact_snr : bool
    dictionary : array (n_atoms, n_features), optional
        Default: :func:`random_dictionary` drawn first from the generator. Pass one to draw a
        train and a test set for the same dictionary (continue one Generator, see below).
    seed : None, int or numpy.random.Generator

    Returns
    -------
    ClassificationProblem

    Examples
    --------
    A train and a test set for one dictionary, from one generator:

    >>> rng = np.random.default_rng(0)
    >>> D = random_dictionary(40, 20, seed=rng)
    >>> train = make_sparse_classification_problem(500, 20, 40, 4, n_nonzero=3, snr_db=10,
    ...                                            dictionary=D, seed=rng)
    >>> test = make_sparse_classification_problem(200, 20, 40, 4, n_nonzero=3, snr_db=10,
    ...                                           dictionary=D, seed=rng)
    """
    n_samples = check_int(n_samples, "n_samples", min_value=1)
    n_features = check_int(n_features, "n_features", min_value=1)
    n_atoms = check_int(n_atoms, "n_atoms", min_value=1)
    n_classes = check_int(n_classes, "n_classes", min_value=1, max_value=n_atoms)
    group = n_atoms // n_classes
    n_nonzero = check_int(n_nonzero, "n_nonzero", min_value=1, max_value=group)
    if (not isinstance(amplitude_range, (tuple, list)) or len(amplitude_range) != 2):
        raise TypeError("amplitude_range must be a pair (low, high)")
    low, high = (float(check_scalar(v, "amplitude_range", min_value=0)) for v in amplitude_range)
    if not low < high:
        raise ValueError(f"amplitude_range must have low < high, got {amplitude_range!r}")
    if snr_db is not None:
        snr_db = float(check_scalar(snr_db, "snr_db"))
    if not isinstance(exact_snr, (bool, np.bool_)):
        raise TypeError(f"exact_snr must be a bool, got {type(exact_snr).__name__}")
    rng = make_rng(seed)
    D = _dictionary_or_draw(dictionary, rng, n_atoms, n_features)
    draws = _NumpyDraws(rng)
    y = rng.integers(0, n_classes, n_samples)
    in_group = draws.smallest(draws.uniform((n_samples, group)), n_nonzero)
    support = np.zeros((n_samples, n_atoms), dtype=bool)
    rows, cols = np.nonzero(in_group)
    support[rows, y[rows] * group + cols] = True
    values = low + (high - low) * draws.uniform((n_samples, n_atoms))
    Z = np.where(support, values, 0.0)
    X = Z @ D
    if snr_db is not None:
        if float(np.sum(X * X)) == 0.0:
            raise ValueError("snr_db cannot be met: the noiseless signals are all zero")
        X = X + _draw_noise(draws, X, snr_db, exact=bool(exact_snr))
    return ClassificationProblem(X=X, y=y.astype(np.int64), Z=Z, D=D, snr_db=snr_db)


def _dictionary_or_draw(dictionary: Any, rng: np.random.Generator, n_atoms: int,
                        n_features: int) -> np.ndarray:
    """The given dictionary (checked), or a Gaussian one drawn first from ``rng``."""
    if dictionary is None:
        return _draw_dictionary(rng, n_atoms, n_features, "gaussian")
    return _as_dictionary(dictionary, n_atoms, n_features)


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

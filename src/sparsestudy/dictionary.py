r"""Dictionaries for the Coates–Ng feature pipeline, as scikit-learn estimators.

Every estimator here learns (or draws) a dictionary ``components_`` of shape
``(n_atoms, n_features)`` with unit-norm rows (atoms), from signals ``X`` of shape
``(n_samples, n_features)`` (typically normalised, whitened patches). They follow scikit-learn's
estimator contract: hyper-parameters are ``__init__`` arguments stored verbatim, so
``get_params`` / ``set_params`` / :func:`sklearn.base.clone` work and they drop into a
:class:`~sklearn.pipeline.Pipeline`; ``fit`` returns ``self``; ``transform`` returns the
*natural* code of the dictionary (below); ``seed`` makes everything reproducible.

* :class:`OMP1Dictionary`: gain-shape vector quantisation (Coates & Ng 2011, §3.1), alternating
  OMP-1 codes :math:`s_i` (one atom, coefficient :math:`d_j^\top x_i`) and
  :math:`D \leftarrow \mathrm{normalise}(S^\top X + D)`. Natural encoder: OMP-1 codes (signed,
  one nonzero: the correlation with the best atom).
* :class:`SphericalKMeans`: spherical k-means (Dhillon & Modha 2001), assign each :math:`x_i`
  to :math:`\arg\max_j d_j^\top x_i`, :math:`d_j \leftarrow \mathrm{normalise}(\sum x_i)`.
  Natural encoder: the hard assignment, a one-hot code of that atom.
* :class:`RandomPatches`: atoms are randomly chosen training rows, normalised.
* :class:`RandomGaussian`: atoms are i.i.d. Gaussian vectors, normalised.

The random dictionaries have no training objective and hence no natural encoder (Coates & Ng
leave that cell of their Table 1 empty); their ``transform`` returns the linear projection
:math:`X D^\top`, and :class:`sparsestudy.features.DictionaryEncoder` refuses
``encoder="natural"`` for them. Two public class attributes say so: ``has_natural_encoder``
(whether ``transform`` is a training encoder) and ``natural_code_signed`` (whether that code
takes both signs, so that a polarity split makes sense).

Computation is torch, batched over samples; NumPy in gives NumPy out.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._arrays import as_tensor, check_int, is_numpy_like, restore
from .data.synthetic import random_dictionary
from .solvers import omp1

__all__ = ["OMP1Dictionary", "SphericalKMeans", "RandomPatches", "RandomGaussian",
           "omp1_objective", "DICTIONARIES", "make_dictionary"]


def _generator(seed: Any) -> torch.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def _random_atoms(n_atoms: int, X: torch.Tensor, seed: Any) -> torch.Tensor:
    """:func:`sparsestudy.data.random_dictionary` (Gaussian, unit-norm rows) as a tensor like
    ``X``."""
    D = random_dictionary(n_atoms, X.shape[1], seed=seed, kind="gaussian")
    return torch.as_tensor(D, dtype=X.dtype, device=X.device)


def _normalise_rows(D: torch.Tensor) -> torch.Tensor:
    n = D.norm(dim=1, keepdim=True)
    return D / n.clamp_min(torch.finfo(D.dtype).tiny)


def omp1_objective(X: Any, D: Any) -> float:
    r"""Mean squared OMP-1 reconstruction error :math:`\frac1n\sum_i \min_{j, s}
    \|x_i - s\,d_j\|^2 = \frac1n\sum_i (\|x_i\|^2 - \max_j (d_j^\top x_i)^2)` for unit-norm
    atoms ``D`` (rows), the objective gain-shape VQ decreases."""
    Xt = as_tensor(X, "X", ndim=2)
    Dt = as_tensor(D, "D", ndim=2, dtype=Xt.dtype)
    if Dt.shape[1] != Xt.shape[1]:
        raise ValueError(f"D has {Dt.shape[1]} features but X has {Xt.shape[1]}")
    best = (Xt @ Dt.T).abs().amax(dim=1)
    return float(((Xt * Xt).sum(dim=1) - best * best).mean())


class _Dictionary(TransformerMixin, BaseEstimator):
    """Shared plumbing: validation, ``n_features_in_``, ``components_``, ``transform``."""

    #: whether ``transform`` is the code the dictionary was trained with (random ones: no)
    has_natural_encoder: bool = False
    #: whether that code takes both signs (OMP-1: yes; k-means' one-hot code: no)
    natural_code_signed: bool = True

    def _validate(self, X: Any) -> torch.Tensor:
        Xt = as_tensor(X, "X", ndim=2)
        n_atoms = check_int(self.n_atoms, "n_atoms", min_value=1)
        if Xt.shape[0] == 0:
            raise ValueError("X must have at least one sample")
        self.n_features_in_ = int(Xt.shape[1])
        return Xt, n_atoms

    def _init_from_data(self, Xt: torch.Tensor, n_atoms: int, g: torch.Generator) -> torch.Tensor:
        """n_atoms distinct (when possible) nonzero training rows, normalised."""
        norms = Xt.norm(dim=1)
        ok = torch.nonzero(norms > 1e-8 * norms.max().clamp_min(1e-300)).squeeze(1)
        if ok.numel() == 0:
            raise ValueError("X has no nonzero sample to build atoms from")
        if ok.numel() >= n_atoms:
            pick = ok[torch.randperm(ok.numel(), generator=g)[:n_atoms]]
        else:
            pick = ok[torch.randint(ok.numel(), (n_atoms,), generator=g)]
        D = Xt[pick].clone()
        if ok.numel() < n_atoms:  # duplicates: break ties with a little noise
            D = D + 1e-3 * D.norm(dim=1, keepdim=True) * torch.randn(
                D.shape, generator=g, dtype=D.dtype)
        return _normalise_rows(D)

    def _set_components(self, D: torch.Tensor) -> None:
        self.components_ = D.detach().cpu().numpy()
        self.n_atoms_ = int(D.shape[0])

    def _check_X(self, X: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
        check_is_fitted(self, "components_")
        numpy_in = is_numpy_like(X)
        Xt = as_tensor(X, "X", ndim=2)
        if Xt.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xt.shape[1]} features, but {type(self).__name__} was "
                             f"fitted with {self.n_features_in_}")
        D = torch.as_tensor(self.components_, dtype=Xt.dtype, device=Xt.device)
        return Xt, D, numpy_in

    def transform(self, X: Any) -> Any:
        """The natural code of ``X`` (see the module table); ``(n_samples, n_atoms)``."""
        Xt, D, numpy_in = self._check_X(X)
        return restore(self._natural(Xt, D), numpy_in)

    def _natural(self, X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        return X @ D.T


class OMP1Dictionary(_Dictionary):
    r"""OMP-1 dictionary learning = gain-shape vector quantisation (Coates & Ng 2011).

    Alternates (i) OMP-1 coding, :math:`s_i = (d_j^\top x_i)\,e_j` with
    :math:`j = \arg\max_j |d_j^\top x_i|` (:func:`sparsestudy.solvers.omp1`, the closed form
    of :func:`~sparsestudy.solvers.omp` with one atom), and
    (ii) the update :math:`D \leftarrow \mathrm{normalise}(S^\top X + D)` (rows normalised).
    Step (ii) is one power-iteration step on each atom's scatter matrix (plus the identity), so
    the objective :func:`omp1_objective` never increases; atoms that win no sample stay put.

    Parameters
    ----------
    n_atoms : int
        Number of atoms.
    max_iter : int
        Iterations of (i)+(ii) (Coates & Ng use 10).
    init : {"data", "gaussian"}
        Initial atoms: random training rows, or Gaussian vectors; normalised.
    seed : int or None
        Seeds the initialisation.

    Attributes
    ----------
    components_ : ndarray (n_atoms, n_features)
        Unit-norm atoms.
    objective_ : ndarray (n_iter_ + 1,)
        :func:`omp1_objective` at the initial atoms and after each iteration.
    n_iter_ : int
    """

    has_natural_encoder = True

    def __init__(self, n_atoms: int = 100, *, max_iter: int = 10, init: str = "data",
                 seed: int | None = None):
        self.n_atoms = n_atoms
        self.max_iter = max_iter
        self.init = init
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "OMP1Dictionary":
        """Learn the dictionary from ``X`` (n_samples, n_features); returns ``self``."""
        Xt, n_atoms = self._validate(X)
        max_iter = check_int(self.max_iter, "max_iter", min_value=0)
        if self.init not in ("data", "gaussian"):
            raise ValueError(f"init must be 'data' or 'gaussian', got {self.init!r}")
        g = _generator(self.seed)
        if self.init == "data":
            D = self._init_from_data(Xt, n_atoms, g)
        else:
            D = _random_atoms(n_atoms, Xt, self.seed)
        energy = (Xt * Xt).sum(dim=1)
        obj = []
        for _ in range(max_iter):
            S = omp1(Xt, D)                              # (n, n_atoms), one nonzero per row
            obj.append(float((energy - (S * S).sum(dim=1)).mean()))
            D = _normalise_rows(S.T @ Xt + D)
        obj.append(omp1_objective(Xt, D))
        self._set_components(D)
        self.objective_ = np.asarray(obj)
        self.n_iter_ = max_iter
        return self

    def _natural(self, X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        return omp1(X, D)


class SphericalKMeans(_Dictionary):
    r"""Spherical k-means (Dhillon & Modha 2001): unit-norm centroids maximising the total
    cosine similarity :math:`\sum_i d_{c(i)}^\top x_i`, with
    :math:`c(i) = \arg\max_j d_j^\top x_i` (signed, unlike OMP-1) and
    :math:`d_j \leftarrow \mathrm{normalise}(\sum_{c(i) = j} x_i)`.

    Its natural encoder is the hard assignment: a one-hot code at :math:`c(i)`.

    Parameters
    ----------
    n_atoms : int
    max_iter : int
    seed : int or None

    Attributes
    ----------
    components_ : ndarray (n_atoms, n_features)
    objective_ : ndarray (n_iter_ + 1,)
        Mean of :math:`d_{c(i)}^\top x_i` (non-decreasing).
    n_iter_ : int
    """

    has_natural_encoder = True
    natural_code_signed = False

    def __init__(self, n_atoms: int = 100, *, max_iter: int = 10, seed: int | None = None):
        self.n_atoms = n_atoms
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "SphericalKMeans":
        """Learn the centroids from ``X`` (n_samples, n_features); returns ``self``."""
        Xt, n_atoms = self._validate(X)
        max_iter = check_int(self.max_iter, "max_iter", min_value=0)
        g = _generator(self.seed)
        D = self._init_from_data(Xt, n_atoms, g)
        obj = [float((Xt @ D.T).amax(dim=1).mean())]
        for _ in range(max_iter):
            c = (Xt @ D.T).argmax(dim=1)
            sums = torch.zeros_like(D).index_add_(0, c, Xt)
            empty = sums.norm(dim=1) <= 0
            sums[empty] = D[empty]                      # keep atoms that win nothing
            D = _normalise_rows(sums)
            obj.append(float((Xt @ D.T).amax(dim=1).mean()))
        self._set_components(D)
        self.objective_ = np.asarray(obj)
        self.n_iter_ = max_iter
        return self

    def _natural(self, X: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        c = (X @ D.T).argmax(dim=1)
        return torch.nn.functional.one_hot(c, D.shape[0]).to(X.dtype)


class RandomPatches(_Dictionary):
    """Atoms are ``n_atoms`` training rows drawn at random (without replacement when there are
    enough nonzero rows), normalised to unit norm: Coates & Ng's "random patches".

    ``transform`` is the linear projection ``X @ components_.T`` (no natural encoder).
    """

    def __init__(self, n_atoms: int = 100, *, seed: int | None = None):
        self.n_atoms = n_atoms
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "RandomPatches":
        """Draw the atoms from the rows of ``X``; returns ``self``."""
        Xt, n_atoms = self._validate(X)
        self._set_components(self._init_from_data(Xt, n_atoms, _generator(self.seed)))
        return self


class RandomGaussian(_Dictionary):
    """Atoms are i.i.d. Gaussian vectors normalised to unit norm, drawn by
    :func:`sparsestudy.data.random_dictionary` (the data is used only for its number of
    features): Coates & Ng's "random" dictionary.

    ``transform`` is the linear projection ``X @ components_.T`` (no natural encoder).
    """

    def __init__(self, n_atoms: int = 100, *, seed: int | None = None):
        self.n_atoms = n_atoms
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> "RandomGaussian":
        """Draw the atoms; returns ``self``."""
        Xt, n_atoms = self._validate(X)
        _generator(self.seed)                            # validates the seed
        self._set_components(_random_atoms(n_atoms, Xt, self.seed))
        return self


#: Short names used by the notebooks and profiles.
DICTIONARIES = {
    "omp1": OMP1Dictionary,
    "kmeans": SphericalKMeans,
    "random_patches": RandomPatches,
    "random_gaussian": RandomGaussian,
}


def make_dictionary(name: str, n_atoms: int, *, seed: int | None = None, **params: Any):
    """A dictionary estimator from its short name in :data:`DICTIONARIES` (extra ``params``,
    e.g. ``max_iter``, go to its constructor when it takes them)."""
    if name not in DICTIONARIES:
        raise ValueError(f"name must be one of {tuple(DICTIONARIES)}, got {name!r}")
    cls = DICTIONARIES[name]
    accepted = cls().get_params()
    return cls(n_atoms, seed=seed, **{k: v for k, v in params.items() if k in accepted})

r"""The Coates–Ng single-layer feature pipeline (Coates & Ng, ICML 2011) as composable
scikit-learn transformers, computed in torch and batched.

Images ``X`` are rows ``(n_images, H*W*C)`` flattened row-major from ``(H, W, C)`` (``C = 1``
for gray), as :func:`sparsestudy.data.load_digits` / ``load_mnist5k`` give them. The pipeline:

1. **patches** of ``patch_size x patch_size`` at a ``stride`` (:func:`extract_patches`, the
   strided version of :func:`sklearn.feature_extraction.image.extract_patches_2d`, same layout);
2. **per-patch normalisation** (:class:`PatchNormalizer`): subtract the patch mean, divide by
   ``sqrt(variance + eps)``;
3. **ZCA whitening** (:class:`ZCAWhitening`): :math:`x \mapsto (x - \mu) V (\Lambda +
   \epsilon)^{-1/2} V^\top`;
4. **encoding** against a dictionary :math:`D` (:class:`DictionaryEncoder`), each with
   Coates & Ng's *polarity split* :math:`f = [\max(0, s), \max(0, -s)]` (2 x n_atoms features):

   * ``"soft"``: :math:`s = \operatorname{soft}_\alpha(D x)`, so
     :math:`f = [\max(0, Dx - \alpha), \max(0, -Dx - \alpha)]` (their "T", α = 0.25);
   * ``"omp"``: :math:`s` = OMP-k codes (:func:`sparsestudy.solvers.omp`);
   * ``"natural"``: the code the dictionary was trained with (``dictionary.transform``): OMP-1
     codes for :class:`~sparsestudy.dictionary.OMP1Dictionary`, the one-hot hard assignment
     for :class:`~sparsestudy.dictionary.SphericalKMeans` (non-negative already, so not split);
     undefined for random dictionaries (ValueError);
5. **four-quadrant sum pooling** of the feature maps (:func:`quadrant_pool`), 4 x features;
6. a linear classifier (:func:`linear_classifier`: standardisation + ridge classifier with a
   leave-one-out penalty by default, or Coates & Ng's linear L2-SVM).

Steps 2–4 are ordinary patch-level transformers (one row per patch), chained in a
:class:`~sklearn.pipeline.Pipeline`; :class:`ConvolutionalFeatures` runs that pipeline over every
patch position of every image and pools, so the whole thing is an image-level transformer that
sits in front of a classifier in another Pipeline.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._arrays import as_tensor, check_int, check_scalar, is_numpy_like, restore
from .prox import _nonneg_soft
from .solvers import omp

__all__ = [
    "extract_patches", "quadrant_pool", "PatchNormalizer", "ZCAWhitening", "DictionaryEncoder",
    "ConvolutionalFeatures", "patch_pipeline", "linear_classifier", "coates_ng_pipeline",
    "raw_pixels_pipeline",
]

ENCODERS = ("soft", "omp", "natural")


# ------------------------------------------------------------------------------------ helpers
def _image_shape(image_shape: Any) -> tuple[int, int, int]:
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {image_shape!r}")
    dims = tuple(check_int(d, "image_shape", min_value=1) for d in image_shape)
    return dims if len(dims) == 3 else (dims[0], dims[1], 1)


def _as_images(X: Any, shape: tuple[int, int, int], name: str = "X") -> torch.Tensor:
    """(n, H*W*C) or (n, H, W[, C]) -> tensor (n, H, W, C)."""
    Xt = as_tensor(X, name, min_ndim=2)
    H, W, C = shape
    if Xt.ndim == 2:
        if Xt.shape[1] != H * W * C:
            raise ValueError(f"{name} has {Xt.shape[1]} columns but image_shape {shape} needs "
                             f"{H * W * C}")
        Xt = Xt.reshape(-1, H, W, C)
    elif Xt.ndim == 3:
        Xt = Xt.unsqueeze(-1)
    if tuple(Xt.shape[1:]) != (H, W, C):
        raise ValueError(f"{name} images have shape {tuple(Xt.shape[1:])}, expected {shape}")
    return Xt


def _unfold(imgs: torch.Tensor, p: int, stride: int) -> torch.Tensor:
    """(n, H, W, C) -> (n, rows, cols, p*p*C), patches flattened as (p, p, C)."""
    n, H, W, C = imgs.shape
    u = imgs.unfold(1, p, stride).unfold(2, p, stride)   # (n, rows, cols, C, p, p), a view
    rows, cols = u.shape[1], u.shape[2]
    return u.permute(0, 1, 2, 4, 5, 3).reshape(n, rows, cols, p * p * C)


def extract_patches(X: Any, image_shape: Sequence[int], patch_size: int, stride: int = 1) -> Any:
    """All ``patch_size x patch_size`` patches of each image, every ``stride`` pixels.

    Returns ``(n_images, n_rows, n_cols, patch_size**2 * C)``; each patch flattened as
    ``(patch_size, patch_size, C)``, the layout of
    ``sklearn.feature_extraction.image.extract_patches_2d`` (which is the ``stride=1`` case).
    """
    shape = _image_shape(image_shape)
    p = check_int(patch_size, "patch_size", min_value=1, max_value=min(shape[:2]))
    s = check_int(stride, "stride", min_value=1)
    out = _unfold(_as_images(X, shape), p, s)
    return restore(out, is_numpy_like(X))


def _quadrant_pool(maps: torch.Tensor) -> torch.Tensor:
    n, R, C, F = maps.shape
    r, c = (R + 1) // 2, (C + 1) // 2
    parts = [maps[:, :r, :c], maps[:, :r, c:], maps[:, r:, :c], maps[:, r:, c:]]
    return torch.cat([q.sum(dim=(1, 2)) for q in parts], dim=1)


def quadrant_pool(maps: Any) -> Any:
    """Sum-pool feature maps ``(n, rows, cols, F)`` over four quadrants -> ``(n, 4F)``.

    The quadrants split rows and columns in halves (the first half gets the middle row/column
    when the size is odd); the output is ``[top-left, top-right, bottom-left, bottom-right]``.
    """
    t = as_tensor(maps, "maps", ndim=4)
    if t.shape[1] < 2 or t.shape[2] < 2:
        raise ValueError(f"maps must be at least 2x2 to pool into quadrants, got {tuple(t.shape)}")
    return restore(_quadrant_pool(t), is_numpy_like(maps))


# ------------------------------------------------------------------------- patch transformers
class PatchNormalizer(TransformerMixin, BaseEstimator):
    r"""Per-row (per-patch) normalisation: :math:`(x - \bar x) / \sqrt{\operatorname{var}(x) +
    \epsilon}` (stateless; brightness and contrast removed).

    ``eps`` regularises low-contrast patches. Coates & Ng use 10 for pixels in 0..255; the
    default ``10 / 255**2`` is the same for pixels in [0, 1].
    """

    def __init__(self, eps: float = 10 / 255**2):
        self.eps = eps

    def fit(self, X: Any, y: Any = None) -> "PatchNormalizer":
        """Record the number of features; returns ``self``."""
        self.n_features_in_ = int(as_tensor(X, "X", ndim=2).shape[1])
        return self

    def transform(self, X: Any) -> Any:
        """Normalise each row of ``X`` (n_patches, n_features)."""
        check_is_fitted(self, "n_features_in_")
        check_scalar(self.eps, "eps", min_value=0, include_min=False)
        Xt = as_tensor(X, "X", ndim=2)
        if Xt.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xt.shape[1]} features, expected {self.n_features_in_}")
        mu = Xt.mean(dim=1, keepdim=True)
        if Xt.shape[1] > 1:
            var = Xt.var(dim=1, keepdim=True, unbiased=True)
        else:
            var = torch.zeros_like(mu)
        return restore((Xt - mu) / torch.sqrt(var + self.eps), is_numpy_like(X))


class ZCAWhitening(TransformerMixin, BaseEstimator):
    r"""ZCA whitening :math:`x \mapsto (x - \mu)\, V (\Lambda + \epsilon)^{-1/2} V^\top`, with
    :math:`V \Lambda V^\top` the eigendecomposition of the training covariance. Unlike PCA
    whitening (``sklearn.decomposition.PCA(whiten=True)``) it stays in pixel space, so whitened
    patches still look like patches. Coates & Ng use ``eps = 0.1`` on normalised patches.

    Attributes
    ----------
    mean_ : ndarray (n_features,)
    whitening_ : ndarray (n_features, n_features), symmetric
    """

    def __init__(self, eps: float = 0.1):
        self.eps = eps

    def fit(self, X: Any, y: Any = None) -> "ZCAWhitening":
        """Estimate the mean and the whitening matrix from ``X`` (n_samples, n_features)."""
        check_scalar(self.eps, "eps", min_value=0, include_min=False)
        Xt = as_tensor(X, "X", ndim=2, dtype=torch.float64)
        if Xt.shape[0] < 2:
            raise ValueError("X needs at least 2 samples to estimate a covariance")
        mu = Xt.mean(dim=0)
        Xc = Xt - mu
        cov = Xc.T @ Xc / (Xt.shape[0] - 1)
        lam, V = torch.linalg.eigh(cov)
        W = (V * (lam.clamp_min(0) + self.eps).rsqrt()) @ V.T
        self.mean_ = mu.numpy()
        self.whitening_ = W.numpy()
        self.n_features_in_ = int(Xt.shape[1])
        return self

    def transform(self, X: Any) -> Any:
        """Whiten ``X`` (n_samples, n_features)."""
        check_is_fitted(self, "whitening_")
        Xt = as_tensor(X, "X", ndim=2)
        if Xt.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xt.shape[1]} features, expected {self.n_features_in_}")
        mu = torch.as_tensor(self.mean_, dtype=Xt.dtype)
        W = torch.as_tensor(self.whitening_, dtype=Xt.dtype)
        return restore((Xt - mu) @ W, is_numpy_like(X))


class DictionaryEncoder(TransformerMixin, BaseEstimator):
    """Fit a dictionary estimator, then encode against it with polarity split.

    Parameters
    ----------
    dictionary : estimator
        One of :mod:`sparsestudy.dictionary` (anything with ``fit`` and ``components_``,
        unit-norm rows). It is cloned on ``fit`` (fitted copy: ``dictionary_``).
    encoder : {"soft", "omp", "natural"}
        See the module docstring.
    alpha : float
        Threshold of the ``"soft"`` encoder.
    n_nonzero : int
        k of the ``"omp"`` encoder.
    polarity_split : bool
        Output ``[max(0, s), max(0, -s)]`` (2 x n_atoms) rather than ``s``; ignored for codes
        that are non-negative by construction (k-means hard assignment).

    Attributes
    ----------
    dictionary_ : fitted estimator
    components_ : ndarray (n_atoms, n_features)
    """

    def __init__(self, dictionary: Any = None, *, encoder: str = "soft", alpha: float = 0.25,
                 n_nonzero: int = 1, polarity_split: bool = True):
        self.dictionary = dictionary
        self.encoder = encoder
        self.alpha = alpha
        self.n_nonzero = n_nonzero
        self.polarity_split = polarity_split

    def _check_params(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        check_scalar(self.alpha, "alpha", min_value=0)
        check_int(self.n_nonzero, "n_nonzero", min_value=1)
        if self.dictionary is None or not hasattr(self.dictionary, "fit"):
            raise TypeError("dictionary must be a dictionary estimator (with fit/components_)")

    def fit(self, X: Any, y: Any = None) -> "DictionaryEncoder":
        """Fit a clone of ``dictionary`` on ``X`` (n_patches, n_features); returns ``self``."""
        self._check_params()
        if self.encoder == "natural" and not getattr(self.dictionary, "has_natural_encoder",
                                                     False):
            raise ValueError(f"encoder='natural' is undefined for {type(self.dictionary).__name__}"
                             " (a random dictionary has no training encoder)")
        self.dictionary_ = clone(self.dictionary).fit(X)
        self.components_ = np.asarray(self.dictionary_.components_)
        self.n_features_in_ = int(self.components_.shape[1])
        return self

    @property
    def n_output_features_(self) -> int:
        check_is_fitted(self, "components_")
        k = self.components_.shape[0]
        split = self.polarity_split and not (
            self.encoder == "natural" and not self.dictionary_.natural_code_signed)
        return 2 * k if split else k

    def transform(self, X: Any) -> Any:
        """Encode ``X`` (n_patches, n_features) -> ``(n_patches, n_output_features_)``."""
        check_is_fitted(self, "components_")
        self._check_params()
        numpy_in = is_numpy_like(X)
        Xt = as_tensor(X, "X", ndim=2)
        if Xt.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xt.shape[1]} features, expected {self.n_features_in_}")
        D = torch.as_tensor(self.components_, dtype=Xt.dtype)
        signed = True
        if self.encoder == "soft":
            Z = Xt @ D.T
            if self.polarity_split:
                out = torch.cat([_nonneg_soft(Z, self.alpha), _nonneg_soft(-Z, self.alpha)], dim=1)
            else:
                out = torch.sign(Z) * torch.relu(Z.abs() - self.alpha)
            return restore(out, numpy_in)
        if self.encoder == "omp":
            k = min(self.n_nonzero, *D.shape)
            S = omp(Xt, D, k).codes
        else:
            S = self.dictionary_.transform(Xt)           # the natural code (torch in, out)
            signed = self.dictionary_.natural_code_signed
        if self.polarity_split and signed:
            S = torch.cat([torch.relu(S), torch.relu(-S)], dim=1)
        return restore(S, numpy_in)


def patch_pipeline(dictionary: Any, encoder: str = "soft", *, alpha: float = 0.25,
                   n_nonzero: int = 1, normalize_eps: float = 10 / 255**2,
                   zca_eps: float | None = 0.1) -> Pipeline:
    """Patch-level Coates–Ng steps: normalise -> ZCA-whiten (skipped if ``zca_eps`` is None)
    -> :class:`DictionaryEncoder`."""
    steps = [("normalize", PatchNormalizer(eps=normalize_eps))]
    if zca_eps is not None:
        steps.append(("whiten", ZCAWhitening(eps=zca_eps)))
    steps.append(("encode", DictionaryEncoder(dictionary, encoder=encoder, alpha=alpha,
                                              n_nonzero=n_nonzero)))
    return Pipeline(steps)


# ------------------------------------------------------------------------------ image level
class ConvolutionalFeatures(TransformerMixin, BaseEstimator):
    """Run a patch-level transformer at every patch position of every image, then pool.

    ``fit`` samples ``n_patches`` patches uniformly at random (over images and positions,
    seeded) and fits a clone of ``patch_transformer`` on them; ``transform`` extracts every
    patch at ``stride``, transforms them in batches of images (torch; a tqdm progress bar when
    there are many batches and ``progress`` is not False), and sum-pools each image's feature
    maps over four quadrants.

    Parameters
    ----------
    patch_transformer : transformer
        Typically :func:`patch_pipeline` (normalise, whiten, encode).
    image_shape : (H, W) or (H, W, C)
    patch_size : int
    stride : int
    n_patches : int
        Training patches for ``fit``.
    seed : int or None
        Seeds the patch sampling (the dictionary has its own ``seed``).
    dtype : {"float32", "float64"}
        Precision of the computation.
    batch_size : int or None
        Images per batch in ``transform`` (default: about 2**24 feature values per batch).
    progress : bool or None
        None: a progress bar only when there are more than 50 batches.

    Attributes
    ----------
    patch_transformer_ : the fitted clone
    n_positions_ : (rows, cols) of the feature maps
    """

    def __init__(self, patch_transformer: Any = None, *, image_shape: Sequence[int] = (8, 8),
                 patch_size: int = 5, stride: int = 1, n_patches: int = 20000,
                 seed: int | None = None, dtype: str = "float32", batch_size: int | None = None,
                 progress: bool | None = None):
        self.patch_transformer = patch_transformer
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.stride = stride
        self.n_patches = n_patches
        self.seed = seed
        self.dtype = dtype
        self.batch_size = batch_size
        self.progress = progress

    def _dt(self) -> torch.dtype:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return getattr(torch, self.dtype)

    def _geometry(self) -> tuple[tuple[int, int, int], int, int]:
        shape = _image_shape(self.image_shape)
        p = check_int(self.patch_size, "patch_size", min_value=1, max_value=min(shape[:2]))
        s = check_int(self.stride, "stride", min_value=1)
        return shape, p, s

    def fit(self, X: Any, y: Any = None) -> "ConvolutionalFeatures":
        """Sample training patches from the images ``X`` and fit the patch transformer."""
        shape, p, s = self._geometry()
        m = check_int(self.n_patches, "n_patches", min_value=2)
        if self.patch_transformer is None:
            raise TypeError("patch_transformer must be a transformer, got None")
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"seed must be an int or None, got {type(self.seed).__name__}")
        imgs = _as_images(X, shape).to(self._dt())                      # (n, H, W, C)
        n, H, W, C = imgs.shape
        g = torch.Generator()
        g.manual_seed(int(self.seed)) if self.seed is not None else g.seed()
        i = torch.randint(n, (m,), generator=g)
        r = torch.randint(H - p + 1, (m,), generator=g)
        c = torch.randint(W - p + 1, (m,), generator=g)
        ar = torch.arange(p)
        patches = imgs[i[:, None, None], r[:, None, None] + ar[None, :, None],
                      c[:, None, None] + ar[None, None, :]].reshape(m, -1)
        self.patch_transformer_ = clone(self.patch_transformer).fit(patches)
        self.n_positions_ = ((H - p) // s + 1, (W - p) // s + 1)
        self.n_features_in_ = H * W * C
        return self

    def transform(self, X: Any) -> Any:
        """Pooled features ``(n_images, 4 * n_patch_features)``."""
        check_is_fitted(self, "patch_transformer_")
        shape, p, s = self._geometry()
        numpy_in = is_numpy_like(X)
        imgs = _as_images(X, shape)
        dt = self._dt()
        n = imgs.shape[0]
        rows, cols = self.n_positions_
        if rows < 2 or cols < 2:
            raise ValueError("quadrant pooling needs at least 2x2 patch positions; "
                             "lower patch_size or stride")
        probe = self.patch_transformer_.transform(
            _unfold(imgs[:1].to(dt), p, s).reshape(rows * cols, -1))
        n_feat = int(probe.shape[1])
        bs = self.batch_size
        if bs is None:
            bs = max(1, (1 << 24) // max(1, rows * cols * n_feat))
        bs = check_int(bs, "batch_size", min_value=1)
        starts = range(0, n, bs)
        show = self.progress if self.progress is not None else len(starts) > 50
        if show:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="encoding", unit="batch")
        out = torch.empty(n, 4 * n_feat, dtype=dt)
        for a in starts:
            b = min(n, a + bs)
            P = _unfold(imgs[a:b].to(dt), p, s)                          # (nb, rows, cols, f)
            F = self.patch_transformer_.transform(P.reshape((b - a) * rows * cols, -1))
            F = torch.as_tensor(F, dtype=dt).reshape(b - a, rows, cols, n_feat)
            out[a:b] = _quadrant_pool(F)
        return restore(out, numpy_in)


def linear_classifier(kind: str = "ridge", C: float = 1.0) -> Pipeline:
    """The linear classifier on top: ``StandardScaler`` then

    * ``"ridge"`` (default): :class:`~sklearn.linear_model.RidgeClassifierCV`, one-vs-all
      least squares whose penalty is chosen among ``logspace(-2, 5, 15)`` by efficient
      leave-one-out on the training set only (closed form: fast and never tuned on test data);
    * ``"svm"``: :class:`~sklearn.svm.LinearSVC` (squared-hinge L2-SVM, Coates & Ng's choice)
      with the fixed ``C``.
    """
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if kind == "ridge":
        clf = RidgeClassifierCV(alphas=np.logspace(-2, 5, 15))
    elif kind == "svm":
        clf = LinearSVC(C=check_scalar(C, "C", min_value=0, include_min=False), max_iter=5000)
    else:
        raise ValueError(f"classifier must be 'ridge' or 'svm', got {kind!r}")
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


def coates_ng_pipeline(dictionary: Any, encoder: str = "soft", *, image_shape: Sequence[int],
                       patch_size: int = 6, stride: int = 1, n_patches: int = 20000,
                       alpha: float = 0.25, n_nonzero: int = 1, classifier: str = "ridge",
                       C: float = 1.0, normalize_eps: float = 10 / 255**2,
                       zca_eps: float | None = 0.1, seed: int | None = None,
                       dtype: str = "float32", progress: bool | None = None) -> Pipeline:
    """The whole Coates–Ng classifier: :class:`ConvolutionalFeatures` over
    :func:`patch_pipeline`, then :func:`linear_classifier` (standardise + linear classifier).

    Steps are named ``"features"``, ``"scale"``, ``"clf"``."""
    feats = ConvolutionalFeatures(
        patch_pipeline(dictionary, encoder, alpha=alpha, n_nonzero=n_nonzero,
                       normalize_eps=normalize_eps, zca_eps=zca_eps),
        image_shape=image_shape, patch_size=patch_size, stride=stride, n_patches=n_patches,
        seed=seed, dtype=dtype, progress=progress)
    return Pipeline([("features", feats)] + linear_classifier(classifier, C).steps)


def raw_pixels_pipeline(classifier: str = "ridge", C: float = 1.0) -> Pipeline:
    """The baseline: the same :func:`linear_classifier` on raw pixels."""
    return linear_classifier(classifier, C)

"""Square patches sampled at random from natural images that ship with scikit-image and
scikit-learn (no network needed).

The default collection is :data:`NATURAL_IMAGES`: eight photographs from ``skimage.data``
(``camera``, ``astronaut``, ``coffee``, ``chelsea``, ``rocket``, ``grass``, ``gravel``,
``brick``) and the two from :func:`sklearn.datasets.load_sample_images` (``china``,
``flower``). All of them load offline.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Sequence

import numpy as np

from .._arrays import check_int

__all__ = ["NATURAL_IMAGES", "COLOR_IMAGES", "load_image", "sample_patches"]

#: Names accepted by :func:`load_image` / ``sample_patches(images=[...])`` and used by default.
NATURAL_IMAGES: tuple[str, ...] = (
    "camera", "astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick",
    "china", "flower",
)
#: The colour images among :data:`NATURAL_IMAGES` (the default when ``color=True``).
COLOR_IMAGES: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")

_SKLEARN_IMAGES = ("china", "flower")


@functools.lru_cache(maxsize=None)
def _load_raw(name: str) -> np.ndarray:
    if name in _SKLEARN_IMAGES:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data

        if name not in NATURAL_IMAGES:
            raise ValueError(
                f"images: unknown image name {name!r}; expected one of {', '.join(NATURAL_IMAGES)}"
            )
        img = getattr(skimage.data, name)()
    img = np.asarray(img)
    img.setflags(write=False)
    return img


def _to_float(img: np.ndarray, color: bool, what: str) -> np.ndarray:
    """uint8 / bool / float image -> float64 in [0, 1], gray (H, W) or colour (H, W, 3)."""
    from skimage.color import rgb2gray
    from skimage.util import img_as_float64

    img = np.asarray(img)
    if img.dtype == object or not (np.issubdtype(img.dtype, np.number) or img.dtype == np.bool_):
        raise TypeError(f"{what} must be a numeric image array, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 4:  # drop alpha
        img = img[..., :3]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"{what} must have shape (H, W) or (H, W, 3), got {img.shape}")
    if np.issubdtype(img.dtype, np.floating):
        if not np.all(np.isfinite(img)) or img.min() < 0 or img.max() > 1:
            raise ValueError(f"{what}: float images must have values in [0, 1]")
        out = img.astype(np.float64)
    else:
        out = img_as_float64(img)
    if color:
        if out.ndim != 3:
            raise ValueError(f"{what} is a gray image but color=True needs (H, W, 3) images")
        return out
    if out.ndim == 3:
        out = rgb2gray(out)
    return np.clip(out, 0.0, 1.0)


def load_image(name: str, *, color: bool = False) -> np.ndarray:
    """One image of :data:`NATURAL_IMAGES` as float64 in ``[0, 1]``.

    Gray ``(H, W)`` by default (colour images through ``skimage.color.rgb2gray``); with
    ``color=True`` the ``(H, W, 3)`` RGB image (only for names in :data:`COLOR_IMAGES`).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name not in NATURAL_IMAGES:
        raise ValueError(f"name: unknown image {name!r}; expected one of "
                         f"{', '.join(NATURAL_IMAGES)}")
    return _to_float(_load_raw(name), color, f"image {name!r}")


def sample_patches(n_patches: int, patch_size: int = 8, *,
                   images: Sequence[Any] | None = None, color: bool = False,
                   remove_mean: bool = False,
                   seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Sample square patches uniformly at random from a collection of natural images.

    Every patch position of every image is equally likely (an image is chosen with probability
    proportional to its number of positions, then a position uniformly within it), with
    replacement.

    Parameters
    ----------
    n_patches : int
        Number of patches, ``>= 1``.
    patch_size : int
        Side of the square patches, ``>= 1`` and at most the smallest image side.
    images : list of str or arrays, optional
        Names from :data:`NATURAL_IMAGES`, or image arrays ``(H, W)`` / ``(H, W, 3)`` (uint8,
        bool, or float in ``[0, 1]``). Default: :data:`NATURAL_IMAGES` (gray) or
        :data:`COLOR_IMAGES` (colour).
    color : bool
        Gray patches by default (``skimage.color.rgb2gray``); ``True`` keeps RGB.
    remove_mean : bool
        Subtract each patch's mean (over its pixels and channels) from it, as dictionary
        learning on natural images usually does (claim C07); the values are then in ``[-1, 1]``.
    seed : int, numpy Generator or None
        Seeds ``numpy.random.default_rng``; the same seed gives the same patches.

    Returns
    -------
    ndarray (n_patches, patch_size**2) or (n_patches, 3 * patch_size**2), float64 in [0, 1]
        Each row a patch flattened row-major (colour: ``(patch_size, patch_size, 3)`` flattened,
        as ``sklearn.feature_extraction.image.extract_patches_2d(...).reshape(n, -1)`` does).
    """
    n_patches = check_int(n_patches, "n_patches", min_value=1)
    patch_size = check_int(patch_size, "patch_size", min_value=1)
    if not isinstance(color, (bool, np.bool_)):
        raise TypeError(f"color must be a bool, got {type(color).__name__}")
    if not isinstance(remove_mean, (bool, np.bool_)):
        raise TypeError(f"remove_mean must be a bool, got {type(remove_mean).__name__}")
    if seed is not None and not isinstance(seed, (numbers.Integral, np.random.Generator)):
        raise TypeError("seed must be an int, a numpy Generator or None, got "
                        f"{type(seed).__name__}")
    rng = np.random.default_rng(seed)
    if images is None:
        images = COLOR_IMAGES if color else NATURAL_IMAGES
    if isinstance(images, (str, np.ndarray)) or not isinstance(images, Sequence) or not len(images):
        raise TypeError("images must be a non-empty list of image names or arrays")
    imgs = []
    for i, im in enumerate(images):
        if isinstance(im, str):
            if im not in NATURAL_IMAGES:
                raise ValueError(f"images[{i}]: unknown image name {im!r}; expected one of "
                                 f"{', '.join(NATURAL_IMAGES)}")
            imgs.append(load_image(im, color=color))
        else:
            imgs.append(_to_float(im, color, f"images[{i}]"))
    counts = np.array(
        [max(0, im.shape[0] - patch_size + 1) * max(0, im.shape[1] - patch_size + 1)
         for im in imgs],
        dtype=np.float64,
    )
    if counts.sum() == 0:
        raise ValueError(f"patch_size={patch_size} is larger than every image")
    which = rng.choice(len(imgs), size=n_patches, p=counts / counts.sum())
    depth = 3 if color else 1
    out = np.empty((n_patches, patch_size * patch_size * depth), dtype=np.float64)
    offs = np.arange(patch_size)
    for k, im in enumerate(imgs):
        sel = np.flatnonzero(which == k)
        if sel.size == 0:
            continue
        r = rng.integers(0, im.shape[0] - patch_size + 1, size=sel.size)
        c = rng.integers(0, im.shape[1] - patch_size + 1, size=sel.size)
        p = im[r[:, None, None] + offs[None, :, None], c[:, None, None] + offs[None, None, :]]
        out[sel] = p.reshape(sel.size, -1)
    if remove_mean:
        out -= out.mean(axis=1, keepdims=True)
    return out

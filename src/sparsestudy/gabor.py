r"""Gabor functions and a least-squares Gabor fitter for image atoms (receptive fields).

A Gabor function on a pixel grid (``x`` the column, ``y`` the row, both from 0) is a plane
wave under a Gaussian envelope,

.. math::

    g(x, y) = a \exp\!\Big(-\frac{x'^2}{2\sigma_x^2} - \frac{y'^2}{2\sigma_y^2}\Big)
              \cos(2\pi f x' + \varphi),\qquad
    \begin{aligned} x' &= (x - x_0)\cos\theta + (y - y_0)\sin\theta,\\
                    y' &= -(x - x_0)\sin\theta + (y - y_0)\cos\theta, \end{aligned}

with amplitude :math:`a \ge 0`, centre :math:`(x_0, y_0)`, envelope widths
:math:`\sigma_x` (across the stripes) and :math:`\sigma_y` (along them), orientation
:math:`\theta` of the wave vector, frequency :math:`f` (cycles per pixel) and phase
:math:`\varphi`. The parameters are in :data:`PARAMS` order.

:func:`fit_gabor` fits one atom by :func:`scipy.optimize.curve_fit` (bounded trust-region
least squares) from several starts and keeps the best, scored by
:math:`R^2 = 1 - \sum (a - g)^2 / \sum (a - \bar a)^2`. The starts are deterministic: the centre
and widths from the atom's energy (its squared values' centroid and spread), the frequency and
orientation from the largest peaks of its zero-padded Fourier transform, each with four phases,
plus a low-frequency (blob) start. :func:`fit_gabors` fits many atoms.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._arrays import as_tensor, check_int

__all__ = ["PARAMS", "gabor", "fit_gabor", "fit_gabors", "GaborFit", "r_squared"]

#: The parameter names, in the order of :func:`gabor`'s ``params`` vector.
PARAMS = ("amplitude", "x0", "y0", "sigma_x", "sigma_y", "theta", "frequency", "phase")


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    return x.ravel(), y.ravel()


def _model(xy: tuple[np.ndarray, np.ndarray], a, x0, y0, sx, sy, th, f, ph) -> np.ndarray:
    x, y = xy
    dx, dy = x - x0, y - y0
    c, s = np.cos(th), np.sin(th)
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    return a * np.exp(-0.5 * (xr * xr / (sx * sx) + yr * yr / (sy * sy))) * \
        np.cos(2 * np.pi * f * xr + ph)


def _jacobian(xy: tuple[np.ndarray, np.ndarray], a, x0, y0, sx, sy, th, f, ph) -> np.ndarray:
    """The model's derivatives with respect to :data:`PARAMS`, ``(n_pixels, 8)``."""
    x, y = xy
    dx, dy = x - x0, y - y0
    c, s = np.cos(th), np.sin(th)
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    E = np.exp(-0.5 * (xr * xr / (sx * sx) + yr * yr / (sy * sy)))
    arg = 2 * np.pi * f * xr + ph
    C, S = np.cos(arg), np.sin(arg)
    d_xr = a * E * (-xr / (sx * sx) * C - 2 * np.pi * f * S)
    d_yr = a * E * (-yr / (sy * sy) * C)
    return np.stack([E * C,
                     -c * d_xr + s * d_yr,               # x0
                     -s * d_xr - c * d_yr,               # y0
                     a * E * C * xr * xr / sx ** 3,
                     a * E * C * yr * yr / sy ** 3,
                     yr * d_xr - xr * d_yr,              # theta
                     -a * E * S * 2 * np.pi * xr,
                     -a * E * S], axis=1)


def _check_shape(shape: Any) -> tuple[int, int]:
    if not isinstance(shape, Sequence) or len(shape) != 2:
        raise TypeError(f"shape must be a pair (height, width), got {shape!r}")
    return (check_int(shape[0], "shape[0]", min_value=1),
            check_int(shape[1], "shape[1]", min_value=1))


def gabor(shape: Sequence[int], params: Any = None, **kwargs: float) -> np.ndarray:
    """The Gabor function of ``params`` (a vector in :data:`PARAMS` order, or keyword
    arguments with those names) sampled on a ``shape = (height, width)`` pixel grid."""
    shape = _check_shape(shape)
    if params is None:
        missing = [p for p in PARAMS if p not in kwargs]
        if missing:
            raise ValueError(f"gabor needs {', '.join(missing)} (or a params vector)")
        params = [kwargs.pop(p) for p in PARAMS]
    if kwargs:
        raise TypeError(f"unexpected arguments {', '.join(kwargs)}")
    p = np.asarray(params, dtype=np.float64)
    if p.shape != (len(PARAMS),) or not np.all(np.isfinite(p)):
        raise ValueError(f"params must be {len(PARAMS)} finite numbers ({', '.join(PARAMS)})")
    if p[3] <= 0 or p[4] <= 0:
        raise ValueError("sigma_x and sigma_y must be > 0")
    return _model(_grid(shape), *p).reshape(shape)


def r_squared(target: np.ndarray, fitted: np.ndarray) -> float:
    """:math:`1 - \\sum (t - g)^2 / \\sum (t - \\bar t)^2` (``nan`` for a constant target)."""
    t, g = np.asarray(target, float).ravel(), np.asarray(fitted, float).ravel()
    tot = float(((t - t.mean()) ** 2).sum())
    return float("nan") if tot == 0 else 1.0 - float(((t - g) ** 2).sum()) / tot


@dataclass
class GaborFit:
    """The best fit of one atom: ``params`` (:data:`PARAMS` order), its ``r2``, the ``fitted``
    image and how many of the starts converged (``n_ok``)."""

    params: np.ndarray
    r2: float
    fitted: np.ndarray
    n_ok: int

    def as_dict(self) -> dict[str, float]:
        return dict(zip(PARAMS, map(float, self.params)))


def _starts(img: np.ndarray, n_peaks: int) -> list[np.ndarray]:
    h, w = img.shape
    x, y = _grid((h, w))
    e = img.ravel() ** 2
    tot = e.sum()
    x0, y0 = float((e * x).sum() / tot), float((e * y).sum() / tot)
    var = float((e * ((x - x0) ** 2 + (y - y0) ** 2)).sum() / tot) / 2   # per axis
    sig = float(np.clip(np.sqrt(2 * var), 0.6, max(h, w)))
    amp = float(np.abs(img).max())
    n = 4 * max(h, w)
    F = np.abs(np.fft.fft2(img - img.mean(), s=(n, n)))
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    F[(fy < 0) | ((fy == 0) & (fx < 0))] = 0          # one of each +-f pair
    F[0, 0] = 0
    peaks = np.argsort(F.ravel())[::-1]
    freqs: list[tuple[float, float]] = []
    for idx in peaks:
        f = float(np.hypot(fx.flat[idx], fy.flat[idx]))
        th = float(np.arctan2(fy.flat[idx], fx.flat[idx]))
        if all(abs(f - f2) > 0.05 or abs(np.angle(np.exp(1j * (th - t2)))) > 0.3
               for f2, t2 in freqs):
            freqs.append((f, th))
        if len(freqs) == n_peaks:
            break
    out = []
    for f, th in freqs:
        for ph in (0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi):
            out.append(np.array([amp, x0, y0, sig, sig, th, f, ph]))
    out.append(np.array([amp, x0, y0, sig, sig, 0.0, 0.02, 0.0 if img.ravel()[
        int(np.argmax(np.abs(img)))] > 0 else np.pi]))
    return out


def fit_gabor(atom: Any, shape: Sequence[int] | None = None, *, n_peaks: int = 2,
              max_nfev: int = 400) -> GaborFit:
    """Fit a Gabor function to one atom by :func:`scipy.optimize.curve_fit` from several
    starts (module docstring); returns the :class:`GaborFit` of largest :math:`R^2`.

    Parameters
    ----------
    atom : array (height, width), or (height * width,) with ``shape``
    shape : (int, int), optional
        The atom's image shape when it is given flattened (row-major).
    n_peaks : int
        Fourier peaks used as starts (each with four phases), plus one blob start.
    max_nfev : int
        Function evaluations per start at most (a step cap, never a clock).
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    a = as_tensor(atom, "atom", ndim=(1, 2)).detach().cpu().numpy().astype(np.float64)
    if a.ndim == 1:
        if shape is None:
            raise ValueError("a flattened atom needs shape=(height, width)")
        shape = _check_shape(shape)
        if a.size != shape[0] * shape[1]:
            raise ValueError(f"atom has {a.size} entries but shape is {shape}")
        a = a.reshape(shape)
    elif shape is not None and tuple(shape) != a.shape:
        raise ValueError(f"atom has shape {a.shape} but shape={tuple(shape)}")
    n_peaks = check_int(n_peaks, "n_peaks", min_value=1)
    max_nfev = check_int(max_nfev, "max_nfev", min_value=1)
    if not np.any(a != a.ravel()[0]):
        raise ValueError("atom is constant: there is nothing to fit")
    h, w = a.shape
    xy = _grid((h, w))
    target = a.ravel()
    amp = float(np.abs(a).max())
    lo = [0.0, -1.0, -1.0, 0.3, 0.3, -2 * np.pi, 0.0, -4 * np.pi]
    hi = [10 * amp, w, h, 2.0 * max(h, w), 2.0 * max(h, w), 2 * np.pi, 0.5, 4 * np.pi]
    best, best_r2, n_ok = None, -np.inf, 0
    for p0 in _starts(a, n_peaks):
        p0 = np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                p, _ = curve_fit(_model, xy, target, p0=p0, bounds=(lo, hi), jac=_jacobian,
                                 max_nfev=max_nfev)
        except RuntimeError:            # the start hit max_nfev without converging
            continue
        n_ok += 1
        r2 = r_squared(target, _model(xy, *p))
        if r2 > best_r2:
            best, best_r2 = p, r2
    if best is None:
        return GaborFit(np.full(len(PARAMS), np.nan), float("nan"), np.full_like(a, np.nan), 0)
    return GaborFit(best, best_r2, _model(xy, *best).reshape(h, w), n_ok)


def fit_gabors(atoms: Any, shape: Sequence[int], **kwargs: Any) -> list[GaborFit]:
    """:func:`fit_gabor` for each row of ``atoms`` ``(n_atoms, height * width)``."""
    A = as_tensor(atoms, "atoms", ndim=2).detach().cpu().numpy()
    return [fit_gabor(row, shape, **kwargs) for row in A]

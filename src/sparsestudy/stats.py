r"""Intervals for paired comparisons of two methods on the same test samples.

:func:`paired_bootstrap` is the study register's interval (amendment 6 of ``CLAIMS.md``): a
percentile bootstrap over test samples, stratified by seed, of the difference between two
methods' mean scores.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import check_int, check_scalar

__all__ = ["PairedInterval", "paired_bootstrap"]

#: Index draws per block (the resamples are drawn in blocks of an even number of rows to bound
#: memory; the numbers drawn are those of one draw of all of them).
_CHUNK_ELEMENTS = 2**22


@dataclass(frozen=True)
class PairedInterval:
    """A paired difference and its bootstrap interval.

    Attributes
    ----------
    diff : float
        The statistic on the data: the mean over strata of ``mean(a) - mean(b)``.
    low, high : float
        The percentile interval's ends.
    n : int
        Number of paired samples.
    confidence : float
    n_strata : int
    """

    diff: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    n_strata: int = 1

    @property
    def half_width(self) -> float:
        """Half the interval's width."""
        return 0.5 * (self.high - self.low)

    def contains(self, value: float) -> bool:
        """Whether ``low <= value <= high``."""
        return bool(self.low <= value <= self.high)


def _scores(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d (one score per test sample), got shape "
                         f"{arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def paired_bootstrap(a: Any, b: Any, strata: Any = None, *, n_resamples: int = 2000,
                     confidence: float = 0.95, seed: Any = 0) -> PairedInterval:
    r"""Stratified paired bootstrap interval for the difference of two methods' mean scores.

    ``a[i]`` and ``b[i]`` are the scores of two methods on the same test sample ``i`` (e.g.
    0/1 correctness), and ``strata[i]`` its stratum (the seed of the run it comes from). The
    statistic is

    .. math:: \Delta = \frac{1}{S}\sum_{s=1}^{S} \big(\bar a_s - \bar b_s\big),

    the mean over strata of the per-stratum difference of means. Each resample draws, within
    every stratum, as many test samples as it has, with replacement (the pairs stay together),
    and recomputes :math:`\Delta`; the interval is the percentile interval of the
    ``n_resamples`` values (``numpy.quantile``, linear interpolation).

    Parameters
    ----------
    a, b : array (n,)
        Finite scores, paired by position.
    strata : array (n,), optional
        The stratum of each sample (any values that ``numpy.unique`` sorts); default one
        stratum.
    n_resamples : int >= 1
    confidence : float in (0, 1)
    seed : int or numpy.random.Generator
        Seeds ``numpy.random.default_rng``. The strata are resampled in sorted order, each by
        one ``rng.integers(0, n_s, size=(n_resamples, n_s))`` draw.

    Returns
    -------
    PairedInterval
    """
    a = _scores(a, "a")
    b = _scores(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"b must have one score per sample of a ({a.shape[0]}), got "
                         f"{b.shape[0]}")
    n = a.shape[0]
    if n == 0:
        raise ValueError("a must hold at least one score")
    if strata is None:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = np.asarray(strata.detach().cpu().numpy() if hasattr(strata, "detach")
                            else strata)
        if labels.shape != (n,):
            raise ValueError(f"strata must have one entry per sample ({n}), got shape "
                             f"{labels.shape}")
    n_resamples = check_int(n_resamples, "n_resamples", min_value=1)
    check_scalar(confidence, "confidence", min_value=0, max_value=1, include_min=False,
                 include_max=False)
    if seed is not None and not isinstance(seed, (numbers.Integral, np.random.Generator)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    rng = np.random.default_rng(seed)
    d = a - b
    groups = [d[labels == s] for s in np.unique(labels)]
    diff = float(np.mean([g.mean() for g in groups]))
    total = np.zeros(n_resamples)
    for g in groups:
        m = g.shape[0]
        rows = max(2, _CHUNK_ELEMENTS // m // 2 * 2)     # even: numpy's stream is unchanged
        for start in range(0, n_resamples, rows):
            stop = min(n_resamples, start + rows)
            idx = rng.integers(0, m, size=(stop - start, m))
            total[start:stop] += g[idx].mean(axis=1)
    stats = total / len(groups)
    tail = (1.0 - float(confidence)) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return PairedInterval(diff=diff, low=float(low), high=float(high), n=n,
                          confidence=float(confidence), n_strata=len(groups))

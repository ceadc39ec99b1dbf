"""The paired bootstrap: against a brute-force loop, coverage, bad input."""

import numpy as np
import pytest

from sparsestudy import stats
from sparsestudy.stats import PairedInterval, paired_bootstrap


def brute_force(a, b, strata, n_resamples, confidence, seed):
    """A loop over resamples and strata, drawing the same numbers (one draw per stratum)."""
    rng = np.random.default_rng(seed)
    labels = np.unique(strata)
    draws = {s: rng.integers(0, np.sum(strata == s), size=(n_resamples, np.sum(strata == s)))
             for s in labels}
    values = []
    for r in range(n_resamples):
        per = []
        for s in labels:
            da, db = a[strata == s], b[strata == s]
            i = draws[s][r]
            per.append(sum(da[j] for j in i) / len(i) - sum(db[j] for j in i) / len(i))
        values.append(sum(per) / len(per))
    values = np.sort(values)
    tail = (1 - confidence) / 2

    def quantile(q):                        # numpy's default ("linear") rule, by hand
        h = (len(values) - 1) * q
        lo = int(np.floor(h))
        return values[lo] + (h - lo) * (values[min(lo + 1, len(values) - 1)] - values[lo])

    diff = np.mean([a[strata == s].mean() - b[strata == s].mean() for s in labels])
    return diff, quantile(tail), quantile(1 - tail)


@pytest.mark.parametrize("seed", [0, 7])
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 90
    strata = rng.integers(0, 3, n) * 10 + 1          # unsorted, unequal strata sizes
    a = (rng.random(n) < 0.7).astype(float)
    b = (rng.random(n) < 0.6).astype(float)
    got = paired_bootstrap(a, b, strata, n_resamples=300, confidence=0.9, seed=seed)
    diff, low, high = brute_force(a, b, strata, 300, 0.9, seed)
    assert isinstance(got, PairedInterval) and got.n == n and got.n_strata == 3
    assert got.diff == pytest.approx(diff, abs=1e-12)
    assert got.low == pytest.approx(low, abs=1e-12)
    assert got.high == pytest.approx(high, abs=1e-12)
    assert got.low <= got.diff <= got.high and got.confidence == 0.9


def test_chunked_draws_give_the_same_interval(monkeypatch):
    rng = np.random.default_rng(2)
    a, b = rng.random(41), rng.random(41)
    strata = rng.integers(0, 2, 41)
    one = paired_bootstrap(a, b, strata, n_resamples=257, seed=5)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 50)
    assert paired_bootstrap(a, b, strata, n_resamples=257, seed=5) == one


def test_without_strata_and_identical_methods():
    a = np.array([1.0, 0, 1, 1, 0, 1])
    r = paired_bootstrap(a, a)
    assert (r.diff, r.low, r.high, r.n_strata) == (0.0, 0.0, 0.0, 1)
    r = paired_bootstrap(a, np.zeros(6), seed=1)
    assert r.diff == pytest.approx(4 / 6) and 0 <= r.low <= r.diff <= r.high <= 1
    assert r.half_width == pytest.approx((r.high - r.low) / 2) and r.contains(r.diff)


def test_coverage_of_a_known_difference():
    """Correlated 0/1 scores with a known difference of means 0.1: the 90 % interval covers it
    in about 90 % of repeated experiments."""
    rng = np.random.default_rng(0)
    hits, trials = 0, 300
    for t in range(trials):
        u = rng.random((3, 120))                     # 3 seeds x 120 test samples
        a = (u < 0.7).astype(float).ravel()
        b = (u < 0.6).astype(float).ravel()         # b correct => a correct: paired
        flip = rng.random(a.size) < 0.2             # some independent noise in b
        b = np.where(flip, (rng.random(a.size) < 0.6).astype(float), b)
        strata = np.repeat(np.arange(3), 120)
        r = paired_bootstrap(a, b, strata, n_resamples=400, confidence=0.9, seed=t)
        hits += r.contains(0.1)
    assert 0.84 <= hits / trials <= 0.96


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(b=np.zeros(4)), ValueError, "b must"),
    (dict(strata=np.zeros(3)), ValueError, "strata"),
    (dict(a=np.array([1.0, np.nan, 0, 1, 1])), ValueError, "a contains NaN"),
    (dict(b=np.array([1.0, np.inf, 0, 1, 1])), ValueError, "b contains NaN"),
    (dict(confidence=1.0), ValueError, "confidence"),
    (dict(confidence=0.0), ValueError, "confidence"),
    (dict(confidence="high"), TypeError, "confidence"),
    (dict(n_resamples=0), ValueError, "n_resamples"),
    (dict(a=np.zeros((5, 1))), ValueError, "a must be 1-d"),
    (dict(a=np.array(["x"] * 5)), TypeError, "a must be a numeric"),
    (dict(seed=0.5), TypeError, "seed"),
])
def test_bad_input(kwargs, exc, word):
    args = dict(a=np.ones(5), b=np.zeros(5), strata=None)
    args.update(kwargs)
    a, b, strata = args.pop("a"), args.pop("b"), args.pop("strata")
    with pytest.raises(exc, match=word):
        paired_bootstrap(a, b, strata, **args)
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap(np.zeros(0), np.zeros(0))

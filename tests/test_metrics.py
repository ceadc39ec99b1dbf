"""metrics: NMSE in dB, supports, exact zeros, against direct NumPy computation."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsestudy.metrics import n_exact_zeros, nmse_db, sparsity, support_equal


def test_nmse_db_values():
    truth = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert nmse_db(truth, truth) == -math.inf
    assert nmse_db(np.zeros_like(truth), truth) == pytest.approx(0.0)
    est = truth * 1.1  # error energy 0.01 of the signal energy
    assert nmse_db(est, truth) == pytest.approx(-20.0)
    # torch input, batch-level (not per-sample) averaging
    t = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    e = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    assert nmse_db(e, t) == pytest.approx(10 * math.log10(1 / 10))


_moderate = st.one_of(st.just(0.0), st.floats(1e-3, 10), st.floats(-10, -1e-3))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 5), elements=_moderate),
       arrays(np.float64, (3, 5), elements=_moderate))
def test_nmse_db_matches_numpy(a, b):
    if not (b != 0).any():
        with pytest.raises(ValueError, match="truth"):
            nmse_db(a, b)
        return
    num = np.sum((a - b) ** 2)
    got = nmse_db(a, b)
    if num == 0:
        assert got == -math.inf
    else:
        assert got == pytest.approx(10 * np.log10(num / np.sum(b**2)), abs=1e-9)


def test_nmse_db_is_scale_invariant_without_underflow():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 6))
    ref = nmse_db(a, b)
    for s in (1e-200, 1e-160, 1e150):
        assert nmse_db(a * s, b * s) == pytest.approx(ref, abs=1e-9)


def test_nmse_errors():
    with pytest.raises(ValueError, match="same shape"):
        nmse_db(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="estimate"):
        nmse_db("x", np.ones(3))


def test_support_equal():
    a = np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 1e-9]])
    b = np.array([[5.0, 0.0, -0.1], [0.0, 3.0, 1.0]])
    assert support_equal(a, a)
    assert not support_equal(a, b)
    np.testing.assert_array_equal(support_equal(a, b, axis=1), [True, False])
    assert isinstance(support_equal(a, b, axis=1), np.ndarray)
    assert isinstance(support_equal(torch.tensor(a), torch.tensor(b), axis=1), torch.Tensor)
    # with a tolerance the 1e-9 entry leaves the support
    c = np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 0.0]])
    assert not support_equal(a, c)
    assert support_equal(a, c, atol=1e-6)
    with pytest.raises(ValueError, match="atol"):
        support_equal(a, c, atol=-1)
    with pytest.raises(ValueError, match="axis"):
        support_equal(a, c, axis=2)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (4, 6), elements=st.sampled_from([0.0, -0.0, 1.0, -3.5, 1e-300])))
def test_zero_counts_match_numpy(x):
    assert n_exact_zeros(x) == int(np.sum(x == 0))
    np.testing.assert_array_equal(n_exact_zeros(x, axis=1), np.sum(x == 0, axis=1))
    assert sparsity(x) == pytest.approx(np.mean(x == 0))
    np.testing.assert_allclose(sparsity(x, axis=0), np.mean(x == 0, axis=0))


def test_sparsity_errors_and_torch():
    assert sparsity(torch.tensor([0.0, 1.0, 0.0, 2.0])) == 0.5
    with pytest.raises(ValueError, match="empty"):
        sparsity(np.array([]))
    with pytest.raises(TypeError, match="axis"):
        n_exact_zeros(np.ones(3), axis=0.5)

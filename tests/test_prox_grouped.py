"""grouped_top_k: the per-window L0-ball projection, and max pooling as its M = 1 case."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsestudy.prox import grouped_top_k, top_k


def _blocks(x, w):
    """(N, C, H, W) numpy -> (N, C, H/w, W/w, w*w), by explicit loops (the reference)."""
    n, c, h, wd = x.shape
    out = np.empty((n, c, h // w, wd // w, w * w), dtype=x.dtype)
    for i, j in itertools.product(range(h // w), range(wd // w)):
        out[:, :, i, j] = x[:, :, i * w:(i + 1) * w, j * w:(j + 1) * w].reshape(n, c, -1)
    return out


@pytest.mark.parametrize("window", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_m1_window_sum_equals_max_pool_after_relu(window, dtype):
    g = torch.Generator().manual_seed(window)
    x = torch.relu(torch.randn(3, 4, 12, 24, generator=g, dtype=dtype))
    y = grouped_top_k(x, 1, window)
    n, c, h, w = x.shape
    pooled = y.reshape(n, c, h // window, window, w // window, window).sum(dim=(3, 5))
    assert torch.equal(pooled, F.max_pool2d(x, window))


def test_m1_is_not_max_pool_for_signed_input():
    # max pooling keeps the largest value, the projection the largest magnitude
    x = torch.tensor([[[[-3.0, 1.0], [0.5, 0.0]]]])
    assert grouped_top_k(x, 1, 2).sum().item() == -3.0
    assert F.max_pool2d(x, 2).item() == 1.0


@pytest.mark.parametrize("k", [0, 1, 2, 5, 9])
def test_keeps_k_largest_magnitudes_per_window(k):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 3, 6, 9))
    y = grouped_top_k(x, k, 3)
    assert isinstance(y, np.ndarray) and y.shape == x.shape
    bx, by = _blocks(x, 3), _blocks(y, 3)
    assert np.all((by != 0).sum(-1) == k)
    kept = np.sort(np.abs(by), axis=-1)[..., 9 - k:]
    assert np.array_equal(kept, np.sort(np.abs(bx), axis=-1)[..., 9 - k:])
    # kept entries are unchanged, the others are zero
    assert np.all((by == bx) | (by == 0))


def test_agrees_with_top_k_on_each_window():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 8, 8))
    y = _blocks(grouped_top_k(x, 3, 4), 4)
    assert np.array_equal(y, top_k(_blocks(x, 4), 3))


@settings(max_examples=40, deadline=None)
@given(window=st.integers(1, 3), hb=st.integers(1, 3), wb=st.integers(1, 3),
       data=st.data())
def test_is_a_projection(window, hb, wb, data):
    k = data.draw(st.integers(0, window * window))
    seed = data.draw(st.integers(0, 2**31 - 1))
    x = torch.randn(1, 2, hb * window, wb * window, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    y = grouped_top_k(x, k, window)
    assert torch.equal(grouped_top_k(y, k, window), y)          # idempotent
    # no other k-sparse-per-window candidate supported on x is closer to x
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 1),
                      dtype=torch.float64)
    cand = grouped_top_k(mask, k, window) != 0                   # a random valid support
    assert (x - y).norm() <= (x - x * cand).norm() + 1e-12


def test_k_full_is_identity_and_k_zero_is_zero():
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(grouped_top_k(x, 4, 2), x)
    assert torch.equal(grouped_top_k(x, 0, 2), torch.zeros_like(x))


def test_gradient_flows_to_kept_entries_only():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    y = grouped_top_k(x, 2, 2)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).to(x.dtype))


@pytest.mark.parametrize("k,window,shape,exc,word", [
    (1, 3, (1, 1, 4, 4), ValueError, "window"),      # does not divide
    (1, 5, (1, 1, 4, 4), ValueError, "window"),      # larger than the map
    (1, 0, (1, 1, 4, 4), ValueError, "window"),
    (5, 2, (1, 1, 4, 4), ValueError, "k"),           # more than window*window
    (-1, 2, (1, 1, 4, 4), ValueError, "k"),
    (1.5, 2, (1, 1, 4, 4), TypeError, "k"),
    (1, 2.0, (1, 1, 4, 4), TypeError, "window"),
    (1, 2, (4, 4), ValueError, "x"),                 # not (N, C, H, W)
])
def test_bad_input(k, window, shape, exc, word):
    with pytest.raises(exc, match=word):
        grouped_top_k(torch.zeros(shape), k, window)


def test_bad_x_type():
    with pytest.raises(TypeError, match="x"):
        grouped_top_k("not an array", 1, 2)

"""Tests of the thresholding operators in ``sparsestudy.prox``.

Each operator is checked against a brute-force minimisation of the function it is the proximal
map of, then by properties (optimality conditions, non-expansiveness, idempotence, ...), types,
gradients and input validation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsestudy.prox import hard_threshold, nonneg_soft_threshold, soft_threshold, top_k

OPERATORS = [soft_threshold, nonneg_soft_threshold, hard_threshold]
OP_IDS = ["soft", "nonneg_soft", "hard"]

# ------------------------------------------------------------------------ brute force on a grid
GRID = np.linspace(-6.0, 6.0, 200001)  # spacing 6e-5
GRID[100000] = 0.0  # make sure y = 0 is represented exactly
STEP = GRID[1] - GRID[0]
V_VALUES = np.linspace(-4.0, 4.0, 41) + 0.0123  # avoid landing exactly on the thresholds
T_VALUES = [0.0, 0.25, 1.0, 2.2]


def _grid_argmin(v, penalty):
    """argmin over GRID of 0.5 (y - v)^2 + penalty(y) for each v (vector)."""
    out = np.empty_like(v)
    pen = penalty(GRID)
    for i, vi in enumerate(v):
        out[i] = GRID[np.argmin(0.5 * (GRID - vi) ** 2 + pen)]
    return out


@pytest.mark.parametrize("t", T_VALUES)
def test_soft_threshold_is_prox_of_l1_brute_force(t):
    y = soft_threshold(V_VALUES, t)
    ref = _grid_argmin(V_VALUES, lambda g: t * np.abs(g))
    np.testing.assert_allclose(y, ref, rtol=0, atol=STEP)
    np.testing.assert_array_equal(y == 0, ref == 0)


@pytest.mark.parametrize("t", T_VALUES)
def test_nonneg_soft_threshold_is_prox_of_l1_plus_indicator_brute_force(t):
    y = nonneg_soft_threshold(V_VALUES, t)
    ref = _grid_argmin(V_VALUES, lambda g: t * np.abs(g) + np.where(g >= 0, 0.0, np.inf))
    np.testing.assert_allclose(y, ref, rtol=0, atol=STEP)
    np.testing.assert_array_equal(y == 0, ref == 0)
    # and it is literally relu(v - t)
    np.testing.assert_array_equal(y, np.maximum(V_VALUES - t, 0.0))


@pytest.mark.parametrize("lam", [0.02, 0.5, 1.3, 3.0])
def test_hard_threshold_is_prox_of_l0_brute_force(lam):
    t = np.sqrt(2 * lam)
    v = V_VALUES[np.abs(np.abs(V_VALUES) - t) > 1e-3]  # exclude the tie |v| = t
    y = hard_threshold(v, t)
    ref = _grid_argmin(v, lambda g: lam * (g != 0))
    np.testing.assert_allclose(y, ref, rtol=0, atol=STEP)
    np.testing.assert_array_equal(y == 0, ref == 0)
    # where kept, the value is exactly v
    np.testing.assert_array_equal(y[y != 0], v[y != 0])


def _best_k_sparse_sqdist(x, k):
    """Brute force: min over all supports of size k of ||x - x restricted to support||^2."""
    n = x.shape[0]
    best = np.inf
    for supp in itertools.combinations(range(n), k):
        mask = np.zeros(n, bool)
        mask[list(supp)] = True
        best = min(best, float(np.sum(x[~mask] ** 2)))
    return best


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_top_k_is_best_k_sparse_approximation_brute_force(n):
    rng = np.random.default_rng(n)
    for trial in range(6):
        x = rng.standard_normal(n)
        if trial % 2:
            x[rng.random(n) < 0.4] = 0.0  # some exact zeros
        if trial == 5:
            x = np.round(x)  # ties in magnitude
        for k in range(0, n + 1):
            y = top_k(x, k)
            assert np.count_nonzero(y) <= k
            supp = y != 0
            np.testing.assert_array_equal(y[supp], x[supp])  # a restriction of x
            np.testing.assert_allclose(np.sum((x - y) ** 2), _best_k_sparse_sqdist(x, k),
                                       rtol=1e-12, atol=1e-12)


def test_top_k_batched_last_axis_brute_force():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 6))
    y = top_k(x, 2)
    assert y.shape == x.shape
    for idx in np.ndindex(4, 3):
        row = x[idx]
        assert np.count_nonzero(y[idx]) == 2
        np.testing.assert_allclose(np.sum((row - y[idx]) ** 2), _best_k_sparse_sqdist(row, 2),
                                   rtol=1e-12)


# ------------------------------------------------------------------------- hypothesis properties
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
vectors = arrays(np.float64, st.integers(1, 24), elements=finite)
thresholds = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)
PROP = settings(max_examples=60, deadline=None)


def _pair(draw_shape_len=st.integers(1, 24)):
    return draw_shape_len.flatmap(
        lambda n: st.tuples(arrays(np.float64, n, elements=finite),
                            arrays(np.float64, n, elements=finite)))


@PROP
@given(v=vectors, t=thresholds)
def test_soft_optimality_conditions(v, t):
    y = soft_threshold(v, t)
    nz = y != 0
    # y != 0  =>  v - y = t sign(y)
    np.testing.assert_allclose((v - y)[nz], t * np.sign(y[nz]), rtol=0,
                               atol=1e-12 * max(1.0, np.abs(v).max()))
    # y == 0  =>  |v| <= t
    assert np.all(np.abs(v[~nz]) <= t)


@PROP
@given(v=vectors, t=thresholds)
def test_nonneg_soft_optimality_conditions(v, t):
    y = nonneg_soft_threshold(v, t)
    assert np.all(y >= 0)
    pos = y > 0
    np.testing.assert_allclose((v - y)[pos], t, rtol=0, atol=1e-12 * max(1.0, np.abs(v).max()))
    assert np.all(v[~pos] <= t)
    np.testing.assert_array_equal(y, np.maximum(v - t, 0.0))


@PROP
@given(v=vectors, t=thresholds)
def test_hard_optimality_and_idempotence(v, t):
    y = hard_threshold(v, t)
    keep = np.abs(v) > t
    np.testing.assert_array_equal(y[keep], v[keep])
    assert np.all(y[~keep] == 0)
    np.testing.assert_array_equal(hard_threshold(y, t), y)
    # same support as the soft threshold at the same level
    np.testing.assert_array_equal(y != 0, soft_threshold(v, t) != 0)


@PROP
@given(pair=_pair(), t=thresholds)
def test_soft_thresholds_are_non_expansive(pair, t):
    a, b = pair
    for op in (soft_threshold, nonneg_soft_threshold):
        d = np.abs(op(a, t) - op(b, t))
        assert np.all(d <= np.abs(a - b) * (1 + 1e-12) + 1e-9)


@PROP
@given(v=vectors, t=thresholds, k=st.integers(0, 30))
def test_sign_preservation(v, t, k):
    outs = [op(v, t) for op in OPERATORS] + [top_k(v, min(k, v.shape[0]))]
    for y in outs:
        s = np.sign(y)
        assert np.all((s == 0) | (s == np.sign(v)))
        assert np.all(np.abs(y) <= np.abs(v))  # shrinks or keeps magnitudes


@PROP
@given(v=vectors, k=st.integers(0, 30))
def test_top_k_idempotent_and_counts(v, k):
    k = min(k, v.shape[0])
    y = top_k(v, k)
    assert np.count_nonzero(y) == min(k, np.count_nonzero(v))
    np.testing.assert_array_equal(top_k(y, k), y)
    # every kept magnitude is >= every dropped magnitude
    kept = np.abs(v[y != 0])
    dropped = np.abs(v[(y == 0) & (v != 0)])
    if kept.size and dropped.size:
        assert kept.min() >= dropped.max()


@PROP
@given(v=vectors, t1=thresholds, t2=thresholds)
def test_soft_sparsity_monotone_in_threshold(v, t1, t2):
    lo, hi = min(t1, t2), max(t1, t2)
    s_lo, s_hi = soft_threshold(v, lo) != 0, soft_threshold(v, hi) != 0
    assert s_hi.sum() <= s_lo.sum()
    assert np.all(s_lo[s_hi])  # supports are nested
    assert np.all(np.abs(soft_threshold(v, hi)) <= np.abs(soft_threshold(v, lo)))


# ------------------------------------------------------------------------- types and broadcasting
@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out_dtype_kept(op, dtype):
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(dtype)
    y = op(x, np.float64(0.3))
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == x.shape
    yt = top_k(x, 2)
    assert isinstance(yt, np.ndarray) and yt.dtype == dtype


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out_dtype_kept(op, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 4, generator=g, dtype=dtype)
    y = op(x, 0.3)
    assert isinstance(y, torch.Tensor) and y.dtype == dtype and y.shape == x.shape
    ref = op(x.double().numpy(), 0.3)
    np.testing.assert_allclose(y.double().numpy(), ref, rtol=1e-6, atol=1e-6)
    yt = top_k(x, 2)
    assert isinstance(yt, torch.Tensor) and yt.dtype == dtype


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_lists_and_ints_give_float64_numpy(op):
    y = op([[3, -1, 0, 2]], 1)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_scalar_input_gives_scalar_shaped_output(op):
    y = op(np.float64(3.0), 1.0)
    assert np.shape(y) == ()
    assert float(y) == float(op(np.array([3.0]), 1.0)[0])


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_per_atom_threshold_broadcasting(op):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)) * 2
    t_atom = np.array([0.0, 0.5, 1.0, 3.0])
    y = op(x, t_atom)
    for j in range(4):
        np.testing.assert_array_equal(y[:, j], op(x[:, j], t_atom[j]))
    t_sample = np.linspace(0.1, 2.0, 6)[:, None]
    y = op(x, t_sample)
    for i in range(6):
        np.testing.assert_array_equal(y[i], op(x[i], float(t_sample[i, 0])))
    # a torch per-atom threshold with torch input
    yt = op(torch.from_numpy(x), torch.from_numpy(t_atom))
    np.testing.assert_array_equal(yt.numpy(), op(x, t_atom))


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_inputs_not_modified(op):
    x = np.random.default_rng(4).standard_normal((3, 5))
    x0 = x.copy()
    op(x, 0.5)
    top_k(x, 2)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("k_is_n", [True, False])
def test_top_k_result_does_not_alias_input(k_is_n):
    x = np.random.default_rng(5).standard_normal((2, 4))
    x0 = x.copy()
    y = top_k(x, 4 if k_is_n else 2)
    y[...] = 123.0  # writing to the result must not change the caller's array
    np.testing.assert_array_equal(x, x0)


# ------------------------------------------------------------------------------------- gradients
def _away_from_kinks(n, t, seed, margin=0.05):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 2
    bad = ((x.abs() - t).abs() < margin) | (x.abs() < margin)
    x[bad] += 4 * margin * torch.sign(x[bad] + 1e-3)
    return x


def test_soft_threshold_gradients():
    t0 = 0.7
    x = _away_from_kinks(50, t0, 0).requires_grad_(True)
    t = torch.tensor(t0, dtype=torch.float64, requires_grad=True)
    y = soft_threshold(x, t)
    gx, gt = torch.autograd.grad(y.sum(), [x, t])
    kept = (x.detach().abs() > t0)
    assert kept.any() and (~kept).any()
    np.testing.assert_array_equal(gx.numpy(), kept.double().numpy())
    assert float(gt) == pytest.approx(-float(torch.sign(x.detach())[kept].sum()))
    # per-entry gradient wrt thresh: -sign(x) on kept, 0 elsewhere
    tv = torch.full((50,), t0, dtype=torch.float64, requires_grad=True)
    (gtv,) = torch.autograd.grad(soft_threshold(x, tv).sum(), [tv])
    np.testing.assert_array_equal(gtv.numpy(), (-torch.sign(x.detach()) * kept).numpy())


def test_nonneg_soft_threshold_gradients():
    t0 = 0.4
    x = _away_from_kinks(50, t0, 1).requires_grad_(True)
    t = torch.full((50,), t0, dtype=torch.float64, requires_grad=True)
    gx, gt = torch.autograd.grad(nonneg_soft_threshold(x, t).sum(), [x, t])
    kept = (x.detach() > t0).double()
    np.testing.assert_array_equal(gx.numpy(), kept.numpy())
    np.testing.assert_array_equal(gt.numpy(), -kept.numpy())


def test_hard_threshold_and_top_k_gradients():
    x = _away_from_kinks(30, 0.5, 2).requires_grad_(True)
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    gx, gt = torch.autograd.grad(hard_threshold(x, t).sum(), [x, t], allow_unused=True)
    np.testing.assert_array_equal(gx.numpy(), (x.detach().abs() > 0.5).double().numpy())
    assert gt is None or float(gt) == 0.0
    (gx,) = torch.autograd.grad(top_k(x, 7).sum(), [x])
    assert float(gx.sum()) == 7.0
    np.testing.assert_array_equal(gx.numpy(), (top_k(x.detach(), 7) != 0).double().numpy())


def test_gradcheck_away_from_kinks():
    t0 = 0.3
    x = _away_from_kinks(12, t0, 3).reshape(3, 4).requires_grad_(True)
    t = torch.full((4,), t0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(soft_threshold, (x, t), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(nonneg_soft_threshold, (x, t), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(lambda a: hard_threshold(a, t0), (x,), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(lambda a: top_k(a, 2), (x,), eps=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("thresh", [-0.1, np.array([0.5, -1e-9, 0.2]), torch.tensor(-1.0)])
def test_negative_thresh(op, thresh):
    with pytest.raises(ValueError, match="thresh"):
        op(np.ones(3), thresh)


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(op, bad):
    with pytest.raises(ValueError, match=r"^x "):
        op(np.array([1.0, bad]), 0.1)
    with pytest.raises(ValueError, match=r"^x "):
        op(torch.tensor([1.0, bad]), 0.1)
    with pytest.raises(ValueError, match="thresh"):
        op(np.ones(2), bad)
    with pytest.raises(ValueError, match="thresh"):
        op(np.ones(2), np.array([0.1, bad]))


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_non_numeric_inputs_are_type_errors(op):
    with pytest.raises(TypeError, match=r"^x "):
        op("abc", 0.1)
    with pytest.raises(TypeError, match=r"^x "):
        op(np.array([1.0, "a"], dtype=object), 0.1)
    with pytest.raises(TypeError, match=r"^x "):
        op(None, 0.1)
    with pytest.raises(TypeError, match="thresh"):
        op(np.ones(2), "0.1")
    with pytest.raises(TypeError, match="thresh"):
        op(np.ones(2), np.array([0.1, None], dtype=object))
    with pytest.raises(TypeError, match="thresh"):
        op(np.ones(2), 0.1 + 1j)


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
@pytest.mark.parametrize("tshape", [(5,), (3,), (3, 4), (2, 2, 3)])
def test_thresh_not_broadcastable(op, tshape):
    with pytest.raises(ValueError, match="thresh"):
        op(np.ones((2, 4)), np.ones(tshape))


@pytest.mark.parametrize("op", OPERATORS, ids=OP_IDS)
def test_thresh_must_not_enlarge_the_output(op):
    # thresh broadcasts *against* x; a thresh with more dimensions than x would silently
    # change the output's shape, which a proximal map of x must not do
    x = np.ones(4)
    try:
        y = op(x, np.full((3, 4), 0.5))
    except ValueError as err:
        assert "thresh" in str(err)
    else:
        assert y.shape == x.shape


@pytest.mark.parametrize("k", [-1, 6, 100])
def test_top_k_out_of_range(k):
    with pytest.raises(ValueError, match="k"):
        top_k(np.ones((2, 5)), k)


@pytest.mark.parametrize("k", [2.0, 1.5, "2", None, True, np.float64(2)])
def test_top_k_k_not_int(k):
    with pytest.raises(TypeError, match="k"):
        top_k(np.ones(5), k)


def test_top_k_zero_dimensional_x():
    with pytest.raises(ValueError, match=r"^x "):
        top_k(np.float64(1.0), 1)
    with pytest.raises(ValueError, match=r"^x "):
        top_k(torch.tensor(1.0), 1)


def test_top_k_bad_x():
    with pytest.raises(ValueError, match=r"^x "):
        top_k(np.array([1.0, np.nan]), 1)
    with pytest.raises(TypeError, match=r"^x "):
        top_k(["a", "b"], 1)
    assert isinstance(top_k(np.int64([3, -5, 1]), 1), np.ndarray)
    np.testing.assert_array_equal(top_k(np.int64([3, -5, 1]), 1), [0.0, -5.0, 0.0])

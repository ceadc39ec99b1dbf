"""The L0 networks: exact unfolding of IHT, the L0 identities, gradients, bad input."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sparsestudy.unrolled import DeepL0Encoder, HardThresholdEncoder, TopM, threshold_surrogate
from sparsestudy.prox import hard_threshold, top_k
from sparsestudy.solvers import iht


def _problem(seed=0, n=20, f=16, a=32, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(a, f, generator=g, dtype=dtype)
    D = D / D.norm(dim=1, keepdim=True)
    Z = torch.randn(n, a, generator=g, dtype=dtype) * (torch.rand(n, a, generator=g) < 0.1)
    X = Z @ D + 0.01 * torch.randn(n, f, generator=g, dtype=dtype)
    return X, D


# ---------------------------------------------------------------------------- the identities
@pytest.mark.parametrize("seed", range(3))
def test_l0_prox_is_hard_threshold_at_sqrt_2lambda(seed):
    rng = np.random.default_rng(seed)
    grid = np.concatenate([np.linspace(-4, 4, 80001), [0.0]])
    for lam in rng.uniform(0.05, 2.0, 5):
        v = rng.uniform(-3, 3, 40)
        obj = 0.5 * (grid[None, :] - v[:, None]) ** 2 + lam * (grid[None, :] != 0)
        brute = grid[obj.argmin(axis=1)]
        formula = hard_threshold(v, np.sqrt(2 * lam))
        far = np.abs(np.abs(v) - np.sqrt(2 * lam)) > 1e-3          # away from the tie
        assert np.all(np.abs(brute - formula)[far] <= 1e-4 + 1e-12)
        # and the formula's objective is never above the grid minimum
        fobj = 0.5 * (formula - v) ** 2 + lam * (formula != 0)
        assert np.all(fobj <= obj.min(axis=1) + 1e-12)


@pytest.mark.parametrize("n,M", [(6, 0), (6, 1), (6, 3), (7, 5), (7, 7)])
def test_top_k_is_the_l0_ball_projection(n, M):
    rng = np.random.default_rng(n * 10 + M)
    for _ in range(20):
        v = rng.standard_normal(n)
        best = min(itertools.combinations(range(n), M),
                   key=lambda s: np.sum(np.delete(v, list(s)) ** 2))
        proj = np.zeros(n)
        proj[list(best)] = v[list(best)]
        assert np.array_equal(top_k(v, M), proj)


@pytest.mark.parametrize("K", [1, 3, 8])
def test_deep_l0_encoder_is_unfolded_iht_thresh(K):
    X, D = _problem()
    net = DeepL0Encoder.from_dictionary(D, K, thresh=0.05)
    ref = iht(X, D, thresh=0.05, max_iter=K, tol=0).codes
    with torch.no_grad():
        out = net(X)
    assert torch.allclose(out, ref, atol=1e-12, rtol=0)
    assert int((out != 0).sum()) > 0
    # and grad mode changes nothing in the forward value
    assert torch.allclose(net(X), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("K,M", [(1, 2), (5, 4), (10, 1)])
def test_deep_l0_encoder_is_unfolded_iht_sparse(K, M):
    X, D = _problem(1)
    net = DeepL0Encoder(D, K, n_nonzero=M, tied=False)
    ref = iht(X, D, n_nonzero=M, max_iter=K, tol=0).codes
    out = net(X)
    assert torch.allclose(out, ref, atol=1e-12, rtol=0)
    assert torch.all((out != 0).sum(dim=1) <= M)
    # intermediate depths are the intermediate iterates
    assert torch.allclose(net(X, n_layers=1), iht(X, D, n_nonzero=M, max_iter=1, tol=0).codes,
                          atol=1e-12, rtol=0)


def test_hard_threshold_encoder_is_one_iht_step():
    X, D = _problem(2)
    enc = HardThresholdEncoder.from_dictionary(D, 0.1, scale="lipschitz")
    assert torch.allclose(enc(X), iht(X, D, thresh=0.1, max_iter=1, tol=0).codes,
                          atol=1e-12, rtol=0)
    enc2 = HardThresholdEncoder.from_dictionary(D, 0.3)
    # the encoder's matmul runs on a copy of D.T: compare to rounding, not bit for bit
    torch.testing.assert_close(enc2(X).detach(), hard_threshold(X @ D.T, 0.3), rtol=0,
                               atol=1e-12)


def test_one_sided_unit():
    X, D = _problem(3)
    enc = HardThresholdEncoder(D.T, 0.2, nonneg=True)
    v = X @ D.T
    torch.testing.assert_close(enc(X).detach(), v * (v > 0.2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("window", [2, 3])
def test_top_m_pool_m1_is_max_pool_with_gradients(window):
    g = torch.Generator().manual_seed(window)
    x = torch.relu(torch.randn(2, 3, 6, 12, generator=g, dtype=torch.float64))
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    y1 = TopM(1, window=window, pool=True)(x1)
    y2 = F.max_pool2d(x2, window)
    assert torch.equal(y1, y2)
    w = torch.randn(y1.shape, generator=g, dtype=torch.float64)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    # in an all-zero window (a tie) each routes the gradient to one of the tied entries;
    # everywhere else the gradients are identical
    untied = F.interpolate((y2 > 0).to(x.dtype), scale_factor=window) > 0
    assert torch.equal(x1.grad[untied], x2.grad[untied])
    assert torch.allclose(x1.grad.reshape(2, 3, -1).sum(-1), x2.grad.reshape(2, 3, -1).sum(-1))


def test_top_m_vectors():
    x = torch.tensor([[0.1, -3.0, 2.0, 0.5]])
    assert torch.equal(TopM(2)(x), torch.tensor([[0.0, -3.0, 2.0, 0.0]]))


# ---------------------------------------------------------------------------------- gradients
def test_threshold_gradient_sigmoid_surrogate_matches_formula():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(50, 8, generator=g, dtype=torch.float64)
    t = torch.full((8,), 0.5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 8, generator=g, dtype=torch.float64)
    out = v * (v.abs() > t) + threshold_surrogate(v, t, temperature=0.1)
    assert torch.equal(out.detach(), hard_threshold(v, 0.5))
    (out * w).sum().backward()
    s = torch.sigmoid((v.abs() - 0.5) / 0.1)
    expected = (w * (-v * s * (1 - s) / 0.1)).sum(dim=0)
    assert torch.allclose(t.grad, expected, atol=1e-12)


def test_threshold_gradient_ste_is_soft_threshold_derivative():
    v = torch.tensor([[-2.0, -0.2, 0.3, 1.5]], dtype=torch.float64)
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (threshold_surrogate(v, t, surrogate="ste")).sum().backward()
    # d/dt soft(v, t) = -sign(v) 1[|v| > t]  ->  +1 (v=-2) - 1 (v=1.5) = 0
    assert t.grad.item() == 0.0
    t.grad = None
    threshold_surrogate(v, t, surrogate="ste")[0, 3].backward()
    assert t.grad.item() == -1.0


def test_encoder_gradients_in_weight_are_the_masked_linear_ones():
    X, D = _problem(4)
    enc = HardThresholdEncoder(D.T, 0.1)
    out = enc(X)
    w = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (out * w).sum().backward()
    mask = ((X @ D.T).abs() > 0.1).to(X.dtype)
    assert torch.allclose(enc.weight.grad, X.T @ (w * mask), atol=1e-12)
    # raising the thresholds lowers the energy of the codes: the surrogate says so too
    enc.zero_grad()
    (enc(X) ** 2).sum().backward()
    assert torch.all(enc.thresh.grad <= 0) and torch.any(enc.thresh.grad < 0)


def test_deep_encoder_threshold_gradient_matches_finite_difference_of_surrogate():
    # with the sigmoid surrogate at one layer, d loss / d theta is the derivative of the
    # surrogate network v * sigmoid((|v| - theta) / tau) with the mask held fixed in v
    X, D = _problem(5)
    net = DeepL0Encoder(D, 1, thresh=0.05, temperature=0.02)
    loss = net(X).sum()
    loss.backward()
    v = (X @ net.W).detach()
    s = torch.sigmoid((v.abs() - 0.05) / 0.02)
    expected = (-v * s * (1 - s) / 0.02).sum(dim=0)
    assert torch.allclose(net.thresh0.grad, expected, atol=1e-10)


def test_training_deep_l0_encoder_reduces_its_loss():
    X, D = _problem(6, n=64)
    target = iht(X, D, n_nonzero=3, max_iter=200, tol=0).codes
    net = DeepL0Encoder(D, 3, thresh=0.05, tied=False)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    with torch.no_grad():
        before = F.mse_loss(net(X), target).item()
    for _ in range(60):
        opt.zero_grad()
        loss = F.mse_loss(net(X), target)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = F.mse_loss(net(X), target).item()
    assert after < 0.8 * before
    assert net.thresh0.grad is not None and torch.any(net.thresh0.grad != 0)


def test_learn_false_gives_buffers():
    _, D = _problem()
    net = DeepL0Encoder(D, 2, thresh=0.1, learn=False)
    assert list(net.parameters()) == []
    enc = HardThresholdEncoder(D.T, 0.1, learn_weight=False, learn_thresh=False)
    assert list(enc.parameters()) == []


# ---------------------------------------------------------------------------------- bad input
def test_bad_input():
    X, D = _problem()
    with pytest.raises(ValueError, match="exactly one"):
        DeepL0Encoder(D, 2)
    with pytest.raises(ValueError, match="exactly one"):
        DeepL0Encoder(D, 2, thresh=0.1, n_nonzero=2)
    with pytest.raises(ValueError, match="n_nonzero"):
        DeepL0Encoder(D, 2, n_nonzero=D.shape[0] + 1)
    with pytest.raises(ValueError, match="n_layers"):
        DeepL0Encoder(D, 0, thresh=0.1)
    with pytest.raises(ValueError, match="thresh"):
        DeepL0Encoder(D, 2, thresh=-0.1)
    with pytest.raises(ValueError, match="thresh"):
        DeepL0Encoder(D, 2, thresh=np.ones(3))
    with pytest.raises(ValueError, match="surrogate"):
        DeepL0Encoder(D, 2, thresh=0.1, surrogate="magic")
    with pytest.raises(ValueError, match="temperature"):
        HardThresholdEncoder(D.T, 0.1, temperature=0.0)
    with pytest.raises(ValueError, match="x must have shape"):
        DeepL0Encoder(D, 2, thresh=0.1)(X[:, :5])
    with pytest.raises(TypeError, match="x"):
        HardThresholdEncoder(D.T, 0.1)(X.numpy())
    with pytest.raises(ValueError, match="M"):
        TopM(5, window=2)
    with pytest.raises(ValueError, match="M"):
        TopM(5)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="M"):
        TopM(-1)
    with pytest.raises(ValueError, match="window"):
        TopM(1, window=8)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="window"):
        TopM(1, window=3)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="window"):
        TopM(1, pool=True)

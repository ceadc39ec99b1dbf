"""The proximal optimisers against closed forms and PyTorch's own optimisers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsestudy import solvers, steps
from sparsestudy.optim import ProxAdam, ProxSGD, group_soft_threshold, prox_step

torch.set_num_threads(1)


def _lasso_problem(seed=0, n=6, k=12, m=8):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((k, m))
    X = rng.standard_normal((n, m))
    return torch.from_numpy(X), torch.from_numpy(D)


@pytest.mark.parametrize("alpha", [0.05, 0.5, 2.0])
def test_prox_sgd_on_a_quadratic_is_ista(alpha):
    """lr = 1/L on 1/2 ||x - zD||^2 with the L1 prox: the iterates are ISTA's."""
    X, D = _lasso_problem()
    L = steps.lipschitz_constant(D)
    z = torch.zeros(X.shape[0], D.shape[0], dtype=torch.float64, requires_grad=True)
    opt = ProxSGD([z], lr=1 / L, penalty="l1", strength=alpha)
    W, S, _ = steps.network_weights(D, L)
    z_ref = None
    for k in range(1, 26):
        opt.zero_grad()
        (0.5 * ((X - z @ D) ** 2).sum()).backward()
        opt.step()
        z_ref = steps.ista_step(z_ref, X @ W, S, alpha / L)
        torch.testing.assert_close(z.detach(), z_ref, rtol=0, atol=1e-12)
    ref = solvers.ista(X, D, alpha, max_iter=25, tol=0).codes
    torch.testing.assert_close(z.detach(), ref, rtol=0, atol=1e-12)
    if alpha >= 0.5:
        assert (z == 0).any()      # the prox makes exact zeros


def _sgd_pair(kw, prox_kw=None):
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3).double()
    b = copy.deepcopy(a)
    ref = torch.optim.SGD(a.parameters(), foreach=False, **kw)
    ours = ProxSGD(b.parameters(), **kw, **(prox_kw or {}))
    return a, b, ref, ours


@pytest.mark.parametrize("kw", [
    dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.01)])
@pytest.mark.parametrize("prox_kw", [dict(strength=0.0), dict(penalty=None, strength=1.0)])
def test_prox_sgd_without_penalty_is_torch_sgd(kw, prox_kw):
    a, b, ref, ours = _sgd_pair(kw, prox_kw)
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-14, atol=1e-14)


def test_prox_sgd_momentum_is_sgd_then_soft_threshold():
    """With momentum, one step is torch's SGD step followed by the soft threshold lr*lambda."""
    a, b, ref, ours = _sgd_pair(dict(lr=0.05, momentum=0.9), dict(strength=0.3))
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for _ in range(4):
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            opt.step()
        with torch.no_grad():      # the reference: SGD, then the prox, from the same point
            for p in a.parameters():
                p.copy_(torch.sign(p) * torch.relu(p.abs() - 0.05 * 0.3))
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-14, atol=1e-14)


def test_prox_adam_without_penalty_is_torch_adam():
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3).double()
    b = copy.deepcopy(a)
    ref = torch.optim.Adam(a.parameters(), lr=0.01, weight_decay=0.01, foreach=False)
    ours = ProxAdam(b.parameters(), lr=0.01, weight_decay=0.01, strength=0.0)
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(10):
        for model, opt in ((a, ref), (b, ours)):
            opt.zero_grad()
            (model(x) ** 2).sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [ProxSGD, ProxAdam])
def test_converges_to_the_soft_threshold_of_a_separable_quadratic(cls):
    """min 1/2 (w - c)^2 + lam |w| is soft(c, lam): exactly 0 where |c| < lam."""
    c = torch.tensor([2.0, -1.5, 0.3, -0.2, 0.05, 1.0], dtype=torch.float64)
    lam = 0.5
    w = torch.zeros_like(c, requires_grad=True)
    opt = cls([w], lr=0.01, strength=lam) if cls is ProxAdam else cls([w], lr=0.1, strength=lam)
    for _ in range(3000):
        opt.zero_grad()
        (0.5 * (w - c) ** 2).sum().backward()
        opt.step()
    want = torch.sign(c) * torch.relu(c.abs() - lam)
    assert torch.equal(w.detach() == 0, want == 0)
    torch.testing.assert_close(w.detach(), want, rtol=0, atol=0.02)


def test_group_prox_sgd_zeroes_whole_rows():
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 8).double()
    opt = ProxSGD([{"params": [layer.weight], "penalty": "group_l1", "strength": 3.0},
                   {"params": [layer.bias], "penalty": None}], lr=0.1)
    x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for _ in range(30):
        opt.zero_grad()
        (0.5 * (layer(x) - 0.1) ** 2).mean().backward()
        opt.step()
    zero_rows = (layer.weight == 0).all(dim=1)
    assert zero_rows.any()
    assert ((layer.weight == 0).any(dim=1) == zero_rows).all()    # rows, never single entries


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.floats(0.01, 4))
def test_group_soft_threshold_is_the_prox(vals, t):
    """Its output minimises 1/2 ||u - w||^2 + t ||u||_2: no random perturbation does better."""
    w = torch.tensor(vals, dtype=torch.float64)
    u = group_soft_threshold(w, t)
    obj = lambda v: 0.5 * ((v - w) ** 2).sum() + t * torch.linalg.vector_norm(v)  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-3, 1e-1, 1.0):
        for _ in range(20):
            v = u + scale * torch.randn(w.shape, dtype=torch.float64, generator=gen)
            assert obj(v) >= obj(u) - 1e-12
    if torch.linalg.vector_norm(w) <= t:
        assert torch.equal(u, torch.zeros_like(w))


@pytest.mark.parametrize("make", [
    lambda ps: ProxSGD(ps, lr=0.05, momentum=0.9, nesterov=True, strength=0.01),
    lambda ps: ProxAdam(ps, lr=0.01, strength=0.01)])
def test_state_dict_round_trip(make):
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3)
    x = torch.randn(9, 4, generator=torch.Generator().manual_seed(4))
    opt_a = make(a.parameters())

    def train(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()

    train(a, opt_a, 3)
    b = copy.deepcopy(a)
    opt_b = make(b.parameters())
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    assert opt_b.state_dict()["param_groups"] == opt_a.state_dict()["param_groups"]
    train(a, opt_a, 4)
    train(b, opt_b, 4)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_bad_input():
    p = [torch.zeros(3, requires_grad=True)]
    with pytest.raises(ValueError, match="lr"):
        ProxSGD(p, lr=0)
    with pytest.raises(ValueError, match="penalty"):
        ProxSGD(p, lr=0.1, penalty="l2")
    with pytest.raises(ValueError, match="strength"):
        ProxSGD(p, lr=0.1, strength=-1)
    with pytest.raises(ValueError, match="nesterov"):
        ProxSGD(p, lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="nesterov"):
        ProxSGD(p, lr=0.1, momentum=0.9, nesterov=1)
    with pytest.raises(ValueError, match="penalty"):
        ProxSGD([{"params": p, "penalty": "l0"}], lr=0.1)
    with pytest.raises(ValueError, match="penalty"):
        ProxAdam(p, penalty="group_l1")
    with pytest.raises(ValueError, match="betas"):
        ProxAdam(p, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas"):
        ProxAdam(p, betas=0.9)
    with pytest.raises(TypeError, match="w must be"):
        group_soft_threshold([1.0], 0.1)
    with pytest.raises(ValueError, match="thresh"):
        group_soft_threshold(torch.ones(2), -1.0)
    with pytest.raises(ValueError, match="penalty"):
        prox_step(torch.ones(2), "l2", 0.1)


def _classification(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_fit_weight_penalized_prox_zeros_subgradient_none_and_reports():
    from sparsestudy.optim import fit_weight_penalized

    X, y = _classification(0)
    Xv, yv = _classification(1, 60)
    track = np.array([[0, 0], [3, 5]])
    out = {}
    for method in ("subgradient", "proximal"):
        model, rep = fit_weight_penalized(_mlp(), X, y, Xv, yv, penalty="l1", strength=0.02,
                                          method=method, lr=0.05, batch_size=20,
                                          max_epochs=40, patience=4, track=track)
        out[method] = (model, rep)
        info = rep.info
        assert rep.stop_reason in ("plateau", "cap")
        assert len(info["train_loss"]) == len(rep.history)
        assert info["trajectory"].shape == (rep.steps + 1, 2)
        hit = info["epochs_to_target"]
        assert (hit is None) == (min(info["train_loss"]) > 0.2)
        if hit is not None:
            assert info["train_loss"][hit] <= 0.2 and min(info["train_loss"][:hit], default=1) > 0.2
    assert (out["proximal"][0][0].weight == 0).any()
    assert not (out["subgradient"][0][0].weight == 0).any()
    # the trajectory's first row is the initial weight
    assert out["proximal"][1].info["trajectory"][0, 1] == _mlp()[0].weight[3, 5].item()
    with pytest.raises(ValueError, match="penalty, method"):
        fit_weight_penalized(_mlp(), X, y, Xv, yv, penalty="l2", strength=0.1,
                             method="proximal")
    with pytest.raises(ValueError, match="track"):
        fit_weight_penalized(_mlp(), X, y, Xv, yv, penalty="l1", strength=0.1,
                             method="proximal", track=np.array([[9, 0]]))

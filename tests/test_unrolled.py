"""Tests for sparsestudy.unrolled: the LISTA family equals ISTA as initialised, trains, saves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsestudy import solvers
from sparsestudy.data import sparse_code_stream
from sparsestudy.unrolled import (
    ALISTA, LISTA, LISTACP, LISTACPSS, UnfoldedISTA, analytic_weight, array_sampler,
    load_model, nmse_per_layer, relu_layer, save_model,
    soft_threshold_ss, support_selection_threshold, train_layerwise,
)

ALL = [UnfoldedISTA, LISTA, LISTACP, LISTACPSS, ALISTA]


def problem(n=40, m=12, a=24, seed=0, nonneg=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((a, m))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = (rng.random((n, a)) < 0.15) * rng.standard_normal((n, a))
    if nonneg:
        Z = np.abs(Z)
    return (Z @ D).astype(dtype), D.astype(dtype), Z.astype(dtype)


# ---------------------------------------------------------------------- unfolding is exact
@pytest.mark.parametrize("n_layers", [1, 2, 7, 25])
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("cls", [UnfoldedISTA, LISTA, LISTACP])
def test_initialised_network_is_ista(cls, n_layers, nonneg):
    X, D, _ = problem(seed=n_layers)
    alpha = 0.05
    ref = solvers.ista(X, D, alpha, nonneg=nonneg, max_iter=n_layers, tol=0).codes
    out = cls(D, alpha, n_layers, nonneg=nonneg)(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    # and it is sparse (the test would be vacuous on all-zero or dense codes)
    assert 0 < np.count_nonzero(ref) < ref.size


def test_tied_unfolded_ista_is_bitwise_ista_and_every_layer_is_an_iterate():
    X, D, _ = problem()
    layers = UnfoldedISTA(D, 0.1, 6)(torch.from_numpy(X), return_all=True)
    for k, z in enumerate(layers, start=1):
        ref = solvers.ista(torch.from_numpy(X), D, 0.1, max_iter=k, tol=0).codes
        assert torch.equal(z, ref)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_layers=st.integers(1, 12),
       alpha=st.floats(0.0, 0.5), nonneg=st.booleans())
def test_unfolding_property(seed, n_layers, alpha, nonneg):
    X, D, _ = problem(n=8, seed=seed)
    ref = solvers.ista(X, D, alpha, nonneg=nonneg, max_iter=n_layers, tol=0).codes
    np.testing.assert_allclose(LISTACP(D, alpha, n_layers, nonneg=nonneg)(X), ref,
                               rtol=0, atol=1e-12)


def test_coupled_layer_equals_network_form_step():
    X, D, _ = problem()
    net = LISTACP(D, 0.1, 3)
    with torch.no_grad():
        for p in net.W:
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1),
                                      dtype=p.dtype))
    Xt = torch.from_numpy(X)
    z = None
    for k in range(3):
        W, S = net.weights(k)
        z = solvers.ista_step(z, Xt @ W, S, net.theta[k])
    torch.testing.assert_close(net(Xt), z, rtol=0, atol=1e-12)


def test_float32_and_dtype_kept():
    X, D, _ = problem(dtype=np.float32)
    out = LISTA(D, 0.05, 4)(X)
    assert out.dtype == np.float32
    ref = solvers.ista(X.astype(np.float64), D.astype(np.float64), 0.05, max_iter=4, tol=0)
    np.testing.assert_allclose(out, ref.codes, atol=1e-5)
    net = LISTA(D.astype(np.float64), 0.05, 4, dtype=torch.float32)
    assert net.W[0].dtype == torch.float32


# ------------------------------------------------------------------------- support selection
def test_support_selection_matches_brute_force():
    rng = np.random.default_rng(3)
    v = rng.standard_normal((50, 20))
    theta, frac = 0.4, 0.15
    out = soft_threshold_ss(v, theta, frac)
    n_keep = int(frac * 20)
    for row, o in zip(v, out):
        order = np.argsort(-np.abs(row))[:n_keep]
        keep = np.zeros(20, bool)
        keep[order] = True
        keep &= np.abs(row) > theta
        want = np.where(keep, row, np.sign(row) * np.maximum(np.abs(row) - theta, 0))
        np.testing.assert_allclose(o, want, rtol=0, atol=0)
    np.testing.assert_array_equal(soft_threshold_ss(v, theta, 0.0),
                                  np.sign(v) * np.maximum(np.abs(v) - theta, 0))


def test_support_selection_grows_with_layer_and_changes_output():
    X, D, _ = problem(a=100, m=40)
    net = LISTACPSS(D, 0.05, 16)
    assert [net.n_selected(k) for k in (0, 4, 15)] == [1, 6, 13]
    plain = LISTACP(D, 0.05, 16)(X)
    assert not np.allclose(net(X), plain)


def test_support_selection_threshold_gradient():
    v = torch.tensor([[3.0, -2.0, 0.5, 0.1]])
    theta = torch.tensor(1.0, requires_grad=True)
    t = support_selection_threshold(v, theta, 1)
    torch.testing.assert_close(t.detach(), torch.tensor([[0.0, 1.0, 1.0, 1.0]]))
    t.sum().backward()
    assert theta.grad.item() == 3.0


def test_analytic_weight_is_the_constrained_minimiser():
    _, D, _ = problem(m=10, a=30)
    W = analytic_weight(D)
    np.testing.assert_allclose(np.sum(D.T * W, axis=0), 1.0, atol=1e-12)  # d_i . w_i = 1
    G = D.T @ D
    rng = np.random.default_rng(0)
    for i in range(3):  # any feasible perturbation increases ||D w||
        for _ in range(5):
            u = rng.standard_normal(10)
            u -= D[i] * (D[i] @ u) / (D[i] @ D[i])  # keep d_i . w = 1
            w2 = W[:, i] + 0.1 * u
            assert w2 @ G @ w2 >= W[:, i] @ G @ W[:, i] - 1e-12
    with pytest.raises(ValueError, match="full column rank"):
        analytic_weight(D[:5])


# ---------------------------------------------------------------------------- the C03 layer
def test_relu_layer_is_one_nonneg_ista_step():
    X, D, _ = problem(nonneg=True)
    layer = relu_layer(D, 0.2)
    assert isinstance(layer[0], torch.nn.Linear) and isinstance(layer[1], torch.nn.ReLU)
    with torch.no_grad():
        out = layer(torch.from_numpy(X)).numpy()
    ref = solvers.ista(X, D, 0.2, nonneg=True, max_iter=1, tol=0).codes
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    assert (out == 0).any() and (out > 0).any()


# --------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("cls", ALL)
def test_gradients_reach_every_trainable_weight(cls):
    X, D, Z = problem(a=30, m=15)
    net = cls(D, 0.05, 4)
    loss = (net(torch.from_numpy(X)) - torch.from_numpy(Z)).pow(2).sum()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # layer_parameters covers every parameter
    listed = {id(p) for k in range(4) for p in net.layer_parameters(k)}
    assert listed == {id(p) for p in net.parameters()}


# ---------------------------------------------------------------------------------- training
@pytest.mark.parametrize("cls", [LISTA, LISTACPSS, UnfoldedISTA])
def test_short_seeded_training_lowers_loss_and_is_deterministic(cls):
    _, D, _ = problem(a=30, m=15)
    sampler = sparse_code_stream(D, 32, density=0.1)
    vX, vZ = sampler(torch.Generator().manual_seed(123))

    def run():
        net = cls(D, 0.1, 3)
        before = nmse_per_layer(net, vX, vZ)
        hist = train_layerwise(net, sampler, val_X=vX, val_Z=vZ, n_steps_per_stage=60,
                               lrs=(1e-2, 2e-3), eval_every=5, patience=3, seed=7,
                               progress=False)
        return net, before, hist

    net, before, hist = run()
    after = nmse_per_layer(net, vX, vZ)
    assert after[-1] < before[-1] - 1.0            # at least 1 dB better at the last layer
    np.testing.assert_allclose(hist["val_nmse_db"], after)
    assert len(hist["stages"]) == 3 * 2 and hist["steps"] > 0
    assert all(r.stop_reason in ("cap", "plateau") and r.steps <= 60 for r in hist["stages"])
    net2, _, hist2 = run()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


def test_training_on_fixed_arrays_reports_why_each_stage_stopped():
    X, D, Z = problem(n=200, a=30, m=15)
    net = LISTA(D, 0.1, 2)
    hist = train_layerwise(net, array_sampler(X, Z, 16), val_X=X[:50], val_Z=Z[:50],
                           n_steps_per_stage=400, lrs=(1e-2, 1e-3, 1e-4), eval_every=5,
                           patience=4, progress=False)
    assert len(hist["stages"]) == 6 and len(hist["layer_val_db"]) == 2
    for r in hist["stages"]:
        assert r.stop_reason in ("plateau", "cap")
        assert r.steps <= 400 and r.history[0][0] == 0
        assert r.info["layer"] in (1, 2) and not r.info["warm_start"]
        # the plateau rule: best value over the last `patience` evaluations gained < 0.1 dB
        if r.stop_reason == "plateau":
            best = np.minimum.accumulate([v for _, v in r.history])
            assert best[-1 - 4] - best[-1] < 0.1
    assert hist["steps"] == sum(r.steps for r in hist["stages"])
    assert hist["adequate"] == all(r.stop_reason == "plateau" for r in hist["stages"])


def test_warm_start_schedule_and_final_plateau():
    X, D, Z = problem(n=200, a=30, m=15)
    net = LISTA(D, 0.1, 3)
    hist = train_layerwise(net, array_sampler(X, Z, 16), val_X=X[:50], val_Z=Z[:50],
                           n_steps_per_stage=2000, lrs=(1e-2, 1e-3), eval_every=5,
                           patience=3, warm_start_steps=7, progress=False)
    warm = [r for r in hist["stages"] if r.info["layer"] < 3]
    final = [r for r in hist["stages"] if r.info["layer"] == 3]
    assert all(r.stop_reason == "schedule" and r.steps == 7 and r.adequate for r in warm)
    assert all(r.stop_reason == "plateau" for r in final)
    assert hist["adequate"]


def test_train_layerwise_checks_the_plateau_window():
    X, D, Z = problem()
    net = LISTA(D, 0.1, 2)
    with pytest.raises(ValueError, match="patience \\* eval_every"):
        train_layerwise(net, array_sampler(X, Z, 4), val_X=X, val_Z=Z, n_steps_per_stage=15,
                        eval_every=5, patience=3, progress=False)


def test_stream_is_the_old_sampler_bit_for_bit():
    """data.sparse_code_stream replaced unrolled.bernoulli_gaussian_sampler; the draws are
    unchanged."""
    _, D, _ = problem(a=50, m=20)
    Dt = torch.from_numpy(D)
    for snr, nonneg in ((None, False), (20.0, False), (None, True)):
        X, Z = sparse_code_stream(D, 64, density=0.2, snr_db=snr, nonneg=nonneg)(
            torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(3)             # the former implementation
        mask = torch.rand((64, 50), generator=g, dtype=Dt.dtype) < 0.2
        amp = torch.randn((64, 50), generator=g, dtype=Dt.dtype)
        Z0 = (amp.abs() if nonneg else amp) * mask
        X0 = Z0 @ Dt
        if snr is not None:
            raw = torch.randn(X0.shape, generator=g, dtype=Dt.dtype)
            X0 = X0 + (X0.pow(2).sum() / (raw.pow(2).sum() * 10.0 ** (snr / 10.0))).sqrt() * raw
        assert torch.equal(Z, Z0)
        torch.testing.assert_close(X, X0, rtol=0, atol=1e-12)


def test_samplers():
    _, D, _ = problem(a=200, m=40)
    X, Z = sparse_code_stream(D, 500, density=0.1)(torch.Generator().manual_seed(0))
    assert abs(float((Z != 0).double().mean()) - 0.1) < 0.01
    torch.testing.assert_close(X, Z @ torch.from_numpy(D))
    X, Z = sparse_code_stream(D, 500, snr_db=20.0)(torch.Generator().manual_seed(0))
    clean = Z @ torch.from_numpy(D)
    snr = 10 * torch.log10(clean.pow(2).sum() / (X - clean).pow(2).sum())
    assert abs(float(snr) - 20.0) < 1e-9
    _, Zn = sparse_code_stream(D, 100, nonneg=True)(torch.Generator().manual_seed(0))
    assert (Zn >= 0).all()


# --------------------------------------------------------------------------------- save/load
@pytest.mark.parametrize("cls", ALL)
def test_save_load_round_trip(cls, tmp_path):
    X, D, _ = problem()
    net = cls(D, 0.1, 3)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.1)
    path = tmp_path / "net.pt"
    save_model(net, path)
    fresh = load_model(cls(D, 0.1, 3), path)
    np.testing.assert_array_equal(fresh(X), net(X))
    assert not np.array_equal(cls(D, 0.1, 3)(X), net(X))
    state = torch.load(path, weights_only=True)
    assert set(state) == set(net.state_dict())


# ------------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    X, D, Z = problem()
    with pytest.raises(ValueError, match="D must have 2"):
        LISTA(D[0], 0.1, 3)
    with pytest.raises(TypeError, match="D must be"):
        LISTA("abc", 0.1, 3)
    with pytest.raises(ValueError, match="alpha"):
        LISTA(D, -1.0, 3)
    with pytest.raises(ValueError, match="n_layers"):
        LISTA(D, 0.1, 0)
    with pytest.raises(TypeError, match="n_layers"):
        LISTA(D, 0.1, 2.5)
    with pytest.raises(TypeError, match="nonneg"):
        LISTA(D, 0.1, 2, nonneg="yes")
    with pytest.raises(ValueError, match="all-zero atom"):
        LISTA(np.vstack([D, np.zeros((1, D.shape[1]))]), 0.1, 2)
    with pytest.raises(ValueError, match="p_step"):
        LISTACPSS(D, 0.1, 2, p_step=2.0)
    net = LISTA(D, 0.1, 3)
    with pytest.raises(ValueError, match="X has 5 features"):
        net(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="X contains NaN"):
        net(np.full((2, D.shape[1]), np.nan))
    with pytest.raises(ValueError, match="n_layers"):
        net(X, n_layers=4)
    sampler = array_sampler(X, Z, 4)
    with pytest.raises(ValueError, match="val_Z"):
        train_layerwise(net, sampler, val_X=X, val_Z=Z[:, :3], progress=False)
    with pytest.raises(ValueError, match="warm_start_steps"):
        train_layerwise(net, sampler, val_X=X, val_Z=Z, warm_start_steps=0, progress=False)
    with pytest.raises(TypeError, match="model"):
        train_layerwise(torch.nn.Linear(2, 2), sampler, val_X=X, val_Z=Z)
    with pytest.raises(ValueError, match="lrs"):
        train_layerwise(net, sampler, val_X=X, val_Z=Z, lrs=(1e-3, -1.0), progress=False)
    with pytest.raises(ValueError, match="samples"):
        array_sampler(X, Z[:3], 4)
    with pytest.raises(ValueError, match="fraction"):
        soft_threshold_ss(X, 0.1, 1.5)


@pytest.mark.parametrize("accelerated", [False, True])
def test_solver_nmse_curve_matches_the_solvers(accelerated):
    from sparsestudy.metrics import nmse_db
    solver_nmse_curve = solvers.nmse_curve
    X, D, Z = problem()
    curve = solver_nmse_curve(X, D, 0.05, Z, 12, accelerated=accelerated)
    solve = solvers.fista if accelerated else solvers.ista
    for k in (1, 2, 5, 12):
        ref = solve(X, D, 0.05, max_iter=k, tol=0).codes
        assert curve[k - 1] == pytest.approx(nmse_db(ref, Z), abs=1e-9)
    with pytest.raises(ValueError, match="shapes"):
        solver_nmse_curve(X, D, 0.05, Z[:, :3], 4)

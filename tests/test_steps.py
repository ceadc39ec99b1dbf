"""The steps (linear map, then prox) against NumPy formulas; the solvers and the networks share
them."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsestudy import solvers, steps
from sparsestudy.unrolled import ALISTA, LISTACP, DeepL0Encoder


def problem(n=9, f=7, a=13, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((a, f))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.standard_normal((n, f)), D, rng.standard_normal((n, a))


def test_solvers_reexports_the_steps():
    for name in ("ista_step", "iht_step", "network_weights", "lipschitz_constant"):
        assert getattr(solvers, name) is getattr(steps, name)


def test_weights_and_lipschitz_against_numpy():
    _, D, _ = problem()
    L = np.linalg.eigvalsh(D @ D.T).max()
    assert steps.lipschitz_constant(D) == pytest.approx(L, rel=1e-12)
    W, S, L2 = steps.network_weights(torch.from_numpy(D))
    np.testing.assert_allclose(W.numpy(), D.T / L, rtol=0, atol=1e-12)
    np.testing.assert_allclose(S.numpy(), np.eye(13) - D @ D.T / L, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="all zeros"):
        steps.network_weights(torch.zeros(3, 2, dtype=torch.float64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.floats(0, 2), nonneg=st.booleans())
def test_both_linear_forms_are_the_gradient_step(seed, t, nonneg):
    X, D, z = problem(seed=seed)
    Xt, Dt, zt = map(torch.from_numpy, (X, D, z))
    W, S, L = steps.network_weights(Dt)
    grad_step = z - (z @ D - X) @ D.T / L                 # NumPy: z - grad / L
    plain = steps.linear_step(zt, Xt @ W, S).numpy()
    coupled = steps.coupled_linear_step(zt, Xt, Dt, W).numpy()
    np.testing.assert_allclose(plain, grad_step, rtol=0, atol=1e-12)
    np.testing.assert_allclose(coupled, grad_step, rtol=0, atol=1e-12)
    # z=None is the zero code
    np.testing.assert_allclose(steps.coupled_linear_step(None, Xt, Dt, W).numpy(), X @ D.T / L,
                               rtol=0, atol=1e-12)
    assert torch.equal(steps.linear_step(None, Xt @ W, S), Xt @ W)
    # the proxes
    v = torch.from_numpy(grad_step)
    soft = np.maximum(grad_step - t, 0) if nonneg else \
        np.sign(grad_step) * np.maximum(np.abs(grad_step) - t, 0)
    np.testing.assert_allclose(steps.prox_l1(v, t, nonneg).numpy(), soft, rtol=0, atol=0)
    np.testing.assert_allclose(steps.ista_step(zt, Xt @ W, S, t, nonneg).numpy(), soft,
                               rtol=0, atol=1e-12)
    hard = np.where(np.abs(grad_step) > t, grad_step, 0.0)
    np.testing.assert_array_equal(steps.prox_l0(v, thresh=t).numpy(), hard)
    k = 3
    top = steps.prox_l0(v, n_nonzero=k).numpy()
    keep = np.argsort(-np.abs(grad_step), axis=1)[:, :k]
    want = np.zeros_like(grad_step)
    np.put_along_axis(want, keep, np.take_along_axis(grad_step, keep, 1), 1)
    np.testing.assert_array_equal(top, want)
    assert torch.equal(steps.iht_step(zt, Xt @ W, S, thresh=t),
                       steps.prox_l0(steps.linear_step(zt, Xt @ W, S), thresh=t))


def test_listacp_and_alista_layers_are_the_coupled_step():
    X, D, _ = problem(n=20, f=8, a=16)
    Xt = torch.from_numpy(X)
    for net in (LISTACP(D, 0.1, 3), ALISTA(D, 0.1, 3, p_step=0.0, p_max=0.0)):
        z = None
        with torch.no_grad():
            for k in range(3):
                W, _ = net.weights(k)
                z = steps.prox_l1(steps.coupled_linear_step(z, Xt, net.D, W), net.theta[k])
            assert torch.equal(net(Xt), z)            # the same operations


def test_support_selection_threshold_brute_force():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((30, 10))
    t = steps.support_selection_threshold(torch.from_numpy(v), 0.5, 2).numpy()
    for row, tr in zip(v, t):
        top = np.argsort(-np.abs(row))[:2]
        sel = np.zeros(10, bool)
        sel[top] = np.abs(row[top]) > 0.5
        np.testing.assert_array_equal(tr, np.where(sel, 0.0, 0.5))


def test_deep_l0_encoder_layer_is_linear_step_then_prox():
    X, D, _ = problem(n=15, f=8, a=16)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    enc = DeepL0Encoder(D, 4, thresh=0.05, learn=False)
    W, S, _ = steps.network_weights(Dt)
    z, b = None, Xt @ W
    for _ in range(4):
        z = steps.prox_l0(steps.linear_step(z, b, S), thresh=enc.thresh0)
    assert torch.equal(enc(Xt), z)
    np.testing.assert_allclose(enc(Xt).numpy(),
                               solvers.iht(X, D, thresh=0.05, max_iter=4, tol=0).codes,
                               rtol=0, atol=1e-12)

"""The one proximal-gradient loop: callbacks see every iterate, history and stopping rules are
callbacks, nmse_curve against a NumPy formula."""

import numpy as np
import pytest
import torch

from sparsestudy import solvers
from sparsestudy.solvers import fista, iht, ista, nmse_curve


def problem(n=12, f=10, a=20, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((a, f))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = (rng.random((n, a)) < 0.2) * rng.standard_normal((n, a))
    return Z @ D + 0.01 * rng.standard_normal((n, f)), D, Z


@pytest.mark.parametrize("solver", [ista, fista])
def test_callback_sees_every_iterate(solver):
    X, D, _ = problem()
    seen = []
    res = solver(X, D, 0.05, max_iter=6, tol=0, callback=lambda k, z: seen.append((k, z.copy())))
    assert [k for k, _ in seen] == list(range(7))
    assert all(isinstance(z, np.ndarray) for _, z in seen)
    np.testing.assert_array_equal(seen[0][1], 0.0)
    for k, z in seen[1:]:   # the same computation as a run stopped at k
        np.testing.assert_array_equal(z, solver(X, D, 0.05, max_iter=k, tol=0).codes)
    np.testing.assert_array_equal(seen[-1][1], res.codes)


def test_callback_gets_tensors_for_tensor_input_and_can_stop():
    X, D, _ = problem()
    kinds = []

    def cb(k, z):
        kinds.append(type(z))
        return k < 3                      # False at k = 3: stop there

    res = fista(torch.from_numpy(X), D, 0.05, max_iter=100, tol=0, callback=cb)
    assert res.n_iter == 3 and not res.converged and kinds == [torch.Tensor] * 4
    torch.testing.assert_close(res.gap, solvers._relative_gap(
        torch.from_numpy(X), torch.from_numpy(D), res.codes, 0.05, False), rtol=0, atol=0)
    with pytest.raises(TypeError, match="callback"):
        ista(X, D, 0.05, callback=3)


def test_history_equals_a_callback_recording_the_objective():
    X, D, _ = problem()
    rows = []
    res = fista(X, D, 0.05, max_iter=50, tol=1e-8, history=True,
                callback=lambda k, z: rows.append(solvers.lasso_objective(X, D, z, 0.05)))
    assert res.history["objective"].shape == (res.n_iter + 1, 12)
    np.testing.assert_allclose(res.history["objective"], np.array(rows), rtol=1e-12, atol=1e-12)


def test_iht_callback_and_stopping_rule():
    X, D, _ = problem()
    seen = []
    res = iht(X, D, n_nonzero=3, max_iter=500, tol=1e-10, history=True,
              callback=lambda k, z: seen.append(z.copy()))
    assert len(seen) == res.n_iter + 1 == res.history["n_nonzero"].shape[0]
    assert res.converged
    # the stopping rule, recomputed with NumPy on the recorded iterates
    change = np.linalg.norm(seen[-1] - seen[-2], axis=1) / np.linalg.norm(seen[-2], axis=1)
    assert np.all(change <= 1e-10)
    np.testing.assert_array_equal((seen[-1] != 0).sum(1), res.history["n_nonzero"][-1])


@pytest.mark.parametrize("accelerated", [False, True])
def test_nmse_curve_against_a_numpy_fista(accelerated):
    X, D, Z = problem(seed=3)
    alpha, n_iter = 0.02, 15
    L = np.linalg.eigvalsh(D @ D.T).max()

    def soft(v, t):
        return np.sign(v) * np.maximum(np.abs(v) - t, 0)

    z = y = np.zeros_like(Z)
    t, ref = 1.0, []
    for _ in range(n_iter):           # Beck & Teboulle's FISTA, written out in NumPy
        z_new = soft(y - (y @ D - X) @ D.T / L, alpha / L)
        if accelerated:
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            y = z_new + (t - 1) / t_new * (z_new - z)
            t = t_new
        else:
            y = z_new
        z = z_new
        ref.append(10 * np.log10(np.sum((z - Z) ** 2) / np.sum(Z ** 2)))
    curve = nmse_curve(X, D, alpha, Z, n_iter, accelerated=accelerated)
    assert curve.shape == (n_iter,)
    np.testing.assert_allclose(curve, ref, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="Z must be"):
        nmse_curve(X, D, alpha, Z[:, :3], 4)
    with pytest.raises(ValueError, match="n_iter"):
        nmse_curve(X, D, alpha, Z, 0)


def test_omp1_against_omp_and_brute_force():
    X, D, _ = problem(seed=5)
    D = D * np.linspace(0.5, 2.0, 20)[:, None]           # not unit norm
    got = solvers.omp1(X, D)
    np.testing.assert_allclose(got, solvers.omp(X, D, 1, backend="torch").codes, rtol=0,
                               atol=1e-12)
    for x, g in zip(X, got):                            # best single-atom least squares fit
        j = np.argmax(np.abs(D @ x))
        want = np.zeros(20)
        want[j] = D[j] @ x / (D[j] @ D[j])
        np.testing.assert_allclose(g, want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="features"):
        solvers.omp1(X[:, :3], D)

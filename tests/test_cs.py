"""sparsestudy.cs against independent references: the lasso-free LP optimum, the Donoho–Tanner
curve in its max form, scikit-learn's unpenalised logistic regression, a numerical Hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm

from sparsestudy import cs


def _rho_max_form(delta):
    """DMM 2009's form of the signed threshold: max over z of a ratio (independent of the
    parametric closed form in cs.weak_threshold)."""
    def neg(z):
        M = (1 + z * z) * norm.cdf(-z) - z * norm.pdf(z)
        return -(1 - (2 / delta) * M) / (1 + z * z - 2 * M)
    return -optimize.minimize_scalar(neg, bounds=(0, 10), method="bounded",
                                     options={"xatol": 1e-12}).fun


@pytest.mark.parametrize("delta", [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97])
def test_weak_threshold_matches_the_max_form(delta):
    assert cs.weak_threshold(delta) == pytest.approx(_rho_max_form(delta), abs=1e-7)


def test_weak_threshold_shape():
    d = np.linspace(0.02, 0.98, 49)
    r = cs.weak_threshold(d)
    assert r.shape == d.shape and (np.diff(r) > 0).all() and (r > 0).all() and (r < 1).all()
    assert cs.weak_threshold(0.5) == pytest.approx(0.3857, abs=5e-4)   # Donoho–Tanner's value
    # small-delta asymptotics: rho ~ 1 / (2 log(1/delta))
    assert cs.weak_threshold(1e-8) * 2 * math.log(1e8) == pytest.approx(1, abs=0.15)
    with pytest.raises(ValueError, match="delta"):
        cs.weak_threshold(1.0)


def test_basis_pursuit_is_the_l1_minimum():
    rng = np.random.default_rng(0)
    A = cs.measurement_matrix("gaussian", 20, 50, rng)
    y = rng.standard_normal(20)                          # a generic y: a dense-ish optimum
    res = cs.basis_pursuit(A, y)
    assert res.optimal and np.allclose(A @ res.x, y, atol=1e-7)
    # the dual LP max y.l s.t. |A^T l| <= 1 has the same value (strong duality)
    dual = optimize.linprog(-y, A_ub=np.vstack([A.T, -A.T]), b_ub=np.ones(100),
                            bounds=(None, None), method="highs")
    assert np.abs(res.x).sum() == pytest.approx(-dual.fun, rel=1e-7)


def test_basis_pursuit_recovers_below_and_fails_far_above_the_threshold():
    rng = np.random.default_rng(1)
    n, m = 100, 50
    ok = bad = 0
    for _ in range(5):
        A = cs.measurement_matrix("gaussian", m, n, rng)
        x = cs.sparse_signal(n, 5, rng)["gaussian"]
        ok += cs.recovered(cs.basis_pursuit(A, A @ x).x, x)
        x = cs.sparse_signal(n, 40, rng)["gaussian"]
        bad += cs.recovered(cs.basis_pursuit(A, A @ x).x, x)
    assert ok == 5 and bad == 0


def test_l1_success_depends_on_support_and_signs_only():
    rng = np.random.default_rng(2)
    n, m, k = 80, 40, 14                                 # near the transition: both outcomes
    outcomes = []
    for _ in range(12):
        A = cs.measurement_matrix("bernoulli", m, n, rng)
        x = cs.sparse_signal(n, k, rng)
        outcomes.append([cs.recovered(cs.basis_pursuit(A, A @ x[a]).x, x[a])
                         for a in cs.AMPLITUDES])
    assert all(g == s for g, s in outcomes)


def test_matrices_and_signals():
    rng = np.random.default_rng(3)
    B = cs.measurement_matrix("bernoulli", 30, 40, rng)
    assert np.allclose(np.abs(B), 1 / math.sqrt(30))
    G = cs.measurement_matrix("gaussian", 400, 300, rng)
    assert np.var(G) * 400 == pytest.approx(1, abs=0.02)
    x = cs.sparse_signal(50, 7, rng)
    assert (x["gaussian"] != 0).sum() == 7 and np.array_equal(np.sign(x["gaussian"]), x["sign"])
    with pytest.raises(ValueError, match="kind"):
        cs.measurement_matrix("cauchy", 3, 4, rng)
    with pytest.raises(ValueError, match="y"):
        cs.basis_pursuit(B, np.ones(3))


def test_omp_recover_exact_on_an_easy_problem_and_scaled_back():
    rng = np.random.default_rng(4)
    A = cs.measurement_matrix("gaussian", 60, 100, rng) * rng.uniform(0.5, 2, 100)
    x = cs.sparse_signal(100, 4, rng)["gaussian"]
    assert cs.recovered(cs.omp_recover(A, A @ x, 4), x, 1e-8)


def test_fit_transition_matches_sklearn_and_the_numerical_hessian():
    from sklearn.linear_model import LogisticRegression

    rho = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    trials = np.array([20, 20, 20, 20, 20, 20])
    succ = np.array([20, 18, 13, 6, 2, 0])
    fit = cs.fit_transition(rho, succ, trials)
    assert fit.converged and not fit.separated
    X = np.repeat(rho, trials)[:, None]
    y = np.concatenate([np.r_[np.ones(s), np.zeros(t - s)] for s, t in zip(succ, trials)])
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, y)
    assert fit.coef == pytest.approx((lr.intercept_[0], lr.coef_[0, 0]), rel=1e-5)
    assert fit.rho50 == pytest.approx(-lr.intercept_[0] / lr.coef_[0, 0], rel=1e-5)

    def nll(b):
        z = b[0] + b[1] * rho
        return -(succ * z - trials * np.logaddexp(0, z)).sum()

    b, h = np.array(fit.coef), 1e-4
    H = np.array([[(nll(b + h * (ei + ej)) - nll(b + h * (ei - ej)) - nll(b - h * (ei - ej))
                    + nll(b - h * (ei + ej))) / (4 * h * h) for ej in np.eye(2)] for ei in np.eye(2)])
    assert np.array(fit.cov) == pytest.approx(np.linalg.inv(H), rel=1e-3)
    assert fit.low < fit.rho50 < fit.high and fit.half_width == pytest.approx(
        (fit.high - fit.low) / 2)
    # the interpolated crossing lies between the grid points around 50%
    assert 0.3 < cs.interpolated_crossing(rho, succ / trials) < 0.4


def test_fit_transition_separated_and_degenerate():
    fit = cs.fit_transition([0.1, 0.2, 0.3, 0.4], [5, 5, 0, 0], [5, 5, 5, 5])
    assert fit.separated and fit.rho50 == pytest.approx(0.25) and fit.half_width == \
        pytest.approx(0.05)
    with pytest.raises(ValueError, match="success"):
        cs.fit_transition([0.1, 0.2], [0, 0], [5, 5])
    with pytest.raises(ValueError, match="trials"):
        cs.fit_transition([0.1, 0.2], [6, 0], [5, 5])
    assert math.isnan(cs.interpolated_crossing([0.1, 0.2], [1.0, 0.9]))


def test_recovery_trials_is_a_function_of_the_point_and_seed():
    p = {"n": 60, "delta": 0.5, "rho": 0.2, "trials": 3, "l1": True}
    a, b = cs.recovery_trials(p, 7), cs.recovery_trials(p, 7)
    assert a == b and a["m"] == 30 and a["k"] == 6 and a["lp_not_optimal"] == 0
    assert a["l1_gaussian"] == 3                         # far below the threshold
    none = cs.recovery_trials(dict(p, l1=False), 7)
    assert none["l1_gaussian"] == 0 and none["omp_gaussian"] == a["omp_gaussian"]
    with pytest.raises(ValueError, match="delta"):
        cs.recovery_trials(dict(p, delta=1.5), 0)

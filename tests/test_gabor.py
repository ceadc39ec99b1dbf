"""The Gabor fitter recovers planted Gabor parameters; R^2 against scikit-learn; the analytic
Jacobian against finite differences; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from sparsestudy.gabor import PARAMS, _grid, _jacobian, _model, fit_gabor, fit_gabors, gabor, r_squared

PLANTED = [
    dict(amplitude=1.0, x0=3.6, y0=3.2, sigma_x=1.3, sigma_y=1.8, theta=0.6, frequency=0.25,
         phase=0.4),
    dict(amplitude=0.4, x0=4.2, y0=3.0, sigma_x=1.8, sigma_y=2.4, theta=-1.1, frequency=0.15,
         phase=2.5),
    dict(amplitude=2.0, x0=3.0, y0=4.4, sigma_x=1.1, sigma_y=1.5, theta=2.0, frequency=0.3,
         phase=-1.0),
]


def _canonical_angle(theta):
    """Orientation of the stripes modulo pi (theta and theta + pi give the same Gabor up to the
    phase's sign)."""
    return np.mod(theta, np.pi)


@pytest.mark.parametrize("p", PLANTED)
@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_recovers_planted_parameters(p, noise):
    g = gabor((8, 8), **p)
    rng = np.random.default_rng(0)
    fit = fit_gabor(g + noise * p["amplitude"] * rng.standard_normal(g.shape))
    q = fit.as_dict()
    assert fit.r2 > (0.999999 if noise == 0 else 0.98)
    assert q["frequency"] == pytest.approx(p["frequency"], rel=0.03)
    assert q["x0"] == pytest.approx(p["x0"], abs=0.1) and q["y0"] == pytest.approx(p["y0"], abs=0.1)
    assert q["sigma_x"] == pytest.approx(p["sigma_x"], rel=0.06)
    assert q["sigma_y"] == pytest.approx(p["sigma_y"], rel=0.06)
    assert q["amplitude"] == pytest.approx(p["amplitude"], rel=0.05)
    d = abs(_canonical_angle(q["theta"]) - _canonical_angle(p["theta"]))
    assert min(d, np.pi - d) < 0.03
    np.testing.assert_allclose(fit.fitted, g, atol=(1e-5 if noise == 0 else 0.05) * p["amplitude"])


def test_noise_is_not_a_gabor():
    rng = np.random.default_rng(1)
    r2 = [f.r2 for f in fit_gabors(rng.standard_normal((6, 64)), (8, 8), n_peaks=1)]
    assert np.median(r2) < 0.5


def test_r_squared_matches_scikit_learn():
    rng = np.random.default_rng(2)
    t, g = rng.standard_normal(64), rng.standard_normal(64)
    assert r_squared(t, g) == pytest.approx(r2_score(t, g))
    assert np.isnan(r_squared(np.ones(5), np.zeros(5)))


def test_jacobian_matches_finite_differences():
    xy = _grid((8, 8))
    p = np.array([1.2, 3.3, 4.1, 1.5, 2.1, 0.7, 0.2, 1.1])
    h = 1e-6
    num = np.stack([(_model(xy, *(p + h * e)) - _model(xy, *(p - h * e))) / (2 * h)
                    for e in np.eye(len(PARAMS))], axis=1)
    np.testing.assert_allclose(_jacobian(xy, *p), num, atol=1e-7)


def test_flattened_atoms_and_shapes():
    g = gabor((6, 8), **PLANTED[0])
    a, b = fit_gabor(g), fit_gabor(g.ravel(), (6, 8))
    np.testing.assert_allclose(a.params, b.params)
    assert b.fitted.shape == (6, 8)


def test_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        gabor((8, 8), **dict(PLANTED[0], sigma_x=0.0))
    with pytest.raises(ValueError, match="needs"):
        gabor((8, 8), amplitude=1.0)
    with pytest.raises(TypeError, match="shape"):
        gabor(8, **PLANTED[0])
    with pytest.raises(ValueError, match="constant"):
        fit_gabor(np.ones((8, 8)))
    with pytest.raises(ValueError, match="shape"):
        fit_gabor(np.ones(64))
    with pytest.raises(ValueError, match="entries"):
        fit_gabor(np.arange(64.0), (7, 7))
    with pytest.raises(ValueError, match="NaN"):
        fit_gabor(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="n_peaks"):
        fit_gabor(gabor((8, 8), **PLANTED[0]), n_peaks=0)

"""Representation penalties against closed forms; the sparse autoencoder's trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import rel_entr

from sparsestudy.penalties import (Autoencoder, KLSparsityPenalty, L1Penalty, StudentTPenalty,
                                   activation_sparsity, fit_autoencoder, kl_sparsity, l1,
                                   make_penalty, reconstruction_error, student_t)

torch.set_num_threads(1)


def _h(seed=0, n=7, k=5, low=0.05, high=0.95):
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, k, dtype=torch.float64, generator=g)


def test_kl_penalty_gradient_by_gradcheck():
    h = _h().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: kl_sparsity(t, 0.05), (h,))
    assert torch.autograd.gradgradcheck(lambda t: kl_sparsity(t, 0.2), (h,))


def test_kl_penalty_is_the_bernoulli_kl_of_the_mean_activations():
    h = _h(1)
    rho = 0.05
    rho_hat = h.mean(0).numpy()
    want = (rel_entr(rho, rho_hat) + rel_entr(1 - rho, 1 - rho_hat)).sum()
    assert float(kl_sparsity(h, rho)) == pytest.approx(want, rel=1e-12)
    at_target = torch.full((4, 3), 0.2, dtype=torch.float64)
    assert float(kl_sparsity(at_target, 0.2)) == pytest.approx(0.0, abs=1e-15)


def test_l1_and_student_t_closed_forms_and_gradients():
    h = (_h(2) - 0.5).requires_grad_(True)
    a = h.detach().numpy()
    assert float(l1(h.detach())) == pytest.approx(np.abs(a).sum() / a.shape[0], rel=1e-12)
    assert float(student_t(h.detach())) == pytest.approx(np.log(1 + a ** 2).sum() / a.shape[0], rel=1e-12)
    assert torch.autograd.gradcheck(student_t, (h,))
    student_t(h).backward()
    torch.testing.assert_close(h.grad, torch.from_numpy(2 * a / (1 + a ** 2) / a.shape[0]))


def test_penalty_modules_weigh_and_add():
    h = _h(3)
    total = L1Penalty(0.3) + StudentTPenalty(0.2) + KLSparsityPenalty(0.1, 3.0)
    want = 0.3 * l1(h) + 0.2 * student_t(h) + 3.0 * kl_sparsity(h, 0.1)
    torch.testing.assert_close(total(h), want)
    assert isinstance(make_penalty("kl", 3.0, rho=0.01), KLSparsityPenalty)
    assert make_penalty("kl", 3.0, rho=0.01).rho == 0.01


def test_activation_sparsity_by_counting():
    h = np.array([[0.0, 0.5, 10.0], [0.09, 0.11, -0.05]])
    assert activation_sparsity(h) == pytest.approx(3 / 6)       # below 0.1: 0, 0.09, -0.05
    assert activation_sparsity(torch.zeros(2, 3)) == 1.0
    assert activation_sparsity(h, rel=0.0) == 0.0


def test_bad_input():
    with pytest.raises(TypeError, match="h must be a torch tensor"):
        l1(np.ones((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        student_t(torch.ones(3))
    with pytest.raises(TypeError, match="floating"):
        l1(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        kl_sparsity(torch.full((2, 2), 1.5), 0.05)
    with pytest.raises(ValueError, match="rho"):
        kl_sparsity(_h(), 1.0)
    with pytest.raises(ValueError, match="weight"):
        L1Penalty(-1.0)
    with pytest.raises(ValueError, match="name"):
        make_penalty("l2", 1.0)
    with pytest.raises(ValueError, match="activation"):
        Autoencoder(4, 3, activation="tanh")
    with pytest.raises(ValueError, match="n_hidden"):
        Autoencoder(4, 0)
    with pytest.raises(ValueError, match="rel"):
        activation_sparsity(np.ones(3), rel=2.0)
    X = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ValueError, match="features"):
        fit_autoencoder(Autoencoder(5, 3), X, X)
    with pytest.raises(TypeError, match="penalty"):
        fit_autoencoder(Autoencoder(4, 3), X, X, penalty=0.1)


def _data(seed=0, n=200):
    basis = np.random.default_rng(99).standard_normal((3, 10))
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 3)) @ basis).astype(np.float32)


def test_autoencoder_training_is_deterministic_and_learns():
    X, Xv = _data(0), _data(1, 100)
    runs = []
    for _ in range(2):
        ae = Autoencoder(10, 6, seed=3)
        before = reconstruction_error(ae, torch.from_numpy(Xv))
        rep = fit_autoencoder(ae, X, Xv, lr=1e-2, batch_size=20, max_epochs=60, patience=5, seed=1)
        runs.append([p.detach().clone() for p in ae.parameters()])
    assert rep.stop_reason in ("plateau", "cap") and rep.info["epochs"] >= 1
    assert reconstruction_error(ae, torch.from_numpy(Xv)) < 0.5 * before
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert not torch.equal(Autoencoder(10, 6, seed=3).encoder.weight,
                           Autoencoder(10, 6, seed=4).encoder.weight)


def test_penalties_make_codes_and_weights_sparse():
    X, Xv = _data(0, 100), _data(1, 100)
    Xvt = torch.from_numpy(Xv)

    def fit(**kw):
        ae = Autoencoder(10, 8, seed=0, activation=kw.pop("activation", "relu"))
        fit_autoencoder(ae, X, Xv, lr=1e-2, batch_size=20, max_epochs=60, patience=5, seed=0,
                        **kw)
        return ae

    plain, coded = fit(), fit(penalty=L1Penalty(1.0))
    kl = fit(penalty=KLSparsityPenalty(0.05, 3.0), activation="sigmoid")
    wl1 = fit(weight_l1=0.05)
    with torch.no_grad():
        assert activation_sparsity(coded.encode(Xvt)) > activation_sparsity(plain.encode(Xvt))
        start = Autoencoder(10, 8, seed=0, activation="sigmoid").encode(Xvt)
        assert float(kl.encode(Xvt).mean()) < 0.5 * float(start.mean())    # towards rho
        assert (wl1.encoder.weight == 0).float().mean() > 0.2      # the prox: exact zeros
        assert (plain.encoder.weight == 0).sum() == 0

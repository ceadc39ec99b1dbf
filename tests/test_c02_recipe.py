"""The C02 library pieces: the training recipe, the network cache, the nn.Linear network checked
against ISTA written in NumPy, and both NMSE conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsestudy import solvers
from sparsestudy.data import sparse_code_stream
from sparsestudy.metrics import nmse_db
from sparsestudy.unrolled import (ALISTA, LISTA, LISTACP, LISTACPSS, LinearISTA, NetworkCache,
                                  code_fingerprint, ista_numpy, nmse_db_per_sample,
                                  nmse_per_layer, resolve_device, stage_dict, train_unrolled)

torch.set_num_threads(1)


def problem(n=60, m=10, a=20, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((a, m))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = (rng.random((n, a)) < 0.15) * rng.standard_normal((n, a))
    return (Z @ D).astype(dtype), D.astype(dtype), Z.astype(dtype)


# ------------------------------------------------------------------ C02a: nn.Linear vs NumPy
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("K", [1, 3, 20])
def test_linear_network_matches_numpy_ista(K, nonneg):
    X, D, _ = problem(seed=K)
    net = LinearISTA(D, 0.05, K, nonneg=nonneg)
    assert isinstance(net.input, torch.nn.Linear) and isinstance(net.recurrent, torch.nn.Linear)
    out = net(X)
    ref = ista_numpy(X, D, 0.05, K, nonneg=nonneg)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    assert 0 < np.count_nonzero(ref) < ref.size        # not vacuous


def test_numpy_ista_agrees_with_the_library_solver():
    X, D, _ = problem()
    ref = solvers.ista(X, D, 0.05, max_iter=30, tol=0).codes
    np.testing.assert_allclose(ista_numpy(X, D, 0.05, 30), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("which", ["input", "recurrent"])
def test_the_check_fails_when_a_weight_is_perturbed(which):
    X, D, _ = problem()
    net = LinearISTA(D, 0.05, 8)
    ref = ista_numpy(X, D, 0.05, 8)
    with torch.no_grad():
        getattr(net, which).weight[1, 2] += 1e-6
    assert np.abs(net(X) - ref).max() > 1e-12


def test_linear_network_rejects_bad_input():
    _, D, _ = problem()
    with pytest.raises(ValueError, match="n_layers"):
        LinearISTA(D, 0.1, 0)
    with pytest.raises(ValueError, match="features"):
        LinearISTA(D, 0.1, 2)(np.zeros((3, D.shape[1] + 1)))
    with pytest.raises(ValueError, match="agree"):
        ista_numpy(np.zeros((3, 4)), D, 0.1, 2)


# ------------------------------------------------------------------------- NMSE conventions
def test_per_sample_nmse_is_the_mean_of_each_samples_db():
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((5, 7))
    E = Z + rng.standard_normal((5, 7)) * np.array([1e-3, 1e-2, 1e-1, 1, 10])[:, None]
    per = [10 * np.log10(np.sum((E[i] - Z[i]) ** 2) / np.sum(Z[i] ** 2)) for i in range(5)]
    assert nmse_db_per_sample(E, Z) == pytest.approx(np.mean(per), abs=1e-9)
    pooled = 10 * np.log10(np.sum((E - Z) ** 2) / np.sum(Z ** 2))
    assert nmse_db(E, Z) == pytest.approx(pooled, abs=1e-9)
    assert nmse_db_per_sample(E, Z) < nmse_db(E, Z) - 10      # the two differ: one bad sample


def test_nmse_per_layer_conventions():
    X, D, Z = problem()
    net = LISTACP(D, 0.05, 4)
    pooled = nmse_per_layer(net, X, Z)
    per = nmse_per_layer(net, X, Z, convention="per_sample")
    assert pooled.shape == per.shape == (4,)
    assert per[-1] == pytest.approx(nmse_db_per_sample(net(X), Z))
    with pytest.raises(ValueError, match="convention"):
        nmse_per_layer(net, X, Z, convention="mean")


# ------------------------------------------------------------------------------- the recipe
def _train(cls, seed=0, **kw):
    X, D, Z = problem(n=80, dtype=np.float32)
    torch.manual_seed(0)
    net = cls(D, 0.02, 4)
    args = dict(warm_start_steps=6, max_steps=200, eval_every=5, patience=4, lr=3e-3,
                warm_lr=3e-3, seed=seed)
    args.update(kw)
    h = train_unrolled(net, sparse_code_stream(D, 32, density=0.15), val_X=X, val_Z=Z, **args)
    return net, h, (X, Z)


@pytest.mark.parametrize("cls", [LISTA, LISTACP, LISTACPSS, ALISTA])
def test_recipe_improves_on_the_initialisation_and_reports_why_it_stopped(cls):
    X, D, Z = problem(n=80, dtype=np.float32)
    before = nmse_db(cls(D, 0.02, 4)(X), Z)
    net, h, _ = _train(cls)
    assert h["val_nmse_db"][-1] < before - 1
    warm = [s for s in h["stages"] if s.info["warm_start"]]
    assert len(warm) == 2 * 4 and all(s.stop_reason == "schedule" for s in warm)
    fine = h["stages"][-1]
    assert fine.info["warm_start"] is False and fine.stop_reason in ("plateau", "cap")
    assert h["stop_reason"] == fine.stop_reason
    assert h["adequate"] == (fine.stop_reason == "plateau")
    assert h["steps"] == 4 * 6 + fine.steps
    # the curve starts where the warm start ended and its best is the final value (restored)
    assert h["curve"][0][0] == 4 * 6
    assert min(v for _, v in h["curve"]) == pytest.approx(h["val_nmse_db"][-1], abs=1e-4)


def test_recipe_plateau_after_decays_and_cap():
    _, h, _ = _train(ALISTA, max_steps=400, eval_every=2, patience=3, max_decays=1)
    fine = h["stages"][-1]
    assert fine.stop_reason == "plateau" and fine.n_decays == 1
    _, h, _ = _train(LISTACP, max_steps=8, eval_every=1, patience=2, lr=1e-4)
    assert h["stages"][-1].stop_reason in ("cap", "plateau") and h["stages"][-1].steps <= 8


def test_recipe_is_deterministic():
    a, ha, _ = _train(LISTACPSS, seed=3, max_steps=40, patience=2)
    b, hb, _ = _train(LISTACPSS, seed=3, max_steps=40, patience=2)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert ha["curve"] == hb["curve"]


def test_recipe_rejects_bad_arguments():
    X, D, Z = problem(dtype=np.float32)
    net = LISTACP(D, 0.02, 2)
    s = sparse_code_stream(D, 8, density=0.1)
    with pytest.raises(ValueError, match="patience"):
        train_unrolled(net, s, val_X=X, val_Z=Z, max_steps=10, eval_every=5, patience=2)
    with pytest.raises(TypeError, match="sampler"):
        train_unrolled(net, None, val_X=X, val_Z=Z)
    with pytest.raises(TypeError, match="model"):
        train_unrolled(torch.nn.Linear(2, 2), s, val_X=X, val_Z=Z)
    with pytest.raises(ValueError, match="lr_decay"):
        train_unrolled(net, s, val_X=X, val_Z=Z, lr_decay=1.5)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu-please")


def test_stage_dict_is_plain():
    _, h, _ = _train(LISTACP, max_steps=20, eval_every=1)
    d = stage_dict(h["stages"][-1])
    assert d["stop_reason"] in ("plateau", "cap") and isinstance(d["history"], list)
    import json
    json.dumps(d)


# --------------------------------------------------------------------------- ALISTA's gamma
def test_alista_steps_start_at_one_and_get_gradients_at_every_layer():
    X, D, Z = problem(dtype=np.float32)
    net = ALISTA(D, 0.02, 6)
    assert all(float(g) == 1.0 for g in net.gamma)
    loss = (net(torch.from_numpy(X)) - torch.from_numpy(Z)).pow(2).sum(1).mean()
    loss.backward()
    assert all(g.grad is not None and float(g.grad.abs()) > 0 for g in net.gamma)
    assert float(ALISTA(D, 0.02, 2, gamma0=0.5).gamma[1]) == 0.5
    with pytest.raises(ValueError, match="gamma0"):
        ALISTA(D, 0.02, 2, gamma0=0.0)


# ------------------------------------------------------------------------------- the cache
def _fit(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    return {"steps": 7, "stop_reason": "plateau"}


def test_cache_miss_then_hit(tmp_path):
    _, D, _ = problem(dtype=np.float32)
    cache = NetworkCache(tmp_path, fingerprint="code-1")
    cfg = {"network": "LISTA-CP", "seed": 0, "m": 10}
    a = LISTACP(D, 0.02, 3)
    report, hit = cache.get_or_train(a, cfg, _fit)
    assert not hit and report["steps"] == 7 and cache.path(cfg).exists()
    b = LISTACP(D, 0.02, 3)
    calls = []
    report, hit = cache.get_or_train(b, cfg, lambda m: calls.append(1) or {})
    assert hit and not calls and report == {"steps": 7, "stop_reason": "plateau"}
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    assert not list(tmp_path.glob(".*.tmp"))             # written atomically, nothing left


def test_cache_invalidated_by_config_and_code(tmp_path):
    _, D, _ = problem(dtype=np.float32)
    cfg = {"network": "LISTA-CP", "seed": 0}
    NetworkCache(tmp_path, fingerprint="code-1").get_or_train(LISTACP(D, 0.02, 3), cfg, _fit)
    assert NetworkCache(tmp_path, fingerprint="code-1").load(LISTACP(D, 0.02, 3), cfg)
    assert NetworkCache(tmp_path, fingerprint="code-2").load(LISTACP(D, 0.02, 3), cfg) is None
    assert NetworkCache(tmp_path, fingerprint="code-1").load(
        LISTACP(D, 0.02, 3), dict(cfg, seed=1)) is None
    with pytest.raises(TypeError, match="JSON"):
        NetworkCache(tmp_path, fingerprint="x").key({"a": object()})


def test_cache_files_load_with_weights_only(tmp_path):
    _, D, _ = problem(dtype=np.float32)
    cache = NetworkCache(tmp_path, fingerprint="f")
    path = cache.save(ALISTA(D, 0.02, 3), {"k": 1}, {"curve": [[0, -1.5]]})
    entry = torch.load(path, weights_only=True)
    assert set(entry) == {"state", "report", "config"}


def test_code_fingerprint_covers_the_trainer(monkeypatch):
    from sparsestudy.unrolled import persistence

    base = code_fingerprint()
    assert base == code_fingerprint() and len(base) == 64
    real = persistence._defining_sources
    def edited(suffix):
        return lambda: [(n, s + (suffix if "unrolled.training" in n else "")) for n, s in real()]

    monkeypatch.setattr(persistence, "_defining_sources", edited("\nX_ = 1\n"))
    assert code_fingerprint() != base                  # a code change retrains
    monkeypatch.setattr(persistence, "_defining_sources", edited("\n# a comment\n"))
    assert code_fingerprint() == base                  # comments do not
    monkeypatch.setattr(persistence, "_defining_sources",
                        lambda: [(n, s.replace('"""', '"""Edited. ', 1)) for n, s in real()])
    assert code_fingerprint() == base                  # nor do docstrings
    names = [n for n, _ in real()]
    assert "sparsestudy.unrolled.networks" in names and "sparsestudy.training" in names
    assert not any(n.startswith(("sparsestudy.solvers", "sparsestudy.study.")) for n in names)

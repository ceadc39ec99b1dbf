"""The generic trainer: plateau rule on a toy with a known plateau, cap, schedule, restore_best,
learning-rate decay, the window check; fit_classifier's determinism and equivalence."""

import numpy as np
import pytest
import torch

from sparsestudy.training import StageReport, fit_classifier, train_to_plateau


def quadratic(lr=0.1, w0=0.0):
    """SGD on (w - 3)^2: w_k = 3 - 3 (1 - 2 lr)^k, loss 9 (1 - 2 lr)^(2k)."""
    w = torch.tensor([w0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr)

    def step(_):
        return ((w - 3.0) ** 2).sum()

    def val():
        with torch.no_grad():
            return float(((w - 3.0) ** 2).sum())

    return w, opt, step, val


@pytest.mark.parametrize("patience, eval_every, min_improvement", [(3, 1, 1e-3), (2, 4, 1e-2),
                                                                  (5, 2, 1e-6)])
def test_plateau_step_on_a_quadratic_is_the_predicted_one(patience, eval_every, min_improvement):
    w, opt, step, val = quadratic()
    r = train_to_plateau(opt, step, val, max_steps=10_000, eval_every=eval_every,
                         patience=patience, min_improvement=min_improvement)
    # prediction: evaluations at steps 0, e, 2e, ...; the loss there is 9 * 0.64**step
    # (decreasing, so it is the best so far); the first evaluation i >= patience where
    # best[i - patience] - best[i] < min_improvement ends the stage
    i = patience
    while 9 * 0.64 ** ((i - patience) * eval_every) - 9 * 0.64 ** (i * eval_every) \
            >= min_improvement:
        i += 1
    assert isinstance(r, StageReport) and r.stop_reason == "plateau" and r.adequate
    assert r.steps == i * eval_every and r.best_step == r.steps
    assert [s for s, _ in r.history] == list(range(0, r.steps + 1, eval_every))
    np.testing.assert_allclose([v for _, v in r.history],
                               9 * 0.64 ** np.arange(0, r.steps + 1, eval_every), rtol=1e-9)
    assert r.best_value == pytest.approx(9 * 0.64 ** r.steps, rel=1e-9)


def test_cap_when_still_improving():
    w, opt, step, val = quadratic()
    r = train_to_plateau(opt, step, val, max_steps=40, eval_every=2, patience=5,
                         min_improvement=0.0)
    assert r.stop_reason == "cap" and not r.adequate and r.steps == 40
    assert r.history[-1][0] == 40 and r.best_step == 40


def test_last_step_is_evaluated_off_the_grid():
    w, opt, step, val = quadratic()
    r = train_to_plateau(opt, step, val, max_steps=41, eval_every=10, patience=1)
    assert r.stop_reason == "cap" and [s for s, _ in r.history] == [0, 10, 20, 30, 40, 41]


def test_schedule_without_validation():
    w, opt, step, _ = quadratic()
    r = train_to_plateau(opt, step, None, max_steps=7, patience=100, eval_every=100)
    assert r.stop_reason == "schedule" and r.adequate and r.steps == 7 and r.history == []
    assert float(w.detach()) == pytest.approx(3 - 3 * 0.8 ** 7, rel=1e-12)


@pytest.mark.parametrize("restore", [True, False])
def test_restore_best_on_a_diverging_run(restore):
    w, opt, step, val = quadratic(lr=1.1, w0=2.0)    # error multiplied by -1.2 per step
    r = train_to_plateau(opt, step, val, max_steps=100, eval_every=1, patience=4,
                         restore_best=restore)
    assert r.stop_reason == "plateau" and r.steps == 4 and r.best_step == 0
    assert r.best_value == pytest.approx(1.0) and r.restored is restore
    if restore:
        assert float(w.detach()) == 2.0
    else:
        assert float(w.detach()) == pytest.approx(3 - 1.2 ** 4, rel=1e-12)


def test_non_finite_values_never_improve():
    w, opt, step, _ = quadratic()
    values = iter([1.0, 0.5, float("nan"), float("inf"), float("nan"), 0.9])
    r = train_to_plateau(opt, step, lambda: next(values), max_steps=100, patience=3)
    assert r.stop_reason == "plateau" and r.steps == 4 and r.best_value == 0.5
    assert r.best_step == 1


def test_lr_decay_then_plateau_and_mode_max():
    w, opt, step, val = quadratic()
    r = train_to_plateau(opt, step, val, max_steps=10_000, eval_every=1, patience=3,
                         min_improvement=1e-3, lr_decay=0.5, max_decays=2)
    assert r.stop_reason == "plateau" and r.n_decays == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.25)
    w2, opt2, step2, val2 = quadratic()
    r_max = train_to_plateau(opt2, step2, lambda: -val2(), max_steps=10_000, eval_every=1,
                             patience=3, min_improvement=1e-3, mode="max")
    w3, opt3, step3, val3 = quadratic()
    r_min = train_to_plateau(opt3, step3, val3, max_steps=10_000, eval_every=1, patience=3,
                             min_improvement=1e-3)
    assert r_max.steps == r_min.steps and r_max.best_value == -r_min.best_value


def test_adam_from_parameters():
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    r = train_to_plateau([w], lambda _: ((w - 1) ** 2).sum(), None, max_steps=3, lr=0.5)
    ref = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=0.5)
    for _ in range(3):
        loss = ((ref - 1) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert r.steps == 3 and torch.equal(w, ref)


def test_window_check_and_bad_arguments():
    w, opt, step, val = quadratic()
    with pytest.raises(ValueError, match="patience \\* eval_every .*patience=5, eval_every=3, "
                                         "max_steps=59"):
        train_to_plateau(opt, step, val, max_steps=59, eval_every=3, patience=5)
    train_to_plateau(opt, step, val, max_steps=60, eval_every=3, patience=5)   # 15 <= 60 / 4
    with pytest.raises(ValueError, match="mode"):
        train_to_plateau(opt, step, val, max_steps=60, mode="best")
    with pytest.raises(ValueError, match="lr_decay"):
        train_to_plateau(opt, step, val, max_steps=60, lr_decay=1.5)
    with pytest.raises(ValueError, match="min_improvement"):
        train_to_plateau(opt, step, val, max_steps=60, min_improvement=-1)
    with pytest.raises(ValueError, match="lr must be given"):
        train_to_plateau([w], step, val, max_steps=60)
    with pytest.raises(TypeError, match="params_or_optimizer"):
        train_to_plateau(3, step, val, max_steps=60, lr=0.1)
    with pytest.raises(TypeError, match="step_fn"):
        train_to_plateau(opt, None, val, max_steps=60)
    with pytest.raises(TypeError, match="val_fn"):
        train_to_plateau(opt, step, 1.0, max_steps=60)
    with pytest.raises(ValueError, match="max_steps"):
        train_to_plateau(opt, step, val, max_steps=0)


# ----------------------------------------------------------------------------- classifiers
def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 5)) + 2.0 * np.eye(3, 5)[y]
    return X, y


def mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


def test_fit_classifier_fixed_epochs_is_the_hand_written_adam_loop():
    """Without validation data it is exactly the notebooks' loop (same torch operations)."""
    X, y = blobs()
    net, r = fit_classifier(mlp(1), X, y, lr=1e-2, batch_size=32, max_epochs=4, seed=5)
    assert r.stop_reason == "schedule" and r.info["epochs"] == 4 and r.steps == 4 * 10
    ref = mlp(1)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    g = torch.Generator().manual_seed(5)
    for _ in range(4):
        perm = torch.randperm(len(yt), generator=g)
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(ref(Xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(net.parameters(), ref.parameters()):
        assert torch.equal(p, q)


def test_fit_classifier_full_batch():
    X, y = blobs()
    net, r = fit_classifier(mlp(0), X, y, lr=1e-2, batch_size=None, max_epochs=3, seed=0)
    ref = mlp(0)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(Xt), yt).backward()
        opt.step()
    assert r.steps == 3
    for p, q in zip(net.parameters(), ref.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("validation", ["error", "loss"])
def test_fit_classifier_validated_is_deterministic_and_keeps_the_best(validation):
    X, y = blobs(400)
    Xv, yv = blobs(200, seed=1)

    def run(seed):
        return fit_classifier(mlp(0), X, y, X_val=Xv, y_val=yv, lr=5e-3, batch_size=50,
                              max_epochs=200, patience=5, seed=seed, validation=validation)

    net, r = run(3)
    assert r.stop_reason == "plateau" and r.adequate and r.steps % 8 == 0
    with torch.no_grad():
        logits = net(torch.tensor(Xv, dtype=torch.float32))
    if validation == "error":
        final = float((logits.argmax(1).numpy() != yv).mean())
        assert final < 0.2
    else:
        final = float(torch.nn.functional.cross_entropy(logits, torch.tensor(yv)))
    assert final == pytest.approx(r.best_value, abs=1e-7)      # the best epoch is restored
    net2, r2 = run(3)
    assert r2.history == r.history
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)
    _, r3 = run(4)
    assert r3.history != r.history


def test_fit_classifier_bad_input():
    X, y = blobs(40)
    with pytest.raises(ValueError, match="y must be a 1-d array of 40"):
        fit_classifier(mlp(0), X, y[:30])
    with pytest.raises(TypeError, match="y must hold integer"):
        fit_classifier(mlp(0), X, y.astype(float))
    with pytest.raises(ValueError, match="X_val and y_val"):
        fit_classifier(mlp(0), X, y, X_val=X)
    with pytest.raises(ValueError, match="patience must be at most max_epochs / 4"):
        fit_classifier(mlp(0), X, y, X_val=X, y_val=y, max_epochs=10, patience=3)
    with pytest.raises(ValueError, match="validation"):
        fit_classifier(mlp(0), X, y, X_val=X, y_val=y, validation="accuracy")
    with pytest.raises(TypeError, match="model"):
        fit_classifier("net", X, y)
    with pytest.raises(ValueError, match="X contains NaN"):
        fit_classifier(mlp(0), np.full_like(X, np.nan), y)

"""Pins the rigor fixes of C03 and C04 (issue 13; register amendments 5 and 6 and the fixes of
2026-11-23), so that none of them comes back unnoticed.

Library functions are tested against independent references (scikit-learn's Lasso, closed
forms, hand-computed cases); the notebooks are parsed (nbformat + ast), never executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml
from scipy.stats import norm
from sklearn.linear_model import Lasso

from sparsestudy import continuation, solvers
from sparsestudy.continuation import fewest_nonzeros_at, support_recovery, threshold_path
from sparsestudy.data import make_sparse_coding_problem
from sparsestudy.units import linear_unit_statistics, standardised_margin, unit_zero_fraction
from sparsestudy.study.notebook import parameters_cell

REPO = Path(__file__).resolve().parents[1]
C03 = REPO / "notebooks" / "c03_relu_soft_threshold.ipynb"
C04 = REPO / "notebooks" / "c04_hard_threshold.ipynb"
PROFILES = {p: yaml.safe_load((REPO / "notebooks" / "profiles" / f"{p}.yaml").read_text())
            for p in ("quick", "full")}


# ------------------------------------------------------------------------------ helpers
def code_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def markdown(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def parameters(path):
    cell = parameters_cell(nbformat.read(path, as_version=4))
    out = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def profile_value(path, name, profile):
    entry = PROFILES[profile].get(path.stem) or {}
    return entry.get(name, parameters(path)[name])


def subclaim_calls(path):
    """{key: ast.Call} of every rec.subclaim("x", ...) in the notebook."""
    calls = {}
    for src in code_cells(path):
        for node in ast.walk(ast.parse(src)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "subclaim" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                calls[node.args[0].value] = node
    return calls


def keyword(call, name):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def calls_to(src, name):
    """Calls of a function or method named ``name`` in ``src``."""
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (
                    isinstance(f, ast.Attribute) and f.attr == name):
                out.append(node)
    return out


def cell_with(path, text):
    hits = [s for s in code_cells(path) if text in s]
    assert len(hits) == 1, f"{len(hits)} code cells contain {text!r}"
    return hits[0]


def loop_over_seeds(src):
    """The body of the top-level ``for seed in seeds:`` loop."""
    for node in ast.parse(src).body:
        if (isinstance(node, ast.For) and isinstance(node.target, ast.Name)
                and node.target.id == "seed"):
            return node
    raise AssertionError("no top-level loop over the seeds")


def names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# ----------------------------------------------------------- library: continuation paths
@pytest.fixture(scope="module")
def problem():
    prob = make_sparse_coding_problem(8, 20, 40, n_nonzero=3, snr_db=30.0, seed=5)
    amax = float(np.abs(prob.X @ prob.D.T).max())
    return prob, amax


def sklearn_lasso(X, D, alpha):
    n = X.shape[1]
    return np.array([Lasso(alpha=alpha / n, fit_intercept=False, tol=1e-14,
                           max_iter=1_000_000).fit(D.T, x).coef_ for x in X])


def test_threshold_path_warm_starts_from_the_previous_level(problem, monkeypatch):
    prob, amax = problem
    seen = []
    real = solvers.ista

    def spy(X, D, alpha, **kw):
        seen.append((alpha, None if kw.get("init") is None else np.array(kw["init"])))
        res = real(X, D, alpha, **kw)
        seen[-1] += (np.array(res.codes),)
        return res

    monkeypatch.setattr(continuation.solvers, "ista", spy)
    levels = amax * np.array([0.05, 0.5, 0.2])            # not sorted: the path sorts them
    path = threshold_path(prob.X, prob.D, levels, method="ista", max_iter=5000, tol=1e-10)
    assert [a for a, *_ in seen] == sorted(levels, reverse=True)   # largest first
    assert seen[0][1] is None                                     # the first from zero
    for (_, init, _), (_, _, prev_codes) in zip(seen[1:], seen[:-1]):
        np.testing.assert_array_equal(init, prev_codes)          # each from the previous
    assert path.warm_started.tolist() == [True, False, True]      # in the order given
    # and cold when asked
    seen.clear()
    cold = threshold_path(prob.X, prob.D, levels, method="ista", max_iter=5000, tol=1e-10,
                          warm_start=False)
    assert all(init is None for _, init, _ in seen) and not cold.warm_started.any()


def test_threshold_path_ista_matches_sklearn_and_records_convergence(problem):
    prob, amax = problem
    levels = amax * np.geomspace(0.02, 0.8, 5)
    path = threshold_path(prob.X, prob.D, levels, method="ista", max_iter=50000, tol=1e-12)
    assert path.all_converged and path.converged.shape == (5,)
    assert (path.gap <= 1e-12).all()
    for lv, Z in zip(levels, path.codes):
        np.testing.assert_allclose(Z, sklearn_lasso(prob.X, prob.D, lv), atol=1e-6)
    short = threshold_path(prob.X, prob.D, levels, method="ista", max_iter=2, tol=1e-12)
    assert not short.converged[0] and not short.all_converged


def test_threshold_path_iht_continuation_equals_chained_solves(problem):
    prob, amax = problem
    L = solvers.lipschitz_constant(prob.D)
    levels = amax / L * np.array([0.6, 0.3, 0.1])
    path = threshold_path(prob.X, prob.D, levels, method="iht", max_iter=3000, tol=1e-9)
    z = None
    for i, t in enumerate(levels):
        res = solvers.iht(prob.X, prob.D, thresh=t, max_iter=3000, tol=1e-9, init=z)
        np.testing.assert_allclose(path.codes[i], res.codes, atol=1e-12)
        assert path.converged[i] == res.converged
        z = res.codes
    assert path.gap is None


def test_threshold_path_checks_its_arguments(problem):
    prob, amax = problem
    with pytest.raises(ValueError, match="method"):
        threshold_path(prob.X, prob.D, [1.0], method="omp")
    with pytest.raises(ValueError, match="levels"):
        threshold_path(prob.X, prob.D, [0.0, 1.0])
    with pytest.raises(ValueError, match="nonneg"):
        threshold_path(prob.X, prob.D, [1.0], method="iht", nonneg=True)


def test_fewest_nonzeros_at_by_hand():
    err = np.array([-10.0, -30.0, -20.0])
    nnz = np.array([2.0, 9.0, 5.0])
    # sorted by error: (-30, 9), (-20, 5), (-10, 2); running minimum 9, 5, 2
    np.testing.assert_allclose(fewest_nonzeros_at(err, nnz, [-30, -25, -20, -15, -10]),
                               [9, 7, 5, 3.5, 2])
    # a non-monotone sweep: a sparser point at lower error dominates the later ones
    np.testing.assert_allclose(fewest_nonzeros_at([-30, -20, -10], [4, 6, 2], [-20]), [4])


def test_support_recovery_by_hand():
    truth = np.array([[1.0, 0, 2, 0], [0, 0, 0, 3]])
    codes = np.array([[5.0, 1, 0, 0], [0, 0, 0, 1]])
    s = support_recovery(codes, truth)
    assert s["precision"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["exact"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(0.75)
    assert support_recovery(truth, truth)["exact"] == 1.0


# ----------------------------------------------------------- library: ReLU unit margins
def test_standardised_margin_against_numpy_and_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 10))
    b = rng.standard_normal(6)
    X = rng.standard_normal((200_000, 10)) + 0.3
    pre = X @ W.T
    stats = linear_unit_statistics(W, b, X)
    np.testing.assert_allclose(stats["mean"], pre.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats["sd"], pre.std(axis=0), rtol=1e-10)
    m = standardised_margin(W, b, X)
    np.testing.assert_allclose(m, (b + pre.mean(axis=0)) / pre.std(axis=0), rtol=1e-10)
    # Gaussian inputs: the ReLU unit's zero fraction is Phi(-m)
    zero = unit_zero_fraction(np.maximum(pre + b, 0.0))
    np.testing.assert_allclose(zero, norm.cdf(-m), atol=5e-3)


def test_margin_of_a_constant_unit_is_signed_infinity():
    X = np.ones((5, 2))
    m = standardised_margin(np.array([[1.0, -1.0], [1.0, 1.0]]), np.array([-1.0, 1.0]), X)
    assert m[0] == -np.inf and m[1] == np.inf
    with pytest.raises(ValueError):
        standardised_margin(np.ones((2, 3)), np.ones(2), X)


# ------------------------------------------------------------------- C03 notebook fixes
def test_c03a_checks_the_library_operator_not_torch_relu():
    src = cell_with(C03, 'rec.subclaim("a"')
    assert "torch.relu" not in src
    assert calls_to(src, "nonneg_soft_threshold"), "the library's operator is the one checked"
    assert calls_to(src, "brute_force"), "against a brute-force minimisation"
    assert "kkt" in src.lower()
    # the brute force also runs on the random tensors of each seed
    loop = loop_over_seeds(src)
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "brute_force"
               for n in ast.walk(loop))


def test_c03b_reference_is_certified_per_seed_and_never_floored():
    src = cell_with(C03, 'rec.subclaim("b"')
    loop = loop_over_seeds(src)
    ref_calls = [n for n in ast.walk(loop) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "lasso"]
    assert len(ref_calls) == 1, "the reference is solved inside the loop, for every seed"
    call = ref_calls[0]
    assert isinstance(keyword(call, "nonneg"), ast.Constant) and keyword(call, "nonneg").value
    assert ast.unparse(keyword(call, "tol")) == "ref_tol"
    # every seed's certificate goes into a per-seed list that the record stores
    loop_src = ast.unparse(loop)
    assert "reference_certified=bool(ref.converged)" in loop_src
    assert "b_rows.append" in loop_src and "ref.gap" in loop_src
    # the reference objective is not floored at the network's own objective
    assert "F.min()" not in src and "min(solvers.lasso_objective" not in src
    # no reference values are assigned after the loop (only the last seed's would be kept)
    after = ast.unparse(ast.Module(body=[n for n in ast.parse(src).body
                                         if n.lineno > loop.end_lineno], type_ignores=[]))
    assert "ref." not in after
    call_b = subclaim_calls(C03)["b"]
    assert "b_certified" in ast.unparse(keyword(call_b, "adequate"))
    assert "per_seed=b_rows" in ast.unparse(keyword(call_b, "values")).replace(" ", "")
    for profile in ("quick", "full"):
        assert profile_value(C03, "ref_tol", profile) <= 1e-10
        assert profile_value(C03, "b_factor", profile) == 1e-3


def test_c03b_rule_is_quantitative_and_the_monotone_fall_a_consistency_check():
    src = cell_with(C03, 'rec.subclaim("b"')
    holds = [n for n in ast.parse(src).body if isinstance(n, ast.Assign)
             and getattr(n.targets[0], "id", None) == "b_holds"][0]
    assert "monotone" not in ast.unparse(holds), "the theorem does not decide b"
    assert "b_factor" in src and "ratio_upper" in src
    calls = subclaim_calls(C03)
    assert keyword(calls["e"], "consistency").value is True
    assert "e_holds = all(monotone)" in src and ast.unparse(keyword(calls["e"], "passed")) == \
        "e_holds"
    assert keyword(calls["b"], "consistency") is None


def test_c03c_mlp_is_trained_to_a_validation_plateau_and_reports_the_margin():
    src = cell_with(C03, 'rec.subclaim("c"')
    fits = calls_to(src, "fit_classifier")
    assert len(fits) == 1
    for kw in ("X_val", "y_val", "max_epochs", "patience", "seed"):
        assert keyword(fits[0], kw) is not None, kw
    call = subclaim_calls(C03)["c"]
    assert "adequate" in ast.unparse(keyword(call, "adequate"))
    assert "plateau" in ast.unparse(keyword(call, "adequacy"))
    assert "mono_c" not in ast.unparse(keyword(call, "passed"))   # the curve is check f
    values = ast.unparse(keyword(call, "values"))
    for name in ("pooled_spearman_bias", "glorot_anchor", "minus_glorot"):
        assert name in values
    for name in ("spearman_margin", "bias_init_corr", "bias_mean_abs_change", "sd_bias"):
        assert name in src
    assert calls_to(src, "linear_unit_statistics")
    calls = subclaim_calls(C03)
    assert keyword(calls["f"], "consistency").value is True
    assert "mlp_epochs" not in parameters(C03)
    for profile in ("quick", "full"):
        cap = profile_value(C03, "mlp_max_epochs", profile)
        assert profile_value(C03, "mlp_patience", profile) <= cap / 4


def test_c03_prose_follows_the_numbers():
    md = markdown(C03)
    assert "well below" not in md
    assert "{glue:md}`c03_c_glorot_side`" in md and "c03_c_glorot_diff" in md
    assert "c03_c_pooled_rho" in md
    assert "{glue:md}`c03_verdict`" in md and "{glue:md}`c03_why`" in md
    assert "{glue:md}`c03_e_outcome`" in md and "{glue:md}`c03_f_outcome`" in md


# ------------------------------------------------------------------- C04 notebook fixes
def test_c04b_runs_both_solvers_by_continuation_and_records_convergence():
    src = cell_with(C04, "def sweep(")
    assert calls_to(src, "threshold_path")
    assert not calls_to(src, "ista") and not calls_to(src, "iht"), "no cold-start sweep"
    tp = calls_to(src, "threshold_path")[0]
    assert keyword(tp, "warm_start") is None or keyword(tp, "warm_start").value is True
    call = subclaim_calls(C04)["b"]
    adequate = ast.unparse(keyword(call, "adequate"))
    assert "b_converged" in adequate
    rule_src = cell_with(C04, 'rec.subclaim("b"')
    assert "converged" in ast.unparse(keyword(call, "values"))
    assert "b_converged = bool(all(" in rule_src
    # the noise floor: the true codes' error, levels below it excluded
    assert "nmse_db(prob.Z @ D, X)" in src and "levels >= floor" in src
    assert "support_recovery" in src
    assert "[kept]" in src


def test_c04b_figure_marks_the_noise_floor_and_prose_has_no_unmeasured_claim():
    fig = cell_with(C04, "noise floor (error of the true codes)")
    assert "axvline" in fig
    md = markdown(C04)
    assert "spurious atoms" not in md
    assert "c04_b_f1_iht" in md and "c04_b_f1_ista" in md and "c04_b_n_unconv" in md


def test_c04c_tunes_c_jointly_pairs_by_seed_and_is_an_equivalence_rule():
    src = cell_with(C04, "LogisticRegression(C=C")
    assert "for C in c_C_grid" in src and "for th in thetas" in src
    assert "correct" in src
    call = subclaim_calls(C04)["c"]
    assert keyword(call, "equivalence").value is True
    assert "half_width" in ast.unparse(keyword(call, "adequate")) or "c_adequate" in \
        ast.unparse(keyword(call, "adequate"))
    rule = cell_with(C04, 'rec.subclaim("c"')
    pb = calls_to(rule, "paired_bootstrap")
    assert len(pb) == 1
    assert len(pb[0].args) == 3 and ast.unparse(pb[0].args[2]) == "strata"
    assert ast.unparse(keyword(pb[0], "n_resamples")) == "c_n_resamples"
    assert "c_adequate = bool(ci.half_width < sd)" in rule
    for profile in ("quick", "full"):
        assert profile_value(C04, "c_n_resamples", profile) == 2000
        assert len(profile_value(C04, "c_C_grid", profile)) >= 2


def test_c04_parameters_of_both_profiles_are_declared():
    declared = parameters(C04)
    for profile in ("quick", "full"):
        assert set(PROFILES[profile].get(C04.stem) or {}) <= set(declared)
    declared = parameters(C03)
    for profile in ("quick", "full"):
        assert set(PROFILES[profile].get(C03.stem) or {}) <= set(declared)

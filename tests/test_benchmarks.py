"""The benchmark script's own logic: the accuracy rule, the selection-rule check and the verdict
sentences it writes for the Speed page. (Speed itself is measured by the script, never here.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparsestudy.solvers import lasso, omp

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_solvers.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_solvers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_problem_is_k_sparse_plus_noise(bench):
    X0, D = bench.make_problem(400, n_features=16, n_atoms=40, k=3, noise=0.0, seed=1)
    X1, D1 = bench.make_problem(400, n_features=16, n_atoms=40, k=3, noise=0.1, seed=1)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)
    np.testing.assert_array_equal(D, D1)
    assert abs(np.std(X1 - X0) / 0.1 - 1) < 0.05          # the noise is N(0, noise^2)
    # each noiseless signal is a combination of 3 atoms: OMP with 3 atoms explains most exactly
    Z = omp(X0, D, 3).codes
    assert np.mean(np.sum((X0 - Z @ D) ** 2, axis=1) < 1e-20) > 0.5
    assert np.all(np.sum((X0 - omp(X0, D, 16).codes @ D) ** 2, axis=1) < 1e-20)


def test_selection_rule_check_recognises_omp_and_ormp(bench):
    X, D = bench.make_problem(60, n_features=16, n_atoms=48, k=4, noise=0.05, seed=2)
    Z = omp(X, D, 4).codes
    res = bench.selection_rule_check(X, D, Z, 4, n_check=60)
    assert res["omp"] == 1.0 and res["n_checked"] == 60
    # codes on a support that neither rule picks agree with neither
    Zbad = np.zeros_like(Z)
    Zbad[:, :4] = 1.0
    res = bench.selection_rule_check(X, D, Zbad, 4, n_check=20)
    assert res["omp"] < 0.5 and res["ormp"] < 0.5


def test_accuracy_flags(bench):
    X, D = bench.make_problem(40, n_features=16, n_atoms=40, k=3, seed=3)
    lam = bench.lasso_penalty(X, D)
    good = lasso(X, D, lam, tol=1e-10).codes
    codes = {("omp", "scikit-learn", "ref"): omp(X, D, 3).codes,
             ("omp", "sparsestudy", "same"): omp(X, D, 3).codes,
             ("omp", "x", "fewer atoms"): omp(X, D, 1).codes,
             ("lasso", "SPAMS", "ref"): good,
             ("lasso", "x", "coarse"): good * 0.9}
    acc = bench.accuracy(X, D, lam, codes)
    assert acc[("omp", "sparsestudy", "same")]["equal_accuracy"]
    assert not acc[("omp", "x", "fewer atoms")]["equal_accuracy"]
    assert acc[("lasso", "SPAMS", "ref")]["rel_to_reference"] == 0
    assert not acc[("lasso", "x", "coarse")]["equal_accuracy"]


def _table(ours_omp, spams_omp, ours_lasso, spams_lasso, equal=True):
    rows = [("omp", "sparsestudy", "omp (compiled)", ours_omp),
            ("omp", "SPAMS", "omp", spams_omp),
            ("omp", "scikit-learn", "sparse_encode omp", 1000.0),
            ("lasso", "sparsestudy", "lasso (compiled path, gap<=1e-6)", ours_lasso),
            ("lasso", "SPAMS", "lasso (LARS)", spams_lasso),
            ("lasso", "scikit-learn", "sparse_encode lasso_cd", 1000.0)]
    t = pd.DataFrame(rows, columns=["task", "library", "method", "signals_per_s"])
    t["equal_accuracy"] = equal
    t["x_sklearn"] = t.signals_per_s / 1000.0
    t["x_spams"] = [s / (spams_omp if task == "omp" else spams_lasso)
                    for s, task in zip(t.signals_per_s, t.task)]
    return t


def test_summary_states_the_computed_verdict(bench):
    info = dict(cpu="cpu", cores=2, torch="t", spams="s")
    rule = {"omp": 0.9, "ormp": 1.0, "n_checked": 10}
    text = bench.summary_markdown(_table(3e5, 2e5, 1e5, 2e5), rule, info, 2)
    omp_line, lasso_line = text.splitlines()[:2]
    assert "1.50x SPAMS" in omp_line and "**met**" in omp_line
    assert "0.50x SPAMS" in lasso_line and "**not met**" in lasso_line
    assert "100%" in text and "90%" in text
    text = bench.summary_markdown(_table(3e5, 2e5, 3e5, 2e5, equal=False), None, info, 2)
    assert "equal accuracy fails" in text and "**met**" not in text

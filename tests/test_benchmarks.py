"""The benchmark script's own logic: the problem, the accuracy rule, the selection-rule check,
the worker processes, the roofline's flop count and the verdict sentences it writes for the Speed
page. (Speed itself is measured by the script, never here: no test reads a clock.)"""

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
    t["precision"] = "float64"
    t["equal_accuracy"] = equal
    t["rel_to_reference"] = 0.0
    t["x_sklearn"] = t.signals_per_s / 1000.0
    t["x_spams"] = [s / (spams_omp if task == "omp" else spams_lasso)
                    for s, task in zip(t.signals_per_s, t.task)]
    return t


INFO = dict(cpu="Some CPU", cores=2, torch="t", spams="s")


def test_summary_states_the_computed_verdict(bench):
    rule = {"omp": 0.9, "ormp": 1.0, "n_checked": 10}
    text = bench.summary_markdown(_table(5e5, 2e5, 1e5, 2e5), rule, INFO, 2)
    omp_line, lasso_line = text.splitlines()[:2]
    assert "2.50x SPAMS" in omp_line and "**met**" in omp_line and "Some CPU" in omp_line
    assert "0.50x SPAMS" in lasso_line and "**not met**" in lasso_line
    assert "100%" in text and "90%" in text
    # the goal is 2x: 1.5x is not enough
    text = bench.summary_markdown(_table(3e5, 2e5, 3e5, 2e5), None, INFO, 2)
    assert "1.50x SPAMS" in text and "**met**" not in text
    text = bench.summary_markdown(_table(5e5, 2e5, 5e5, 2e5, equal=False), None, INFO, 2)
    assert "equal accuracy fails" in text and "**met**" not in text


def test_flop_count(bench):
    f, a, n = 64, 256, 10**9                          # (the Gram matrix amortised away)
    # OMP with one atom: the product D x and one argmax
    assert bench.flops_per_signal("omp", f, a, 1, n) == pytest.approx(2 * f * a + 2 * a + 1 / 3 + 2)
    # each further step adds the argmax and the direction's and residual's correlations
    two = bench.flops_per_signal("omp", f, a, 2, n)
    assert two - bench.flops_per_signal("omp", f, a, 1, n) == pytest.approx(
        2 * a + 3 * a + (8 - 1) / 3 + 6)
    for task in ("omp", "lasso"):
        vals = [bench.flops_per_signal(task, f, aa, kk, 8000) for aa in (128, 256) for kk in (4, 8)]
        assert vals == sorted(vals) and len(set(vals)) == 4
    # the Gram matrix's share shrinks with the batch
    assert bench.flops_per_signal("omp", f, a, 8, 100) > bench.flops_per_signal("omp", f, a, 8, 10**4)


def test_peak_flops(bench):
    info = dict(mhz=2000.0, cores=4, flags="sse avx avx2 fma")
    assert bench.peak_flops(info, 2) == 2000e6 * 16 * 2          # AVX2 + FMA: 16 per cycle
    assert bench.peak_flops(info, 8) == 2000e6 * 16 * 4          # at most the cores
    assert bench.peak_flops(info, 2, "float32") == 2000e6 * 32 * 2
    assert bench.peak_flops(dict(info, flags="avx512f avx2 fma"), 1) == 2000e6 * 32


def test_roofline_fractions(bench):
    t = _table(5e5, 2e5, 1e5, 2e5)
    info = dict(INFO, mhz=1000.0, flags="avx2 fma")
    roof = bench.roofline(t, info, 2, 64, 256, 8, 8000, 9.0, 8.0)
    assert set(roof.library) == {"sparsestudy", "SPAMS"}
    r = roof[(roof.task == "omp") & (roof.library == "sparsestudy")].iloc[0]
    assert r.flop_limited_per_s == pytest.approx(32e9 / r.flops_per_signal, rel=1e-4)
    assert r.fraction_of_peak == pytest.approx(5e5 / r.flop_limited_per_s)


def test_machines_table_keeps_one_row_per_processor(bench, tmp_path):
    path = tmp_path / "machines.csv"
    t = _table(5e5, 2e5, 1e5, 2e5)
    bench.update_machines(path, bench.machines_row(t, dict(INFO, cpu="A"), 2, "c1"))
    bench.update_machines(path, bench.machines_row(t, dict(INFO, cpu="B"), 2, "c1"))
    out = bench.update_machines(path, bench.machines_row(_table(6e5, 2e5, 1e5, 2e5),
                                                         dict(INFO, cpu="A"), 2, "c2"))
    assert sorted(out.cpu) == ["A", "B"]
    assert out[out.cpu == "A"].omp_x_spams.item() == 3.0
    assert out[out.cpu == "A"].commit.item() == "c2"


def test_workers_run_in_their_own_processes(bench, tmp_path):
    # the driver's protocol end to end, sparsestudy's worker only (small problem, two rounds)
    X, D = bench.make_problem(64, n_features=16, n_atoms=32, k=3, seed=4)
    lam = bench.lasso_penalty(X, D)
    rows, codes = bench.run(X, D, 3, lam, 1, 2, libraries=("sparsestudy",), full=False,
                            workdir=tmp_path)
    methods = {m for _, m, _ in bench.method_names("sparsestudy", False)}
    assert {r["method"] for r in rows} == methods and len(rows) == 2 * len(methods)
    assert all(r["seconds"] > 0 for r in rows)
    np.testing.assert_allclose(codes[("omp", "sparsestudy", "omp (compiled)")],
                               omp(X, D, 3).codes, atol=1e-12)
    np.testing.assert_allclose(codes[("lasso", "sparsestudy", "lasso (compiled path, gap<=1e-6)")],
                               lasso(X, D, lam).codes, atol=1e-12)
    acc = bench.accuracy(X, D, lam, codes)
    assert all(v["equal_accuracy"] for v in acc.values())

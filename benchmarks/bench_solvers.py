"""Time sparsestudy's solvers against scikit-learn and SPAMS on the same data, in one process.

    python benchmarks/bench_solvers.py            # the table and the sweep (a few minutes)
    python benchmarks/bench_solvers.py --quick    # a small smoke run
    python benchmarks/bench_solvers.py --book     # also copy the table and plot to book/speed/

The problem (the issue's): ``n`` signals of 64 dimensions, each a sum of ``k = 8`` of 256
unit-norm random atoms with N(0, 1) weights, plus N(0, 0.01^2) noise. Two tasks:

* OMP with ``k`` atoms: sparsestudy ``omp``, scikit-learn ``sparse_encode(algorithm="omp")``,
  SPAMS ``omp``. Accuracy: mean residual energy, relative to scikit-learn's (standard OMP).
* the lasso ``0.5 ||x - zD||^2 + lam ||z||_1`` with ``lam = 0.1 * mean_i max_j |<d_j, x_i>|``
  (about 8 nonzeros per signal): sparsestudy ``lasso`` (homotopy, certified by its duality gap,
  ``tol=1e-6``) and ``fista`` (``tol=1e-4``: relative gap, so the objective is certified to
  1e-4), scikit-learn ``sparse_encode(algorithm="lasso_cd")``, SPAMS ``lasso`` (LARS, exact).
  Accuracy: mean objective relative to the reference (SPAMS' exact path; sparsestudy ``lasso``
  when SPAMS is absent).

Every method runs once per round, rounds repeat (interleaved, so a slow spell of the machine hits
every method alike); the table reports the median time over rounds as signals per second, and the
best round too. All libraries get the same number of threads (``--threads``, default 2). Results
are tidy CSV files under ``benchmarks/results/`` (git-ignored). SPAMS is optional
(``pip install spams-bin``); without it its rows are left out.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_problem(n_samples: int, n_features: int = 64, n_atoms: int = 256, k: int = 8,
                 noise: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Signals ``X`` (n_samples, n_features) = k-sparse codes @ unit-norm ``D`` + noise."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    support = np.argsort(rng.random((n_samples, n_atoms)), axis=1)[:, :k]
    Z = np.zeros((n_samples, n_atoms))
    np.put_along_axis(Z, support, rng.standard_normal((n_samples, k)), axis=1)
    X = Z @ D + noise * rng.standard_normal((n_samples, n_features))
    return X, D


def lasso_penalty(X: np.ndarray, D: np.ndarray, frac: float = 0.1) -> float:
    """The benchmark's penalty: ``frac`` times the mean over signals of ``max_j |<d_j, x>|``."""
    return float(frac * np.abs(X @ D.T).max(axis=1).mean())


def methods(X, D, k, lam, threads, include_sklearn=True, include_fista=True,
            include_torch=True):
    """``{(task, library, method): callable returning dense codes (n_samples, n_atoms)}``."""
    from sklearn.decomposition import sparse_encode
    from threadpoolctl import threadpool_limits

    from sparsestudy.solvers import fista, lasso, omp

    out = {
        ("omp", "sparsestudy", "omp (compiled)"): lambda: omp(X, D, k).codes,
        ("lasso", "sparsestudy", "lasso (compiled path, gap<=1e-6)"):
            lambda: lasso(X, D, lam, tol=1e-6).codes,
    }
    if include_torch:
        out[("omp", "sparsestudy", "omp (torch, batched)")] = \
            lambda: omp(X, D, k, backend="torch").codes
        out[("lasso", "sparsestudy", "lasso (torch path, gap<=1e-6)")] = \
            lambda: lasso(X, D, lam, tol=1e-6, backend="torch").codes
    if include_fista:
        out[("lasso", "sparsestudy", "fista (gap<=1e-4)")] = \
            lambda: fista(X, D, lam, tol=1e-4, max_iter=20000).codes
    if include_sklearn:
        def sk(**kw):
            with threadpool_limits(threads):
                return sparse_encode(X, D, n_jobs=1, **kw)
        out[("omp", "scikit-learn", "sparse_encode omp")] = \
            lambda: sk(algorithm="omp", n_nonzero_coefs=k)
        out[("lasso", "scikit-learn", "sparse_encode lasso_cd")] = \
            lambda: sk(algorithm="lasso_cd", alpha=lam, max_iter=5000)
    try:
        import spams
    except ImportError:
        return out
    Xf, Df = np.asfortranarray(X.T), np.asfortranarray(D.T)
    out[("omp", "SPAMS", "omp")] = \
        lambda: spams.omp(Xf, Df, L=k, numThreads=threads).toarray().T
    out[("lasso", "SPAMS", "lasso (LARS)")] = \
        lambda: spams.lasso(Xf, Df, lambda1=lam, mode=2, numThreads=threads).toarray().T
    return out


def run(X, D, k, lam, threads, repeats, **kw):
    """Interleaved timing; returns one tidy row per (method, round) and the codes of round 0."""
    cands = methods(X, D, k, lam, threads, **kw)
    rows, codes = [], {}
    for rnd in range(repeats):
        for key, fn in cands.items():
            t0 = time.perf_counter()
            Z = fn()
            sec = time.perf_counter() - t0
            if rnd == 0:
                codes[key] = np.asarray(Z)
            rows.append(dict(task=key[0], library=key[1], method=key[2], round=rnd, seconds=sec))
    return rows, codes


def accuracy(X, D, lam, codes):
    """Per method: the accuracy measure of its task and the reference it is compared to."""
    from sparsestudy.solvers import lasso_objective
    res = {}
    energy = {key: float(((X - Z @ D) ** 2).sum(1).mean()) for key, Z in codes.items()}
    ref_omp = next((energy[key] for key in codes if key[0] == "omp" and key[1] == "scikit-learn"),
                   None)
    objective = {key: float(lasso_objective(X, D, Z, lam).mean()) for key, Z in codes.items()
                 if key[0] == "lasso"}
    refs = [key for key in objective if key[1] == "SPAMS"] or \
        [key for key in objective if key[1] == "sparsestudy"]
    ref_lasso = objective[refs[0]] if refs else None
    for key, Z in codes.items():
        nnz = float((Z != 0).sum(1).mean())
        if key[0] == "omp":
            value, ref = energy[key], ref_omp
            ok = ref is None or (value <= ref * 1.001 and (Z != 0).sum(1).max() <= codes_k(codes))
        else:
            value, ref = objective[key], ref_lasso
            ok = ref is None or value <= ref * (1 + 1e-4)
        rel = None if ref is None else value / ref - 1
        res[key] = dict(measure="mean residual energy" if key[0] == "omp" else "mean objective",
                        value=value, rel_to_reference=rel, mean_nonzeros=nnz, equal_accuracy=ok)
    return res


def codes_k(codes):
    return max(int((Z != 0).sum(1).max()) for key, Z in codes.items() if key[0] == "omp"
               and key[1] == "scikit-learn") if any(key[1] == "scikit-learn" and key[0] == "omp"
                                                     for key in codes) else 10**9


def summarise(rows, acc, n):
    import pandas as pd
    df = pd.DataFrame(rows)
    g = df.groupby(["task", "library", "method"], sort=False)["seconds"]
    t = pd.DataFrame({"median_s": g.median(), "best_s": g.min()}).reset_index()
    t["signals_per_s"] = n / t["median_s"]
    t["best_signals_per_s"] = n / t["best_s"]
    for col in ("rel_to_reference", "mean_nonzeros", "equal_accuracy"):
        t[col] = [acc[(a, b, c)][col] for a, b, c in zip(t.task, t.library, t.method)]
    for lib, name in (("scikit-learn", "x_sklearn"), ("SPAMS", "x_spams")):
        ref = {task: t[(t.task == task) & (t.library == lib)]["signals_per_s"].max()
               for task in t.task.unique()}
        t[name] = [s / ref[task] if np.isfinite(ref.get(task, np.nan)) else np.nan
                   for s, task in zip(t.signals_per_s, t.task)]
    return t


def sweep(args, threads, repeats):
    """Signals/s of the OMP and lasso solvers as one knob moves away from the base problem
    (sparsestudy's default, compiled path and SPAMS; ``threads`` moves every library's)."""
    import torch
    base = dict(n_samples=args.n_samples, n_atoms=256, k=8, threads=threads)
    grid = {
        "n_samples": [500, 2000, 8000] if not args.quick else [200, 800],
        "n_atoms": [128, 256, 512] if not args.quick else [128, 256],
        "k": [4, 8, 16] if not args.quick else [4, 8],
        "threads": sorted({1, threads}),
    }
    out = []
    for knob, values in grid.items():
        for v in values:
            cfg = dict(base, **{knob: v})
            X, D = make_problem(cfg["n_samples"], 64, cfg["n_atoms"], cfg["k"], 0.01, seed=1)
            lam = lasso_penalty(X, D)
            torch.set_num_threads(cfg["threads"])
            try:
                rows, codes = run(X, D, cfg["k"], lam, cfg["threads"], repeats,
                                  include_sklearn=False, include_fista=False,
                                  include_torch=False)
            finally:
                torch.set_num_threads(threads)
            acc = accuracy(X, D, lam, codes)
            t = summarise(rows, acc, cfg["n_samples"])
            for rec in t.to_dict("records"):
                out.append(dict(knob=knob, value=v, **cfg, **rec))
            print(f"  sweep {knob}={v}: " + ", ".join(
                f"{r['library']} {r['task']} {r['signals_per_s']:,.0f}/s" for r in
                t.to_dict("records")), flush=True)
    return out


def selection_rule_check(X, D, Z, k, n_check=200):
    """Which greedy rule picked the supports of ``Z`` (for SPAMS' ``omp``)? On the first
    ``n_check`` signals, replay k steps of both rules from scratch and count the signals whose
    support equals each: standard OMP (the atom most correlated with the residual) and
    order-recursive matching pursuit, ORMP (the atom whose addition most lowers the residual,
    i.e. the largest correlation with the residual after projecting the atom off the span of
    the chosen ones, divided by that projected atom's norm)."""
    n_check = min(n_check, X.shape[0])
    agree = {"omp": 0, "ormp": 0}
    for i in range(n_check):
        target = set(np.flatnonzero(Z[i]).tolist())
        for rule in agree:
            chosen: list[int] = []
            r = X[i].copy()
            for _ in range(k):
                if chosen:
                    Q = np.linalg.qr(D[chosen].T)[0]
                    P = D - (D @ Q) @ Q.T              # atoms projected off the chosen span
                else:
                    P = D
                c = P @ r
                if rule == "ormp":
                    norms = np.linalg.norm(P, axis=1)
                    score = np.where(norms > 1e-10, np.abs(c) / np.maximum(norms, 1e-300), 0)
                else:
                    score = np.abs(D @ r)
                score[chosen] = -1
                chosen.append(int(np.argmax(score)))
                coef = np.linalg.lstsq(D[chosen].T, X[i], rcond=None)[0]
                r = X[i] - coef @ D[chosen]
            agree[rule] += set(chosen) == target
    return {rule: count / n_check for rule, count in agree.items()} | {"n_checked": n_check}


def summary_markdown(table, rule, info, threads) -> str:
    """The Speed page's verdict sentences, computed from the table (never typed by hand)."""
    def row(task, method_prefix, lib="sparsestudy"):
        sel = table[(table.task == task) & (table.library == lib)
                    & table.method.str.startswith(method_prefix)]
        return None if sel.empty else sel.iloc[0]

    lines = []
    for task, name, prefix in (("omp", "OMP", "omp (compiled)"),
                               ("lasso", "lasso", "lasso (compiled")):
        ours, spams = row(task, prefix), table[(table.task == task) & (table.library == "SPAMS")]
        sk = table[(table.task == task) & (table.library == "scikit-learn")]
        if ours is None:
            continue
        parts = [f"**{name}**: sparsestudy runs {ours.signals_per_s:,.0f} signals/s"]
        if not sk.empty:
            parts.append(f"{ours.x_sklearn:.1f}x scikit-learn")
        if not spams.empty:
            met = bool(ours.x_spams >= 1 and ours.equal_accuracy)
            parts.append(f"{ours.x_spams:.2f}x SPAMS ({spams.signals_per_s.max():,.0f}/s)")
            verdict = ("the goal (at least as fast as SPAMS at equal accuracy) is **met**" if met
                       else "the goal (at least as fast as SPAMS at equal accuracy) is "
                            "**not met**")
        else:
            verdict = "SPAMS is not installed, so the goal is not assessed"
        acc = "equal accuracy holds" if ours.equal_accuracy else "**equal accuracy fails**"
        torch_row = row(task, f"{task} (torch")
        extra = ""
        if torch_row is not None:
            extra = (f" The batched torch path (the GPU code, also usable on the CPU) runs "
                     f"{torch_row.signals_per_s:,.0f}/s here (slowed by the sleeping OpenMP "
                     f"threads: its every step is many small parallel operations).")
        lines.append(f"- {', '.join(parts)}; {acc}; {verdict}.{extra}")
    if rule:
        lines.append(
            f"- **SPAMS' `omp` is not standard OMP**: replaying both greedy rules on the first "
            f"{rule['n_checked']} signals, SPAMS' supports equal order-recursive matching "
            f"pursuit's (ORMP) on {100 * rule['ormp']:.0f}% of them and standard OMP's on "
            f"{100 * rule['omp']:.0f}%. ORMP picks the atom that most lowers the residual, so "
            f"its residual is lower for the same number of atoms (`rel_to_reference` < 0) and "
            f"each of its steps costs a little more; the OMP rows compare two different "
            f"algorithms at the accuracy standard OMP defines.")
    lines.append(f"- Measured with {threads} thread(s) for every library on: {info['cpu']}, "
                 f"{info['cores']} cores; torch {info['torch']}, SPAMS {info['spams']}.")
    return "\n".join(lines) + "\n"


def plot_sweep(df, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    knobs = [("n_samples", "signals per call (batch)"), ("n_atoms", "atoms"),
             ("k", "nonzeros per signal (k)"), ("threads", "threads (every library)")]
    knobs = [kn for kn in knobs if (df.knob == kn[0]).any()]
    fig, axes = plt.subplots(1, len(knobs), figsize=(4 * len(knobs), 3.6), sharey=True)
    style = {"sparsestudy": "-o", "SPAMS": "--s", "scikit-learn": ":^"}
    for ax, (knob, label) in zip(axes, knobs):
        sub = df[df.knob == knob]
        for (task, lib), g in sub.groupby(["task", "library"]):
            g = g.sort_values("value")
            ax.plot(g.value, g.signals_per_s, style.get(lib, "-"), label=f"{lib} {task}",
                    color="C0" if task == "omp" else "C1", alpha=1 if lib == "sparsestudy" else .7)
        ax.set_xscale("log", base=2)
        if knob == "threads":
            ax.set_xticks(sorted(sub.value.unique()), [str(v) for v in sorted(sub.value.unique())])
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=.3)
    axes[0].set_ylabel("signals / s (median)")
    axes[-1].legend(fontsize=8)
    base = df[df.knob == "k"].n_samples.iloc[0] if (df.knob == "k").any() else "?"
    fig.suptitle(f"Throughput as one knob moves from the base problem "
                 f"({base:,} x 64, 256 atoms, k = 8)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def machine() -> dict:
    import sklearn
    import torch
    info = dict(cpu=platform.processor() or "?", cores=os.cpu_count(),
                python=platform.python_version(), numpy=np.__version__,
                torch=torch.__version__, sklearn=sklearn.__version__)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version
        info["spams"] = version("spams-bin")
    except Exception:  # noqa: BLE001 - optional
        info["spams"] = "absent"
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--n-samples", type=int, default=None, help="signals (default 8000)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--book", action="store_true",
                   help="copy table.csv, sweep.csv, sweep.png and machine.txt to book/speed/")
    args = p.parse_args(argv)
    # Three OpenMP runtimes share the cores here (torch's, SPAMS' own copy, and its OpenBLAS');
    # by default each keeps its threads spinning for a while after a parallel region, which
    # steals the cores from whatever runs next, so interleaved timing would charge each method
    # for its predecessor's spinning. Every runtime is told to sleep at once instead; this must
    # happen before they load, and it changes timing only, not what runs.
    if "torch" in sys.modules or "spams" in sys.modules:
        warnings.warn("torch or spams is already loaded: OMP_WAIT_POLICY=PASSIVE has no effect")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args.n_samples = args.n_samples or (1000 if args.quick else 8000)
    repeats = args.repeats or (3 if args.quick else 5)

    import pandas as pd
    import torch
    torch.set_num_threads(args.threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()), f"threads={args.threads}")

    X, D = make_problem(args.n_samples)
    k, lam = 8, lasso_penalty(X, D)
    print(f"problem: {X.shape[0]} signals x {X.shape[1]}, {D.shape[0]} atoms, k={k}, "
          f"lasso lam={lam:.4f} (0.1 x mean max|Dx|); {repeats} interleaved rounds")
    rows, codes = run(X, D, k, lam, args.threads, repeats)
    acc = accuracy(X, D, lam, codes)
    table = summarise(rows, acc, args.n_samples)
    pd.DataFrame(rows).to_csv(args.out / "timings.csv", index=False)
    table.to_csv(args.out / "table.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:,.4g}".format):
        print(table[["task", "library", "method", "signals_per_s", "best_signals_per_s",
                     "x_sklearn", "x_spams", "rel_to_reference", "mean_nonzeros",
                     "equal_accuracy"]].to_string(index=False))
    rule = None
    if ("omp", "SPAMS", "omp") in codes:
        rule = selection_rule_check(X, D, codes[("omp", "SPAMS", "omp")], k)
        print(f"SPAMS omp supports: ORMP {rule['ormp']:.0%}, OMP {rule['omp']:.0%} "
              f"of {rule['n_checked']} signals")
    summary = summary_markdown(table, rule, info, args.threads)
    (args.out / "summary.md").write_text(summary)
    print(summary)
    (args.out / "machine.txt").write_text(
        "\n".join(f"{k}: {v}" for k, v in info.items()) + f"\nthreads: {args.threads}\n"
        f"n_samples: {args.n_samples}\nrepeats: {repeats}\nlasso_lam: {lam:.6g}\n"
        f"OMP_WAIT_POLICY: {os.environ.get('OMP_WAIT_POLICY')}\n")
    files = ["table.csv", "machine.txt", "summary.md"]
    if not args.no_sweep:
        print("sweep:")
        sw = pd.DataFrame(sweep(args, args.threads, repeats))
        sw.to_csv(args.out / "sweep.csv", index=False)
        plot_sweep(sw, args.out / "sweep.png")
        files += ["sweep.csv", "sweep.png"]
    if args.book:
        dest = ROOT / "book" / "speed"
        dest.mkdir(parents=True, exist_ok=True)
        book_table = table[["task", "library", "method", "signals_per_s", "x_sklearn", "x_spams",
                            "rel_to_reference", "mean_nonzeros", "equal_accuracy"]].copy()
        book_table["signals_per_s"] = book_table["signals_per_s"].round(-2).astype(int)
        for col in ("x_sklearn", "x_spams"):
            book_table[col] = book_table[col].round(2)
        book_table["rel_to_reference"] = book_table["rel_to_reference"].map(
            lambda v: "" if v is None or not np.isfinite(v) else f"{v:.1e}")
        book_table["mean_nonzeros"] = book_table["mean_nonzeros"].round(2)
        book_table.to_csv(dest / "table.csv", index=False)
        for name in files[1:]:
            shutil.copy(args.out / name, dest / name)
        print(f"copied to {dest}")
    print(f"results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

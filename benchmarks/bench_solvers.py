"""Time sparsestudy's solvers against scikit-learn and SPAMS, each library in its own process.

    python benchmarks/bench_solvers.py            # table, roofline and sweeps (about 10 min)
    python benchmarks/bench_solvers.py --quick    # a small smoke run
    python benchmarks/bench_solvers.py --book     # also regenerate book/speed/* for the page

The problem (issue 14's): ``n`` signals of 64 dimensions, each a sum of ``k = 8`` of 256
unit-norm random atoms with N(0, 1) weights, plus Gaussian noise of about 0.01 per entry, drawn
by :func:`sparsestudy.data.make_sparse_coding_problem` (noise as a signal-to-noise ratio over
the batch: ``10 log10(k / (n_features 0.01^2))`` dB). Two tasks:

* OMP with ``k`` atoms: sparsestudy ``omp``, scikit-learn ``sparse_encode(algorithm="omp")``,
  SPAMS ``omp`` (which is ORMP; see :func:`selection_rule_check`). Accuracy: mean residual
  energy relative to scikit-learn's (standard OMP); equal accuracy is within 0.1 % (or lower)
  with at most ``k`` atoms.
* the lasso ``0.5 ||x - zD||^2 + lam ||z||_1`` with ``lam = 0.1 * mean_i max_j |<d_j, x_i>|``:
  sparsestudy ``lasso`` (homotopy, certified by its duality gap), scikit-learn
  ``sparse_encode(algorithm="lasso_cd")``, SPAMS ``lasso`` (LARS, exact). Accuracy: mean
  objective within 1e-4 (relative) of SPAMS' exact path.

float64 is compared with float64; sparsestudy's float32 kernels (``X`` and ``D`` given in
float32) are reported in rows of their own.

**How it is timed.** The driver (this script) launches one worker process per library (this
script with ``--worker LIB``), loads the same problem into each, and then, round after round,
asks the workers in turn to run one method and report its time, so that a slow spell of the
machine hits every library alike and no library shares a process (or an OpenMP runtime) with
another. Only one worker computes at a time; the others wait on a pipe. Every library gets the
same number of threads. Each method is run once untimed first (compilation, caches). The table
reports the median over rounds as signals per second. SPAMS is timed up to its native (sparse)
output; converting it to a dense array is left out of its time, which favours SPAMS.

**Roofline.** For each sparsestudy solver, :func:`flops_per_signal` counts the floating-point
operations of its algorithm as implemented (the product ``D X^T``, the Gram matrix amortised
over the batch, the per-signal loop); the machine's peak (cores x clock x flops per cycle from
its vector units) over that count is the flop-limited rate, and the measured rate over it is the
fraction of the peak reached. The same count is applied to SPAMS (same algorithm class: OMP's
ORMP and LARS) for reference.

Results are tidy CSV files under ``benchmarks/results/`` (git-ignored). ``--book`` writes
``book/speed/``: ``table.csv``, ``roofline.csv``, ``sweep.csv``, ``sweep.png``,
``machine.txt``, ``summary.md`` (the page's computed sentences) and ``machines.csv`` (one row
per processor model the benchmark has run on; this run's row replaces that model's).
SPAMS and scikit-learn are optional; without them their rows are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOAL = 2.0                     # sparsestudy / SPAMS, at equal accuracy


# ------------------------------------------------------------------------------------ problem
def make_problem(n_samples: int, n_features: int = 64, n_atoms: int = 256, k: int = 8,
                 noise: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Signals ``X`` (n_samples, n_features) = k-sparse codes @ unit-norm ``D`` + noise, from
    :func:`sparsestudy.data.make_sparse_coding_problem`; ``noise`` is the noise's standard
    deviation per entry in expectation (``E |zD|^2 = k`` for unit atoms and N(0, 1) weights),
    turned into that function's batch signal-to-noise ratio."""
    from sparsestudy.data import make_sparse_coding_problem
    snr = None if noise == 0 else 10 * np.log10(k / (n_features * noise**2))
    p = make_sparse_coding_problem(n_samples, n_features, n_atoms, n_nonzero=k, snr_db=snr,
                                   seed=seed)
    return np.ascontiguousarray(p.X), np.ascontiguousarray(p.D)


def lasso_penalty(X: np.ndarray, D: np.ndarray, frac: float = 0.1) -> float:
    """The benchmark's penalty: ``frac`` times the mean over signals of ``max_j |<d_j, x>|``."""
    return float(frac * np.abs(X @ D.T).max(axis=1).mean())


# ------------------------------------------------------------------------------------ methods
LIBRARIES = ("sparsestudy", "SPAMS", "scikit-learn")


def method_names(lib: str, full: bool) -> list[tuple[str, str, str]]:
    """``(task, method, precision)`` of the methods a library's worker offers."""
    if lib == "sparsestudy":
        out = [("omp", "omp (compiled)", "float64"),
               ("lasso", "lasso (compiled path, gap<=1e-6)", "float64"),
               ("omp", "omp (compiled, float32)", "float32"),
               ("lasso", "lasso (compiled path, float32, gap<=1e-4)", "float32")]
        if full:
            out += [("omp", "omp (torch, batched)", "float64"),
                    ("lasso", "lasso (torch path, gap<=1e-6)", "float64"),
                    ("lasso", "fista (gap<=1e-4)", "float64")]
        return out
    if lib == "SPAMS":
        return [("omp", "omp", "float64"), ("lasso", "lasso (LARS)", "float64")]
    return [("omp", "sparse_encode omp", "float64"),
            ("lasso", "sparse_encode lasso_cd", "float64")]


def _callables(lib, X, D, k, lam, threads):
    """``{method: callable returning codes}`` inside a worker (the library is imported here)."""
    if lib == "sparsestudy":
        import torch

        from sparsestudy.solvers import fista, lasso, omp
        torch.set_num_threads(threads)
        X32, D32 = X.astype(np.float32), D.astype(np.float32)
        return {
            "omp (compiled)": lambda: omp(X, D, k).codes,
            "lasso (compiled path, gap<=1e-6)": lambda: lasso(X, D, lam, tol=1e-6).codes,
            "omp (compiled, float32)": lambda: omp(X32, D32, k).codes,
            "lasso (compiled path, float32, gap<=1e-4)":
                lambda: lasso(X32, D32, lam, tol=1e-4).codes,
            "omp (torch, batched)": lambda: omp(X, D, k, backend="torch").codes,
            "lasso (torch path, gap<=1e-6)":
                lambda: lasso(X, D, lam, tol=1e-6, backend="torch").codes,
            "fista (gap<=1e-4)": lambda: fista(X, D, lam, tol=1e-4, max_iter=20000).codes,
        }
    if lib == "SPAMS":
        import spams
        Xf, Df = np.asfortranarray(X.T), np.asfortranarray(D.T)
        return {"omp": lambda: spams.omp(Xf, Df, L=k, numThreads=threads),
                "lasso (LARS)": lambda: spams.lasso(Xf, Df, lambda1=lam, mode=2,
                                                    numThreads=threads)}
    from sklearn.decomposition import sparse_encode
    from threadpoolctl import threadpool_limits

    def sk(**kw):
        with threadpool_limits(threads):
            return sparse_encode(X, D, n_jobs=1, **kw)
    return {"sparse_encode omp": lambda: sk(algorithm="omp", n_nonzero_coefs=k),
            "sparse_encode lasso_cd": lambda: sk(algorithm="lasso_cd", alpha=lam, max_iter=5000)}


def _dense(Z) -> np.ndarray:
    """Codes as a dense (n_samples, n_atoms) float64 array (SPAMS returns atoms x signals)."""
    if hasattr(Z, "toarray"):
        return Z.toarray().T
    return np.asarray(Z, dtype=np.float64)


def worker(lib: str) -> int:
    """A worker's loop: JSON commands on stdin, one JSON answer per line on stdout."""
    out = sys.stdout
    sys.stdout = sys.stderr                           # libraries' prints must not hit the pipe
    fns = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "load":
                data = np.load(cmd["path"])
                fns = _callables(lib, data["X"], data["D"], int(cmd["k"]), float(cmd["lam"]),
                                 int(cmd["threads"]))
                ans = {"ok": True}
            elif cmd["cmd"] == "warm":
                fns[cmd["method"]]()
                ans = {"ok": True}
            elif cmd["cmd"] == "run":
                fn = fns[cmd["method"]]
                t0 = time.perf_counter()
                Z = fn()
                sec = time.perf_counter() - t0
                if cmd.get("save"):
                    np.save(cmd["save"], _dense(Z))
                ans = {"ok": True, "seconds": sec}
            elif cmd["cmd"] == "quit":
                break
            else:
                ans = {"ok": False, "error": f"unknown command {cmd['cmd']}"}
        except Exception as exc:  # noqa: BLE001 - reported to the driver
            ans = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    return 0


class Worker:
    """One library's worker process, driven through its pipes."""

    def __init__(self, lib: str, threads: int):
        env = dict(os.environ)
        # Each OpenMP runtime keeps its threads spinning after a parallel region by default;
        # the workers take turns, so they are told to sleep at once (timing only).
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        self.lib = lib
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--worker", lib], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.lib} worker died")
        ans = json.loads(line)
        if not ans.get("ok"):
            raise RuntimeError(f"{self.lib}: {ans.get('error')}")
        return ans

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def available(lib: str) -> bool:
    import importlib.util
    mod = {"sparsestudy": "sparsestudy", "SPAMS": "spams", "scikit-learn": "sklearn"}[lib]
    return importlib.util.find_spec(mod) is not None


def run(X, D, k, lam, threads, repeats, libraries=LIBRARIES, full=True, workdir=None,
        keep_codes=True):
    """Interleaved timing, one worker process per library. Returns one tidy row per (method,
    round) and the codes of the first round (dense, float64)."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="bench_solvers_"))
    tmp.mkdir(parents=True, exist_ok=True)
    np.savez(tmp / "problem.npz", X=X, D=D)
    libs = [lib for lib in libraries if available(lib)]
    workers = {lib: Worker(lib, threads) for lib in libs}
    rows, codes = [], {}
    try:
        plan = []
        for lib in libs:
            workers[lib].ask(cmd="load", path=str(tmp / "problem.npz"), k=k, lam=lam,
                             threads=threads)
            for task, method, prec in method_names(lib, full):
                plan.append((task, lib, method, prec))
        for _, lib, method, _ in plan:
            workers[lib].ask(cmd="warm", method=method)
        for rnd in range(repeats):
            order = plan if rnd % 2 == 0 else plan[::-1]   # alternate who goes first
            for task, lib, method, prec in order:
                save = None
                if rnd == 0 and keep_codes:
                    save = str(tmp / f"codes_{len(codes)}.npy")
                    codes[(task, lib, method)] = save
                ans = workers[lib].ask(cmd="run", method=method, save=save)
                rows.append(dict(task=task, library=lib, method=method, precision=prec,
                                 round=rnd, seconds=ans["seconds"]))
    finally:
        for w in workers.values():
            w.close()
    codes = {key: np.load(path) for key, path in codes.items()}
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, codes


# ------------------------------------------------------------------------------------ accuracy
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
    if "precision" not in df:
        df["precision"] = "float64"
    g = df.groupby(["task", "library", "method", "precision"], sort=False)["seconds"]
    t = pd.DataFrame({"median_s": g.median(), "best_s": g.min()}).reset_index()
    t["signals_per_s"] = n / t["median_s"]
    t["best_signals_per_s"] = n / t["best_s"]
    for col in ("rel_to_reference", "mean_nonzeros", "equal_accuracy"):
        t[col] = [acc[(a, b, c)][col] if (a, b, c) in acc else np.nan
                  for a, b, c in zip(t.task, t.library, t.method)]
    for lib, name in (("scikit-learn", "x_sklearn"), ("SPAMS", "x_spams")):
        ref = {task: t[(t.task == task) & (t.library == lib)]["signals_per_s"].max()
               for task in t.task.unique()}
        t[name] = [s / ref[task] if np.isfinite(ref.get(task, np.nan)) else np.nan
                   for s, task in zip(t.signals_per_s, t.task)]
    return t


# ------------------------------------------------------------------------------------ roofline
def flops_per_signal(task: str, n_features: int, n_atoms: int, k: float, n_samples: int,
                     steps: float | None = None) -> float:
    """Floating-point operations per signal of the algorithm as implemented (a multiply-add
    counts 2, a division, comparison or square root 1).

    Both: the correlations ``D x`` (``2 f a``) and the Gram matrix ``D D^T`` amortised over the
    batch (``2 a^2 f / n``). OMP (Batch-OMP by orthonormal directions), ``k`` steps: each step's
    argmax (``2 a``: |.| and compare); each but the last, the new direction's correlations and
    the residual's (``a (2 s + 3)`` at step ``s = 0..k-2``); the Cholesky rows and the final
    triangular solve (``~ k^3 / 3 + 2 k^2``). Lasso (LARS, ``T`` steps, ``m`` active atoms at
    step ``m``, up to ``k`` = the mean number of nonzeros): per step ``G[:, A] u`` (``2 a m``),
    the candidate step lengths and their minimum (``9 a``), the correlations' update
    (``2 a``), the solve ``G_AA u = sign`` (``2 m^2``); then the duality gap from the inner
    products (``2 a k + 4 a``)."""
    f, a, n = n_features, n_atoms, max(n_samples, 1)
    base = 2.0 * f * a + 2.0 * a * a * f / n
    if task == "omp":
        kk = int(round(k))
        loop = 2.0 * a * kk + sum(a * (2.0 * s + 3.0) for s in range(kk - 1))
        return base + loop + kk**3 / 3.0 + 2.0 * kk * kk
    T = int(round(steps if steps is not None else k + 1))
    loop = 0.0
    for s in range(1, T + 1):
        m = min(s, max(k, 1.0))
        loop += 2.0 * a * m + 11.0 * a + 2.0 * m * m
    return base + loop + 2.0 * a * k + 4.0 * a


def peak_flops(info: dict, threads: int, precision: str = "float64") -> float:
    """The machine's peak: ``threads`` cores x the clock (``cpu MHz``) x flops per cycle and
    core (two FMA units: 16 in float64 with AVX2, 32 with AVX-512; twice that in float32)."""
    flags = info.get("flags", "")
    width = 8 if "avx512f" in flags else 4 if "avx2" in flags or "avx" in flags else 2
    fma = 2 if "fma" in flags else 1
    per_cycle = 2 * width * fma                      # two vector units per core
    if precision == "float32":
        per_cycle *= 2
    return float(info.get("mhz") or 0) * 1e6 * per_cycle * min(threads, info.get("cores") or 1)


def roofline(table, info, threads, n_features, n_atoms, k, n_samples, lasso_steps, lasso_nnz):
    """One row per solver (sparsestudy's and SPAMS'; float64 and float32)."""
    import pandas as pd
    rows = []
    for rec in table.to_dict("records"):
        if rec["library"] not in ("sparsestudy", "SPAMS") or "torch" in rec["method"] \
                or rec["method"].startswith("fista"):
            continue
        task = rec["task"]
        flops = flops_per_signal(task, n_features, n_atoms, k if task == "omp" else lasso_nnz,
                                 n_samples, lasso_steps if task == "lasso" else None)
        peak = peak_flops(info, threads, rec["precision"])
        limit = peak / flops if peak else np.nan
        rows.append(dict(task=task, library=rec["library"], method=rec["method"],
                         precision=rec["precision"], flops_per_signal=round(flops),
                         peak_gflops=round(peak / 1e9, 1), flop_limited_per_s=limit,
                         measured_per_s=rec["signals_per_s"],
                         fraction_of_peak=rec["signals_per_s"] / limit if peak else np.nan))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ checks
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


# ------------------------------------------------------------------------------------ prose
def summary_markdown(table, rule, info, threads, roof=None) -> str:
    """The Speed page's verdict sentences, computed from the table (never typed by hand)."""
    def row(task, method_prefix, lib="sparsestudy"):
        sel = table[(table.task == task) & (table.library == lib)
                    & table.method.str.startswith(method_prefix)]
        return None if sel.empty else sel.iloc[0]

    cpu = info.get("cpu", "?")
    lines = []
    for task, name, prefix in (("omp", "OMP", "omp (compiled)"),
                               ("lasso", "lasso", "lasso (compiled path, gap")):
        ours, spams = row(task, prefix), table[(table.task == task) & (table.library == "SPAMS")]
        sk = table[(table.task == task) & (table.library == "scikit-learn")]
        if ours is None:
            continue
        parts = [f"**{name}** on {cpu}: sparsestudy runs {ours.signals_per_s:,.0f} signals/s "
                 f"(float64)"]
        if not sk.empty:
            parts.append(f"{ours.x_sklearn:.1f}x scikit-learn")
        if not spams.empty:
            met = bool(ours.x_spams >= GOAL and ours.equal_accuracy)
            parts.append(f"{ours.x_spams:.2f}x SPAMS ({spams.signals_per_s.max():,.0f}/s)")
            verdict = (f"the goal (at least {GOAL:g}x SPAMS at equal accuracy) is "
                       f"{'**met**' if met else '**not met**'} on this machine")
        else:
            verdict = "SPAMS is not installed, so the goal is not assessed"
        acc = "equal accuracy holds" if ours.equal_accuracy else "**equal accuracy fails**"
        extra = ""
        f32 = row(task, f"{task} (compiled, float32") if task == "omp" else \
            row(task, "lasso (compiled path, float32")
        if f32 is not None:
            extra += (f" In float32 it runs {f32.signals_per_s:,.0f}/s "
                      f"({f32.x_spams:.2f}x SPAMS' float64), and its accuracy "
                      f"{'meets' if f32.equal_accuracy else '**does not meet**'} the same rule"
                      f" (relative to the reference: {f32.rel_to_reference:.1e}).")
        if roof is not None and not roof.empty:
            r = roof[(roof.task == task) & (roof.library == "sparsestudy")
                     & (roof.precision == "float64")]
            if not r.empty:
                r = r.iloc[0]
                extra += (f" Its algorithm needs {r.flops_per_signal:,.0f} flops per signal, "
                          f"so this machine's peak ({r.peak_gflops:g} GFLOP/s on {threads} "
                          f"cores) allows {r.flop_limited_per_s:,.0f} signals/s: it reaches "
                          f"{100 * r.fraction_of_peak:.0f}% of that.")
        torch_row = row(task, f"{task} (torch")
        if torch_row is not None:
            extra += (f" The batched torch path (the GPU code) runs "
                      f"{torch_row.signals_per_s:,.0f}/s on this CPU.")
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
    lines.append(f"- Measured with {threads} thread(s) for every library, each library in its "
                 f"own process, on: {cpu}, {info['cores']} cores; torch {info.get('torch')}, "
                 f"SPAMS {info.get('spams')}. Other processors give other ratios: see the "
                 f"table of machines.")
    return "\n".join(lines) + "\n"


def machines_row(table, info, threads, commit):
    """This run's line of ``machines.csv``: the ratios to SPAMS on this processor."""
    def get(task, prefix, col):
        sel = table[(table.task == task) & (table.library == "sparsestudy")
                    & table.method.str.startswith(prefix)]
        return float(sel.iloc[0][col]) if not sel.empty else np.nan
    return dict(cpu=info["cpu"], cores=info["cores"], threads=threads,
                date=date.today().isoformat(), commit=commit,
                omp_per_s=round(get("omp", "omp (compiled)", "signals_per_s"), -2),
                omp_x_spams=round(get("omp", "omp (compiled)", "x_spams"), 2),
                lasso_per_s=round(get("lasso", "lasso (compiled path, gap", "signals_per_s"), -2),
                lasso_x_spams=round(get("lasso", "lasso (compiled path, gap", "x_spams"), 2),
                omp_f32_x_spams=round(get("omp", "omp (compiled, float32", "x_spams"), 2),
                lasso_f32_x_spams=round(get("lasso", "lasso (compiled path, float32", "x_spams"),
                                        2))


def update_machines(path: Path, new: dict):
    """Replace this processor model's row of ``machines.csv`` (or add it)."""
    import pandas as pd
    old = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(new))
    old = old[~((old["cpu"] == new["cpu"]) & (old["threads"] == new["threads"]))]
    out = pd.concat([old, pd.DataFrame([new])], ignore_index=True)
    out.to_csv(path, index=False)
    return out


# ------------------------------------------------------------------------------------ sweeps
def sweep(args, threads, repeats):
    """Signals/s of sparsestudy's compiled OMP and lasso and SPAMS' as one knob moves away
    from the base problem (atoms, nonzeros, batch size, threads), each library in its worker."""
    import pandas as pd
    base = dict(n_samples=args.n_samples, n_atoms=256, k=8, threads=threads)
    grid = {
        "n_atoms": [128, 256, 512, 1024] if not args.quick else [128, 256],
        "k": [1, 2, 4, 8, 16, 32] if not args.quick else [1, 8],
        "n_samples": [500, 2000, 8000, 32000] if not args.quick else [200, 800],
        "threads": sorted({1, threads}),
    }
    out = []
    for knob, values in grid.items():
        for v in values:
            cfg = dict(base, **{knob: v})
            X, D = make_problem(cfg["n_samples"], 64, cfg["n_atoms"], cfg["k"], 0.01, seed=1)
            lam = lasso_penalty(X, D)
            rows, codes = run(X, D, cfg["k"], lam, cfg["threads"], repeats,
                              libraries=("sparsestudy", "SPAMS"), full=False)
            rows = [r for r in rows if r["precision"] == "float64"]
            codes = {key: Z for key, Z in codes.items() if "float32" not in key[2]}
            acc = accuracy(X, D, lam, codes)
            t = summarise(rows, acc, cfg["n_samples"])
            for rec in t.to_dict("records"):
                out.append(dict(knob=knob, value=v, **cfg, **rec))
            print(f"  sweep {knob}={v}: " + ", ".join(
                f"{r['library']} {r['task']} {r['signals_per_s']:,.0f}/s" for r in
                t.to_dict("records")), flush=True)
    return pd.DataFrame(out)


def plot_sweep(df, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    knobs = [("n_atoms", "atoms"), ("k", "nonzeros per signal (k)"),
             ("n_samples", "signals per call (batch)"), ("threads", "threads (every library)")]
    knobs = [kn for kn in knobs if (df.knob == kn[0]).any()]
    fig, axes = plt.subplots(2, len(knobs), figsize=(4 * len(knobs), 6.4), sharex="col")
    style = {"sparsestudy": "-o", "SPAMS": "--s"}
    for col, (knob, label) in enumerate(knobs):
        sub = df[df.knob == knob]
        ax, axr = axes[0, col], axes[1, col]
        for (task, lib), g in sub.groupby(["task", "library"]):
            g = g.sort_values("value")
            ax.plot(g.value, g.signals_per_s, style.get(lib, "-"), label=f"{lib} {task}",
                    color="C0" if task == "omp" else "C1", alpha=1 if lib == "sparsestudy" else .7)
        for task, g in sub[sub.library == "sparsestudy"].groupby("task"):
            g = g.sort_values("value")
            axr.plot(g.value, g.x_spams, "-o", color="C0" if task == "omp" else "C1",
                     label=f"{task}: sparsestudy / SPAMS")
        axr.axhline(GOAL, color="k", lw=.8, ls=":")
        for a_ in (ax, axr):
            a_.set_xscale("log", base=2)
            a_.grid(True, which="both", alpha=.3)
        ax.set_yscale("log")
        axr.set_xlabel(label)
    axes[0, 0].set_ylabel("signals / s (median)")
    axes[1, 0].set_ylabel("ratio to SPAMS")
    axes[0, -1].legend(fontsize=7)
    axes[1, -1].legend(fontsize=7)
    fig.suptitle("Throughput as one knob moves from the base problem (64 dimensions, 256 atoms, "
                 "k = 8), each library in its own process", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ------------------------------------------------------------------------------------ machine
def machine() -> dict:
    import sklearn
    import torch
    info = dict(cpu=platform.processor() or "?", cores=os.cpu_count(),
                python=platform.python_version(), numpy=np.__version__,
                torch=torch.__version__, sklearn=sklearn.__version__, mhz=None, flags="")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if key == "model name" and info["cpu"] in ("?", platform.processor()):
                info["cpu"] = val
            elif key == "cpu MHz" and info["mhz"] is None:
                info["mhz"] = float(val)
            elif key == "flags" and not info["flags"]:
                info["flags"] = val
    except OSError:
        pass
    try:
        from importlib.metadata import version
        info["spams"] = version("spams-bin")
    except Exception:  # noqa: BLE001 - optional
        info["spams"] = "absent"
    return info


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except Exception:  # noqa: BLE001
        return "?"


def lasso_path_stats(X, D, lam):
    """Mean LARS steps and nonzeros per signal (for the roofline's flop count)."""
    import torch

    from sparsestudy import _compiled
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    Z, steps, _, _ = _compiled.lasso_codes(Xt, Dt, lam, False, 500, None, 1)
    return float(steps.mean()), float((Z != 0).sum(1).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--n-samples", type=int, default=None, help="signals (default 8000)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 7)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--book", action="store_true", help="regenerate book/speed/")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    t_start = time.perf_counter()
    args.n_samples = args.n_samples or (1000 if args.quick else 8000)
    repeats = args.repeats or (3 if args.quick else 7)

    import pandas as pd
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    load0 = os.getloadavg()
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items() if k != "flags"),
          f"threads={args.threads}; load average {load0[0]:.2f}")

    X, D = make_problem(args.n_samples)
    k, lam = 8, lasso_penalty(X, D)
    print(f"problem: {X.shape[0]} signals x {X.shape[1]}, {D.shape[0]} atoms, k={k}, "
          f"lasso lam={lam:.4f} (0.1 x mean max|Dx|); {repeats} interleaved rounds, one "
          f"process per library", flush=True)
    rows, codes = run(X, D, k, lam, args.threads, repeats, full=not args.quick)
    acc = accuracy(X, D, lam, codes)
    table = summarise(rows, acc, args.n_samples)
    steps, nnz = lasso_path_stats(X, D, lam)
    roof = roofline(table, info, args.threads, X.shape[1], D.shape[0], k, args.n_samples,
                    steps, nnz)
    pd.DataFrame(rows).to_csv(args.out / "timings.csv", index=False)
    table.to_csv(args.out / "table.csv", index=False)
    roof.to_csv(args.out / "roofline.csv", index=False)
    with pd.option_context("display.width", 220, "display.max_columns", 20,
                           "display.float_format", "{:,.4g}".format):
        print(table[["task", "library", "method", "signals_per_s", "best_signals_per_s",
                     "x_sklearn", "x_spams", "rel_to_reference", "mean_nonzeros",
                     "equal_accuracy"]].to_string(index=False))
        print(roof.to_string(index=False))
    rule = None
    if ("omp", "SPAMS", "omp") in codes:
        rule = selection_rule_check(X, D, codes[("omp", "SPAMS", "omp")], k)
        print(f"SPAMS omp supports: ORMP {rule['ormp']:.0%}, OMP {rule['omp']:.0%} "
              f"of {rule['n_checked']} signals")
    summary = summary_markdown(table, rule, info, args.threads, roof)
    (args.out / "summary.md").write_text(summary)
    print(summary)
    load1 = os.getloadavg()
    (args.out / "machine.txt").write_text(
        "\n".join(f"{k}: {v}" for k, v in info.items() if k != "flags")
        + f"\nthreads: {args.threads}\nn_samples: {args.n_samples}\nrepeats: {repeats}\n"
        f"lasso_lam: {lam:.6g}\nlasso steps/signal: {steps:.2f}\n"
        f"load average (1 min) before / after the table: {load0[0]:.2f} / {load1[0]:.2f}\n"
        f"processes: one per library (sparsestudy, SPAMS, scikit-learn), interleaved\n"
        f"OMP_WAIT_POLICY: PASSIVE\ncommit: {_commit()}\n")
    files = ["machine.txt", "summary.md", "roofline.csv"]
    if not args.no_sweep:
        print("sweep:", flush=True)
        sw = sweep(args, args.threads, max(3, repeats // 2))
        sw.to_csv(args.out / "sweep.csv", index=False)
        plot_sweep(sw, args.out / "sweep.png")
        files += ["sweep.csv", "sweep.png"]
    if args.book:
        dest = ROOT / "book" / "speed"
        dest.mkdir(parents=True, exist_ok=True)
        book_table = table[["task", "library", "method", "precision", "signals_per_s",
                            "x_sklearn", "x_spams", "rel_to_reference", "mean_nonzeros",
                            "equal_accuracy"]].copy()
        book_table["signals_per_s"] = book_table["signals_per_s"].round(-2).astype(int)
        for col in ("x_sklearn", "x_spams"):
            book_table[col] = book_table[col].round(2)
        book_table["rel_to_reference"] = book_table["rel_to_reference"].map(
            lambda v: "" if v is None or not np.isfinite(v) else f"{v:.1e}")
        book_table["mean_nonzeros"] = book_table["mean_nonzeros"].round(2)
        book_table.to_csv(dest / "table.csv", index=False)
        broof = roof.copy()
        for col in ("flop_limited_per_s", "measured_per_s"):
            broof[col] = broof[col].round(-3).astype(int)
        broof["fraction_of_peak"] = broof["fraction_of_peak"].map(lambda v: f"{100 * v:.1f}%")
        broof.to_csv(dest / "roofline.csv", index=False)
        for name in files:
            if name != "roofline.csv":
                shutil.copy(args.out / name, dest / name)
        update_machines(dest / "machines.csv", machines_row(table, info, args.threads,
                                                            _commit()))
        print(f"wrote {dest}")
    print(f"results in {args.out}; {time.perf_counter() - t_start:.0f} s in all")
    return 0


if __name__ == "__main__":
    if "torch" in sys.modules or "spams" in sys.modules:
        warnings.warn("torch or spams is already loaded in the driver")
    sys.exit(main())

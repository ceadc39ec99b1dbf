"""Time dictionary learning against scikit-learn and SPAMS, each library in its own process.

    python benchmarks/bench_dictlearn.py            # the Speed page's table (a few minutes)
    python benchmarks/bench_dictlearn.py --quick    # a small smoke run
    python benchmarks/bench_dictlearn.py --book     # also regenerate book/speed/dictlearn.*

The problem (issue 16's): 8x8 gray patches with the mean removed
(:func:`sparsestudy.data.sample_patches`), training patches from the scikit-image photographs,
held-out patches from scikit-learn's two (``china``, ``flower``); 256 atoms. The figure of merit
is the **time to reach the same held-out objective at the same sparsity**: the held-out
reconstruction error (mean squared error per pixel) of OMP codes with 5 nonzeros from each
learner's dictionary, computed for every learner by the same coder
(:func:`sparsestudy.solvers.omp`, rows normalised; scikit-learn's learner would code with
``transform_algorithm="omp"``, the same algorithm). The target is the best held-out error
scikit-learn's ``MiniBatchDictionaryLearning`` reaches in its run; each learner's time to
target is the training time of its first snapshot at or below it, and the table gives
scikit-learn's time over each learner's (``x_sklearn``; > 1 is faster than scikit-learn).

Learners (all from the same initial atoms, random training patches; mini-batches of 256;
``tol=0``, so no early stop). scikit-learn runs ``--passes`` passes over the training patches
and sets the target; every other learner gets ``PASS_FACTOR`` times as many passes to reach it
(its curve is cut where it first does, so the extra passes cost it nothing):

* sparsestudy ``OnlineDictionaryLearning`` with OMP-5 codes and with lasso codes, ``KSVD``
  (OMP-5);
* scikit-learn ``MiniBatchDictionaryLearning`` (``fit_algorithm="lars"``, its default);
* SPAMS ``trainDL`` with lasso codes (``mode=2``) and with at most 5 nonzeros (``mode=3``),
  when SPAMS is installed, continued pass by pass from its own model (``model=``).

The lasso penalty is the same for every lasso learner: the value at which the lasso codes of
1,000 training patches against the initial atoms have 5 nonzeros on average (bisection), so
the lasso learners train at about the sparsity they are judged at.

**How it is timed.** As in ``bench_solvers.py``: the driver starts one worker process per
library (this script with ``--worker LIB``) and asks them in turn to run one learner; only one
computes at a time. Each worker snapshots the dictionary at regular steps; the time spent
copying snapshots is not charged. Every library gets the same number of threads. Held-out
errors are computed afterwards by the driver. One round by default (``--repeats``): on a shared
machine the ratios are what to read, not the seconds.

Results: ``benchmarks/results/dictlearn_*.csv`` (git-ignored); ``--book`` writes
``book/speed/dictlearn.csv`` (the table), ``dictlearn_curves.csv``, ``dictlearn.png`` (error
against time) and ``dictlearn_summary.md`` (the page's computed sentences) and
``dictlearn_machine.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TRAIN_IMAGES = ["camera", "astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick"]
TEST_IMAGES = ["china", "flower"]
K_EVAL = 5
PASS_FACTOR = 4     # passes of the other learners per pass of scikit-learn's
LIBRARIES = ("sparsestudy", "scikit-learn", "SPAMS")


# ------------------------------------------------------------------------------------ problem
def make_problem(n_train: int, n_test: int, patch_size: int = 8, seed: int = 0):
    from sparsestudy.data import sample_patches
    Xtr = sample_patches(n_train, patch_size, images=TRAIN_IMAGES, remove_mean=True, seed=seed)
    Xte = sample_patches(n_test, patch_size, images=TEST_IMAGES, remove_mean=True,
                         seed=seed + 1)
    Xtr = Xtr[np.linalg.norm(Xtr, axis=1) > 1e-8]
    return np.ascontiguousarray(Xtr), np.ascontiguousarray(Xte)


def initial_atoms(X: np.ndarray, n_atoms: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    D = X[rng.permutation(len(X))[:n_atoms]]
    return np.ascontiguousarray(D / np.linalg.norm(D, axis=1, keepdims=True))


def matched_alpha(X: np.ndarray, D: np.ndarray, nonzeros: float = K_EVAL, n: int = 1000) -> float:
    """The lasso penalty at which the codes of ``X[:n]`` against ``D`` have ``nonzeros`` on
    average (bisection on a log scale)."""
    from sparsestudy.solvers import lasso
    Xs = X[:n]
    lo, hi = 1e-6, float(np.abs(Xs @ D.T).max())
    for _ in range(30):
        mid = np.sqrt(lo * hi)
        nnz = float((lasso(Xs, D, mid, tol=1e-6).codes != 0).sum(1).mean())
        lo, hi = (mid, hi) if nnz > nonzeros else (lo, mid)
    return float(np.sqrt(lo * hi))


def held_out_error(X: np.ndarray, D: np.ndarray, k: int = K_EVAL) -> float:
    """Mean squared error per pixel of the OMP-k codes of ``X`` (rows of ``D`` normalised;
    all-zero atoms, which SPAMS' lasso mode can leave, are dropped: they code nothing)."""
    from sparsestudy.solvers import omp
    norms = np.linalg.norm(D, axis=1)
    D = D[norms > 0] / norms[norms > 0, None]
    Z = omp(X, D, k).codes
    return float(np.mean((X - Z @ D) ** 2))


# ------------------------------------------------------------------------------------ methods
def method_names(lib: str, quick: bool) -> list[str]:
    if lib == "sparsestudy":
        return ["online, OMP-5 codes", "online, lasso codes", "K-SVD, OMP-5"]
    if lib == "SPAMS":
        return ["trainDL, lasso (mode=2)", "trainDL, L0 <= 5 (mode=3)"]
    return ["MiniBatchDictionaryLearning (lars)"]


class Snapshots:
    """Collects ``(training seconds, dictionary)`` pairs; its own time is not charged."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.excluded = 0.0
        self.items: list[tuple[float, np.ndarray]] = []

    def take(self, D):
        t = time.perf_counter()
        self.items.append((t - self.t0 - self.excluded, np.array(D, dtype=np.float64, copy=True)))
        self.excluded += time.perf_counter() - t


def _train(lib, method, X, D0, alpha, passes, every, threads):
    """Run one learner; returns its snapshots (the last one is the final dictionary)."""
    n_atoms, bs = D0.shape[0], 256
    snap = Snapshots()
    if lib == "sparsestudy":
        import torch

        from sparsestudy.dictlearn import KSVD, OnlineDictionaryLearning
        torch.set_num_threads(threads)
        if method.startswith("K-SVD"):
            est = KSVD(n_atoms, n_nonzero=K_EVAL, max_iter=passes, tol=0, seed=0,
                       callback=lambda step, D: snap.take(D))
        else:
            coder = "omp" if "OMP" in method else "lasso"
            est = OnlineDictionaryLearning(
                n_atoms, coder=coder, alpha=alpha, n_nonzero=K_EVAL, batch_size=bs,
                max_iter=passes, tol=0, seed=0,
                callback=lambda step, D: snap.take(D) if step % every == 0 else None)
        snap.t0 = time.perf_counter()
        est.fit(X)
        snap.take(est.components_)
    elif lib == "scikit-learn":
        from sklearn.decomposition import MiniBatchDictionaryLearning
        from threadpoolctl import threadpool_limits

        def cb(env):
            if (env["i"] + 1) % every == 0:
                snap.take(env["dictionary"])
        est = MiniBatchDictionaryLearning(
            n_components=n_atoms, alpha=alpha, batch_size=bs, max_iter=passes, tol=0,
            max_no_improvement=None, fit_algorithm="lars", transform_algorithm="omp",
            transform_n_nonzero_coefs=K_EVAL, dict_init=D0, random_state=0, callback=cb)
        with threadpool_limits(threads):
            snap.t0 = time.perf_counter()
            est.fit(X)
            snap.take(est.components_)
    else:
        import spams
        Xf = np.asfortranarray(X.T)
        D = np.asfortranarray(D0.T)
        steps_per_pass = max(1, len(X) // bs)
        model = None
        chunk = max(1, min(every, steps_per_pass))
        mode, lam = (2, alpha) if "lasso" in method else (3, float(K_EVAL))
        snap.t0 = time.perf_counter()
        for done in range(0, passes * steps_per_pass, chunk):
            D, model = spams.trainDL(Xf, return_model=True, model=model, D=D, K=n_atoms,
                                     lambda1=lam, lambda2=0.0 if mode == 2 else 1e-9,
                                     mode=mode, iter=chunk, batchsize=bs, numThreads=threads,
                                     verbose=False)
            snap.take(np.asarray(D).T)
    return snap.items


def worker(lib: str) -> int:
    out = sys.stdout
    sys.stdout = sys.stderr
    data = None
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "load":
                data = np.load(cmd["path"])
                ans = {"ok": True}
            elif cmd["cmd"] == "run":
                items = _train(lib, cmd["method"], data["X"], data["D0"], float(cmd["alpha"]),
                               int(cmd["passes"]), int(cmd["every"]), int(cmd["threads"]))
                np.savez(cmd["save"], seconds=np.array([t for t, _ in items]),
                         D=np.stack([D for _, D in items]))
                ans = {"ok": True, "seconds": items[-1][0]}
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
    def __init__(self, lib: str, threads: int):
        env = dict(os.environ)
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


def run(X, Xte, D0, alpha, passes, every, threads, repeats, quick, libraries=LIBRARIES):
    """One worker per library, learners in turn; returns one row per snapshot."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_dictlearn_"))
    np.savez(tmp / "problem.npz", X=X, D0=D0)
    libs = [lib for lib in libraries if available(lib)]
    workers = {lib: Worker(lib, threads) for lib in libs}
    rows = []
    try:
        plan = [(lib, m) for lib in libs for m in method_names(lib, quick)]
        for lib in libs:
            workers[lib].ask(cmd="load", path=str(tmp / "problem.npz"))
        for rnd in range(repeats):
            for lib, method in (plan if rnd % 2 == 0 else plan[::-1]):
                path = tmp / f"snap_{len(rows)}.npz"
                n_pass = passes if lib == "scikit-learn" else PASS_FACTOR * passes
                workers[lib].ask(cmd="run", method=method, alpha=alpha, passes=n_pass,
                                 every=every, threads=threads, save=str(path))
                snaps = np.load(path)
                for t, D in zip(snaps["seconds"], snaps["D"]):
                    rows.append(dict(library=lib, method=method, round=rnd, seconds=float(t),
                                     held_out_mse=held_out_error(Xte, D)))
                print(f"  {lib}: {method}: {snaps['seconds'][-1]:.1f} s, best held-out MSE "
                      f"{min(r['held_out_mse'] for r in rows if r['method'] == method):.3e}",
                      flush=True)
    finally:
        for w in workers.values():
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def summarise(curves):
    """Per learner: best held-out error, time to reach scikit-learn's best, ratio."""
    import pandas as pd
    sk = curves[curves.library == "scikit-learn"]
    target = float(sk.held_out_mse.min()) if not sk.empty else float(
        curves.groupby("method").held_out_mse.min().max())
    out = []
    for (lib, method), g in curves.groupby(["library", "method"], sort=False):
        per_round = []
        for _, r in g.groupby("round"):
            hit = r[r.held_out_mse <= target * (1 + 1e-12)]
            per_round.append(float(hit.seconds.min()) if not hit.empty else np.inf)
        out.append(dict(library=lib, method=method, best_held_out_mse=float(g.held_out_mse.min()),
                        best_psnr_db=10 * np.log10(1 / float(g.held_out_mse.min())),
                        total_s=float(g.groupby("round").seconds.max().median()),
                        time_to_target_s=float(np.median(per_round))))
    t = pd.DataFrame(out)
    ref = t[t.library == "scikit-learn"].time_to_target_s
    ref = float(ref.iloc[0]) if not ref.empty else np.nan
    t["x_sklearn"] = [ref / s if np.isfinite(s) and s > 0 else 0.0 for s in t.time_to_target_s]
    return t, target


def summary_markdown(table, target, info, threads, passes, n_train, load):
    lines = []
    sk = table[table.library == "scikit-learn"]
    ours = table[table.library == "sparsestudy"]
    best = ours.sort_values("time_to_target_s").iloc[0] if not ours.empty else None
    if best is not None and not sk.empty:
        reached = np.isfinite(best.time_to_target_s)
        lines.append(
            f"- **Time to scikit-learn's best held-out error** (OMP-5 codes, mean squared error "
            f"{target:.3e} per pixel, PSNR {10 * np.log10(1 / target):.2f} dB), on {info['cpu']}"
            f" with {threads} thread(s) per library: scikit-learn's `MiniBatchDictionaryLearning` "
            f"needs {float(sk.time_to_target_s.iloc[0]):.1f} s; the fastest sparsestudy learner, "
            + (f"{best.method}, {best.time_to_target_s:.1f} s, **{best.x_sklearn:.1f}x** "
               "scikit-learn" if reached else "none reaches it") + ".")
        for r in ours.itertuples():
            if r.method != best.method:
                lines.append(f"- sparsestudy {r.method}: " + (
                    f"{r.time_to_target_s:.1f} s, {r.x_sklearn:.1f}x scikit-learn"
                    if np.isfinite(r.time_to_target_s) else "does not reach the target")
                    + f"; best held-out PSNR {r.best_psnr_db:.2f} dB.")
    for r in table[table.library == "SPAMS"].itertuples():
        lines.append(f"- SPAMS {r.method}: " + (
            f"{r.time_to_target_s:.1f} s, {r.x_sklearn:.1f}x scikit-learn"
            if np.isfinite(r.time_to_target_s) else "does not reach the target in its run")
            + f"; best held-out PSNR {r.best_psnr_db:.2f} dB.")
    lines.append(f"- scikit-learn ran {passes} passes over {n_train:,} training patches, the "
                 f"others up to {PASS_FACTOR * passes}; each library in its own process, one "
                 f"after the other. The machine was shared "
                 f"(load average {load[0]:.1f} before, {load[1]:.1f} after, on "
                 f"{info['cores']} cores): read the ratios, not the seconds.")
    return "\n".join(lines) + "\n"


def plot_curves(curves, target, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for i, ((lib, method), g) in enumerate(curves[curves["round"] == 0].groupby(
            ["library", "method"], sort=False)):
        g = g.sort_values("seconds")
        ax.plot(g.seconds, 10 * np.log10(1 / g.held_out_mse), marker="o", ms=2.5,
                label=f"{lib}: {method}", ls="-" if lib == "sparsestudy" else "--", color=f"C{i}")
    ax.axhline(10 * np.log10(1 / target), color="k", lw=0.8, ls=":",
               label="target: scikit-learn's best")
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, this machine, shared)")
    ax.set_ylabel("held-out PSNR, OMP-5 codes (dB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    fig.savefig(path, dpi=110)


def machine():
    import platform
    info = dict(cpu=platform.processor() or "?", cores=os.cpu_count())
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n-train", type=int, default=None, help="training patches (default 10000)")
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--passes", type=int, default=None,
                   help="scikit-learn's passes (default 3; the others PASS_FACTOR times more)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--book", action="store_true")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    import pandas as pd
    t_start = time.perf_counter()
    n_train = args.n_train or (3000 if args.quick else 10000)
    passes = args.passes or (1 if args.quick else 3)
    X, Xte = make_problem(n_train, args.n_test if not args.quick else 1000)
    D0 = initial_atoms(X, args.atoms)
    alpha = matched_alpha(X, D0)
    steps_per_pass = len(X) // 256
    every = max(1, steps_per_pass // 8)
    info = machine()
    load0 = os.getloadavg()
    print(f"problem: {len(X)} training and {len(Xte)} held-out 8x8 patches, {args.atoms} atoms, "
          f"lasso alpha {alpha:.4g} (5 nonzeros at the start), {passes} passes (scikit-learn), "
          f"snapshot every "
          f"{every} steps; load {load0[0]:.1f}", flush=True)
    rows = run(X, Xte, D0, alpha, passes, every, args.threads, args.repeats, args.quick)
    load1 = os.getloadavg()
    curves = pd.DataFrame(rows)
    table, target = summarise(curves)
    args.out.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.out / "dictlearn_curves.csv", index=False)
    table.to_csv(args.out / "dictlearn.csv", index=False)
    summary = summary_markdown(table, target, info, args.threads, passes, len(X),
                               (load0[0], load1[0]))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(summary)
    if args.book:
        dest = ROOT / "book" / "speed"
        dest.mkdir(parents=True, exist_ok=True)
        bt = table.copy()
        bt["best_held_out_mse"] = bt.best_held_out_mse.map(lambda v: f"{v:.4e}")
        for col in ("best_psnr_db", "total_s", "time_to_target_s", "x_sklearn"):
            bt[col] = bt[col].map(lambda v: "not reached" if not np.isfinite(v) else f"{v:.2f}")
        bt.loc[bt.time_to_target_s == "not reached", "x_sklearn"] = "—"
        bt.to_csv(dest / "dictlearn.csv", index=False)
        curves.to_csv(dest / "dictlearn_curves.csv", index=False)
        (dest / "dictlearn_summary.md").write_text(summary)
        plot_curves(curves, target, dest / "dictlearn.png")
        (dest / "dictlearn_machine.txt").write_text(
            f"cpu: {info['cpu']}\ncores: {info['cores']}\nthreads per library: {args.threads}\n"
            f"training patches: {len(X)}\nheld-out patches: {len(Xte)}\natoms: {args.atoms}\n"
            f"passes: {passes} (scikit-learn), {PASS_FACTOR * passes} (the others)\nlasso alpha: {alpha:.6g}\nrounds: {args.repeats}\n"
            f"load average (1 min) before / after: {load0[0]:.2f} / {load1[0]:.2f}\n")
        print(f"wrote {dest}")
    print(f"{time.perf_counter() - t_start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

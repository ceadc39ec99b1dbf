"""Where the time of the compiled OMP and LARS kernels goes: a cycle-counter profile.

    python benchmarks/profile_kernels.py [--n 8000] [--atoms 256] [--k 8] [--threads 2]

Two parts:

1. **One call, end to end** (wall clock, median of rounds): how ``omp`` / ``lasso`` split into
   input checks and copies, the two products (``G = D D^T``, the correlations ``X D^T``), the
   compiled kernel on one thread and on ``--threads`` threads (the difference from a perfect
   split is the thread hand-off and the imbalance), and the duality-gap certificate (lasso).
2. **Inside the per-signal kernel** (TSC cycles, one thread): instrumented copies of the
   *per-signal* kernels as they were before issue 14's rewrite (commit e1ca600, the
   ``omp_gram`` / ``lars_gram`` as they were), each phase bracketed by ``rdtsc``
   (``llvm.readcyclecounter``); the counter's own cost is measured and subtracted. The phases:
   OMP — argmax, Cholesky append, Cholesky solve (+ residual energy), correlation update
   (``alpha = A0 - G[I]^T gamma``), the rest (copy-in, write-out); LARS — Cholesky
   (append/solve/rebuild), direction correlations (``G[:, A] u``), candidate step lengths (the
   divisions), the minima, the update (``coef``, ``c``), the rest. It also profiles the
   current kernels of :mod:`sparsestudy._compiled` end to end (part 1).

The instrumented copies are for measurement only; the library never runs them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


@intrinsic
def rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.readcyclecounter",
                                              fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])
    return types.int64(), codegen


_J = dict(nogil=True, cache=False, error_model="numpy")
_I = dict(_J, inline="always")


@njit(**_I)
def _chol_append(L, m, G, act, j, w):  # pragma: no cover
    eps = np.finfo(L.dtype).eps
    gjj = G[j, j]
    d2 = gjj
    for p in range(m):
        acc = G[act[p], j]
        for q in range(p):
            acc -= L[p, q] * w[q]
        w[p] = acc / L[p, p]
        d2 -= w[p] * w[p]
    if not d2 > eps * gjj * 10:
        return False
    for p in range(m):
        L[m, p] = w[p]
    L[m, m] = math.sqrt(d2)
    return True


@njit(**_I)
def _chol_solve(L, m, b, y, out):  # pragma: no cover
    for p in range(m):
        acc = b[p]
        for q in range(p):
            acc -= L[p, q] * y[q]
        y[p] = acc / L[p, p]
    for p in range(m - 1, -1, -1):
        acc = y[p]
        for q in range(p + 1, m):
            acc -= L[q, p] * out[q]
        out[p] = acc / L[p, p]


@njit(**_I)
def _add_rows(G, act, m, coef, subtract, out):  # pragma: no cover
    a = out.shape[0]
    for p in range(m):
        g = coef[p]
        row = G[act[p]]
        if subtract:
            for t in range(a):
                out[t] -= g * row[t]
        else:
            for t in range(a):
                out[t] += g * row[t]


@njit(**_J)
def rdtsc_cost(n):  # pragma: no cover
    best = 1 << 62
    for _ in range(n):
        t0 = rdtsc()
        t1 = rdtsc()
        best = min(best, t1 - t0)
    return best


@njit(**_J)
def omp_profiled(A0, G, xnorm2, k, codes, clk):  # pragma: no cover
    """The pre-rewrite ``omp_gram`` (fixed k), phases timed into ``clk``:
    0 argmax, 1 Cholesky append, 2 solve + energy, 3 correlation update, 4 rest;
    clk[5] counts the timer reads."""
    a = G.shape[0]
    eps = np.finfo(A0.dtype).eps
    L = np.zeros((k, k), dtype=A0.dtype)
    w = np.empty(k, dtype=A0.dtype)
    y = np.empty(k, dtype=A0.dtype)
    rhs = np.empty(k, dtype=A0.dtype)
    gamma = np.empty(k, dtype=A0.dtype)
    alpha = np.empty(a, dtype=A0.dtype)
    sel = np.empty(k, dtype=np.int64)
    for i in range(A0.shape[0]):
        t0 = rdtsc()
        a0 = A0[i]
        for t in range(a):
            alpha[t] = a0[t]
        e = xnorm2[i]
        floor = eps * math.sqrt(max(e, 0.0)) * 10
        n = 0
        t1 = rdtsc()
        clk[4] += t1 - t0
        for s in range(k):
            t0 = rdtsc()
            best = -1.0
            j = 0
            for t in range(a):
                v = abs(alpha[t])
                if v > best:
                    best = v
                    j = t
            t1 = rdtsc()
            clk[0] += t1 - t0
            if not best > floor:
                break
            ok = _chol_append(L, s, G, sel, j, w)
            t2 = rdtsc()
            clk[1] += t2 - t1
            if not ok:
                break
            sel[s] = j
            rhs[s] = a0[j]
            n = s + 1
            _chol_solve(L, n, rhs, y, gamma)
            e = xnorm2[i]
            for p in range(n):
                e -= gamma[p] * rhs[p]
            t3 = rdtsc()
            clk[2] += t3 - t2
            if n < k:
                for t in range(a):
                    alpha[t] = a0[t]
                _add_rows(G, sel, n, gamma, True, alpha)
            t4 = rdtsc()
            clk[3] += t4 - t3
            clk[5] += 4
        t0 = rdtsc()
        for p in range(n):
            codes[i, sel[p]] = gamma[p]
        clk[4] += rdtsc() - t0
        clk[5] += 2
    return 0


@njit(**_J)
def lars_profiled(A0, G, alpha, max_iter, cap, codes, clk):  # pragma: no cover
    """The pre-rewrite ``lars_gram`` (signed), phases timed into ``clk``: 0 Cholesky
    (append, solve, rebuild), 1 direction correlations ``G[:, A] u``, 2 candidate steps,
    3 minima, 4 update, 5 rest; clk[6] counts the timer reads, clk[7] the steps."""
    a = G.shape[0]
    eps = np.finfo(A0.dtype).eps
    inf = np.inf
    c = np.empty(a, dtype=A0.dtype)
    av = np.empty(a, dtype=A0.dtype)
    blocked = np.zeros(a, dtype=A0.dtype)
    gbuf = np.empty(a, dtype=A0.dtype)
    L = np.zeros((cap, cap), dtype=A0.dtype)
    act = np.empty(cap, dtype=np.int64)
    sgn = np.empty(cap, dtype=A0.dtype)
    coef = np.empty(cap, dtype=A0.dtype)
    u = np.empty(cap, dtype=A0.dtype)
    y = np.empty(cap, dtype=A0.dtype)
    w = np.empty(cap, dtype=A0.dtype)
    for i in range(A0.shape[0]):
        t0 = rdtsc()
        a0 = A0[i]
        lam = -inf
        j = 0
        for t in range(a):
            c[t] = a0[t]
            blocked[t] = 0.0
            v = abs(c[t])
            if v > lam:
                lam = v
                j = t
        m = 0
        steps = 0
        join = lam > alpha
        if not join:
            lam = alpha
        clk[5] += rdtsc() - t0
        clk[6] += 2
        while lam > alpha and steps < max_iter:
            t0 = rdtsc()
            if join:
                if m == cap or not _chol_append(L, m, G, act, j, w):
                    break
                act[m] = j
                sgn[m] = 1.0 if c[j] >= 0 else -1.0
                coef[m] = 0.0
                blocked[j] = inf
                m += 1
            _chol_solve(L, m, sgn, y, u)
            t1 = rdtsc()
            clk[0] += t1 - t0
            for t in range(a):
                av[t] = 0.0
            _add_rows(G, act, m, u, False, av)
            t2 = rdtsc()
            clk[1] += t2 - t1
            tiny = eps * 100 * max(lam, 1.0)
            for t in range(a):
                g = (lam - c[t]) / (1.0 - av[t])
                g = g if g > tiny else inf
                h = (lam + c[t]) / (1.0 + av[t])
                h = h if h > tiny else inf
                gbuf[t] = max(min(g, h), blocked[t])
            t3 = rdtsc()
            clk[2] += t3 - t2
            gj = inf
            jn = -1
            for t in range(a):
                if gbuf[t] < gj:
                    gj = gbuf[t]
                    jn = t
            gd = inf
            pd = -1
            for p in range(m):
                g = -coef[p] / u[p]
                if g > 0 and g < gd:
                    gd = g
                    pd = p
            g_end = lam - alpha
            step = min(min(gj, gd), g_end)
            t4 = rdtsc()
            clk[3] += t4 - t3
            for p in range(m):
                coef[p] += step * u[p]
            for t in range(a):
                c[t] -= step * av[t]
            steps += 1
            t5 = rdtsc()
            clk[4] += t5 - t4
            clk[6] += 6
            clk[7] += 1
            if g_end <= min(gj, gd):
                lam = alpha
                break
            lam -= step
            if gd <= gj:
                t0 = rdtsc()
                blocked[act[pd]] = 0.0
                for p in range(pd, m - 1):
                    act[p] = act[p + 1]
                    sgn[p] = sgn[p + 1]
                    coef[p] = coef[p + 1]
                m -= 1
                rebuilt = True
                for p in range(m):
                    rebuilt = rebuilt and _chol_append(L, p, G, act, act[p], w)
                clk[0] += rdtsc() - t0
                clk[6] += 2
                if not rebuilt:
                    break
                join = m == 0
                if join:
                    best = -inf
                    for t in range(a):
                        v = abs(c[t])
                        if v > best:
                            best = v
                            j = t
            else:
                j = jn
                join = True
        t0 = rdtsc()
        for p in range(m):
            codes[i, act[p]] = coef[p]
        clk[5] += rdtsc() - t0
        clk[6] += 2
    return 0


def _median_time(fn, rounds):
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def end_to_end(X, D, k, lam, threads, rounds):
    """Wall-clock split of one ``omp`` / ``lasso`` call (seconds per call, medians)."""
    import torch

    from sparsestudy import _compiled
    from sparsestudy.solvers import _relative_gap, lasso, omp
    torch.set_num_threads(threads)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    out = {}
    out["omp: whole call"] = _median_time(lambda: omp(X, D, k), rounds)
    out["lasso: whole call"] = _median_time(lambda: lasso(X, D, lam, tol=1e-6), rounds)
    with _compiled._one_blas_thread():
        out["product X D^T, whole batch, 1 BLAS thread"] = _median_time(lambda: X @ D.T, rounds)
    out[f"product X D^T, whole batch, {threads} BLAS threads"] = _median_time(
        lambda: X @ D.T, rounds)
    out["dense code array (zeros)"] = _median_time(
        lambda: np.zeros((X.shape[0], D.shape[0])), rounds)
    Z = lasso(X, D, lam).codes
    Zt = torch.from_numpy(Z)
    out["lasso: a direct duality-gap certificate (not run)"] = _median_time(
        lambda: _relative_gap(Xt, Dt, Zt, lam, False), rounds)
    G = (Dt @ Dt.T).numpy()
    A0 = torch.mm(Xt, Dt.T).numpy()
    xn2 = (X * X).sum(1)
    n, a = X.shape[0], D.shape[0]
    task = _compiled._task_size(a)
    mask = _compiled._sign_mask(A0.dtype)

    def kern(kind, nt):  # on precomputed correlations A0 (the library computes them per task)
        Z = np.zeros((n, a))
        if kind == "omp":
            _compiled.run_blocks(_compiled.omp_gram, n, nt, A0, G, xn2, k, 0.0, False, Z,
                                 np.zeros(n, np.int64), np.zeros(n), mask, task=task)
        else:
            _compiled.run_blocks(_compiled.lars_gram, n, nt, A0, G, xn2, lam, False, 500,
                                 min(D.shape), Z, np.zeros(n, np.int64), np.zeros((n, 3)),
                                 mask, task=task)

    for kind in ("omp", "lasso"):
        for nt in sorted({1, threads}):
            out[f"{kind}: kernel alone (incl. code array), {nt} thread(s)"] = _median_time(
                lambda: kern(kind, nt), rounds)
        out[f"{kind}: empty tasks through the pool, {threads} threads"] = _median_time(
            lambda: _compiled.run_blocks(lambda *args: None, n, threads, task=task), rounds)
    return out


def inside(X, D, k, lam):
    """Cycles per signal in each phase of the pre-rewrite kernels (one thread)."""
    G = D @ D.T
    A0 = X @ D.T
    xn2 = (X * X).sum(1)
    cost = rdtsc_cost(1000)
    res = {}
    for name, fn, nclk, labels in (
            ("OMP", lambda Z, clk: omp_profiled(A0, G, xn2, k, Z, clk), 6,
             ["argmax", "Cholesky append", "Cholesky solve + energy", "correlation update",
              "copy-in, write-out"]),
            ("LARS", lambda Z, clk: lars_profiled(A0, G, lam, 500, min(D.shape), Z, clk), 8,
             ["Cholesky append/solve/rebuild", "direction correlations G[:, A] u",
              "candidate step lengths (divisions)", "minima", "update coef, c",
              "copy-in, write-out"])):
        fn(np.zeros((X.shape[0], D.shape[0])), np.zeros(nclk, np.int64))     # compile
        best = None
        for _ in range(5):
            Z = np.zeros((X.shape[0], D.shape[0]))
            clk = np.zeros(nclk, np.int64)
            t0 = time.perf_counter()
            fn(Z, clk)
            wall = time.perf_counter() - t0
            if best is None or clk[:len(labels)].sum() < best[0][:len(labels)].sum():
                best = (clk, wall)
        clk, wall = best
        n = X.shape[0]
        # each timed phase carries one counter read: subtract it
        per = {lab: max(0.0, (clk[i] / n) - cost * clk[len(labels)] / n / len(labels))
               for i, lab in enumerate(labels)}
        res[name] = dict(phases=per, wall_per_signal_s=wall / n, rdtsc_cycles=cost,
                         steps_per_signal=(clk[7] / n if name == "LARS" else k))
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=8000)
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", type=Path, help="also write the report to this file")
    args = p.parse_args(argv)
    lines = []

    def say(text=""):                              # the report goes to stdout and to --out
        lines.append(text)
        print(text)

    from bench_solvers import lasso_penalty, make_problem
    X, D = make_problem(args.n, 64, args.atoms, args.k)
    lam = lasso_penalty(X, D)
    say(f"{args.n} signals x 64, {args.atoms} atoms, k={args.k}; load {os.getloadavg()}")
    res = inside(X, D, args.k, lam)
    for name, r in res.items():
        tot = sum(r["phases"].values())
        say(f"\n{name} (pre-rewrite per-signal kernel, 1 thread): {tot:,.0f} cycles/signal "
              f"timed, {r['wall_per_signal_s'] * 1e6:.2f} us/signal wall with the timers, "
              f"{r['steps_per_signal']:.2f} steps/signal; rdtsc costs {r['rdtsc_cycles']} cycles")
        for lab, cyc in r["phases"].items():
            say(f"  {lab:40s} {cyc:9,.0f} cycles  {100 * cyc / tot:5.1f} %")
    say(f"\nend to end (ms per call of {args.n} signals, medians):")
    try:
        for lab, sec in end_to_end(X, D, args.k, lam, args.threads, args.rounds).items():
            say(f"  {lab:45s} {sec * 1e3:8.2f} ms  ({args.n / sec:,.0f} signals/s)")
    except AttributeError as exc:
        say(f"  (skipped: {exc})")
    if args.out is not None:
        from bench_solvers import machine
        m = machine()
        lines.insert(0, f"processor: {m['cpu']}, {m['cores']} cores, {args.threads} threads; "
                        f"numpy {m['numpy']}, torch {m['torch']}")
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

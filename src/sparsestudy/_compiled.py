r"""Compiled per-signal kernels for the CPU: Gram-based OMP and the LARS-lasso path.

The batched torch solvers in :mod:`sparsestudy.solvers` move every sample one step per tensor
operation; on a CPU the many small operations per step cost more than the arithmetic. Here each
signal runs its whole loop in compiled code (numba), on precomputed inner products only:
``G = D D^T`` (atoms x atoms) and ``A0 = X D^T`` (the signals' correlations with the atoms), so
the feature dimension never enters the loop (Rubinstein, Zibulevsky & Elad 2008, "Batch-OMP").
Signals are independent, so a block of rows is one call with the GIL released, and
:func:`run_blocks` spreads the blocks over threads. Every signal's arithmetic is the same
whatever the block sizes, so the codes do not depend on the number of threads.

Both kernels write into a zero-initialised dense code array and return per-signal counters.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, error_model="numpy")
def omp_gram(A0, G, xnorm2, k, tol, use_tol, codes, n_sel, energy, start, stop):  # pragma: no cover
    """Batch-OMP (Cholesky form) for rows ``start:stop``.

    Per signal: pick ``j = argmax |alpha|``; grow the Cholesky factor ``L`` of the selected
    atoms' Gram matrix by one row (forward substitution); solve ``L L^T gamma = A0[I]``; the
    residual's correlations are ``alpha = A0 - G[I]^T gamma`` and its energy
    ``|x|^2 - gamma . A0[I]``. Stops at ``k`` atoms, at ``energy <= tol`` (``use_tol``), when
    the residual is orthogonal to every atom, or when the next atom is linearly dependent on
    the selected ones (the same guards as the torch path).
    """
    a = G.shape[0]
    eps = np.finfo(A0.dtype).eps
    L = np.zeros((k, k), dtype=A0.dtype)
    w = np.empty(k, dtype=A0.dtype)
    y = np.empty(k, dtype=A0.dtype)
    gamma = np.empty(k, dtype=A0.dtype)
    alpha = np.empty(a, dtype=A0.dtype)
    sel = np.empty(k, dtype=np.int64)
    for i in range(start, stop):
        a0 = A0[i]
        for t in range(a):
            alpha[t] = a0[t]
        e = xnorm2[i]
        floor = eps * math.sqrt(max(e, 0.0)) * 10
        n = 0
        if not (use_tol and e <= tol):
            for s in range(k):
                best = -1.0
                j = 0
                for t in range(a):
                    v = abs(alpha[t])
                    if v > best:
                        best = v
                        j = t
                if not best > floor:                   # residual orthogonal to every atom
                    break
                gjj = G[j, j]
                if s == 0:
                    L[0, 0] = math.sqrt(gjj)
                else:
                    d2 = gjj
                    for p in range(s):                 # L[:s, :s] w = G[I, j]
                        acc = G[sel[p], j]
                        for q in range(p):
                            acc -= L[p, q] * w[q]
                        w[p] = acc / L[p, p]
                        d2 -= w[p] * w[p]
                    if not d2 > eps * gjj * 10:        # linearly dependent on the selection
                        break
                    for p in range(s):
                        L[s, p] = w[p]
                    L[s, s] = math.sqrt(d2)
                sel[s] = j
                n = s + 1
                for p in range(n):                     # L y = A0[I]
                    acc = a0[sel[p]]
                    for q in range(p):
                        acc -= L[p, q] * y[q]
                    y[p] = acc / L[p, p]
                for p in range(n - 1, -1, -1):         # L^T gamma = y
                    acc = y[p]
                    for q in range(p + 1, n):
                        acc -= L[q, p] * gamma[q]
                    gamma[p] = acc / L[p, p]
                e = xnorm2[i]
                for p in range(n):
                    e -= gamma[p] * a0[sel[p]]
                if use_tol and e <= tol:
                    break
                if s + 1 < k:
                    for t in range(a):
                        alpha[t] = a0[t]
                    for p in range(n):
                        g = gamma[p]
                        row = G[sel[p]]
                        for t in range(a):
                            alpha[t] -= g * row[t]
        for p in range(n):
            codes[i, sel[p]] = gamma[p]
        n_sel[i] = n
        energy[i] = e
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def _cholesky_rebuild(G, act, m, L):  # pragma: no cover
    """Cholesky factor of ``G[act[:m]][:, act[:m]]`` into ``L[:m, :m]``; False if not positive
    definite to working precision."""
    eps = np.finfo(G.dtype).eps
    for p in range(m):
        for q in range(p + 1):
            acc = G[act[p], act[q]]
            for r in range(q):
                acc -= L[p, r] * L[q, r]
            if p == q:
                if not acc > eps * G[act[p], act[p]] * 10:
                    return False
                L[p, p] = math.sqrt(acc)
            else:
                L[p, q] = acc / L[q, q]
    return True


@njit(nogil=True, cache=True, error_model="numpy")
def lars_gram(A0, G, alpha, nonneg, max_iter, cap, codes, n_steps, start, stop):  # pragma: no cover
    r"""The LARS-lasso homotopy path from ``lambda = max |A0|`` down to ``alpha``, rows
    ``start:stop``.

    State per signal: the active atoms ``act``, their signs and codes, the Cholesky factor of
    their Gram matrix, and ``c = A0 - G z`` (the residual's correlations). Each step solves
    ``G_AA u = sign`` and moves along ``u`` until an inactive atom's correlation reaches
    ``+-lambda`` (it joins), an active code crosses zero (it drops: the lasso modification),
    or ``lambda`` reaches ``alpha``. Joins grow the factor by one row; drops rebuild it. At
    most ``cap`` atoms are active (``min(n_atoms, n_features)``); a sample whose next atom
    would make the active Gram matrix singular stops there, and the caller's duality-gap check
    finishes it. ``n_steps[i]`` counts the path's steps.
    """
    a = G.shape[0]
    eps = np.finfo(A0.dtype).eps
    inf = np.inf
    c = np.empty(a, dtype=A0.dtype)
    av = np.empty(a, dtype=A0.dtype)
    blocked = np.zeros(a, dtype=A0.dtype)             # inf on active atoms, else 0
    gbuf = np.empty(a, dtype=A0.dtype)
    L = np.zeros((cap, cap), dtype=A0.dtype)
    act = np.empty(cap, dtype=np.int64)
    sgn = np.empty(cap, dtype=A0.dtype)
    coef = np.empty(cap, dtype=A0.dtype)
    u = np.empty(cap, dtype=A0.dtype)
    y = np.empty(cap, dtype=A0.dtype)
    w = np.empty(cap, dtype=A0.dtype)
    for i in range(start, stop):
        a0 = A0[i]
        lam = -inf
        j = 0
        for t in range(a):
            c[t] = a0[t]
            blocked[t] = 0.0
            v = c[t] if nonneg else abs(c[t])
            if v > lam:
                lam = v
                j = t
        m = 0
        steps = 0
        join = lam > alpha                              # atom j joins before the next step
        if not join:
            lam = alpha
        while lam > alpha and steps < max_iter:
            if join:
                if m == cap:
                    break
                gjj = G[j, j]
                d2 = gjj
                for p in range(m):                      # L[:m, :m] w = G[act, j]
                    acc = G[act[p], j]
                    for q in range(p):
                        acc -= L[p, q] * w[q]
                    w[p] = acc / L[p, p]
                    d2 -= w[p] * w[p]
                if not d2 > eps * gjj * 10:             # singular: leave it to the gap check
                    break
                for p in range(m):
                    L[m, p] = w[p]
                L[m, m] = math.sqrt(d2)
                act[m] = j
                sgn[m] = 1.0 if (nonneg or c[j] >= 0) else -1.0
                coef[m] = 0.0
                blocked[j] = inf
                m += 1
            # the equiangular direction: G_AA u = sign, and its correlations av = G[:, A] u
            for p in range(m):
                acc = sgn[p]
                for q in range(p):
                    acc -= L[p, q] * y[q]
                y[p] = acc / L[p, p]
            for p in range(m - 1, -1, -1):
                acc = y[p]
                for q in range(p + 1, m):
                    acc -= L[q, p] * u[q]
                u[p] = acc / L[p, p]
            for t in range(a):
                av[t] = 0.0
            for p in range(m):
                g = u[p]
                row = G[act[p]]
                for t in range(a):
                    av[t] += g * row[t]
            # the first event along it: lambda falls at unit rate
            # (branch-free candidate steps, so the loops vectorise; an active atom's is inf)
            tiny = eps * 100 * max(lam, 1.0)
            if nonneg:
                for t in range(a):
                    g = (lam - c[t]) / (1.0 - av[t])
                    g = g if g > tiny else inf
                    gbuf[t] = max(g, blocked[t])
            else:
                for t in range(a):
                    g = (lam - c[t]) / (1.0 - av[t])
                    g = g if g > tiny else inf
                    h = (lam + c[t]) / (1.0 + av[t])
                    h = h if h > tiny else inf
                    gbuf[t] = max(min(g, h), blocked[t])
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
            for p in range(m):
                coef[p] += step * u[p]
            for t in range(a):
                c[t] -= step * av[t]
            steps += 1
            if g_end <= min(gj, gd):
                lam = alpha
                break
            lam -= step
            if gd <= gj:                                # a code crosses zero: it drops out
                blocked[act[pd]] = 0.0
                for p in range(pd, m - 1):
                    act[p] = act[p + 1]
                    sgn[p] = sgn[p + 1]
                    coef[p] = coef[p + 1]
                m -= 1
                if not _cholesky_rebuild(G, act, m, L):
                    break
                join = m == 0
                if join:                                # nothing active: the top atom joins
                    best = -inf
                    for t in range(a):
                        v = c[t] if nonneg else abs(c[t])
                        if v > best:
                            best = v
                            j = t
            else:
                j = jn
                join = True
        for p in range(m):
            codes[i, act[p]] = coef[p]
        n_steps[i] = steps
    return 0


_POOL: ThreadPoolExecutor | None = None


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """One lazily created pool, kept between calls (its idle threads sleep; starting threads
    on every call would cost more than a small batch's work)."""
    global _POOL
    if _POOL is None or _POOL._max_workers < n_threads:
        _POOL = ThreadPoolExecutor(n_threads, thread_name_prefix="sparsestudy")
    return _POOL


def run_blocks(kernel, n: int, n_threads: int, *args) -> None:
    """Call ``kernel(*args, start, stop)`` on contiguous blocks of the ``n`` rows, one block
    per thread (the kernels release the GIL); inline when one thread or few rows."""
    n_threads = max(1, min(int(n_threads), n // 64))
    if n_threads == 1:
        kernel(*args, 0, n)
        return
    kernel(*args, 0, 0)            # compile (once per argument types) before threads call it
    bounds = np.linspace(0, n, n_threads + 1).astype(np.int64)
    pool = _pool(n_threads)
    futures = [pool.submit(kernel, *args, int(lo), int(hi))
               for lo, hi in zip(bounds[:-1], bounds[1:])]
    for fut in futures:
        fut.result()

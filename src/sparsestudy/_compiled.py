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


_JIT = dict(nogil=True, cache=True, error_model="numpy")   # IEEE division: x/0 is inf, not an error
_INLINE = dict(_JIT, inline="always")                   # small helpers: inlined where used


@njit(**_INLINE)
def _chol_append(L, m, G, act, j, w):  # pragma: no cover
    """Grow ``L[:m, :m]``, the Cholesky factor of ``G[act[:m]][:, act[:m]]``, by atom ``j``
    (row ``m``: one forward substitution; ``w`` is scratch). Returns False, leaving ``L`` as it
    was, when ``j`` is linearly dependent on ``act[:m]`` to working precision."""
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


@njit(**_INLINE)
def _chol_solve(L, m, b, y, out):  # pragma: no cover
    """``out[:m]`` solves ``L L^T out = b[:m]`` (``y`` is scratch)."""
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


@njit(**_INLINE)
def _add_rows(G, act, m, coef, subtract, out):  # pragma: no cover
    """``out -= sum_p coef[p] G[act[p]]`` if ``subtract``, else ``+=`` (Gram rows: vectorised)."""
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


@njit(**_JIT)
def omp_gram(A0, G, xnorm2, k, tol, use_tol, codes, n_sel, energy, start, stop):  # pragma: no cover
    """Batch-OMP (Cholesky form) for rows ``start:stop``.

    Per signal: pick ``j = argmax |alpha|``; grow the Cholesky factor ``L`` of the selected
    atoms' Gram matrix by one row; solve ``L L^T gamma = A0[I]``; the residual's correlations
    are ``alpha = A0 - G[I]^T gamma`` and its energy ``|x|^2 - gamma . A0[I]``. Stops at ``k``
    atoms, at ``energy <= tol`` (``use_tol``), when the residual is orthogonal to every atom,
    or when the next atom is linearly dependent on the selected ones (the same guards as the
    torch path).
    """
    a = G.shape[0]
    eps = np.finfo(A0.dtype).eps
    L = np.zeros((k, k), dtype=A0.dtype)
    w = np.empty(k, dtype=A0.dtype)
    y = np.empty(k, dtype=A0.dtype)
    rhs = np.empty(k, dtype=A0.dtype)
    gamma = np.empty(k, dtype=A0.dtype)
    alpha = np.empty(a, dtype=A0.dtype)
    sel = np.empty(k, dtype=np.int64)
    for i in range(start, stop):
        a0 = A0[i]
        for t in range(a):                             # (explicit loops: numba's slice
            alpha[t] = a0[t]                           # assignment is slower here)
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
                if not _chol_append(L, s, G, sel, j, w):   # dependent on the selection
                    break
                sel[s] = j
                rhs[s] = a0[j]
                n = s + 1
                _chol_solve(L, n, rhs, y, gamma)
                e = xnorm2[i]
                for p in range(n):
                    e -= gamma[p] * rhs[p]
                if use_tol and e <= tol:
                    break
                if n < k:
                    for t in range(a):
                        alpha[t] = a0[t]
                    _add_rows(G, sel, n, gamma, True, alpha)
        for p in range(n):
            codes[i, sel[p]] = gamma[p]
        n_sel[i] = n
        energy[i] = e
    return 0


@njit(**_JIT)
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
                if m == cap or not _chol_append(L, m, G, act, j, w):
                    break                               # singular: leave it to the gap check
                act[m] = j
                sgn[m] = 1.0 if (nonneg or c[j] >= 0) else -1.0
                coef[m] = 0.0
                blocked[j] = inf
                m += 1
            # the equiangular direction: G_AA u = sign, and its correlations av = G[:, A] u
            _chol_solve(L, m, sgn, y, u)
            for t in range(a):
                av[t] = 0.0
            _add_rows(G, act, m, u, False, av)
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
                rebuilt = True                          # refactor the smaller active set
                for p in range(m):
                    rebuilt = rebuilt and _chol_append(L, p, G, act, act[p], w)
                if not rebuilt:
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

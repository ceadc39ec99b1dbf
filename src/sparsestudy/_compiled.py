r"""Compiled CPU kernels (numba): Gram-based OMP and the LARS-lasso path, one signal at a time.

The batched torch solvers in :mod:`sparsestudy.solvers` move every sample one step per tensor
operation; on a CPU the many small operations per step cost more than the arithmetic. Here each
signal runs its whole loop in compiled code on precomputed inner products only: ``G = D D^T``
(atoms x atoms) and ``A0 = X D^T`` (the signals' correlations with the atoms), so the feature
dimension never enters the loop (Rubinstein, Zibulevsky & Elad 2008, "Batch-OMP"). The loops
over atoms are contiguous and branch-free where they can be, so the compiler vectorises them;
nothing is allocated per signal (each call allocates its scratch once).

* OMP keeps the residual through its orthonormal directions: when atom ``j`` joins at step
  ``s``, the new row of the Cholesky factor ``L`` of the selected atoms' Gram matrix is
  ``w = L^{-1} G[I, j]``; the correlations of the new direction with every atom are
  ``Dq_s = (G[j] - sum_p w_p Dq_p) / L_ss`` and its coefficient is
  ``beta_s = (A0[j] - w . beta) / L_ss``, so the residual's correlations fall by
  ``beta_s Dq_s`` and its energy by ``beta_s^2``; one triangular solve ``L^T gamma = beta`` at
  the end gives the codes. The same selections and least-squares fits as scikit-learn's
  ``orthogonal_mp_gram``, without a triangular solve per step.
* The lasso follows the LARS-lasso path; after it, each signal's relative duality gap is
  computed from the same inner products (:func:`_gap_into`), so certifying the result costs
  ``O(n_atoms x nonzeros)`` per signal instead of two products with ``D``.
* The Cholesky factors keep the reciprocals of their diagonals, so the triangular solves
  multiply instead of dividing.
* The argmax of OMP and the first event of the lasso path are found by comparing the floats'
  bits as integers (:func:`_max_abs_bits`, :func:`_argmin_nonneg_bits`): for finite floats
  the bits of magnitudes are ordered as the values are, an integer max vectorises where a
  float argmax (a compare and a branch per atom) does not, and an early-exit scan then finds
  the first index holding it, the index a sequential argmax finds. The sums over previous
  directions (OMP) and over active atoms (the lasso's ``G[:, A] u``) take four rows per pass.

**Tasks and threads.** The signals are cut into tasks, fixed runs of signals
(:func:`_task_size`, or ``batch_size`` when smaller). The worker that codes a task first
computes the task's correlations ``X[task] D^T`` into a buffer of its own, with NumPy's BLAS
held to one thread (:func:`_one_blas_thread`), so the correlations are still in cache when the
kernel reads them, no ``signals x atoms`` array of them is stored, and the products run in
parallel as the kernels do. :func:`run_blocks` hands the tasks to a persistent pool from a
shared counter (dynamic scheduling: a core slowed by another process takes fewer tasks); the
kernels release the GIL. A task's arithmetic is the same whichever thread runs it, so the codes
are bit-for-bit the same for any number of threads; a different ``batch_size`` changes only the
rounding of the BLAS product.

:mod:`benchmarks.profile_kernels` (``benchmarks/profile_kernels.py``) profiles where the time
goes.
"""

from __future__ import annotations

import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_JIT = dict(nogil=True, cache=True, error_model="numpy")   # IEEE division: x/0 is inf



# ------------------------------------------------------------------------------------ helpers
_INLINE = dict(_JIT, inline="always")                   # small helpers: inlined where used


@njit(**_INLINE)
def _chol_append(L, rd, m, G, act, j, w):  # pragma: no cover
    """Grow ``L[:m, :m]``, the Cholesky factor of ``G[act[:m]][:, act[:m]]`` (``rd`` holds the
    reciprocals of its diagonal), by atom ``j``: row ``m`` is ``w = L^{-1} G[act, j]``. Returns
    False, leaving ``L`` as it was, when ``j`` is linearly dependent on ``act[:m]`` to working
    precision."""
    eps = np.finfo(L.dtype).eps
    gjj = G[j, j]
    d2 = gjj
    for p in range(m):
        acc = G[act[p], j]
        for q in range(p):
            acc -= L[p, q] * w[q]
        w[p] = acc * rd[p]
        d2 -= w[p] * w[p]
    if not d2 > eps * gjj * 10:
        return False
    for p in range(m):
        L[m, p] = w[p]
    lmm = math.sqrt(d2)
    L[m, m] = lmm
    rd[m] = 1.0 / lmm
    return True


@njit(**_INLINE)
def _chol_solve(L, rd, m, b, y, out):  # pragma: no cover
    """``out[:m]`` solves ``L L^T out = b[:m]`` (``y`` is scratch)."""
    for p in range(m):
        acc = b[p]
        for q in range(p):
            acc -= L[p, q] * y[q]
        y[p] = acc * rd[p]
    for p in range(m - 1, -1, -1):
        acc = y[p]
        for q in range(p + 1, m):
            acc -= L[q, p] * out[q]
        out[p] = acc * rd[p]


# Magnitudes compared as integers: for finite floats, the bits of |x| (the sign bit cleared by
# ``mask``) are ordered as the values are, and an integer max/min over an array vectorises
# where a float argmax (a compare and branch per entry) does not. The first index holding the
# extreme value is then found by an early-exit scan: the same index as a sequential argmax.
@njit(**_INLINE)
def _max_abs_bits(bits, mask):  # pragma: no cover
    """``max_t |x_t|`` as bits, where ``bits`` is ``x`` viewed as integers."""
    best = bits[0] & mask
    for t in range(1, bits.shape[0]):
        b = bits[t] & mask
        best = b if b > best else best
    return best


@njit(**_INLINE)
def _first_abs_bits(bits, mask, best):  # pragma: no cover
    """The first ``t`` with ``|x_t|``'s bits equal to ``best``."""
    for t in range(bits.shape[0]):
        if (bits[t] & mask) == best:
            return t
    return 0


@njit(**_INLINE)
def _argmin_nonneg_bits(bits, x):  # pragma: no cover
    """``(min_t x_t, its first t)`` for non-negative ``x`` (``bits``: ``x`` as integers); the
    index is -1 when every entry is ``inf``."""
    best = bits[0]
    for t in range(1, bits.shape[0]):
        b = bits[t]
        best = b if b < best else best
    for t in range(bits.shape[0]):
        if bits[t] == best:
            return x[t], (t if x[t] < np.inf else -1)
    return np.inf, -1


def _sign_mask(dtype: np.dtype) -> np.ndarray:
    """A one-element array of the integer type as wide as ``dtype`` holding the mask that
    clears the sign bit (the kernels view their float scratch as that type)."""
    it = np.dtype(f"i{np.dtype(dtype).itemsize}")
    return np.array([np.iinfo(it).max], dtype=it)


@njit(**_INLINE)
def _absargmax(x, nonneg):  # pragma: no cover
    best = -np.inf
    j = 0
    for t in range(x.shape[0]):
        v = x[t] if nonneg else abs(x[t])
        if v > best:
            best = v
            j = t
    return best, j


# ---------------------------------------------------------------------------------------- OMP
@njit(**_JIT)
def omp_gram(A0, G, xnorm2, k, tol, use_tol, codes, n_sel, energy, mask, start, stop):  # pragma: no cover
    """Batch-OMP for the signals (rows of ``A0 = X D^T`` and of ``codes``) ``start:stop``; see
    the module docstring for the recursion. Stops a signal at ``k`` atoms, at
    ``energy <= tol`` (``use_tol``), when its residual is orthogonal to every atom, or when
    the next atom is linearly dependent on the selected ones. ``mask``: :func:`_sign_mask`
    of ``A0``'s dtype."""
    a = G.shape[0]
    dt = A0.dtype
    eps = np.finfo(dt).eps
    mk = mask[0]
    abits = np.empty(a, dtype=mask.dtype)             # the residual's correlations, as bits
    alpha = abits.view(dt)
    fl = np.empty(1, dtype=dt)
    Dq = np.empty((max(k - 1, 1), a), dtype=dt)
    L = np.zeros((k, k), dtype=dt)
    rd = np.zeros(k, dtype=dt)
    w = np.zeros(k, dtype=dt)
    beta = np.zeros(k, dtype=dt)
    gam = np.zeros(k, dtype=dt)
    sel = np.zeros(k, dtype=np.int64)
    for i in range(start, stop):
        a0 = A0[i]
        for t in range(a):
            alpha[t] = a0[t]
        e = float(xnorm2[i])
        fl[0] = eps * math.sqrt(max(e, 0.0)) * 10
        floor = fl.view(mask.dtype)[0]
        n = 0
        if not (use_tol and e <= tol):
            for s in range(k):
                best = _max_abs_bits(abits, mk)
                if not best > floor:                   # residual orthogonal to every atom
                    break
                j = _first_abs_bits(abits, mk, best)
                if not _chol_append(L, rd, s, G, sel, j, w):   # dependent on the selection
                    break
                acc = a0[j]
                for p in range(s):
                    acc -= w[p] * beta[p]
                bs = acc * rd[s]
                beta[s] = bs
                sel[s] = j
                n = s + 1
                e -= float(bs) * float(bs)
                if use_tol and e <= tol:
                    break
                if n < k:                              # Dq_s = (G[j] - sum_p w_p Dq_p) / L_ss
                    dq = Dq[s]
                    row = G[j]
                    for t in range(a):
                        dq[t] = row[t]
                    p = 0
                    while p + 3 < s:                   # four directions per pass over dq
                        w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
                        d0, d1, d2, d3 = Dq[p], Dq[p + 1], Dq[p + 2], Dq[p + 3]
                        for t in range(a):
                            dq[t] -= (w0 * d0[t] + w1 * d1[t]) + (w2 * d2[t] + w3 * d3[t])
                        p += 4
                    for p in range(p, s):
                        wp = w[p]
                        dp = Dq[p]
                        for t in range(a):
                            dq[t] -= wp * dp[t]
                    r = rd[s]
                    for t in range(a):                 # alpha -= beta_s Dq_s
                        q = dq[t] * r
                        dq[t] = q
                        alpha[t] -= bs * q
        for p in range(n - 1, -1, -1):                 # codes: L^T gamma = beta
            acc = beta[p]
            for q in range(p + 1, n):
                acc -= L[q, p] * gam[q]
            gam[p] = acc * rd[p]
        for p in range(n):
            codes[i, sel[p]] = gam[p]
        n_sel[i] = n
        energy[i] = e
    return 0


# --------------------------------------------------------------------------------- LARS-lasso
@njit(**_JIT)
def lars_gram(A0, G, xnorm2, alpha, nonneg, max_iter, cap, codes, n_steps, gapinfo, mask,
              start, stop):  # pragma: no cover
    r"""The LARS-lasso homotopy path from ``lambda = max |A0|`` down to ``alpha`` for the
    signals (rows of ``A0 = X D^T``) ``start:stop``.

    State per signal: the active atoms ``act``, their signs and codes, the Cholesky factor of
    their Gram matrix, and ``c = A0 - G z`` (the residual's correlations). Each step solves
    ``G_AA u = sign`` and moves along ``u`` until an inactive atom's correlation reaches
    ``+-lambda`` (it joins), an active code crosses zero (it drops: the lasso modification),
    or ``lambda`` reaches ``alpha``. Joins grow the factor by one row; drops rebuild it. At
    most ``cap`` atoms are active (``min(n_atoms, n_features)``); a sample whose next atom
    would make the active Gram matrix singular stops there, and the caller's duality-gap check
    finishes it. ``n_steps[i]`` counts the path's steps; ``gapinfo[i]`` receives the primal
    and dual values and a rounding bound (:func:`_gap_into`). ``mask``: :func:`_sign_mask` of
    ``A0``'s dtype.
    """
    a = G.shape[0]
    dt = A0.dtype
    eps = np.finfo(dt).eps
    inf = np.inf
    c = np.empty(a, dtype=dt)
    av = np.empty(a, dtype=dt)
    blocked = np.zeros(a, dtype=dt)                    # inf on active atoms, else 0
    gbits = np.empty(a, dtype=mask.dtype)
    gbuf = gbits.view(dt)                              # candidate steps (>= 0), and as bits
    L = np.zeros((cap, cap), dtype=dt)
    rd = np.zeros(cap, dtype=dt)
    act = np.empty(cap, dtype=np.int64)
    sgn = np.empty(cap, dtype=dt)
    coef = np.empty(cap, dtype=dt)
    u = np.empty(cap, dtype=dt)
    y = np.empty(cap, dtype=dt)
    w = np.empty(cap, dtype=dt)
    cx = np.empty(a, dtype=np.float64)
    for i in range(start, stop):
        a0 = A0[i]
        for t in range(a):
            c[t] = a0[t]
            blocked[t] = 0.0
        lam, j = _absargmax(c, nonneg)
        m = 0
        steps = 0
        join = lam > alpha                              # atom j joins before the next step
        if not join:
            lam = alpha
        while lam > alpha and steps < max_iter:
            if join:
                if m == cap or not _chol_append(L, rd, m, G, act, j, w):
                    break                               # singular: leave it to the gap check
                act[m] = j
                sgn[m] = 1.0 if (nonneg or c[j] >= 0) else -1.0
                coef[m] = 0.0
                blocked[j] = inf
                m += 1
            # the equiangular direction: G_AA u = sign, and its correlations av = G[:, A] u
            _chol_solve(L, rd, m, sgn, y, u)
            row = G[act[0]]
            u0 = u[0]
            for t in range(a):
                av[t] = u0 * row[t]
            p = 1
            while p + 3 < m:                            # four atoms per pass over av
                u0, u1, u2, u3 = u[p], u[p + 1], u[p + 2], u[p + 3]
                r0, r1, r2, r3 = G[act[p]], G[act[p + 1]], G[act[p + 2]], G[act[p + 3]]
                for t in range(a):
                    av[t] += (u0 * r0[t] + u1 * r1[t]) + (u2 * r2[t] + u3 * r3[t])
                p += 4
            for p in range(p, m):
                up = u[p]
                row = G[act[p]]
                for t in range(a):
                    av[t] += up * row[t]
            # the first event along it: lambda falls at unit rate
            # (branch-free candidate steps, so the loop vectorises; an active atom's is inf)
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
            gj, jn = _argmin_nonneg_bits(gbits, gbuf)
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
            steps += 1
            if g_end <= min(gj, gd):
                lam = alpha
                break
            for t in range(a):
                c[t] -= step * av[t]
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
                    rebuilt = rebuilt and _chol_append(L, rd, p, G, act, act[p], w)
                if not rebuilt:
                    break
                join = m == 0
                if join:                                # nothing active: the top atom joins
                    best, j = _absargmax(c, nonneg)
            else:
                j = jn
                join = True
        for p in range(m):
            codes[i, act[p]] = coef[p]
        n_steps[i] = steps
        _gap_into(a0, G, xnorm2, i, act, coef, m, alpha, nonneg, cx, gapinfo)
    return 0


@njit(**dict(_JIT, inline="always"))
def _gap_into(a0, G, xnorm2, i, act, coef, mb, alpha, nonneg, cx, gapinfo):  # pragma: no cover
    r"""Primal and dual lasso values of signal ``i`` with codes ``coef`` on ``act[:mb]``, from
    the inner products only (float64): with ``c = A0 - G z`` recomputed from the codes,
    ``|r|^2 = |x|^2 - z.A0 - z.c`` and ``<r, x> = |x|^2 - z.A0``; the dual point is the
    residual scaled to ``max |c| <= alpha``. ``gapinfo[i] = (primal, dual, err)``, where
    ``err`` bounds the rounding of both: a multiple of eps times the magnitudes summed,
    ``|x|^2 + 2 |z|.|A0| + (sum |z_j| sqrt(G_jj))^2`` (the last bounds ``|z|^T |G| |z|``)."""
    a = G.shape[0]
    eps = np.finfo(a0.dtype).eps
    for t in range(a):
        cx[t] = a0[t]
    za = 0.0
    l1 = 0.0
    zabs = 0.0                                         # sum |z| |A0|
    zg = 0.0                                           # sum |z| sqrt(G_jj)
    for p in range(mb):
        z = float(coef[p])
        j = act[p]
        za += z * cx[j]
        l1 += abs(z)
        zabs += abs(z) * abs(float(cx[j]))
        zg += abs(z) * math.sqrt(float(G[j, j]))
    for p in range(mb):
        z = float(coef[p])
        row = G[act[p]]
        for t in range(a):
            cx[t] -= z * row[t]
    zc = 0.0
    cmax = 0.0
    for p in range(mb):
        zc += float(coef[p]) * cx[act[p]]
    for t in range(a):
        v = cx[t] if nonneg else abs(cx[t])
        cmax = max(cmax, v)
    x2 = float(xnorm2[i])
    rr = max(x2 - za - zc, 0.0)
    rx = x2 - za
    primal = 0.5 * rr + alpha * l1
    scale = alpha / cmax if cmax > alpha else 1.0
    dual = scale * rx - 0.5 * scale * scale * rr
    gapinfo[i, 0] = primal
    gapinfo[i, 1] = dual
    gapinfo[i, 2] = 16 * eps * (x2 + 2 * zabs + zg * zg)




# ------------------------------------------------------------------------------------ threads
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """One lazily created pool, kept between calls (its idle threads sleep; starting threads
    on every call would cost more than a small batch's work)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n_threads:
            _POOL = ThreadPoolExecutor(n_threads, thread_name_prefix="sparsestudy")
        return _POOL


def run_blocks(kernel, n: int, n_threads: int, *args, task: int = 256) -> None:
    """Call ``kernel(*args, start, stop)`` on the tasks ``[start, stop)`` of ``task`` rows that
    tile ``0:n``; ``n_threads`` threads take the next task from a shared counter (the kernels
    release the GIL). The tasks do not depend on ``n_threads``."""
    task = max(1, int(task))
    n_tasks = -(-n // task)
    n_threads = max(1, min(int(n_threads), n_tasks))
    if n_threads == 1:
        for lo in range(0, n, task):
            kernel(*args, lo, min(n, lo + task))
        return
    kernel(*args, 0, 0)            # compile (once per argument types) before threads call it
    counter = itertools.count()    # next() is atomic under the GIL

    def worker():
        while True:
            t = next(counter)
            if t >= n_tasks:
                return
            kernel(*args, t * task, min(n, (t + 1) * task))

    pool = _pool(n_threads)
    futures = [pool.submit(worker) for _ in range(n_threads)]
    for fut in futures:
        fut.result()


# ----------------------------------------------------------------------------------- dispatch
def _task_size(a: int) -> int:
    """Signals per task: about a quarter of a millisecond of work (256 at 256 atoms)."""
    return max(16, 65536 // max(a, 1))


_BLAS = None


def _one_blas_thread():
    """A context in which NumPy's BLAS runs on the calling thread only (threadpoolctl): each
    task's product runs inside a worker of :func:`run_blocks`, which already spreads the
    tasks over the cores, so a multithreaded BLAS would oversubscribe them."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _in_tasks(kernel, X, D, batch_size, n_threads, rows_out, *per_signal):
    r"""Run ``kernel(A0, G, *per_signal_rows, start=0, stop=rows)`` task by task, each task's
    correlations ``A0 = X[task] D^T`` computed by the worker that codes it, into that worker's
    buffer, so that they are still in cache when the kernel reads them and no
    ``signals x atoms`` array of them is ever stored.

    ``per_signal`` lists the kernel's arguments after ``G``: arrays with one row per signal
    (sliced to the task) and scalars, in the kernel's order; ``rows_out`` says which of them
    are per-signal arrays. A task's rows are a fixed run of signals (at most ``batch_size``,
    else :func:`_task_size`), whatever the number of threads, and its product is computed on
    one thread, so every signal's arithmetic is the same for any number of threads."""
    from ._arrays import check_int
    n, a = X.shape[0], D.shape[0]
    task = _task_size(a)
    if batch_size is not None:
        task = min(task, check_int(batch_size, "batch_size", min_value=1))
    DT = np.ascontiguousarray(D.T)
    local = threading.local()

    def work(lo, hi):
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.empty((task, a), dtype=X.dtype)
        A0 = buf[:hi - lo]
        np.matmul(X[lo:hi], DT, out=A0)
        args = [v[lo:hi] if r else v for v, r in zip(per_signal, rows_out)]
        kernel(A0, G, *args, 0, hi - lo)

    with _one_blas_thread():                           # (a BLAS thread woken here would
        G = D @ D.T                                    # spin beside the workers)
        run_blocks(work, n, n_threads, task=task)


def _inputs(X, D):
    """NumPy views of the CPU tensors ``X``, ``D`` (C-contiguous) and ``|x_i|^2``."""
    Xn = np.ascontiguousarray(X.numpy())
    Dn = np.ascontiguousarray(D.numpy())
    return Xn, Dn, np.einsum("ij,ij->i", Xn, Xn)


def omp_codes(X, D, k: int, tol: float | None, batch_size: int | None, n_threads: int):
    """Batch-OMP of the rows of the CPU tensor ``X`` on the atoms (rows) of ``D``.

    Returns dense codes (NumPy, ``X``'s dtype), the atoms selected per signal and the final
    squared residual norms (float64)."""
    Xn, Dn, xn2 = _inputs(X, D)
    n, a = Xn.shape[0], Dn.shape[0]
    codes = np.zeros((n, a), dtype=Xn.dtype)           # calloc: pages are zeroed where written
    n_sel = np.zeros(n, dtype=np.int64)
    energy = np.zeros(n, dtype=np.float64)
    _in_tasks(omp_gram, Xn, Dn, batch_size, n_threads,
              (True, False, False, False, True, True, True, False),
              xn2, k, float(tol or 0.0), tol is not None, codes, n_sel, energy,
              _sign_mask(Xn.dtype))
    return codes, n_sel, energy


def lasso_codes(X, D, alpha: float, nonneg: bool, max_iter: int, batch_size: int | None,
                n_threads: int):
    r"""The LARS-lasso path of the rows of the CPU tensor ``X`` down to ``alpha``.

    Returns dense codes (NumPy, ``X``'s dtype), the path steps per signal, each signal's
    relative duality gap ``(P - D) / P`` computed from the inner products (float64; the same
    quantity as ``solvers._relative_gap``, with the dual point the residual rescaled to be dual
    feasible) and a bound on that gap's rounding error (relative to ``P``)."""
    Xn, Dn, xn2 = _inputs(X, D)
    n, a, f = Xn.shape[0], Dn.shape[0], Dn.shape[1]
    codes = np.zeros((n, a), dtype=Xn.dtype)
    steps = np.zeros(n, dtype=np.int64)
    info = np.zeros((n, 3), dtype=np.float64)
    _in_tasks(lars_gram, Xn, Dn, batch_size, n_threads,
              (True, False, False, False, False, True, True, True, False),
              xn2, float(alpha), bool(nonneg), int(max_iter), min(a, f), codes, steps, info,
              _sign_mask(Xn.dtype))
    primal, dual, err = info[:, 0], info[:, 1], info[:, 2]
    tiny = np.finfo(np.float64).tiny
    denom = np.maximum(primal, tiny)
    gap = np.maximum(primal - dual, 0.0) / denom
    return codes, steps, gap, err / denom

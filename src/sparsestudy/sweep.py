"""Map an experiment over a grid of points: in-process, on local processes, or on a Dask cluster.

::

    from sparsestudy.sweep import grid, sweep

    points = grid(delta=[0.1, 0.2], rho=[0.1, 0.3], seed=[0, 1, 2])
    rows = sweep(fn, points, store="results/quick/sweeps/c08.jsonl")          # in-process
    rows = sweep(fn, points, store=..., workers=2)                            # local processes
    rows = sweep(fn, points, store=..., scheduler="tcp://127.0.0.1:8786")     # Dask

``fn(point, seed)`` gets a point (a dict of JSON values) and a seed derived from the point alone
(:func:`point_seed`, through :func:`sparsestudy.seeding.derive_seed`), and returns a
JSON-serialisable result. The results are identical however and wherever the points run.

* **Resumable store** (:class:`SweepStore`): a JSON-lines file, one row per finished point,
  each appended with one ``write`` on an ``O_APPEND`` descriptor and ``fsync``-ed; a reader
  drops a torn last line, so an interrupted sweep loses only the points still running. A rerun
  skips the points already in the store.
* **Threads:** each point runs under a limit of ``threads`` for torch, numba and the BLAS
  libraries (Dask's nanny sets ``OMP_NUM_THREADS`` but not ``NUMBA_NUM_THREADS``).
* **Retries:** a point whose worker died is submitted again (Dask: the scheduler reschedules
  it, and after ``KilledWorker`` this engine resubmits up to ``retries`` times; local
  processes: a broken pool is rebuilt).
* **Nested sweeps:** called inside a Dask task, the sweep submits through
  :func:`distributed.worker_client`, which secedes from the worker's thread pool, so a task
  that runs a grid cannot deadlock single-threaded workers.
* **Version check:** before submitting to a cluster, every worker must run this library's
  version with the same source fingerprint (:func:`library_fingerprint`); otherwise
  :class:`WorkerMismatch` says which workers differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .seeding import derive_seed

__all__ = ["grid", "sweep", "point_key", "point_seed", "SweepStore", "WorkerMismatch",
           "library_fingerprint", "worker_identity", "check_workers", "limit_threads",
           "connect"]


class WorkerMismatch(RuntimeError):
    """A cluster's workers do not run the client's version of the library."""


# ------------------------------------------------------------------------------------ points
def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes, as a list of points (dicts), last axis fastest."""
    if not axes:
        raise ValueError("give at least one axis, e.g. grid(delta=[0.1, 0.2])")
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"axis {name!r} must be a sequence of values")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def point_key(point: Mapping[str, Any]) -> str:
    """The canonical text of a point (sorted JSON): its identity in a store."""
    if not isinstance(point, Mapping):
        raise TypeError(f"a point must be a dict, got {type(point).__name__}")
    try:
        return json.dumps(point, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a point must hold JSON values (str, int, float, bool, lists): {exc}"
                        ) from None


def point_seed(point: Mapping[str, Any], seed: int = 0) -> int:
    """``derive_seed(seed, "k=v", ...)`` over the point's items in key order: depends on the
    point only, never on when or where it runs."""
    items = json.loads(point_key(point))
    return derive_seed(seed, "sweep", *(f"{k}={json.dumps(v, sort_keys=True)}"
                                        for k, v in items.items()))


# ------------------------------------------------------------------------------------- store
class SweepStore:
    """A JSON-lines file of finished points: ``{"key", "point", "result", "elapsed_s",
    "worker"}`` per line. Rows are appended atomically; a torn last line (a killed writer) is
    ignored and cut off before the next append."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def rows(self) -> dict[str, dict[str, Any]]:
        """``{key: row}`` of the complete rows (the last row wins for a repeated key)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return out
        for line in self.path.read_bytes().split(b"\n"):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue                   # a torn line: its point runs again
            if isinstance(row, dict) and "key" in row and "result" in row:
                out[row["key"]] = row
        return out

    def _repair(self) -> None:
        """Cut a torn last line so that the next append starts on a line of its own."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def append(self, row: Mapping[str, Any]) -> None:
        data = (json.dumps(row, sort_keys=True, allow_nan=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


class _MemoryStore(SweepStore):
    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    def rows(self) -> dict[str, dict[str, Any]]:
        return dict(self._rows)

    def _repair(self) -> None:
        pass

    def append(self, row: Mapping[str, Any]) -> None:
        self._rows[row["key"]] = dict(row)


# ----------------------------------------------------------------------------- the worker side
@contextlib.contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Limit torch, numba and the BLAS/OpenMP pools to ``threads`` inside the block (``None``:
    no change). torch's and numba's settings are per process and are restored afterwards."""
    if threads is None:
        yield
        return
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(threads))
    old_torch, old_numba = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(old_torch)
        numba.set_num_threads(old_numba)


def _run_point(fn: bytes | Callable, point: dict[str, Any], seed: int, threads: int | None
               ) -> dict[str, Any]:
    """Run one point (on whatever process): ``fn`` travels as cloudpickle bytes."""
    if isinstance(fn, bytes):
        import cloudpickle

        fn = cloudpickle.loads(fn)
    t0 = time.perf_counter()
    with limit_threads(threads):
        result = fn(point, seed)
    return {"result": result, "elapsed_s": time.perf_counter() - t0,
            "worker": f"{os.uname().nodename}:{os.getpid()}"}


def library_fingerprint(study: bool = True) -> str:
    """SHA-256 over the library's Python sources (paths and contents): two processes with
    equal fingerprints run the same code. ``study=False`` leaves out the study machinery
    (``sparsestudy/study``), which computes no number (e.g. to name a sweep's store)."""
    base = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(base.rglob("*.py")):
        if not study and path.relative_to(base).parts[0] == "study":
            continue
        h.update(path.relative_to(base).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def worker_identity() -> dict[str, str]:
    """``{"version", "fingerprint", "python"}`` of the process that calls it."""
    from . import __version__

    return {"version": __version__, "fingerprint": library_fingerprint(),
            "python": ".".join(map(str, sys.version_info[:2]))}


def check_workers(client: Any) -> dict[str, dict[str, str]]:
    """Raise :class:`WorkerMismatch` unless every worker of ``client`` runs this library's
    version and fingerprint; returns ``{worker address: identity}``."""
    mine = worker_identity()
    theirs = client.run(worker_identity)
    if not theirs:
        raise WorkerMismatch("the cluster has no workers: start some (dask worker ADDRESS)")
    bad = {w: i for w, i in theirs.items()
           if (i.get("version"), i.get("fingerprint")) != (mine["version"], mine["fingerprint"])}
    if bad:
        lines = [f"  {w}: sparsestudy {i.get('version')} (fingerprint {str(i.get('fingerprint'))[:12]})"
                 for w, i in sorted(bad.items())]
        raise WorkerMismatch(
            f"{len(bad)} of {len(theirs)} workers do not run this client's sparsestudy "
            f"{mine['version']} (fingerprint {mine['fingerprint'][:12]}); install the same "
            "source on every worker and restart it:\n" + "\n".join(lines))
    return theirs


def _inside_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def connect(scheduler: Any) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (an address, or a ``distributed.Client`` used as is);
    inside a Dask task, the task's :func:`distributed.worker_client` (it secedes)."""
    from distributed import Client, worker_client

    if _inside_worker():
        with worker_client() as client:
            yield client
    elif isinstance(scheduler, Client):
        yield scheduler
    elif isinstance(scheduler, str):
        client = Client(scheduler, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    else:
        raise TypeError(f"scheduler must be an address like 'tcp://HOST:PORT' or a "
                        f"distributed.Client, got {type(scheduler).__name__}")


# ------------------------------------------------------------------------------ the engine
def _bar(total: int, initial: int, desc: str | None, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc or "sweep", unit="pt",
                disable=not progress, file=sys.stderr, leave=False)


def sweep(fn: Callable[[dict[str, Any], int], Any], points: Sequence[Mapping[str, Any]], *,
          store: str | os.PathLike | SweepStore | None = None, scheduler: Any = None,
          workers: int | None = None, seed: int = 0, threads: int | None = 1,
          retries: int = 2, progress: bool = True, desc: str | None = None,
          check_versions: bool = True) -> list[Any]:
    """Run ``fn(point, point_seed(point, seed))`` for every point; return the results in the
    order of ``points``.

    Parameters
    ----------
    fn : callable
        ``fn(point, seed) -> result`` (JSON-serialisable). On processes and clusters it travels
        by cloudpickle: a library function by reference, a notebook's function by value.
    points : sequence of dict
        Distinct points (JSON values), e.g. from :func:`grid`.
    store : path or SweepStore, optional
        The resumable store; points already in it are not run again. Default: in memory.
    scheduler : str or distributed.Client, optional
        Run on this Dask cluster (``"tcp://HOST:PORT"``).
    workers : int, optional
        Without ``scheduler``: run on this many local processes (default: in this process).
    seed : int
        Base of every point's seed.
    threads : int or None
        Thread limit of each point for torch, numba and BLAS (``None``: leave as is).
    retries : int
        How many times a point whose worker died is submitted again.
    progress : bool
        A progress bar on stderr.
    check_versions : bool
        On a cluster, check the workers' library version and fingerprint first.
    """
    import cloudpickle

    if not callable(fn):
        raise TypeError("fn must be callable as fn(point, seed)")
    points = [dict(p) for p in points]
    keys = [point_key(p) for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError("points must be distinct (two points have the same items)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative int, got {retries!r}")
    st = store if isinstance(store, SweepStore) else (
        SweepStore(store) if store is not None else _MemoryStore())
    st._repair()
    done = st.rows()
    todo = [(k, p) for k, p in zip(keys, points) if k not in done]
    bar = _bar(len(points), len(points) - len(todo), desc, progress)

    def record(key: str, point: dict[str, Any], out: Mapping[str, Any]) -> None:
        row = {"key": key, "point": point, **out}
        st.append(row)
        done[key] = row
        bar.update(1)

    try:
        if todo:
            args = {k: (p, point_seed(p, seed)) for k, p in todo}
            if scheduler is not None or _inside_worker():
                _on_dask(scheduler, cloudpickle.dumps(fn), args, threads, retries,
                         check_versions, record)
            elif workers is not None:
                _on_processes(workers, cloudpickle.dumps(fn), args, threads, retries, record)
            else:
                for k, (p, s) in args.items():
                    record(k, p, _run_point(fn, p, s, threads))
    finally:
        bar.close()
    return [done[k]["result"] for k in keys]


def _on_dask(scheduler, payload, args, threads, retries, check_versions, record) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    with connect(scheduler) as client:
        if check_versions:
            check_workers(client)
        tries = dict.fromkeys(args, 0)

        def submit(k):
            p, s = args[k]
            return client.submit(_run_point, payload, p, s, threads, pure=False,
                                 key=f"sweep-{hashlib.sha1(k.encode()).hexdigest()[:16]}-"
                                     f"{tries[k]}")

        futures = {submit(k): k for k in args}
        pending = as_completed(list(futures), loop=client.loop)
        for fut in pending:
            k = futures.pop(fut)
            try:
                out = fut.result()
            except KilledWorker:
                tries[k] += 1
                if tries[k] > retries:
                    raise
                new = submit(k)
                futures[new] = k
                pending.add(new)
                continue
            record(k, args[k][0], out)


def _on_processes(workers, payload, args, threads, retries, record) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    left = dict(args)
    broken = 0
    while left:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_run_point, payload, p, s, threads): k
                       for k, (p, s) in left.items()}
            try:
                for fut in as_completed(futures):
                    k = futures[fut]
                    out = fut.result()
                    record(k, left.pop(k)[0], out)
            except BrokenProcessPool:
                broken += 1
                if broken > retries:
                    raise

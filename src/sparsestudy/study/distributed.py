"""Claim notebooks as tasks on a Dask cluster (``sparsestudy run --scheduler tcp://HOST:PORT``).

The client sends each notebook's source and parameters; a worker executes it with papermill in
a private temporary project (so workers need not share a filesystem with the client) and sends
back the executed notebook and the record as bytes, which the runner writes atomically on the
client, as after a local run (:mod:`sparsestudy.study.runner`).

* The task secedes from its worker's thread pool while its kernel runs: the notebook's own
  sweep (it gets ``scheduler`` as a parameter) then runs its grid points on the same workers,
  even on single-threaded ones, without deadlock.
* Kernel starts are limited cluster-wide by a Dask :class:`~distributed.Semaphore`
  (``max_starts`` at once; papermill kernel starts race under concurrency), and a start that
  fails before the first cell runs is retried (``start_retries`` times).
* The kernel writes its record under the task's temporary folder: an IPython start-up line
  points ``SPARSESTUDY_RESULTS`` there, so no path of the worker is written into the notebook.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

KERNEL_START_SEMAPHORE = "sparsestudy-kernel-starts"


def _failure(kind: str, exc: BaseException, executed: Path) -> dict[str, Any]:
    err = {"kind": kind, "ename": type(exc).__name__, "evalue": str(exc), "cell_index": None,
           "exec_count": None}
    for name in ("ename", "evalue", "cell_index", "exec_count"):
        if hasattr(exc, name) and kind == "cell":
            err[name] = getattr(exc, name)
    return {"error": err, "executed": executed.read_bytes() if executed.is_file() else None,
            "record": None}


def execute_notebook_task(name: str, source: bytes, parameters: Mapping[str, Any], claim: str,
                          profile: str, kernel_name: str = "python3", max_starts: int = 2,
                          start_retries: int = 2) -> dict[str, Any]:
    """Run on a worker: execute the notebook ``name`` (``source`` bytes) with ``parameters``;
    return ``{"executed", "record", "error", "elapsed_s", "worker", "attempts"}`` (bytes, or
    ``None``; ``error`` is ``None`` or ``{"kind": "cell"|"start"|"run", "ename", "evalue",
    "cell_index", "exec_count"}``)."""
    import papermill as pm
    from distributed import Semaphore, rejoin, secede

    t0 = time.perf_counter()
    secede()                 # the kernel mostly waits on its own sweep's tasks
    try:
        with tempfile.TemporaryDirectory(prefix="sparsestudy-notebook-") as tmp:
            root = Path(tmp)
            nbdir = root / "notebooks"
            nbdir.mkdir()
            (root / "_config.yml").write_text("title: remote\n")
            (root / "pyproject.toml").write_text("[project]\nname = 'remote'\n")
            src = nbdir / name
            src.write_bytes(source)
            executed = nbdir / f".{name}.executed.ipynb"
            results = root / "results"
            env_line = f"import os; os.environ['SPARSESTUDY_RESULTS'] = {str(results)!r}"
            sem = Semaphore(max_leases=max_starts, name=KERNEL_START_SEMAPHORE)
            out: dict[str, Any] = {}
            for attempt in range(start_retries + 1):
                sem.acquire()
                state = {"held": True, "started": False}

                def started(**_: Any) -> None:
                    state["started"] = True
                    if state["held"]:
                        state["held"] = False
                        sem.release()

                try:
                    pm.execute_notebook(
                        str(src), str(executed), parameters=dict(parameters),
                        kernel_name=kernel_name, cwd=str(nbdir), log_output=False,
                        progress_bar=False, request_save_on_cell_execute=True,
                        extra_arguments=["--IPKernelApp.log_level=ERROR",
                                         f"--IPKernelApp.exec_lines={env_line}"],
                        on_notebook_start=started)
                    record = results / profile / f"{claim}.json"
                    out = {"error": None, "executed": executed.read_bytes(),
                           "record": record.read_bytes() if record.is_file() else None}
                    break
                except pm.PapermillExecutionError as exc:
                    out = _failure("cell", exc, executed)
                    break
                except Exception as exc:            # noqa: BLE001 - reported to the client
                    out = _failure("run" if state["started"] else "start", exc, executed)
                    if state["started"]:
                        break
                finally:
                    if state["held"]:
                        sem.release()
            out["attempts"] = attempt + 1
    finally:
        rejoin()
    out["elapsed_s"] = time.perf_counter() - t0
    out["worker"] = f"{os.uname().nodename}:{os.getpid()}"
    return out


__all__ = ["execute_notebook_task", "KERNEL_START_SEMAPHORE"]

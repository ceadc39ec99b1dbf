"""Execute the claim notebooks with papermill, one profile at a time.

Each claim has one notebook, ``notebooks/cNN_<slug>.ipynb`` (claim id ``CNN``). A profile,
``notebooks/profiles/<profile>.yaml``, maps a notebook's stem to the parameters that override
the defaults of its ``parameters`` cell; the runner always injects ``profile``, and
``output_dir`` (an explicit results folder), ``device`` and ``scheduler`` when they are given.
By default records go to :func:`sparsestudy.study.layout.results_dir`, which the kernel
finds by the same rule.

For each notebook the runner

* executes it with papermill (kernel ``python3``, working directory ``notebooks/``) into
  ``<results>/executed/<stem>.ipynb``, written through a temporary file and moved into place
  only when the run succeeded;
* checks that the run wrote a fresh, valid record ``<results>/CNN.json``, then completes the
  record's fingerprint (:mod:`sparsestudy.study.fingerprint`) with the notebook's code cells
  and its parameters - the modules and the device kind come from the kernel that ran it;
* on failure puts the notebook's previous record back byte for byte (or removes the one a
  failed first run left behind), keeps the failed executed copy in ``<results>/failed/`` and
  goes on with the other notebooks;
* skips a notebook whose record's fingerprint still matches the tree (same code cells,
  parameters, library modules and device kind), as long as its record (unmodified) and
  executed copy exist. ``<results>/runs.json`` keeps each notebook's last successful run.

With ``scheduler`` (``sparsestudy run --scheduler tcp://HOST:PORT``) the notebooks that need
to run become tasks on that Dask cluster, all submitted at once; each executed notebook and
record comes back and goes through the same checks and atomic writes here
(:mod:`sparsestudy.study.distributed`). Without it, everything runs in this process.

Two runs of one profile never write its folder at once: the second waits for the first
(:func:`sparsestudy.study.layout.run_lock`) and says so.

:func:`run_notebooks` raises :class:`NotebookRunError` (after running every other notebook)
when any notebook failed; the error lists each failure in one line.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import fingerprint as fp
from .layout import (CLAIM_ID, NOTEBOOK_GLOB, STATE_FILE, atomic_write_bytes, check_profile,
                     chosen_results_dir, claim_of_stem, notebooks_dir, project_root,
                     record_path, run_lock, write_json)
from .record import RecordError, load_record

STATE_VERSION = 2
KERNEL_NAME = "python3"

#: parameters the runner sets itself; a profile may not override them
RESERVED_PARAMETERS = ("profile", "output_dir", "scheduler")


class NotebookRunError(RuntimeError):
    """One or more notebooks failed; ``outcomes`` holds every notebook's outcome."""

    def __init__(self, outcomes: list["Outcome"]):
        self.outcomes = outcomes
        self.failures = [o for o in outcomes if o.status == "failed"]
        n = len(self.failures)
        lines = [f"{n} notebook{'s' if n != 1 else ''} failed:"]
        lines += [f"  {o.describe()}" for o in self.failures]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Notebook:
    """A claim notebook: ``claim`` is ``"C01"`` for ``notebooks/c01_l1_vs_l2.ipynb``."""

    claim: str
    stem: str
    path: Path


@dataclass
class Outcome:
    """What happened to one notebook in :func:`run_notebooks`.

    ``status`` is ``"ran"``, ``"skipped"`` or ``"failed"``; ``reason`` says why it ran (or why
    it was skipped). For failures, ``error`` is a one-line message and ``cell_index`` the
    0-based index of the failing cell in the *source* notebook (``None`` when no cell failed,
    e.g. the kernel died or the record was missing); ``failed_copy`` is the executed copy kept
    for inspection.
    """

    claim: str
    stem: str
    status: str
    reason: str = ""
    elapsed_s: float = 0.0
    record: Path | None = None
    executed: Path | None = None
    failed_copy: Path | None = None
    error: str | None = None
    cell_index: int | None = None
    exec_count: int | None = None
    ename: str | None = None
    evalue: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def describe(self) -> str:
        """One line, e.g. ``c01_l1_vs_l2 (C01): ran in 12.3 s (notebook changed)``."""
        head = f"{self.stem} ({self.claim})"
        if self.status == "skipped":
            return f"{head}: up to date, skipped"
        if self.status == "ran":
            return f"{head}: ran in {self.elapsed_s:.1f} s ({self.reason})"
        where = f"; failed executed copy: {self.failed_copy}" if self.failed_copy else ""
        return f"{head}: FAILED - {self.error}{where}"


# --------------------------------------------------------------------------- discovery


def discover_notebooks(root: str | os.PathLike | None = None) -> list[Notebook]:
    """The claim notebooks ``<root>/notebooks/cNN_<slug>.ipynb``, sorted by claim id."""
    root = Path(root) if root is not None else project_root()
    found: dict[str, Notebook] = {}
    for path in sorted(notebooks_dir(root).glob(NOTEBOOK_GLOB)):
        claim = claim_of_stem(path.stem)
        if claim is None:
            continue
        if claim in found:
            raise ValueError(
                f"two notebooks for claim {claim}: {found[claim].path.name} and {path.name}"
            )
        found[claim] = Notebook(claim, path.stem, path)
    return [found[c] for c in sorted(found)]


def available_profiles(root: str | os.PathLike | None = None) -> list[str]:
    root = Path(root) if root is not None else project_root()
    return sorted(p.stem for p in (notebooks_dir(root) / "profiles").glob("*.yaml"))


def load_profile(profile: str, root: str | os.PathLike | None = None,
                 notebooks: Iterable[Notebook] | None = None) -> dict[str, dict[str, Any]]:
    """Read ``notebooks/profiles/<profile>.yaml``: ``{stem: {parameter: value}}``.

    Raises ``ValueError`` for an unknown profile, a malformed file, an entry for a notebook
    that does not exist, or an entry that tries to set a parameter the runner injects.
    """
    import yaml

    root = Path(root) if root is not None else project_root()
    check_profile(profile)
    path = notebooks_dir(root) / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(available_profiles(root)) or "none"
        raise ValueError(f"unknown profile {profile!r}: there is no {path} (profiles: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map notebook names to parameters, got {type(data).__name__}")
    stems = {nb.stem for nb in (notebooks if notebooks is not None else discover_notebooks(root))}
    out: dict[str, dict[str, Any]] = {}
    for stem, params in data.items():
        if stem not in stems:
            raise ValueError(
                f"{path.name} has parameters for {stem!r}, which is not a notebook in "
                f"{notebooks_dir(root)} (notebooks: {', '.join(sorted(stems)) or 'none'})"
            )
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValueError(f"{path.name}: {stem} must map parameter names to values")
        bad = [k for k in params if k in RESERVED_PARAMETERS]
        if bad:
            raise ValueError(f"{path.name}: {stem} may not set {bad}; the runner sets them")
        out[str(stem)] = dict(params)
    return out


def select_notebooks(notebooks: list[Notebook], only: str | Iterable[str] | None) -> list[Notebook]:
    """Keep the notebooks whose claim id is in ``only`` (``"C01,C03"`` or ``["C01", "C03"]``)."""
    if only is None:
        return list(notebooks)
    if isinstance(only, str):
        only = only.split(",")
    wanted = [str(c).strip().upper() for c in only if str(c).strip()]
    if not wanted:
        raise ValueError("only must name at least one claim id, e.g. C01")
    malformed = [c for c in wanted if not CLAIM_ID.match(c)]
    if malformed:
        raise ValueError(f"claim ids look like C01; got {', '.join(malformed)}")
    known = {nb.claim for nb in notebooks}
    unknown = [c for c in dict.fromkeys(wanted) if c not in known]
    if unknown:
        raise ValueError(
            f"unknown claim id{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(notebooks exist for: {', '.join(sorted(known)) or 'none'})"
        )
    return [nb for nb in notebooks if nb.claim in set(wanted)]


# --------------------------------------------------------------------------- state


def resolve_parameters(profile: str, overrides: Mapping[str, Any],
                       results_dir: str | os.PathLike | None = None, *,
                       device: str | None = None, scheduler: str | None = None
                       ) -> dict[str, Any]:
    """The parameters papermill injects: the profile's overrides, ``profile`` and, when given,
    ``output_dir`` (an explicit results folder), ``device`` and ``scheduler``. Without an
    explicit folder the kernel finds the profile's results folder itself, by the same rule
    (:func:`sparsestudy.study.layout.results_dir`), so no machine's path is written into the
    executed notebook."""
    params = dict(overrides)
    params["profile"] = profile
    if results_dir is not None:
        params["output_dir"] = str(Path(results_dir).resolve())
    if device is not None:
        params["device"] = device
    if scheduler is not None:
        params["scheduler"] = scheduler
    return params


def _read_state(rdir: Path) -> dict[str, Any]:
    path = rdir / STATE_FILE
    empty = {"version": STATE_VERSION, "notebooks": {}}
    if not path.is_file():
        return empty
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordError(f"the runner's state {path} is damaged ({exc}): delete it (every "
                          "notebook of this profile will then run again)") from None
    if not isinstance(state, dict) or not isinstance(state.get("notebooks"), dict):
        raise RecordError(f"the runner's state {path} is not a runs.json the runner wrote: "
                          "delete it (every notebook of this profile will then run again)")
    if state.get("version") != STATE_VERSION:  # an older layout: start afresh
        return empty
    return state


def _write_state(rdir: Path, state: dict[str, Any]) -> None:
    write_json(rdir / STATE_FILE, state)


def _current(nb: Notebook, params: Mapping[str, Any], recorded_device: str | None
             ) -> dict[str, str]:
    """The code, parameters and device parts of the fingerprint the tree has now."""
    device = fp.device_kind(params["device"]) if "device" in params else (recorded_device or
                                                                          "cpu")
    return {"code": fp.code_fingerprint(nb.path),
            "parameters": fp.parameters_fingerprint(params), "device": device}


def _why_run(entry: Mapping[str, Any] | None, nb: Notebook, params: Mapping[str, Any],
             record: Path, executed: Path) -> str | None:
    """Why a notebook needs to run, or ``None`` when it is up to date."""
    if not entry:
        return "never run"
    recorded = entry.get("fingerprint") or {}
    changed = fp.changes(recorded, **_current(nb, params, recorded.get("device")))
    if changed:
        return "; ".join(changed)
    if not record.is_file():
        return "record missing"
    if entry.get("record_sha256") != fp.sha256(record.read_bytes()):
        return "record changed outside the runner"
    if not executed.is_file():
        return "executed copy missing"
    return None


def notebook_status(profile: str = "quick", root: str | os.PathLike | None = None,
                    results_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """``{stem: why it would run}`` for every notebook, ``"up to date"`` when it would not.

    Used by the scoreboard to say when a record no longer matches its notebook.
    """
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    notebooks = discover_notebooks(root)
    profiles = load_profile(profile, root, notebooks)
    state = _read_state(rdir)["notebooks"]
    out = {}
    for nb in notebooks:
        entry = state.get(nb.stem)
        params = resolve_parameters(profile, profiles.get(nb.stem, {}), results_dir)
        for k, v in ((entry or {}).get("resolved_parameters") or {}).items():
            if k in ("device", "scheduler"):        # as the last run was asked to
                params.setdefault(k, v)
        why = _why_run(entry, nb, params, record_path(rdir, nb.claim),
                       rdir / "executed" / f"{nb.stem}.ipynb")
        out[nb.stem] = why or "up to date"
    return out


# --------------------------------------------------------------------------- running


def _check_parameters(nb: Notebook, params: Mapping[str, Any]) -> None:
    """Every injected parameter must be declared in the notebook's ``parameters`` cell."""
    import papermill as pm

    declared = pm.inspect_notebook(str(nb.path))
    if not declared:
        raise ValueError(f"{nb.path.name} has no code cell tagged 'parameters' (or it is empty)")
    unknown = [p for p in params if p not in declared]
    if unknown:
        raise ValueError(
            f"{nb.path.name} does not declare parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} in its 'parameters' cell (it declares {', '.join(declared)})"
        )


def _source_cell_index(nb_path: Path, executed_index: int) -> int:
    """Map papermill's cell index (counted with the injected-parameters cell) to the index
    of the same cell in the source notebook."""
    with open(nb_path, encoding="utf-8") as fh:
        cells = json.load(fh).get("cells", [])

    def first_tagged(tag: str) -> int:
        for i, c in enumerate(cells):
            if tag in c.get("metadata", {}).get("tags", []):
                return i
        return -1

    if first_tagged("injected-parameters") >= 0:  # papermill replaced it in place
        return executed_index
    p = first_tagged("parameters")
    injected_at = p + 1 if p >= 0 else 0
    return executed_index - 1 if executed_index > injected_at else executed_index


def _validate_record(path: Path, claim: str, profile: str, before_mtime: int | None
                     ) -> dict[str, Any]:
    if not path.is_file():
        raise _RecordProblem(f"the notebook finished but wrote no record {path}")
    if before_mtime is not None and path.stat().st_mtime_ns == before_mtime:
        raise _RecordProblem(f"the notebook finished but did not rewrite its record {path}")
    try:
        rec = load_record(path)
    except RecordError as exc:
        raise _RecordProblem(str(exc)) from None
    if rec["claim"] != claim:
        raise _RecordProblem(f"record {path} is for claim {rec['claim']!r}, not {claim}")
    if rec["profile"] != profile:
        raise _RecordProblem(
            f"record {path} says profile {rec['profile']!r}, not {profile!r} "
            "(does the notebook open its claim with open_claim?)"
        )
    return rec


class _RecordProblem(Exception):
    pass


def _restore_record(path: Path, snapshot: bytes | None) -> None:
    """Put the record back as it was before the run (or remove one the run created)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed atomic write
        tmp.unlink(missing_ok=True)
    if snapshot is None:
        path.unlink(missing_ok=True)
        return
    try:
        if path.read_bytes() == snapshot:
            return
    except OSError:
        pass
    atomic_write_bytes(path, snapshot)


def _one_line(text: Any, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _run_one(nb: Notebook, params: dict[str, Any], root: Path, rdir: Path, profile: str,
             kernel_name: str, progress: bool) -> Outcome:
    import papermill as pm

    record = record_path(rdir, nb.claim)
    executed_dir, failed_dir = rdir / "executed", rdir / "failed"
    executed = executed_dir / f"{nb.stem}.ipynb"
    failed_copy = failed_dir / f"{nb.stem}.ipynb"
    partial = executed_dir / f".{nb.stem}.running.ipynb"
    outcome = Outcome(nb.claim, nb.stem, "failed", parameters=dict(params))

    try:
        _check_parameters(nb, params)
    except Exception as exc:  # a broken notebook or profile is this notebook's failure
        outcome.error = _one_line(exc)
        return outcome

    executed_dir.mkdir(parents=True, exist_ok=True)
    snapshot = record.read_bytes() if record.is_file() else None
    before_mtime = record.stat().st_mtime_ns if snapshot is not None else None
    code = fp.code_fingerprint(nb.path)      # the code that runs, hashed before it runs
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(nb.path), str(partial),
            parameters=params,
            kernel_name=kernel_name,
            cwd=str(notebooks_dir(root)),
            log_output=False,
            progress_bar={"leave": False, "desc": nb.stem, "position": 1} if progress else False,
            request_save_on_cell_execute=True,
            # ipykernel >= 7 warns on every start that TCP is unencrypted (the kernel is local)
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        rec = _validate_record(record, nb.claim, profile, before_mtime)
        # complete the fingerprint: the kernel wrote the modules it loaded and the device
        rec["fingerprint"]["code"] = code
        rec["fingerprint"]["parameters"] = fp.parameters_fingerprint(params)
        write_json(record, rec)
    except BaseException as exc:
        outcome.elapsed_s = time.perf_counter() - t0
        _restore_record(record, snapshot)
        if partial.is_file():
            failed_dir.mkdir(parents=True, exist_ok=True)
            os.replace(partial, failed_copy)
            outcome.failed_copy = failed_copy
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: stop everything
            raise
        if isinstance(exc, pm.PapermillExecutionError):
            outcome.cell_index = _source_cell_index(nb.path, exc.cell_index)
            outcome.exec_count = exc.exec_count
            outcome.ename, outcome.evalue = exc.ename, _one_line(exc.evalue)
            outcome.error = (f"cell {outcome.cell_index} (In [{exc.exec_count}]) raised "
                             f"{exc.ename}: {outcome.evalue}")
        elif isinstance(exc, _RecordProblem):
            outcome.error = str(exc)
        else:
            outcome.ename, outcome.evalue = type(exc).__name__, _one_line(exc)
            outcome.error = f"{type(exc).__name__}: {outcome.evalue}"
        return outcome

    os.replace(partial, executed)
    failed_copy.unlink(missing_ok=True)
    outcome.status = "ran"
    outcome.elapsed_s = time.perf_counter() - t0
    outcome.record, outcome.executed = record, executed
    return outcome


def _note_run(state: dict[str, Any], rdir: Path, nb: Notebook, params: Mapping[str, Any],
              out: Outcome) -> None:
    """Keep a successful run in ``runs.json``."""
    record = record_path(rdir, nb.claim)
    executed = rdir / "executed" / f"{nb.stem}.ipynb"
    rec = load_record(record)
    state["notebooks"][nb.stem] = {
        "claim": nb.claim,
        "fingerprint": rec["fingerprint"],
        "resolved_parameters": dict(params),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(out.elapsed_s, 3),
        "record": record.name,
        "record_sha256": fp.sha256(record.read_bytes()),
        "executed": executed.relative_to(rdir).as_posix(),
    }
    _write_state(rdir, state)


def _finish_remote(nb: Notebook, params: dict[str, Any], rdir: Path, profile: str,
                   result: Mapping[str, Any] | BaseException, elapsed_s: float) -> Outcome:
    """Write what a cluster task sent back (executed notebook, record) atomically, as
    :func:`_run_one` does after a local run, and say how it went."""
    record = record_path(rdir, nb.claim)
    executed_dir, failed_dir = rdir / "executed", rdir / "failed"
    executed = executed_dir / f"{nb.stem}.ipynb"
    failed_copy = failed_dir / f"{nb.stem}.ipynb"
    outcome = Outcome(nb.claim, nb.stem, "failed", parameters=dict(params), elapsed_s=elapsed_s)
    snapshot = record.read_bytes() if record.is_file() else None
    before_mtime = record.stat().st_mtime_ns if snapshot is not None else None
    code = fp.code_fingerprint(nb.path)
    if isinstance(result, BaseException):
        outcome.ename, outcome.evalue = type(result).__name__, _one_line(result)
        outcome.error = f"the cluster task failed: {outcome.ename}: {outcome.evalue}"
        return outcome
    outcome.elapsed_s = float(result.get("elapsed_s", elapsed_s))
    err = result.get("error")
    if err is None:
        try:
            if result.get("record") is None:
                raise _RecordProblem("the notebook finished on the cluster but wrote no record")
            atomic_write_bytes(record, result["record"])
            rec = _validate_record(record, nb.claim, profile, before_mtime)
            rec["fingerprint"]["code"] = code
            rec["fingerprint"]["parameters"] = fp.parameters_fingerprint(params)
            write_json(record, rec)
        except _RecordProblem as exc:
            err = {"kind": "record", "message": str(exc)}
            _restore_record(record, snapshot)
    if err is not None:
        if result.get("executed") is not None:
            atomic_write_bytes(failed_copy, result["executed"])
            outcome.failed_copy = failed_copy
        if err.get("kind") == "cell":
            outcome.cell_index = _source_cell_index(nb.path, err["cell_index"])
            outcome.exec_count = err.get("exec_count")
            outcome.ename, outcome.evalue = err.get("ename"), _one_line(err.get("evalue"))
            outcome.error = (f"cell {outcome.cell_index} (In [{outcome.exec_count}]) raised "
                             f"{outcome.ename}: {outcome.evalue}")
        elif err.get("kind") == "record":
            outcome.error = err["message"]
        else:
            outcome.ename, outcome.evalue = err.get("ename"), _one_line(err.get("evalue"))
            what = "the kernel did not start" if err.get("kind") == "start" else "the run failed"
            outcome.error = f"{what} on the cluster: {outcome.ename}: {outcome.evalue}"
        return outcome
    atomic_write_bytes(executed, result["executed"])
    failed_copy.unlink(missing_ok=True)
    outcome.status = "ran"
    outcome.record, outcome.executed = record, executed
    return outcome


def _plan(nb: Notebook, profile: str, overrides: Mapping[str, Any], results_dir: Any,
          rdir: Path, state: Mapping[str, Any], force: bool, device: Any, scheduler: Any
          ) -> tuple[dict[str, Any], str | None, Outcome | None]:
    """A notebook's resolved parameters, why it must run (``None``: up to date), and its
    "skipped" outcome when it need not run (``None`` otherwise)."""
    params = resolve_parameters(profile, overrides, results_dir, device=device,
                                scheduler=scheduler)
    record = record_path(rdir, nb.claim)
    executed = rdir / "executed" / f"{nb.stem}.ipynb"
    why = _why_run(state["notebooks"].get(nb.stem), nb, params, record, executed)
    if why is None and not force:
        return params, why, Outcome(nb.claim, nb.stem, "skipped", reason="up to date",
                                    record=record, executed=executed, parameters=params)
    return params, why, None


def _run_on_cluster(selected: list[Notebook], profiles: Mapping[str, dict[str, Any]],
                    profile: str, results_dir: Any, rdir: Path, state: dict[str, Any],
                    force: bool, kernel_name: str, device: str | None, scheduler: Any,
                    progress: bool, max_kernel_starts: int) -> list[Outcome]:
    """Every notebook that needs to run becomes a task on the cluster at ``scheduler``; the
    results are written here as they come back (:mod:`sparsestudy.study.distributed`)."""
    from distributed import as_completed

    from ..sweep import check_workers, connect
    from .distributed import execute_notebook_task

    outcomes: dict[str, Outcome] = {}
    with connect(scheduler) as client:
        check_workers(client)
        futures = {}
        for nb in selected:
            params, why, skipped = _plan(nb, profile, profiles.get(nb.stem, {}), results_dir,
                                         rdir, state, force, device, scheduler)
            if skipped is not None:
                outcomes[nb.stem] = skipped
                continue
            try:
                _check_parameters(nb, params)
            except Exception as exc:
                outcomes[nb.stem] = Outcome(nb.claim, nb.stem, "failed", reason=why or "forced",
                                            error=_one_line(exc), parameters=params)
                continue
            remote = {k: v for k, v in params.items() if k != "output_dir"}   # the worker's own
            fut = client.submit(execute_notebook_task, nb.path.name, nb.path.read_bytes(),
                                remote, nb.claim, profile, kernel_name, max_kernel_starts,
                                pure=False, key=f"notebook-{nb.stem}-{time.time_ns()}")
            futures[fut] = (nb, params, why or "forced", time.perf_counter())
        for fut in as_completed(list(futures), loop=client.loop):
            nb, params, why, t0 = futures[fut]
            try:
                result: Any = fut.result()
            except Exception as exc:       # the task itself failed (e.g. its worker died)
                result = exc
            out = _finish_remote(nb, params, rdir, profile, result, time.perf_counter() - t0)
            out.reason = why
            if out.status == "ran":
                _note_run(state, rdir, nb, params, out)
            outcomes[nb.stem] = out
            if progress:
                print(out.describe(), file=sys.stderr, flush=True)
    return [outcomes[nb.stem] for nb in selected]


def run_notebooks(
    profile: str = "quick",
    only: str | Iterable[str] | None = None,
    force: bool = False,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    results_dir: str | os.PathLike | None = None,
    raise_on_failure: bool = True,
    kernel_name: str = KERNEL_NAME,
    device: str | None = None,
    scheduler: str | None = None,
    wait: bool = True,
    max_kernel_starts: int = 2,
) -> list[Outcome]:
    """Execute the claim notebooks of ``profile`` and return one :class:`Outcome` each.

    Parameters
    ----------
    profile : str
        Name of ``notebooks/profiles/<profile>.yaml`` (``"quick"`` or ``"full"``).
    only : str or list of str, optional
        Claim ids to run (``["C01", "C03"]`` or ``"C01,C03"``); default all.
    force : bool
        Run even the notebooks that are up to date.
    root : path, optional
        Project root (default :func:`sparsestudy.study.layout.project_root`).
    progress : bool
        Show a progress bar over notebooks (and papermill's over cells) on stderr.
    results_dir : path, optional
        Where records, executed copies and ``runs.json`` go (default
        :func:`sparsestudy.study.layout.results_dir`); injected as ``output_dir``.
    raise_on_failure : bool
        Raise :class:`NotebookRunError` at the end if any notebook failed (default).
    device, scheduler : str, optional
        Injected into every notebook when given (``device``: ``"cpu"``, ``"cuda"`` or
        ``"auto"``; ``scheduler``: a Dask scheduler address). With ``scheduler`` the notebooks
        run as tasks on that cluster, all at once, and their sweeps spread over it too
        (:mod:`sparsestudy.study.distributed`); the executed notebooks and records come back
        and are written here, as after a local run.
    max_kernel_starts : int
        With ``scheduler``: how many kernels may start at once on the cluster.
    wait : bool
        When another run holds this profile's folder: wait for it (default) or raise
        :class:`~sparsestudy.study.layout.RunInProgress`.

    Raises
    ------
    ValueError
        Unknown profile or claim id, or a malformed profile file (before anything runs).
    NotebookRunError
        After every selected notebook was tried, when at least one failed.
    """
    from tqdm.auto import tqdm

    root = Path(root).resolve() if root is not None else project_root()
    if not notebooks_dir(root).is_dir():
        raise ValueError(f"{root} has no notebooks/ folder: run sparsestudy inside the project "
                         "(the folder with _config.yml and pyproject.toml) or pass --root")
    if device is not None and device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    notebooks = discover_notebooks(root)
    profiles = load_profile(profile, root, notebooks)
    selected = select_notebooks(notebooks, only)
    if not selected:
        raise ValueError(f"no claim notebooks (cNN_<name>.ipynb) in {notebooks_dir(root)}")
    rdir = chosen_results_dir(profile, root, results_dir).resolve()
    with run_lock(rdir, wait=wait, what=f"sparsestudy run --profile {profile}"):
        state = _read_state(rdir)
        outcomes: list[Outcome] = []
        if scheduler is not None:
            outcomes = _run_on_cluster(selected, profiles, profile, results_dir, rdir, state,
                                       force, kernel_name, device, scheduler, progress,
                                       max_kernel_starts)
            if raise_on_failure and any(o.status == "failed" for o in outcomes):
                raise NotebookRunError(outcomes)
            return outcomes
        bar = tqdm(selected, desc=f"notebooks ({profile})", unit="nb", disable=not progress,
                   file=sys.stderr, position=0)
        for nb in bar:
            bar.set_postfix_str(nb.stem)
            params, why, out = _plan(nb, profile, profiles.get(nb.stem, {}), results_dir,
                                     rdir, state, force, device, scheduler)
            if out is None:
                out = _run_one(nb, params, root, rdir, profile, kernel_name, progress)
                out.reason = why or "forced"
                if out.status == "ran":
                    _note_run(state, rdir, nb, params, out)
            outcomes.append(out)
            if progress:
                bar.write(out.describe(), file=sys.stderr)
        bar.close()

    if raise_on_failure and any(o.status == "failed" for o in outcomes):
        raise NotebookRunError(outcomes)
    return outcomes


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    d = asdict(outcome)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


__all__ = [
    "run_notebooks", "notebook_status", "discover_notebooks", "load_profile", "select_notebooks",
    "resolve_parameters", "Notebook", "Outcome", "NotebookRunError",
]

"""Publishing the study's verdicts: the full profile's records and executed notebooks, committed
in ``book/records/full/`` (register amendment 2).

Two ways in, one check:

* :func:`publish` runs the ``full`` profile from a clean ``git worktree`` of one commit (the
  runner skips what is up to date in the results folder), then publishes what it wrote. It
  refuses a dirty tree, so a published record describes committed code.
* :func:`publish_from` publishes records that were already run, for instance by
  ``SPARSESTUDY_RESULTS=/work/full-c02 sparsestudy run --profile full`` in a worktree.

Either way every record is checked against the commit it names (:func:`check_results`): the
record is a full-profile record of a clean commit that exists here, written by the runner and not
edited since (``runs.json``), its fingerprint matches that commit (the notebook's code cells, the
full profile's parameters, every library module the kernel loaded), and its executed notebook
is there, has no error output and is under :data:`MAX_NOTEBOOK_BYTES`. Nothing is committed:
the published files are left for the caller to review and commit.

``book/records/full/`` is laid out like a results folder (``C01.json``, ``executed/``), plus
``published.json``: per claim the notebook, commit, date, hardware, fingerprint (and its digest),
the resolved parameters (so staleness can be computed later) and the executed notebook's size
and hash. Publishing also rewrites the README's generated "Findings" section.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import fingerprint as fp
from .layout import (RECORD_GLOB, STATE_FILE, atomic_write_bytes, check_claim, claim_of_stem,
                     project_root, published_dir, write_json)
from .record import RecordError, load_record

#: the profile whose records are the study's verdicts
PUBLISHED_PROFILE = "full"
#: the largest executed notebook that is published (figures as PNG at a sensible resolution)
MAX_NOTEBOOK_BYTES = 2_000_000
MANIFEST = "published.json"
MANIFEST_FORMAT = 1
#: where the library lives inside the repository
LIBRARY_PATH = "src/sparsestudy"


class PublishError(RuntimeError):
    """Records cannot be published: the message says which and why."""


@dataclass(frozen=True)
class Candidate:
    """A checked record, ready to publish."""

    claim: str
    stem: str
    record: Path
    executed: Path
    entry: dict[str, Any]          # the runner's state entry of the run
    data: dict[str, Any]           # the record


# --------------------------------------------------------------------------------- git


def _git(root: Path, *args: str, binary: bool = False) -> Any:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise PublishError(f"git {' '.join(args)} failed in {root}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", errors="replace")


def _git_ok(root: Path, *args: str) -> bool:
    return subprocess.run(["git", *args], cwd=root, capture_output=True,
                          timeout=120).returncode == 0


def resolve_commit(root: str | os.PathLike, ref: str = "HEAD") -> str:
    """The full hash of ``ref`` in the repository at ``root``."""
    return _git(Path(root), "rev-parse", "--verify", f"{ref}^{{commit}}").strip()


def dirty_files(root: str | os.PathLike) -> list[str]:
    """Tracked files with uncommitted changes (what makes a record's ``dirty`` true)."""
    out = _git(Path(root), "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in out.splitlines() if line.strip()]


def _show(root: Path, commit: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True,
                          timeout=120)
    return proc.stdout if proc.returncode == 0 else None


# ------------------------------------------------------------------------------ checking


def _profile_folder(results: Path) -> Path:
    """``results`` itself when it holds records, else ``results/full`` (a folder that
    ``SPARSESTUDY_RESULTS`` named)."""
    if not results.is_dir():
        raise PublishError(f"{results} is not a folder")
    if not list(results.glob(RECORD_GLOB)) and (results / PUBLISHED_PROFILE).is_dir():
        return results / PUBLISHED_PROFILE
    return results


def _state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PublishError(f"{path} is missing or damaged: only records written by "
                           "`sparsestudy run` can be published") from None
    if not isinstance(state, dict) or not isinstance(state.get("notebooks"), dict):
        raise PublishError(f"{path} is not the runner's state")
    return state["notebooks"]


def _error_outputs(nb: Mapping[str, Any]) -> list[str]:
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        for o in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if o.get("output_type") == "error":
                out.append(f"cell {i} raised {o.get('ename')}: {o.get('evalue')}")
    return out


def _expected_parameters(root: Path, commit: str, stem: str,
                         resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters the runner injects for ``stem`` with the full profile of ``commit``, with
    the device and scheduler the run was given."""
    from .runner import resolve_parameters

    text = _show(root, commit, f"notebooks/profiles/{PUBLISHED_PROFILE}.yaml")
    profile = (yaml.safe_load(text.decode("utf-8")) or {}) if text is not None else {}
    return resolve_parameters(PUBLISHED_PROFILE, (profile.get(stem) or {}),
                              device=resolved.get("device"), scheduler=resolved.get("scheduler"))


def check_record(root: Path, folder: Path, record: Path,
                 state: Mapping[str, Any]) -> Candidate:
    """Check one record of ``folder`` against the commit it names; see the module docstring."""
    try:
        data = load_record(record)
    except RecordError as exc:
        raise PublishError(str(exc)) from None
    claim = data["claim"]
    where = f"{claim} ({record})"
    if data["profile"] != PUBLISHED_PROFILE:
        raise PublishError(f"{where} is a {data['profile']!r} record; only the "
                           f"{PUBLISHED_PROFILE!r} profile is published")
    prov, fprint = data["provenance"], data["fingerprint"]
    commit = prov.get("commit")
    if not commit:
        raise PublishError(f"{where} was not run from a git checkout (no commit)")
    if prov.get("dirty") is not False:
        raise PublishError(f"{where} was run from commit {commit[:12]} with uncommitted "
                           "changes: rerun it from a clean checkout (`make publish` uses a "
                           "git worktree)")
    if not _git_ok(root, "cat-file", "-e", f"{commit}^{{commit}}"):
        raise PublishError(f"{where} names commit {commit[:12]}, which this repository does "
                           "not have")
    entries = [(s, e) for s, e in state.items() if isinstance(e, dict) and e.get("claim") == claim]
    if len(entries) != 1:
        raise PublishError(f"{where}: {STATE_FILE} has no run of {claim}: only records written "
                           "by `sparsestudy run` can be published")
    stem, entry = entries[0]
    if entry.get("record_sha256") != fp.sha256(record.read_bytes()):
        raise PublishError(f"{where} changed after `sparsestudy run` wrote it")
    if entry.get("fingerprint") != fprint or any(fprint.get(k) is None for k in fp.PARTS):
        raise PublishError(f"{where} has no complete fingerprint from the runner")
    source = _show(root, commit, f"notebooks/{stem}.ipynb")
    if source is None:
        raise PublishError(f"{where}: commit {commit[:12]} has no notebooks/{stem}.ipynb")
    if fp.code_fingerprint(json.loads(source)) != fprint["code"]:
        raise PublishError(f"{where}: the notebook that ran is not notebooks/{stem}.ipynb of "
                           f"commit {commit[:12]}")
    resolved = entry.get("resolved_parameters") or {}
    expected = _expected_parameters(root, commit, stem, resolved)
    if fp.parameters_fingerprint(expected) != fprint["parameters"]:
        raise PublishError(f"{where}: it did not run with the {PUBLISHED_PROFILE} profile of "
                           f"commit {commit[:12]} (its parameters differ)")
    differ = []
    for rel, digest in fprint["modules"].items():
        blob = _show(root, commit, f"{LIBRARY_PATH}/{rel}")
        if blob is None or fp.sha256(blob) != digest:
            differ.append(rel)
    if differ:
        raise PublishError(
            f"{where}: the library the kernel loaded is not the one of commit {commit[:12]} "
            f"({', '.join(differ[:4])}{' …' if len(differ) > 4 else ''}); run in a worktree "
            f"of that commit with PYTHONPATH=<worktree>/src")
    executed = folder / "executed" / f"{stem}.ipynb"
    if not executed.is_file():
        raise PublishError(f"{where}: its executed notebook {executed} is missing")
    size = executed.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise PublishError(f"{where}: the executed notebook is {size / 1e6:.1f} MB, more than "
                           f"{MAX_NOTEBOOK_BYTES / 1e6:.0f} MB (save figures as PNG at a lower "
                           "resolution)")
    errors = _error_outputs(json.loads(executed.read_text(encoding="utf-8")))
    if errors:
        raise PublishError(f"{where}: the executed notebook has errors: {'; '.join(errors)}")
    return Candidate(claim, stem, record, executed, dict(entry), data)


def check_results(results: str | os.PathLike, root: str | os.PathLike | None = None,
                  only: Iterable[str] | str | None = None) -> list[Candidate]:
    """Check every record (or those of ``only``) in a full-profile results folder; raises
    :class:`PublishError` listing every record that cannot be published."""
    root = Path(root).resolve() if root is not None else project_root()
    folder = _profile_folder(Path(results).resolve())
    if isinstance(only, str):
        only = only.split(",")
    wanted = None if only is None else {check_claim(c.strip().upper()) for c in only if c.strip()}
    records = sorted(folder.glob(RECORD_GLOB))
    if wanted is not None:
        missing = sorted(wanted - {p.stem for p in records})
        if missing:
            raise PublishError(f"{folder} has no record of {', '.join(missing)}")
        records = [p for p in records if p.stem in wanted]
    if not records:
        raise PublishError(f"{folder} holds no claim records (C01.json, …)")
    state = _state(folder)
    out, problems = [], []
    for path in records:
        try:
            out.append(check_record(root, folder, path, state))
        except PublishError as exc:
            problems.append(str(exc))
    if problems:
        raise PublishError("cannot publish:\n  " + "\n  ".join(problems))
    return out


# ------------------------------------------------------------------------------ writing


def read_manifest(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``published.json``: ``{"format": 1, "claims": {claim: {...}}}`` (empty when none)."""
    path = published_dir(root) / MANIFEST
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "claims": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PublishError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or \
            not isinstance(data.get("claims"), dict):
        raise PublishError(f"{path} is not a manifest that sparsestudy publish wrote")
    return data


def _entry(c: Candidate, now: str) -> dict[str, Any]:
    prov, fprint = c.data["provenance"], c.data["fingerprint"]
    return {
        "notebook": c.stem,
        "verdict": c.data["verdict"],
        "commit": prov["commit"],
        "date": prov["date"],
        "published": now,
        "processor": prov["processor"],
        "device": prov["device"],
        "versions": prov["versions"],
        "elapsed_s": c.data["elapsed_s"],
        "fingerprint": fprint,
        "digest": fp.digest(fprint),
        "resolved_parameters": c.entry.get("resolved_parameters") or {},
        "executed_sha256": fp.sha256(c.executed.read_bytes()),
        "executed_bytes": c.executed.stat().st_size,
    }


def publish_from(results: str | os.PathLike, root: str | os.PathLike | None = None,
                 only: Iterable[str] | str | None = None) -> list[Path]:
    """Check the records of ``results`` (:func:`check_results`) and copy them, with their
    executed notebooks, into ``book/records/full/``; update ``published.json``. Returns the
    files written. Commits nothing."""
    root = Path(root).resolve() if root is not None else project_root()
    candidates = check_results(results, root, only)
    dest = published_dir(root)
    manifest = read_manifest(root)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    written = []
    for c in candidates:
        for old in (dest / "executed").glob(f"c{c.claim[1:]}_*.ipynb"):
            if old.stem != c.stem and claim_of_stem(old.stem) == c.claim:
                old.unlink()          # the claim's notebook was renamed
        written.append(atomic_write_bytes(dest / f"{c.claim}.json", c.record.read_bytes()))
        written.append(atomic_write_bytes(dest / "executed" / f"{c.stem}.ipynb",
                                          c.executed.read_bytes()))
        manifest["claims"][c.claim] = _entry(c, now)
    manifest["claims"] = dict(sorted(manifest["claims"].items()))
    written.append(write_json(dest / MANIFEST, manifest))
    readme = update_readme(root)
    if readme is not None:
        written.append(readme)
    return written


def publish(root: str | os.PathLike | None = None, ref: str = "HEAD",
            only: Iterable[str] | str | None = None, results: str | os.PathLike | None = None,
            device: str | None = None, progress: bool = False) -> list[Path]:
    """Run the full profile from a clean worktree of ``ref`` and publish its records.

    The tree must be clean (no uncommitted changes to tracked files). The run goes to
    ``results`` (default ``$SPARSESTUDY_RESULTS`` or ``<root>/results``, so its ``full/``
    folder persists and the runner skips what is up to date), with ``PYTHONPATH`` pointing at
    the worktree's library, so the kernel imports the commit's code. Returns the files written
    in ``book/records/full/``; commits nothing.
    """
    root = Path(root).resolve() if root is not None else project_root()
    dirty = dirty_files(root)
    if dirty:
        shown = ", ".join(dirty[:6]) + (f" and {len(dirty) - 6} more" if len(dirty) > 6 else "")
        raise PublishError(f"the tree has uncommitted changes ({shown}): commit them first, "
                           "so that a published record describes the code it ran")
    commit = resolve_commit(root, ref)
    base = Path(results or os.environ.get("SPARSESTUDY_RESULTS") or root / "results").resolve()
    holder = Path(tempfile.mkdtemp(prefix="sparsestudy-publish-"))
    tree = holder / commit[:12]
    _git(root, "worktree", "add", "--detach", str(tree), commit)
    try:
        env = dict(os.environ, SPARSESTUDY_RESULTS=str(base))
        if (tree / LIBRARY_PATH).is_dir():
            env["PYTHONPATH"] = os.pathsep.join(
                [str(tree / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
        cmd = [sys.executable, "-m", "sparsestudy.study.cli", "--root", str(tree), "run",
               "--profile", PUBLISHED_PROFILE]
        if only:
            cmd += ["--only", only if isinstance(only, str) else ",".join(only)]
        if device:
            cmd += ["--device", device]
        if not progress:
            cmd.append("--no-progress")
        proc = subprocess.run(cmd, cwd=tree, env=env)
        if proc.returncode != 0:
            raise PublishError(f"the full profile failed at commit {commit[:12]} (exit status "
                               f"{proc.returncode}); nothing was published")
        return publish_from(base / PUBLISHED_PROFILE, root, only)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root,
                       capture_output=True)
        shutil.rmtree(holder, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True)


# ------------------------------------------------------------------------------ README

FINDINGS_START = "<!-- findings: generated from book/records/full/ by `sparsestudy publish` -->"
FINDINGS_END = "<!-- end of findings -->"


def findings_markdown(root: str | os.PathLike | None = None) -> str:
    """The README's "Findings" list, from the published records only (not their staleness,
    nor the claims not yet published, which depend on the tree: the scoreboard shows them)."""
    root = Path(root).resolve() if root is not None else project_root()
    dest = published_dir(root)
    records = [load_record(p) for p in sorted(dest.glob(RECORD_GLOB))] if dest.is_dir() else []
    lines = []
    for rec in records:
        prov = rec["provenance"]
        lines.append(f"- **{rec['claim']}** {rec['title']} — *{rec['verdict']}*. {rec['why']} "
                     f"({len(rec['seeds'])} seeds, commit `{(prov['commit'] or '')[:12]}`, "
                     f"{prov['date'][:10]})")
    if not records:
        lines.append("No claim has been published at full scale yet.")
    return "\n".join(lines)


def readme_with_findings(text: str, root: str | os.PathLike | None = None) -> str:
    """``text`` (the README) with its generated findings replaced by :func:`findings_markdown`."""
    if FINDINGS_START not in text or FINDINGS_END not in text:
        raise PublishError("README.md has no generated findings section (its markers are "
                           f"{FINDINGS_START!r} and {FINDINGS_END!r})")
    head, rest = text.split(FINDINGS_START, 1)
    _, tail = rest.split(FINDINGS_END, 1)
    return f"{head}{FINDINGS_START}\n{findings_markdown(root)}\n{FINDINGS_END}{tail}"


def update_readme(root: str | os.PathLike | None = None) -> Path | None:
    """Rewrite README.md's findings from the published records; returns its path (``None``
    when there is no README with the section's markers)."""
    root = Path(root).resolve() if root is not None else project_root()
    path = root / "README.md"
    if not path.is_file() or FINDINGS_START not in path.read_text(encoding="utf-8"):
        return None
    text = path.read_text(encoding="utf-8")
    new = readme_with_findings(text, root)
    if new != text:
        atomic_write_bytes(path, new.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------- staleness


@dataclass(frozen=True)
class Published:
    """A published record and how it compares with the tree now."""

    claim: str
    stem: str
    record: dict[str, Any]
    entry: dict[str, Any]
    executed: Path | None
    changes: list[str]             # what changed since it ran (empty: up to date)

    @property
    def stale(self) -> bool:
        return bool(self.changes)


def published(root: str | os.PathLike | None = None) -> dict[str, Published]:
    """The published records of ``book/records/full/`` with their staleness against the tree
    (the fingerprint's :func:`~sparsestudy.study.fingerprint.changes`)."""
    from .runner import discover_notebooks, load_profile, resolve_parameters

    root = Path(root).resolve() if root is not None else project_root()
    dest = published_dir(root)
    if not dest.is_dir():
        return {}
    manifest = read_manifest(root)["claims"]
    notebooks = {nb.claim: nb for nb in discover_notebooks(root)}
    try:
        profile = load_profile(PUBLISHED_PROFILE, root, list(notebooks.values()))
    except ValueError:
        profile = {}
    out = {}
    for path in sorted(dest.glob(RECORD_GLOB)):
        rec = load_record(path)
        claim = rec["claim"]
        entry = manifest.get(claim) or {}
        stem = entry.get("notebook") or (notebooks[claim].stem if claim in notebooks else "")
        executed = dest / "executed" / f"{stem}.ipynb"
        nb = notebooks.get(claim)
        if nb is None:
            why = ["the claim's notebook was removed"]
        elif nb.stem != stem:
            why = [f"the notebook was renamed ({stem} to {nb.stem})"]
        else:
            resolved = entry.get("resolved_parameters") or {}
            params = resolve_parameters(PUBLISHED_PROFILE, profile.get(nb.stem, {}),
                                        device=resolved.get("device"),
                                        scheduler=resolved.get("scheduler"))
            why = fp.changes(rec["fingerprint"], code=fp.code_fingerprint(nb.path),
                             parameters=fp.parameters_fingerprint(params),
                             device=rec["fingerprint"]["device"])
        out[claim] = Published(claim, stem, rec, entry,
                               executed if executed.is_file() else None, why)
    return out


def stale_claims(root: str | os.PathLike | None = None) -> list[str]:
    """Claims with a notebook whose published record is stale or missing (what the ``full``
    workflow reruns)."""
    from .runner import discover_notebooks

    pub = published(root)
    return [nb.claim for nb in discover_notebooks(root)
            if nb.claim not in pub or pub[nb.claim].stale]


__all__ = [
    "publish", "publish_from", "check_results", "check_record", "published", "stale_claims",
    "read_manifest", "findings_markdown", "readme_with_findings", "update_readme",
    "resolve_commit", "dirty_files", "Published", "Candidate", "PublishError",
    "PUBLISHED_PROFILE", "MAX_NOTEBOOK_BYTES", "MANIFEST",
]

"""The scoreboard and the book, built from the records and executed notebooks of a profile.

* :func:`claim_rows` gathers, for every claim notebook and every record, what the scoreboard
  shows: verdict, sub-claims, highlights, and whether the record is stale or the last run failed.
* :func:`write_scoreboard` writes ``book/scoreboard.md`` (generated, not committed).
* :func:`format_claims` is the same scoreboard as plain text for the terminal.
* :func:`build_book` copies ``results/<profile>/executed/*.ipynb`` to ``book/chapters/``, writes
  the scoreboard and runs ``jupyter-book build`` with warnings as errors (no execution).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .layout import atomic_write_text, chosen_results_dir, project_root, run_lock
from .record import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, VERDICTS, load_records
from .runner import discover_notebooks, notebook_status

MARKERS = {SUPPORTED: "✅", MIXED: "🟡", NOT_SUPPORTED: "❌", INCONCLUSIVE: "⚪"}
HOLDS, FAILS, UNDECIDED = "✓", "✗", "?"


class BookError(RuntimeError):
    """The book cannot be built (nothing to build, or the Sphinx build failed)."""


@dataclass
class ClaimRow:
    claim: str
    stem: str | None = None  # notebook stem, None when the record has no notebook
    title: str = ""
    record: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str | None:
        return self.record["verdict"] if self.record else None

    def subclaims_text(self) -> str:
        if not self.record:
            return ""
        subs = self.record.get("subclaims", {})
        marks = {True: HOLDS, False: FAILS, None: UNDECIDED}
        return " ".join(f"{k} {marks[subs[k]['holds']]}"
                        + (" (check)" if subs[k].get("consistency") else "")
                        for k in sorted(subs))

    def n_held(self) -> tuple[int, int]:
        """(sub-claims that hold, sub-claims that count), consistency checks left out."""
        subs = [s for s in (self.record or {}).get("subclaims", {}).values()
                if not s.get("consistency")]
        return sum(s["holds"] is True for s in subs), len(subs)


# --------------------------------------------------------------------------- gathering


def _notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook (without a leading ``C01:``-style id)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return ""
    for c in cells:
        if c.get("cell_type") != "markdown":
            continue
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for line in src.splitlines():
            m = re.match(r"^#{1,6}\s+(.*\S)", line)
            if m:
                return re.sub(r"^C\d{2}\s*[-—:.]\s*", "", m.group(1))
    return ""


def claim_rows(profile: str = "quick", root: str | os.PathLike | None = None,
               results_dir: str | os.PathLike | None = None) -> list[ClaimRow]:
    """One row per claim that has a notebook or a record, sorted by claim id."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    notebooks = {nb.claim: nb for nb in discover_notebooks(root)}
    status = notebook_status(profile, root, results_dir)  # ValueError for an unknown profile
    records = {r["claim"]: r for r in load_records(rdir)} if rdir.is_dir() else {}
    rows = []
    for claim in sorted(set(notebooks) | set(records)):
        nb = notebooks.get(claim)
        rec = records.get(claim)
        row = ClaimRow(claim, stem=nb.stem if nb else None, record=rec)
        row.title = (rec or {}).get("title") or (_notebook_title(nb.path) if nb else "")
        if rec is None:
            row.notes.append(f"{claim} has no record for profile {profile!r} yet: "
                             f"run `sparsestudy run --profile {profile} --only {claim}`.")
        else:
            if rec.get("profile") != profile:
                row.notes.append(f"{claim}'s record says profile {rec.get('profile')!r}.")
            if nb is None:
                row.notes.append(f"{claim} has a record but no notebook in notebooks/.")
        if nb is not None:
            failed = rdir / "failed" / f"{nb.stem}.ipynb"
            if failed.is_file():
                shown = "the record shown is from the last successful run" if rec else \
                    "there is no successful run"
                row.notes.append(f"the latest run of {claim} failed "
                                 f"(executed copy in `{_rel(failed, root)}`); {shown}.")
            why = status.get(nb.stem)
            if rec is None or why in (None, "up to date", "never run", "executed copy missing"):
                pass
            elif why == "record changed outside the runner":
                row.notes.append(f"{claim}'s record was not written by `sparsestudy run` "
                                 f"(rerun `sparsestudy run --profile {profile} --only {claim}`).")
            elif why != "record missing":
                row.notes.append(f"{claim}'s record is out of date ({why} since it was "
                                 f"computed): rerun `sparsestudy run --profile {profile} "
                                 f"--only {claim}`.")
        rows.append(row)
    return rows


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _commits(rows: list[ClaimRow]) -> list[str]:
    seen = []
    for r in rows:
        if not r.record:
            continue
        g = r.record.get("provenance") or {}
        text = "outside git" if not g.get("commit") else \
            f"{g['commit'][:12]}{' + uncommitted changes' if g.get('dirty') else ''}"
        if text not in seen:
            seen.append(text)
    return seen


def _commit_md(text: str) -> str:
    if text == "outside git":
        return "not a git checkout"
    commit, _, rest = text.partition(" + ")
    return f"commit `{commit}`" + (f" {rest.replace('uncommitted', 'plus uncommitted')}"
                                   if rest else "")


def format_value(value: Any) -> str:
    """A compact text form of a highlight value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        items = [format_value(v) for v in value[:6]]
        return "[" + ", ".join(items) + (", …" if len(value) > 6 else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in list(value.items())[:6]) + "}"
    return str(value)


# --------------------------------------------------------------------------- Markdown


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|$#])")


def md_escape(text: str) -> str:
    """Escape text for a MyST table cell (no markup, no math, no roles, no pipes)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def scoreboard_markdown(profile: str = "quick", root: str | os.PathLike | None = None,
                        results_dir: str | os.PathLike | None = None) -> str:
    """The scoreboard page (MyST Markdown). Chapters are linked when ``book/chapters/<stem>.ipynb``
    exists, so call it after the executed notebooks were copied there."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    rows = claim_rows(profile, root, results_dir)
    chapters = root / "book" / "chapters"
    n = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    missing = sum(r.record is None for r in rows)

    out = ["# Scoreboard", ""]
    out.append(
        f"Computed verdicts of profile **{profile}**, read from the records in "
        f"`{_rel(rdir, root)}/`. A claim is *supported* when every sub-claim holds, *mixed* when "
        "some hold and some do not, *not supported* when at least one fails and none holds, "
        "and *inconclusive* when none fails but at least one experiment was too weak to test "
        "its rule. Each rule is the one pre-registered in the claims register and is computed "
        "by the claim's notebook, never typed; consistency checks are shown but not counted."
    )
    out.append("")
    commits = _commits(rows)
    if commits:
        out.append(f"Source of the records: {', '.join(_commit_md(c) for c in commits)}.")
        out.append("")
    out.append(
        f"{MARKERS[SUPPORTED]} {n[SUPPORTED]} supported · {MARKERS[MIXED]} {n[MIXED]} mixed · "
        f"{MARKERS[NOT_SUPPORTED]} {n[NOT_SUPPORTED]} not supported · "
        f"{MARKERS[INCONCLUSIVE]} {n[INCONCLUSIVE]} inconclusive"
        + (f" · {missing} without a record" if missing else "")
    )
    out.append("")
    if not rows:
        out.append("There are no claim notebooks and no records yet.")
        out.append("")
    else:
        out.append("| Claim | Statement | Verdict | Sub-claims held | Key numbers | Chapter |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            if r.record:
                held, total = r.n_held()
                verdict = f"{MARKERS[r.verdict]} **{r.verdict}**"
                subs = f"{md_escape(r.subclaims_text())} ({held}/{total})"
                hl = "; ".join(f"{md_escape(k)}: {md_escape(format_value(v))}"
                               for k, v in (r.record.get("highlights") or {}).items())
            else:
                verdict, subs, hl = "— *no record*", "", ""
            if r.stem and (chapters / f"{r.stem}.ipynb").is_file():
                chapter = f"[{md_escape(r.stem)}](chapters/{r.stem}.ipynb)"
            else:
                chapter = "—"
            out.append(f"| {r.claim} | {md_escape(r.title)} | {verdict} | {subs} | {hl or ''} "
                       f"| {chapter} |")
        out.append("")
    notes = [note for r in rows for note in r.notes]
    if notes:
        out.append(":::{note}")
        out += [f"- {note}" for note in notes]
        out.append(":::")
        out.append("")
    out.append(f"Sub-claims: {HOLDS} holds, {FAILS} does not hold, {UNDECIDED} inconclusive. "
               "Key numbers are the highlights each "
               "notebook chose; the chapter shows every measurement behind them.")
    out.append("")
    return "\n".join(out)


def write_scoreboard(profile: str = "quick", root: str | os.PathLike | None = None,
                     results_dir: str | os.PathLike | None = None) -> Path:
    """Write ``<root>/book/scoreboard.md`` from the records of ``profile``; returns its path."""
    root = Path(root) if root is not None else project_root()
    text = scoreboard_markdown(profile, root, results_dir)
    return atomic_write_text(root / "book" / "scoreboard.md", text)


# --------------------------------------------------------------------------- terminal


def format_claims(profile: str = "quick", root: str | os.PathLike | None = None,
                  results_dir: str | os.PathLike | None = None) -> str:
    """The scoreboard as plain text: claim, verdict, sub-claims, title, then notes."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    rows = claim_rows(profile, root, results_dir)
    if not any(r.record for r in rows):
        raise BookError(f"no claim records in {rdir}: run `sparsestudy run --profile {profile}` "
                        "first")
    lines = [f"Claims, profile {profile} ({_rel(rdir, root)}/)"]
    commits = _commits(rows)
    if commits:
        lines.append(f"source of the records: {', '.join(commits)}")
    lines.append("")
    width = max(len(r.verdict or "no record") for r in rows) + 2
    sub_width = max(len(r.subclaims_text()) for r in rows)
    for r in rows:
        mark = MARKERS.get(r.verdict, "  ") if r.verdict else "··"
        verdict = r.verdict or "no record"
        lines.append(f"{r.claim}  {mark} {verdict:<{width}}{r.subclaims_text():<{sub_width}}  "
                     f"{r.title}")
    notes = [note.replace("`", "") for r in rows for note in r.notes]
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- build


def copy_chapters(profile: str = "quick", root: str | os.PathLike | None = None,
                  results_dir: str | os.PathLike | None = None) -> list[Path]:
    """Replace ``book/chapters/`` with the executed notebooks of ``profile``."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    executed = sorted((rdir / "executed").glob("c[0-9][0-9]_*.ipynb"))
    if not executed:
        raise BookError(f"no executed notebooks in {rdir / 'executed'}: run "
                        f"`sparsestudy run --profile {profile}` first")
    chapters = root / "book" / "chapters"
    if chapters.exists():
        shutil.rmtree(chapters)
    chapters.mkdir(parents=True)
    return [Path(shutil.copy2(p, chapters / p.name)) for p in executed]


def _build_problems(log: str, limit: int = 40) -> str:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    hits = [ln.strip() for ln in plain.splitlines()
            if re.search(r"WARNING|ERROR|CRITICAL|Exception|Error:", ln)]
    if not hits:
        hits = [ln for ln in plain.strip().splitlines()[-limit:]]
    return "\n".join(hits[:limit])


def build_book(profile: str = "quick", root: str | os.PathLike | None = None,
               results_dir: str | os.PathLike | None = None, quiet: bool = True) -> Path:
    """Build the HTML book of ``profile`` into ``<root>/_build/html`` and return its index.

    Copies the executed notebooks into ``book/chapters/`` (removing stale ones), writes
    ``book/scoreboard.md``, clears ``_build/html``, then runs ``jupyter-book build --all
    --warningiserror --keep-going`` in a subprocess (Jupyter Book never executes:
    ``execute_notebooks: "off"``).
    Raises :class:`BookError` when there is nothing to build or the build fails; the message
    lists the warnings that failed it.
    """
    root = Path(root).resolve() if root is not None else project_root()
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise BookError(f"{root / name} is missing: is {root} the project root?")
    rdir = chosen_results_dir(profile, root, results_dir)
    if not rdir.is_dir():
        raise BookError(f"no results in {rdir}: run `sparsestudy run --profile {profile}` first")
    # a run of this profile writes the folder the book reads, and two builds would share
    # _build/: build between runs, one at a time
    with run_lock(rdir, what=f"sparsestudy book --profile {profile}"):
        copy_chapters(profile, root, results_dir)
        write_scoreboard(profile, root, results_dir)
        # start from scratch: Sphinx leaves the pages of removed chapters in _build/html, and an
        # incremental build does not repeat the warnings of unchanged pages
        for stale in ("html", ".doctrees", "jupyter_execute"):
            shutil.rmtree(root / "_build" / stale, ignore_errors=True)
        cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; "
               "sys.exit(main())", "build", str(root), "--all", "--warningiserror",
               "--keep-going"]
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        proc = subprocess.run(cmd, cwd=root, env=env, text=True, encoding="utf-8",
                              errors="replace", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not quiet:
            sys.stdout.write(proc.stdout)
        index = root / "_build" / "html" / "index.html"
        if proc.returncode != 0 or not index.is_file():
            raise BookError(
                f"the book build failed (jupyter-book exit code {proc.returncode}):\n"
                f"{_build_problems(proc.stdout)}"
            )
    return index


__all__ = [
    "build_book", "write_scoreboard", "scoreboard_markdown", "format_claims", "claim_rows",
    "copy_chapters", "BookError", "ClaimRow",
]

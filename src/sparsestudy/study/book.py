"""The scoreboard and the book.

The study's verdicts are the full profile's (register amendment 2), published in
``book/records/full/`` by :mod:`sparsestudy.study.publish`. A build has two sources:

* the **published** records and executed notebooks (committed), and
* the records and executed notebooks of the profile this build ran (``quick`` by default).

:func:`build_book` with ``chapters="published"`` (``make book``) shows each claim's published
full chapter when there is one, and the build profile's chapter otherwise (with a note saying
so); ``chapters="profile"`` (``make book PROFILE=quick``) shows the profile's chapters. Either
way the scoreboard shows the published verdict and the build profile's verdict side by side,
marks a published record **stale** when its fingerprint no longer matches the tree (and says
what changed), and explains, from the sub-claims, why the two verdicts differ when they do.

* :func:`claim_rows` gathers what the scoreboard shows, one :class:`ClaimRow` per claim.
* :func:`scoreboard_markdown` / :func:`write_scoreboard`: ``book/scoreboard.md`` (generated).
* :func:`format_claims`: the same scoreboard as plain text for the terminal.
* :func:`build_book`: chapters into ``book/chapters/``, the scoreboard, the intro's generated
  table of claims, then ``jupyter-book build`` with warnings as errors (no execution).
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
from typing import Any, Mapping

from .colab import check_url, config_url, notebook_url
from .layout import (atomic_write_text, chosen_results_dir, notebooks_dir, project_root,
                     published_dir, run_lock)
from .publish import PUBLISHED_PROFILE, Published, published
from .record import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, VERDICTS, load_records
from .runner import discover_notebooks, notebook_status

#: verdict markers in characters every common font has (colour emoji show as boxes without an
#: emoji font)
MARKERS = {SUPPORTED: "✔", MIXED: "◑", NOT_SUPPORTED: "✘", INCONCLUSIVE: "○"}
HOLDS, FAILS, UNDECIDED = "✓", "✗", "?"
STALE = "⚠️ stale"
#: where the build writes pages it generates (not committed)
GENERATED = Path("book") / "generated"
CHAPTER_SOURCES = ("published", "profile")


class BookError(RuntimeError):
    """The book cannot be built (nothing to build, or the Sphinx build failed)."""


def _held(record: Mapping[str, Any] | None) -> tuple[int, int]:
    subs = [s for s in (record or {}).get("subclaims", {}).values() if not s.get("consistency")]
    return sum(s["holds"] is True for s in subs), len(subs)


def _subclaims_text(record: Mapping[str, Any] | None) -> str:
    if not record:
        return ""
    subs = record.get("subclaims", {})
    marks = {True: HOLDS, False: FAILS, None: UNDECIDED}
    return " ".join(f"{k} {marks[subs[k]['holds']]}"
                    + (" (check)" if subs[k].get("consistency") else "") for k in sorted(subs))


@dataclass
class ClaimRow:
    """What the scoreboard shows of one claim.

    ``record`` is the build profile's record (``None``: not run), ``published`` the published
    full record with its staleness (``None``: not yet run at full scale); ``chapter`` says where
    the chapter in ``book/chapters/`` comes from (``"full"``, the profile's name, or ``None``).
    """

    claim: str
    stem: str | None = None  # notebook stem, None when the record has no notebook
    title: str = ""
    record: dict[str, Any] | None = None
    published: Published | None = None
    chapter: str | None = None
    failed: bool = False     # the latest run of the build profile failed
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str | None:
        return self.record["verdict"] if self.record else None

    @property
    def published_verdict(self) -> str | None:
        return self.published.record["verdict"] if self.published else None

    def subclaims_text(self) -> str:
        return _subclaims_text(self.record)

    def n_held(self) -> tuple[int, int]:
        """(sub-claims that hold, sub-claims that count), consistency checks left out."""
        return _held(self.record)


# --------------------------------------------------------------------------- gathering


def _notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook (without a leading ``C01:``-style id)."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
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
                return re.sub(r"^C\d{2}\s*[-—:.·]\s*", "", m.group(1))
    return ""


def claim_rows(profile: str = "quick", root: str | os.PathLike | None = None,
               results_dir: str | os.PathLike | None = None) -> list[ClaimRow]:
    """One row per claim that has a notebook, a record or a published record, by claim id."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    notebooks = {nb.claim: nb for nb in discover_notebooks(root)}
    status = notebook_status(profile, root, results_dir)  # ValueError for an unknown profile
    records = {r["claim"]: r for r in load_records(rdir)} if rdir.is_dir() else {}
    pub = published(root)
    rows = []
    for claim in sorted(set(notebooks) | set(records) | set(pub)):
        nb = notebooks.get(claim)
        rec = records.get(claim)
        row = ClaimRow(claim, stem=nb.stem if nb else None, record=rec, published=pub.get(claim))
        row.title = (_notebook_title(nb.path) if nb else "") or (rec or {}).get("title") or \
            (row.published.record["title"] if row.published else "")
        if rec is None and nb is not None:
            row.notes.append(f"{claim} has no {profile} record yet: run `sparsestudy run "
                             f"--profile {profile} --only {claim}`.")
        elif rec is not None:
            if rec.get("profile") != profile:
                row.notes.append(f"{claim}'s {profile} record says profile "
                                 f"{rec.get('profile')!r}.")
            if nb is None:
                row.notes.append(f"{claim} has a record but no notebook in notebooks/.")
        if nb is not None:
            failed = rdir / "failed" / f"{nb.stem}.ipynb"
            row.failed = failed.is_file()
            if row.failed:
                shown = "the record shown is from the last successful run" if rec else \
                    "there is no successful run"
                row.notes.append(f"the latest {profile} run of {claim} failed; {shown}.")
            why = status.get(nb.stem)
            if rec is None or why in (None, "up to date", "never run", "executed copy missing",
                                      "record missing"):
                pass
            elif why == "record changed outside the runner":
                row.notes.append(f"{claim}'s {profile} record was not written by `sparsestudy "
                                 f"run` (rerun `sparsestudy run --profile {profile} --only "
                                 f"{claim}`).")
            else:
                row.notes.append(f"{claim}'s {profile} record is out of date ({why} since it "
                                 f"was computed): rerun `sparsestudy run --profile {profile} "
                                 f"--only {claim}`.")
        rows.append(row)
    return rows


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _commits(records: list[Mapping[str, Any]]) -> list[str]:
    seen = []
    for rec in records:
        g = rec.get("provenance") or {}
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


def _with_unit(value: Any, unit: str | None) -> str:
    if unit == "%":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{100 * value:.2f} %"
        if isinstance(value, list):
            return "[" + ", ".join(_with_unit(v, unit) for v in value[:6]) + \
                (", …" if len(value) > 6 else "") + "]"
    text = format_value(value)
    return f"{text} {unit}" if unit else text


#: a sub-claim label at the start of a highlight's name (``C05c``, ``C04b:``)
_LABEL = re.compile(r"^\s*C\d{2}[a-z]?\b\s*[:·,-]?\s*")
#: a parameter-like name in a highlight's name (``n_iter``)
_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: highlights that are not findings (the run time is in the published record's provenance)
_NOT_A_FINDING = re.compile(r"\b(seconds?|elapsed|wall[- ]?time|run time)\b", re.I)


def highlight_label(name: str, parameters: Mapping[str, Any] | None = None) -> str:
    """A highlight's name as a reader sees it: no leading sub-claim label, and a parameter's
    name replaced by its value (``after n_iter steps`` → ``after 2000 steps``)."""
    params = parameters or {}

    def value_of(m: re.Match) -> str:
        v = params.get(m.group(0))
        if isinstance(v, (int, float, str)) and not isinstance(v, bool):
            return format_value(v)
        return m.group(0).replace("_", " ")

    return _IDENTIFIER.sub(value_of, _LABEL.sub("", name)).strip()


def key_numbers(record: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(label, value with its unit)`` of a record's highlights that are findings."""
    if not record:
        return []
    units = record.get("highlight_units") or {}
    out = []
    for name, value in (record.get("highlights") or {}).items():
        if _NOT_A_FINDING.search(name):
            continue
        out.append((highlight_label(name, record.get("parameters")),
                    _with_unit(value, units.get(name))))
    return out


def _outcome(sub: Mapping[str, Any] | None) -> str:
    if sub is None:
        return "is not in the record"
    h = sub["holds"]
    return "holds" if h is True else "does not hold" if h is False else "is inconclusive"


def explain_difference(full: Mapping[str, Any], build: Mapping[str, Any],
                       profile: str = "quick") -> str | None:
    """One computed sentence on why the published (full) verdict and the build profile's verdict
    differ, from the sub-claims whose outcome differs; ``None`` when the verdicts agree."""
    if full["verdict"] == build["verdict"]:
        return None
    fs, bs = full.get("subclaims", {}), build.get("subclaims", {})
    parts = []
    for k in sorted(set(fs) | set(bs)):
        f, b = fs.get(k), bs.get(k)
        if (f or {}).get("consistency") or (b or {}).get("consistency"):
            continue
        if f is not None and b is not None and f["holds"] == b["holds"]:
            continue
        text = f"{k} {_outcome(f)} at full scale but {_outcome(b)} in {profile}"
        reasons = [f"{name}: {s['reason']}" for name, s in ((profile, b), ("full", f))
                   if s is not None and s["holds"] is None and s.get("reason")]
        if reasons:
            text += " (" + "; ".join(reasons) + ")"
        parts.append(text)
    scale = (f" The full run used {len(full.get('seeds', []))} seeds, {profile} "
             f"{len(build.get('seeds', []))}.")
    if not parts:
        return (f"The verdicts differ ({full['verdict']} at full scale, {build['verdict']} in "
                f"{profile}) although no counted sub-claim's outcome does." + scale)
    return "The verdicts differ because " + "; ".join(parts) + "." + scale


# --------------------------------------------------------------------------- Markdown


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|$#])")


def md_escape(text: str) -> str:
    """Escape text for a MyST table cell (no markup, no math, no roles, no pipes)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _verdict_md(record: Mapping[str, Any]) -> str:
    held, total = _held(record)
    return f"{MARKERS[record['verdict']]} **{record['verdict']}** ({held} of {total} hold)"


def _date(record: Mapping[str, Any]) -> str:
    return str((record.get("provenance") or {}).get("date", ""))[:10]


def scoreboard_markdown(profile: str = "quick", root: str | os.PathLike | None = None,
                        results_dir: str | os.PathLike | None = None,
                        rows: list[ClaimRow] | None = None) -> str:
    """The scoreboard page (MyST Markdown): published (full) verdicts beside the ``profile``
    verdicts of this build. Chapters are linked when ``book/chapters/<stem>.ipynb`` exists, so
    call it after the chapters were copied there."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    rows = rows if rows is not None else claim_rows(profile, root, results_dir)
    chapters = root / "book" / "chapters"
    pub_rows = [r for r in rows if r.published]
    n = {v: sum(r.published_verdict == v for r in rows) for v in VERDICTS}

    out = ["---", "html_theme.sidebar_secondary.remove: true", "---", "",
           # the page's table uses the whole width the theme keeps for the in-page contents;
           # on a phone each claim becomes a card, its cells stacked under their headings
           "<style>.bd-article-container { max-width: 100% !important; } "
           ".key-numbers { margin: 0; padding-left: 1.1em; } "
           "@media (max-width: 720px) { .full-width thead { display: none; } "
           ".full-width table, .full-width tbody, .full-width tr, .full-width td "
           "{ display: block; width: 100%; } "
           ".full-width tr { border-top: 2px solid var(--pst-color-border); padding: .4em 0; } "
           ".full-width td { border: none !important; padding: .15em 0 !important; } "
           f".full-width td:nth-of-type(2)::before {{ content: 'Published ({PUBLISHED_PROFILE}): '; "
           "font-weight: 600; } "
           f".full-width td:nth-of-type(3)::before {{ content: 'This build ({profile}): '; "
           "font-weight: 600; } "
           ".full-width td:nth-of-type(4)::before { content: 'Key numbers'; display: block; "
           "font-weight: 600; } }</style>", "",
           "# Scoreboard", ""]
    out.append(
        f"The study's verdicts are those of the **{PUBLISHED_PROFILE}** profile, the study's "
        f"real scale, published with the book; the **{profile}** column is the reduced-scale "
        f"run of this build, shown beside them. A claim is *supported* when every sub-claim "
        "holds, *mixed* when some hold and some do not, *not supported* when at least one fails "
        "and none holds, and *inconclusive* when none fails but at least one experiment was too "
        "weak to test its rule. Each rule is the one pre-registered in the claims register and "
        "is computed by the claim's notebook, never typed; consistency checks are shown in the "
        "chapters but not counted. A published verdict is marked *stale* when the notebook, its "
        "parameters or the library it loaded changed since it was computed."
    )
    out.append("")
    if pub_rows:
        out.append(
            f"Published: {MARKERS[SUPPORTED]} {n[SUPPORTED]} supported · {MARKERS[MIXED]} "
            f"{n[MIXED]} mixed · {MARKERS[NOT_SUPPORTED]} {n[NOT_SUPPORTED]} not supported · "
            f"{MARKERS[INCONCLUSIVE]} {n[INCONCLUSIVE]} inconclusive"
            + (f" · {len(rows) - len(pub_rows)} not yet run at full scale"
               if len(rows) > len(pub_rows) else "") + ".")
    else:
        out.append(f"No claim has been run at full scale yet: the {profile} verdicts below are "
                   "a smoke run, not the study's findings.")
    out.append("")
    if not rows:
        out.append("There are no claim notebooks and no records yet.")
        out.append("")
    else:
        out += ["```{container} full-width", "",
                f"| Claim | Published verdict ({PUBLISHED_PROFILE} profile) | This build "
                f"({profile} profile) | Key numbers |",
                "| --- | --- | --- | --- |"]
        for r in rows:
            name = md_escape(f"{r.claim} · {r.title}" if r.title else r.claim)
            if r.stem and (chapters / f"{r.stem}.ipynb").is_file():
                name = f"[{name}](chapters/{r.stem}.ipynb)"
            if r.published:
                full = _verdict_md(r.published.record) + f", {_date(r.published.record)}"
                if r.published.stale:
                    full += f" · **{STALE}**"
            else:
                full = "— not yet run at full scale"
            build = _verdict_md(r.record) if r.record else f"— no {profile} record"
            source = r.published.record if r.published else r.record
            numbers = "".join(f"<li>{md_escape(k)}: {md_escape(v)}</li>"
                              for k, v in key_numbers(source))
            if numbers:
                numbers = f'<ul class="key-numbers">{numbers}</ul>'
                if not r.published:
                    numbers = f"<em>{profile} profile:</em>" + numbers
            out.append(f"| {name} | {full} | {build} | {numbers} |")
        out += ["", "```", ""]
    stale = [r for r in pub_rows if r.published.stale]
    differ = [(r, explain_difference(r.published.record, r.record, profile))
              for r in pub_rows if r.record]
    differ = [(r, text) for r, text in differ if text]
    if stale:
        out += ["## Stale published records", ""]
        out += [f"- **{r.claim}**: {md_escape('; '.join(r.published.changes))} since the "
                f"published run; rerun it at full scale (`make publish`)." for r in stale]
        out.append("")
    if differ:
        out += [f"## Where the {PUBLISHED_PROFILE} and {profile} verdicts differ", ""]
        out += [f"- **{r.claim}**: {md_escape(text)}" for r, text in differ]
        out.append("")
    if pub_rows:
        out += ["## Provenance of the published records", ""]
        for r in pub_rows:
            prov = r.published.record["provenance"]
            seconds = float(r.published.record.get("elapsed_s", 0))
            took = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
            out.append(f"- **{r.claim}**: run on {_date(r.published.record)} at commit "
                       f"`{(prov.get('commit') or '')[:12]}` on {md_escape(prov['processor'])} "
                       f"({prov['device']}) in {took}, seeds "
                       f"{md_escape(format_value(r.published.record['seeds']))}.")
        out.append("")
    chapter_notes = [f"{r.claim}'s chapter shows the {r.chapter} profile: it has not been run "
                     "at full scale yet." for r in rows
                     if r.chapter and r.chapter != PUBLISHED_PROFILE]
    notes = chapter_notes + [note for r in rows for note in r.notes]
    if notes:
        out += [":::{note}"] + [f"- {note}" for note in notes] + [":::", ""]
    commits = _commits([r.record for r in rows if r.record])
    if commits:
        out.append(f"The {profile} records of this build (in `{md_escape(_rel(rdir, root))}/`) "
                   f"come from {', '.join(_commit_md(c) for c in commits)}.")
        out.append("")
    out.append("Key numbers are the highlights each notebook chose, from the published record "
               "when there is one; the chapter shows every measurement behind them.")
    out.append("")
    return "\n".join(out)


def write_scoreboard(profile: str = "quick", root: str | os.PathLike | None = None,
                     results_dir: str | os.PathLike | None = None,
                     rows: list[ClaimRow] | None = None) -> Path:
    """Write ``<root>/book/scoreboard.md`` from the records of ``profile``; returns its path."""
    root = Path(root) if root is not None else project_root()
    text = scoreboard_markdown(profile, root, results_dir, rows)
    return atomic_write_text(root / "book" / "scoreboard.md", text)


# --------------------------------------------------------------------------- intro

#: the correspondences the claims test: (sparse coding, deep learning, claims). The intro shows
#: them with a link to each claim's chapter, and says which claims have no chapter yet.
CORRESPONDENCES = [
    ("the L1 penalty sets coefficients exactly to zero; the L2 penalty only shrinks them",
     "sparse versus dense weights and activations", ("C01", "C10")),
    ("ISTA unrolled for $K$ iterations and truncated",
     "a $K$-layer network with tied weights; learning $W$, $S$ and the thresholds gives LISTA "
     "{cite:p}`gregor2010lista,chen2018listacpss,liu2019alista`", ("C02",)),
    ("the non-negative soft threshold $\\max(v - c, 0)$",
     "ReLU after a bias $-c$: the bias sets the sparsity "
     "{cite:p}`glorot2011relu,papyan2017cscnn`", ("C03",)),
    ("an L0 penalty, whose proximal operator is the hard threshold",
     "a thresholded linear unit {cite:p}`konda2015zerobias,wang2016l0encoders`", ("C04",)),
    ("projection onto $\\{\\|z\\|_0 \\le M\\}$: keep the $M$ largest magnitudes",
     "max pooling ($M = 1$) and max-$M$ pooling", ("C05",)),
    ("OMP with one atom {cite:p}`pati1993omp`, i.e. gain-shape vector quantisation",
     "a single-layer feature extractor {cite:p}`coates2011encoding`", ("C06",)),
    ("an over-complete learned dictionary {cite:p}`olshausen1996sparse`",
     "wide first-layer filters that look like V1 receptive fields", ("C07",)),
    ("recovery from few random measurements by L1 or matching pursuit "
     "{cite:p}`donoho2009universality,blumensath2009iht`", "what a sparse prior buys", ("C08",)),
    ("a penalty on the representation, $\\Omega(h)$",
     "sparse autoencoders {cite:p}`goodfellow2016deep`", ("C09",)),
]


def correspondences_markdown(chapters: Mapping[str, str]) -> str:
    """The intro's table of correspondences; ``chapters`` maps a claim id to its chapter's
    stem. A claim without a chapter is named as not yet tested, never linked. (The intro
    includes it, and MyST resolves the links from the including page, ``book/intro.md``.)"""
    out = ["| Sparse coding | Deep learning | Chapter |", "| --- | --- | --- |"]
    for sparse, deep, claims in CORRESPONDENCES:
        links = [f"[{c}](chapters/{chapters[c]}.ipynb)" for c in claims if c in chapters]
        later = [c for c in claims if c not in chapters]
        cell = ", ".join(links)
        if later:
            cell += ("; " if cell else "") + ", ".join(later) + " not tested yet"
        out.append(f"| {sparse} | {deep} | {cell} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- API page


def public_modules() -> list[str]:
    """The library's public modules (not the study machinery, no ``_private`` ones), sorted."""
    import pkgutil

    import sparsestudy

    names = ["sparsestudy"]
    for info in pkgutil.walk_packages(sparsestudy.__path__, "sparsestudy."):
        parts = info.name.split(".")
        if parts[1] == "study" or any(p.startswith("_") for p in parts[1:]):
            continue
        names.append(info.name)
    return sorted(names)


def _doc_block(obj: Any) -> list[str]:
    import inspect

    doc = inspect.getdoc(obj) or "(no docstring)"
    fence = "````" if "```" in doc else "```"
    # wrapped at the column's width (book/_static/sparsestudy.css), not run off its edge
    return [f"{fence}{{code-block}} text", ":class: api-doc", "", doc, fence, ""]


def _code_block(line: str) -> list[str]:
    """A fenced block, as Python where Pygments lexes it without an error (a default's repr may
    not be Python), else as text."""
    from pygments.lexers import PythonLexer
    from pygments.token import Error

    ok = not any(kind in Error for kind, _ in PythonLexer().get_tokens(line))
    return ["```{code-block} " + ("python" if ok else "text"), ":class: api-doc", "", line,
            "```", ""]


def _signature(name: str, obj: Any) -> str:
    import inspect

    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    # annotations are in the docstrings (and are unevaluated strings here)
    plain = sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty)
                                    for p in sig.parameters.values()],
                        return_annotation=inspect.Signature.empty)
    return f"{name}{plain}"


def _public_members(module: Any) -> list[tuple[str, Any]]:
    import inspect

    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(module, n, None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                getattr(obj, "__module__", None) == module.__name__:
            out.append((n, obj))
    return out


def api_markdown(modules: list[str] | None = None) -> str:
    """The API reference's body, generated from the docstrings: per public module its
    docstring, then each function and class it defines (signature and docstring; a class's
    public methods too). Docstrings are shown as written (numpydoc text), so a docstring's
    markup can never break the book's build."""
    import importlib
    import inspect

    out = []
    for name in modules if modules is not None else public_modules():
        module = importlib.import_module(name)
        out += [f"## `{name}`", ""]
        first = (inspect.getdoc(module) or "").strip().split("\n\n")[0]
        if first:
            out += [md_escape(first), ""]
        for n, obj in _public_members(module):
            kind = "class" if inspect.isclass(obj) else "def"
            out += [f"### `{name}.{n}`", ""] + _code_block(f"{kind} {_signature(n, obj)}") + \
                _doc_block(obj)
            if inspect.isclass(obj):
                for m, meth in vars(obj).items():
                    if m.startswith("_") or not (inspect.isfunction(meth) or
                                                  isinstance(meth, property)):
                        continue
                    target = meth.fget if isinstance(meth, property) else meth
                    out += _code_block(f"{n}.{m}  # property" if isinstance(meth, property)
                                       else f"{n}.{_signature(m, target)}")
                    if inspect.getdoc(target):
                        out += _doc_block(target)
    return "\n".join(out)


# --------------------------------------------------------------------------- terminal


def format_claims(profile: str = "quick", root: str | os.PathLike | None = None,
                  results_dir: str | os.PathLike | None = None) -> str:
    """The scoreboard as plain text: claim, published verdict, build verdict, title, notes."""
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    rows = claim_rows(profile, root, results_dir)
    if not any(r.record or r.published for r in rows):
        raise BookError(f"no claim records in {rdir} and none published: run `sparsestudy run "
                        f"--profile {profile}` first")
    lines = [f"Claims: published ({PUBLISHED_PROFILE}) and {profile} ({_rel(rdir, root)}/)", ""]

    def cell(rec: Mapping[str, Any] | None, stale: bool = False) -> str:
        if not rec:
            return "··  not run"
        held, total = _held(rec)
        return (f"{MARKERS[rec['verdict']]} {rec['verdict']} {held}/{total}"
                + (" (stale)" if stale else ""))

    full = [cell(r.published.record if r.published else None,
                 bool(r.published and r.published.stale)) for r in rows]
    build = [cell(r.record) for r in rows]
    w1, w2 = max(map(len, full)) + 2, max(map(len, build)) + 2
    lines.append(f"{'':5}{PUBLISHED_PROFILE:<{w1}}{profile:<{w2}}")
    for r, f, b in zip(rows, full, build):
        lines.append(f"{r.claim}  {f:<{w1}}{b:<{w2}}{r.title}")
    notes = [n.replace("`", "") for r in rows for n in r.notes]
    notes += [f"{r.claim}'s published record is stale: {'; '.join(r.published.changes)}"
              for r in rows if r.published and r.published.stale]
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- build


def _chapter_note(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": f":::{{note}}\n{text}\n:::\n"}


def copy_chapters(profile: str = "quick", root: str | os.PathLike | None = None,
                  results_dir: str | os.PathLike | None = None, chapters: str = "profile",
                  rows: list[ClaimRow] | None = None, url: str | None = None
                  ) -> dict[str, str]:
    """Replace ``book/chapters/`` with the executed notebooks: the published full ones
    (``chapters="published"``, falling back to the profile's for a claim not run at full scale)
    or the profile's (``chapters="profile"``). A chapter shown from another profile than the
    study's, or from a stale published record, gets a note after its title; with a repository
    ``url``, Binder and Colab links (:func:`launch_links`). Returns
    ``{claim: the profile its chapter comes from}``."""
    if chapters not in CHAPTER_SOURCES:
        raise ValueError(f"chapters must be one of {CHAPTER_SOURCES}, got {chapters!r}")
    root = Path(root) if root is not None else project_root()
    rdir = chosen_results_dir(profile, root, results_dir)
    rows = rows if rows is not None else claim_rows(profile, root, results_dir)
    sources: dict[str, tuple[Path, str, str | None]] = {}
    for r in rows:
        if not r.stem:
            continue
        mine = rdir / "executed" / f"{r.stem}.ipynb"
        pub = r.published
        if chapters == "published" and pub and pub.executed and pub.stem == r.stem:
            note = (f"The {PUBLISHED_PROFILE} record of this chapter is **stale**: "
                    f"{'; '.join(pub.changes)} since it ran. The figures and numbers below are "
                    "those of the published run." if pub.stale else None)
            sources[r.claim] = (pub.executed, PUBLISHED_PROFILE, note)
        elif mine.is_file():
            note = None
            if chapters == "published" or profile != PUBLISHED_PROFILE:
                note = (f"This chapter shows the **{profile}** profile, a reduced-scale smoke "
                        "run" + ("; the claim has not been run at full scale yet."
                                 if not pub else f"; the study's verdict is the "
                                 f"{PUBLISHED_PROFILE} profile's (see the scoreboard)."))
            sources[r.claim] = (mine, profile, note)
    if not sources:
        raise BookError(f"no executed notebooks in {rdir / 'executed'} and none published: run "
                        f"`sparsestudy run --profile {profile}` first")
    dest = root / "book" / "chapters"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    out = {}
    for r in rows:
        if r.claim not in sources:
            continue
        src, origin, note = sources[r.claim]
        nb = json.loads(src.read_text(encoding="utf-8"))
        if url:
            # Colab only where the notebook's set-up cell installs the library from this URL
            raw = notebooks_dir(root) / f"{r.stem}.ipynb"
            colab = raw.is_file() and notebook_url(
                json.loads(raw.read_text(encoding="utf-8"))) == url
            nb["cells"].insert(1 if nb.get("cells") else 0,
                               {"cell_type": "markdown", "metadata": {},
                                "source": launch_links(url, r.stem, colab=colab) + "\n"})
        if note:
            nb["cells"].insert(1 if nb.get("cells") else 0, _chapter_note(note))
        atomic_write_text(dest / f"{r.stem}.ipynb", json.dumps(nb, indent=1) + "\n")
        r.chapter = origin
        out[r.claim] = origin
    return out


# --------------------------------------------------------------------------- repository


REPOSITORY_ENV = "SPARSESTUDY_REPOSITORY_URL"


def repository_url(root: str | os.PathLike | None = None, explicit: str | None = None
                   ) -> str | None:
    """The public repository's URL: ``explicit``, else ``$SPARSESTUDY_REPOSITORY_URL`` (the
    publish workflow sets it from ``github.repository``), else ``_config.yml``'s
    ``repository.url``; ``None`` when none is configured."""
    url = explicit or os.environ.get(REPOSITORY_ENV)
    return (check_url(url) if url else config_url(root)) or None


def launch_links(url: str, stem: str, branch: str = "main", colab: bool = True) -> str:
    """Markdown links that open a claim's notebook on Binder (built from the repository's
    environment files) and, with ``colab``, on Colab (whose first cell installs the package
    from the repository, :mod:`sparsestudy.study.colab`), and the repository itself."""
    slug = url.split("github.com/", 1)[1]
    path = f"notebooks/{stem}.ipynb"
    links = [f"[Run this notebook on Binder](https://mybinder.org/v2/gh/{slug}/{branch}"
             f"?labpath={path})"]
    if colab:
        links.append(f"[on Colab](https://colab.research.google.com/github/{slug}/"
                     f"blob/{branch}/{path})")
    return " · ".join(links + [f"[source]({url}/blob/{branch}/{path})"])


def _configured(root: Path, url: str | None) -> Path | None:
    """A copy of ``_config.yml`` in ``_build/`` with the repository button and launch
    settings filled in for ``url`` (``None``: use ``_config.yml`` as it is)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    if not url or (config.get("repository") or {}).get("url") == url and \
            (config.get("html") or {}).get("use_repository_button"):
        return None
    config.setdefault("repository", {})["url"] = url
    html = config.setdefault("html", {})
    html["use_repository_button"] = True
    html["use_issues_button"] = True
    # Jupyter Book resolves local extensions' folders from the configuration file's folder
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    for name, folder in local.items():
        local[name] = str((root / folder).resolve())
    path = root / "_build" / "_config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def _build_problems(log: str, limit: int = 40) -> str:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
    hits = [ln.strip() for ln in plain.splitlines()
            if re.search(r"WARNING|ERROR|CRITICAL|Exception|Error:", ln)]
    if not hits:
        hits = [ln for ln in plain.strip().splitlines()[-limit:]]
    return "\n".join(hits[:limit])


def check_verdicts(rows: list[ClaimRow], profile: str) -> None:
    """Refuse a build whose claims have no computable verdict: every claim with a notebook
    needs a record of the build profile, and its latest run must not have failed."""
    problems = [f"{r.claim}: the latest {profile} run failed" for r in rows if r.failed]
    problems += [f"{r.claim}: no {profile} record" for r in rows if r.stem and not r.record]
    if problems:
        raise BookError("a verdict cannot be computed:\n  " + "\n  ".join(problems))


def build_book(profile: str = "quick", root: str | os.PathLike | None = None,
               results_dir: str | os.PathLike | None = None, quiet: bool = True,
               chapters: str = "profile", strict: bool = False,
               repository: str | None = None) -> Path:
    """Build the HTML book into ``<root>/_build/html`` and return its index.

    Copies the chapters (:func:`copy_chapters`; ``chapters="published"`` shows the published
    full chapters), writes ``book/scoreboard.md`` and the intro's table, clears
    ``_build/html``, then runs ``jupyter-book build --all --warningiserror --keep-going`` in a
    subprocess (Jupyter Book never executes: ``execute_notebooks: "off"``). With ``strict``,
    refuses to build when a claim's verdict cannot be computed (:func:`check_verdicts`).
    When a repository URL is configured (:func:`repository_url`), the pages get the
    repository button and each chapter its Binder and Colab links.
    Raises :class:`BookError` when there is nothing to build or the build fails; the message
    lists the warnings that failed it.
    """
    root = Path(root).resolve() if root is not None else project_root()
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise BookError(f"{root / name} is missing: is {root} the project root?")
    rdir = chosen_results_dir(profile, root, results_dir)
    if not rdir.is_dir() and not (chapters == "published" and published_dir(root).is_dir()):
        raise BookError(f"no results in {rdir}: run `sparsestudy run --profile {profile}` first")
    # a run of this profile writes the folder the book reads, and two builds would share
    # _build/: build between runs, one at a time
    with run_lock(rdir, what=f"sparsestudy book --profile {profile}"):
        rows = claim_rows(profile, root, results_dir)
        if strict:
            check_verdicts(rows, profile)
        url = repository_url(root, repository)
        origins = copy_chapters(profile, root, results_dir, chapters, rows, url)
        write_scoreboard(profile, root, results_dir, rows)
        stems = {r.claim: r.stem for r in rows if r.claim in origins}
        atomic_write_text(root / GENERATED / "correspondences.md",
                          correspondences_markdown(stems))
        atomic_write_text(root / GENERATED / "api.md", api_markdown())
        # start from scratch: Sphinx leaves the pages of removed chapters in _build/html, and an
        # incremental build does not repeat the warnings of unchanged pages
        for stale in ("html", ".doctrees", "jupyter_execute"):
            shutil.rmtree(root / "_build" / stale, ignore_errors=True)
        cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; "
               "sys.exit(main())", "build", str(root), "--all", "--warningiserror",
               "--keep-going"]
        config = _configured(root, url)
        if config is not None:
            cmd += ["--config", str(config)]
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
    "copy_chapters", "correspondences_markdown", "explain_difference", "key_numbers",
    "highlight_label", "check_verdicts", "repository_url", "launch_links", "api_markdown",
    "public_modules", "BookError", "ClaimRow", "CORRESPONDENCES",
]

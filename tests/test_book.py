"""The book.

* The machinery, on a copy of the book's sources with two tiny claims: C98 published at full
  scale and run in quick (their verdicts differ), C97 run in quick only. A real Jupyter Book
  build, warnings are errors.
* The repository's own study: every claim notebook's quick run (executed once per session by
  ``conftest.quick_run``; this is what nbval did) and the book ``make book`` builds from it
  (``conftest.built_quick_book``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import nbformat
import pytest

from sparsestudy.study import fingerprint
from sparsestudy.study.book import (CORRESPONDENCES, BookError, build_book, claim_rows,
                                    explain_difference,
                                    format_claims, highlight_label, key_numbers,
                                    scoreboard_markdown)
from sparsestudy.study.cli import main
from sparsestudy.study.layout import published_dir
from sparsestudy.study.publish import MANIFEST
from sparsestudy.study.record import load_record
from sparsestudy.study.runner import discover_notebooks, run_notebooks

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STEMS = [nb.stem for nb in discover_notebooks(REPO)]


@pytest.fixture(scope="module", autouse=True)
def project_results():
    """Results of the tiny projects under <root>/results (the suite's scratch-folder variable
    is for the repository's own notebooks; the session fixtures set it again themselves)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SPARSESTUDY_RESULTS", raising=False)
        yield


def _copy_book_sources(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book",
                    ignore=shutil.ignore_patterns("chapters", "scoreboard.md", "_build",
                                                  "generated", "records"))


def _publish_as_is(root: Path) -> None:
    """Copy the tiny project's full run into book/records/full/ as `publish` lays it out (the
    tiny project is no git checkout, so `publish` itself is tested in test_publish.py)."""
    src, dest = root / "results" / "full", published_dir(root)
    (dest / "executed").mkdir(parents=True, exist_ok=True)
    state = json.loads((src / "runs.json").read_text())["notebooks"]
    claims = {}
    for stem, entry in state.items():
        shutil.copy(src / f"{entry['claim']}.json", dest / f"{entry['claim']}.json")
        shutil.copy(src / "executed" / f"{stem}.ipynb", dest / "executed" / f"{stem}.ipynb")
        claims[entry["claim"]] = {"notebook": stem,
                                  "resolved_parameters": entry["resolved_parameters"]}
    (dest / MANIFEST).write_text(json.dumps({"format": 1, "claims": claims}))


@pytest.fixture(scope="module")
def project(tmp_path_factory, make_project, tiny_notebook):
    """The book sources plus C98 (full: scale 3, supported; quick: scale 0.5, mixed) and C97
    (quick only)."""
    root = tmp_path_factory.mktemp("book") / "project"
    _copy_book_sources(root)
    make_project(root, notebooks={"c97_later": tiny_notebook("C97", "A claim not run at scale"),
                                  "c98_tiny": tiny_notebook()},
                 profiles={"quick": "c98_tiny:\n  scale: 0.5\nc97_later:\n  scale: 2.0\n",
                           "full": "c98_tiny:\n  scale: 3.0\n  seeds: [0, 1, 2]\n"})
    assert all(o.ok for o in run_notebooks("full", only=["C98"], root=root, progress=False))
    _publish_as_is(root)
    assert all(o.ok for o in run_notebooks("quick", root=root, progress=False))
    return root


@pytest.fixture(scope="module")
def built(project):
    stale = project / "book" / "chapters" / "c55_stale.ipynb"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")
    stale_page = project / "_build" / "html" / "book" / "chapters" / "c55_stale.html"
    stale_page.parent.mkdir(parents=True)
    stale_page.write_text("<html>an old chapter</html>")
    # C98's notebook gets the Colab set-up cell for the URL (C97's has none): the cell is left
    # out of the code fingerprint, so C98's published record stays fresh
    from sparsestudy.study.colab import with_setup_cell

    raw = project / "notebooks" / "c98_tiny.ipynb"
    raw.write_text(json.dumps(with_setup_cell(json.loads(raw.read_text()),
                                              "https://github.com/owner/name")))
    with pytest.MonkeyPatch.context() as mp:     # as the publish workflow sets it
        mp.setenv("SPARSESTUDY_REPOSITORY_URL", "https://github.com/owner/name")
        index = build_book("quick", project, chapters="published", strict=True)
    assert not stale_page.exists()
    return project, index


def _html(root: Path, page: str) -> str:
    return (root / "_build" / "html" / page).read_text(encoding="utf-8")


def _text(html: str) -> str:
    """The visible text of a page, tags removed, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def test_chapters_are_the_published_ones_and_the_quick_ones_say_so(built):
    root, index = built
    assert index == root / "_build" / "html" / "index.html" and index.is_file()
    assert sorted(p.name for p in (root / "book" / "chapters").iterdir()) == \
        ["c97_later.ipynb", "c98_tiny.ipynb"]
    full = _text(_html(root, "book/chapters/c98_tiny.html"))
    assert "C98: Tiny claims hold" in full
    assert "9.425" in full and "scale = 3.0" in full  # glue'd at full scale (3.14159 * 3)
    assert "glue:text" not in full and "reduced-scale" not in full
    quick = _text(_html(root, "book/chapters/c97_later.html"))
    assert "6.283" in quick and "has not been run at full scale yet" in quick
    # the repository URL is configured: launch links and the repository button
    page = _html(root, "book/chapters/c98_tiny.html")
    assert "https://mybinder.org/v2/gh/owner/name/main?labpath=notebooks/c98_tiny.ipynb" in page
    assert "https://colab.research.google.com/github/owner/name/blob/main/notebooks/" \
        "c98_tiny.ipynb" in page
    assert "stale" not in _text(page)
    # no Colab link where the notebook's set-up cell does not install from this repository
    later = _html(root, "book/chapters/c97_later.html")
    assert "mybinder.org" in later and "colab.research.google.com" not in later
    assert 'href="https://github.com/owner/name"' in _html(root, "book/intro.html")


def test_no_launch_links_without_a_repository_url(project, monkeypatch):
    from sparsestudy.study.book import copy_chapters, repository_url

    monkeypatch.delenv("SPARSESTUDY_REPOSITORY_URL", raising=False)
    assert repository_url(project) is None      # _config.yml's repository.url is empty
    copy_chapters("quick", project, chapters="published", url=repository_url(project))
    assert "mybinder" not in (project / "book" / "chapters" / "c98_tiny.ipynb").read_text()
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        repository_url(project, "http://example.com/x")


def test_scoreboard_shows_both_verdicts_and_explains_the_difference(built):
    root, _ = built
    md = (root / "book" / "scoreboard.md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| [C98"))
    assert row.startswith("| [C98 · Tiny claims hold](chapters/c98_tiny.ipynb) |")
    assert "✔ **supported** (2 of 2 hold)" in row and "◑ **mixed** (1 of 2 hold)" in row
    assert "answer: 9.425" in row  # the published record's key number
    later = next(line for line in md.splitlines() if line.startswith("| [C97"))
    assert "not yet run at full scale" in later and "<em>quick profile:</em><ul" in later
    assert "b holds at full scale but does not hold in quick" in md
    assert "The full run used 3 seeds, quick 1" in md
    assert "stale" not in md.split("## Where")[0].split("| --- |")[1]
    board = _text(_html(root, "book/scoreboard.html"))
    assert "Tiny claims hold" in board and "Provenance of the published records" in board
    html = _html(root, "book/scoreboard.html")
    assert 'href="chapters/c98_tiny.html"' in html and "full-width" in html
    intro = _html(root, "book/intro.html")
    assert 'href="chapters/c98_tiny.html"' in intro.replace("../", "")  # a tested claim links
    assert "C07 not tested yet" in _text(intro)                       # one without a chapter
    assert "Tibshirani" in intro and "1996" in intro  # author-year citations


def test_a_published_record_goes_stale_when_its_parameters_change(project):
    profile = project / "notebooks" / "profiles" / "full.yaml"
    before = profile.read_text()
    try:
        profile.write_text(before.replace("scale: 3.0", "scale: 5.0"))
        md = scoreboard_markdown("quick", project)
        row = next(line for line in md.splitlines() if line.startswith("| [C98"))
        assert "⚠️ stale" in row
        assert "**C98**: parameters changed since the published run" in md
        assert "(stale)" in format_claims("quick", project)
    finally:
        profile.write_text(before)


def test_build_fails_on_a_warning(built, tmp_path):
    root, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("_build"))
    with open(copy / "book" / "intro.md", "a", encoding="utf-8") as fh:
        fh.write("\nSee {cite:p}`nosuchkey2099`.\n")
    with pytest.raises(BookError, match="nosuchkey2099"):
        build_book("quick", copy)
    assert main(["--root", str(copy), "book"]) == 1


def test_strict_build_refuses_a_failed_notebook(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("_build"))
    (copy / "results" / "quick" / "failed").mkdir()
    (copy / "results" / "quick" / "failed" / "c97_later.ipynb").write_text("{}")
    with pytest.raises(BookError, match="C97: the latest quick run failed"):
        build_book("quick", copy, chapters="published", strict=True)


def test_book_needs_executed_notebooks(tmp_path, make_project):
    _copy_book_sources(tmp_path)
    make_project(tmp_path)
    with pytest.raises(BookError, match="sparsestudy run"):
        build_book("quick", tmp_path)


def test_scoreboard_escapes_and_cleans_key_numbers(tmp_path, make_project):
    from sparsestudy.study.record import ClaimRecord

    root = make_project(tmp_path, notebooks={}, profiles={"quick": ""})
    rdir = root / "results" / "quick"
    rec = ClaimRecord("C05", "Pooling | is $L_0$ *projection*", profile="quick", seeds=[0],
                      output_dir=rdir, parameters={"n_iter": 2000})
    rec.subclaim("a", rule="r", passed=True)
    rec.subclaim("b", rule="r", passed=False)
    rec.subclaim("c", rule="r", passed=False, adequacy="trained to a plateau", adequate=False)
    rec.subclaim("d", rule="r", passed=True, consistency=True)
    rec.highlight("C05c accuracy", 0.987654, unit="%")
    rec.highlight("gap after n_iter steps", 1e-9)
    rec.highlight("total seconds", 12.0)
    rec.highlight("sizes", [1, 2, 3, 4, 5, 6, 7])
    data = json.loads(rec.save().read_text())
    data["provenance"].update(commit="0123456789abcdef", dirty=True)
    (rdir / "C05.json").write_text(json.dumps(data))
    md = scoreboard_markdown("quick", root)
    row = next(line for line in md.splitlines() if line.startswith("| C05"))
    assert "C05 · Pooling \\| is \\$L\\_0\\$ \\*projection\\*" in row
    assert "— not yet run at full scale" in row and "◑ **mixed** (1 of 3 hold)" in row
    assert "<li>accuracy: 98.77 %</li>" in row and "<li>gap after 2000 steps: 1e-09</li>" in row
    assert row.count('<ul class="key-numbers">') == 1
    assert "seconds" not in row and "C05c" not in row and "…" in row
    assert "commit `0123456789ab` plus uncommitted changes" in md
    assert "has a record but no notebook" in md


def test_highlight_label_and_difference_sentence():
    assert highlight_label("C04b fraction where IHT is sparser") == "fraction where IHT is sparser"
    assert highlight_label("after n_iter steps", {"n_iter": 50}) == "after 50 steps"
    assert highlight_label("uses b_max_iter", {}) == "uses b max iter"
    assert key_numbers({"highlights": {"elapsed time": 3}}) == []
    full = {"verdict": "supported", "seeds": [0, 1, 2, 3, 4],
            "subclaims": {"a": {"holds": True}, "b": {"holds": True}}}
    quick = {"verdict": "inconclusive", "seeds": [0, 1, 2],
             "subclaims": {"a": {"holds": True},
                           "b": {"holds": None, "reason": "too few samples (40 < 100)"}}}
    text = explain_difference(full, quick)
    assert text.startswith("The verdicts differ because b holds at full scale but is "
                           "inconclusive in quick (quick: too few samples (40 < 100))")
    assert explain_difference(full, full) is None


def test_cli_claims_prints_both_verdicts(built, capsys):
    root, _ = built
    assert main(["--root", str(root), "claims"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("C98"))
    assert "supported 2/2" in line and "mixed 1/2" in line and "Tiny claims hold" in line
    assert any(ln.startswith("C97") and "not run" in ln for ln in out.splitlines())


def test_console_script_finds_the_project_root(built):
    root, _ = built
    script = Path(sys.executable).with_name("sparsestudy")
    if not script.exists():
        pytest.skip("the sparsestudy console script is not installed next to this Python")
    proc = subprocess.run([str(script), "claims"], cwd=root / "notebooks", capture_output=True,
                          text=True, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "supported" in proc.stdout and "C98" in proc.stdout


@pytest.mark.parametrize("argv, expected", [
    (["run", "--only", "C42"], "C42"),
    (["run", "--profile", "huge"], "unknown profile 'huge'"),
    (["claims", "--profile", "huge"], "unknown profile 'huge'"),
])
def test_cli_expected_errors_are_one_line(built, capsys, argv, expected):
    root, _ = built
    assert main(["--root", str(root), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sparsestudy: error: ") and expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_run_reports_failing_notebook(tmp_path, make_project, tiny_notebook, capsys):
    root = make_project(tmp_path, profiles={"quick": "c98_tiny:\n  explode: true\n"})
    assert main(["--root", str(root), "run", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "0 ran, 0 up to date, 1 failed" in captured.out
    assert f"c98_tiny (C98): FAILED - cell {tiny_notebook.fail_cell}" in captured.err
    assert "RuntimeError: boom in the tiny notebook" in captured.err
    assert "failed/c98_tiny.ipynb" in captured.err
    assert "Traceback" not in captured.err


# --------------------------------------------------------------------------- the real study


def bare_values(nb) -> list[str]:
    """The cells of an executed notebook whose shown result is a bare repr (text only: no
    table, figure or Markdown), which a reader sees as ``[np.float64(91.09), ...]``."""
    return [f"cell {i}: {''.join(o['data']['text/plain'])[:60]!r}"
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for o in c.get("outputs", [])
            if o["output_type"] == "execute_result" and set(o["data"]) <= {"text/plain"}]


@pytest.mark.parametrize("stem", STEMS)
def test_quick_notebook_runs(quick_run, stem):
    """Each claim notebook ran in the quick profile without an error (what nbval checked),
    and wrote a valid quick record."""
    [out] = [o for o in quick_run.outcomes if o.stem == stem]
    assert out.ok, out.describe()
    nb = nbformat.read(quick_run.results / "executed" / f"{stem}.ipynb", as_version=4)
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert not bare_values(nb), bare_values(nb)
    rec = load_record(quick_run.results / f"{out.claim}.json")
    assert rec["profile"] == "quick" and rec["claim"] == out.claim


def test_repository_book(built_quick_book):
    html = built_quick_book
    rows = {r.claim: r for r in claim_rows("quick", REPO)}
    board = _text((html / "book" / "scoreboard.html").read_text(encoding="utf-8"))
    for claim, r in rows.items():
        if r.stem:
            assert f"{claim} · {r.title}" in board
            assert (html / "book" / "chapters" / f"{r.stem}.html").is_file()
    assert (html / "book" / "api.html").is_file()
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    for claim, r in rows.items():   # the intro links a tested claim to its chapter
        if r.stem and claim in {c for *_, cs in CORRESPONDENCES for c in cs}:
            assert f'href="chapters/{r.stem}.html"' in intro, claim
    for page in ("intro", "scoreboard"):
        text = _text((html / "book" / f"{page}.html").read_text(encoding="utf-8"))
        assert "glue:" not in text and "n_iter" not in text


def test_published_records_are_fresh_and_complete():
    """Every published record is valid, listed in the manifest with its notebook and commit,
    and its executed notebook is committed beside it (< 2 MB)."""
    dest = published_dir(REPO)
    if not dest.is_dir():
        pytest.skip("nothing is published yet (book/records/full/)")
    manifest = json.loads((dest / MANIFEST).read_text())["claims"]
    for path in sorted(dest.glob("C[0-9][0-9].json")):
        rec = load_record(path)
        entry = manifest[rec["claim"]]
        assert entry["commit"] == rec["provenance"]["commit"] and not rec["provenance"]["dirty"]
        assert entry["digest"] == fingerprint.digest(rec["fingerprint"])
        executed = dest / "executed" / f"{entry['notebook']}.ipynb"
        assert executed.is_file() and executed.stat().st_size < 2_000_000
        shown = bare_values(json.loads(executed.read_text(encoding="utf-8")))
        assert not shown, f"{executed.name} shows bare values: {shown}"


def _page_commands(page: Path) -> list[str]:
    """The `sparsestudy …` command lines of a page's bash blocks, without their comments."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith("sparsestudy ")]


#: the rerun page's commands that run here for real (cheaply: the quick run is up to date)
RUN_FOR_REAL = ("sparsestudy claims", "sparsestudy stale", "sparsestudy run --only C01")


def test_rerun_page_commands_work(quick_run, capsys, monkeypatch):
    """Every command of the "how to rerun" page is one the command line accepts; the cheap ones
    run against the repository's quick results."""
    import shlex

    from sparsestudy.study.cli import _parser

    commands = _page_commands(REPO / "book" / "rerun.md")
    assert len(commands) >= 8
    for line in commands:
        argv = shlex.split(line)[1:]
        try:
            _parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"book/rerun.md: `{line}` is not a valid command")
    monkeypatch.setenv("SPARSESTUDY_RESULTS", str(quick_run.results.parent))
    ran = [c for c in commands if c in RUN_FOR_REAL]
    assert sorted(ran) == sorted(RUN_FOR_REAL)
    for line in ran:
        assert main(["--root", str(REPO), *shlex.split(line)[1:], *(
            ["--no-progress"] if " run " in f"{line} " else [])]) == 0, line
    out = capsys.readouterr().out
    assert "C01" in out and "up to date" in out


def test_api_page_wraps_signatures_and_docstrings_at_the_column():
    """Each signature and docstring of the API page is a code block of class ``api-doc``, which
    the book's stylesheet wraps (a long signature used to run off the column's edge)."""
    from sparsestudy.study.book import api_markdown

    md = api_markdown(["sparsestudy.continuation"])
    blocks = re.findall(r"```\{code-block\} (\w+)\n:class: api-doc\n\n(.*?)\n```", md, re.S)
    kinds = {kind for kind, _ in blocks}
    assert "python" in kinds and "text" in kinds, md[:400]
    assert any(body.startswith("def threshold_path(X, D, levels") for _, body in blocks)
    assert "```python" not in md and "```text" not in md     # every block wraps
    css = (REPO / "book" / "_static" / "sparsestudy.css").read_text()
    assert re.search(r"\.api-doc pre\s*\{[^}]*white-space:\s*pre-wrap", css)

"""The book: a real Jupyter Book build (warnings are errors) of a copy of the project's book
sources with one tiny executed claim notebook; and the command line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from sparsestudy.study.book import BookError, build_book, format_claims, scoreboard_markdown
from sparsestudy.study.cli import main
from sparsestudy.study.runner import run_notebooks

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def project_results():
    """Results under <root>/results: the suite's scratch-folder variable is for nbval."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SPARSESTUDY_RESULTS", raising=False)
        yield


def _copy_book_sources(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book",
                    ignore=shutil.ignore_patterns("chapters", "scoreboard.md", "_build"))


@pytest.fixture(scope="module")
def project(tmp_path_factory, make_project, tiny_notebook):
    """The book sources plus two claim notebooks, C98 executed (quick profile) and C97 not."""
    root = tmp_path_factory.mktemp("book") / "project"
    _copy_book_sources(root)
    make_project(root, notebooks={"c97_later": tiny_notebook("C97", "A claim not run yet"),
                                  "c98_tiny": tiny_notebook()})
    [out] = run_notebooks("quick", only=["C98"], root=root, progress=False)
    assert out.status == "ran"
    return root


@pytest.fixture(scope="module")
def built(project):
    stale = project / "book" / "chapters" / "c55_stale.ipynb"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")
    stale_page = project / "_build" / "html" / "book" / "chapters" / "c55_stale.html"
    stale_page.parent.mkdir(parents=True)
    stale_page.write_text("<html>an old chapter</html>")
    index = build_book("quick", project)
    assert not stale_page.exists()
    return project, index


def _html(root: Path, page: str) -> str:
    return (root / "_build" / "html" / page).read_text(encoding="utf-8")


def _text(html: str) -> str:
    """The visible text of a page, tags removed, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def test_build_writes_index_chapter_and_scoreboard(built):
    root, index = built
    assert index == root / "_build" / "html" / "index.html" and index.is_file()
    assert sorted(p.name for p in (root / "book" / "chapters").iterdir()) == ["c98_tiny.ipynb"]

    chapter = _html(root, "book/chapters/c98_tiny.html")
    assert "C98: Tiny claims hold" in chapter
    assert "6.283" in chapter  # glue'd from the executed notebook (3.14159 * 2.0, ".3f")
    assert "glue:text" not in chapter
    assert "scale = 2.0" in _text(chapter)  # the injected parameters are shown

    board_md = (root / "book" / "scoreboard.md").read_text(encoding="utf-8")
    assert "| C98 | Tiny claims hold | ✅ **supported** | a ✓ b ✓ (2/2) |" in board_md
    assert "(chapters/c98_tiny.ipynb)" in board_md
    board = _html(root, "book/scoreboard.html")
    assert "C98" in board and "Tiny claims hold" in board and "supported" in board
    assert 'href="chapters/c98_tiny.html"' in board
    assert "6.283" in board  # the highlight
    assert "C97" in board and "no record" in board and "A claim not run yet" in board
    assert "quick" in board
    assert "not a git checkout" in board

    references = _html(root, "book/references.html")
    assert "Learning fast approximations of sparse coding" in references
    intro = _html(root, "book/intro.html")
    assert "Tibshirani" in intro and "1996" in intro  # author-year citations
    assert "scoreboard.html" in intro and "rerun.html" in intro


def test_build_fails_on_a_warning(built, tmp_path):
    root, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("_build"))
    with open(copy / "book" / "intro.md", "a", encoding="utf-8") as fh:
        fh.write("\nSee {cite:p}`nosuchkey2099`.\n")
    with pytest.raises(BookError, match="nosuchkey2099"):
        build_book("quick", copy)
    rc = main(["--root", str(copy), "book"])
    assert rc == 1


def test_book_needs_executed_notebooks(tmp_path, make_project):
    _copy_book_sources(tmp_path)
    make_project(tmp_path)
    with pytest.raises(BookError, match="sparsestudy run"):
        build_book("quick", tmp_path)


def test_scoreboard_markdown_escapes_and_marks_verdicts(tmp_path, make_project):
    import json

    from sparsestudy.study.record import ClaimRecord

    root = make_project(tmp_path, notebooks={}, profiles={"quick": ""})
    rdir = root / "results" / "quick"
    rec = ClaimRecord("C05", "Pooling | is $L_0$ *projection*", profile="quick", seeds=[0],
                      output_dir=rdir)
    rec.subclaim("a", rule="r", passed=True)
    rec.subclaim("b", rule="r", passed=False)
    rec.subclaim("c", rule="r", passed=False, adequacy="trained to a plateau", adequate=False)
    rec.subclaim("d", rule="r", passed=True, consistency=True)
    rec.highlight("accuracy", 0.987654)
    rec.highlight("sizes", [1, 2, 3, 4, 5, 6, 7])
    data = json.loads(rec.save().read_text())
    data["provenance"].update(commit="0123456789abcdef", dirty=True)
    (rdir / "C05.json").write_text(json.dumps(data))
    md = scoreboard_markdown("quick", root)
    row = next(line for line in md.splitlines() if line.startswith("| C05"))
    assert "Pooling \\| is \\$L\\_0\\$ \\*projection\\*" in row
    assert "🟡 **mixed**" in row and "a ✓ b ✗ c ? d ✓ (check) (1/3)" in row
    assert "accuracy: 0.9877" in row and "…" in row
    assert row.endswith("| — |")  # no chapter to link to
    assert "commit `0123456789ab` plus uncommitted changes" in md
    assert "has a record but no notebook" in md
    assert "⚪ 0 inconclusive" in md


def test_cli_claims_prints_the_verdicts(built, capsys):
    root, _ = built
    assert main(["--root", str(root), "claims"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("C98"))
    assert "supported" in line and "a ✓ b ✓" in line and "Tiny claims hold" in line
    assert any(ln.startswith("C97") and "no record" in ln for ln in out.splitlines())
    assert format_claims("quick", root).splitlines()[0].startswith("Claims, profile quick")


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
    (["claims", "--profile", "full"], "unknown profile 'full'"),
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

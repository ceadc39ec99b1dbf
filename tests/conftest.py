"""Shared fixtures.

* ``tiny_notebook``, ``make_project``: a throwaway project with a one-second claim notebook
  (runner, publishing and book-machinery tests).
* ``quick_run``: the repository's claim notebooks executed **once per test session** in the
  quick profile; ``tests/test_book.py`` checks each notebook's run (what nbval did), and
* ``built_quick_book``: the repository's own book built once from those executions (what
  ``make book`` builds), shared by the book tests and the browser test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]

# The claim notebooks write their records to the default output folder, which honours
# SPARSESTUDY_RESULTS: point it at a scratch folder so that tests never touch real results (the
# kernels inherit this environment). SPARSESTUDY_TEST_RESULTS names a folder that persists
# between runs (CI caches it): the runner then skips the notebooks that are up to date.
TEST_RESULTS = os.environ.get("SPARSESTUDY_TEST_RESULTS") or \
    tempfile.mkdtemp(prefix="sparsestudy-test-results-")
os.environ["SPARSESTUDY_RESULTS"] = TEST_RESULTS

#: the tiny notebook's cells, in source order (the failing cell is index 3)
TINY_FAIL_CELL = 3


def tiny_notebook(claim: str = "C98", title: str = "Tiny claims hold",
                  save: bool = True) -> nbformat.NotebookNode:
    """A claim notebook that runs in a second: the shared parameters (``profile, seeds,
    output_dir, device, scheduler``) and ``scale, explode``; it opens its claim with
    ``open_claim``, closes it with ``close_claim`` (sub-claim b holds iff scale > 1), glues
    ``c98_answer = 3.14159 * scale`` and, when ``explode`` is true, raises in cell
    :data:`TINY_FAIL_CELL` - after the record was saved."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = new_code_cell(
        "profile = 'quick'\nseeds = [0]\noutput_dir = None\ndevice = 'cpu'\nscheduler = None\n"
        "scale = 1.0\nexplode = False"
    )
    params.metadata["tags"] = ["parameters"]
    body = (
        "import numpy as np\n"
        "from sparsestudy.study import close_claim, open_claim\n"
        f"rec = open_claim({claim!r}, {title!r}, expected=('a', 'b'))\n"
        "rec.subclaim('a', rule='scale > 0', passed=scale > 0, values={'scale': scale})\n"
        "rec.subclaim('b', rule='scale > 1', passed=scale > 1, values={'scale': scale})\n"
        "rec.highlight('answer', 3.14159 * scale)\n"
        "rec.glue('answer', np.float64(3.14159) * scale)  # a NumPy scalar\n"
    )
    if save:
        body += "close_claim(rec)\n"
    nb.cells = [
        new_markdown_cell(f"# {claim}: {title}\n\nThe answer is "
                          f"{{glue:text}}`{claim.lower()}_answer:.3f`."),
        params,
        new_code_cell(body),
        new_code_cell("if explode:\n    raise RuntimeError('boom in the tiny notebook')"),
        new_code_cell("print('done', rec.verdict)"),
    ]
    assert nb.cells[TINY_FAIL_CELL].source.startswith("if explode")
    return nb


tiny_notebook.fail_cell = TINY_FAIL_CELL


@pytest.fixture(name="tiny_notebook", scope="session")
def tiny_notebook_fixture():
    """The :func:`tiny_notebook` factory (``tiny_notebook.fail_cell`` is its failing cell)."""
    return tiny_notebook


@pytest.fixture(scope="session")
def make_project():
    """``make_project(root, notebooks={stem: NotebookNode}, profiles={name: yaml_text})`` writes
    a minimal project (``_config.yml``, ``pyproject.toml``, ``notebooks/``) and returns root."""

    def make(root: Path, notebooks: dict | None = None, profiles: dict | None = None) -> Path:
        root = Path(root)
        (root / "notebooks" / "profiles").mkdir(parents=True, exist_ok=True)
        if not (root / "_config.yml").exists():
            (root / "_config.yml").write_text("title: tiny\n")
        (root / "pyproject.toml").write_text("[project]\nname = 'tiny'\n")
        for stem, nb in (notebooks if notebooks is not None
                         else {"c98_tiny": tiny_notebook()}).items():
            nbformat.write(nb, root / "notebooks" / f"{stem}.ipynb")
        for name, text in (profiles if profiles is not None
                           else {"quick": "c98_tiny:\n  scale: 2.0\n"}).items():
            (root / "notebooks" / "profiles" / f"{name}.yaml").write_text(text)
        return root

    return make


# --------------------------------------------------------------------------- the real study


@dataclass
class QuickRun:
    """The repository's quick profile, run once: ``results`` is its folder (records,
    ``executed/``, ``failed/``), ``outcomes`` one :class:`~sparsestudy.study.runner.Outcome`
    per claim notebook."""

    results: Path
    outcomes: list

    def failures(self) -> str:
        """One readable line per failed notebook (empty when none failed)."""
        return "\n".join(o.describe() for o in self.outcomes if not o.ok)


def _study_env() -> pytest.MonkeyPatch:
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSESTUDY_RESULTS", TEST_RESULTS)  # a test module may have unset it
    return mp


@pytest.fixture(scope="session")
def quick_run() -> QuickRun:
    """Execute every claim notebook of the repository in the quick profile, once per session
    (into the scratch results folder; up-to-date notebooks are skipped)."""
    from sparsestudy.study.layout import results_dir
    from sparsestudy.study.runner import run_notebooks

    mp = _study_env()
    try:
        outcomes = run_notebooks("quick", root=REPO, progress=False, raise_on_failure=False)
        return QuickRun(results_dir("quick", REPO), outcomes)
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def built_quick_book(quick_run) -> Path:
    """The repository's own book, built once per session by ``make book`` from the quick run:
    the published full chapters where there are some, the quick chapters otherwise, the
    scoreboard with both verdicts. Returns ``<repo>/_build/html`` (``index.html`` in it).

    Fails, listing each failed notebook in one line, when a quick notebook failed."""
    if quick_run.failures():
        pytest.fail("the book is not built because quick notebooks failed:\n"
                    + quick_run.failures(), pytrace=False)
    mp = _study_env()
    try:
        # -o: never redo the set-up from inside the suite; BIN: this Python's environment
        proc = subprocess.run(["make", "-o", ".venv/.installed",
                               f"BIN={Path(sys.executable).parent}", "book"],
                              cwd=REPO, capture_output=True, text=True)
    finally:
        mp.undo()
    if proc.returncode != 0:
        pytest.fail(f"make book failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
                    f"\n{proc.stderr[-3000:]}", pytrace=False)
    html = REPO / "_build" / "html"
    assert (html / "index.html").is_file()
    return html

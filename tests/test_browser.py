"""The built quick book in a real browser: headless Chromium, every request off this machine
blocked.

Every page of the repository's own quick book (``_build/html``, built from ``results/quick``) is
loaded once at 1280 px and once at 400 px, and checked for: math typeset (as many typeset
formulas as the page's source has), no console errors, no request off the machine, figures
loaded and readable at the text column's width, internal links that resolve, no raw
Markdown or glue, no warning, traceback or build path in a cell output, and a ☰ menu that opens
at 400 px.

Chromium is Debian's package (``make setup`` installs it as root; Playwright's own browser
downloads fail here) driven by Playwright. Without Chromium the test skips, saying how to get
it, except under CI (``CI`` set), where it fails.

The book: ``$SPARSESTUDY_BOOK_HTML`` when set (an already built ``_build/html``); else the
``built_quick_book`` fixture of ``conftest.py`` (the suite builds the book once); else this
module builds it (``sparsestudy run --profile quick``, which skips what is up to
date, then ``sparsestudy book --profile quick``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import struct
import threading
import zlib  # noqa: F401  (PNG chunks are read without decompressing)
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 400, "height": 800}
#: the book's text column (CSS px) and the smallest readable text (pt), as in sparsestudy.plotting
COLUMN_PX, MIN_PT, FIGURE_PT = 688.0, 9.0, 9.0



# --------------------------------------------------------------------------- the browser


def chromium_executable() -> str | None:
    for name in (os.environ.get("SPARSESTUDY_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _unavailable(why: str):
    how = ("install Debian's Chromium (`make setup` does, as root: `apt-get install -y "
           "chromium`) and Playwright (in requirements-lock.txt)")
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run in CI: {why}; {how}")
    pytest.skip(f"browser test skipped: {why}; to enable it, {how}")


@pytest.fixture(scope="session")
def browser():
    exe = chromium_executable()
    if exe is None:
        _unavailable("no chromium executable on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True,
                               args=["--no-sandbox", "--disable-gpu",
                                     "--disable-dev-shm-usage"])
        yield b
        b.close()


# --------------------------------------------------------------------------- the book


def _build_quick_book() -> Path:
    import subprocess
    import sys

    cli = [sys.executable, "-m", "sparsestudy.study.cli"]
    for args in (["run", "--profile", "quick", "--no-progress"], ["book", "--profile", "quick"]):
        subprocess.run(cli + args, cwd=REPO, check=True)
    return REPO / "_build" / "html"


@pytest.fixture(scope="session")
def book_html(request) -> Path:
    given = os.environ.get("SPARSESTUDY_BOOK_HTML")
    if given:
        html = Path(given)
    else:
        try:
            html = Path(request.getfixturevalue("built_quick_book"))
        except pytest.FixtureLookupError:
            html = _build_quick_book()
    assert (html / "index.html").is_file(), f"no built book in {html}"
    return html


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the per-request log
        pass


@pytest.fixture(scope="session")
def site(book_html):
    """The book served on the loopback interface (the browser may reach nothing else)."""
    handler = functools.partial(_Quiet, directory=str(book_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def book_pages(html: Path) -> list[str]:
    """The book's pages, relative to the site root (Sphinx's own pages included)."""
    pages = []
    for p in sorted(html.rglob("*.html")):
        rel = p.relative_to(html).as_posix()
        if rel.split("/")[0] in ("_static", "_sources", "_images") or "/_static/" in rel:
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if 'http-equiv="Refresh"' in text or 'http-equiv="refresh"' in text:
            continue        # index.html: a redirect to the root page
        pages.append(rel)
    return pages


# --------------------------------------------------------------------------- formulas in a source

_FENCE = re.compile(r"^(```+|~~~+)[^\n]*\n.*?^\1\s*$", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+)(?!\{)[^`]*?\1")
_DISPLAY = re.compile(r"\$\$.+?\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?(?<!\\)\$(?!\$)", re.S)
_AMS = re.compile(r"^\s*\\begin\{(equation|align|gather|multline|flalign|alignat|eqnarray)"
                  r"\*?\}.*?\\end\{\1\*?\}", re.S | re.M)
_MATH_ROLE = re.compile(r"\{math\}`")
_MATH_DIRECTIVE = re.compile(r"^(```+|:::+)\{math\}", re.M)
_GLUE_MD = re.compile(r"\{glue:md\}`([A-Za-z0-9_]+)")


def count_math(markdown: str) -> int:
    """Formulas in MyST Markdown as the book parses it (dollarmath and amsmath): $...$,
    $$...$$, amsmath environments, {math} roles and directives; code is not math."""
    directives = len(_MATH_DIRECTIVE.findall(markdown))
    text = _FENCE.sub(" ", markdown)
    roles = len(_MATH_ROLE.findall(text))
    text = _INLINE_CODE.sub(" ", text)
    n = 0
    for pattern in (_DISPLAY, _AMS, _INLINE):
        n += len(pattern.findall(text))
        text = pattern.sub(" ", text)
    return n + roles + directives


def _tags(cell) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def notebook_math(path: Path) -> int:
    """Formulas a built notebook page shows: its Markdown cells (with the glued Markdown they
    pull in through {glue:md}) and the Markdown its cells display."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    glued, shown = {}, 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            # a glued value is stored as application/papermill.record/text/markdown
            md = next((v for k, v in data.items() if k.endswith("text/markdown")), None)
            if md is None:
                continue
            key = (out.get("metadata", {}).get("scrapbook") or {}).get("name")
            if key:
                glued[key] = _joined(md)
            elif not _tags(cell) & {"remove-output", "remove-cell"}:
                shown += count_math(_joined(md))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = _joined(cell["source"])
            shown += count_math(src)
            shown += sum(count_math(glued.get(k, "")) for k in _GLUE_MD.findall(src))
    return shown


def source_math(page: str, root: Path = REPO) -> int | None:
    """Formulas in the source of a page of the book built in ``root/_build/html`` (None for
    pages Sphinx generates: search, index)."""
    stem = page[:-len(".html")]
    for suffix in (".md", ".ipynb"):
        src = root / f"{stem}{suffix}"
        if src.is_file():
            return count_math(with_includes(src)) if suffix == ".md" else notebook_math(src)
    return None


_INCLUDE = re.compile(r"^(```+|:::+)\{include\}\s*(\S+)[^\n]*\n(.*?)^\1\s*$", re.M | re.S)


def with_includes(path: Path) -> str:
    """A Markdown file's text with its {include} directives replaced by the files they name."""
    text = path.read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: with_includes((path.parent / m.group(2)).resolve()), text)


def _extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sparsestudy_offline", REPO / "book" / "_ext" / "sparsestudy_offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mathjax_3_is_installed_and_configured_offline():
    """make setup installs MathJax 3 (a package, not a CDN); the book's mathjax_path names a
    file of it, under the _static folder the extension copies it to."""
    import yaml

    ext = _extension()
    es5 = ext.mathjax_source()
    config = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]
    path = config["config"]["mathjax_path"]
    assert "://" not in path and not path.startswith("//")
    assert path.startswith(ext.MATHJAX_DIR + "/")
    main = es5 / path[len(ext.MATHJAX_DIR) + 1:]
    assert main.is_file() and 'VERSION="3.' in main.read_text(encoding="utf-8")
    assert (es5 / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert "sparsestudy_offline" in config["local_extensions"]
    assert not (REPO / "book" / "_static" / "mathjax").exists(), "MathJax is never committed"


def test_injected_parameters_are_collapsed():
    ext = _extension()
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters", "hide-input"]}},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters",
                                                                "remove-cell"]}},
                    {"cell_type": "code", "metadata": {}}]}
    out = json.loads(ext.collapse_injected_parameters(json.dumps(nb)))
    tags = [c["metadata"].get("tags", []) for c in out["cells"]]
    assert tags == [["parameters", "hide-input"], ["injected-parameters", "hide-input"],
                    ["injected-parameters", "remove-cell"], []]
    plain = '{"cells": []}'
    assert ext.collapse_injected_parameters(plain) is plain
    assert ext.collapse_injected_parameters("# a Markdown page") == "# a Markdown page"


def test_notebook_math_follows_glue_and_skips_hidden_outputs(tmp_path):
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "k_story"}},
             "data": {"application/papermill.record/text/markdown": "so $a = b$ here"}}
    shown = {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "$x$"}}
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "Math $y$, {glue:md}`k_story`."},
        {"cell_type": "code", "metadata": {}, "source": "", "outputs": [glued, shown]},
        {"cell_type": "code", "metadata": {"tags": ["remove-output"]}, "source": "",
         "outputs": [shown]},
        {"cell_type": "markdown", "metadata": {}, "source": "again {glue:md}`k_story`"}]}
    path = tmp_path / "c99.ipynb"
    path.write_text(json.dumps(nb))
    assert notebook_math(path) == 1 + 1 + 1 + 1     # $y$, two glue uses, the shown output


def test_count_math_reads_myst_like_the_book():
    text = ("Inline $a + b$ and $\\|x\\|_1$, a price \\$5, code `$not$`, display\n$$\nx^2\n$$\n"
            "```python\ny = '$no$'\n```\n\\begin{align}\na &= b\n\\end{align}\n{math}`c`")
    assert count_math(text) == 5


# --------------------------------------------------------------------------- one visit per page

_COLLECT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const inCode = (el) => el.closest('pre, code, .highlight, .cell_input, script, style');
  // visible prose: the article without its code, formulas and hidden blocks
  let prose = '';
  if (article) {
    const clone = article.cloneNode(true);
    clone.querySelectorAll('pre, code, .highlight, .cell_input, script, style, mjx-container, '
      + 'mjx-assistive-mml, .MathJax, details:not([open]) > :not(summary), .toggle-hidden')
      .forEach(e => e.remove());
    prose = clone.innerText;
  }
  const outputs = [...document.querySelectorAll('.cell_output, .output')]
    .map(e => ({text: e.innerText, stderr: e.classList.contains('stderr')
                || !!e.querySelector('.stderr, .output.stderr')}));
  const rawMath = [...document.querySelectorAll('span.math, div.math')];
  const images = [...(article || document).querySelectorAll('img')].map(img => {
    const r = img.getBoundingClientRect();
    return {src: img.currentSrc || img.src, complete: img.complete,
            natural: img.naturalWidth, shown: r.width, output: !!img.closest('.cell_output')};
  });
  return {
    title: document.title,
    math: rawMath.length,
    typeset: rawMath.filter(e => e.querySelector('mjx-container')).length,
    containers: (article || document).querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror, .MathJax_Error').length,
    mathjax: !!(window.MathJax && MathJax.version),
    mathjaxVersion: window.MathJax && MathJax.version,
    prose: prose,
    outputs: outputs,
    images: images,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
}
"""


def _visit(browser, site: str, page: str, viewport: dict, collect: bool = True
           ) -> tuple[dict, list[str]]:
    """Load one page; returns what _COLLECT found and the console errors, page errors and
    requests that were blocked or failed."""
    context = browser.new_context(viewport=viewport)
    problems: list[str] = []
    blocked: set[str] = set()

    def route(r):
        url = urlsplit(r.request.url)
        if url.scheme in ("data", "blob") or url.hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            blocked.add(r.request.url)
            problems.append(f"request off the machine (blocked): {r.request.url}")
            r.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
         if m.type == "error" else None)
    p.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    p.on("requestfailed", lambda r: None if r.url in blocked
         else problems.append(f"request failed: {r.url} ({r.failure})"))
    p.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
         if r.status >= 400 else None)
    p.goto(f"{site}/{page}", wait_until="load")
    p.wait_for_load_state("networkidle")
    data = p.evaluate(_COLLECT) if collect else {}
    data["_page"] = p
    data["_context"] = context
    return data, problems


@pytest.fixture(scope="session")
def reports(browser, site, book_html):
    """Every page visited once at desktop width: {page: (data, problems)}."""
    out = {}
    for page in book_pages(book_html):
        data, problems = _visit(browser, site, page, DESKTOP)
        data.pop("_page").close()
        data.pop("_context").close()
        out[page] = (data, problems)
    assert out, "the book has no pages"
    return out


def _fail_on(problems: dict[str, list[str]]):
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        lines = [f"{page}: {p}" for page, ps in bad.items() for p in ps[:8]]
        pytest.fail(f"{len(bad)} page(s):\n" + "\n".join(lines[:80]))


# --------------------------------------------------------------------------- the checks


@pytest.mark.slow
def test_the_book_has_its_pages(reports):
    pages = set(reports)
    assert {"book/intro.html", "book/sources.html", "book/scoreboard.html"} <= pages
    assert any(p.startswith("book/chapters/c01_") for p in pages)


@pytest.mark.slow
def test_no_console_errors_and_nothing_fetched_off_the_machine(reports):
    _fail_on({page: problems for page, (_, problems) in reports.items()})


@pytest.mark.slow
def test_math_is_typeset_from_the_site_itself(reports, book_html):
    problems = {}
    root = book_html.resolve().parents[1]           # <root>/_build/html
    for page, (data, _) in reports.items():
        expected = source_math(page, root)
        ps = []
        if data["math"] and not data["mathjax"]:
            ps.append(f"{data['math']} formulas but MathJax did not load")
        if data["typeset"] != data["math"]:
            ps.append(f"{data['math'] - data['typeset']} of {data['math']} formulas not typeset")
        if data["mathErrors"]:
            ps.append(f"{data['mathErrors']} MathJax errors")
        if expected is not None and data["containers"] != expected:   # the article's own
            ps.append(f"{data['containers']} typeset formulas, {expected} in the source")
        if data["mathjax"] and not str(data["mathjaxVersion"]).startswith("3."):
            ps.append(f"MathJax {data['mathjaxVersion']}, not 3")
        problems[page] = ps
    _fail_on(problems)
    assert sum(d["containers"] for d, _ in reports.values()) > 0, "no formula in the book"


def _png_dpi(path: Path) -> float | None:
    """Pixels per inch from a PNG's pHYs chunk (matplotlib writes it), None without one."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs":
            x, _, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            return x * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None
        pos += 12 + length
    return None


@pytest.mark.slow
def test_figures_load_and_read_at_the_column_width(reports, site, book_html):
    """Every image loads; a cell's figure is shown at a scale where its text (at least 9 pt
    as drawn, tests/test_notebook_contract.py) reads at 9 pt or more: its width in inches,
    from the PNG's own resolution, fits the 688-px column."""
    problems = {}
    for page, (data, _) in reports.items():
        ps = []
        for img in data["images"]:
            if not img["complete"] or not img["natural"]:
                ps.append(f"image not loaded: {img['src']}")
                continue
            url = urlsplit(img["src"])
            if not img["output"] or not url.path.endswith(".png") or \
                    not img["src"].startswith(site):
                continue
            dpi = _png_dpi(book_html / unquote(url.path).lstrip("/"))
            if not dpi or not img["shown"]:
                continue
            shown_pt = FIGURE_PT * img["shown"] * dpi / img["natural"] / 96.0
            if shown_pt < MIN_PT * 0.97:
                ps.append(f"figure {Path(url.path).name}: {img['natural'] / dpi:.1f} in wide, "
                          f"shown {img['shown']:.0f} px: 9-pt text reads as {shown_pt:.1f} pt")
        problems[page] = ps
    _fail_on(problems)


@pytest.mark.slow
def test_internal_links_resolve(reports, site, book_html):
    ids = {page: set(data["ids"]) for page, (data, _) in reports.items()}
    problems = {}
    for page, (data, _) in reports.items():
        ps = []
        for href in sorted(set(data["links"])):
            if not href.startswith(site):
                continue
            url = urlsplit(href)
            path = unquote(url.path).lstrip("/") or "index.html"
            if path.endswith("/"):
                path += "index.html"
            if not (book_html / path).is_file():
                ps.append(f"broken link: {href}")
            elif url.fragment and path in ids and unquote(url.fragment) not in ids[path]:
                ps.append(f"no anchor #{url.fragment} in {path}")
        problems[page] = ps
    _fail_on(problems)


#: what must not show in a page's prose: unrendered roles and glue, Markdown syntax, raw math
RAW = {
    "a glue role": re.compile(r"\{glue(:\w+)?\}"),
    "a MyST role": re.compile(r"\{(ref|doc|numref|eq|cite|math|term|download)\}"),
    "a Markdown link": re.compile(r"\]\((?!\s)[^)]*\)"),
    "bold markers": re.compile(r"(?<![\w*])\*\*\S"),
    "a Markdown heading": re.compile(r"(?m)^#{1,6} \S"),
    "a pipe table": re.compile(r"\|\s*:?-{3,}:?\s*\||\|\s*[—–]+\s*\|"),
    "a code fence": re.compile(r"```"),
    "raw math": re.compile(r"\$\$|\$\\[a-zA-Z]|\\\(|\\\["),
    "a Python value": re.compile(r"np\.float64\(|np\.int64\(|<IPython\.core|Markdown object"),
}


@pytest.mark.slow
def test_no_raw_markdown_or_glue(reports):
    problems = {}
    for page, (data, _) in reports.items():
        ps = []
        for what, pattern in RAW.items():
            for m in list(pattern.finditer(data["prose"]))[:3]:
                a, b = max(0, m.start() - 40), m.end() + 40
                ps.append(f"{what}: …{data['prose'][a:b]!r}…")
        problems[page] = ps
    _fail_on(problems)


#: what a cell's output must not show: warnings, tracebacks, paths of the machine that built it
OUTPUT_NOISE = re.compile(r"\w*Warning\b|Traceback|/tmp/|/work/|/home/|/root/|site-packages|"
                          r"\.venv|ipykernel_|C:\\\\")


@pytest.mark.slow
def test_no_warnings_or_paths_in_outputs(reports):
    problems = {}
    for page, (data, _) in reports.items():
        ps = []
        for out in data["outputs"]:
            if out["stderr"]:
                ps.append(f"stderr output: {out['text'][:160]!r}")
            m = OUTPUT_NOISE.search(out["text"])
            if m:
                a = max(0, m.start() - 60)
                ps.append(f"{m.group(0)!r} in an output: {out['text'][a:m.end() + 60]!r}")
        problems[page] = ps
    _fail_on(problems)


_MENU = r"""
() => {
  const visible = (e) => { if (!e) return false; const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && r.right > 0 && r.left < window.innerWidth; };
  const toggles = [...document.querySelectorAll(
      'button.primary-toggle, label.primary-toggle, .sidebar-toggle.primary-toggle')];
  const sidebar = document.querySelector('#pst-primary-sidebar, .bd-sidebar-primary');
  const links = sidebar ? [...sidebar.querySelectorAll('a.reference.internal')] : [];
  return {toggle: toggles.findIndex(visible), sidebar: visible(sidebar),
          links: links.filter(visible).length, total: links.length};
}
"""


@pytest.mark.slow
def test_menu_opens_on_a_phone(browser, site, reports):
    """At 400 px the chapter list hides behind the ☰ button: a click must show it."""
    problems = {}
    for page in reports:
        data, errors = _visit(browser, site, page, PHONE, collect=False)
        p, context = data["_page"], data["_context"]
        try:
            before = p.evaluate(_MENU)
            ps = list(errors)
            if before["total"] == 0:
                problems[page] = ps
                continue            # a page without the chapter list (none in this book)
            if before["toggle"] < 0:
                ps.append("no visible menu button at 400 px")
            else:
                p.locator("button.primary-toggle, label.primary-toggle, "
                          ".sidebar-toggle.primary-toggle").nth(before["toggle"]).click()
                p.wait_for_timeout(400)
                after = p.evaluate(_MENU)
                if not after["sidebar"] or after["links"] == 0:
                    ps.append(f"the menu button does not open the chapter list (visible "
                              f"links {after['links']} of {after['total']})")
            problems[page] = ps
        finally:
            p.close()
            context.close()
    _fail_on(problems)


_SCOREBOARD_FIT = """
() => {
  const table = document.querySelector('.full-width table');
  if (!table) return null;
  const rows = [...table.querySelectorAll('tbody tr')];
  const cells = rows.length ? [...rows[0].querySelectorAll('td')] : [];
  const lefts = cells.map(c => Math.round(c.getBoundingClientRect().left));
  return {width: Math.round(table.getBoundingClientRect().width), viewport: window.innerWidth,
          page: document.documentElement.scrollWidth, rows: rows.length,
          stacked: lefts.length > 1 && new Set(lefts).size === 1,
          lists: table.querySelectorAll('ul.key-numbers li').length};
}
"""


@pytest.mark.slow
def test_scoreboard_reads_on_a_phone(browser, site, reports):
    """At 400 px each claim of the scoreboard is a card (its cells stacked, one under the
    other) that fits the screen: no sideways scrolling, key numbers as a list."""
    data, errors = _visit(browser, site, "book/scoreboard.html", PHONE, collect=False)
    p, context = data["_page"], data["_context"]
    try:
        fit = p.evaluate(_SCOREBOARD_FIT)
    finally:
        p.close()
        context.close()
    assert not errors, errors
    assert fit is not None, "the scoreboard has no table"
    assert fit["rows"] >= 1 and fit["lists"] >= 1, fit
    assert fit["stacked"], f"the scoreboard's cells sit side by side at 400 px: {fit}"
    assert fit["width"] <= fit["viewport"] and fit["page"] <= fit["viewport"], \
        f"the scoreboard is wider than a 400-px screen: {fit}"

"""Sphinx hooks of the sparsestudy book: a site that works offline and without console errors.

* **MathJax 3 from the site itself.** The book's ``mathjax_path`` (``_config.yml``) is
  ``mathjax/tex-mml-chtml.js``, under ``_static``. This extension copies MathJax's ``es5``
  build from the installed package that ships it (``django-static-mathjax``, pinned in
  ``requirements-lock.txt``: ``make setup`` installs it; nothing of MathJax is committed) into
  ``_static/mathjax`` of every HTML build, so formulas are typeset with no network.
* **One thebe configuration per page.** sphinx-thebe adds its inline configuration script
  (``const THEBE_JS_URL = ...``) to the builder each time the environment reads documents; the
  book never launches thebe (``launch_buttons.thebe: false``), and a second copy of that
  ``const`` is a SyntaxError on every page. The script is dropped from each page's scripts
  when thebe is off, and kept once when it is on.
* **The menu buttons work.** ``book/_static/sparsestudy-menu.js`` (on every page) hands a click
  on sphinx-book-theme's visible ☰ and contents buttons to the first button of each kind, the
  only one the themes' scripts listen to (without it the ☰ menu does nothing at 400 px).
* **Readable tables.** ``book/_static/sparsestudy.css`` (on every page) pads the cells of the
  pandas tables in cell outputs, which the theme leaves unpadded;
  ``book/_static/sparsestudy-tables.js`` marks their number cells, which it right-aligns and
  keeps on one line.
* **The injected parameters collapsed.** papermill puts the values a run used in a cell tagged
  ``injected-parameters`` right after the ``parameters`` cell; in the book it is collapsed
  (``hide-input``) like the parameters cell, so a chapter opens with its title and prose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: where the extension puts MathJax, under the build's ``_static``
MATHJAX_DIR = "mathjax"


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax 3 (the one ``mathjax_path`` names)."""
    try:
        import mathjax  # the package django-static-mathjax installs (MathJax 3.2.2)
    except ImportError as exc:
        raise ExtensionError("MathJax 3 is not installed: run `make setup` (it installs "
                             "django-static-mathjax from requirements-lock.txt)") from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise ExtensionError(f"no MathJax 3 build in {es5}: reinstall django-static-mathjax")
    return es5


def _check_mathjax_path(app: Sphinx, config) -> None:
    path = str(config.mathjax_path or "")
    if "://" in path or path.startswith("//"):
        raise ExtensionError(f"mathjax_path is a URL ({path}): the book serves MathJax itself; "
                             f"set sphinx.config.mathjax_path to {MATHJAX_DIR}/tex-mml-chtml.js")
    mathjax_source()           # fail early, before reading anything, when it is missing
    static = str(Path(__file__).resolve().parents[1] / "_static")
    if static not in config.html_static_path:
        config.html_static_path.append(static)


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)


def _thebe_on(app: Sphinx) -> bool:
    options = app.config.html_theme_options or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def _is_thebe(js) -> bool:
    body = (getattr(js, "attributes", None) or {}).get("body", "") or ""
    name = str(getattr(js, "filename", "") or "")
    return "THEBE_JS_URL" in body or name.endswith("sphinx-thebe.js") or "/thebe@" in name


def _one_thebe_config(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Each page's scripts: thebe's dropped when thebe is off, each kept once when it is on."""
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = _thebe_on(app)
    kept, seen = [], set()
    for js in scripts:
        if _is_thebe(js):
            key = (str(getattr(js, "filename", "")), repr(getattr(js, "attributes", {})))
            if not keep or key in seen:
                continue
            seen.add(key)
        kept.append(js)
    context["script_files"] = kept


#: the tags that already say how a cell's code shows
_VISIBILITY = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


def collapse_injected_parameters(text: str) -> str:
    """A notebook's JSON with its ``injected-parameters`` cell tagged ``hide-input`` (unless
    it says how to show already); other text is returned as it is."""
    if '"injected-parameters"' not in text:
        return text
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    changed = False
    for cell in nb.get("cells", []):
        meta = cell.setdefault("metadata", {})
        tags = list(meta.get("tags", []))
        if "injected-parameters" in tags and not _VISIBILITY & set(tags):
            meta["tags"] = tags + ["hide-input"]
            changed = True
    return json.dumps(nb, ensure_ascii=False) if changed else text


def _on_source_read(app: Sphinx, docname: str, source: list) -> None:
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = collapse_injected_parameters(source[0])


def setup(app: Sphinx) -> dict:
    app.connect("source-read", _on_source_read)
    app.connect("config-inited", _check_mathjax_path)
    app.connect("html-page-context", _one_thebe_config, priority=900)
    app.connect("build-finished", _copy_mathjax)
    app.add_js_file("sparsestudy-menu.js", priority=900)
    app.add_css_file("sparsestudy.css")
    app.add_js_file("sparsestudy-tables.js", priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

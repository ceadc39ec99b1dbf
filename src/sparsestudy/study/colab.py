"""The Colab set-up cell of the claim notebooks, and the one place the repository's URL is set.

A chapter's "on Colab" link opens its notebook from the public repository in a bare Colab
kernel, which has PyTorch but not the ``sparsestudy`` library. So each claim notebook's first
code cell (tagged :data:`~sparsestudy.study.fingerprint.SETUP_TAG` and ``remove-cell``: the book
does not show it) clones the repository and installs the library, **on Colab only**: anywhere
else it does nothing, which is why the code fingerprint leaves it out (it cannot change a
number, so writing the URL into it makes no record stale).

The repository's URL lives in ``_config.yml`` (``repository.url``) and, copied, in that cell of
every notebook. :func:`set_repository` (``sparsestudy repository URL``) writes both;
:func:`check_repository` (``sparsestudy repository`` with no URL, and the test suite) says where
they disagree.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .fingerprint import SETUP_TAG
from .layout import atomic_write_text, project_root

#: the tags of the set-up cell: the fingerprint leaves it out, the book removes it
SETUP_TAGS = [SETUP_TAG, "remove-cell"]
#: a public repository's URL, as the book's links need it
URL_PATTERN = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+$")
#: where the cell clones the repository on Colab
CHECKOUT = "/content/sparsestudy"

_TEMPLATE = '''\
# On Colab only (anywhere else this cell does nothing): install the study's library from its
# repository, then run from the repository's notebooks/ folder. `sparsestudy repository URL`
# writes the repository's address below.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    repository, checkout = {url!r}, {checkout!r}
    if not repository:
        raise RuntimeError("this notebook names no repository to install the sparsestudy "
                           "library from: install it yourself (pip install -e <checkout>) "
                           "and skip this cell")
    if not os.path.isdir(checkout):
        subprocess.run(["git", "clone", "--depth", "1", repository, checkout], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", checkout],
                       check=True)
    if os.path.join(checkout, "src") not in sys.path:
        sys.path.insert(0, os.path.join(checkout, "src"))
    os.chdir(os.path.join(checkout, "notebooks"))
'''

_URL_IN_CELL = re.compile(r"^    repository, checkout = ('[^']*'|\"[^\"]*\"), ", re.M)


def check_url(url: str | None) -> str:
    """``url`` without a trailing slash, ``""`` for none; a ``ValueError`` naming it unless it
    looks like ``https://github.com/OWNER/NAME``."""
    if url is None or not str(url).strip():
        return ""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    url = url.strip().rstrip("/")
    if not URL_PATTERN.match(url):
        raise ValueError(f"url must look like https://github.com/OWNER/NAME, got {url!r}")
    return url


def setup_source(url: str | None) -> str:
    """The set-up cell's source for the repository ``url`` (``None`` or ``""``: none yet; on
    Colab the cell then stops with a message that says so)."""
    return _TEMPLATE.format(url=check_url(url), checkout=CHECKOUT)


def setup_cell(url: str | None) -> dict[str, Any]:
    """The set-up cell, as a notebook's JSON holds it."""
    return {"cell_type": "code", "execution_count": None, "id": "colab-setup",
            "metadata": {"tags": list(SETUP_TAGS)}, "outputs": [],
            "source": setup_source(url).splitlines(keepends=True)}


def _is_setup(cell: Mapping[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and \
        SETUP_TAG in (cell.get("metadata") or {}).get("tags", [])


def notebook_url(nb: Mapping[str, Any]) -> str | None:
    """The repository URL in a notebook's set-up cell (``""`` for none), ``None`` when the
    notebook has no set-up cell."""
    cells = [c for c in nb.get("cells", []) if _is_setup(c)]
    if not cells:
        return None
    src = cells[0].get("source", "")
    m = _URL_IN_CELL.search("".join(src) if isinstance(src, list) else src)
    return json.loads('"' + m.group(1)[1:-1] + '"') if m else None


def with_setup_cell(nb: dict[str, Any], url: str | None) -> dict[str, Any]:
    """``nb`` with exactly one set-up cell for ``url``, right after the title (the first cell):
    the first code cell, before the parameters."""
    cells = [c for c in nb.get("cells", []) if not _is_setup(c)]
    cells.insert(1 if cells else 0, setup_cell(url))
    nb["cells"] = cells
    return nb


def _notebooks(root: Path) -> list[Path]:
    from .runner import discover_notebooks

    return [nb.path for nb in discover_notebooks(root)]


def _config_path(root: Path) -> Path:
    return root / "_config.yml"


def config_url(root: str | os.PathLike | None = None) -> str:
    """``repository.url`` of ``_config.yml`` (``""`` when it is empty, or when the file is
    missing or unreadable)."""
    import yaml

    root = Path(root) if root is not None else project_root()
    try:
        config = yaml.safe_load(_config_path(root).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    return check_url((config.get("repository") or {}).get("url") or "")


def _set_config_url(text: str, url: str) -> str:
    """``_config.yml``'s text with ``repository.url`` set, its comments and layout kept."""
    pattern = re.compile(r"(^repository:[ \t]*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(.*)$", re.M)
    if not pattern.search(text):
        raise ValueError("_config.yml has no repository.url to set")
    return pattern.sub(lambda m: m.group(1) + json.dumps(url), text, count=1)


def set_repository(url: str | None, root: str | os.PathLike | None = None) -> list[Path]:
    """Write the repository ``url`` (``None``/``""``: none) into ``_config.yml`` and into the
    set-up cell of every claim notebook (adding the cell where it is missing). Returns the
    files it changed."""
    url = check_url(url)
    root = Path(root) if root is not None else project_root()
    changed = []
    config = _config_path(root)
    text = config.read_text(encoding="utf-8")
    new = _set_config_url(text, url)
    if new != text:
        atomic_write_text(config, new)
        changed.append(config)
    for path in _notebooks(root):
        text = path.read_text(encoding="utf-8")
        new = json.dumps(with_setup_cell(json.loads(text), url), indent=1,
                         ensure_ascii=False) + "\n"
        if new != text:
            atomic_write_text(path, new)
            changed.append(path)
    return changed


def check_repository(root: str | os.PathLike | None = None) -> list[str]:
    """What disagrees with ``_config.yml``'s repository URL: each claim notebook needs one
    set-up cell, after its title, naming that URL. Returns the problems (none: ``[]``)."""
    root = Path(root) if root is not None else project_root()
    url = config_url(root)
    problems = []
    for path in _notebooks(root):
        nb = json.loads(path.read_text(encoding="utf-8"))
        setup = [i for i, c in enumerate(nb.get("cells", [])) if _is_setup(c)]
        if len(setup) != 1:
            problems.append(f"{path.name}: {len(setup)} set-up cells (tag {SETUP_TAG}), "
                            "needs one")
            continue
        if setup[0] != 1:
            problems.append(f"{path.name}: the set-up cell is cell {setup[0]}, not the one "
                            "after the title")
        cell = nb["cells"][setup[0]]
        src = cell.get("source", "")
        if ("".join(src) if isinstance(src, list) else src) != setup_source(url):
            problems.append(f"{path.name}: the set-up cell differs from the template for "
                            f"{url or 'no repository'} (`sparsestudy repository` rewrites it)")
    return problems


__all__ = ["SETUP_TAGS", "CHECKOUT", "check_url", "setup_source", "setup_cell", "notebook_url",
           "with_setup_cell", "config_url", "set_repository", "check_repository"]

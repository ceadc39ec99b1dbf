"""The Colab set-up cell (sparsestudy.study.colab): it installs the library on Colab and does
nothing anywhere else, the code fingerprint leaves it out, and ``sparsestudy repository`` keeps
it and ``_config.yml`` in agreement."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sparsestudy.study import fingerprint as fp
from sparsestudy.study.cli import main
from sparsestudy.study.colab import (CHECKOUT, check_repository, check_url, config_url,
                                     notebook_url, set_repository, setup_source,
                                     with_setup_cell)
from sparsestudy.study.notebook import _assigned_names

REPO = Path(__file__).resolve().parents[1]
URL = "https://github.com/owner/sparsestudy"


def _run_cell(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<colab-setup>", "exec"), namespace)
    namespace.pop("__builtins__", None)
    return namespace


def test_the_cell_does_nothing_outside_colab(monkeypatch):
    calls = []
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(os, "chdir", lambda *a: calls.append(a))
    namespace = _run_cell(setup_source(URL))
    assert calls == [] and set(namespace) == {"sys"}
    # no top-level assignment: nothing the runner could mistake for a notebook parameter
    assert _assigned_names(setup_source(URL)) == []


def test_on_colab_it_clones_installs_and_moves_to_the_notebooks(monkeypatch):
    calls, moved = [], []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append((cmd, k)))
    monkeypatch.setattr(os, "chdir", moved.append)
    monkeypatch.setattr(os.path, "isdir", lambda p: False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _run_cell(setup_source(URL + "/"))
    assert calls[0] == (["git", "clone", "--depth", "1", URL, CHECKOUT], {"check": True})
    assert calls[1][0][1:] == ["-m", "pip", "install", "--quiet", "-e", CHECKOUT]
    assert moved == [os.path.join(CHECKOUT, "notebooks")]
    assert sys.path[0] == os.path.join(CHECKOUT, "src")


def test_on_colab_without_a_repository_it_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    with pytest.raises(RuntimeError, match="names no repository"):
        _run_cell(setup_source(None))


@pytest.mark.parametrize("bad", ["http://github.com/a/b", "https://gitlab.com/a/b",
                                 "https://github.com/a", "https://github.com/a/b/c"])
def test_bad_urls_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="url must look like https://github.com/OWNER/NAME"):
        check_url(bad)
    with pytest.raises(TypeError, match="url must be a string"):
        check_url(42)


def test_the_code_fingerprint_leaves_the_setup_cell_out(tiny_notebook):
    nb = json.loads(json.dumps(tiny_notebook()))
    before = fp.code_fingerprint(nb)
    with_setup_cell(nb, "")
    assert nb["cells"][1]["metadata"]["tags"] == ["colab-setup", "remove-cell"]
    assert fp.code_fingerprint(nb) == before
    with_setup_cell(nb, URL)                       # rewritten in place, still one cell
    assert sum("colab-setup" in c["metadata"].get("tags", []) for c in nb["cells"]) == 1
    assert fp.code_fingerprint(nb) == before and notebook_url(nb) == URL
    other = next(c for c in nb["cells"][2:] if c["cell_type"] == "code")
    other["source"] = "".join(other["source"]) + "\n# an edit"
    assert fp.code_fingerprint(nb) != before       # any other code cell still counts


@pytest.fixture
def project(tmp_path, make_project, tiny_notebook):
    root = make_project(tmp_path, notebooks={"c98_tiny": tiny_notebook(),
                                             "c97_later": tiny_notebook("C97", "Later")})
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    return root


def test_set_repository_writes_config_and_every_notebook(project):
    assert config_url(project) == "" and len(check_repository(project)) == 2
    changed = set_repository(URL, project)
    assert {p.name for p in changed} == {"_config.yml", "c98_tiny.ipynb", "c97_later.ipynb"}
    assert config_url(project) == URL and check_repository(project) == []
    text = (project / "_config.yml").read_text()
    assert "# Jupyter Book 1.x configuration" in text       # comments and layout kept
    assert (REPO / "_config.yml").read_text().replace(
        'repository:\n  url: ""', f'repository:\n  url: "{URL}"', 1) == text
    for stem in ("c98_tiny", "c97_later"):
        nb = json.loads((project / "notebooks" / f"{stem}.ipynb").read_text())
        assert notebook_url(nb) == URL and nb["cells"][1]["id"] == "colab-setup"
    assert set_repository(URL, project) == []               # nothing left to change
    # a notebook that names another repository is reported
    path = project / "notebooks" / "c97_later.ipynb"
    path.write_text(json.dumps(with_setup_cell(json.loads(path.read_text()),
                                               "https://github.com/other/fork")))
    assert [p.split(":")[0] for p in check_repository(project)] == ["c97_later.ipynb"]
    assert main(["--root", str(project), "repository"]) == 1
    assert main(["--root", str(project), "repository", ""]) == 0
    assert config_url(project) == "" and check_repository(project) == []


def test_the_repository_notebooks_agree_with_its_config():
    """Every claim notebook has the set-up cell, after its title, for _config.yml's URL."""
    assert check_repository(REPO) == []

"""Publishing the full profile: a clean worktree of one commit, provenance checked against that
commit, records and executed notebooks copied to book/records/full/, staleness computed.

A throwaway git repository holds a copy of the library and the one-second claim notebook
(tests/conftest.py); its `full` profile is what gets published.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sparsestudy.study import fingerprint
from sparsestudy.study.cli import main
from sparsestudy.study.publish import (MANIFEST, PublishError, check_results, publish,
                                       published, read_manifest, stale_claims)

pytestmark = pytest.mark.slow


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory, make_project, tiny_notebook):
    """A git repository: the tiny claim C98, a full profile, a copy of the library; one commit."""
    root = tmp_path_factory.mktemp("publish") / "repo"
    make_project(root, profiles={"quick": "c98_tiny:\n  scale: 2.0\n",
                                 "full": "c98_tiny:\n  scale: 3.0\n  seeds: [0, 1, 2]\n"})
    shutil.copytree(fingerprint.library_dir(), root / "src" / "sparsestudy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (root / ".gitignore").write_text("results/\n__pycache__/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tiny")
    return root


@pytest.fixture(scope="module")
def published_repo(repo, tmp_path_factory):
    """`publish` run once: the full profile from a worktree, into a results folder of its own."""
    results = tmp_path_factory.mktemp("publish-results")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SPARSESTUDY_RESULTS", raising=False)
        written = publish(repo, results=results)
    return repo, results, written


def test_publish_runs_the_commit_and_copies_record_notebook_manifest(published_repo):
    root, results, written = published_repo
    dest = root / "book" / "records" / "full"
    assert sorted(p.relative_to(dest).as_posix() for p in written) == \
        ["C98.json", "executed/c98_tiny.ipynb", MANIFEST]
    rec = json.loads((dest / "C98.json").read_text())
    commit = _git(root, "rev-parse", "HEAD").strip()
    assert rec["profile"] == "full" and rec["verdict"] == "supported"
    assert rec["provenance"]["commit"] == commit and rec["provenance"]["dirty"] is False
    assert rec["parameters"]["scale"] == 3.0 and rec["seeds"] == [0, 1, 2]
    entry = read_manifest(root)["claims"]["C98"]
    assert entry["commit"] == commit and entry["notebook"] == "c98_tiny"
    assert entry["digest"] == fingerprint.digest(rec["fingerprint"])
    assert entry["processor"] and entry["device"] == "cpu" and entry["date"]
    assert entry["executed_bytes"] == (dest / "executed" / "c98_tiny.ipynb").stat().st_size
    # the kernel imported the worktree's library, not the installed one: the modules it
    # loaded are those of the commit
    assert "plotting.py" in rec["fingerprint"]["modules"]
    # nothing was committed, and the worktree is gone
    assert _git(root, "rev-parse", "HEAD").strip() == commit
    assert len(_git(root, "worktree", "list").splitlines()) == 1
    # the run persists in the results folder: the runner skips it the next time
    assert (results / "full" / "C98.json").is_file()


def test_published_record_is_fresh_then_stale_with_what_changed(published_repo):
    root, _, _ = published_repo
    pub = published(root)
    assert list(pub) == ["C98"] and not pub["C98"].stale and stale_claims(root) == []
    profile = root / "notebooks" / "profiles" / "full.yaml"
    before = profile.read_text()
    try:
        profile.write_text(before.replace("scale: 3.0", "scale: 4.0"))
        assert published(root)["C98"].changes == ["parameters changed"]
        assert stale_claims(root) == ["C98"]
    finally:
        profile.write_text(before)
    assert not published(root)["C98"].stale


def test_publish_refuses_a_dirty_tree(repo, tmp_path):
    nb = repo / "notebooks" / "c98_tiny.ipynb"
    before = nb.read_bytes()
    try:
        nb.write_bytes(before + b"\n")
        with pytest.raises(PublishError, match="uncommitted changes .*c98_tiny.ipynb"):
            publish(repo, results=tmp_path)
        assert main(["--root", str(repo), "publish"]) == 1
    finally:
        nb.write_bytes(before)
    assert not (tmp_path / "full").exists()  # refused before running anything


def _tampered_copy(results: Path, tmp_path: Path, edit) -> Path:
    """A copy of the published run's results folder with ``edit(record, state)`` applied, the
    runner's state kept consistent with the edited record (so only the check named fails)."""
    copy = tmp_path / "full"
    shutil.copytree(results / "full", copy)
    rec = json.loads((copy / "C98.json").read_text())
    state = json.loads((copy / "runs.json").read_text())
    edit(rec, state)
    (copy / "C98.json").write_text(json.dumps(rec))
    state["notebooks"]["c98_tiny"]["record_sha256"] = fingerprint.sha256(
        (copy / "C98.json").read_bytes())
    state["notebooks"]["c98_tiny"]["fingerprint"] = rec["fingerprint"]
    (copy / "runs.json").write_text(json.dumps(state))
    return copy


def _dirty(rec, state):
    rec["provenance"]["dirty"] = True


def _unknown_commit(rec, state):
    rec["provenance"]["commit"] = "0" * 40


def _other_library(rec, state):
    rec["fingerprint"]["modules"]["plotting.py"] = "0" * 64


def _other_code(rec, state):
    rec["fingerprint"]["code"] = "0" * 64


def _other_parameters(rec, state):
    rec["fingerprint"]["parameters"] = "0" * 64


def _quick(rec, state):
    rec["profile"] = "quick"


@pytest.mark.parametrize("edit, message", [
    (_dirty, "uncommitted changes"),
    (_unknown_commit, "does not have"),
    (_other_library, r"library the kernel loaded is not the one of commit .*plotting\.py"),
    (_other_code, "the notebook that ran is not"),
    (_other_parameters, "parameters differ"),
    (_quick, "only the 'full' profile is published"),
])
def test_publish_from_checks_provenance(published_repo, tmp_path, edit, message):
    root, results, _ = published_repo
    copy = _tampered_copy(results, tmp_path, edit)
    with pytest.raises(PublishError, match=message):
        check_results(copy, root)


def test_publish_from_refuses_an_edited_record_and_a_big_or_failed_notebook(published_repo,
                                                                          tmp_path):
    root, results, _ = published_repo
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    assert [c.claim for c in check_results(copy, root)] == ["C98"]  # the parent folder works
    record = copy / "full" / "C98.json"
    record.write_text(record.read_text().replace('"supported"', '"supported" '))
    with pytest.raises(PublishError, match="changed after `sparsestudy run` wrote it"):
        check_results(copy, root)
    shutil.copy(results / "full" / "C98.json", record)
    executed = copy / "full" / "executed" / "c98_tiny.ipynb"
    nb = json.loads(executed.read_text())
    nb["cells"][-1]["outputs"] = [{"output_type": "error", "ename": "RuntimeError",
                                   "evalue": "boom", "traceback": []}]
    executed.write_text(json.dumps(nb))
    with pytest.raises(PublishError, match="RuntimeError: boom"):
        check_results(copy, root)
    executed.write_text(json.dumps(nb | {"cells": []}) + " " * 2_000_001)
    with pytest.raises(PublishError, match="more than 2 MB"):
        check_results(copy, root)
    with pytest.raises(PublishError, match="no record of C97"):
        check_results(copy, root, only="C97")


def test_cli_publish_from_and_stale(published_repo, tmp_path, capsys):
    root, results, _ = published_repo
    manifest = root / "book" / "records" / "full" / MANIFEST
    first = json.loads(manifest.read_text())["claims"]["C98"]["published"]
    assert main(["--root", str(root), "publish", "--from", str(results)]) == 0
    out = capsys.readouterr().out
    assert "published book/records/full/C98.json" in out and "commits nothing" in out
    assert json.loads(manifest.read_text())["claims"]["C98"]["published"] >= first
    assert main(["--root", str(root), "stale", "--github-output"]) == 0
    assert capsys.readouterr().out.strip() == "claims=[]"
    assert main(["--root", str(root), "publish", "--from", str(tmp_path)]) == 1
    assert "holds no claim records" in capsys.readouterr().err

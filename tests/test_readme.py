"""The README: its generated findings match the published records; its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from sparsestudy.study.publish import FINDINGS_END, FINDINGS_START, readme_with_findings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_findings_are_in_sync_with_the_published_records():
    assert README.count(FINDINGS_START) == 1 and README.count(FINDINGS_END) == 1
    assert readme_with_findings(README, REPO) == README, (
        "README.md's findings differ from book/records/full/: run "
        "`.venv/bin/python -c 'from sparsestudy.study.publish import update_readme; "
        "update_readme()'` (sparsestudy publish does it)")


def test_readme_names_the_pytorch_build_and_the_make_targets():
    assert "CUDA build" in README and "CPU" in README and "PIP_ARGS" in README
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, flags=re.M))
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert used and used <= targets, used - targets
    assert "PIP_ARGS" in makefile


def test_license_is_the_one_pyproject_declares():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_cff_has_the_required_keys():
    import tomllib

    import yaml

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    # CFF 1.2.0's required keys, and the types its schema gives them
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), f"CITATION.cff has no {key}"
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["authors"], list) and all(
        isinstance(a, dict) and (a.get("name") or a.get("family-names")) for a in cff["authors"])
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert str(cff["version"]) == project["version"] and cff["license"] == project["license"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))

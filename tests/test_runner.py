"""The notebook runner: parameters, skipping, failures that keep earlier records intact.

The papermill runs use a one-second notebook (tests/conftest.py) in a throwaway project.
"""

from __future__ import annotations

import json

import nbformat
import papermill
import pytest

from sparsestudy.study import fingerprint, layout, runner
from sparsestudy.study.record import RecordError
from sparsestudy.study.runner import NotebookRunError, notebook_status, run_notebooks


@pytest.fixture(autouse=True)
def project_results(monkeypatch):
    """These tests look for results under <root>/results (the suite's scratch folder variable,
    set in conftest for the notebook tests, is unset here)."""
    monkeypatch.delenv("SPARSESTUDY_RESULTS", raising=False)


@pytest.fixture()
def library_copy(tmp_path, monkeypatch):
    """A copy of the library that the runner hashes instead of the real one, so a test can
    edit a module the kernel loaded (the real files may be edited while tests run)."""
    import shutil

    copy = tmp_path / "library_copy"
    shutil.copytree(fingerprint.library_dir(), copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    monkeypatch.setattr(fingerprint, "library_dir", lambda: copy)
    return copy


SHARED = {"seeds": [0], "device": "cpu", "scheduler": None, "explode": False}


def _record(root, claim="C98", profile="quick"):
    return json.loads((root / "results" / profile / f"{claim}.json").read_text())


def _run(root, **kw):
    kw.setdefault("progress", False)
    return run_notebooks(root=root, **kw)


def test_run_skip_rerun_on_parameter_change_and_force(tmp_path, make_project):
    root = make_project(tmp_path)
    rdir = root / "results" / "quick"

    [out] = _run(root)
    assert (out.claim, out.stem, out.status, out.reason) == ("C98", "c98_tiny", "ran", "never run")
    rec = _record(root)
    # the profile's override and the injected profile took effect
    # no machine's path is injected: the kernel finds the results folder by the same rule
    assert rec["parameters"] == {**SHARED, "scale": 2.0, "profile": "quick", "output_dir": None}
    assert rec["profile"] == "quick"
    fp = rec["fingerprint"]                     # completed by the runner after the run
    assert fp["code"] == fingerprint.code_fingerprint(root / "notebooks" / "c98_tiny.ipynb")
    assert fp["parameters"] and fp["device"] == "cpu"
    assert "plotting.py" in fp["modules"] and "__init__.py" in fp["modules"]
    assert rec["verdict"] == "supported"
    assert rec["highlights"]["answer"] == pytest.approx(6.28318)
    executed = rdir / "executed" / "c98_tiny.ipynb"
    assert out.executed == executed and out.record == rdir / "C98.json"
    nb = nbformat.read(executed, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "scale = 2.0" in injected[0].source and "profile = " in injected[0].source
    assert any("done supported" in o.get("text", "") for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)
    assert not list((rdir / "executed").glob(".*"))  # no temporary file left behind
    state = json.loads((rdir / "runs.json").read_text())
    assert state["notebooks"]["c98_tiny"]["resolved_parameters"] == {"scale": 2.0,
                                                                    "profile": "quick"}
    assert state["notebooks"]["c98_tiny"]["fingerprint"] == fp
    first = (rdir / "C98.json").read_bytes()

    [out] = _run(root)
    assert out.status == "skipped"
    assert (rdir / "C98.json").read_bytes() == first

    (root / "notebooks" / "profiles" / "quick.yaml").write_text("c98_tiny:\n  scale: 0.5\n")
    [out] = _run(root)
    assert (out.status, out.reason) == ("ran", "parameters changed")
    rec = _record(root)
    assert rec["parameters"]["scale"] == 0.5
    assert rec["verdict"] == "mixed"

    [out] = _run(root)
    assert out.status == "skipped"
    [out] = _run(root, force=True)
    assert (out.status, out.reason) == ("ran", "forced")


def test_failure_names_cell_and_keeps_previous_record(tmp_path, make_project, tiny_notebook):
    root = make_project(tmp_path)
    rdir = root / "results" / "quick"
    _run(root)
    record_before = (rdir / "C98.json").read_bytes()
    executed_before = (rdir / "executed" / "c98_tiny.ipynb").read_bytes()
    state_before = (rdir / "runs.json").read_bytes()

    # the failing run saves a *different* record (scale 3) before it raises
    (root / "notebooks" / "profiles" / "quick.yaml").write_text(
        "c98_tiny:\n  scale: 3.0\n  explode: true\n")
    with pytest.raises(NotebookRunError) as info:
        _run(root)
    err = info.value
    [fail] = err.failures
    assert fail.stem == "c98_tiny" and fail.claim == "C98" and fail.status == "failed"
    assert fail.cell_index == tiny_notebook.fail_cell
    assert fail.ename == "RuntimeError" and "boom in the tiny notebook" in fail.evalue
    msg = str(err)
    assert "c98_tiny" in msg and f"cell {tiny_notebook.fail_cell}" in msg and "RuntimeError" in msg
    assert fail.failed_copy == rdir / "failed" / "c98_tiny.ipynb"
    assert str(fail.failed_copy) in msg
    failed_nb = nbformat.read(fail.failed_copy, as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in failed_nb.cells
               if c.cell_type == "code" for o in c.outputs)

    # everything from the last successful run is intact
    assert (rdir / "C98.json").read_bytes() == record_before
    assert (rdir / "executed" / "c98_tiny.ipynb").read_bytes() == executed_before
    assert (rdir / "runs.json").read_bytes() == state_before
    assert not [p for p in rdir.rglob(".*") if p.is_file() and p.name != ".lock"]
    assert (rdir / ".lock").read_text() == ""      # released: nobody holds the folder

    # fixing the notebook's parameters runs it again and clears the failed copy
    (root / "notebooks" / "profiles" / "quick.yaml").write_text("c98_tiny:\n  scale: 3.0\n")
    [out] = _run(root)
    assert out.status == "ran"
    assert _record(root)["parameters"]["scale"] == 3.0
    assert not fail.failed_copy.exists()


def test_failed_first_run_leaves_no_record_and_the_others_still_run(tmp_path, make_project,
                                                                   tiny_notebook):
    root = make_project(
        tmp_path,
        notebooks={"c97_first": tiny_notebook("C97", "Claim ninety-seven"),
                   "c98_tiny": tiny_notebook()},
        profiles={"quick": "c97_first:\n  explode: true\n"},
    )
    outcomes = _run(root, raise_on_failure=False)
    assert [(o.claim, o.status) for o in outcomes] == [("C97", "failed"), ("C98", "ran")]
    rdir = root / "results" / "quick"
    # C97 saved a record before it raised: a record of a failed run must not survive
    assert not (rdir / "C97.json").exists()
    assert not (rdir / "executed" / "c97_first.ipynb").exists()
    assert (rdir / "failed" / "c97_first.ipynb").exists()
    assert _record(root, "C98")["verdict"] == "mixed"  # scale 1.0: a holds, b fails
    # `only` selects (case-insensitively, list or comma-separated string); C98 is up to date
    [out] = _run(root, only="c98")
    assert (out.claim, out.status) == ("C98", "skipped")
    notebooks = runner.discover_notebooks(root)
    assert [nb.claim for nb in runner.select_notebooks(notebooks, "C98, c97")] == ["C97", "C98"]
    assert [nb.claim for nb in runner.select_notebooks(notebooks, ["C97"])] == ["C97"]


def test_results_dir_is_injected_as_output_dir(tmp_path, make_project):
    root = make_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    [out] = _run(root, results_dir=elsewhere)
    assert out.status == "ran"
    rec = json.loads((elsewhere / "C98.json").read_text())
    assert rec["profile"] == "quick"
    assert (elsewhere / "executed" / "c98_tiny.ipynb").exists()
    assert not (root / "results").exists()
    assert out.parameters["output_dir"] == str(elsewhere.resolve())


def test_notebook_that_writes_no_record_fails(tmp_path, make_project, tiny_notebook):
    root = make_project(tmp_path, notebooks={"c98_tiny": tiny_notebook(save=False)})
    [out] = _run(root, raise_on_failure=False)
    assert out.status == "failed"
    assert "wrote no record" in out.error and out.cell_index is None
    assert not (root / "results" / "quick" / "executed" / "c98_tiny.ipynb").exists()


def test_status_reports_what_would_rerun(tmp_path, make_project, library_copy):
    root = make_project(tmp_path)
    assert notebook_status("quick", root) == {"c98_tiny": "never run"}
    _run(root)
    assert notebook_status("quick", root) == {"c98_tiny": "up to date"}

    # outputs, metadata and Markdown do not count as code; code cells do
    path = root / "notebooks" / "c98_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="noise")]
    nb.cells[2].metadata["tags"] = ["hide-input"]
    nb.metadata["extra"] = 1
    nb.cells[0].source += "\n\nA prose fix."
    nbformat.write(nb, path)
    assert notebook_status("quick", root) == {"c98_tiny": "up to date"}
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, path)
    assert notebook_status("quick", root) == {"c98_tiny": "notebook code changed"}
    nb.cells.pop()
    nbformat.write(nb, path)

    # a library module the kernel loaded changed (the copy stands in for the library)
    plotting = library_copy / "plotting.py"
    original = plotting.read_bytes()
    plotting.write_bytes(original + b"\n# edited\n")
    assert notebook_status("quick", root) == {"c98_tiny": "library changed (plotting.py)"}
    plotting.write_bytes(original)
    # a module the kernel never loaded does not make the record stale
    (library_copy / "solvers.py").write_text("# edited\n")
    assert notebook_status("quick", root) == {"c98_tiny": "up to date"}
    # nor does the study machinery (a scoreboard wording change reruns nothing)
    (library_copy / "study" / "book.py").write_text("# edited\n")
    assert notebook_status("quick", root) == {"c98_tiny": "up to date"}

    rec = root / "results" / "quick" / "C98.json"
    rec.write_text(rec.read_text().replace('"quick"', '"quick" '))
    assert notebook_status("quick", root) == {"c98_tiny": "record changed outside the runner"}
    rec.unlink()
    assert notebook_status("quick", root) == {"c98_tiny": "record missing"}


def test_device_kind_is_part_of_the_fingerprint(tmp_path, make_project, monkeypatch):
    root = make_project(tmp_path)
    [out] = _run(root, device="cpu")
    assert out.status == "ran"
    [out] = _run(root, device="cpu")
    assert out.status == "skipped"
    monkeypatch.setattr(fingerprint, "device_kind", lambda device=None: "cuda")
    assert notebook_status("quick", root) == {"c98_tiny": "device kind changed (cpu to cuda)"}
    with pytest.raises(ValueError, match="device"):
        _run(root, device="tpu")


def test_scheduler_and_output_dir_do_not_change_the_fingerprint():
    a = fingerprint.parameters_fingerprint({"x": 1, "output_dir": "/a", "scheduler": None})
    b = fingerprint.parameters_fingerprint({"x": 1, "output_dir": "/b", "scheduler": "tcp://h:1"})
    assert a == b != fingerprint.parameters_fingerprint({"x": 2, "output_dir": "/a"})


def test_loaded_modules_hash_library_files_and_leave_out_the_machinery():
    import sys
    import types

    import sparsestudy.prox  # noqa: F401
    import sparsestudy.study.book  # noqa: F401

    mods = fingerprint.loaded_modules()
    assert "prox.py" in mods and not any(m.startswith("study/") for m in mods)
    path = fingerprint.library_dir() / "prox.py"
    assert mods["prox.py"] == fingerprint.sha256(path.read_bytes())
    fake = {"numpy": sys.modules["numpy"], "sparsestudy.ghost": types.ModuleType("ghost")}
    assert fingerprint.loaded_modules(fake) == {}


def test_corrupt_state_names_the_file(tmp_path, make_project):
    root = make_project(tmp_path)
    rdir = root / "results" / "quick"
    rdir.mkdir(parents=True)
    (rdir / "runs.json").write_text('{"version": 2, "notebooks": {"c98\x01')
    with pytest.raises(RecordError, match=r"runs\.json.*delete it"):
        _run(root)


def test_a_second_run_waits_or_stops_naming_the_first(tmp_path, make_project):
    import subprocess
    import sys
    import time

    root = make_project(tmp_path)
    rdir = root / "results" / "quick"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from sparsestudy.study.layout import run_lock\n"
         f"with run_lock({str(rdir)!r}, what='the first run'):\n"
         "    print('locked', flush=True); time.sleep(3)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(layout.RunInProgress, match="the first run.*pid"):
        _run(root, wait=False)
    t0 = time.monotonic()
    [out] = _run(root)                     # waits for the holder, then runs
    assert out.status == "ran" and time.monotonic() - t0 > 0.5
    holder.wait()
    assert holder.returncode == 0


def test_interrupt_or_garbage_record_restores_previous_record(tmp_path, make_project,
                                                               monkeypatch):
    root = make_project(tmp_path)
    rdir = root / "results" / "quick"
    rdir.mkdir(parents=True)
    previous = b'{"claim": "C98", "verdict": "supported", "note": "earlier run"}\n'
    (rdir / "C98.json").write_bytes(previous)

    def half_written(input_path, output_path, **kw):
        (rdir / "C98.json").write_text('{"claim": "C98", "verd')  # a torn write
        open(output_path, "w").write("{}")
        return None

    monkeypatch.setattr(papermill, "execute_notebook", half_written)
    [out] = _run(root, raise_on_failure=False)
    assert out.status == "failed" and "not valid JSON" in out.error and "C98.json" in out.error
    assert (rdir / "C98.json").read_bytes() == previous
    assert (rdir / "failed" / "c98_tiny.ipynb").exists()

    def interrupted(input_path, output_path, **kw):
        (rdir / "C98.json").write_text('{"claim": "C98", "verdict": "mixed"}')
        (rdir / ".C98.json.abc.tmp").write_text("left by a killed writer")
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(root)
    assert (rdir / "C98.json").read_bytes() == previous
    assert not (rdir / ".C98.json.abc.tmp").exists()
    assert not (rdir / "runs.json").exists()


def test_bad_selection_and_profiles_raise_before_running(tmp_path, make_project, monkeypatch):
    root = make_project(tmp_path)

    def must_not_run(*a, **k):
        raise AssertionError("papermill must not run")

    monkeypatch.setattr(papermill, "execute_notebook", must_not_run)
    with pytest.raises(ValueError, match="C42") as info:
        _run(root, only=["C98", "C42"])
    assert "C98" in str(info.value)  # says which ids exist
    with pytest.raises(ValueError, match="look like C01"):
        _run(root, only="98")
    with pytest.raises(ValueError, match="at least one"):
        _run(root, only=[])
    with pytest.raises(ValueError, match="unknown profile 'huge'.*quick"):
        _run(root, profile="huge")
    with pytest.raises(ValueError, match="plain name"):
        _run(root, profile="../quick")

    profile = root / "notebooks" / "profiles" / "quick.yaml"
    profile.write_text("c98_tny:\n  scale: 2.0\n")
    with pytest.raises(ValueError, match="c98_tny"):
        _run(root)
    profile.write_text("c98_tiny:\n  output_dir: /tmp/x\n")
    with pytest.raises(ValueError, match="output_dir"):
        _run(root)
    profile.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must map"):
        _run(root)
    profile.write_text("c98_tiny: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        _run(root)

    # a parameter the notebook does not declare is this notebook's failure, found without
    # running it
    profile.write_text("c98_tiny:\n  scael: 2.0\n")
    [out] = _run(root, raise_on_failure=False)
    assert out.status == "failed" and "scael" in out.error and "declares" in out.error


def test_no_notebooks(tmp_path, make_project):
    root = make_project(tmp_path, notebooks={}, profiles={"quick": ""})
    with pytest.raises(ValueError, match="no claim notebooks"):
        _run(root)


def test_outside_a_project(tmp_path):
    with pytest.raises(ValueError, match="no notebooks/ folder"):
        _run(tmp_path)

"""`sparsestudy run --scheduler` against a real distributed.LocalCluster (processes, 2 workers,
1 thread each, loopback only): notebooks run as tasks, their results come back and are written
on the client; a notebook's own sweep runs on the same single-threaded workers."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell

distributed = pytest.importorskip("distributed")

from sparsestudy.study.cli import main  # noqa: E402
from sparsestudy.study.runner import NotebookRunError, run_notebooks  # noqa: E402


@pytest.fixture(autouse=True)
def project_results(monkeypatch):
    monkeypatch.delenv("SPARSESTUDY_RESULTS", raising=False)


@pytest.fixture(scope="module")
def address():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _with_sweep(tiny_notebook):
    """The tiny notebook plus a cell that sweeps a notebook-defined function over the cluster
    it was given (``scheduler``), from inside a task on a single-threaded worker."""
    nb = tiny_notebook()
    nb.cells.insert(3, new_code_cell(
        "from sparsestudy.sweep import sweep\n"
        "def square(point, seed):\n    return point['i'] ** 2\n"
        "squares = sweep(square, [{'i': i} for i in range(4)], scheduler=scheduler, "
        "progress=False)\n"
        "assert squares == [0, 1, 4, 9], squares\n"
        "rec.highlight('squares', sum(squares))\n"
        "close_claim(rec)"))
    return nb


def test_run_on_the_cluster_writes_results_here_and_then_skips(tmp_path, make_project,
                                                                tiny_notebook, address):
    root = make_project(tmp_path / "p", notebooks={"c98_tiny": _with_sweep(tiny_notebook)})
    out = run_notebooks(root=root, scheduler=address, progress=False)
    assert [o.status for o in out] == ["ran"], out[0].error
    rdir = root / "results" / "quick"
    rec = json.loads((rdir / "C98.json").read_text())
    assert rec["verdict"] == "supported" and rec["highlights"]["squares"] == 14
    assert rec["fingerprint"]["code"] and rec["fingerprint"]["parameters"]
    executed = nbformat.read(rdir / "executed" / "c98_tiny.ipynb", as_version=4)
    assert any(address in c.source for c in executed.cells)   # the scheduler was injected
    assert not any("sparsestudy-notebook-" in str(c) for c in executed.cells)  # no worker path
    state = json.loads((rdir / "runs.json").read_text())
    assert state["notebooks"]["c98_tiny"]["resolved_parameters"]["scheduler"] == address
    again = run_notebooks(root=root, scheduler=address, progress=False)
    assert [o.status for o in again] == ["skipped"]


def test_a_failing_notebook_on_the_cluster_names_its_cell(tmp_path, make_project,
                                                         tiny_notebook, address):
    root = make_project(tmp_path / "p", profiles={"quick": "c98_tiny:\n  explode: true\n"})
    with pytest.raises(NotebookRunError) as info:
        run_notebooks(root=root, scheduler=address, progress=False)
    (o,) = info.value.outcomes
    assert o.cell_index == tiny_notebook.fail_cell and "boom" in o.error
    assert o.failed_copy.is_file()
    assert not (root / "results" / "quick" / "C98.json").exists()


def test_the_command_line_runs_on_the_cluster(tmp_path, make_project, address, capsys):
    root = make_project(tmp_path / "p")
    assert main(["--root", str(root), "run", "--scheduler", address, "--no-progress"]) == 0
    assert "1 ran" in capsys.readouterr().out
    assert (root / "results" / "quick" / "C98.json").is_file()

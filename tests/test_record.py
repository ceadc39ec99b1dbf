"""Claim records: the verdict is computed (with the inconclusive state and consistency checks),
the record is validated against its format, the file is strict JSON and written atomically."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from sparsestudy.study import layout, notebook
from sparsestudy.study.layout import atomic_write_text, project_root
from sparsestudy.study.record import (INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, ClaimRecord,
                                      RecordError, load_record, load_records, subclaim_state,
                                      to_jsonable, validate_record, verdict_from)


def _record(tmp_path, expected=("a", "b", "c"), **kw):
    return ClaimRecord("C01", "L1 sets coefficients exactly to zero", profile="quick",
                       seeds=[0, 1, 2], output_dir=tmp_path, expected=expected, **kw)


def _no_constants(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _strict_load(path):
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constants)


@pytest.mark.parametrize("holds, verdict", [
    ([True], SUPPORTED),
    ([True, True, True], SUPPORTED),
    ([True, False, True], MIXED),
    ([False, True], MIXED),
    ([False], NOT_SUPPORTED),
    ([False, False, False], NOT_SUPPORTED),
    ([np.bool_(True), np.bool_(False)], MIXED),
    ([None], INCONCLUSIVE),
    ([True, None], INCONCLUSIVE),
    ([False, None], NOT_SUPPORTED),
    ([True, False, None], MIXED),
])
def test_verdict_from(holds, verdict):
    assert verdict_from(holds) == verdict


def test_verdict_needs_a_subclaim():
    with pytest.raises(ValueError):
        verdict_from([])


@pytest.mark.parametrize("holds, verdict", [
    ((True, True, True), SUPPORTED), ((True, False, True), MIXED),
    ((False, False, False), NOT_SUPPORTED),
])
def test_record_verdict_is_computed_from_subclaims(tmp_path, holds, verdict):
    rec = _record(tmp_path)
    for key, h in zip("abc", holds):
        assert rec.subclaim(key, rule=f"rule {key}", passed=h, values={"x": 1.0}) is h
    path = rec.save()
    assert path == tmp_path / "C01.json"
    data = _strict_load(path)
    assert data["verdict"] == verdict == rec.verdict
    assert {k: s["holds"] for k, s in data["subclaims"].items()} == dict(zip("abc", holds))
    assert data["claim"] == "C01" and data["profile"] == "quick" and data["seeds"] == [0, 1, 2]
    for key in ("title", "parameters", "provenance", "fingerprint", "elapsed_s", "highlights",
                "why", "format"):
        assert key in data
    assert data["provenance"]["versions"]["numpy"] == np.__version__
    assert validate_record(data) is data


def test_missing_expected_subclaim_refuses_to_save(tmp_path):
    rec = _record(tmp_path)
    rec.subclaim("a", rule="r", passed=True)
    rec.subclaim("c", rule="r", passed=True)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        rec.save()
    assert not (tmp_path / "C01.json").exists()


def test_record_without_subclaims_refuses_to_save(tmp_path):
    rec = _record(tmp_path, expected=None)
    with pytest.raises(ValueError, match="no sub-claim"):
        rec.save()
    assert list(tmp_path.iterdir()) == []


def test_unexpected_subclaim_key_is_refused(tmp_path):
    rec = _record(tmp_path, expected=("a", "b"))
    with pytest.raises(ValueError, match="'c'"):
        rec.subclaim("c", rule="r", passed=True)


@pytest.mark.parametrize("claim", ["C1", "c01", "C001", "01", "X01", "", None, 1])
def test_bad_claim_ids_raise(tmp_path, claim):
    with pytest.raises(ValueError, match="claim"):
        ClaimRecord(claim, "title", profile="quick", seeds=[0], output_dir=tmp_path)


@pytest.mark.parametrize("kwargs", [
    {"title": ""}, {"title": "   "}, {"profile": ""}, {"seeds": []}, {"seeds": [0.5]},
    {"seeds": [True]}, {"seeds": ["0"]},
])
def test_bad_record_arguments_raise(tmp_path, kwargs):
    args = {"title": "t", "profile": "quick", "seeds": [0]} | kwargs
    with pytest.raises(ValueError):
        ClaimRecord("C01", output_dir=tmp_path, **args)


@pytest.mark.parametrize("holds", [1, 0, "yes", None, 1.0, np.int64(1)])
def test_non_bool_passed_raise(tmp_path, holds):
    rec = _record(tmp_path)
    with pytest.raises(TypeError, match="bool"):
        rec.subclaim("a", rule="r", passed=holds)
    assert rec.subclaims == {}


@pytest.mark.parametrize("key", ["A", "ab", "1", "", "é"])
def test_bad_subclaim_keys_raise(tmp_path, key):
    with pytest.raises(ValueError):
        _record(tmp_path, expected=None).subclaim(key, rule="r", passed=True)


def test_empty_rule_raises(tmp_path):
    with pytest.raises(ValueError, match="rule"):
        _record(tmp_path).subclaim("a", rule=" ", passed=True)


def test_numpy_bool_holds_is_stored_as_bool(tmp_path):
    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", passed=np.float64(2.0) > 1)
    data = _strict_load(rec.save())
    assert data["subclaims"]["a"]["holds"] is True


def test_json_is_strict_for_non_finite_and_numpy_values(tmp_path):
    torch = pytest.importorskip("torch")
    rec = _record(tmp_path, expected=("a",), parameters={"alphas": np.array([0.1, 1.0])})
    rec.subclaim("a", rule="r", passed=False, values={
        "gap": float("nan"), "worst": np.float32("inf"), "best": -math.inf,
        "counts": np.arange(3), "n": np.int64(7), "flags": np.array([True, False]),
        "t": torch.tensor([1.5, float("nan")]), "nested": {"x": (1, np.float64(2.5))},
    })
    rec.highlight("exact zeros", np.int32(12))
    text = rec.save().read_text()
    assert "NaN" not in text and "Infinity" not in text
    data = _strict_load(tmp_path / "C01.json")
    values = data["subclaims"]["a"]["values"]
    assert values["gap"] == "nan" and values["worst"] == "inf" and values["best"] == "-inf"
    assert values["counts"] == [0, 1, 2] and values["n"] == 7
    assert values["flags"] == [True, False]
    assert values["t"] == [1.5, "nan"]
    assert values["nested"] == {"x": [1, 2.5]}
    assert data["highlights"] == {"exact zeros": 12}
    assert data["parameters"] == {"alphas": [0.1, 1.0]}


def test_to_jsonable_rejects_unknown_types():
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"a": object()})
    assert to_jsonable({1: np.float64(0.5)}) == {"1": 0.5}


def test_unserialisable_parameters_leave_old_record_intact(tmp_path):
    old = _record(tmp_path, expected=("a",))
    old.subclaim("a", rule="r", passed=True)
    path = old.save()
    before = path.read_bytes()
    new = _record(tmp_path, expected=("a",), parameters={"model": object()})
    new.subclaim("a", rule="r", passed=False)
    with pytest.raises(TypeError):
        new.save()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C01.json"]


@pytest.mark.parametrize("broken", ["replace", "fsync"])
def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch, broken):
    path = tmp_path / "C01.json"
    atomic_write_text(path, '{"old": true}\n')

    def boom(*args, **kwargs):
        raise OSError(f"{broken} failed")

    monkeypatch.setattr(os, broken, boom)
    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", passed=True)
    with pytest.raises(OSError, match=broken):
        rec.save()
    monkeypatch.undo()
    assert path.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["C01.json"]  # no temporary file left


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "x.txt"
    assert atomic_write_text(path, "one") == path
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["x.txt"]


def test_load_records_sorted_and_filtered(tmp_path):
    for claim, holds in (("C03", False), ("C01", True), ("C10", True)):
        rec = ClaimRecord(claim, f"claim {claim}", profile="quick", seeds=[0],
                          output_dir=tmp_path)
        rec.subclaim("a", rule="r", passed=holds)
        rec.save()
    (tmp_path / "runs.json").write_text("{}")
    (tmp_path / "C1.json").write_text("not a record name")
    (tmp_path / "executed").mkdir()
    records = load_records(tmp_path)
    assert [r["claim"] for r in records] == ["C01", "C03", "C10"]
    assert [r["verdict"] for r in records] == [SUPPORTED, NOT_SUPPORTED, SUPPORTED]
    assert load_records(tmp_path / "nowhere") == []


def test_load_records_rejects_bad_verdicts_and_bad_json(tmp_path):
    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", passed=True)
    good = json.loads(rec.save().read_text())
    bad = dict(good, verdict="probably")
    (tmp_path / "C01.json").write_text(json.dumps(bad))
    with pytest.raises(RecordError, match="probably") as info:
        load_records(tmp_path)
    assert str(tmp_path / "C01.json") in str(info.value) and "rerun" in str(info.value)
    (tmp_path / "C01.json").write_text('{"claim": "C01", "verd\x01')
    with pytest.raises(RecordError, match="not valid JSON") as info:
        load_records(tmp_path)
    assert str(tmp_path / "C01.json") in str(info.value) and "delete it" in str(info.value)


def test_project_root_and_default_output_dir(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "pyproject.toml").write_text("")
    nested = tmp_path / "notebooks" / "deep"
    nested.mkdir(parents=True)
    assert project_root(nested) == tmp_path.resolve()
    monkeypatch.chdir(nested)
    monkeypatch.delenv("SPARSESTUDY_RESULTS", raising=False)
    assert project_root() == tmp_path.resolve()
    assert layout.results_dir("full") == tmp_path.resolve() / "results" / "full"
    rec = ClaimRecord("C02", "t", profile="full", seeds=[0])
    assert rec.output_dir == tmp_path.resolve() / "results" / "full"


def test_summary_lists_subclaims(tmp_path):
    rec = _record(tmp_path, expected=("a", "b"))
    rec.subclaim("b", rule="rule b", passed=False)
    rec.subclaim("a", rule="rule a", passed=True)
    assert rec.summary().splitlines() == ["C01: mixed", "  a. holds - rule a",
                                          "  b. does not hold - rule b"]


def test_default_output_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSESTUDY_RESULTS", str(tmp_path / "elsewhere"))
    assert layout.results_dir("quick") == (tmp_path / "elsewhere" / "quick").resolve()


@pytest.mark.parametrize("value, expected", [
    (np.float64(0.875), 0.875), (np.int64(7), 7), (np.bool_(True), True),
    (np.array(2.5), 2.5), ("holds", "holds"),
])
def test_glue_passes_plain_python_scalars_to_myst_nb(monkeypatch, value, expected):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    notebook.glue("x", value)
    assert seen["x"] == expected
    assert type(seen["x"]) is type(expected)


def test_glue_converts_torch_scalars(monkeypatch):
    import myst_nb
    import torch

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    notebook.glue("t", torch.tensor(1.5, dtype=torch.float64))
    assert seen["t"] == 1.5 and type(seen["t"]) is float


# ------------------------------------------------------------------ register amendments 1, 5, 6
@pytest.mark.parametrize("passed, adequate, consistency, equivalence, holds", [
    (True, None, False, False, True), (False, None, False, False, False),
    (True, True, False, False, True), (False, True, False, False, False),
    (True, False, False, False, True),      # a rule that holds counts as held (amendment 1)
    (False, False, False, False, None),     # failed while inadequate: inconclusive
    (True, False, False, True, None),       # equivalence: inadequate is inconclusive both ways
    (False, False, False, True, None),
    (True, True, False, True, True), (False, True, False, True, False),
    (False, False, True, False, False),     # consistency checks are shown as computed
])
def test_subclaim_state_follows_the_register(passed, adequate, consistency, equivalence, holds):
    assert subclaim_state(passed, adequate, consistency=consistency,
                          equivalence=equivalence) is holds


def test_inconclusive_subclaim_is_stored_with_its_reason(tmp_path):
    rec = _record(tmp_path, expected=("a", "b"))
    assert rec.subclaim("a", rule="r", passed=True) is True
    assert rec.subclaim("b", rule="LISTA beats ISTA by 10 dB", passed=False,
                        adequacy="every stage ended on a plateau", adequate=False) is None
    data = _strict_load(rec.save())
    b = data["subclaims"]["b"]
    assert b["holds"] is None and b["passed"] is False and b["adequate"] is False
    assert "every stage ended on a plateau" in b["reason"]
    assert data["verdict"] == INCONCLUSIVE
    assert "b is inconclusive" in data["why"] and "a holds" in data["why"]


def test_consistency_checks_do_not_count(tmp_path):
    rec = _record(tmp_path, expected=("a", "b"))
    rec.subclaim("a", rule="falls with depth", passed=True, consistency=True)
    rec.subclaim("b", rule="r", passed=False)
    data = _strict_load(rec.save())
    assert data["verdict"] == NOT_SUPPORTED          # a would make it mixed if it counted
    assert data["subclaims"]["a"]["consistency"] is True
    assert "a is a consistency check" in data["why"]
    only_checks = _record(tmp_path, expected=("a",))
    only_checks.subclaim("a", rule="r", passed=True, consistency=True)
    with pytest.raises(ValueError, match="consistency"):
        only_checks.save()


def test_adequacy_and_adequate_go_together(tmp_path):
    rec = _record(tmp_path)
    with pytest.raises(ValueError, match="together"):
        rec.subclaim("a", rule="r", passed=True, adequate=True)
    with pytest.raises(ValueError, match="together"):
        rec.subclaim("a", rule="r", passed=True, adequacy="converged")
    with pytest.raises(TypeError, match="adequate"):
        rec.subclaim("a", rule="r", passed=True, adequacy="converged", adequate="yes")


def test_validate_record_names_the_wrong_field(tmp_path):
    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", passed=False, adequacy="c", adequate=False)
    good = _strict_load(rec.save())
    validate_record(good)
    forged = json.loads(json.dumps(good))
    forged["subclaims"]["a"]["holds"] = False       # the state must follow from the inputs
    with pytest.raises(ValueError, match="subclaims.a.holds"):
        validate_record(forged)
    forged = json.loads(json.dumps(good))
    del forged["provenance"]["processor"]
    with pytest.raises(ValueError, match="processor"):
        validate_record(forged)
    forged = json.loads(json.dumps(good))
    forged["verdict"] = SUPPORTED
    with pytest.raises(ValueError, match="does not follow"):
        validate_record(forged)
    forged = json.loads(json.dumps(good))
    forged["format"] = 1
    with pytest.raises(ValueError, match="format"):
        validate_record(forged)


def test_record_carries_provenance_and_the_modules_it_loaded(tmp_path):
    import sparsestudy.prox  # noqa: F401  (a library module this "run" used)

    rec = _record(tmp_path, expected=("a",), device="cpu")
    rec.subclaim("a", rule="r", passed=True)
    data = _strict_load(rec.save())
    prov = data["provenance"]
    assert prov["device"] == "cpu" and prov["processor"] and prov["date"].endswith("+00:00")
    assert set(prov["versions"]) >= {"python", "torch", "numpy"}
    mods = data["fingerprint"]["modules"]
    assert "prox.py" in mods and len(mods["prox.py"]) == 64
    assert not any(m.startswith("study/") for m in mods)   # the machinery is left out
    assert data["fingerprint"]["code"] is None     # the runner fills it in after a run
    with pytest.raises(ValueError, match="device"):
        _record(tmp_path, device="gpu")


def test_load_record_reports_a_missing_field(tmp_path):
    path = tmp_path / "C05.json"
    path.write_text(json.dumps({"format": 2, "claim": "C05"}))
    with pytest.raises(RecordError, match=r"C05\.json.*no field 'title'.*--only C05"):
        load_record(path)


# ------------------------------------------------------------------------- notebook helpers
def _glued(monkeypatch):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    return seen


def test_open_claim_needs_the_shared_parameters(tmp_path):
    with pytest.raises(ValueError, match="device, scheduler"):
        notebook.open_claim("C04", "t", expected=("a",),
                            parameters={"profile": "quick", "seeds": [0], "output_dir": None})
    params = {"profile": "quick", "seeds": [0, 1], "output_dir": str(tmp_path), "device": "gpu",
              "scheduler": None}
    with pytest.raises(ValueError, match="device"):
        notebook.open_claim("C04", "t", expected=("a",), parameters=params)


def test_open_and_close_claim_glue_in_one_scheme(tmp_path, monkeypatch):
    seen = _glued(monkeypatch)
    params = {"profile": "quick", "seeds": [0, 1], "output_dir": str(tmp_path), "device": "cpu",
              "scheduler": None, "width": 3}
    rec = notebook.open_claim("C04", "A claim", expected=("a", "b"), parameters=params)
    assert rec.parameters == params and rec.seeds == [0, 1] and rec.device == "cpu"
    rec.subclaim("a", rule="r", passed=True)
    rec.subclaim("b", rule="r", passed=False, adequacy="converged", adequate=False)
    rec.glue("b_width", np.int64(3))
    rec.glue_outcome("b_part", False)
    assert notebook.close_claim(rec, show=False) is None   # a notebook's last cell shows no path
    assert (tmp_path / "C04.json").is_file()
    text = {k: getattr(v, "data", v) for k, v in seen.items()}
    assert text["c04_a_outcome"] == "holds" and text["c04_b_outcome"] == "is inconclusive"
    assert text["c04_b_part"] == "does not hold" and text["c04_b_width"] == 3
    assert text["c04_verdict"] == INCONCLUSIVE and "b is inconclusive" in text["c04_why"]
    assert isinstance(text["c04_elapsed"], float)
    with pytest.raises(ValueError, match="name"):
        rec.glue("bad name", 1)


def test_notebook_parameters_come_from_the_cells_that_ran(monkeypatch):
    class Shell:
        user_ns = {"In": ["", "profile = 'quick'\nseeds = [0]\n# a comment\nwidth: int = 4",
                          "# Parameters\nseeds = [1, 2]\n", "rec = open_claim(...)"],
                   "profile": "quick", "seeds": [1, 2], "width": 4, "other": 9}

    monkeypatch.setattr(notebook, "_shell", lambda: Shell())
    assert notebook.notebook_parameters() == {"profile": "quick", "seeds": [1, 2], "width": 4}


def test_notebook_parameters_come_from_the_notebooks_parameters_cell(tmp_path, monkeypatch):
    """nbval keeps no history: the parameters cell is read from the claim's notebook file."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook()
    cell = new_code_cell("profile = 'quick'\nseeds = [0]\nwidth = 4")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_code_cell("ignored = 1"), cell, new_code_cell("later = 2")]
    nbformat.write(nb, tmp_path / "c42_demo.ipynb")
    monkeypatch.chdir(tmp_path)

    class Shell:
        user_ns = {"In": ["", "rec = open_claim(...)"], "profile": "full", "seeds": [0],
                   "width": 4, "later": 2, "ignored": 1}

    monkeypatch.setattr(notebook, "_shell", lambda: Shell())
    assert notebook.notebook_parameters(claim="C42") == {"profile": "full", "seeds": [0],
                                                         "width": 4}
    with pytest.raises(RuntimeError, match="C43"):
        notebook.notebook_parameters(claim="C43")


def test_why_names_a_shared_reason_once(tmp_path):
    rec = _record(tmp_path, expected=("a", "b", "c"))
    rec.subclaim("a", rule="r", passed=True)
    for k in "bc":
        rec.subclaim(k, rule="r", passed=False, adequacy="trained to a plateau", adequate=False)
    why = rec.why
    assert why.count("trained to a plateau") == 1 and "b and c: the adequacy" in why


def test_highlight_units_are_stored_and_checked(tmp_path):
    from sparsestudy.study.record import validate_record

    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", passed=True)
    rec.highlight("accuracy", 0.99, unit="%")
    rec.highlight("gain", 3.0, unit="dB")
    rec.highlight("gain", 4.0)                   # declared again without a unit: none kept
    with pytest.raises(ValueError, match="unit"):
        rec.highlight("x", 1.0, unit="  ")
    data = json.loads(rec.save().read_text())
    assert data["highlight_units"] == {"accuracy": "%"} and data["highlights"]["gain"] == 4.0
    data["highlight_units"] = {"accuracy": 1}
    with pytest.raises(ValueError, match="highlight_units"):
        validate_record(data)
    del data["highlight_units"]                  # records written before units still load
    assert validate_record(data) is data

"""Claim records: the verdict is computed, the record is validated, the file is strict JSON and
written atomically."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from sparsestudy import claims
from sparsestudy.claims import (MIXED, NOT_SUPPORTED, SUPPORTED, ClaimRecord, atomic_write_text,
                                load_records, project_root, to_jsonable, verdict_from)


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
        assert rec.subclaim(key, rule=f"rule {key}", holds=h, values={"x": 1.0}) is h
    path = rec.save()
    assert path == tmp_path / "C01.json"
    data = _strict_load(path)
    assert data["verdict"] == verdict == rec.verdict
    assert {k: s["holds"] for k, s in data["subclaims"].items()} == dict(zip("abc", holds))
    assert data["claim"] == "C01" and data["profile"] == "quick" and data["seeds"] == [0, 1, 2]
    for key in ("title", "parameters", "versions", "git", "elapsed_s", "highlights"):
        assert key in data
    assert data["versions"]["numpy"] == np.__version__


def test_missing_expected_subclaim_refuses_to_save(tmp_path):
    rec = _record(tmp_path)
    rec.subclaim("a", rule="r", holds=True)
    rec.subclaim("c", rule="r", holds=True)
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
        rec.subclaim("c", rule="r", holds=True)


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
def test_non_bool_holds_raise(tmp_path, holds):
    rec = _record(tmp_path)
    with pytest.raises(TypeError, match="bool"):
        rec.subclaim("a", rule="r", holds=holds)
    assert rec.subclaims == {}


@pytest.mark.parametrize("key", ["A", "ab", "1", "", "é"])
def test_bad_subclaim_keys_raise(tmp_path, key):
    with pytest.raises(ValueError):
        _record(tmp_path, expected=None).subclaim(key, rule="r", holds=True)


def test_empty_rule_raises(tmp_path):
    with pytest.raises(ValueError, match="rule"):
        _record(tmp_path).subclaim("a", rule=" ", holds=True)


def test_numpy_bool_holds_is_stored_as_bool(tmp_path):
    rec = _record(tmp_path, expected=("a",))
    rec.subclaim("a", rule="r", holds=np.float64(2.0) > 1)
    data = _strict_load(rec.save())
    assert data["subclaims"]["a"]["holds"] is True


def test_json_is_strict_for_non_finite_and_numpy_values(tmp_path):
    torch = pytest.importorskip("torch")
    rec = _record(tmp_path, expected=("a",), parameters={"alphas": np.array([0.1, 1.0])})
    rec.subclaim("a", rule="r", holds=False, values={
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
    old.subclaim("a", rule="r", holds=True)
    path = old.save()
    before = path.read_bytes()
    new = _record(tmp_path, expected=("a",), parameters={"model": object()})
    new.subclaim("a", rule="r", holds=False)
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
    rec.subclaim("a", rule="r", holds=True)
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
        rec.subclaim("a", rule="r", holds=holds)
        rec.save()
    (tmp_path / "runs.json").write_text("{}")
    (tmp_path / "C1.json").write_text("not a record name")
    (tmp_path / "executed").mkdir()
    records = load_records(tmp_path)
    assert [r["claim"] for r in records] == ["C01", "C03", "C10"]
    assert [r["verdict"] for r in records] == [SUPPORTED, NOT_SUPPORTED, SUPPORTED]
    assert load_records(tmp_path / "nowhere") == []


def test_load_records_rejects_bad_verdicts_and_bad_json(tmp_path):
    (tmp_path / "C01.json").write_text(json.dumps({"claim": "C01", "verdict": "probably"}))
    with pytest.raises(ValueError, match="probably"):
        load_records(tmp_path)
    (tmp_path / "C01.json").write_text('{"claim": "C01", "verd')
    with pytest.raises(ValueError):
        load_records(tmp_path)


def test_project_root_and_default_output_dir(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "pyproject.toml").write_text("")
    nested = tmp_path / "notebooks" / "deep"
    nested.mkdir(parents=True)
    assert project_root(nested) == tmp_path.resolve()
    monkeypatch.chdir(nested)
    monkeypatch.delenv("SPARSESTUDY_RESULTS", raising=False)
    assert project_root() == tmp_path.resolve()
    assert claims.default_output_dir("full") == tmp_path.resolve() / "results" / "full"
    rec = ClaimRecord("C02", "t", profile="full", seeds=[0])
    assert rec.output_dir == tmp_path.resolve() / "results" / "full"


def test_summary_lists_subclaims(tmp_path):
    rec = _record(tmp_path, expected=("a", "b"))
    rec.subclaim("b", rule="rule b", holds=False)
    rec.subclaim("a", rule="rule a", holds=True)
    assert rec.summary().splitlines() == ["C01: mixed", "  a. holds - rule a",
                                          "  b. fails - rule b"]


def test_default_output_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSESTUDY_RESULTS", str(tmp_path / "elsewhere"))
    assert claims.default_output_dir("quick") == tmp_path / "elsewhere" / "quick"


@pytest.mark.parametrize("value, expected", [
    (np.float64(0.875), 0.875), (np.int64(7), 7), (np.bool_(True), True),
    (np.array(2.5), 2.5), ("holds", "holds"),
])
def test_glue_passes_plain_python_scalars_to_myst_nb(monkeypatch, value, expected):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    claims.glue("x", value)
    assert seen["x"] == expected
    assert type(seen["x"]) is type(expected)


def test_glue_converts_torch_scalars(monkeypatch):
    import myst_nb
    import torch

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.update({name: v}))
    claims.glue("t", torch.tensor(1.5, dtype=torch.float64))
    assert seen["t"] == 1.5 and type(seen["t"]) is float

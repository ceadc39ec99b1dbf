"""The sweep engine in-process and on local processes: seeds from the point, the resumable
store, thread limits, bad input."""

from __future__ import annotations

import json
import sys

import cloudpickle
import numpy as np
import pytest

from sparsestudy.seeding import derive_seed
from sparsestudy.sweep import (SweepStore, grid, limit_threads, point_key, point_seed, sweep)

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # spawned workers can't import tests


def draw(point, seed):
    """A result that depends on the point and its seed only."""
    rng = np.random.default_rng(seed)
    return {"x": point["a"] * 10 + point["b"], "u": float(rng.random())}


def threads_seen(point, seed):
    import numba
    import torch

    return [torch.get_num_threads(), numba.get_num_threads()]


POINTS = grid(a=[0, 1, 2], b=[0, 1])


def test_grid_is_the_product_last_axis_fastest():
    assert POINTS == [{"a": 0, "b": 0}, {"a": 0, "b": 1}, {"a": 1, "b": 0}, {"a": 1, "b": 1},
                      {"a": 2, "b": 0}, {"a": 2, "b": 1}]


def test_point_seed_depends_on_the_point_only():
    p, q = {"a": 1, "b": 2.5}, {"b": 2.5, "a": 1}
    assert point_key(p) == point_key(q) and point_seed(p) == point_seed(q)
    assert point_seed(p) == derive_seed(0, "sweep", "a=1", "b=2.5")
    assert point_seed(p, 1) != point_seed(p) != point_seed({"a": 1, "b": 2.0})


def test_in_process_results_in_point_order_with_point_seeds():
    rows = sweep(draw, POINTS, progress=False)
    assert [r["x"] for r in rows] == [0, 1, 10, 11, 20, 21]
    assert rows[3]["u"] == float(np.random.default_rng(point_seed(POINTS[3])).random())
    # the order of the points does not change any point's result
    back = sweep(draw, POINTS[::-1], progress=False)
    assert back[::-1] == rows


def test_store_resumes_and_a_rerun_runs_nothing(tmp_path):
    path = tmp_path / "s.jsonl"
    calls = []

    def flaky(point, seed):
        calls.append(point_key(point))
        if point == {"a": 1, "b": 1}:
            raise KeyboardInterrupt          # the run is interrupted at the fourth point
        return draw(point, seed)

    with pytest.raises(KeyboardInterrupt):
        sweep(flaky, POINTS, store=path, progress=False)
    assert len(SweepStore(path).rows()) == 3         # the three finished points were kept
    calls.clear()

    def counted(point, seed):
        calls.append(point_key(point))
        return draw(point, seed)

    rows = sweep(counted, POINTS, store=path, progress=False)
    assert len(calls) == 3                            # only the unfinished points ran
    assert rows == sweep(draw, POINTS, progress=False)
    calls.clear()
    assert sweep(counted, POINTS, store=path, progress=False) == rows and calls == []


def test_a_torn_last_line_is_dropped_and_rerun(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = sweep(draw, POINTS, store=path, progress=False)
    data = path.read_bytes()
    path.write_bytes(data[:-7])                       # a killed writer left half a line
    assert len(SweepStore(path).rows()) == len(POINTS) - 1
    assert sweep(draw, POINTS, store=path, progress=False) == rows
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(POINTS) and all(json.loads(x) for x in lines)


def test_local_processes_equal_in_process(tmp_path):
    rows = sweep(draw, POINTS, progress=False)
    assert sweep(draw, POINTS, workers=2, store=tmp_path / "p.jsonl", threads=None,
                 progress=False) == rows
    stored = SweepStore(tmp_path / "p.jsonl").rows()
    assert {r["worker"] for r in stored.values()} and all(r["elapsed_s"] >= 0
                                                           for r in stored.values())


def test_thread_limits_inside_a_point():
    assert sweep(threads_seen, [{"a": 0}], threads=1, progress=False) == [[1, 1]]


def test_limit_threads_restores():
    import torch

    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_bad_input():
    with pytest.raises(TypeError, match="fn"):
        sweep(3, POINTS)
    with pytest.raises(ValueError, match="distinct"):
        sweep(draw, [{"a": 1}, {"a": 1}])
    with pytest.raises(ValueError, match="workers"):
        sweep(draw, POINTS, workers=0)
    with pytest.raises(TypeError, match="JSON"):
        sweep(draw, [{"a": object()}])
    with pytest.raises(ValueError, match="axis"):
        grid()
    with pytest.raises(TypeError, match="scheduler"):
        sweep(draw, POINTS, scheduler=3, progress=False)

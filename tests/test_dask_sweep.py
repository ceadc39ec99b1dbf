"""The sweep engine on a real distributed.LocalCluster (processes, 2 workers, 1 thread each,
loopback only): same numbers as in-process, resumed, a worker killed mid-sweep, nested sweeps,
the workers' version check."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from sparsestudy.sweep import (SweepStore, WorkerMismatch, check_workers, grid,  # noqa: E402
                               sweep, worker_identity)

cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers can't import tests


def draw(point, seed):
    rng = np.random.default_rng(seed)
    return {"x": point["a"] * 10 + point["b"], "u": float(rng.random())}


def die_once(point, seed):
    """Kill this worker process the first time point b=1, a=2 runs (a marker file says so)."""
    marker = Path(point["marker"])
    if point["a"] == 2 and point["b"] == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return draw(point, seed)


def threads_seen(point, seed):
    import numba
    import torch

    return [torch.get_num_threads(), numba.get_num_threads()]


def outer(point, seed):
    """A task that runs its own sweep on the same cluster (worker_client inside)."""
    inner = sweep(draw, grid(a=[point["a"]], b=[0, 1, 2]), progress=False)
    return sum(r["x"] for r in inner)


POINTS = grid(a=[0, 1, 2], b=[0, 1])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_cluster_equals_in_process(client, tmp_path):
    rows = sweep(draw, POINTS, progress=False)
    assert sweep(draw, POINTS, scheduler=client, store=tmp_path / "d.jsonl", threads=None,
                 progress=False) == rows
    stored = SweepStore(tmp_path / "d.jsonl").rows()
    assert {r["worker"].split(":")[1] for r in stored.values()} != {str(os.getpid())}


def test_an_address_works_like_a_client(client):
    assert sweep(draw, POINTS[:2], scheduler=client.scheduler.address, progress=False) == \
        sweep(draw, POINTS[:2], progress=False)


def test_resumed_on_the_cluster_runs_only_what_is_missing(client, tmp_path):
    path = tmp_path / "r.jsonl"
    sweep(draw, POINTS[:3], store=path, progress=False)            # three points here
    rows = sweep(draw, POINTS, scheduler=client, store=path, progress=False)
    assert rows == sweep(draw, POINTS, progress=False)
    workers = {r["key"]: r["worker"].split(":")[1] for r in SweepStore(path).rows().values()}
    here = sum(pid == str(os.getpid()) for pid in workers.values())
    assert here == 3 and len(workers) == len(POINTS)


def test_a_worker_killed_mid_sweep_loses_nothing(client, tmp_path):
    marker = tmp_path / "killed"
    points = [dict(p, marker=str(marker)) for p in POINTS]
    path = tmp_path / "k.jsonl"
    rows = sweep(die_once, points, scheduler=client, store=path, progress=False)
    assert marker.exists()                                         # a worker did die
    assert rows == sweep(draw, points, progress=False)
    assert len(SweepStore(path).rows()) == len(points)
    client.wait_for_workers(2, timeout=60)                         # the nanny restarted it


def test_thread_limits_on_the_workers(client):
    assert sweep(threads_seen, [{"a": 0}], scheduler=client, threads=1,
                 progress=False) == [[1, 1]]


def test_nested_sweeps_do_not_deadlock_single_threaded_workers(client):
    # two outer tasks occupy both worker threads; their inner sweeps secede (worker_client)
    assert sweep(outer, grid(a=[0, 1]), scheduler=client, progress=False) == [3, 33]


class _FakeClient:
    def __init__(self, identities):
        self.identities = identities

    def run(self, fn):
        return self.identities


def test_version_check_names_the_mismatched_workers(client):
    assert len(check_workers(client)) == 2
    me = worker_identity()
    other = dict(me, fingerprint="0" * 64)
    with pytest.raises(WorkerMismatch, match=r"(?s)1 of 2 workers.*tcp://b"):
        check_workers(_FakeClient({"tcp://a": me, "tcp://b": other}))
    with pytest.raises(WorkerMismatch, match="no workers"):
        check_workers(_FakeClient({}))

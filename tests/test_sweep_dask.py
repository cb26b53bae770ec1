"""Sweeps on a real Dask cluster (``distributed.LocalCluster``, two worker processes): same results as
in-process, a worker killed by its pid costs only its point, a killed driver resumes on rerun, two
drivers on one cache directory leave only valid files."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from dynamics import experiments  # noqa: E402
from dynamics.experiments import contrastive as ec  # noqa: E402
from dynamics.sweep import grid, point_key, run_sweep  # noqa: E402


def _marked(i, marks, sleep=0.0, hold_at=-1):
    """One marker file per call in ``marks``; at ``i == hold_at`` the first call writes its pid to
    ``marks/holding`` and waits (long enough to be killed)."""
    open(os.path.join(marks, f"{i}-{uuid.uuid4().hex}"), "w").close()
    if i == hold_at and not os.path.exists(os.path.join(marks, "holding")):
        with open(os.path.join(marks, "holding.tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.path.join(marks, "holding.tmp"), os.path.join(marks, "holding"))
        time.sleep(30)
    time.sleep(sleep)
    return {"value": np.full(1000, float(i)), "i": i}


def _calls(marks):
    out = {}
    for f in os.listdir(marks):
        if not f.startswith("holding"):
            i = int(f.split("-")[0])
            out[i] = out.get(i, 0) + 1
    return out


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_dask_sweep_gives_the_in_process_results(tmp_path, client):
    pts = grid(i=list(range(6)), marks=[str(tmp_path)])
    here = run_sweep(_marked, pts, tmp_path / "here", progress=False)
    there = run_sweep(_marked, pts, tmp_path / "there", executor=client.get_executor(), progress=False)
    assert all(np.array_equal(a["value"], b["value"]) and a["i"] == b["i"] for (_, a), (_, b) in zip(here, there))
    assert len(set(client.run(os.getpid).values())) == 2


@pytest.mark.slow
def test_real_grid_on_dask_agrees_with_in_process(client):
    """A grid of experiments.contrastive (A Lemma 9 points) on the cluster: equal to 1e-12 (the Dask
    workers may run another thread configuration; on this machine it comes out identical)."""
    pts = [{"M": M, "seed": 0, "n": 4, "lr": 0.01, "n_steps": 20} for M in (64, 128)]
    here = experiments.run_grid(ec.lemma9_point, pts, name="test.dask.lemma9.here")
    with experiments.use_executor(client.get_executor()):
        there = experiments.run_grid(ec.lemma9_point, pts, name="test.dask.lemma9.cluster")
    a = np.array([float(r["difference"]) for r in here])
    b = np.array([float(r["difference"]) for r in there])
    assert np.all(a > 0) and a[0] != a[1]
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)


def test_worker_killed_by_pid_costs_only_its_point(tmp_path, client):
    marks = tmp_path / "marks"
    marks.mkdir()
    pts = [{"i": i, "marks": str(marks), "sleep": 0.2, "hold_at": 3} for i in range(10)]
    pids = set(client.run(os.getpid).values())
    killed = []

    def killer():
        holding = marks / "holding"
        deadline = time.time() + 60
        while not holding.exists() and time.time() < deadline:
            time.sleep(0.02)
        pid = int(holding.read_text())
        assert pid in pids, "the point runs in one of the cluster's worker processes"
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    watcher = threading.Thread(target=killer)
    watcher.start()
    cache = tmp_path / "cache"
    try:
        out = run_sweep(_marked, pts, cache, executor=client.get_executor(), progress=False)
    except distributed.KilledWorker:  # the scheduler gave up on the point: a rerun computes it
        out = None
    watcher.join()
    assert killed
    first = _calls(marks)
    stored = {int(np.load(f)["i"]) for f in cache.glob("*.npz")}
    assert stored >= set(range(10)) - {3}, "every point but the killed one is stored"
    assert all(first[i] == 1 for i in range(10) if i != 3), "no other point was computed twice"
    if out is None:
        out = run_sweep(_marked, pts, cache, executor=client.get_executor(), progress=False)
    calls = _calls(marks)
    assert calls[3] == 2 and all(calls[i] == 1 for i in range(10) if i != 3)
    assert [r["i"] for _, r in out] == list(range(10))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


_DRIVER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from distributed import Client
    from dynamics.sweep import run_sweep

    def slow(i):
        time.sleep(0.3)
        return {"value": np.full(50_000, float(i))}

    client = Client(sys.argv[2])
    run_sweep(slow, [{"i": i} for i in range(30)], sys.argv[1], executor=client.get_executor(), progress=False)
""")


def test_killed_driver_resumes_on_rerun(tmp_path, client):
    cache = tmp_path / "cache"
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(cache), client.scheduler.address])
    try:
        deadline = time.time() + 90
        while time.time() < deadline and len(list(cache.glob("*.npz"))) < 4:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # the points in flight on the workers finish and are stored by the workers themselves
    last, stable_since = None, time.time()
    while time.time() - stable_since < 1.5:
        now = {f.name for f in cache.glob("*.npz")}
        if now != last:
            last, stable_since = now, time.time()
        time.sleep(0.1)
    stored = last
    assert 4 <= len(stored) < 30
    for f in cache.glob("*.npz"):  # every stored file is complete
        with np.load(f) as z:
            assert z["value"].shape == (50_000,)
    calls = []

    def counted(i):
        calls.append(i)
        return {"value": np.full(50_000, float(i))}

    out = run_sweep(counted, [{"i": i} for i in range(30)], cache, progress=False)
    missing = {i for i in range(30) if f"{point_key({'i': i})}.npz" not in stored}
    assert sorted(calls) == sorted(missing), "only the missing points are computed, each once"
    assert [float(r["value"][0]) for _, r in out] == [float(i) for i in range(30)]


def test_two_drivers_on_one_cache_dir(tmp_path, client):
    marks = tmp_path / "marks"
    marks.mkdir()
    pts = [{"i": i, "marks": str(marks), "sleep": 0.05} for i in range(20)]
    cache = tmp_path / "cache"
    results, errors = [], []

    def drive(points):
        try:
            with distributed.Client(client.scheduler.address) as own:
                results.append(run_sweep(_marked, points, cache, executor=own.get_executor(), progress=False))
        except Exception as exc:  # reported below
            errors.append(exc)

    drivers = [threading.Thread(target=drive, args=(pts,)), threading.Thread(target=drive, args=(pts[::-1],))]
    for d in drivers:
        d.start()
    for d in drivers:
        d.join(timeout=120)
    assert not errors, errors
    assert [r["i"] for _, r in results[0]] in (list(range(20)), list(range(19, -1, -1)))
    assert len(list(cache.glob("*.npz"))) == 20 and not list(cache.glob("*.tmp"))
    out = run_sweep(lambda **p: pytest.fail("recomputed"), pts, cache, progress=False)
    assert [r["i"] for _, r in out] == list(range(20))
    assert max(_calls(marks).values()) <= 2

"""Sweeps on a concurrent.futures executor (local processes): same results as in-process, faults
cost only the points in flight, bad input is refused before any work starts."""

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from dynamics import experiments, sweep
from dynamics.experiments import contrastive as ec
from dynamics.sweep import SweepCacheWarning, grid, point_key, run_sweep

SPAWN = mp.get_context("spawn")


def _measure(width, seed=0):
    return {"drift": 1.0 / width + seed, "curve": np.sin(np.arange(width, dtype=float) + seed)}


def _marked(i, marks, sleep=0.0, die_at=-1):
    """Leaves one marker file per call in ``marks``; the call at ``i == die_at`` kills its own process
    by pid the first time (a worker lost mid-point)."""
    open(os.path.join(marks, f"{i}-{uuid.uuid4().hex}"), "w").close()
    if i == die_at and not os.path.exists(os.path.join(marks, "died")):
        open(os.path.join(marks, "died"), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(sleep)
    return {"value": float(i) ** 0.5, "i": i}


def _calls(marks):
    out = {}
    for f in os.listdir(marks):
        if f != "died":
            i = int(f.split("-")[0])
            out[i] = out.get(i, 0) + 1
    return out


def _not_a_mapping(width):
    return [width]


def _lemma9_points():
    return [{"M": M, "seed": s, "n": 4, "lr": 0.01, "n_steps": 20} for M in (64, 128) for s in (0, 1)]


@pytest.fixture(scope="module")
def pool():
    with cf.ProcessPoolExecutor(2, mp_context=SPAWN) as ex:
        yield ex


def test_process_pool_gives_the_in_process_results(tmp_path, pool):
    pts = grid(width=[2, 3, 5], seed=[0, 1])
    here = run_sweep(_measure, pts, tmp_path / "here", progress=False)
    there = run_sweep(_measure, pts, tmp_path / "there", executor=pool, progress=False)
    assert [p for p, _ in there] == pts
    for (_, a), (_, b) in zip(here, there):
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert sorted(f.name for f in (tmp_path / "there").iterdir()) == sorted(f"{point_key(p)}.npz" for p in pts)


def test_real_grid_is_bit_identical_on_a_process_pool(pool):
    """A grid of experiments.contrastive (A Lemma 9 points, small) in-process and on two spawned
    processes with the same thread configuration: identical to the bit."""
    pts = _lemma9_points()
    here = experiments.run_grid(ec.lemma9_point, pts, name="test.executor.lemma9.here")
    with experiments.use_executor(pool):
        there = experiments.run_grid(ec.lemma9_point, pts, name="test.executor.lemma9.pool")
    a = np.array([float(r["difference"]) for r in here])
    b = np.array([float(r["difference"]) for r in there])
    assert np.all(a > 0) and len(set(a.tolist())) == len(a), "four distinct nonzero errors"
    assert np.array_equal(a, b), (a, b)


@pytest.mark.slow
def test_real_grid_agrees_to_1e12_under_another_thread_configuration(monkeypatch):
    """The same grid on a worker whose XLA runs single-threaded: equal to 1e-12 (relative)."""
    pts = _lemma9_points()[:2]
    here = experiments.run_grid(ec.lemma9_point, pts, name="test.executor.lemma9.here")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    with cf.ProcessPoolExecutor(1, mp_context=SPAWN) as one:
        one.submit(int, 0).result()  # the worker starts (and inherits XLA_FLAGS) now
        monkeypatch.delenv("XLA_FLAGS")
        with experiments.use_executor(one):
            there = experiments.run_grid(ec.lemma9_point, pts, name="test.executor.lemma9.single_thread")
    a = np.array([float(r["difference"]) for r in here])
    b = np.array([float(r["difference"]) for r in there])
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)


def test_use_executor_spec_and_environment_variable(monkeypatch):
    assert experiments.parse_executor_spec("processes:3") == ("processes", 3)
    assert experiments.parse_executor_spec("dask:tcp://127.0.0.1:8786") == ("dask", "tcp://127.0.0.1:8786")
    assert experiments.parse_executor_spec("") == ("none", None)
    for bad in ["processes:0", "processes:x", "threads:2", "dask:nowhere"]:
        with pytest.raises(ValueError, match="executor spec"):
            experiments.parse_executor_spec(bad)
    monkeypatch.setenv("DYNAMICS_EXECUTOR", "none")
    assert experiments.current_executor() is None
    monkeypatch.setenv("DYNAMICS_EXECUTOR", "processes:x")
    with pytest.raises(ValueError, match="processes:x"):
        experiments.current_executor()
    with experiments.use_executor(None):  # a block overrides the environment
        assert experiments.current_executor() is None
    with pytest.raises(TypeError, match="executor"):
        with experiments.use_executor(3):
            pass


def test_spec_string_makes_and_closes_a_spawned_pool(monkeypatch):
    monkeypatch.delenv("DYNAMICS_EXECUTOR", raising=False)
    pts = grid(width=[2, 7])
    with experiments.use_executor("processes:1") as ex:
        assert isinstance(ex, cf.ProcessPoolExecutor) and experiments.current_executor() is ex
        recs = experiments.run_grid(_measure, pts, name="test.executor.spec")
    assert experiments.current_executor() is None
    with pytest.raises(RuntimeError):
        ex.submit(int, 0)  # shut down on exit
    assert [float(r["drift"]) for r in recs] == [0.5, 1.0 / 7]


def test_killed_worker_loses_only_points_in_flight_and_rerun_fills_them(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    pts = [{"i": i, "marks": str(marks), "sleep": 0.3, "die_at": 5} for i in range(8)]
    cache = tmp_path / "cache"
    with cf.ProcessPoolExecutor(2, mp_context=SPAWN) as ex:
        with pytest.raises(BrokenProcessPool):
            run_sweep(_marked, pts, cache, executor=ex, progress=False)
    stored = {int(np.load(f)["i"]) for f in cache.glob("*.npz")}
    first = _calls(marks)
    assert 5 not in stored and len(stored) >= 3, stored  # points finished before the kill are on disk
    assert all(first[i] == 1 for i in stored)
    out = run_sweep(_marked, pts, cache, progress=False)  # the rerun, here in-process
    second = _calls(marks)
    recomputed = {i for i in second if second[i] > first.get(i, 0)}
    assert recomputed == set(range(8)) - stored, "the rerun computes exactly the missing points"
    assert all(second[i] - first.get(i, 0) == 1 for i in recomputed)
    assert [r["value"] for _, r in out] == [float(i) ** 0.5 for i in range(8)]


_DRIVER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from dynamics.sweep import run_sweep

    def slow(i):
        time.sleep(0.25)
        return {"value": np.full(50_000, float(i))}  # a file large enough to be caught half-written

    run_sweep(slow, [{"i": i} for i in range(40)], sys.argv[1], progress=False)
""")


def test_killed_driver_resumes_without_recomputing_stored_points(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(cache)])
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list(cache.glob("*.npz"))) < 4:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    stored = {f.name for f in cache.glob("*.npz")}
    assert 4 <= len(stored) < 40
    calls = []

    def counted(i):
        calls.append(i)
        return {"value": np.full(50_000, float(i))}

    with _no_cache_warning():
        out = run_sweep(counted, [{"i": i} for i in range(40)], cache, progress=False)
    done_before = {i for i in range(40) if f"{point_key({'i': i})}.npz" in stored}
    assert set(calls) == set(range(40)) - done_before and len(calls) == len(set(calls))
    assert all(np.array_equal(r["value"], np.full(50_000, float(p["i"]))) for p, r in out)


class _no_cache_warning:
    """No SweepCacheWarning inside the block: no half-written file was ever read."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self._w = self._cm.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        bad = [w for w in self._w if issubclass(w.category, SweepCacheWarning)]
        assert not bad, [str(w.message) for w in bad]


def test_progress_bar_counts_stored_points(tmp_path, capsys, pool):
    pts = grid(width=[2, 3, 4, 5])
    run_sweep(_measure, pts[:3], tmp_path, progress=False)
    run_sweep(_measure, pts, tmp_path, executor=pool, progress=True, desc="counted")
    err = capsys.readouterr().err
    assert "counted:  75%" in err and "3/4" in err and "4/4" in err


def test_bad_input_is_refused_before_any_work(tmp_path, pool):
    calls = []

    def fn(width):
        calls.append(width)
        return {"x": width}

    with pytest.raises(TypeError, match="executor"):
        run_sweep(fn, [{"width": 2}], tmp_path / "a", executor="processes:2", progress=False)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        run_sweep(fn, [{"width": 2}, {"width": {1, 2}}], tmp_path / "b", executor=pool, progress=False)
    with pytest.raises(TypeError, match="picklable"):
        run_sweep(lambda width: {"x": width}, [{"width": 2}], tmp_path / "c", executor=pool, progress=False)
    with pytest.raises(TypeError, match="picklable"):
        run_sweep(fn, [{"width": 2}], tmp_path / "d", executor=pool, progress=False)  # a local function
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cache_dir"):
        run_sweep(_measure, [{"width": 2}], blocker / "sub", executor=pool, progress=False)
    with pytest.raises(TypeError, match="cache_dir"):
        run_sweep(_measure, [{"width": 2}], 3.5, progress=False)
    assert calls == []
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != blocker], "nothing was written"


def test_unwritable_cache_dir_is_found_by_a_real_write(tmp_path, monkeypatch):
    """A folder that reports itself writable but refuses files (read-only mount, quota): the probe
    write fails and the error names cache_dir."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sweep.tempfile, "mkstemp", refuse)
    with pytest.raises(ValueError, match="cache_dir .* is not writable"):
        run_sweep(_measure, [{"width": 2}], tmp_path, progress=False)
    assert tempfile.mkstemp is refuse  # the same module object: restored by monkeypatch afterwards


def test_bad_result_on_a_worker_names_the_point_and_stores_nothing(tmp_path, pool):
    with pytest.raises(TypeError, match=r"must return a dict of arrays, got list at point \{'width': 3\}"):
        run_sweep(_not_a_mapping, [{"width": 3}], tmp_path, executor=pool, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_damaged_file_is_recomputed_on_the_executor_with_a_warning(tmp_path, pool):
    pts = grid(width=[2, 4])
    run_sweep(_measure, pts, tmp_path, executor=pool, progress=False)
    path = tmp_path / f"{point_key(pts[1])}.npz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.warns(SweepCacheWarning, match=path.name):
        out = run_sweep(_measure, pts, tmp_path, executor=pool, progress=False)
    assert out[1][1]["drift"] == 0.25
    run_sweep(lambda **p: pytest.fail("recomputed"), pts, tmp_path, progress=False)


def test_duplicate_points_are_computed_once(tmp_path):
    calls = []

    def fn(width):
        calls.append(width)
        return {"x": width}

    out = run_sweep(fn, [{"width": 2}, {"width": 3}, {"width": 2}], tmp_path, progress=False)
    assert calls == [2, 3] and [r["x"] for _, r in out] == [2, 3, 2]


@pytest.mark.slow
def test_two_drivers_on_one_cache_leave_only_valid_files(tmp_path):
    """Two processes sweep the same points at once (each on its own pool): every file valid, each
    point's file holds its own point, and a third run computes nothing."""
    marks = tmp_path / "marks"
    marks.mkdir()
    pts = [{"i": i, "marks": str(marks), "sleep": 0.05} for i in range(30)]
    script = tmp_path / "two.py"
    script.write_text(textwrap.dedent(f"""
        import concurrent.futures as cf, multiprocessing as mp, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_sweep_executor import _marked
        from dynamics.sweep import run_sweep
        if __name__ == "__main__":
            pts = {pts!r}
            with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
                run_sweep(_marked, pts, sys.argv[1], executor=ex, progress=False)
    """))
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, str(script), str(cache)]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 30 and not list(cache.glob("*.tmp"))
    out = run_sweep(lambda **p: pytest.fail("recomputed"), pts, cache, progress=False)
    assert [r["i"] for _, r in out] == list(range(30))
    calls = _calls(marks)
    assert set(calls) == set(range(30)) and max(calls.values()) <= 2


def test_routed_width_seed_sweep_on_a_pool_equals_in_process(pool):
    """experiments.contrastive.lemma9_differences (the sweep of the check a_lemma9_ntk_dynamics, small
    sizes) hands its points to one run_grid call: on the pool the same numbers to the bit."""
    kw = {"n": 4, "n_steps": 20}
    experiments.clear_memory(ec.lemma9_point)
    here = ec.lemma9_differences([64, 128], [0], **kw)
    assert experiments.clear_memory(ec.lemma9_point) == 2
    with experiments.use_executor(pool):
        there = ec.lemma9_differences([64, 128], [0], **kw)
    assert here.keys() == there.keys() == {(64, 0), (128, 0)}
    assert all(here[k] == there[k] for k in here), (here, there)
    with pytest.raises(ValueError, match="must not be empty"):
        ec.lemma9_differences([], [0], **kw)
    with pytest.raises(TypeError, match="name"):
        experiments.clear_memory(3)


@pytest.mark.parametrize("argv, spec", [(["--workers", "2"], ("processes", 2)),
                                        (["--dask", "tcp://127.0.0.1:1"], ("dask", "tcp://127.0.0.1:1")),
                                        ([], None)])
def test_cli_executor_options(monkeypatch, capsys, argv, spec):
    """verify/figures --workers N and --dask ADDRESS run the grids on that executor (made for the
    command, closed after); without either the environment variable decides."""
    import dynamics.figures
    import dynamics.theorems
    from dynamics import cli

    seen = []
    made = []

    def fake_make(s):
        made.append(experiments.parse_executor_spec(s))
        return cf.ThreadPoolExecutor(1)  # stands for the pool / the cluster: nothing to start

    def fake_checks(names, fast, on_result):
        seen.append(experiments.current_executor())
        return []

    monkeypatch.setattr(experiments._grid, "make_executor", fake_make)
    monkeypatch.setattr(dynamics.theorems, "run_checks", fake_checks)
    monkeypatch.setattr(dynamics.figures, "make_all", lambda out, fast, names: seen.append(
        experiments.current_executor()) or [])
    monkeypatch.setenv("DYNAMICS_EXECUTOR", "none")
    assert cli.main(["verify", *argv, "--fast"]) == 0
    assert cli.main(["figures", *argv, "--fast"]) == 0
    if spec is None:
        assert made == [] and seen == [None, None]
    else:
        assert made == [spec, spec] and all(isinstance(e, cf.ThreadPoolExecutor) for e in seen)
        assert experiments.current_executor() is None  # the block is closed after the command
    capsys.readouterr()


@pytest.mark.parametrize("argv", [["verify", "--workers", "0"], ["verify", "--workers", "x"],
                                  ["figures", "--dask", "localhost"], ["verify", "--workers", "2", "--dask", "tcp://a:1"]])
def test_cli_bad_executor_options(argv, capsys):
    from dynamics import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--workers" in err or "--dask" in err

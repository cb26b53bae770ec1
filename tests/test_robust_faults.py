"""Faults: a poisoned sweep cache, concurrent sweeps, and a verify run that one crash must not empty."""

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dynamics.sweep import SweepCacheWarning, grid, point_key, run_sweep


def _measure(width, seed=0):
    return {"drift": 1.0 / width + seed, "curve": np.arange(width, dtype=float)}


def _file(tmp_path, point):
    return tmp_path / f"{point_key(point)}.npz"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "zip_of_other"])
def test_corrupted_cache_file_is_recomputed_with_a_warning_naming_it(tmp_path, damage):
    pts = grid(width=[2, 4])
    run_sweep(_measure, pts, tmp_path, progress=False)
    path = _file(tmp_path, pts[1])
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a zip file" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid .npz without the recorded point
        np.savez(path, drift=np.asarray(7.0))
    calls = []

    def measure(width, seed=0):
        calls.append(width)
        return _measure(width, seed)

    with pytest.warns(SweepCacheWarning, match=path.name):
        out = run_sweep(measure, pts, tmp_path, progress=False)
    assert calls == [4], "only the damaged point is recomputed"
    assert out[1][1]["drift"] == pytest.approx(0.25)
    # and the file is repaired: a further rerun computes nothing and warns nothing
    calls.clear()
    run_sweep(measure, pts, tmp_path, progress=False)
    assert calls == []


def test_copied_file_is_not_served_for_another_point(tmp_path):
    a, b = {"width": 2}, {"width": 4}
    run_sweep(_measure, [a], tmp_path, progress=False)
    shutil.copy(_file(tmp_path, a), _file(tmp_path, b))
    with pytest.warns(SweepCacheWarning, match="holds point"):
        out = run_sweep(_measure, [b], tmp_path, progress=False)
    assert out[0][1]["drift"] == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [None, "text", {"x": object()}, {"x": "a string"}, {3: 1.0}, {"x": None}])
def test_bad_result_is_rejected_before_it_is_stored(tmp_path, bad):
    with pytest.raises(TypeError, match="width"):
        run_sweep(lambda width: bad, [{"width": 2}], tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == [], "nothing may be written for a rejected result"
    # after fn is fixed, the point is computed normally
    out = run_sweep(_measure, [{"width": 2}], tmp_path, progress=False)
    assert out[0][1]["drift"] == pytest.approx(0.5)


def test_generator_axis_and_bad_points(tmp_path):
    pts = grid(width=(w for w in (2, 4, 8)), seed=range(2))
    assert len(pts) == 6 and pts[-1] == {"width": 8, "seed": 1}
    with pytest.raises(TypeError, match="JSON-serialisable"):
        run_sweep(_measure, [{"width": 2}, {"width": object()}], tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == [], "bad points are found before any work starts"


def test_unwritable_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cache_dir"):
        run_sweep(_measure, [{"width": 2}], blocker / "sub", progress=False)


def _concurrent_worker(cache, n_points, out_q):
    try:
        res = run_sweep(_measure, grid(width=list(range(1, n_points + 1))), cache, progress=False, recompute=True)
        out_q.put(sum(r["drift"] for _, r in res))
    except Exception as exc:  # reported to the parent
        out_q.put(repr(exc))


def test_two_concurrent_runs_on_one_cache_do_not_crash_each_other(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_concurrent_worker, args=(str(tmp_path), 40, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    expected = sum(1.0 / w for w in range(1, 41))
    assert all(isinstance(r, float) and r == pytest.approx(expected) for r in results), results
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"], "no temporary file is left behind"
    out = run_sweep(lambda width: pytest.fail("recomputed"), grid(width=list(range(1, 41))), tmp_path,
                    progress=False)
    assert len(out) == 40


def test_old_format_files_still_load(tmp_path):
    """Files written before the point check (same layout: __point__ as the sorted JSON) are reused."""
    point = {"seed": 0, "width": 2}
    np.savez(_file(tmp_path, point), __point__=json.dumps(point, sort_keys=True), drift=np.asarray(0.5))
    out = run_sweep(lambda **p: pytest.fail("recomputed"), [point], tmp_path, progress=False)
    assert out[0][1]["drift"] == 0.5


def _fake_checks(monkeypatch):
    from dynamics.theorems import Outcome, _registry

    def crashes(fast):
        raise RuntimeError("solver exploded")

    fakes = {
        "fake_ok": lambda fast: Outcome(0.1),
        "fake_crash": crashes,
        "fake_nan": lambda fast: Outcome(float("nan"), details={"curve": [1.0, float("inf")]}),
        "fake_wrong_type": lambda fast: 3.0,
        "fake_after": lambda fast: Outcome(0.2),
    }
    for name, func in fakes.items():
        monkeypatch.setitem(_registry.REGISTRY, name, _registry.TheoremCheck(name, "S", "none", name, func, 0.5))
    return list(fakes)


def test_a_crashing_check_is_a_failed_row_and_the_run_continues(monkeypatch, capsys):
    from dynamics import cli
    from dynamics.theorems import run_checks

    names = _fake_checks(monkeypatch)
    results = run_checks(names)
    assert [r.name for r in results] == names
    assert [r.passed for r in results] == [True, False, False, False, True]
    assert "RuntimeError: solver exploded" in results[1].details["error"]
    assert "not an Outcome" in results[3].details["error"]
    assert cli.main(["verify", *names]) == 1
    out = capsys.readouterr().out
    assert "error: RuntimeError: solver exploded" in out and "2 passed, 3 failed" in out


def test_verify_json_is_valid_with_a_crash_and_nan(monkeypatch, capsys):
    from dynamics import cli

    names = _fake_checks(monkeypatch)
    assert cli.main(["verify", "--json", *names]) == 1
    text = capsys.readouterr().out
    rows = json.loads(text)  # strict JSON: no NaN/Infinity tokens
    assert "NaN" not in text and "Infinity" not in text
    assert [r["name"] for r in rows] == names
    assert rows[1]["metric"] is None and rows[1]["passed"] is False and "solver exploded" in rows[1]["details"]["error"]
    assert rows[2]["metric"] is None and rows[2]["details"]["curve"] == [1.0, None]
    assert rows[4]["passed"] is True and rows[4]["metric"] == 0.2

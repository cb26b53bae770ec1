"""Resumable sweeps: finished grid points are stored and skipped on rerun."""

import numpy as np
import pytest

from dynamics.sweep import grid, point_key, run_sweep


def test_grid_is_cartesian_product():
    pts = grid(width=[1, 2], seed=[0, 1, 2])
    assert len(pts) == 6 and pts[0] == {"width": 1, "seed": 0} and pts[-1] == {"width": 2, "seed": 2}
    with pytest.raises(ValueError, match="axis 'seed' must not be empty"):
        grid(width=[1], seed=[])
    with pytest.raises(TypeError, match="axis 'width'"):
        grid(width=3)


def test_resume_skips_finished_points(tmp_path):
    calls = []

    def measure(width, seed):
        calls.append((width, seed))
        return {"drift": 1.0 / width + seed, "curve": np.arange(width)}

    pts = grid(width=[2, 4], seed=[0, 1])
    first = run_sweep(measure, pts[:3], tmp_path, progress=False)  # an interrupted sweep
    assert len(calls) == 3
    full = run_sweep(measure, pts, tmp_path, progress=False)
    assert calls == [(2, 0), (2, 1), (4, 0), (4, 1)], "finished points must not be recomputed"
    assert [p for p, _ in full] == pts
    assert full[3][1]["drift"] == pytest.approx(0.25 + 1)
    assert np.array_equal(full[1][1]["curve"], first[1][1]["curve"])
    run_sweep(measure, pts, tmp_path, progress=False, recompute=True)
    assert len(calls) == 8


def test_point_key_is_stable_and_distinct():
    assert point_key({"a": 1, "b": 2}) == point_key({"b": 2, "a": 1})
    assert point_key({"a": 1}) != point_key({"a": 2})


def test_bad_results_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="must return a dict"):
        run_sweep(lambda x: 3.0, [{"x": 1}], tmp_path, progress=False)

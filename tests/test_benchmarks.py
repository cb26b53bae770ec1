"""Smoke test of the benchmark suite: every benchmark runs at tiny sizes and reports finite rows.

The ratios at these sizes mean nothing (the suite says so and does not judge targets); timing
targets are measured by ``python -m benchmarks``, never asserted in tests.
"""

import json
import math

import pytest

from benchmarks import __main__ as benchmarks_main


# The executor benchmark starts a process pool and a Dask cluster (about two minutes even at tiny sizes);
# its smoke run is the slow test below, and the executors themselves are tested in tests/test_sweep_dask.py
# and tests/test_sweep_executor.py.
SLOW_SMOKE = {"sweep_executors"}


def _smoke(names, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert benchmarks_main.main(["--quick", "--json", str(out), *names]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["jax_backend"]
    assert {row["benchmark"] for row in report["rows"]} == set(names)
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        assert row["met"] is None  # not judged at smoke-test sizes
        assert row["name"][:52] in printed
    assert "targets are not judged" in printed


def test_benchmark_registry_lists_every_script():
    import pathlib
    here = pathlib.Path(benchmarks_main.__file__).parent
    scripts = {p.stem for p in here.glob("*.py") if not p.stem.startswith("_")}
    assert {m.split(".")[1] for m in benchmarks_main.BENCHMARKS.values()} == scripts


@pytest.mark.slow
def test_executor_benchmark_runs_at_tiny_sizes(tmp_path, capsys):
    _smoke(sorted(SLOW_SMOKE), tmp_path, capsys)


def test_every_benchmark_runs_at_tiny_sizes(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert benchmarks_main.main(["--quick", "--json", str(out), *[n for n in benchmarks_main.BENCHMARKS
                                                                  if n not in SLOW_SMOKE]]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["jax_backend"]
    names = {row["benchmark"] for row in report["rows"]}
    assert names == set(benchmarks_main.BENCHMARKS) - SLOW_SMOKE
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        assert row["met"] is None  # not judged at smoke-test sizes
        assert row["name"][:52] in printed
    assert "targets are not judged" in printed


def test_unknown_benchmark_name_is_rejected(capsys):
    assert benchmarks_main.main(["no_such_benchmark"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err

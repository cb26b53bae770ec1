"""Every registered theorem check passes in fast mode, and the verify command reports it."""

import json
import subprocess
import sys

import pytest

from dynamics.theorems import CheckResult, list_checks, run_checks

FAST_CHECKS = [c.name for c in list_checks() if not c.slow_only]


@pytest.mark.parametrize("name", FAST_CHECKS)
def test_check_passes_fast(name):
    (res,) = run_checks([name], fast=True)
    assert isinstance(res, CheckResult)
    assert res.metric == res.metric, "metric is NaN"
    assert res.passed, f"{name}: metric {res.metric:.3g} vs tolerance {res.tolerance:.3g}; {res.details}"
    # Pass/fail must not hinge on the last bits: another BLAS/XLA thread configuration moves results by
    # 1e-16 ... 1e-13, so the metric must clear its tolerance by far more than that.
    margin = abs(res.metric - res.tolerance)
    exact = res.sense == "<=" and res.tolerance == 0 and res.metric == 0  # e.g. bit-identical columns
    assert exact or margin > 1e-6 * max(abs(res.tolerance), abs(res.metric)), (
        f"{name}: metric {res.metric!r} is within 1e-6 (relative) of its tolerance {res.tolerance!r}")


def test_registry_entries_cite_a_paper():
    for c in list_checks():
        assert c.paper in {"S", "E", "A", "F"} and c.reference and c.description


def test_verify_cli_json_and_exit_code():
    out = subprocess.run([sys.executable, "-m", "dynamics", "verify", "--fast", "--json", "s10_stability"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == ["s10_stability"]
    assert set(rows[0]) >= {"name", "paper", "reference", "metric", "tolerance", "passed", "seconds"}


def test_verify_cli_unknown_name():
    out = subprocess.run([sys.executable, "-m", "dynamics", "verify", "no_such_check"], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 2 and "unknown check" in out.stderr


def test_failing_check_gives_nonzero_exit(monkeypatch, capsys):
    from dynamics import cli
    from dynamics.theorems import _registry

    fake = _registry.TheoremCheck("always_fails", "S", "none", "a check that fails",
                                  lambda fast: CheckResult(1.0, 0.5, False))
    monkeypatch.setitem(_registry.REGISTRY, "always_fails", fake)
    assert cli.main(["verify", "always_fails"]) == 1
    assert "0 passed, 1 failed" in capsys.readouterr().out


THREAD_CHECKS = ["s10_stability", "prop_4_1_aligned_flow", "prop_5_1a_spectrum", "kernel_small_init_dynamics",
                 "a_prop18_identical_columns", "e_theorem3_sphere_and_ball"]


def _verify_json(names, env_extra=None, prefix=()):
    import os

    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run([*prefix, sys.executable, "-m", "dynamics", "verify", "--fast", "--json", *names],
                         capture_output=True, text=True, check=False, env=env)
    assert out.returncode in (0, 1), out.stderr
    return {r["name"]: r for r in json.loads(out.stdout)}


def test_pass_fail_does_not_depend_on_the_thread_configuration():
    """The README's promise: bit-identical reruns under one thread configuration, and the same verdicts
    (metrics equal to far better than their margins) under another one (one core, single-threaded BLAS
    and XLA)."""
    import shutil

    default = _verify_json(THREAD_CHECKS)
    single = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    prefix = ("taskset", "-c", "0") if shutil.which("taskset") else ()
    one_core = _verify_json(THREAD_CHECKS, single, prefix)
    for name in THREAD_CHECKS:
        a, b = default[name], one_core[name]
        assert a["passed"] and b["passed"], (name, a["details"], b["details"])
        # errors near round-off move relatively more, but always by far less than the margin to the tolerance
        assert abs(b["metric"] - a["metric"]) <= 1e-3 * abs(a["tolerance"] - a["metric"]), (name, a["metric"],
                                                                                           b["metric"])

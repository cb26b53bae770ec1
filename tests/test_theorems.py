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
